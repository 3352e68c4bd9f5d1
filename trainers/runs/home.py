"""The runs home: where runs live unless --out says otherwise, how a new one is named, how RUN is found
(a name, the unique start of one, or a folder), and the listing `workbench runs` and the app show.

The home is $WORKBENCH_RUNS, else $XDG_DATA_HOME/workbench/runs, else ~/.local/share/workbench/runs: a
run never lands in whatever directory its terminal happened to be in.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, WorkbenchError
from .files import (CONFIG, EVENTS, LOCK, METRICS, REQUEST, STATUS, TRAINER_LOG, Damaged, load_json, loads, lock_holder,
                    number, whole)
from .status import read_status

RUN_FILES = (EVENTS, CONFIG, REQUEST, STATUS)  # a folder holding one of these is a run


def runs_home() -> Path:
    if os.environ.get("WORKBENCH_RUNS"):
        return Path(os.environ["WORKBENCH_RUNS"]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "workbench" / "runs"


def _holds_a_run(path: Path) -> bool:
    """A folder with anything in it but a lock, a trainer's log or a temporary is someone's run."""
    if not path.exists():
        return False
    if not path.is_dir():
        return True
    return any(p.name not in (LOCK, TRAINER_LOG) and not p.name.endswith(".tmp") for p in path.iterdir())


def unused_folder(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... when it already holds a run: runs never overwrite runs."""
    candidate, n = path, 1
    while _holds_a_run(candidate) or lock_holder(candidate) is not None:
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def new_run_dir(model: str, dataset: str, home: Path | None = None, prefix: str = "") -> Path:
    """A new folder in the runs home, named [PREFIX]MODEL-DATASET-YYYYmmdd-HHMMSS (a sweep's: sweep-...)."""
    safe = Path(model.split(":")[0]).stem if ":" in model else model
    return unused_folder((home or runs_home()) / f"{prefix}{safe}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}")


