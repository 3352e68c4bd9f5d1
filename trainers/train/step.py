"""One optimisation step, the one the training loop takes and the cost dry run times.

Read it as nanoGPT's loop body: forward under autocast, the loss in float32, zero the gradients, backward
(scaled under fp16, so small gradients do not flush to zero), the optimizer's step. A plain MLP on a CPU
takes the same step by hand (trainers.train.mlpstep: the same floats, a fraction of autograd's overhead).
"""

from __future__ import annotations

import contextlib

import torch

from .mlpstep import hand_step
from .prepare import loss_fn

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # --amp -> autocast's dtype


class TrainStep:
    """`step(x, target)` trains `model` on one batch; returns (loss, output, stepped).

    `net` is what runs forward when it is not `model` itself (torch.compile's wrapper, DDP's). `loss` is
    prepare's loss name; `world` the processes training together (the hand step is for one)."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, loss: str, amp: str,
                 device: torch.device, input_shape: tuple[int, ...], fast_mlp: bool = True, compiled: bool = False,
                 world: int = 1, net: torch.nn.Module | None = None) -> None:
        self.net = net if net is not None else model
        self.optimizer = optimizer
        self.criterion = loss_fn(loss)
        dtype = AMP_DTYPES.get(amp)
        self.autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
        self.hand = hand_step(model, optimizer, input_shape=input_shape, loss=loss, device=device,
                              fast=fast_mlp, amp=amp, compiled=compiled, world=world)
        # True from the optimizer's step until it is done: an error meanwhile (Adam's foreach kernels count
        # the step and move the moments before allocating a temporary) leaves weights and state half updated
        self.optimizing = False

    def __call__(self, x: torch.Tensor, target: torch.Tensor, *, weight: float | None = None,
                 watch_skip: bool = False) -> tuple[torch.Tensor, torch.Tensor, bool]:
        """`weight` multiplies the loss before backward (DDP: this slice's share of the global batch, so that
        averaging gradients over processes gives the global batch's mean). `stepped` is False only when
        `watch_skip` asked (a sync) and fp16's scaler skipped the step for an overflow."""
        if self.hand is not None:
            self.optimizing = True  # forward, backward and step in one: no telling which an error stopped
            loss, out = self.hand(x, target)
            self.optimizing = False
            return loss, out, True
        with self.autocast():
            out = self.net(x)
            loss = self.criterion(out.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        scaled = loss * weight if weight is not None else loss
        if self.scaler is None:
            scaled.backward()
            self.optimizing = True
            self.optimizer.step()
            self.optimizing = False
            return loss, out, True
        scale = self.scaler.get_scale() if watch_skip else None
        self.scaler.scale(scaled).backward()
        self.optimizing = True
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizing = False
        return loss, out, not (watch_skip and self.scaler.get_scale() < scale)
