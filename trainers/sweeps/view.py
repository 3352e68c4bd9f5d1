"""A sweep as its viewers see it (`workbench sweeps`, the Sweep screen): the journal's trials joined with
their run folders. Reads only; a damaged journal still lists the trials' folders, and says so."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SweepError
from ..runs.files import read_json
from ..runs.home import summarize
from .study import SWEEPER, SweepSpec, load_study, sweeper_pid, trial_folder

STATES = ("running", "waiting", "finished", "pruned", "failed", "stopped", "interrupted")


@dataclass
class TrialRow:
    number: int
    params: dict
    state: str  # running, waiting, finished, pruned, failed, stopped (to continue), interrupted
    epochs_done: int
    epochs: int
    value: float | None  # the metric: the finished value, else the last epoch's
    seconds: float
    folder: Path
    curve: list[float] = field(default_factory=list)  # the metric per epoch
    reason: str = ""
    best: bool = False


@dataclass
class SweepView:
    folder: Path
    spec: SweepSpec
    trials: list[TrialRow]
    state: str  # running, finished, stopped, interrupted
    problem: str = ""  # the journal could not be read: why
    importances: dict = field(default_factory=dict)

    @property
    def best(self) -> TrialRow | None:
        return next((t for t in self.trials if t.best), None)

    def counts(self) -> dict:
        return {s: sum(t.state == s for t in self.trials) for s in STATES}

    def varied(self) -> list[str]:
        from .space import varied

        return [n for n in varied(self.spec.searched()) if n not in ("model", "dataset")]

    def best_so_far(self) -> list[tuple[int, float]]:
        """(trial number, the best finished value up to it), in trial order."""
        better = max if self.spec.direction == "maximize" else min
        out, best = [], None
        for t in sorted(self.trials, key=lambda t: t.number):
            if t.state == "finished" and t.value is not None:
                best = t.value if best is None else better(best, t.value)
            if best is not None:
                out.append((t.number, best))
        return out

    def line(self) -> str:
        c = self.counts()
        done = c["finished"] + c["pruned"] + c["failed"]
        best = self.best
        what = (f"best trial {best.number} {self.spec.metric} {best.value:.4f}" if best else "no trial finished yet")
        return (f"{self.folder.name:40} {self.state:11} {done:3}/{self.spec.trials} done, {c['running']} running  "
                f"{what}  ({self.folder})")


def sweep_state(folder: Path) -> str:
    """running, finished, stopped, interrupted (its process died), or waiting (not started yet)."""
    data = read_json(folder / SWEEPER) or {}
    state = str(data.get("state") or "")
    if sweeper_pid(folder) is not None:
        return "running"
    if state == "running":
        return "interrupted"  # its process died (kill -9, a reboot): --resume continues it
    return state or "waiting"


def read_sweep(folder: str | Path, importances: bool = False) -> SweepView:
    folder = Path(folder)
    spec = SweepSpec.load(folder)
    rows: dict[int, TrialRow] = {}
    problem = ""
    study = None
    try:
        study = load_study(folder)
        frozen = study.get_trials(deepcopy=False)
    except SweepError as err:
        problem, frozen = str(err), []
    from optuna.trial import TrialState

    names = {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
             TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
    for t in frozen:
        path = folder / (t.user_attrs.get("folder") or trial_folder(folder, t.number).name)
        row = _row(t.number, dict(t.params), path, spec.metric)
        state = names.get(t.state, "failed")
        if state == "running":
            run_state = row.state
            state = run_state if run_state in ("stopped", "interrupted") else "running"
            if run_state in ("queued", "empty", "starting"):
                state = "waiting" if run_state == "queued" else "running"
        row.state = state
        row.reason = str(t.user_attrs.get("pruning") or t.user_attrs.get("reason") or row.reason)
        if t.state == TrialState.COMPLETE:
            row.value = t.value
        elif t.intermediate_values and row.value is None:
            row.value = t.intermediate_values[max(t.intermediate_values)]
        rows[t.number] = row
    for path in sorted(folder.glob("trial-*")):  # folders the journal does not know (a damaged journal)
        try:
            number = int(path.name.split("-", 1)[1])
        except ValueError:
            continue
        if number not in rows:
            config = read_json(path / "config.json") or read_json(path / "request.json") or {}
            names_searched = list(spec.space)
            rows[number] = _row(number, {k: config.get(k) for k in names_searched}, path, spec.metric)
    trials = sorted(rows.values(), key=lambda r: r.number)
    finished = [t for t in trials if t.state == "finished" and t.value is not None]
    if finished:
        pick = max if spec.direction == "maximize" else min
        pick(finished, key=lambda t: t.value).best = True
    view = SweepView(folder, spec, trials, sweep_state(folder), problem)
    if importances and study is not None and len(finished) >= 4:
        view.importances = _importances(study)
    return view


def _importances(study) -> dict:
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(study))
    except Exception:  # noqa: BLE001 - too few distinct values, one parameter: no bars, nothing wrong
        return {}


def _row(number: int, params: dict, path: Path, metric: str) -> TrialRow:
    curve: list[float] = []
    try:
        with open(path / "metrics.jsonl", "rb") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("kind", "epoch") == "epoch" and isinstance(record.get(metric), (int, float)) \
                        and math.isfinite(record[metric]):
                    curve.append(float(record[metric]))
    except OSError:
        pass
    try:
        summary = summarize(path) if path.exists() else None
    except OSError:
        summary = None
    status = read_json(path / "status.json") or {}
    state = summary.state if summary else ("queued" if (path / "request.json").exists() else "waiting")
    seconds = 0.0
    if summary and summary.started:
        end = float(status.get("time") or time.time()) if not summary.live else time.time()
        seconds = max(0.0, end - summary.started)
    return TrialRow(number, params, state, summary.epochs_done if summary else 0, summary.epochs if summary else 0,
                    curve[-1] if curve else None, seconds, path, curve, summary.reason if summary else "")
