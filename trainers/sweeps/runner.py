"""The sweep process: asks Optuna for settings, starts each trial as an ordinary run, follows the trials'
event logs, reports their epochs to Optuna, stops the ones its pruner gives up on, and tells Optuna how
each ended. It is a generator of plain events, like `trainers.run`: the CLI prints them, a detached sweep
writes them to SWEEP/sweep.log.

Everything it knows is in the folder: killed at any moment (even SIGKILL), `--resume` reads the journal and
the trials' folders again. A trial whose trainer still runs is followed; one whose trainer died continues
from its checkpoint; a finished one is told to Optuna; a trial the sweep was stopping when it died is
counted as pruned. Finished trials never run again, and the number of trials stays the number asked for.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .. import events as ev
from ..config import RunConfig
from ..errors import SweepError, WorkbenchError
from ..runs.files import lock_holder, read_json
from ..runs.reader import RunReader, TrainerGone
from ..runs.status import read_status
from . import space as sp
from .study import HOLD, SweeperLock, SweepSpec, open_study, trial_folder, write_sweeper

RESUME_TRIES = 2  # an interrupted trial continues from its checkpoint this often before it counts as failed


# --- what a sweep says -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepStarted:
    name: str
    folder: str
    trials: int
    done: int  # trials already ended (a resumed sweep)
    parallel: int
    sampler: str


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict
    folder: str
    resumed: bool = False  # continued from its checkpoint, or followed again after the sweep process died


@dataclass(frozen=True)
class TrialEpoch:
    number: int
    epoch: int
    epochs: int
    value: float | None


@dataclass(frozen=True)
class TrialEnded:
    number: int
    state: str  # finished, pruned, failed
    value: float | None
    reason: str = ""
    best: bool = False  # the best trial so far


@dataclass(frozen=True)
class SweepNote:
    """Something the sweep says once: trials trained together, or why they cannot be."""

    text: str


@dataclass(frozen=True)
class SweepEnded:
    stopped: bool
    finished: int
    pruned: int
    failed: int
    best: int | None
    best_value: float | None
    best_params: dict = field(default_factory=dict)
    best_folder: str | None = None


# --- launchers ---------------------------------------------------------------------------------------------

class LocalLauncher:
    """Trials as detached trainers on this machine: on GPUs one per GPU in turn, on a CPU the cores shared."""

    def __init__(self, parallel: int, device: str = "auto", gpus_per_trial: int = 0) -> None:
        self.parallel = parallel
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.cores = cores
        self.threads = max(1, cores // parallel)
        self.gpus = _gpu_count() if device in ("auto", "cuda") else 0
        self.groups_on: dict[int, list] = {}  # GPU index -> the group processes started there
        self.warm = None  # trainers.warm, from the first trial on: no torch import per trial
        if gpus_per_trial:
            self.gpus = _gpu_count()
            if parallel * gpus_per_trial > self.gpus:
                have = f"this machine has {self.gpus}" if self.gpus else "this machine has none that torch can use"
                raise SweepError(f"--parallel {parallel} with --gpus-per-trial {gpus_per_trial} needs "
                                 f"{parallel * gpus_per_trial} GPUs; {have}.")

    def start(self, config: RunConfig, slot: int):
        import dataclasses

        from ..backends.detached import start_detached

        changes: dict = {}
        if self.gpus:
            changes["device"] = f"cuda:{slot % self.gpus}"
        elif config.threads is None:
            changes["threads"] = self.threads
        _, process = start_detached(dataclasses.replace(config, **changes), warm=self._warm())
        return process

    def start_group(self, configs: list[RunConfig], slot: int):
        """Trials of one model as one trainer process (trainers.backends.group): on a GPU, the slot's; on a CPU,
        the group's share of the cores (its trials' share of those running at once)."""
        import dataclasses

        from ..backends.detached import start_group_detached

        changes: dict = {}
        gpu = None
        if self.gpus:  # the GPU fewest of this sweep's groups train on (slots count trials, so slot % gpus
            # sent every group of a --group that is a multiple of the GPUs to cuda:0)
            gpu = min(range(self.gpus), key=lambda i: (sum(p.poll() is None for p in self.groups_on.get(i, [])), i))
            changes["device"] = f"cuda:{gpu}"
        threads = max(1, min(self.cores, self.cores * len(configs) // self.parallel))
        _, process = start_group_detached([dataclasses.replace(c, **changes) if self.gpus or c.threads is not None
                                           else dataclasses.replace(c, threads=threads) for c in configs],
                                          warm=self._warm())
        if gpu is not None:
            self.groups_on.setdefault(gpu, []).append(process)
        return process

    def _warm(self):
        if self.warm is None:
            from ..warm import ENV, Warm

            self.warm = Warm(address=os.environ.get(ENV))  # a shared one where a process above shares it
        return self.warm

    def close(self) -> None:
        """The sweep is over here: end the warm interpreter (the trials it started go on)."""
        if self.warm is not None:
            self.warm.close()
            self.warm = None

    def fit(self, config: RunConfig, slot: int = 0) -> int | None:
        """How many trials of `config` one GPU holds together, measured; None on a CPU (memory is no limit)."""
        if not self.gpus:
            return None
        from ..train.group import fit_on_device

        return fit_on_device(config, f"cuda:{slot % self.gpus}")

    def reap(self, handle) -> None:
        if handle is not None:
            handle.poll()  # no zombie once it has ended

    def ended(self, handle) -> bool:
        """The trial's process is gone (before it wrote anything, if the caller is still waiting)."""
        return handle is not None and handle.poll() is not None

    def cancel(self, handle) -> None:
        pass  # a local trial stops through its folder's control


