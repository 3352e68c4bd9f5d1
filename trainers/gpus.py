"""The GPU server as people ask about it: which GPU, how full, whose. Every NVIDIA GPU (trainers.nvml) with
its processes, each workbench run by its name (a live run's folder names its trainer's pid; a process whose
parent chain reaches that pid is the run's, as torchrun's ranks are), any other process by its user and
command (/proc). No torch: the app refreshes this every 2 s while its GPU panel is shown.

`busy(device)`: the live runs on the GPU a new run would take, for the app's question and the CLI's warning.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import nvml
from .devices import pick, short_name, visible
from .runs.files import CONFIG, REQUEST, lock_holder, read_json
from .runs.home import is_run, runs_home
from .runs.status import read_status


@dataclass(frozen=True)
class LiveRun:
    name: str  # as `workbench runs` names it; a sweep's trial as SWEEP/trial-003
    folder: str
    pids: tuple[int, ...]  # its trainer (status.json) and the lock's holder (a torchrun launcher)
    gpu: dict | None  # what the run recorded of its GPU (RunConfig.gpu), once it started
    device: str = ""  # the device it was asked for


@dataclass(frozen=True)
class Holder:
    """A process on a GPU: a workbench run's (by name), or another one's (by user and command)."""

    pid: int
    memory: int | None
    run: str = ""
    user: str = ""  # "" when the process is not visible from here (another container's pid)
    command: str = ""


@dataclass(frozen=True)
class GpuRow:
    cuda: int | None  # cuda:N as this process's torch counts (None: CUDA_VISIBLE_DEVICES hides it)
    gpu: nvml.GpuInfo
    holders: tuple[Holder, ...]
    runs: tuple[str, ...] = ()  # live runs on this GPU NVML lists no process of: recorded (a container), or
    # asked for by a run still loading (no record yet, nor a CUDA context)


@dataclass(frozen=True)
class Survey:
    report: nvml.Report
    rows: tuple[GpuRow, ...]
    when: float
    live: tuple[LiveRun, ...] = ()  # the live runs it found


# ------------------------------------------------------------------------------------------ processes


def parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[1])  # the command may hold spaces and parentheses
    except (OSError, ValueError, IndexError):
        return None


def lineage(pid: int, limit: int = 64) -> list[int]:
    """`pid` and its parents up to init."""
    chain = [pid]
    while len(chain) < limit:
        up = parent(chain[-1])
        if not up or up in chain:
            break
        chain.append(up)
    return chain


def owner(pid: int) -> tuple[str, str]:
    """(user, command line) of a process, from /proc; ("", "") when it is not visible here."""
    import pwd

    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            uid = next(int(line.split()[1]) for line in f if line.startswith("Uid:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return "", ""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            command = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        if not command:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
                command = f"[{f.read().strip()}]"
    except OSError:
        command = ""
    return user, command


# ------------------------------------------------------------------------------------------ runs


def _run_folders(home: Path):
    """The runs in the home, and a sweep's trials one level down."""
    try:
        entries = list(home.iterdir())
    except OSError:
        return
    for path in entries:
        if is_run(path):
            yield path.name, path
        elif path.is_dir():
            try:
                for inner in path.iterdir():
                    if is_run(inner):
                        yield f"{path.name}/{inner.name}", inner
            except OSError:
                continue


def live_runs(home: str | os.PathLike | None = None) -> list[LiveRun]:
    """Every run a trainer is at work on now, with its pids and the GPU it recorded."""
    home = Path(home).expanduser() if home else runs_home()
    found = []
    for name, folder in _run_folders(home):
        status = read_status(folder)
        if not status.live:
            continue
        pids = tuple(p for p in (status.pid, lock_holder(folder)) if p)
        config = read_json(folder / CONFIG) or {}
        gpu = config.get("gpu") if isinstance(config.get("gpu"), dict) else None
        device = config.get("device") or (read_json(folder / REQUEST) or {}).get("device") or ""
        found.append(LiveRun(name, str(folder), tuple(dict.fromkeys(pids)), gpu, str(device)))
    return found


def _same_gpu(record: dict | None, gpu: nvml.GpuInfo) -> bool:
    return isinstance(record, dict) and bool(record.get("uuid")) and \
        str(record["uuid"]).removeprefix("GPU-").lower() == gpu.uuid.removeprefix("GPU-").lower()


