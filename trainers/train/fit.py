"""--batch-size auto, and the batch that fits after an out-of-memory: the largest power of two whose training
step fits in the GPU's memory with a tenth to spare, measured on the device; and the test batch the
evaluation can take beside it.

The step measured is the loop's own (trainers.train.step.TrainStep: forward under autocast, the loss,
backward, the optimizer's step, twice, so the optimizer's state is there too), on a copy of the model, with
random inputs of the dataset's shape: the memory of a dense model does not depend on the values. A run needs
its weights, the optimizer's state, its data on the GPU, and the step's gradients and activations: the copy's
peak above what this process held before stands for the first two and the last, the data is counted from its
tensors. That is set against what the GPU has for this process: free memory plus what torch holds, since what
it holds is this run's (its model, its state and data after an out-of-memory), which the run needs again.
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
    test_batch: int | None = None  # the evaluation's batch that fits beside it (None: not measured)
    test_need: int = 0  # bytes the evaluation at `test_batch` took at its peak

    def measured(self, device) -> str:
        """"training takes 61.2 GB of the 79.1 GB free on cuda:0"."""
        return f"training takes {gb(self.need)} of the {gb(self.room)} free on {device}"

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


def _power_below(n: int) -> int:
    """The largest power of two below `n` (`n` itself excluded); 0 below 2."""
    return 0 if n < 2 else 1 << ((n - 1).bit_length() - 1)


def largest_batch(model: torch.nn.Module, cfg: RunConfig, device: torch.device, input_shape: tuple[int, ...],
                  classes: int, loss: str, *, largest: int, data: int = 0, test_batch: int | None = None,
                  train: bool = True) -> Fit:
    """Measure steps of `model` (copied; the original is not touched) at batches 1, 2, 4, ... up to `largest`,
    stopping at the first that does not fit. `data`: bytes the run's data holds on the GPU (already there or
    not). `test_batch`: also the evaluation's forward at that batch, halved (to powers of two) until it fits
    beside the training's state. `train=False` measures only the evaluation (one step at batch 1 for the state)."""
    largest = max(1, 1 << (max(1, int(largest)).bit_length() - 1))  # a power of two, at most `largest`
    _clear(device)
    base = torch.cuda.memory_allocated(device)
    free, _total = torch.cuda.mem_get_info(device)
    room = max(0, free + torch.cuda.memory_reserved(device))  # what this process holds is the run's own
    rng_state = torch.cuda.get_rng_state(device)  # dropout draws from it: the run's stream stays as seeded
    trial = copy.deepcopy(model).to(device)
    if channels_last(cfg, device, trial):
        trial.to(memory_format=torch.channels_last)
    params = [p for p in trial.parameters() if p.requires_grad]
    step = TrainStep(trial, make_optimizer(cfg, params), loss=loss, amp=cfg.amp, device=device,
                     input_shape=tuple(input_shape), fast_mlp=cfg.fast_mlp, world=1)
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    fits = lambda need: need is not None and need + data <= (1 - SPARE) * room  # noqa: E731
    tried: list[tuple[int, int | None]] = []
    best, best_need = 0, 0
    tested, test_need = None, 0
    try:
        trial.train()
        batch = 1 if train else largest + 1
        while batch <= largest:
            need = _measure(step, trial, device, input_shape, classes, loss, batch, g, base)
            tried.append((batch, None if need is None else need + data))
            if not fits(need):
                break
            best, best_need = batch, need + data
            batch *= 2
        if test_batch and (best or not train) and _measure(step, trial, device, input_shape, classes, loss, 1, g,
                                                           base) is not None:
            tested = int(test_batch)  # the gradients and the optimizer's state are there, as after a step
            while tested:
                need = _measure_eval(step, trial, device, input_shape, tested, g, base)
                if fits(need):
                    test_need = need + data
                    break
                tested = _power_below(tested)
    finally:
        del step, params, trial
        _clear(device)
        torch.cuda.set_rng_state(rng_state, device)
    return Fit(best, best_need, room, tuple(tried), largest, tested, test_need)


