"""What the test pass shows, gathered during Trainer.evaluate() at almost no cost.

`Evaluation.add(xb, yb, out)` is called on every test batch with the model's output. Everything stays on
the device — counts, a running top-k — and is read once, at the epoch's end (`event()`), so the pass
gains no sync points:

- classifiers: a confusion matrix (rows true, columns predicted) and the WORST most confidently wrong
  images (event Confusion);
- autoencoders: each image's mean squared error (the worst WORST kept with their reconstruction) and the
  code of the first CODES test images, projected on its two principal components (event Latent).

The code convention: a model that has an `encode(x)` method is asked for it; else a submodule named
`encoder` gives it (as trainers.models.autoencoder's ConvAutoencoder has). The code is flattened per
image. A model with neither still gets its worst reconstructions, without a scatter.

Under torchrun each process evaluates its share: the confusion matrix is summed over all of them (one
small collective), the worst images and the codes are rank 0's share.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from ..events import Confusion, Latent

WORST = 8  # images kept per epoch (the log keeps every epoch's)
CODES = 500  # test images in the latent scatter


def encoder_of(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """How to get `model`'s code: its `encode` method, else its `encoder` submodule, else None."""
    model = getattr(model, "module", model)  # a DDP wrapper: the model inside
    encode = getattr(model, "encode", None)
    if callable(encode) and not isinstance(encode, nn.Module):
        return encode
    encoder = getattr(model, "encoder", None)
    return encoder if isinstance(encoder, nn.Module) else None


def pca_2d(codes: torch.Tensor) -> tuple[torch.Tensor, tuple[float, ...]]:
    """(points (n, 2), variance share of each component) of `codes` (n, d), centred and projected on its
    two leading principal directions. Each direction's sign is fixed so that its largest-magnitude
    loading is positive: the same picture does not flip from one epoch to the next. Fewer than two
    directions (d == 1, or all codes on one point) leave the missing axis at 0."""
    c = codes.detach().to("cpu", torch.float64)
    c = c - c.mean(0, keepdim=True)
    _, s, vh = torch.linalg.svd(c, full_matrices=False)
    k = min(2, vh.shape[0])
    directions = vh[:k].T  # (d, k)
    biggest = directions.abs().argmax(0)
    sign = torch.sign(directions[biggest, torch.arange(k)])
    directions = directions * torch.where(sign == 0, torch.ones_like(sign), sign)
    points = torch.zeros(c.shape[0], 2, dtype=torch.float64)
    points[:, :k] = c @ directions
    variance = s ** 2
    total = float(variance.sum())
    explained = tuple(float(v) / total if total > 0 else 0.0 for v in variance[:2])
    return points, explained + (0.0,) * (2 - len(explained))


