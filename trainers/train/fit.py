"""--batch-size auto, and the batch that fits after an out-of-memory: the largest power of two whose training
step fits in the GPU's memory with a tenth to spare, measured on the device.

The step measured is the loop's own (trainers.train.step.TrainStep: forward under autocast, the loss,
backward, the optimizer's step, twice, so the optimizer's state is there too), on a copy of the model, with
random inputs of the dataset's shape: the memory of a dense model does not depend on the values. What is
measured is torch's allocator's peak above what this process held before, against what the GPU has free
for it (free memory, plus what torch holds cached, minus what is already in use).
"""

from __future__ import annotations

import copy
import dataclasses
import gc
from dataclasses import dataclass

import torch

from ..config import RunConfig
from ..devices import gb, is_out_of_memory
from ..errors import ConfigError
from .prepare import channels_last, make_optimizer
from .step import TrainStep

SPARE = 0.10  # the share of the GPU's room a chosen batch leaves unused


@dataclass(frozen=True)
class Fit:
    batch: int  # 0: not even a batch of 1 fits
    need: int  # bytes the step at `batch` took at its peak
    room: int  # bytes the GPU had for this run when measured
    tried: tuple[tuple[int, int | None], ...]  # (batch, its peak need; None: out of memory)
    largest: int  # the largest batch worth trying (the training set's size, as a power of two)

    def measured(self, device) -> str:
        """"a step takes 61.2 GB of the 79.1 GB free on cuda:0"."""
        return f"a step takes {gb(self.need)} of the {gb(self.room)} free on {device}"

    def limit(self) -> str:
        """Why not the next power of two, in words ("" when the training set's size is the limit)."""
        over = next(((b, n) for b, n in self.tried if b > self.batch), None)
        if over is None:
            return f"the training set's {self.largest:,} is as far as it goes" if self.batch >= self.largest else ""
        if over[1] is None:
            return f"{over[0]} ran out of memory"
        return f"{over[0]} would take {gb(over[1])}, leaving less than a tenth spare"


def _clear(device) -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)


def largest_batch(model: torch.nn.Module, cfg: RunConfig, device: torch.device, input_shape: tuple[int, ...],
                  classes: int, loss: str, *, largest: int, reserve: int = 0) -> Fit:
    """Measure steps of `model` (copied; the original is not touched) at batches 1, 2, 4, ... up to `largest`,
    stopping at the first that does not fit. `reserve`: bytes the run will also hold (its data on the GPU)."""
    largest = max(1, 1 << (max(1, int(largest)).bit_length() - 1))  # a power of two, at most `largest`
    _clear(device)
    base = torch.cuda.memory_allocated(device)
    free, _total = torch.cuda.mem_get_info(device)
    room = max(0, free + torch.cuda.memory_reserved(device) - base - reserve)
    rng_state = torch.cuda.get_rng_state(device)  # dropout draws from it: the run's stream stays as seeded
    trial = copy.deepcopy(model).to(device)
    if channels_last(cfg, device, trial):
        trial.to(memory_format=torch.channels_last)
    params = [p for p in trial.parameters() if p.requires_grad]
    step = TrainStep(trial, make_optimizer(cfg, params), loss=loss, amp=cfg.amp, device=device,
                     input_shape=tuple(input_shape), fast_mlp=cfg.fast_mlp, world=1)
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    tried: list[tuple[int, int | None]] = []
    best, best_need = 0, 0
    batch = 1
    try:
        trial.train()
        while batch <= largest:
            need = _measure(step, trial, device, input_shape, classes, loss, batch, g, base)
            tried.append((batch, need))
            if need is None or need > (1 - SPARE) * room:
                break
            best, best_need = batch, need
            batch *= 2
    finally:
        del step, params, trial
        _clear(device)
        torch.cuda.set_rng_state(rng_state, device)
    return Fit(best, best_need, room, tuple(tried), largest)


def _measure(step: TrainStep, model, device, shape, classes: int, loss: str, batch: int, g, base: int) -> int | None:
    """The peak bytes above `base` of two steps at `batch`; None when they ran out of memory."""
    failed = False
    try:
        torch.cuda.reset_peak_memory_stats(device)
        x = torch.rand((batch, *shape), generator=g).to(device)
        if x.dim() == 4 and channels_last_model(model):
            x = x.contiguous(memory_format=torch.channels_last)
        target = x if loss == "mse" else torch.randint(0, classes, (batch,), generator=g).to(device)
        for _ in range(2):
            step(x, target)
        torch.cuda.synchronize(device)
        need = torch.cuda.max_memory_allocated(device) - base
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        failed = True  # the exception (and the frames holding its tensors) is gone once out of this block
    x = target = None
    if failed:
        _clear(device)
        return None
    return int(need)


def channels_last_model(model: torch.nn.Module) -> bool:
    p = next((p for p in model.parameters() if p.dim() == 4), None)
    return p is not None and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()


def resident_bytes(session) -> int:
    """What the run's data will hold on the GPU: a split of tensors lives there whole, as floats."""
    d = session.data
    return sum(x.numel() * 4 for x in (d.train_x, d.test_x) if x is not None)


def fit_session(session, largest: int | None = None) -> Fit:
    """Measure the batch that fits for a prepared run on its GPU (the model copied, not touched)."""
    return largest_batch(session.model, session.cfg, session.device, session.input_shape, len(session.data.classes),
                         session.loss, largest=largest or session.data.train_size, reserve=resident_bytes(session))


def choose_batch(session) -> str:
    """--batch-size auto: the session's batch size measured and set; returns the sentence that says so."""
    fit = fit_session(session)
    if fit.batch == 0:
        raise ConfigError(f"--batch-size auto: not even a batch of 1 fits in the {gb(fit.room)} free on "
                          f"{session.device}; free some of its memory (workbench gpus shows whose it is) or choose "
                          f"another GPU with --device cuda:N.")
    session.cfg = dataclasses.replace(session.cfg, batch_size=fit.batch)
    limit = fit.limit()
    return f"--batch-size auto chose {fit.batch}: {fit.measured(session.device)}" + (f"; {limit}." if limit else ".")
