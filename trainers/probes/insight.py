"""The probes' events as the trainer emits them (rank 0, after an epoch's evaluation; Activations also at
epoch 0, before training)."""

from __future__ import annotations

from typing import Iterator

import torch

from ..data.batches import to_float
from .activations import IMAGES, activations
from .evaluation import Evaluation  # noqa: F401 - the loop takes it from here


def walk_samples(s, epoch: int, sample_x: torch.Tensor, sample_y: torch.Tensor):
    """The Activations event of the first IMAGES sample images (s: trainers.train.prepare.Session)."""
    images, labels = sample_x[:IMAGES], sample_y[:IMAGES]
    x = to_float(images.to(s.device), s.data.mean, s.data.std, s.normalize)
    return activations(s.model, epoch, x, images, labels.tolist(), tuple(s.data.classes))


def epoch_events(s, epoch: int, evaluation: Evaluation | None, sample_x, sample_y) -> Iterator:
    if evaluation is not None:
        yield evaluation.event(epoch)
    yield walk_samples(s, epoch, sample_x, sample_y)