def _gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no driver, a broken install: trials share the CPU
        return 0


ENDED_JOBS = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
              "PREEMPTED")


class SlurmTrials:
    """Trials as Slurm jobs through submitit: the run folders on the shared file system, followed the same way."""

    def __init__(self, folder: Path, options: dict) -> None:
        from .slurm import SlurmLauncher, SlurmOptions, check_slurm

        check_slurm()
        args = tuple(tuple(item) for item in options.get("args") or ())
        self.launcher = SlurmLauncher(folder, SlurmOptions(
            partition=options.get("partition"), gpus_per_trial=int(options.get("gpus_per_trial") or 0),
            time=int(options.get("time") or 60), args=args))

    def start(self, config: RunConfig, slot: int):
        from ..backends.detached import request
        from ..runs.files import REQUEST, write_json

        from ..runs.status import write_status

        folder = Path(config.out)
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / REQUEST, request(config, folder))
        write_status(folder, "queued")  # until the job's worker takes the folder
        return self.launcher.start(folder)

    def reap(self, handle) -> None:
        pass

    def ended(self, handle) -> bool:
        """The job left the queue: done, failed at its start, cancelled or timed out."""
        return handle is not None and self.launcher.state(handle) in ENDED_JOBS

    def cancel(self, handle) -> None:
        if handle is not None:
            self.launcher.cancel(handle)


# --- the sweep ---------------------------------------------------------------------------------------------

@dataclass
class _Trial:
    number: int
    trial: object  # optuna.trial.Trial
    folder: Path
    params: dict
    handle: object = None
    follower: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    pruning: bool = False
    epochs: dict = field(default_factory=dict)  # epoch -> value reported
    resumes: int = 0
    last: float | None = None
    slot: int = 0
    finished: object = None  # its RunFinished, once read
    failed: str | None = None  # its RunFailed's reason
    gone: str | None = None  # its trainer died without a word
    replay: bool = False  # its record is read again after the sweep process died: nothing new to decide
    stop_sent: bool = False


def trial_params(trial) -> dict:
    return {k: v for k, v in trial.params.items()}