def _asked(run: LiveRun, cuda: int | None) -> bool:
    """A run that has not recorded its GPU yet (loading its data) asked for this one by cuda:N (as this process
    counts them: its trainer was started with the same CUDA_VISIBLE_DEVICES)."""
    if run.gpu is not None or cuda is None or not run.device.startswith("cuda"):
        return False
    index = run.device.split(":", 1)[1] if ":" in run.device else "0"
    return index.isdigit() and int(index) == cuda


# ------------------------------------------------------------------------------------------ the survey


def survey(home: str | os.PathLike | None = None, report: nvml.Report | None = None) -> Survey:
    """Every GPU with its processes, each a run's by name or another's by user and command."""
    report = report if report is not None else nvml.query()
    runs = live_runs(home) if report.gpus else []
    by_pid = {pid: run for run in runs for pid in run.pids}
    cuda = {g.uuid: i for i, g in visible(report)}
    rows = []
    for gpu in report.gpus:
        holders, named = [], set()
        for proc in gpu.processes:
            run = next((by_pid[p] for p in lineage(proc.pid) if p in by_pid), None)
            user, command = owner(proc.pid)
            if run is not None:
                named.add(run.name)
            holders.append(Holder(proc.pid, proc.memory, run.name if run else "", user, command))
        index = cuda.get(gpu.uuid)
        recorded = tuple(r.name for r in runs if (_same_gpu(r.gpu, gpu) or _asked(r, index)) and r.name not in named)
        rows.append(GpuRow(index, gpu, tuple(holders), recorded))
    return Survey(report, tuple(rows), time.time(), tuple(runs))


def no_gpu_sentence(report: nvml.Report) -> str:
    """The one line shown instead of GPUs: which library found what, and what torch was built for."""
    found = report.reason.rstrip(".") if report.reason else f"{report.library} lists no NVIDIA GPU"
    return f"No GPU here: {found}; {torch_words()}. Runs train on the CPU (or Apple's MPS)."


def torch_words() -> str:
    """"torch 2.14.1+cu130, built for CUDA 13.0", read from torch/version.py: importing torch takes seconds, and
    asking it about CUDA would start CUDA in this process."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return "torch is not installed"
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text(encoding="utf-8")
    except OSError:
        return "torch's version is unknown"
    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
    cuda = re.search(r"^cuda\b[^=]*=\s*['\"]([^'\"]+)", text, re.M)
    name = f"torch {version.group(1) if version else '?'}"
    return f"{name}, built for CUDA {cuda.group(1)}" if cuda else f"{name}, built without CUDA"


# ------------------------------------------------------------------------------------------ busy


def target(device: str, report: nvml.Report) -> tuple[int, nvml.GpuInfo] | None:
    """The GPU a run asked for `device` would take, as far as NVML tells (auto: its choice)."""
    gpus = visible(report)
    if device == "auto":
        torch = sys.modules.get("torch")  # asked only when imported: importing it here would take seconds
        if torch is not None and not torch.cuda.is_available():
            return None  # auto trains on the CPU (or MPS): a torch built without CUDA, whatever NVML lists
        return pick(gpus)
    if device.startswith("cuda"):
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        return next(((i, g) for i, g in gpus if i == index), None)
    return None


def busy(device: str, home: str | os.PathLike | None = None, report: nvml.Report | None = None) \
        -> tuple[str, list[LiveRun], str]:
    """(the GPU in words, the live runs on it, a free GPU's device or "") for a run about to start on
    `device`; no runs when it takes no GPU or the GPU is free of runs. A run is on a GPU by its record, or by a
    process NVML lists there."""
    if device in ("cpu", "mps"):
        return "", [], ""
    report = report if report is not None else nvml.query()
    chosen = target(device, report)
    if chosen is None:
        return "", [], ""
    index, gpu = chosen
    view = survey(home, report)
    row = next(r for r in view.rows if r.gpu.uuid == gpu.uuid)
    names = {h.run for h in row.holders if h.run} | set(row.runs)
    runs = [r for r in view.live if r.name in names]
    free = next((f"cuda:{r.cuda}" for r in view.rows if r.cuda is not None and not (r.gpu.processes or r.runs
                                                                                         or r.gpu.error)), "")
    return f"cuda:{index} ({short_name(gpu.name)})", runs, free


def busy_sentence(device: str, home: str | os.PathLike | None = None, report: nvml.Report | None = None) -> str:
    """"cuda:0 (H100) is in use by run X; the new run would share its memory and time; cuda:2 has no process", or ""."""
    where, runs, free = busy(device, home, report)
    if not runs:
        return ""
    named = ", ".join(r.name for r in runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    also = f"; --device {free} has no process on it" if free else ""
    return f"{where} is in use by run {named}: the new run would share its memory and time{also}."

