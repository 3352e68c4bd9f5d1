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


class TensorBatches:
    """A whole split resident on the device; each epoch is one randperm and a slice per batch."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, device: torch.device,
                 mean, std, normalize: bool, shuffle: bool, generator: torch.Generator | None = None,
                 limit: int | None = None, channels_last: bool = False) -> None:
        self.batch_size, self.shuffle, self.generator, self.limit = batch_size, shuffle, generator, limit
        self.n = len(y)
        self.y = y.to(device)
        # Normalise once, not once per batch per epoch, when the float copy fits; else per batch.
        if x.numel() * 4 <= FLOAT_BUDGET:
            self.x, self.per_batch = to_float(x.to(device), mean, std, normalize), None
        else:
            self.x, self.per_batch = x.to(device), (mean, std, normalize)
        if channels_last and self.x.dim() == 4:
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.device = device

    def __len__(self) -> int:
        full = -(-self.n // self.batch_size)
        return min(full, self.limit) if self.limit else full

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = None
        if self.shuffle:
            # Exactly DataLoader's draws: each new iterator first takes one int64 from the generator
            # (the workers' base seed), then RandomSampler takes randperm(n) on the CPU; moved once.
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.randperm(self.n, generator=self.generator).to(self.device)
        for b in range(len(self)):
            lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.n)
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x.index_select(0, idx), self.y.index_select(0, idx)
            if self.per_batch is not None:
                xb = to_float(xb, *self.per_batch)
            yield xb, yb
        if self.shuffle and len(self) * self.batch_size >= self.n:
            # RandomSampler draws one more (empty-sliced) randperm when a whole epoch is consumed;
            # drawing it too keeps epoch 2 onwards in step with DataLoader.
            torch.randperm(self.n, generator=self.generator)


class LoaderBatches:
    """The DataLoader path, for datasets of (uint8 CHW tensor, label) that are decoded per item."""

    def __init__(self, dataset, batch_size: int, *, device: torch.device, mean, std, normalize: bool,
                 shuffle: bool, generator: torch.Generator | None = None, limit: int | None = None,
                 workers: int | None = None) -> None:
        import os

        from torch.utils.data import DataLoader

        workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                                 num_workers=workers, pin_memory=device.type == "cuda",
                                 persistent_workers=workers > 0)
        self.device, self.stats, self.limit = device, (mean, std, normalize), limit
        self.n = len(dataset)

    def __len__(self) -> int:
        return min(len(self.loader), self.limit) if self.limit else len(self.loader)

    def __iter__(self):
        for b, (xb, yb) in enumerate(self.loader):
            if b >= len(self):
                break
            xb = xb.to(self.device, non_blocking=True)
            yield to_float(xb, *self.stats), yb.to(self.device, non_blocking=True)
