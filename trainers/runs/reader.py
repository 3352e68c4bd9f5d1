"""The reading side of the hub: RunReader replays a run folder and follows it while a trainer writes it,
from any process (the app, `workbench attach`, a notebook). It never writes.

Besides the trainer's own events, a follower yields three markers of its own:
- CaughtUp: everything written so far has been read (a viewer can draw now);
- LogRestarted: a resume cut the log back to its checkpoint; what follows is the whole log again;
- TrainerGone: the trainer ended without a last word (killed, crashed); the run reads as interrupted.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .. import events as ev
from .files import CONFIG, EVENTS, REQUEST, lock_holder, read_json
from .log import FINAL, Skipped, check_header, decode, parse_line
from .status import Status, read_status

POLL_SECONDS = 0.5
FIRST_POLL_SECONDS = 0.1  # while the trainer loads and takes its first steps


@dataclass(frozen=True)
class CaughtUp:
    """The reader has read everything written so far."""


@dataclass(frozen=True)
class LogRestarted:
    """The log was rewritten (a resume cut it back to its checkpoint): forget what was shown; a replay of
    the whole log follows."""


@dataclass(frozen=True)
class TrainerGone:
    """The trainer stopped writing without a RunFinished or RunFailed: killed, crashed, its machine gone."""

    reason: str
    checkpoint: str | None = None  # the last good weights, if any were saved


class _Tail:
    """Reads RUN/events.jsonl from where it left off; a partial last line waits for its end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / EVENTS
        self.file = None
        self.inode = None
        self.offset = 0
        self.partial = b""
        self.first = True
        self.skipped = Skipped()

    def open(self) -> bool:
        try:
            self.file = open(self.path, "rb")
        except FileNotFoundError:
            return False
        self.inode = os.fstat(self.file.fileno()).st_ino
        self.offset, self.partial, self.first = 0, b"", True
        self.skipped = Skipped()  # a rewritten log is read again from its start
        return True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def rewritten(self) -> bool:
        """The file at the path is no longer the one being read, or it got shorter."""
        if self.file is None:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        return st.st_ino != self.inode or st.st_size < self.offset

    def read(self) -> list:
        if self.file is None and not self.open():
            return []
        chunk = self.file.read()
        if not chunk:
            return []
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        events = []
        for line in lines:
            record = parse_line(line)
            first, self.first = self.first, False
            if record is None:
                self.skipped.line(line)
                continue
            if first and check_header(record, self.path):
                continue
            event = decode(record, self.folder, self.skipped)
            if event is not None:
                events.append(event)
        return events

    def torn(self) -> None:
        """Nobody writes the log any more: a partial last line is a torn one (a write cut off by a kill)."""
        self.skipped.line(self.partial)
        self.partial = b""


class RunReader:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._tail: _Tail | None = None

    @property
    def skipped(self) -> int:
        """Damaged lines of events.jsonl the latest `events()` passed over (since the log's last rewrite):
        lines that are not JSON objects or not whole events, and a torn last line once nobody writes the
        log. `warning()` says it in words."""
        return self._tail.skipped.lines if self._tail is not None else 0

    def warning(self) -> str:
        """"RUN/events.jsonl: 3 damaged line(s) skipped", or "" when nothing was."""
        return self._tail.skipped.sentence(self.folder) if self.skipped else ""

    def events(self, follow: bool = False, poll: float = POLL_SECONDS,
               stop: threading.Event | None = None) -> Iterator:
        """Every event recorded so far; with `follow`, then each new one as it is written, until the run
        ends (its last word read and its trainer gone), the trainer is found gone, or `stop` is set."""
        tail = self._tail = _Tail(self.folder)
        try:
            if not follow:
                yield from tail.read()
                if lock_holder(self.folder) is None:
                    tail.torn()
                return
            yield from self._follow(tail, poll, stop)
        finally:
            tail.close()

    def _follow(self, tail: _Tail, poll: float, stop: threading.Event | None) -> Iterator:
        ended = False  # the log's last word (RunFinished or RunFailed) has been read
        told = False
        training = False  # until the first batch is logged, look more often: the first point is awaited
        while stop is None or not stop.is_set():
            if tail.rewritten():
                tail.close()
                ended = False
                yield LogRestarted()
            new = tail.read()
            for event in new:
                yield event
                if isinstance(event, FINAL):
                    ended = True
                elif isinstance(event, ev.RunStarted):
                    ended = False
                elif isinstance(event, ev.BatchEnded):
                    training = True
            if lock_holder(self.folder) is None:
                late = tail.read()  # lines written just before the lock was let go
                for event in late:
                    yield event
                    ended = ended or isinstance(event, FINAL)
                if ended:
                    tail.torn()
                    return
                status = read_status(self.folder)
                if not status.live:
                    tail.torn()
                    yield self._gone(status)
                    return
            if (new or not told) and not ended:  # after the last word, only the trainer's exit is awaited
                told = True
                yield CaughtUp()
            wait = poll if training else min(poll, FIRST_POLL_SECONDS)
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)

    def _gone(self, status: Status) -> TrainerGone:
        checkpoint = self.folder / "checkpoint.pt"
        reason = status.reason or f"the trainer ended without saying how (the run reads as {status.state})"
        return TrainerGone(reason, str(checkpoint) if checkpoint.exists() else None)

    def status(self) -> Status:
        return read_status(self.folder)

    def config(self) -> dict:
        """The run's settings: as resolved at its start (config.json), else as asked for (request.json)."""
        return read_json(self.folder / CONFIG) or read_json(self.folder / REQUEST) or {}

    def summary(self):
        from .home import summarize

        return summarize(self.folder)
