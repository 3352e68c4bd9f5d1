import pytest

from trainers import RunConfig

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
