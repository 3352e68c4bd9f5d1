"""RUN/events.jsonl: every event a trainer yields, one typed JSON line each, after a versioned header.

    {"format": "workbench-events", "version": 1, "created": 1764572400.5}
    {"type": "RunStarted", "t": 1764572401.2, "data": {"model": "mlp", ...}}
    {"type": "Predictions", "t": ..., "data": {"images": {"$array": "images"}, ...}, "arrays": "arrays/000007.npz"}

Arrays (images, probabilities) go to a side file in RUN/arrays/, written before the line that names it.
Lines are appended and flushed one by one (fsync'd at every epoch's end), so a reader in another process
sees each as it is written; a torn last line (a kill mid-write) or a damaged one is skipped, never fatal,
as W&B's and TensorBoard's readers do with files still being written.

A resumed run continues the same log: `truncate_to(position)` first cuts away whatever a pass that was
cut off recorded after the checkpoint it resumes from, so every batch and epoch is recorded exactly once.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import types
import typing
from pathlib import Path
from typing import Iterator

import numpy as np

from .. import events as ev
from ..events import END
from ..errors import WorkbenchError
from .files import ARRAYS, EVENTS, disk_error, json_default, loads, lock_holder, whole

FORMAT = "workbench-events"
VERSION = 1

EVENT_TYPES = {cls.__name__: cls for cls in (
    ev.Loading, ev.RunStarted, ev.BatchEnded, ev.EpochEnded, ev.Reconstructions, ev.Predictions,
    ev.ParametersSnapshot, ev.CheckpointSaved, ev.Paused, ev.RunFinished, ev.RunFailed,
    ev.Activations, ev.Confusion, ev.Latent, ev.LayerStats)}
NESTED_TYPES = {"ParamInfo": ev.ParamInfo, "LayerStat": ev.LayerStat, "LayerActivation": ev.LayerActivation}
FINAL = (ev.RunFinished, ev.RunFailed)


class LogError(WorkbenchError):
    """An event log this workbench cannot read."""


@dataclasses.dataclass
class Skipped:
    """What a reading of the log passed over: whole lines that hold no event (not JSON, not an object, a
    header out of place, an event whose fields are missing or of the wrong type), and a torn last line once
    nobody writes the log any more. Blank lines and events of a type this version does not know (a newer
    workbench wrote them) are not counted."""

    lines: int = 0

    def line(self, text: bytes = b"x") -> None:
        if text.strip():
            self.lines += 1

    def sentence(self, folder: str | os.PathLike) -> str:
        """"RUN/events.jsonl: 3 damaged line(s) skipped", for a warning."""
        return f"{Path(folder).name}/{EVENTS}: {self.lines} damaged line(s) skipped"


# ------------------------------------------------------------------------------------------- encoding


def encode(event) -> tuple[dict, dict[str, np.ndarray]]:
    """(JSON-able data, arrays): every numpy array, at any depth, is replaced by {"$array": key}."""
    arrays: dict[str, np.ndarray] = {}

    def plain(value, key: str):
        if isinstance(value, np.ndarray):
            arrays[key] = value
            return {"$array": key}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {"$type": type(value).__name__,
                    **{f.name: plain(getattr(value, f.name), f"{key}.{f.name}") for f in dataclasses.fields(value)}}
        if isinstance(value, (list, tuple)):
            return [plain(v, f"{key}.{i}") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {str(k): plain(v, f"{key}.{k}") for k, v in value.items()}
        return value

    data = {f.name: plain(getattr(event, f.name), f.name) for f in dataclasses.fields(event)}
    return data, arrays


def _build(cls, values: dict, arrays):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    kwargs = {}
    for name, value in values.items():
        if name not in fields:
            continue  # written by a newer workbench: ignored
        value = _restore(value, arrays)
        if not _fits(value, hints[name]):
            raise ValueError(f"{cls.__name__}.{name} is not {hints[name]}")
        if isinstance(value, list) and "tuple" in str(fields[name].type):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


_HINTS: dict[type, dict] = {}


def _hints(cls) -> dict:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _fits(value, hint) -> bool:
    """`value`, as read back from JSON, is what the field's annotation says: a damaged line may hold a string
    for a number, a list for a dict, null, 10**400. Lists stand for tuples; a lost array reads as None
    (the event counts, without its pictures); any int that fits 64 bits is a float too; NaN and infinities
    are floats (a diverged run's loss)."""
    if hint is float:
        return isinstance(value, float) or whole(value) is not None
    if hint is int:
        return whole(value) is not None
    if hint is np.ndarray:
        return value is None or isinstance(value, np.ndarray)
    if hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args))
    return isinstance(value, origin or hint)