def run_folder(out: str, resuming: str | None = None) -> Path:
    """The folder a run with `--out out` writes to: `out` itself when it is new or empty, when the run
    resumes from it (the record continues), or when a live trainer writes it (claiming then refuses it);
    otherwise a fresh `out-N` beside it."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file; give a folder for the run's record.")
    if lock_holder(path) is not None:
        return path
    if resuming:
        source = Path(resuming).expanduser()
        source = source.parent if source.is_file() else source
        if source.exists() and path.exists() and source.resolve() == path.resolve():
            return path
    return unused_folder(path)


def is_run(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in RUN_FILES)


def find_run(run: str | os.PathLike) -> Path:
    """A run folder from what a person types: a folder (or a file in one), a name in the runs home, or the
    unique start of one."""
    given = Path(run).expanduser()
    if given.is_dir():
        return given
    if given.is_file() and is_run(given.parent):
        return given.parent
    home = runs_home()
    name = str(run)
    if os.sep not in name:
        if is_run(home / name):
            return home / name
        names = sorted(p.name for p in home.iterdir() if is_run(p)) if home.is_dir() else []
        starts = [n for n in names if n.startswith(name)]
        if len(starts) == 1:
            return home / starts[0]
        if len(starts) > 1:
            shown = ", ".join(starts[:5]) + (", ..." if len(starts) > 5 else "")
            raise WorkbenchError(f"{name!r} is the start of {len(starts)} runs ({shown}); give more of the name.")
    raise WorkbenchError(f"no run named {name!r} in {home}, and no such folder; `workbench runs` lists the runs.")


@dataclass(frozen=True)
class RunSummary:
    name: str
    folder: str
    model: str
    dataset: str
    epochs_done: int
    epochs: int
    best_accuracy: float | None
    best_loss: float | None
    state: str
    reason: str
    started: float  # seconds since the epoch
    live: bool
    damaged: tuple[str, ...] = ()  # what was skipped, one phrase per file: "config.json: damaged, skipped"
    quiet: float = 0.0  # seconds a live run's trainer has said nothing, once that is minutes (status.QUIET_SECONDS)
    parent: str = ""  # the run it was forked from (--from, --weights-from, the app's f), by name
    gpu: str = ""  # the GPU it trains (or trained) on, "cuda:1"; "" off a GPU


LATEST = 1e11  # a start time past this (the year 5138) is damage: time.localtime() cannot show it


def _started(folder: Path) -> float:
    try:
        with open(folder / EVENTS, "rb") as f:
            header = loads(f.readline())
        created = number(header.get("created")) if isinstance(header, dict) else None
        if created is not None and 0 < created < LATEST:
            return created
    except (OSError, ValueError):
        pass
    for name in (CONFIG, REQUEST, STATUS):
        try:
            return (folder / name).stat().st_mtime
        except OSError:
            continue
    return folder.stat().st_mtime


def _name(*values) -> str:
    return next((v for v in values if isinstance(v, str) and v), "?")


def summarize(folder: str | os.PathLike) -> RunSummary:
    """What a listing shows of one run, from its small files (the event log is not read). A file that is
    there but cannot be read, and metrics lines that are not whole rows, are skipped and named in
    `damaged`."""
    folder = Path(folder)
    damaged = []

    def small(name: str) -> dict | None:
        try:
            return load_json(folder / name)
        except Damaged:
            damaged.append(f"{name}: damaged, skipped")
            return None

    config = small(CONFIG) or small(REQUEST) or {}
    run = config.get("run") if isinstance(config.get("run"), dict) else {}
    rows, bad = [], 0
    try:
        with open(folder / METRICS, "rb") as f:
            for line in f:
                try:
                    row = loads(line)
                except ValueError:
                    row = None
                if isinstance(row, dict) and whole(row.get("epoch")) is not None:
                    rows.append(row)
                elif line.strip():
                    bad += 1
    except OSError:
        pass
    if bad:
        damaged.append(f"{METRICS}: {bad} damaged line(s) skipped")
    accuracies = [a for a in (number(r.get("test_accuracy")) for r in rows) if a is not None]
    losses = [v for v in (number(r.get("test_loss")) for r in rows) if v is not None]
    small(STATUS)  # only to say so when it is damaged: read_status reads it as no status at all
    status = read_status(folder)
    model = _name(config.get("model"), run.get("model"))
    model = Path(model.split(":")[0]).stem if ":" in model else model
    return RunSummary(name=folder.name, folder=str(folder), model=model,
                      dataset=_name(config.get("dataset"), run.get("dataset")),
                      epochs_done=max((r["epoch"] for r in rows), default=0),
                      epochs=whole(run.get("epochs")) or whole(config.get("epochs")) or 0,
                      best_accuracy=max(accuracies) if accuracies else None,
                      best_loss=min(losses) if losses else None,
                      state=status.state, reason=status.reason, started=_started(folder), live=status.live,
                      damaged=tuple(damaged), quiet=status.quiet(), parent=parent_name(config), gpu=gpu_name(config))


def parent_name(config: dict) -> str:
    """The name of the run a config says it was forked from, or "" (a damaged record names none)."""
    parent = config.get("parent")
    name = parent.get("run") if isinstance(parent, dict) else None
    return name if isinstance(name, str) else ""


def gpu_name(config: dict) -> str:
    """"cuda:1" for a run whose config records its GPU (RunConfig.gpu); "" otherwise."""
    gpu = config.get("gpu")
    index = whole(gpu.get("index")) if isinstance(gpu, dict) else None
    return f"cuda:{index}" if index is not None else ""


def list_runs(home: str | os.PathLike | None = None) -> list[RunSummary]:
    """Every run in the runs home, newest first."""
    home = Path(home).expanduser() if home else runs_home()
    if not home.is_dir():
        return []
    summaries = []
    for path in home.iterdir():
        if not is_run(path):
            continue
        try:
            summaries.append(summarize(path))
        except OSError:
            continue  # removed while listing
    return sorted(summaries, key=lambda s: s.started, reverse=True)
