"""Layer statistics, live: per layer, the weights' and gradients' norms, how much a step moved the weights,
a histogram of them, and for ReLU/Sigmoid/Tanh modules the share of units dead or saturated; plus the
warning signs those numbers show, in words (event LayerStats).

The trainer asks `due()` per batch (a modulo, nothing else, so a run without stats pays nothing); on a due
batch it calls `before_step()` before the optimizer's step and `after_step()` after it, while the gradients
are still there (the loop zeroes them only at the next batch).

The update-to-weight ratio is measured: ||w_after - w_before|| / ||w_before|| over the layer's parameters,
so it is what the optimizer really did (momentum, Adam's scaling and weight decay included), not lr·||g||/||w||.
CS231n's rule of thumb is about this measured ratio: near 1e-3; far above, the learning rate is too high;
far below, too low.

The histogram counts at most HISTOGRAM_VALUES evenly strided values of each parameter tensor (all of a
small one), between the layer's true minimum and maximum: its shape, not a census.

Dead and saturated units are measured on a fixed batch (the run's sample test images), in eval mode and
without gradients, the model's training mode restored after. Only modules are seen: a network that calls
torch.nn.functional.relu in its forward shows no activation rows.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..events import LayerStat, LayerStats
from ..runs.requests import WATCH_EVERY

BINS = 16
HISTOGRAM_VALUES = 1 << 14  # per parameter tensor: evenly strided values, plenty for 16 bins' shape, and
# histc over every value of a 784x512 layer cost more than the step itself
DEAD_SHARE = 0.5  # a ReLU layer with more of its units dead than this is flagged
SATURATED_SHARE = 0.5  # likewise for Sigmoid/Tanh outputs in the flat ends
RATIO_HIGH, RATIO_LOW = 1e-2, 1e-5  # update-to-weight ratios flagged (the rule of thumb: near 1e-3)
VANISHING = 1e-2  # the first layer's gradient per weight under this share of the last layer's
TINY_GRADIENT = 1e-7  # every layer's gradient per weight (RMS) below this: nothing learns
EXPLODING = 1e3  # the whole gradient's norm above this
GROWTH = 10.0  # ... or this many times the previous record's (and above 1)

ACTIVATIONS = (nn.ReLU, nn.Sigmoid, nn.Tanh)


def _own_parameters(module: nn.Module) -> list[torch.nn.Parameter]:
    return list(module.parameters(recurse=False))


def _strided(p: torch.Tensor) -> torch.Tensor:
    flat = p.detach().reshape(-1)
    step = -(-flat.numel() // HISTOGRAM_VALUES)
    return (flat[::step] if step > 1 else flat).float()


class LayerProbe:
    """Statistics of `model`'s layers after chosen steps, activations measured on `inputs` (a float batch on
    the model's device). `every`: batches between records (0: each epoch's last batch only); None: only
    while `wanted()` says a viewer asks for them (then every WATCH_EVERY batches)."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, every: int | None, wanted=None) -> None:
        self.model, self.inputs, self.every = model, inputs, every
        self.wanted = wanted or (lambda: False)
        self.layers = [(name, m, ps) for name, m in model.named_modules() if (ps := _own_parameters(m))]
        self.activations = [(name, m) for name, m in model.named_modules() if isinstance(m, ACTIVATIONS)]
        self.saved: list[list[torch.Tensor]] | None = None  # the weights before the step: kept buffers
        self.armed = False  # before_step() filled them for the step being recorded
        self.previous_gradient: float | None = None

    def due(self, batch: int, batches: int) -> bool:
        every = self.every
        if every is None:
            if not self.wanted():
                return False
            every = WATCH_EVERY
        return batch == batches or (every > 0 and batch % every == 0)

    def before_step(self) -> None:
        """Keep the weights as they are before the step, in buffers kept from one record to the next (fresh
        ones each time cost more in page faults than the copy itself)."""
        with torch.no_grad():
            if self.saved is None:
                self.saved = [[torch.empty_like(p) for p in ps] for _, _, ps in self.layers]
            for buffers, (_, _, ps) in zip(self.saved, self.layers):
                for buffer, p in zip(buffers, ps):
                    buffer.copy_(p.detach())
        self.armed = True

    def after_step(self, epoch: int, batch: int, batches: int, step: int) -> LayerStats:
        layers = self.parameter_stats() + self.activation_stats()
        order = {name: i for i, (name, _) in enumerate(self.model.named_modules())}
        layers.sort(key=lambda layer: order.get(layer.name, 0))  # as the model lists them: fc1, relu, fc2
        gradient = total_gradient(layers)
        found = flags(layers, self.previous_gradient)
        self.previous_gradient = gradient if gradient is not None else self.previous_gradient
        self.armed = False
        return LayerStats(epoch=epoch, batch=batch, batches=batches, step=step, layers=tuple(layers),
                          flags=found, images=int(self.inputs.shape[0]))

    def parameter_stats(self) -> list[LayerStat]:
        if not self.layers:
            return []

        def norm(tensors) -> torch.Tensor:  # of all of them together, without concatenating them
            return torch.stack([torch.linalg.vector_norm(t.detach().float()) for t in tensors]).norm()

        nan = torch.tensor(float("nan"))
        scalars = []
        with torch.no_grad():
            for i, (_name, _m, ps) in enumerate(self.layers):
                grads = [p.grad for p in ps if p.grad is not None]
                g = norm(grads) if grads else nan.to(ps[0].device)
                ranges = torch.stack([torch.stack(torch.aminmax(p.detach().float())) for p in ps])
                if self.armed:
                    before = self.saved[i]
                    before_norm = norm(before)
                    for b, p in zip(before, ps):
                        b.sub_(p.detach())  # in place: the buffer is refilled before the next record
                    moved = norm(before)
                else:
                    before_norm = moved = nan.to(ps[0].device)
                scalars.append(torch.stack([norm(ps), g, moved, before_norm, ranges[:, 0].min(),
                                            ranges[:, 1].max()]))
            values = torch.stack(scalars).cpu().tolist()  # one sync for every layer's numbers
            counts = []
            for (_name, _m, ps), (*_, lo, hi) in zip(self.layers, values):
                if not (math.isfinite(lo) and math.isfinite(hi)):
                    # the step made a weight inf or NaN: no histogram (histc refuses the range); the
                    # flags say it, and the loop's loss check ends the run with its own sentence
                    counts.append(None)
                    continue
                hi = hi if hi > lo else lo + 1e-12  # a constant layer: all in the first bin
                counts.append(sum(torch.histc(_strided(p), BINS, lo, hi) for p in ps))
            kept = [c for c in counts if c is not None]
            kept_np = iter(torch.stack(kept).cpu().numpy().round().astype(np.int64)) if kept else iter(())
            counts_np = [None if c is None else next(kept_np) for c in counts]
        out = []
        for (name, module, ps), (wn, gn, dn, bn, lo, hi), c in zip(self.layers, values, counts_np):
            has_grad = any(p.grad is not None for p in ps)
            ratio = dn / bn if has_grad and self.armed and bn > 0 else None
            out.append(LayerStat(name=name, kind=type(module).__name__, parameters=sum(p.numel() for p in ps),
                                 weight_norm=wn, grad_norm=gn if has_grad else None, update_ratio=ratio,
                                 counts=c, edges=None if c is None else np.linspace(lo, hi, BINS + 1,
                                                                                      dtype=np.float32)))
        return out

    def activation_stats(self) -> list[LayerStat]:
        if not self.activations:
            return []
        found: dict[str, list] = {}

        def hook_for(name: str, module: nn.Module):
            def hook(_module, _inputs, output):
                if not isinstance(output, torch.Tensor):
                    return
                y = output.detach().float().reshape(output.shape[0], -1)
                if isinstance(module, nn.ReLU):  # a unit is dead when it is 0 for every image
                    part, whole = (~(y > 0).any(0)).sum(), y.shape[1]
                elif isinstance(module, nn.Sigmoid):
                    part, whole = ((y > 0.99) | (y < 0.01)).sum(), y.numel()
                else:
                    part, whole = (y.abs() > 0.99).sum(), y.numel()
                found.setdefault(name, []).append((part, whole))  # a module called twice counts both calls
            return hook

        hooks = [m.register_forward_hook(hook_for(name, m)) for name, m in self.activations]
        was_training = self.model.training
        try:
            self.model.eval()
            with torch.no_grad():
                self.model(self.inputs)
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        if not found:
            return []
        names = list(found)
        parts = torch.stack([sum(p for p, _ in found[n]) for n in names]).cpu().tolist()
        out = []
        modules = dict(self.activations)
        for name, part in zip(names, parts):
            share = part / max(sum(w for _, w in found[name]), 1)
            module = modules[name]
            relu = isinstance(module, nn.ReLU)
            out.append(LayerStat(name=name, kind=type(module).__name__, dead=share if relu else None,
                                 saturated=None if relu else share))
        return out


