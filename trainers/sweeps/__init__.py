"""Sweeps: many runs as one search, on Optuna (sampling, pruning, the study in SWEEP/optuna.journal).
Each trial is an ordinary run folder inside the sweep's folder; see study.py for the layout and runner.py
for the sweep process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ..errors import SweepError
from ..runs.home import runs_home
from .space import Choice, Fixed, Range, parse
from .study import SWEEP_LOG, SweepSpec, is_sweep

__all__ = ["Choice", "Fixed", "Range", "SweepSpec", "is_sweep", "make_sweep", "parse", "start_detached_sweep",
           "find_sweep", "list_sweeps"]


def make_sweep(spec: SweepSpec, out: str | None = None) -> Path:
    """Write the sweep's folder (a new one: `out`, or sweep-MODEL-DATASET-DATE in the runs home)."""
    from ..runs.home import new_run_dir, unused_folder

    if out:
        folder = Path(out).expanduser()
        if is_sweep(folder):
            raise SweepError(f"{folder} already holds a sweep; `workbench sweep --resume {folder}` continues it.")
        folder = unused_folder(folder)
    else:
        folder = new_run_dir(str(spec.base.get("model") or "model"), str(spec.base.get("dataset")), prefix="sweep-")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SweepError(f"cannot make the sweep's folder {folder}: {err.strerror or err}.") from None
    spec.name = spec.name or folder.name
    spec.created = time.time()
    spec.save(folder)
    return folder


def find_sweep(name: str) -> Path:
    path = Path(name).expanduser()
    for candidate in (path, runs_home() / name):
        if is_sweep(candidate):
            return candidate
    if path.is_dir():
        raise SweepError(f"{path} is not a sweep's folder (it has no sweep.json).")
    raise SweepError(f"no sweep named {name!r} here or in {runs_home()}; `workbench sweeps` lists them.")


def list_sweeps(home: str | os.PathLike | None = None) -> list[Path]:
    home = Path(home).expanduser() if home else runs_home()
    if not home.is_dir():
        return []
    found = [p for p in home.iterdir() if is_sweep(p)]
    return sorted(found, key=lambda p: (p / "sweep.json").stat().st_mtime, reverse=True)


def start_detached_sweep(folder: Path) -> subprocess.Popen:
    """The sweep process in its own session (it outlives the terminal), its lines going to SWEEP/sweep.log."""
    from ..backends.detached import child_env
    from ..warm import popen

    log = open(folder / SWEEP_LOG, "ab")
    try:
        return popen([sys.executable, "-m", "trainers.sweeps.worker", str(folder)],
                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                     env=child_env(), cwd=os.getcwd())
    finally:
        log.close()