class Evaluation:
    """One test pass's probe for a session (trainers.train.prepare.Session): feed it batches, then ask for the
    epoch's event."""

    def __init__(self, s) -> None:
        self.s = s
        self.classes = tuple(s.data.classes)
        self.device = s.device
        mean = torch.as_tensor(s.data.mean, dtype=torch.float32, device=s.device).reshape(1, -1, 1, 1)
        std = torch.as_tensor(s.data.std, dtype=torch.float32, device=s.device).reshape(1, -1, 1, 1)
        self.unnormalize = (mean, std) if s.normalize else None
        self.top_score = torch.empty(0, device=s.device)
        self.top = ()  # tensors kept beside the scores, the same rows
        if s.classify:
            c = len(self.classes)
            self.counts = torch.zeros(c * c, dtype=torch.int64, device=s.device)
        else:
            self.error_sum = torch.zeros((), dtype=torch.float64, device=s.device)
            self.n = 0
            self.encode = encoder_of(s.model)
            self.codes: list[torch.Tensor] = []
            self.code_labels: list[torch.Tensor] = []
            self.coded = 0

    # -- during the pass (no reads from the device) ----------------------------------------------------

    def keep_worst(self, score: torch.Tensor, *rows: torch.Tensor) -> None:
        """Merge this batch's highest `score`s (and their rows) into the running top WORST."""
        k = min(WORST, score.shape[0])
        best, index = score.topk(k)
        scores = torch.cat([self.top_score, best])
        kept = [torch.cat([old, new.index_select(0, index)]) if self.top else new.index_select(0, index)
                for old, new in zip(self.top or (None,) * len(rows), rows)]
        k = min(WORST, scores.shape[0])
        self.top_score, order = scores.topk(k)
        self.top = tuple(t.index_select(0, order) for t in kept)

    def add(self, xb: torch.Tensor, yb: torch.Tensor, out: torch.Tensor) -> None:
        out = out.float()
        if self.s.classify:
            c = len(self.classes)
            confidence, predicted = torch.softmax(out, 1).max(1)
            self.counts += torch.bincount(yb * c + predicted, minlength=c * c)
            wrong = predicted != yb
            # right answers score -1, below any probability: they are kept only to fill, then dropped
            self.keep_worst(torch.where(wrong, confidence, torch.full_like(confidence, -1.0)), xb, yb, predicted)
            return
        error = (out - xb.float()).pow(2).reshape(xb.shape[0], -1).mean(1)
        self.error_sum += error.sum(dtype=torch.float64)
        self.n += xb.shape[0]
        self.keep_worst(error, xb, out)
        if self.encode is not None and self.coded < CODES:
            take = min(CODES - self.coded, xb.shape[0])
            code = self.encode(xb[:take])
            self.codes.append(code.float().reshape(take, -1))
            self.code_labels.append(yb[:take])
            self.coded += take

    def finish(self) -> None:
        """After the pass, on every process: the counts summed over processes under torchrun."""
        if self.s.classify and self.s.world > 1:
            import torch.distributed as dist

            dist.all_reduce(self.counts)

    # -- at the epoch's end (rank 0) --------------------------------------------------------------------

    def to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """Network inputs back to the images they came from (exact: the normalisation is undone)."""
        x = x.float()
        if self.unnormalize is not None and x.dim() == 4:
            mean, std = self.unnormalize
            x = x * std + mean
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()

    def event(self, epoch: int) -> Confusion | Latent:
        if self.s.classify:
            return self.confusion(epoch)
        return self.latent(epoch)

    def confusion(self, epoch: int) -> Confusion:
        c = len(self.classes)
        matrix = self.counts.reshape(c, c).cpu().numpy()
        rows = matrix.sum(1)
        per_class = tuple(float(matrix[i, i]) / float(rows[i]) if rows[i] else None for i in range(c))
        wrong = int((self.top_score >= 0).sum()) if self.top_score.numel() else 0
        if wrong and self.top:
            x, y, predicted = (t[:wrong] for t in self.top)
            images, true = self.to_uint8(x), tuple(int(v) for v in y.cpu())
            guesses = tuple(int(v) for v in predicted.cpu())
            confidence = tuple(float(v) for v in self.top_score[:wrong].cpu())
        else:
            images, true, guesses, confidence = np.zeros((0, *self.s.input_shape), np.uint8), (), (), ()
        return Confusion(epoch=epoch, classes=self.classes, matrix=matrix, per_class=per_class,
                         worst_images=images, worst_true=true, worst_predicted=guesses,
                         worst_confidence=confidence)

    def latent(self, epoch: int) -> Latent:
        empty = np.zeros((0, *self.s.input_shape), np.uint8)
        x, out = self.top if self.top else (None, None)
        points = labels = None
        explained: tuple[float, ...] = ()
        code_size = 0
        if self.codes:
            codes = torch.cat(self.codes)
            code_size = codes.shape[1]
            if codes.shape[0] >= 2:
                projected, explained = pca_2d(codes)
                points = projected.numpy().astype(np.float16)
                labels = torch.cat(self.code_labels).cpu().numpy().astype(np.int16)
        return Latent(epoch=epoch, classes=self.classes, mean_error=float(self.error_sum) / max(self.n, 1),
                      worst_images=self.to_uint8(x) if x is not None else empty,
                      worst_outputs=self.to_uint8(out) if out is not None else empty,
                      worst_errors=tuple(float(v) for v in self.top_score.cpu()), points=points, labels=labels,
                      explained=explained, code_size=code_size)
