import os

import pytest

from trainers import RunConfig

# The test processes share the cores, and every trainer they start has an OpenMP thread per core: threads that
# spin after each parallel region (OpenMP's default) take a core from the other processes. Waiting threads sleep
# here instead. Set before torch is imported (in this process and in the processes it starts); the numbers
# computed are the same.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TINY = {"train_size": 256, "test_size": 64}


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path_factory, tmp_path, monkeypatch):
    # Tests never read the user's data directory or write runs into the checkout; each has its own runs home.
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    runs = tmp_path / "runs-home"
    monkeypatch.setenv("WORKBENCH_RUNS", str(runs))
    # no bell or toast when a test's run ends in an open app (snapshots!); tests/workbench/test_wb_notify.py turns
    # it back on
    monkeypatch.setenv("WORKBENCH_QUIET", "1")
    yield
    end_trainers(tmp_path)


def end_trainers(root) -> list[int]:
    """Kill every trainer still holding a run folder's lock under `root` (a test that failed half way may
    leave a detached one behind); returns their pids."""
    import os
    import signal
    from pathlib import Path

    from trainers.runs import lock_holder

    killed = []
    for lock in Path(root).rglob(".lock"):
        pid = lock_holder(lock.parent)
        if pid and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    return killed


def tiny_config(**overrides) -> RunConfig:
    """A run of a few small batches on generated digits: seconds, no files, no network."""
    base = dict(model="mlp", dataset="synthetic-digits", epochs=1, batch_size=32, limit_batches=3,
                limit_test_batches=1, log_every=1, extra=dict(TINY), device="cpu")
    base.update(overrides)
    return RunConfig(**base)


def recorded(config: RunConfig, control=None, stop_at=None):
    """Run `config` as `workbench train` does (a claimed folder, every event recorded there); returns
    (folder, events). `stop_at=(epoch, batch)` asks for a stop after that logged batch."""
    from trainers.backends import claim, train_here
    from trainers.events import BatchEnded
    from trainers.runs import FolderControl

    config, lock = claim(config)
    control = control or FolderControl(config.out)
    events = []
    for event in train_here(config, control=control, lock=lock):
        events.append(event)
        if stop_at and isinstance(event, BatchEnded) and (event.epoch, event.batch) == tuple(stop_at):
            control.request_stop()
    return config.out, events


# -- GPUs, described to the NVML boundary (trainers.nvml reads WORKBENCH_FAKE_GPUS) ----------------------

GIB = 2**30
H100 = "NVIDIA H100 80GB HBM3"


def gpu(i: int, used: float = 0.5, util: int = 0, processes=(), name: str = H100, total: float = 80.0) -> dict:
    """One GPU as the fake NVML describes it: `used` and `total` in GiB, `processes` (pid, GiB) pairs."""
    return {"name": name, "uuid": f"GPU-{i:08x}-fake", "memory_total": int(total * GIB), "memory_used": int(used * GIB),
            "utilization": util, "temperature": 30 + util // 2, "power": 70.0 + 6 * util, "power_limit": 700.0,
            "processes": [{"pid": pid, "memory": int(gib * GIB)} for pid, gib in processes]}


@pytest.fixture
def fake_gpus(tmp_path, monkeypatch):
    """describe(gpus=[gpu(0), ...]) or describe(error="LibRmVersionMismatch"): what NVML answers from now on, in
    this process and in the trainers and commands it starts. Returns the description's file."""
    import json

    from trainers.nvml import FAKE

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def describe(gpus=(), error: str | None = None, driver: str = "550.54.15", cuda: str = "12.4"):
        path = tmp_path / "fake-gpus.json"
        data = {"error": error} if error else {"driver": driver, "cuda": cuda, "gpus": list(gpus)}
        path.write_text(json.dumps(data))
        monkeypatch.setenv(FAKE, str(path))
        return path

    return describe


def live_run(name: str, gpu_index: int | None = None, device: str = "auto"):
    """A run folder in the runs home that reads as live (this process holds its lock and is its trainer), on
    the fake GPU `gpu_index` once started. Returns (folder, lock): release the lock to end it."""
    from trainers.runs import runs_home, write_json, write_status
    from trainers.runs.files import FolderLock

    folder = runs_home() / name
    folder.mkdir(parents=True)
    lock = FolderLock(folder).acquire()
    record = None if gpu_index is None else {"index": gpu_index, "name": H100, "uuid": f"GPU-{gpu_index:08x}-fake",
                                            "memory": 80 * GIB, "driver": "550.54.15", "cuda": "12.4"}
    write_json(folder / "config.json", {"model": "cnn-pool", "dataset": "fashion-mnist", "epochs": 3, "device": device,
                                        "gpu": record, "run": {"epochs": 3}})
    write_status(folder, "running")  # names this process, as the lock does: its trainer
    return folder, lock


def pytest_sessionstart(session):
    """A test process (not xdist's controller, which runs no test) starts its warm interpreter (tests/python.py)
    now and shares it with every process under it ($WORKBENCH_WARM, trainers.warm.shared): the trainers,
    sweeps and dry runs that the app, `workbench` commands and sweeps start then import torch once per test
    process, not once each."""
    if hasattr(session.config, "workerinput") or not session.config.pluginmanager.has_plugin("dsession"):
        from tests import python
        from trainers.warm import ENV

        os.environ[ENV] = python.WARM.share()


def pytest_sessionfinish(session):
    """End this test process's warm interpreter (tests/python.py), if it started one."""
    import sys

    python = sys.modules.get("tests.python")
    if python is not None:
        python.WARM.close()


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto`: two test processes more than there are cores. Much of the suite waits on the trainers, tmux
    sessions and commands it starts; on two cores, with trainers forked from a warm interpreter, four processes
    ran it in 3:44 and 3:42 against 4:00 and 3:37 for three (more evenly; two interleaved rounds).
    PYTEST_XDIST_AUTO_NUM_WORKERS still decides where set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return len(os.sched_getaffinity(0)) + 2 if hasattr(os, "sched_getaffinity") else None