def _inputs(model, device, shape, batch: int, g) -> torch.Tensor:
    x = torch.rand((batch, *shape), generator=g).to(device)
    if x.dim() == 4 and channels_last_model(model):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def _measure(step: TrainStep, model, device, shape, classes: int, loss: str, batch: int, g, base: int) -> int | None:
    """The peak bytes above `base` of two steps at `batch`; None when they ran out of memory."""
    failed = False
    try:
        torch.cuda.reset_peak_memory_stats(device)
        x = _inputs(model, device, shape, batch, g)
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


def _measure_eval(step: TrainStep, model, device, shape, batch: int, g, base: int) -> int | None:
    """The peak bytes above `base` of the evaluation's forward at `batch` (no gradients, under autocast, as
    Trainer.evaluate); None when it ran out of memory."""
    failed = False
    try:
        torch.cuda.reset_peak_memory_stats(device)
        x = _inputs(model, device, shape, batch, g)
        model.eval()
        with torch.no_grad(), step.autocast():
            model(x).float()
        torch.cuda.synchronize(device)
        need = torch.cuda.max_memory_allocated(device) - base
    except Exception as err:
        if not is_out_of_memory(err):
            raise
        failed = True
    model.train()
    x = None
    if failed:
        _clear(device)
        return None
    return int(need)


def channels_last_model(model: torch.nn.Module) -> bool:
    p = next((p for p in model.parameters() if p.dim() == 4), None)
    return p is not None and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()


def resident_bytes(session) -> int:
    """What the run's data holds on the GPU: the splits kept there whole, inputs and labels, as
    trainers.data.batches keeps them (float32 when small enough, else their own type)."""
    from ..data.batches import resident_bytes as held

    d = session.data
    return sum(held(x, y) for x, y in ((d.train_x, d.train_y), (d.test_x, d.test_y)) if x is not None)


def fit_session(session, largest: int | None = None, test_batch: int | None = None, train: bool = True) -> Fit:
    """Measure the batch that fits for a prepared run on its GPU (the model copied, not touched); with
    `test_batch`, the evaluation's batch too. The run's own gradients are freed first: the measurement's
    stand for them."""
    session.optimizer.zero_grad(set_to_none=True)
    return largest_batch(session.model, session.cfg, session.device, session.input_shape, len(session.data.classes),
                         session.loss, largest=largest or session.data.train_size, data=resident_bytes(session),
                         test_batch=test_batch, train=train)


def choose_batch(session) -> str:
    """--batch-size auto: the session's batch size measured and set, and its test batch lowered to what fits
    beside it; returns the sentence that says so."""
    cfg = session.cfg
    fit = fit_session(session, test_batch=cfg.test_batch_size)
    if fit.batch == 0:
        raise ConfigError(f"--batch-size auto: not even a batch of 1 fits in the {gb(fit.room)} free on "
                          f"{session.device}; free some of its memory (workbench gpus shows whose it is) or choose "
                          f"another GPU with --device cuda:N.")
    chosen, words = fit.batch, [fit.limit()]
    state = session.resume or {}
    position = state.get("position")
    samples = int(position[1]) * int(state.get("batch_size") or chosen) if position else 0
    if 0 < samples < session.data.train_size and samples % chosen:  # a resume goes on after the same samples
        chosen = max(d for d in range(1, chosen + 1) if samples % d == 0)
        words.append(f"{chosen}, to divide the {samples:,} samples its checkpoint has of epoch {position[0]}")
    session.cfg = dataclasses.replace(cfg, batch_size=chosen)
    if fit.test_batch is not None and fit.test_batch < cfg.test_batch_size:
        session.cfg = dataclasses.replace(session.cfg, test_batch_size=max(1, fit.test_batch))
        words.append(f"evaluation in batches of {fit.test_batch} ({cfg.test_batch_size} would not fit beside it)"
                     if fit.test_batch else "not even a test batch of 1 fits beside it")
    said = "; ".join(w for w in words if w)
    return f"--batch-size auto chose {chosen}: {fit.measured(session.device)}" + (f"; {said}." if said else ".")