def probe_for(session, sample_x: torch.Tensor, wanted=None) -> LayerProbe | None:
    """The probe a run asked for (RunConfig.layer_stats), or one that waits for a viewer to ask (`wanted`);
    None on the other ranks of a torchrun job (rank 0 speaks for all: their gradients are the same)."""
    cfg = session.cfg
    if session.rank != 0 or (cfg.layer_stats is None and wanted is None):
        return None
    from ..data.batches import to_float

    inputs = to_float(sample_x.to(session.device), session.data.mean, session.data.std, session.normalize)
    return LayerProbe(session.model, inputs, cfg.layer_stats, wanted)


# ------------------------------------------------------------------------------------------ in words


def _label(layer: LayerStat) -> str:
    """"fc1", or "0 (Conv2d)" for a Sequential's numbered layer."""
    return f"{layer.name} ({layer.kind})" if layer.name.replace(".", "").isdigit() else layer.name


def _rms(layer: LayerStat) -> float:
    return layer.grad_norm / math.sqrt(max(layer.parameters, 1))


def total_gradient(layers: Sequence[LayerStat]) -> float | None:
    norms = [layer.grad_norm for layer in layers if layer.grad_norm is not None]
    return math.sqrt(sum(n * n for n in norms)) if norms else None


def _names(items: list[tuple[LayerStat, float]], fmt) -> str:
    shown = [f"{_label(layer)} {fmt(v)}" for layer, v in items[:3]]
    more = f" and {len(items) - 3} more" if len(items) > 3 else ""
    return ", ".join(shown) + more


