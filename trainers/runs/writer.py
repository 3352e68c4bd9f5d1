"""The writing side of the hub: RunWriter consumes a run's events into its folder.

The loop knows nothing of these files (but its checkpoints): whoever runs it passes its events through
`record(events, RunWriter(folder))`, which writes each one before handing it on, so a viewer in another
terminal sees what the trainer's own caller sees, at the same moment.

    events.jsonl + arrays/   every event (trainers.runs.log)
    config.json              the resolved settings, and "run": what the start said (device, sizes, classes)
    metrics.jsonl            one object per finished epoch, for people and scripts
    status.json              starting/loading/running/paused/finished/stopped/failed (trainers.runs.status)
    result.json              how it ended: RunFinished or RunFailed

A resume of a run that had ended (finished, stopped, failed) and fails before its RunStarted (a damaged
checkpoint, data that will not load) leaves the run as it ended: result.json untouched, status.json back
to its earlier ending with the failure under "last_resume_failed" (and when, "last_resume_failed_time").
The RunFailed is in events.jsonl as always, so a follower of the resume sees it and ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Iterable, Iterator

from .. import events as ev
from .files import CONFIG, EVENTS, METRICS, RESULT, STATUS, RunFolderError, disk_error, json_default, read_json, write_json
from ..events import END
from .log import EventLog, parse_line
from .status import Heartbeat, write_record, write_status

LOADING_SECONDS = 0.25  # download and decode progress: a few lines a second is plenty for any viewer
ENDED = ("finished", "stopped", "failed")
RESUME_FAILED = "last_resume_failed"  # in status.json: why the latest resume of an ended run failed to start


class RunWriter:
    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.log = EventLog(self.folder)
        self._metrics = None
        self._last_loading = (None, 0.0)
        self._run_started = False  # this writer has recorded a RunStarted
        self._status_before: dict | None = None  # status.json as this writer found it, when it told an ending
        self._heartbeat: Heartbeat | None = None
        self._began = False  # starting() was called: this writer is a trainer's, beginning (or resuming) work

    def starting(self) -> None:
        """A trainer begins (or resumes) work here: the log is opened, the status says it is loading."""
        self._began = True
        self.log.open()
        before = read_json(self.folder / STATUS)
        self._status_before = before if before and before.get("state") in ENDED else None
        write_status(self.folder, "loading")
        if self._heartbeat is None:
            self._heartbeat = Heartbeat(self.folder).start()  # a stopped or hung trainer's beat ages

    def write(self, event) -> None:
        if isinstance(event, ev.Loading):
            what, when = self._last_loading
            now = time.monotonic()
            if what == event.what and now - when < LOADING_SECONDS and event.done < event.total:
                return
            self._last_loading = (event.what, now)
        elif isinstance(event, ev.RunStarted):
            self._started(event)
            self._run_started = True
        earlier = self._ending_before() if isinstance(event, ev.RunFailed) else None  # before this line is in
        self.log.append(event, durable=isinstance(event, (ev.EpochEnded, ev.RunFinished, ev.RunFailed)))
        if isinstance(event, ev.RunStarted):
            write_status(self.folder, "running")
        elif isinstance(event, ev.EpochEnded):
            self._metric(event)
        elif isinstance(event, ev.Paused):
            write_status(self.folder, "paused" if event.paused else "running")
        elif isinstance(event, ev.RunFinished):
            self._result(event)
            write_status(self.folder, "stopped" if event.stopped else "finished")
        elif isinstance(event, ev.RunFailed):
            self._failed(event.reason, event, earlier)

    def failed(self, reason: str) -> None:
        """Say in status.json that the run failed, without an event (the folder could not take one)."""
        self._failed(reason, None, self._ending_before())

    def _failed(self, reason: str, event: ev.RunFailed | None, earlier: dict | None) -> None:
        if earlier is not None:  # a resume that never started: the run keeps how it ended
            write_record(self.folder, {**earlier, RESUME_FAILED: reason, f"{RESUME_FAILED}_time": time.time()})
            return
        if event is not None:
            self._result(event)
        write_status(self.folder, "failed", reason)

    def _ending_before(self) -> dict | None:
        """The status of the ending this run had before this trainer came, when this trainer has not started
        the run again (no RunStarted since that ending); else None."""
        if self._run_started or not self._began:
            return None  # this writer started the run again, or is no trainer's (a launcher's word after its ranks)
        result = read_json(self.folder / RESULT) or {}
        kind = result.get("status")
        if kind not in ("RunFinished", "RunFailed") or last_word(self.folder) not in ("RunFinished", "RunFailed"):
            return None  # never ended, or a later pass started and was cut off: that one has no ending to keep
        state = "failed" if kind == "RunFailed" else "stopped" if result.get("stopped") else "finished"
        before = self._status_before
        if before is not None and before.get("state") == state:
            return {k: v for k, v in before.items() if not k.startswith(RESUME_FAILED)}
        try:  # status.json was rewritten since (a detached trainer's "starting"): say it again from result.json
            when = os.stat(self.folder / RESULT).st_mtime
        except OSError:
            when = time.time()
        return {"state": state, "reason": str(result.get("reason") or "") if kind == "RunFailed" else "",
                "pid": None, "host": "", "time": when}

    def _started(self, event: ev.RunStarted) -> None:
        """A run's start: a resumed one first cuts its record back to the checkpoint it continues from; one
        that starts over (never saved) starts its record over."""
        where = tuple(event.resumed_at) if event.resumed_at else None
        self.log.truncate_to(where)
        self.log.open()
        self._keep_metrics(where)
        info = {k: v for k, v in dataclasses.asdict(event).items() if k != "config"}
        write_json(self.folder / CONFIG, {**event.config, "run": info})

    def _keep_metrics(self, where: tuple[int, int] | None) -> None:
        path = self.folder / METRICS
        if not path.exists():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if where is not None and (row.get("epoch", 0), END) <= where:
                kept.append(line)
        tmp = path.with_name(f".{METRICS}.cut.tmp")
        try:
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise disk_error(path, err) from err

    def _metric(self, event: ev.EpochEnded) -> None:
        row = dataclasses.asdict(event)
        row["train_seconds"] = row.pop("seconds")
        try:
            if self._metrics is None:
                self._metrics = open(self.folder / METRICS, "a", encoding="utf-8")
            self._metrics.write(json.dumps(row, default=json_default) + "\n")
            self._metrics.flush()
            os.fsync(self._metrics.fileno())
        except OSError as err:
            raise disk_error(self.folder / METRICS, err) from err

    def _result(self, event) -> None:
        write_json(self.folder / RESULT, {"status": type(event).__name__, **dataclasses.asdict(event)})

    def close(self) -> None:
        """Close the files; never raises (it runs on the way out of failures too)."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        self.log.close()
        if self._metrics is not None:
            try:
                self._metrics.close()
            except OSError:
                pass
            self._metrics = None