class Sweeper:
    def __init__(self, folder: Path, launcher=None, poll: float = 0.5) -> None:
        self.folder = Path(folder)
        self.spec = SweepSpec.load(self.folder)
        self.space = self.spec.searched()
        self.poll = poll
        self.launcher = launcher
        self.queue: queue.Queue = queue.Queue()
        self.running: dict[int, _Trial] = {}
        self.stopping = threading.Event()  # stop the sweep: trials asked to save and stop
        self.holding = threading.Event()  # start no new trials (the Sweep screen's `p`)
        self.lock = SweeperLock(self.folder)
        self.group = 1  # trials trained together in one process (_group_size)
        self.pending: list[_Trial] = []  # trials to continue from their checkpoints, started together when they can

    # the plain-data distributions each trial is asked with, fixed ones left out
    def _distributions(self) -> dict:
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        out = {}
        for name, search in self.space.items():
            if isinstance(search, sp.Choice):
                out[name] = CategoricalDistribution(list(search.values))
            elif isinstance(search, sp.Range):
                kind = IntDistribution if search.whole else FloatDistribution
                low, high = (int(search.low), int(search.high)) if search.whole else (search.low, search.high)
                out[name] = kind(low, high, log=search.log)
        return out

    def _config(self, params: dict, folder: Path) -> RunConfig:
        fixed = {name: s.value for name, s in self.space.items() if isinstance(s, sp.Fixed)}
        return RunConfig.from_dict({**self.spec.base, **fixed, **params, "out": str(folder)})

    def run(self) -> Iterator:
        from optuna.trial import TrialState

        self.lock.acquire()  # informative: a second sweep process on the folder joins the same study
        write_sweeper(self.folder, "starting")  # its pid, for `workbench stop`, before Optuna's import
        study = open_study(self.folder, self.spec)
        if self.launcher is None:
            self.launcher = self._launcher()
        write_sweeper(self.folder, "running")
        done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        yield SweepStarted(self.spec.name, str(self.folder), self.spec.trials, done, self.spec.parallel,
                           type(study.sampler).__name__)
        notes: list[str] = []
        self.group = self._group_size(notes)
        for note in notes:
            yield SweepNote(note)
        stopped = False
        try:
            yield from self._adopt(study)
            while True:
                self._read_hold()
                yield from self._continue_pending(study)
                trials = study.get_trials(deepcopy=False)
                ended = sum(t.state.is_finished() for t in trials)
                mine = {*self.running, *(t.number for t in self.pending)}
                busy = len(mine)
                others = sum(t.state == TrialState.RUNNING and t.number not in mine for t in trials)
                if self.stopping.is_set():
                    stopped = True
                    for t in self.running.values():
                        self._ask_stop(t)
                elif (not self.holding.is_set() and busy < self.spec.parallel
                      and ended + busy + others < self.spec.trials and not self._grid_done(study)):
                    started = list(self._start(study))
                    if started:
                        yield from started
                        continue
                if not self.running and not self.pending:
                    if stopped or ended >= self.spec.trials or self._grid_done(study):
                        break
                    if not others and not self.holding.is_set():
                        break  # nothing left that this process could start or wait for
                yield from self._drain(study)
        except KeyboardInterrupt:
            stopped = True
            for t in self.running.values():
                self._ask_stop(t)
            while self.running:
                try:
                    yield from self._drain(study)
                except KeyboardInterrupt:  # a second Ctrl-C: leave the trials to save on their own
                    break
        finally:
            for t in self.running.values():
                t.stop.set()
            try:
                write_sweeper(self.folder, "stopped" if stopped else "finished")
                self.lock.release()
            finally:
                getattr(self.launcher, "close", lambda: None)()  # the trials it started go on
        yield self._summary(study, stopped)

    def _read_hold(self) -> None:
        """SWEEP/hold.json {"hold": true}: start no new trial (the Sweep screen's `p`); running ones go on."""
        held = bool((read_json(self.folder / HOLD) or {}).get("hold"))
        if held != self.holding.is_set():
            (self.holding.set if held else self.holding.clear)()

    def _grid_done(self, study) -> bool:
        import optuna

        sampler = study.sampler
        return isinstance(sampler, optuna.samplers.GridSampler) and sampler.is_exhausted(study)

    def _launcher(self):
        if self.spec.launcher == "slurm":
            return SlurmTrials(self.folder, {**self.spec.slurm, "gpus_per_trial": self.spec.gpus_per_trial})
        return LocalLauncher(self.spec.parallel, str(self.spec.base.get("device") or "auto"), self.spec.gpus_per_trial)

    def _slot(self) -> int:
        used = {t.slot for t in (*self.running.values(), *self.pending)}
        return next(i for i in range(len(used) + 1) if i not in used)

    def _group_size(self, notes: list[str]) -> int:
        """How many trials train together in one process (1: each alone), and what to say about it once."""
        from ..train.group import ungroupable

        spec = self.spec
        if spec.group == 1 or spec.parallel == 1 or not hasattr(self.launcher, "start_group"):
            return 1
        base = RunConfig.from_dict({**spec.base, **{name: s.value for name, s in self.space.items()
                                                    if isinstance(s, sp.Fixed)}})
        reason = ungroupable(base)
        if reason:
            notes.append(f"trials train one process each: {reason}.")
            return 1
        size = spec.parallel if spec.group == 0 else min(spec.group, spec.parallel)
        fit = self.launcher.fit(base) if spec.group == 0 else None
        if fit is not None and fit < size:
            notes.append(f"the GPU holds {fit} trial(s) of {base.model} together (measured), not {size}.")
            size = max(1, fit)
        if size > 1:
            notes.append(f"trials of {base.model} that share their shapes and data order train together, up to "
                         f"{size} in one process (one stacked model; each trial still its own run).")
            if not base.fused_adam and "adam" in self._optimizers(base):
                notes.append("Adam trials each take torch's Adam loop in a group, as they would alone; --fused-adam "
                             "takes its fused kernel, about 3x cheaper for them (its rounding differs in the last "
                             "bits).")
        return size

    def _optimizers(self, base: RunConfig) -> set:
        from ..train.prepare import resolve_config

        search = self.space.get("optimizer")
        if isinstance(search, sp.Choice):
            return set(search.values)
        try:
            return {resolve_config(base).optimizer}
        except WorkbenchError:
            return set()

    def _start(self, study) -> Iterator:
        """Ask Optuna for the next trials (as many as the free places and a group take) and start them: those
        that can train together as one process, the others each alone. Nothing when the trials asked for are all
        taken already (by another sweep process on the same folder, which may be on another machine)."""
        import optuna

        free = self.spec.parallel - len(self.running) - len(self.pending)
        asked = []
        with _asking(self.folder):  # the count and the ask as one step among all sweep processes
            trials = study.get_trials(deepcopy=False)
            taken = sum(t.state.is_finished() or t.state == optuna.trial.TrialState.RUNNING for t in trials)
            for _ in range(max(0, min(free, self.group, self.spec.trials - taken))):
                if asked and self._grid_done(study):
                    break
                trial = study.ask(self._distributions())
                folder = trial_folder(self.folder, trial.number)
                trial.set_user_attr("folder", folder.name)
                trial.set_user_attr("sweeper", _me())  # before another process could take it for an orphan
                asked.append((trial, folder))
        ready = []
        for trial, folder in asked:
            t = _Trial(trial.number, trial, folder, trial_params(trial), slot=self._slot())
            self.running[t.number] = t  # holds its slot while the next ones take theirs
            ready.append((t, self._config(t.params, folder)))
        for t, _ in ready:
            del self.running[t.number]
        yield from self._launch(study, ready, resumed=False)

    def _launch(self, study, ready: list, resumed: bool) -> Iterator:
        """Start (trial, config) pairs: each set that can train together as one group process, the rest alone."""
        import optuna

        from ..train.group import apart, group_key

        sets: dict = {}
        for t, config in ready:
            alone = self.group == 1 or apart(config) is not None
            key = t.number if alone else (group_key(config), _position(t.folder))
            sets.setdefault(key, []).append((t, config))
        for members in sets.values():
            for start in range(0, len(members), self.group):
                chunk = members[start:start + self.group]
                try:
                    if len(chunk) > 1:
                        handle = self.launcher.start_group([config for _, config in chunk], chunk[0][0].slot)
                    else:
                        handle = self.launcher.start(chunk[0][1], chunk[0][0].slot)
                except WorkbenchError as err:
                    for t, _ in chunk:
                        t.trial.set_user_attr("reason", str(err))
                        _tell(study, t.trial, state=optuna.trial.TrialState.FAIL)
                        yield TrialEnded(t.number, "failed", None, str(err))
                    continue
                if len(chunk) > 1:
                    yield SweepNote(f"trials {_numbers([t.number for t, _ in chunk])} train together in one process")
                for t, _ in chunk:
                    t.handle = handle
                    self._remember_job(t)
                    self._follow(t)
                    yield TrialStarted(t.number, t.params, str(t.folder), resumed=resumed)

    def _adopt(self, study) -> Iterator:
        """Trials this study left running (a sweep process that died): follow, finish or continue each."""
        import optuna
        from optuna.trial import TrialState

        orphans = []
        with _asking(self.folder):  # claimed in one step: two processes resuming at once never share one
            for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                name = frozen.user_attrs.get("folder") or trial_folder(self.folder, frozen.number).name
                folder = self.folder / str(name)
                if _tended(frozen.user_attrs.get("sweeper"), folder):
                    continue  # another sweep process on this folder is at work on it
                # Optuna has no public way back from a stored trial to one that can report and be told
                trial = optuna.trial.Trial(study, frozen._trial_id)
                trial.set_user_attr("sweeper", _me())
                orphans.append((frozen, trial, folder))
        for frozen, trial, folder in orphans:
            t = _Trial(frozen.number, trial, folder, dict(frozen.params), slot=self._slot())
            t.epochs = dict(frozen.intermediate_values)
            t.pruning = bool(frozen.user_attrs.get("pruning"))
            job = frozen.user_attrs.get("job")
            waiting = bool(job) and self.spec.launcher == "slurm" and not self.launcher.ended(job)
            if waiting:  # its Slurm job is still queued or running
                t.handle = job
            if waiting or lock_holder(folder) is not None:  # its trainer lives on: follow it
                self._follow(t)
                yield TrialStarted(t.number, t.params, str(folder), resumed=True)
                continue
            # an interrupted trial is continued even beyond --parallel: it was running when the sweep died
            state = read_status(folder).state
            if t.pruning or state in ("finished", "failed"):
                t.replay = True
                self.running[t.number] = t
                for event in RunReader(folder).events():  # its whole record, then its end
                    self.queue.put((t.number, event))
                self.queue.put((t.number, _Replayed()))
                yield TrialStarted(t.number, t.params, str(folder), resumed=True)
                continue
            yield from self._continue(study, t)
        yield from self._continue_pending(study)

    def _continue(self, study, t: _Trial) -> Iterator:
        """Start an interrupted (or never started) trial again, from its checkpoint when it has one: once the
        others of its trainer process (its group) have ended too, together with those saved at its batch."""
        t.resumes += 1
        self.pending.append(t)
        yield from ()

    def _continue_pending(self, study) -> Iterator:
        import optuna

        from ..backends.local import resume_config

        if self.stopping.is_set():
            self.pending.clear()  # they stay running in the journal: --resume continues them
            return
        ready = [t for t in self.pending
                 if t.handle is None or not any(r.handle is t.handle for r in self.running.values())]
        if not ready:
            return
        self.pending = [t for t in self.pending if t not in ready]
        configs = []
        for t in ready:
            try:
                if (t.folder / "config.json").exists() or (t.folder / "checkpoint.pt").exists():
                    # the sweep's own model: a trial's folder never chooses code (a user's file runs as named when
                    # the sweep was made, and only while its bytes are the ones recorded then)
                    config = resume_config(str(t.folder), epochs=self.spec.base.get("epochs"),
                                           model=self.spec.base.get("model"))
                else:
                    config = self._config(t.params, t.folder)
            except WorkbenchError as err:
                t.trial.set_user_attr("reason", str(err))
                _tell(study, t.trial, state=optuna.trial.TrialState.FAIL)
                yield TrialEnded(t.number, "failed", None, str(err))
                continue
            configs.append((t, config))
        yield from self._launch(study, configs, resumed=True)

    @staticmethod
    def _remember_job(t: _Trial) -> None:
        """A Slurm job's id goes into the journal: a resumed sweep follows a job still queued or running."""
        if isinstance(t.handle, str):
            t.trial.set_user_attr("job", t.handle)

    def _follow(self, t: _Trial) -> None:
        self.running[t.number] = t
        t.stop, t.stop_sent = threading.Event(), False

        def follow() -> None:
            # a trial's folder is claimed at once locally; a Slurm job may wait in the queue for a while
            checked = time.monotonic()
            while not (t.folder / "events.jsonl").exists() and lock_holder(t.folder) is None:
                if t.stop.wait(self.poll):
                    return
                if time.monotonic() - checked > 5:  # not every poll: for Slurm each check is a squeue
                    checked = time.monotonic()
                    if self.launcher.ended(t.handle) and not (t.folder / "events.jsonl").exists():
                        break
            try:
                for event in RunReader(t.folder).events(follow=True, poll=self.poll, stop=t.stop):
                    if isinstance(event, (ev.EpochEnded, ev.RunFinished, ev.RunFailed, TrainerGone)):
                        self.queue.put((t.number, event))
            except Exception as err:  # noqa: BLE001 - a follower that breaks ends its trial, not the sweep
                self.queue.put((t.number, ev.RunFailed(f"the sweep could not read {t.folder}: {err}")))
                return
            self.queue.put((t.number, _Replayed()))

        t.follower = threading.Thread(target=follow, name=f"sweep-trial-{t.number}", daemon=True)
        t.follower.start()

    def _drain(self, study) -> Iterator:
        try:
            number, event = self.queue.get(timeout=self.poll)
        except queue.Empty:
            return
        t = self.running.get(number)
        if t is None:
            return
        yield from self._on_event(study, t, event)

    def _value(self, event) -> float | None:
        value = getattr(event, self.spec.metric, None)
        return float(value) if value is not None and math.isfinite(value) else None

    def _on_event(self, study, t: _Trial, event) -> Iterator:
        from optuna.trial import TrialState

        if isinstance(event, ev.EpochEnded):
            value = self._value(event)
            t.last = value if value is not None else t.last
            if value is not None and event.epoch not in t.epochs:
                t.epochs[event.epoch] = value
                t.trial.report(value, event.epoch)
            yield TrialEpoch(t.number, event.epoch, event.epochs, value)
            if (not t.pruning and not t.replay and value is not None and event.epoch < event.epochs
                    and t.trial.should_prune()):
                t.trial.set_user_attr("pruning", f"at epoch {event.epoch}")
                self._ask_stop(t, pruning=True)
            return
        if isinstance(event, ev.RunFinished):
            t.finished, t.failed, t.gone = event, None, None
            return
        if isinstance(event, ev.RunFailed):
            t.failed = event.reason
            return
        if isinstance(event, TrainerGone):
            t.gone = event.reason
            return
        if not isinstance(event, _Replayed):
            return
        # the follower is done: the trial's end is known
        self.running.pop(t.number, None)
        t.stop.set()
        self.launcher.reap(t.handle)
        finished, failed, gone = t.finished, t.failed, t.gone
        t.finished = t.failed = t.gone = None  # a continued trial's next follower reads its end afresh
        if t.pruning and finished is not None and not finished.stopped and t.last is not None:
            t.trial.set_user_attr("pruning", None)  # it ended all its epochs before the stop reached it:
            # a whole trial, told as complete
        elif t.pruning:
            _tell(study, t.trial, state=TrialState.PRUNED)
            yield TrialEnded(t.number, "pruned", t.last, t.trial.user_attrs.get("pruning") or "pruned")
            return
        if finished is not None and not finished.stopped:
            value = t.last
            if value is None:
                t.trial.set_user_attr("reason", f"no {self.spec.metric} was recorded")
                _tell(study, t.trial, state=TrialState.FAIL)
                yield TrialEnded(t.number, "failed", None, f"no {self.spec.metric} was recorded")
                return
            _tell(study, t.trial, value)
            best = study.best_trial.number == t.number
            yield TrialEnded(t.number, "finished", value, best=best)
            return
        if failed is not None:
            t.trial.set_user_attr("reason", failed)
            _tell(study, t.trial, state=TrialState.FAIL)
            yield TrialEnded(t.number, "failed", t.last, failed)
            return
        # stopped by someone (the sweep stopping, `workbench stop`) or its trainer died: it stays running in
        # the journal, to continue with --resume; a dead trainer during the sweep continues now
        if self.stopping.is_set() or (finished is not None and finished.stopped):
            if not self.stopping.is_set():  # stopped by hand, not by the sweep: it counts as pruned
                t.trial.set_user_attr("pruning", "stopped by hand")
                _tell(study, t.trial, state=TrialState.PRUNED)
                yield TrialEnded(t.number, "pruned", t.last, "stopped by hand")
            return
        if t.resumes < RESUME_TRIES:
            yield from self._continue(study, t)
            return
        reason = gone or "its trainer ended without a word"
        t.trial.set_user_attr("reason", reason)
        _tell(study, t.trial, state=TrialState.FAIL)
        yield TrialEnded(t.number, "failed", t.last, reason)

    def _ask_stop(self, t: _Trial, pruning: bool = False) -> None:
        from ..runs.requests import send

        t.pruning = t.pruning or pruning
        if t.stop_sent:
            return
        t.stop_sent = True
        try:
            send(t.folder, "stop")
        except (OSError, WorkbenchError):
            pass

    def _summary(self, study, stopped: bool) -> SweepEnded:
        from optuna.trial import TrialState

        trials = study.get_trials(deepcopy=False)
        count = {s: sum(t.state == s for t in trials) for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
        try:
            best = study.best_trial
        except ValueError:
            best = None
        return SweepEnded(stopped, count[TrialState.COMPLETE], count[TrialState.PRUNED], count[TrialState.FAIL],
                          best.number if best else None, best.value if best else None,
                          dict(best.params) if best else {},
                          str(self.folder / best.user_attrs.get("folder", "")) if best else None)


def _position(folder: Path) -> tuple:
    """Where a trial's checkpoint stands (trials continue together only from the same batch)."""
    info = read_json(folder / "checkpoint.json") or {}
    if not (folder / "checkpoint.pt").exists():
        return ("fresh",)
    return (int(info.get("epoch") or 0), tuple(info.get("position") or ()))


def _numbers(numbers: list[int]) -> str:
    """"0-3, 5": trial numbers, runs of consecutive ones joined."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][-1] + 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    return ", ".join(f"{s[0]}-{s[-1]}" if len(s) > 2 else ", ".join(map(str, s)) for s in spans)


def _me() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def _tended(sweeper, folder: Path) -> bool:
    """Whether the sweep process that started a trial still tends it: on this machine, that process is alive;
    on another, its trial's trainer has been heard from lately (its heartbeat)."""
    import socket

    from ..runs.files import alive

    host, _, pid = str(sweeper or "").rpartition(":")
    if not host or not pid.isdigit():
        return False
    if host == socket.gethostname():
        return int(pid) != os.getpid() and alive(int(pid))
    status = read_status(folder)
    return status.live and not status.quiet()


class _asking:
    """flock on SWEEP/.ask.lock: two sweep processes on one folder never both take the last trial."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".ask.lock"

    def __enter__(self) -> None:
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc) -> None:
        os.close(self.fd)  # closing lets the flock go


def _tell(study, trial, values=None, state=None) -> None:
    """study.tell, minus a grid's end: GridSampler calls study.stop() once its last point is told, which
    ask-and-tell code may not do (a RuntimeError); the trial's state is stored before it."""
    try:
        study.tell(trial, values, state=state)
    except RuntimeError as err:
        if "Study.stop" not in str(err):
            raise
    except ValueError as err:  # told already by another sweep process on the folder: its word stands
        if "Cannot tell" not in str(err):
            raise


@dataclass(frozen=True)
class _Replayed:
    """A trial's follower has read its whole record: what it says about the trial's end is known."""