def flags(layers: Sequence[LayerStat], previous_gradient: float | None = None) -> tuple[str, ...]:
    """The warning signs in `layers`, one sentence each; () when none shows. `previous_gradient`: the whole
    gradient's norm at the previous record, to see it growing."""
    said: list[str] = []
    learning = [layer for layer in layers if layer.grad_norm is not None and layer.parameters > 0]
    bad = [_label(layer) for layer in learning if not math.isfinite(layer.grad_norm)]
    if bad:
        said.append(f"Gradients are not finite (inf or NaN) in {', '.join(bad[:3])}: training has blown up; "
                    f"lower the learning rate.")
        learning = [layer for layer in learning if math.isfinite(layer.grad_norm)]
    if learning:
        rms = [_rms(layer) for layer in learning]
        first, last = learning[0], learning[-1]
        if max(rms) < TINY_GRADIENT:
            said.append(f"Vanishing gradients: the largest is {max(rms):.1e} per weight, so no layer learns; "
                        f"check the loss and the learning rate, or the initialisation.")
        elif len(learning) > 1 and rms[-1] > 0 and rms[0] / rms[-1] < VANISHING:
            orders = math.log10(rms[-1] / max(rms[0], 1e-45))
            said.append(f"Vanishing gradients: the gradient per weight of {_label(first)} is {orders:.1f} "
                        f"orders of magnitude below that of {_label(last)}, so the first layers barely learn; "
                        f"saturating activations (sigmoid, tanh) do this, ReLU or a better initialisation "
                        f"helps.")
        total = math.sqrt(sum(layer.grad_norm ** 2 for layer in learning))
        if total > EXPLODING:
            said.append(f"Exploding gradients: the gradient's norm is {total:.3g}; lower the learning rate or "
                        f"clip the gradients.")
        elif previous_gradient and total > 1 and total > GROWTH * previous_gradient:
            said.append(f"Exploding gradients: the gradient's norm grew {total / previous_gradient:.0f}x since the "
                        f"last record, to {total:.3g}; lower the learning rate or clip the gradients.")
    dead = [(layer, layer.dead) for layer in layers if layer.dead is not None and layer.dead > DEAD_SHARE]
    if dead:
        said.append(f"Dead ReLUs: {_names(dead, lambda v: f'{100 * v:.0f}%')} of the units output 0 for every "
                    f"image of the fixed batch and no longer learn; a lower learning rate or another "
                    f"initialisation helps.")
    saturated = [(layer, layer.saturated) for layer in layers
                 if layer.saturated is not None and layer.saturated > SATURATED_SHARE]
    if saturated:
        said.append(f"Saturated activations: {_names(saturated, lambda v: f'{100 * v:.0f}%')} of the outputs "
                    f"sit in the flat ends of the sigmoid or tanh, where the gradient is almost 0; smaller "
                    f"weights (xavier) or ReLU help.")
    ratios = [(layer, layer.update_ratio) for layer in learning if layer.update_ratio is not None]
    high = [(n, r) for n, r in ratios if r > RATIO_HIGH]
    low = [(n, r) for n, r in ratios if r < RATIO_LOW]
    if high:
        said.append(f"Large updates: a step changes these weights by this share of their size: "
                    f"{_names(high, lambda v: f'{v:.0e}')}, above the rule of thumb of about 1e-3; if the loss "
                    f"jumps about, lower the learning rate.")
    if low:
        said.append(f"Tiny updates: a step changes these weights by this share of their size: "
                    f"{_names(low, lambda v: f'{v:.0e}')}, far below the rule of thumb of about 1e-3; the "
                    f"learning rate is likely too low.")
    return tuple(said)
