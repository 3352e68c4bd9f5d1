"""Batches for the training loop, from tensors that live on the training device (the fast path) or from a
DataLoader (image folders too large to hold in memory).

Both yield `(inputs, labels)` already on the device, as float32 normalised the way
`ToTensor()` + `Normalize(mean, std)` would, in the order `DataLoader(shuffle=True, generator=g)` would
draw them (`randperm(n, generator=g)` once per epoch), so a run is the same run on either path.
"""

from __future__ import annotations

from typing import Iterator

import torch

FLOAT_BUDGET = 1 << 30  # bytes: pre-normalise a whole split to float32 when it fits under this


def _stats(mean, std, channels: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.as_tensor(mean, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=device).reshape(-1, 1, 1)
    return m.expand(channels, 1, 1), s.expand(channels, 1, 1)


def to_float(x_uint8: torch.Tensor, mean, std, normalize: bool) -> torch.Tensor:
    """uint8 NCHW -> float32 exactly as ToTensor (÷255) then Normalize (−mean, ÷std) compute it."""
    x = x_uint8.to(torch.float32).div_(255)  # in place: a whole split is hundreds of MB
    if normalize:
        m, s = _stats(mean, std, x.shape[1], x.device)
        x = x.sub_(m).div_(s)
    return x


def kept_as_float(x: torch.Tensor) -> bool:
    """Whether a split on the device is kept normalised as float32 (else in its own type, converted per batch)."""
    return x.numel() * 4 <= FLOAT_BUDGET


def resident_bytes(x: torch.Tensor, y: torch.Tensor) -> int:
    """The bytes TensorBatches keeps on the device for a split: its inputs as it keeps them, and its labels."""
    return x.numel() * (4 if kept_as_float(x) else x.element_size()) + y.numel() * y.element_size()


class EpochOrder:
    """Each epoch's sample order, drawn from the generator exactly as DataLoader(shuffle=True,
    generator=g) draws it, and the share of each batch that falls to this process under torchrun.

    `part=(rank, world)`: every process draws the same order; batch b of the global batch size is cut into
    `world` nearly equal, disjoint slices, and rank r trains on slice r, so the processes together see
    exactly the batches one process would (what DistributedSampler gives, for the same global batch)."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, generator: torch.Generator | None,
                 limit: int | None, part: tuple[int, int] = (0, 1)) -> None:
        self.n, self.batch_size, self.shuffle, self.generator, self.limit = n, batch_size, shuffle, generator, limit
        self.rank, self.world = part

    def __len__(self) -> int:
        full = -(-self.n // self.batch_size)
        return min(full, self.limit) if self.limit else full

    def draw(self) -> torch.Tensor | None:
        """The order of one epoch (None: unshuffled). Must be called once per epoch, resumed ones too."""
        if not self.shuffle:
            return None
        # Exactly DataLoader's draws: each new iterator first takes one int64 from the generator (the
        # workers' base seed), then RandomSampler takes randperm(n).
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)
        return torch.randperm(self.n, generator=self.generator)

    def finish(self) -> None:
        """RandomSampler draws one more (empty-sliced) randperm when a whole epoch is consumed; drawing it
        too keeps epoch 2 onwards in step with DataLoader."""
        if self.shuffle and len(self) * self.batch_size >= self.n:
            torch.randperm(self.n, generator=self.generator)

    def span(self, b: int) -> tuple[int, int, int]:
        """(lo, hi, global size) of this process's slice of batch b, as positions in the epoch's order."""
        lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
        if self.world == 1:
            return lo, hi, hi - lo
        size = hi - lo
        cuts = [lo + (size * k) // self.world for k in range(self.world + 1)]
        return cuts[self.rank], cuts[self.rank + 1], size


class TensorBatches:
    """A whole split resident on the device; each epoch is one randperm and a slice per batch.

    Iterating gives `(inputs, labels)`; `epoch(start)` skips the first `start` batches of the epoch (an
    exact resume) after drawing the epoch's order as a full epoch would. Under torchrun each batch is this
    process's slice (`global_sizes` holds the full batch's size, for the gradient's weighting)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, device: torch.device,
                 mean, std, normalize: bool, shuffle: bool, generator: torch.Generator | None = None,
                 limit: int | None = None, channels_last: bool = False, part: tuple[int, int] = (0, 1)) -> None:
        self.order = EpochOrder(len(y), batch_size, shuffle, generator, limit, part)
        self.n = len(y)
        self.batch_size = batch_size
        self.y = y.to(device)
        # Normalise once, not once per batch per epoch, when the float copy fits; else per batch.
        if kept_as_float(x):
            self.x, self.per_batch = to_float(x.to(device), mean, std, normalize), None
        else:
            self.x, self.per_batch = x.to(device), (mean, std, normalize)
        if channels_last and self.x.dim() == 4:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.device = device

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb, _ in self.epoch(0):
            yield xb, yb

    def epoch(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """(inputs, labels, the global batch's size) for batches start+1.., after the epoch's draws."""
        order = self.order.draw()
        if order is not None:
            order = order.to(self.device)  # drawn on the CPU, as RandomSampler does; moved once
        for b in range(start, len(self)):
            lo, hi, size = self.order.span(b)
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if self.per_batch is not None:
                xb = to_float(xb, *self.per_batch)
            yield xb, yb, size
        self.order.finish()


class _OrderSampler:
    """The indices of the current epoch, set before each pass (DataLoader iterates it in this process)."""

    def __init__(self) -> None:
        self.indices: list[int] = []

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class LoaderBatches:
    """The DataLoader path, for datasets of (uint8 CHW tensor, label) that are decoded per item. The order
    is drawn by EpochOrder, as on the tensor path, so both paths are the same run and resume alike."""

    def __init__(self, dataset, batch_size: int, *, device: torch.device, mean, std, normalize: bool,
                 shuffle: bool, generator: torch.Generator | None = None, limit: int | None = None,
                 workers: int | None = None, part: tuple[int, int] = (0, 1)) -> None:
        import os

        from torch.utils.data import DataLoader

        self.order = EpochOrder(len(dataset), batch_size, shuffle, generator, limit, part)
        self.sampler = _OrderSampler()
        workers = min(4, os.cpu_count() or 1) if workers is None else workers
        # batch_sampler=None, batch_size=None: we hand DataLoader whole batches of indices ourselves, and a
        # private generator keeps its own seed draw away from the global random stream.
        self.loader = DataLoader(dataset, batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=device.type == "cuda", persistent_workers=workers > 0,
                                 generator=torch.Generator())
        self.device, self.stats = device, (mean, std, normalize)
        self.n = len(dataset)

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self):
        for xb, yb, _ in self.epoch(0):
            yield xb, yb

    def epoch(self, start: int = 0):
        order = self.order.draw()
        spans = [self.order.span(b) for b in range(start, len(self))]
        ids = order.tolist() if order is not None else None
        self.sampler.indices = [(ids[lo:hi] if ids is not None else list(range(lo, hi))) for lo, hi, _ in spans]
        for (xb, yb), (_, _, size) in zip(self.loader, spans):
            xb = xb.to(self.device, non_blocking=True)
            yield to_float(xb, *self.stats), yb.to(self.device, non_blocking=True), size
        self.order.finish()