def last_word(folder: str | os.PathLike, block: int = 1 << 16) -> str | None:
    """The type of the log's last RunStarted, RunFinished or RunFailed line (None: none there). Read from the
    end backwards, so a long log costs only the lines after it."""
    names = ("RunStarted", "RunFinished", "RunFailed")
    try:
        f = open(Path(folder) / EVENTS, "rb")
    except OSError:
        return None
    with f:
        end = f.seek(0, os.SEEK_END)
        rest = b""
        while end > 0:
            start = max(0, end - block)
            f.seek(start)
            lines = (f.read(end - start) + rest).split(b"\n")
            rest = lines.pop(0) if start > 0 else b""  # the first may be cut: it ends the next block read
            for line in reversed(lines):
                if b'"type": "Run' in line:
                    kind = (parse_line(line) or {}).get("type")
                    if kind in names:
                        return kind
            end = start
    return None


def record(events: Iterable, writer: RunWriter) -> Iterator:
    """Write each event to the folder, then hand it on. A folder that cannot be written (a full disk) ends
    the run with its RunFolderError after a best-effort word in status.json."""
    try:
        for event in events:
            try:
                writer.write(event)
            except RunFolderError as err:
                try:
                    writer.failed(str(err))
                except RunFolderError:
                    pass
                raise
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()
        writer.close()
