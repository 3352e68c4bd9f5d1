"""Every Textual message the workbench posts, in one place.

Trainer events travel from the training thread to the screen wrapped in `RunMessage`s; each carries the
`run_id` of the run that produced it, so a late event from a run that was already stopped is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from trainers import events as ev
from trainers.config import RunConfig


@dataclass
class StartRun(Message):
    """The picker asks for a run with this configuration."""

    config: RunConfig


@dataclass
class RunMessage(Message):
    """Base of the messages that carry one trainer event."""

    run_id: int
    event: Any


class LoadingProgressed(RunMessage):
    """A download or decode before the run starts. Only the newest matters: a newer one still waiting in
    the queue replaces this one, so a fast stream of them never backs up the screen."""

    event: ev.Loading

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadingProgressed) and message.run_id == self.run_id


class RunBegan(RunMessage):
    event: ev.RunStarted


@dataclass
class BatchesLogged(Message):
    """Logged batches since the previous such message (several per message: a UI needs no more than a
    few updates a second, and the chart keeps every point)."""

    run_id: int
    events: tuple[ev.BatchEnded, ...]


class EpochLogged(RunMessage):
    event: ev.EpochEnded


class ReconstructionsReady(RunMessage):
    event: ev.Reconstructions


class PredictionsReady(RunMessage):
    event: ev.Predictions


class ParametersUpdated(RunMessage):
    event: ev.ParametersSnapshot


class CheckpointWritten(RunMessage):
    event: ev.CheckpointSaved


class PauseChanged(RunMessage):
    event: ev.Paused


class RunEnded(RunMessage):
    event: ev.RunFinished


class RunBroke(RunMessage):
    event: ev.RunFailed


_WRAPPERS: dict[type, type[RunMessage]] = {
    ev.Loading: LoadingProgressed,
    ev.RunStarted: RunBegan,
    ev.EpochEnded: EpochLogged,
    ev.Reconstructions: ReconstructionsReady,
    ev.Predictions: PredictionsReady,
    ev.ParametersSnapshot: ParametersUpdated,
    ev.CheckpointSaved: CheckpointWritten,
    ev.Paused: PauseChanged,
    ev.RunFinished: RunEnded,
    ev.RunFailed: RunBroke,
}


def wrap(run_id: int, event: object) -> RunMessage | None:
    """The message for a trainer event, or None for an event this version does not know."""
    wrapper = _WRAPPERS.get(type(event))
    return wrapper(run_id, event) if wrapper is not None else None


@dataclass
class ModelCounted(Message):
    """Parameter counts, computed in a worker once torch has loaded."""

    counts: dict[str, int]


@dataclass
class DevicesFound(Message):
    """The devices this machine offers, as (value, label) pairs."""

    devices: list[tuple[str, str]]


@dataclass
class ReportReady(Message):
    """A model report for the inspect screen (trainers.inspection.ModelReport)."""

    report: Any


@dataclass
class ReportFailed(Message):
    reason: str
