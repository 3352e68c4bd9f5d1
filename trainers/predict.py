"""Label a folder of images with a trained run, as the cats-vs-dogs seed writes res.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from . import checkpoint as ckpt
from .config import DEFAULT_BATCH_SIZE
from .data.batches import to_float
from .data.folder import IMG_EXTENSIONS, load_image
from .errors import CheckpointError, WorkbenchError
from .models import get_spec, trusted_model


@dataclass(frozen=True)
class Labelled:
    file: str
    label: int
    class_name: str
    probability: float


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


def load_trained(run: str, model: str | None = None):
    """(model in eval mode, checkpoint payload) for a run folder or checkpoint file. A model from a user's
    file is built only when `model` names that file (`trusted_model`): the folder may be someone else's."""
    payload = ckpt.load(run)
    if payload.get("task") != "classify":
        raise CheckpointError(f"{run} holds a {payload.get('task')} model; predict needs a classifier.")
    saved = payload.get("config") if isinstance(payload.get("config"), dict) else {}
    name = trusted_model(payload.get("model_name"), saved.get("model_sha256"), model, Path(str(run)).name)
    spec = get_spec(name, sha256=saved.get("model_sha256"))  # the bytes trusted_model checked, or none
    net = spec.build(num_classes=len(payload["classes"]))
    ckpt.restore_model(net, payload, payload.get("model_name"))
    return net.eval(), payload


def predict_folder(run: str, images: str, batch_size: int = DEFAULT_BATCH_SIZE,
                   model: str | None = None) -> Iterator[Labelled | Skipped]:
    model, payload = load_trained(run, model)
    folder = Path(images).expanduser()
    if folder.is_file():  # one image
        files = [folder]
    elif not folder.is_dir():
        raise WorkbenchError(f"{folder} does not exist: give a folder of images or one image file.")
    else:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            raise WorkbenchError(f"{folder} has no image files ({', '.join(IMG_EXTENSIONS)}).")
    shape, classes = tuple(payload["input_shape"]), payload["classes"]
    for start in range(0, len(files), batch_size):
        good, tensors = [], []
        for path in files[start:start + batch_size]:
            try:
                tensors.append(load_image(path, shape))
                good.append(path)
            except WorkbenchError as err:
                yield Skipped(path.name, str(err))
        if not tensors:
            continue
        x = to_float(torch.stack(tensors), payload["mean"], payload["std"], payload["normalize"])
        with torch.no_grad():
            probs = torch.softmax(model(x).float(), dim=1)
        best, labels = probs.max(dim=1)
        for path, p, label in zip(good, best.tolist(), labels.tolist()):
            yield Labelled(path.name, label, classes[label], p)
