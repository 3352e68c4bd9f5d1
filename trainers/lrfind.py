"""The learning-rate range test (Leslie Smith, "Cyclical Learning Rates", 2015), as fastai's `lr_find` and
Lightning's `Tuner.lr_find` run it: from the model's initial weights, train one batch at a time while the
learning rate grows exponentially from `start_lr` to `end_lr`, record the loss smoothed by a debiased moving
average, stop once it blows up, and put the weights back.

    for event in lr_find(RunConfig(model="mlp-deep", dataset="fashion-mnist")):
        ...  # LrPoint per batch, then one LrSuggestion

The data, model, loss, device and initialisation are a run's own (trainers.train.prepare), and each batch is
the training loop's step (trainers.train.step.TrainStep), so the suggestion is for the run `workbench train`
would start. The suggestion is the lr of steepest descent of the smoothed loss against log(lr), over the points
before its minimum (fastai's `steep`); `lr_min_over_10` is fastai's other rule, a tenth of the minimum's lr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import ConfigError

if TYPE_CHECKING:
    from .config import RunConfig

SKIP_START = 3  # the first points' smoothed loss is mostly the untrained model's: not a descent to trust


@dataclass(frozen=True)
class LrPoint:
    batch: int  # 1, 2, ...
    lr: float  # the learning rate this batch was trained at
    loss: float  # the batch's loss
    smoothed: float  # the debiased exponential moving average of the losses so far


@dataclass(frozen=True)
class LrSuggestion:
    lr_steepest: float  # the suggestion: steepest descent of the smoothed loss vs log(lr)
    lr_min_over_10: float  # a tenth of the lr at the smoothed loss's minimum
    points: tuple[LrPoint, ...]
    stopped_early: bool
    reason: str  # why the ramp ended, in words


def ramp(start_lr: float, end_lr: float, n: int) -> list[float]:
    """`n` learning rates from start_lr to end_lr, each the previous times the same factor."""
    if n == 1:
        return [start_lr]
    return [start_lr * (end_lr / start_lr) ** (i / (n - 1)) for i in range(n)]


def suggest(points: list[LrPoint] | tuple[LrPoint, ...], skip: int = SKIP_START) -> tuple[float, float]:
    """(steepest, min/10): the lr where the smoothed loss falls fastest per unit of log(lr), among the points
    before its minimum less the first `skip`; and a tenth of the lr at the minimum."""
    lrs = [p.lr for p in points]
    losses = [p.smoothed for p in points]
    best = min(range(len(losses)), key=losses.__getitem__)
    lr_min_over_10 = lrs[best] / 10
    if best == 0:
        return lrs[0], lr_min_over_10
    lo = skip if best - skip >= 2 else 0
    # a one-sided difference from each point to the next, up to the minimum: the slope leaving each lr
    slopes = [(losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i])) for i in range(lo, best)]
    steepest = lo + min(range(len(slopes)), key=slopes.__getitem__)
    return lrs[steepest], lr_min_over_10


def lr_find(config: "RunConfig", start_lr: float = 1e-7, end_lr: float = 10, max_batches: int = 200,
            stop_factor: float = 4, beta: float = 0.98,
            progress: Callable[[str, int, int], None] | None = None) -> Iterator[LrPoint | LrSuggestion]:
    """Yields an LrPoint per batch, then one LrSuggestion. Raises ConfigError (one sentence) for bad
    settings, and for a loss that is not finite from the first batch. The model's weights (and the random
    state) are as they were before, bit for bit, when the generator ends or is closed."""
    _check(start_lr, end_lr, max_batches, stop_factor, beta)
    import torch

    from .config import AUTO
    from .train.fit import choose_batch
    from .train.prepare import prepare

    rng = torch.get_rng_state()  # prepare seeds it, and dropout draws from it: the caller's, given back
    try:
        session = prepare(config, progress)
        if session.cfg.batch_size == AUTO:  # on a GPU (prepare refuses it elsewhere): measured as a run would
            choose_batch(session)
        yield from _ramp(session, start_lr, end_lr, max_batches, stop_factor, beta)
    finally:
        torch.set_rng_state(rng)


def _ramp(s, start_lr: float, end_lr: float, max_batches: int, stop_factor: float, beta: float) -> Iterator:
    import torch

    from .train.step import TrainStep

    cfg, model = s.cfg, s.model
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        step = TrainStep(model, s.optimizer, loss=s.loss, amp=cfg.amp, device=s.device, input_shape=s.input_shape,
                         fast_mlp=cfg.fast_mlp)
        generator = torch.Generator()
        generator.manual_seed(cfg.order_seed)  # the first epoch's order is the run's
        batches = s.batches(True, generator)
        model.train()
        lrs = ramp(start_lr, end_lr, max_batches)
        points: list[LrPoint] = []
        avg, best = 0.0, math.inf
        stopped, reason = False, f"the ramp reached its end, {end_lr:.3g}."
        source = _cycle(batches)
        for i, lr in enumerate(lrs):
            for group in s.optimizer.param_groups:
                group["lr"] = lr
            xb, yb = next(source)
            loss_t, _, _ = step(xb, yb if s.classify else xb)
            loss = float(loss_t.detach().float().item())
            if i == 0 and not math.isfinite(loss):
                raise ConfigError(f"{cfg.model}'s loss on {cfg.dataset} is {loss} from the first batch, at lr "
                                  f"{lr:.3g}, so no learning rate can be found; check the model's output and the data.")
            avg = beta * avg + (1 - beta) * loss
            smoothed = avg / (1 - beta ** (i + 1))
            point = LrPoint(i + 1, lr, loss, smoothed)
            if not math.isfinite(smoothed):
                stopped, reason = True, f"the loss became {loss} at lr {lr:.3g}."
                break
            points.append(point)
            yield point
            best = min(best, smoothed)
            if i > 0 and smoothed > stop_factor * best:
                stopped = True
                reason = f"the smoothed loss passed {stop_factor:g}x its minimum at lr {lr:.3g}."
                break
        steepest, min10 = suggest(points)
        yield LrSuggestion(steepest, min10, tuple(points), stopped, reason)
    finally:
        model.load_state_dict(saved)
        for p in model.parameters():
            p.grad = None


def _cycle(batches) -> Iterator:
    """The training batches, epoch after epoch."""
    while True:
        empty = True
        for xb, yb, _ in batches.epoch(0):
            empty = False
            yield xb, yb
        if empty:
            raise ConfigError("the training set has no batches to try learning rates on.")


def _check(start_lr: float, end_lr: float, max_batches: int, stop_factor: float, beta: float) -> None:
    if not (math.isfinite(start_lr) and math.isfinite(end_lr) and 0 < start_lr < end_lr):
        raise ConfigError(f"the lr range must go up from a positive start, got {start_lr:g} to {end_lr:g}.")
    if int(max_batches) != max_batches or max_batches < 2:
        raise ConfigError(f"the lr finder needs at least 2 batches, got {max_batches}.")
    if not stop_factor > 1:
        raise ConfigError(f"the stop factor must be above 1, got {stop_factor:g}.")
    if not 0 <= beta < 1:
        raise ConfigError(f"the smoothing beta must be in [0, 1), got {beta:g}.")


def in_words(model: str, dataset: str, result: "LrSuggestion") -> str:
    """The finder's result in one sentence, for the command and the picker's lr-find screen."""
    low = min(result.points, key=lambda p: p.smoothed)
    ended = "stopped early: " + result.reason if result.stopped_early else result.reason
    return (f"{model} on {dataset}: the smoothed loss fell fastest at lr {result.lr_steepest:.3g} and was lowest "
            f"({low.smoothed:.3g}) at lr {low.lr:.3g} (a tenth of that: {result.lr_min_over_10:.3g}); {ended}")