def _restore(value, arrays):
    if isinstance(value, dict):
        if "$array" in value:
            return arrays.get(value["$array"]) if arrays is not None else None
        if "$type" in value and value["$type"] in NESTED_TYPES:
            return _build(NESTED_TYPES[value["$type"]], {k: v for k, v in value.items() if k != "$type"}, arrays)
        return {k: _restore(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v, arrays) for v in value]
    return value


def decode(record: dict, folder: Path, skipped: Skipped | None = None):
    """The event a log line holds, or None for a line of a type this version does not know, or for a damaged
    one (counted in `skipped`)."""
    kind, data = record.get("type"), record.get("data")
    if not isinstance(kind, str) or not isinstance(data, dict):
        if skipped is not None:
            skipped.line()  # a header out of place, or no event at all
        return None
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        return None
    arrays = None
    name = record.get("arrays")
    if name:
        try:
            if not isinstance(name, str) or os.path.dirname(name) != ARRAYS:
                raise ValueError(f"{name!r} is not a file in {ARRAYS}/")
            with np.load(folder / name, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except Exception:  # noqa: BLE001 - lost or torn (BadZipFile, EOFError...): the event counts, without pictures
            arrays = {}
    try:
        return _build(cls, data, arrays)
    except (TypeError, ValueError):
        if skipped is not None:
            skipped.line()
        return None


AFTER_EPOCH = ("EpochEnded", "Reconstructions", "Predictions", "ParametersSnapshot",
               "Activations", "Confusion", "Latent")


def position(record: dict) -> tuple[int, int] | None:
    """Where in training a log line belongs: (epoch, batch) for a logged batch, (epoch, END) for what
    follows an epoch's training. Starts, saves, pauses and ends are not placed."""
    data = record.get("data")
    if not isinstance(data, dict):
        return None
    if record.get("type") in ("BatchEnded", "LayerStats"):  # LayerStats: after its batch's step
        place = (whole(data.get("epoch")), whole(data.get("batch")))
    elif record.get("type") in AFTER_EPOCH:
        place = (whole(data.get("epoch")), END)
    else:
        return None
    return place if None not in place else None


def _header_version(record: dict) -> int | None:
    if record.get("format") == FORMAT:
        return whole(record.get("version", 1), 0)  # 0: a damaged version, read as this one's
    return None


def check_header(record: dict, path: Path) -> bool:
    """True when `record` is the log's header; a log from a newer workbench is refused in one sentence."""
    version = _header_version(record)
    if version is None:
        return False
    if version > VERSION:
        raise LogError(f"{path} was written by a newer workbench (event log version {version}; this one reads "
                       f"version {VERSION}); upgrade workbench to read it.")
    return True


def parse_line(line: bytes) -> dict | None:
    try:
        record = loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


# -------------------------------------------------------------------------------------------- reading


def read_records(folder: str | os.PathLike, skipped: Skipped | None = None) -> Iterator[tuple[int, int, dict]]:
    """(start offset, end offset, record) of each whole, readable line; the header is checked, not given.
    Lines that are not JSON objects, and a torn last line that no trainer is still writing, count in
    `skipped`."""
    path = Path(folder) / EVENTS
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        offset = 0
        for line in f:
            start, offset = offset, offset + len(line)
            if not line.endswith(b"\n"):
                if skipped is not None and lock_holder(folder) is None:
                    skipped.line(line)  # torn: a write cut off by a kill (not one under way)
                return
            record = parse_line(line)
            if record is None:
                if skipped is not None:
                    skipped.line(line)
                continue
            if start == 0 and check_header(record, path):
                continue
            yield start, offset, record


def read_events(folder: str | os.PathLike, skipped: Skipped | None = None) -> Iterator:
    """Every event in RUN/events.jsonl, in order (damaged lines skipped, and counted in `skipped`), as the
    trainer yielded it."""
    folder = Path(folder)
    for _start, _end, record in read_records(folder, skipped):
        event = decode(record, folder, skipped)
        if event is not None:
            yield event


# -------------------------------------------------------------------------------------------- writing


class EventLog:
    """The writing end of RUN/events.jsonl."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / EVENTS
        self.file = None
        self.next_array = 0

    def open(self, fresh: bool = False) -> None:
        """Start a new log (`fresh`), or continue the one there (a resumed run, a launcher's last word)."""
        if self.file is not None:
            return
        try:
            if not fresh and self.path.exists() and self.path.stat().st_size > 0:
                self.file = open(self.path, "ab")
                if self._last_byte() != b"\n":
                    self.file.write(b"\n")  # a torn line stays a line of its own, skipped by readers
            else:
                self.file = open(self.path, "wb")
                self._write_line({"format": FORMAT, "version": VERSION, "created": time.time()})
        except OSError as err:
            self.close()
            raise disk_error(self.path, err) from err
        self.next_array = self._highest_array() + 1

    def _last_byte(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1)

    def _highest_array(self) -> int:
        try:
            names = os.listdir(self.folder / ARRAYS)
        except OSError:
            return 0
        numbers = [int(n.split(".")[0]) for n in names if n.endswith(".npz") and n.split(".")[0].isdigit()]
        return max(numbers, default=0)

    def _write_line(self, record: dict) -> None:
        self.file.write(json.dumps(record, default=json_default).encode() + b"\n")
        self.file.flush()

    def append(self, event, durable: bool = False) -> None:
        """Add one event; `durable` also fsyncs (epoch ends and the last word, not every batch)."""
        self.open()
        data, arrays = encode(event)
        record = {"type": type(event).__name__, "t": round(time.time(), 3), "data": data}
        try:
            if arrays:
                name = f"{ARRAYS}/{self.next_array:06d}.npz"
                self.next_array += 1
                (self.folder / ARRAYS).mkdir(exist_ok=True)
                with open(self.folder / name, "wb") as f:
                    np.savez(f, **arrays)
                    f.flush()
                    os.fsync(f.fileno())  # whole on disk before any line names it
                record["arrays"] = name
            self._write_line(record)
            if durable:
                os.fsync(self.file.fileno())
        except OSError as err:
            raise disk_error(self.path, err) from err

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None

    def truncate_to(self, where: tuple[int, int] | None) -> bool:
        """Keep what was recorded up to `where` (epoch, batch), cut the rest: everything after the last
        placed event at or before it (None: a run starting over keeps only the header, unless no earlier
        pass started at all). Arrays no kept line names are removed.
        The log is rewritten to a new file and renamed over the old one, so a reader that follows it sees
        a new file and starts over. Returns True when something was cut."""
        self.close()
        if not self.path.exists():
            return False
        keep_end = 0  # the end of the header, or of the last kept event
        total = self.path.stat().st_size
        with open(self.path, "rb") as f:
            first = f.readline()
            record = parse_line(first)
            if record is not None and _header_version(record) is not None:
                keep_end = len(first)
        kept_arrays: set[str] = set()
        pending: set[str] = set()
        earlier_start = False
        for _start, end, record in read_records(self.folder):
            earlier_start = earlier_start or record.get("type") == "RunStarted"
            place = position(record)
            if isinstance(record.get("arrays"), str):
                pending.add(record["arrays"])
            if place is not None and where is not None and tuple(place) <= tuple(where):
                keep_end = end
                kept_arrays |= pending
                pending = set()
        if keep_end >= total or (where is None and not earlier_start):
            return False  # nothing to cut; or a first start, whose loading lines stay
        with open(self.path, "rb") as f:
            kept = f.read(keep_end)
        tmp = self.path.with_name(f".{EVENTS}.cut.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise disk_error(self.path, err) from err
        folder = self.folder / ARRAYS
        if folder.is_dir():
            named = {Path(a).name for a in kept_arrays}
            for name in os.listdir(folder):
                if name.endswith(".npz") and name not in named:
                    (folder / name).unlink(missing_ok=True)
        return True
