"""A sweep's events as the plain lines `workbench sweep` prints and a detached sweep writes to its log."""

from __future__ import annotations

from .runner import SweepEnded, SweepNote, SweepStarted, TrialEnded, TrialEpoch, TrialStarted
from .study import SweepSpec


def settings(params: dict) -> str:
    return " ".join(f"{name.replace('_', '-')}={_num(value)}" for name, value in params.items())


def _num(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def metric(spec: SweepSpec, value) -> str:
    if value is None:
        return f"{spec.metric} -"
    return f"{spec.metric} {value * 100:.2f}%" if spec.metric == "test_accuracy" else f"{spec.metric} {value:.4f}"


def say(event, spec: SweepSpec) -> str:
    if isinstance(event, SweepStarted):
        again = f", {event.done} done before" if event.done else ""
        return (f"sweep {event.name}: {event.trials} trials, {event.parallel} at a time, {event.sampler}{again}\n"
                f"  folder {event.folder}")
    if isinstance(event, SweepNote):
        return f"  {event.text}"
    if isinstance(event, TrialStarted):
        how = "continued" if event.resumed else "started"
        return f"trial {event.number} {how}: {settings(event.params)}"
    if isinstance(event, TrialEpoch):
        return f"trial {event.number} epoch {event.epoch}/{event.epochs}: {metric(spec, event.value)}"
    if isinstance(event, TrialEnded):
        best = "  (best so far)" if event.best else ""
        why = f": {event.reason}" if event.reason and event.state != "finished" else ""
        return f"trial {event.number} {event.state}, {metric(spec, event.value)}{why}{best}"
    if isinstance(event, SweepEnded):
        head = "sweep stopped" if event.stopped else "sweep done"
        counts = f"{event.finished} finished, {event.pruned} pruned, {event.failed} failed"
        if event.best is None:
            return f"{head}: {counts}; no trial finished, so there is no best."
        return (f"{head}: {counts}\n"
                f"best: trial {event.best}, {settings(event.best_params)}\n"
                f"best trial {event.best_folder} {spec.metric} {event.best_value:.4f}")
    return ""
