"""The run folder's readers, fuzzed: a real run's events.jsonl, config.json, status.json, checkpoint.json and
metrics.jsonl are damaged with Hypothesis (cut at any byte, random bytes, lines duplicated and reordered,
values of the wrong type, 1e400 and 10**400, nesting 100000 deep, NaN and Infinity), and every reader a
person meets must go on: `RunReader` (replay, config, status, summary), what `workbench attach` runs (the
app's first read of the config and the follower that feeds the run screen), `list_runs` and `workbench
runs`, and `workbench export RUN --csv`. None may raise; what is whole is still shown (the events of the
lines left whole, the CSV rows they give, the run in the listing); and what was skipped is said (the
reader's count, one warning line on standard error)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import recorded, tiny_config
from trainers.errors import WorkbenchError
from trainers.runs import LogRestarted, RunReader, TrainerGone, list_runs
from trainers.runs.files import MAX_DEPTH, whole
from trainers.runs.log import EVENT_TYPES, FORMAT
from workbench.cli import main

pytestmark = pytest.mark.slow  # Hypothesis hunts for seconds

RUN = "fuzzed-run"
FUZZ = settings(deadline=None, database=None,  # no .hypothesis/ folder in the checkout
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


SCALE = float(os.environ.get("WORKBENCH_FUZZ_SCALE", "1"))  # e.g. 20 for a longer hunt than CI's


def fuzz(examples: int) -> settings:
    return settings(FUZZ, max_examples=max(1, int(examples * SCALE)))

# What a damaged value is, as the JSON text written in its place.
WRONG = [json.dumps(v) for v in (None, True, "x", "12", [], [1, 2], {}, {"a": 1}, {"$array": "x"},
                                 {"$type": "ParamInfo"}, 1.5, -7)]
HUGE = ["1e400", "-1e400", "1" + "0" * 400, "-1" + "0" * 400, "1e-400"]
NAN = ["NaN", "Infinity", "-Infinity"]
DEPTHS = [MAX_DEPTH, MAX_DEPTH + 1, 500, 990, 5000, 100_000]
deep = st.builds(lambda d, obj: '{"a":' * d + "1" + "}" * d if obj else "[" * d + "]" * d,
                 st.sampled_from(DEPTHS), st.booleans())
damage_text = st.one_of(st.sampled_from(WRONG), st.sampled_from(HUGE), st.sampled_from(NAN), deep)
SENTINEL = "@@damage@@"


@dataclass
class Seen:
    kinds: list[str]  # the events RunReader replays, by type
    skipped: int  # RunReader.skipped after the replay
    warning: str
    followed: list[str]  # the events the attach path's follower posted
    rows: list[dict] = field(repr=False)  # export --csv's rows
    export_err: str
    runs_out: str
    runs_err: str
    summary: object


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def read_everything(folder: Path) -> Seen:
    """Every reader a person meets, on `folder` (in a runs home of its own); raises only what they raise."""
    from workbench.app import attached_pair
    from workbench.follow import follow

    reader = RunReader(folder)
    kinds = [type(e).__name__ for e in reader.events()]
    assert isinstance(reader.config(), dict)
    reader.status()
    summary = reader.summary()
    # `workbench attach`: the app's first read of the run's config, then the follower the run screen uses
    attached_pair(str(folder))
    posted: list = []
    stop = threading.Event()
    timer = threading.Timer(20, stop.set)  # a follower that never ends would hang the test: fail it instead
    timer.start()
    try:
        follow(SimpleNamespace(post_message=lambda m: posted.extend(m.events)), str(folder), stop, live=True)
    finally:
        timer.cancel()
    assert not stop.is_set(), "the follower did not end on a run nobody writes"
    followed = [type(e).__name__ for e in posted if not isinstance(e, (LogRestarted, TrainerGone))]
    assert list_runs(folder.parent)[0].name == folder.name
    code, runs_out, runs_err = cli("runs", "--home", str(folder.parent))
    assert code == 0, runs_err
    code, csv_out, export_err = cli("export", str(folder), "--csv", "-")
    assert code == 0, export_err
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    return Seen(kinds, reader.skipped, reader.warning(), followed, rows, export_err, runs_out, runs_err, summary)


class Pristine:
    """The undamaged run, and what every reader makes of it."""

    def __init__(self, folder: Path, lines: list[bytes], kinds: list[str | None], rows: list[dict | None],
                 seen: Seen) -> None:
        self.folder = folder
        self.lines = lines  # events.jsonl, line by line (the header first)
        self.kinds = kinds  # per line: its event's type (None: the header)
        self.rows = rows  # per line: its CSV row, as far as the line alone gives it (None: no row)
        self.seen = seen

    def __repr__(self) -> str:  # a failure's report names the run, not its every line
        return f"Pristine({self.folder})"

    def events_of(self, indices) -> list[str]:
        return [self.kinds[i] for i in indices if self.kinds[i] is not None]

    def rows_of(self, indices) -> list[dict]:
        return [self.rows[i] for i in indices if self.rows[i] is not None]


OWN_COLUMNS = ("kind", "epoch", "batch", "loss", "accuracy", "test_loss", "test_accuracy", "time")  # not batches, step


def own(rows: list[dict]) -> list[dict]:
    """A CSV row's cells that come from its own line (an epoch row's step and batches come from others)."""
    return [{c: r[c] for c in OWN_COLUMNS} for r in rows]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Pristine:
    home = tmp_path_factory.mktemp("fuzz-home")
    folder, _ = recorded(tiny_config(epochs=2, layer_stats=0, out=str(home / RUN)))
    folder = Path(folder)
    seen = read_everything(folder)
    lines = jsonl_lines((folder / "events.jsonl").read_bytes())
    kinds = [None] + [json.loads(line)["type"] for line in lines[1:]]
    assert seen.kinds == [k for k in kinds if k] and seen.followed == seen.kinds and seen.skipped == 0
    assert {"RunStarted", "BatchEnded", "EpochEnded", "Predictions", "ParametersSnapshot", "LayerStats",
            "RunFinished"} <= set(kinds)
    assert seen.export_err == seen.runs_err == "" and RUN in seen.runs_out
    batch_and_epoch = iter(own(seen.rows))
    rows = [next(batch_and_epoch) if k in ("BatchEnded", "EpochEnded") else None for k in kinds]
    assert next(batch_and_epoch, None) is None
    return Pristine(folder, lines, kinds, rows, seen)


def jsonl_lines(text: bytes) -> list[bytes]:
    """Lines as the readers split them: at "\\n" only (bytes.splitlines also splits at "\\r" and others)."""
    return io.BytesIO(text).readlines()


@contextlib.contextmanager
def copy_of(pristine: Pristine):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "home" / RUN
        shutil.copytree(pristine.folder, folder)
        yield folder


def equal_but_one(got: list, expected: list, at: int) -> bool:
    """`got` is `expected`, or `expected` with one more item at `at` (a damaged line that still read)."""
    return got == expected or (len(got) == len(expected) + 1 and got[:at] + got[at + 1:] == expected)


def damaged_json(text: str, data) -> str:
    """`text` (one JSON document) with one value, or the whole, replaced by a damaged one, drawn by `data`."""
    doc = json.loads(text)
    holder, key, value = None, None, doc
    while isinstance(value, (dict, list)) and value and data.draw(st.booleans(), label="deeper"):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        holder, key = value, data.draw(st.sampled_from(keys), label="key")
        value = holder[key]
    replacement = data.draw(damage_text, label="damage")
    if holder is None:
        return replacement
    holder[key] = SENTINEL
    return json.dumps(doc).replace(json.dumps(SENTINEL), replacement)


def warned(seen: Seen, count: int) -> None:
    """The replay counted `count` damaged lines, and export --csv said so on standard error (one line)."""
    assert seen.skipped == count
    line = f"workbench: warning: {RUN}/events.jsonl: {count} damaged line(s) skipped\n"
    assert seen.export_err == (line if count else "")
    assert seen.warning == (line[len("workbench: warning: "):-1] if count else "")


# ------------------------------------------------------------------------------------------ events.jsonl


@fuzz(60)
@given(data=st.data())
def test_a_log_cut_at_any_byte_shows_every_whole_line_and_counts_the_torn_one(pristine, data):
    log = b"".join(pristine.lines)
    cut = data.draw(st.integers(0, len(log)), label="cut")
    whole = log[:cut].count(b"\n")
    torn = not log[:cut].endswith(b"\n") and cut > 0
    with copy_of(pristine) as folder:
        (folder / "events.jsonl").write_bytes(log[:cut])
        seen = read_everything(folder)
    assert seen.kinds == seen.followed == pristine.events_of(range(whole))
    assert own(seen.rows) == pristine.rows_of(range(whole))
    warned(seen, int(torn))
    assert RUN in seen.runs_out and seen.runs_err == ""


@fuzz(40)
@given(data=st.data())
def test_duplicated_and_reordered_lines_are_each_read_once_where_they_stand(pristine, data):
    n = len(pristine.lines)
    if data.draw(st.booleans(), label="reorder"):
        order = data.draw(st.permutations(range(n)), label="order")
    else:
        order = list(range(n))
        for src, dst in data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n)), min_size=1,
                                           max_size=8), label="copies"):
            order.insert(min(dst, len(order)), src)
    with copy_of(pristine) as folder:
        (folder / "events.jsonl").write_bytes(b"".join(pristine.lines[i] for i in order))
        seen = read_everything(folder)
    assert seen.kinds == seen.followed == pristine.events_of(order)
    assert own(seen.rows) == pristine.rows_of(order)
    warned(seen, sum(1 for p, i in enumerate(order) if i == 0 and p > 0))  # a header out of place is no event


@fuzz(150)
@given(data=st.data())
def test_one_damaged_line_is_skipped_and_said_and_every_other_line_is_read(pristine, data):
    """Random bytes, wrong types (a list for a dict, strings for numbers, null), 1e400, 10**400, NaN,
    nesting 100000 deep: in place of a line, or of any value in it."""
    n = len(pristine.lines)
    i = data.draw(st.integers(0, n - 1), label="line")
    if data.draw(st.booleans(), label="random bytes"):
        line = data.draw(st.binary(max_size=300), label="bytes").replace(b"\n", b"")
    else:
        line = damaged_json(pristine.lines[i].decode(), data).encode()
    with copy_of(pristine) as folder:
        (folder / "events.jsonl").write_bytes(b"".join(pristine.lines[:i] + [line + b"\n"] + pristine.lines[i + 1:]))
        seen = read_everything(folder)
    others = [j for j in range(n) if j != i]
    assert equal_but_one(seen.kinds, pristine.events_of(others), len(pristine.events_of(range(i))))
    assert seen.followed == seen.kinds
    assert equal_but_one(own(seen.rows), pristine.rows_of(others), len(pristine.rows_of(range(i))))
    record = readable_object(line) and json.loads(line)
    if not line.strip() or (i == 0 and record and record.get("format") == FORMAT):
        warned(seen, 0)  # a blank line holds nothing; a header with a damaged date or version is still one
    elif record and isinstance(record.get("type"), str) and record["type"] not in EVENT_TYPES \
            and isinstance(record.get("data"), dict):
        warned(seen, 0)  # an event of a type this version does not know: a newer workbench's, not damage
    elif len(seen.kinds) == len(pristine.events_of(others)):
        warned(seen, 1)  # the line gave no event: it is said
    else:
        warned(seen, 0)  # the damage left a whole event (a string for its time, null for an accuracy...)


@fuzz(40)
@given(data=st.data())
def test_random_bytes_anywhere_cost_only_the_lines_they_land_in(pristine, data):
    log = b"".join(pristine.lines)
    at = data.draw(st.integers(0, len(log)), label="offset")
    junk = data.draw(st.binary(min_size=1, max_size=200), label="bytes")
    with copy_of(pristine) as folder:
        (folder / "events.jsonl").write_bytes(log[:at] + junk + log[at:])
        seen = read_everything(folder)
    hit = log[:at].count(b"\n")  # the line the bytes land in (or at the start of)
    before, after = pristine.events_of(range(hit)), pristine.events_of(range(hit + 1, len(pristine.lines)))
    assert seen.kinds[:len(before)] == before and seen.kinds[len(seen.kinds) - len(after):] == after
    assert seen.followed == seen.kinds and seen.skipped <= junk.count(b"\n") + 1
    warned(seen, seen.skipped)


# ------------------------------------------------------------------------------------- the small files


def readable_object(text: bytes) -> bool:
    try:
        value = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    if not isinstance(value, dict):
        return False
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        stack.extend((c, depth + 1) for c in (item.values() if isinstance(item, dict) else item)
                     if isinstance(c, (dict, list)))
    return True


def damage_file(original: bytes, data, lines: bool) -> bytes:
    how = data.draw(st.sampled_from(["cut", "bytes", "value"]), label="how")
    if how == "cut":
        return original[:data.draw(st.integers(0, len(original)), label="cut")]
    if how == "bytes":
        return data.draw(st.binary(max_size=300), label="bytes")
    if lines:  # metrics.jsonl: one of its lines
        lines = jsonl_lines(original)
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        lines[i] = damaged_json(lines[i].decode(), data).encode() + b"\n"
        return b"".join(lines)
    return damaged_json(original.decode(), data).encode()


def summary_is_plain(s) -> None:
    assert isinstance(s.model, str) and isinstance(s.dataset, str) and isinstance(s.state, str)
    assert type(s.epochs_done) is int and type(s.epochs) is int
    assert math.isfinite(s.started) and 0 <= s.started < 1e11
    for best in (s.best_accuracy, s.best_loss):
        assert best is None or math.isfinite(best)


@fuzz(120)
@given(name=st.sampled_from(["config.json", "status.json", "checkpoint.json", "metrics.jsonl"]), data=st.data())
def test_a_damaged_small_file_costs_only_what_it_held_and_is_said(pristine, name, data):
    from trainers.checkpoint import verify
    from workbench.commands.train import check_left

    original = (pristine.folder / name).read_bytes()
    text = damage_file(original, data, lines=name.endswith(".jsonl"))
    with copy_of(pristine) as folder:
        (folder / name).write_bytes(text)
        seen = read_everything(folder)
        for check in (lambda: check_left(folder, 2), lambda: check_left(folder, None),
                      lambda: verify(folder / "checkpoint.pt")):
            try:
                check()
            except WorkbenchError:  # a refusal in one sentence is an answer (CheckpointError among them)
                pass
    # the event log is untouched: all of it is shown, exported, followed
    assert seen.kinds == seen.followed == pristine.seen.kinds and seen.skipped == 0
    assert seen.rows == pristine.seen.rows and seen.export_err == ""
    summary_is_plain(seen.summary)
    assert RUN in seen.runs_out
    if name in ("config.json", "status.json"):
        said = f"workbench: warning: {RUN}/{name}: damaged, skipped\n"
        assert seen.runs_err == ("" if readable_object(text) else said)
    elif name == "metrics.jsonl":
        rows = jsonl_lines(text)
        kept = [json.loads(r)["epoch"] for r in rows if r in jsonl_lines(original)]
        assert seen.summary.epochs_done >= max(kept, default=0)  # every row left whole still counts
        bad = [r for r in rows if r.strip() and not (readable_object(r) and whole(json.loads(r).get("epoch")) is not None)]
        said = f"workbench: warning: {RUN}/metrics.jsonl: {len(bad)} damaged line(s) skipped\n"
        assert seen.runs_err == (said if bad else "")
    else:
        assert seen.runs_err == ""  # the listing does not read checkpoint.json
