"""Every Textual message the workbench posts, in one place.

A run's events reach a screen in one kind of message, `RunEvents`: the trainer's own event dataclasses
(trainers.events) and the reader's markers, as read from the run folder, several at a time. The screen
dispatches each by its type, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from trainers.config import RunConfig


@dataclass
class StartRun(Message):
    """The picker asks for a run with this configuration."""

    config: RunConfig


@dataclass
class ShowInPicker(Message):
    """Back to the picker, with this configuration chosen there and `note` said (the Sweep screen's f)."""

    config: RunConfig
    note: str


@dataclass
class RunEvents(Message):
    """Events read from a run folder since the previous message (a follower sends them a few times a
    second at most; every event is kept)."""

    folder: str
    events: tuple[Any, ...]


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


@dataclass
class CostEstimated(Message):
    """The cost of a model on a dataset (trainers.cost.Cost), from a worker: first the static figures
    (`timed` False), then the dry run's; `error` says why there is no (more) figure. `token` names the
    request, so an answer for a selection that has since changed is dropped."""

    token: int
    cost: Any
    timed: bool
    error: str = ""
