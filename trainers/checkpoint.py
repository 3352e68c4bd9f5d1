"""Saving and loading runs: model and optimizer state_dicts, what is needed to rebuild and use them, and
where training stood (for an exact resume: position, data-order generator, random state, running sums).

Checkpoints hold only tensors and plain Python values, so they load with `weights_only=True` (no code runs
when a checkpoint from elsewhere is opened). Each is written atomically (temporary file, fsync, rename)
and its SHA-256 is recorded beside it in checkpoint.json, checked before it is loaded: a file changed or
damaged after saving is refused, not trained on.
"""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import torch

from .errors import CheckpointError

FORMAT = "workbench-checkpoint"
VERSION = 2
FILENAME = "checkpoint.pt"
INFO = "checkpoint.json"


def save(path: str | os.PathLike, *, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None,
         config: dict, classes: tuple[str, ...], input_shape: tuple[int, ...], task: str,
         mean: tuple[float, ...], std: tuple[float, ...], normalize: bool, state: dict | None = None) -> Path:
    """`state`: where training stands (see trainers.train.loop.Trainer.state); `state["epoch"]` is the last
    finished epoch, the number predict and older readers look at."""
    from .runs.files import disk_error, read_json, write_json

    path = Path(path)
    state = dict(state or {})
    payload = {
        "format": FORMAT, "version": VERSION,
        "model_name": config["model"], "config": config, "epoch": int(state.get("epoch", 0)),
        "classes": list(classes), "input_shape": list(input_shape), "task": task,
        "mean": list(mean), "std": list(std), "normalize": bool(normalize),
        "model_state": {k: _own(v.detach().cpu()) for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "training": state,
    }
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256(tmp)
        # The record names the new hash before the new file takes the old one's place, and keeps the old
        # one: a crash between the two steps leaves a checkpoint that still matches.
        info = read_json(path.with_name(INFO)) or {}
        write_json(path.with_name(INFO), {"file": path.name, "sha256": digest, "previous_sha256": info.get("sha256"),
                                          "epoch": payload["epoch"], "position": state.get("position")})
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise disk_error(path, err) from err
    except RuntimeError as err:
        # torch's zip writer reports a failed write as a RuntimeError ("unexpected pos ..."), not an OSError
        full = _nearly_full(path.parent)
        tmp.unlink(missing_ok=True)
        if full:
            raise disk_error(path, OSError(errno.ENOSPC, "No space left on device")) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _own(t: torch.Tensor) -> torch.Tensor:
    """The tensor, or a copy of it when it is a view into a larger storage (a trial's slice of a group's stacked
    parameters): torch.save writes a view's whole storage."""
    if t.untyped_storage().nbytes() > t.numel() * t.element_size():
        return t.clone()
    return t


def _nearly_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find(run: str | os.PathLike) -> Path:
    """A checkpoint file, or the one inside a run folder."""
    path = Path(run).expanduser()
    if path.is_dir():
        path = path / FILENAME
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; give a run folder (with {FILENAME}) or a .pt file.")
    return path


def verify(path: Path) -> None:
    """Refuse a checkpoint whose bytes differ from the SHA-256 recorded when it was written."""
    from .runs.files import read_json

    info = read_json(path.with_name(INFO))
    if not info or info.get("file", path.name) != path.name:
        return  # a .pt from elsewhere: no record to check against (loading it is still safe)
    digest = sha256(path)
    if digest not in (info.get("sha256"), info.get("previous_sha256")):
        raise CheckpointError(f"{path} does not match the SHA-256 recorded when it was written ({INFO}): it was "
                              f"changed or damaged since, so it was not loaded.")


def load_weights_only(path: Path, what: str = "checkpoint"):
    """torch.load of tensors and plain containers only, its failures in one sentence: a file that holds
    Python objects is refused as such; a damaged or foreign one is called that, not a risk."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch's own text is long; ours is one sentence
        text = str(err)
        if "Unsupported global" in text or "GLOBAL " in text:  # not "Unsupported operand": that is damage
            raise CheckpointError(f"{path} is not a plain weights {what} and was not loaded: it holds Python "
                                  f"objects, and loading those could run code.") from None
        raise CheckpointError(f"{path} is not a readable {what} ({type(err).__name__}); it may be truncated "
                              f"or not a PyTorch file.") from None


def load(run: str | os.PathLike) -> dict:
    path = find(run)
    verify(path)
    payload = load_weights_only(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a workbench checkpoint (no '{FORMAT}' marker).")
    return payload


def training_state(payload: dict) -> dict:
    """Where training stood: {"epoch": last finished epoch, "position": (epoch, batch) or None, ...}.
    Version 1 checkpoints knew only their epoch: they resume at the start of the next one."""
    state = dict(payload.get("training") or {})
    state.setdefault("epoch", int(payload.get("epoch", 0)))
    return state


def restore_model(model: torch.nn.Module, payload: dict, expected_model: str) -> None:
    """Load weights, refusing a checkpoint made for another model with a sentence that says so."""
    saved = payload.get("model_name")
    try:
        model.load_state_dict(payload["model_state"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"the checkpoint is for model {saved!r}, which does not fit {expected_model!r}: {first}") from err
