"""Saving and loading runs: model and optimizer state_dicts plus what is needed to rebuild and use them.

Checkpoints hold only tensors and plain Python values, so they load with `weights_only=True` (no
arbitrary code runs when a checkpoint from elsewhere is opened)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import CheckpointError

FORMAT = "workbench-checkpoint"
FILENAME = "checkpoint.pt"


def save(path: str | os.PathLike, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
         config: dict, epoch: int, classes: tuple[str, ...], input_shape: tuple[int, ...], task: str,
         mean: tuple[float, ...], std: tuple[float, ...], normalize: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT, "version": 1,
        "model_name": config["model"], "config": config, "epoch": epoch,
        "classes": list(classes), "input_shape": list(input_shape), "task": task,
        "mean": list(mean), "std": list(std), "normalize": bool(normalize),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint where a good one was
    return path


def find(run: str | os.PathLike) -> Path:
    """A checkpoint file, or the one inside a run folder."""
    path = Path(run).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; give a run folder (with {FILENAME}) or a .pt file.")
    return path


def load(run: str | os.PathLike) -> dict:
    path = find(run)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {str(err)[:120]}).") from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a workbench checkpoint (no '{FORMAT}' marker).")
    return payload


def restore_model(model: torch.nn.Module, payload: dict, expected_model: str) -> None:
    """Load weights, refusing a checkpoint made for another model with a sentence that says so."""
    saved = payload.get("model_name")
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"the checkpoint is for model {saved!r}, which does not fit {expected_model!r}: {first}") from err
