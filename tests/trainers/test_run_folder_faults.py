"""Faults of the run folder found under load: concurrent control requests, a lock inherited by forked
children, and a resume that fails before it starts."""

import json
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.backends import claim, resume_config, start_detached, train_here
from trainers.data.batches import LoaderBatches
from trainers.runs import FolderLock, RunReader, lock_holder, read_events, read_status, send, write_status
from trainers.runs.requests import seen_now
from trainers.runs.writer import last_word

SENDERS, SENDS = 8, 25


def _send_many(folder, start, times) -> None:
    start.wait()  # every sender begins at the same instant
    for _ in range(times):
        send(folder, "save")


def test_control_requests_sent_at_the_same_instant_from_many_processes_are_all_counted(tmp_path):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(SENDERS)
    senders = [ctx.Process(target=_send_many, args=(str(tmp_path), start, SENDS)) for _ in range(SENDERS)]
    for p in senders:
        p.start()
    for p in senders:
        p.join(60)
    assert [p.exitcode for p in senders] == [0] * SENDERS
    assert seen_now(tmp_path) == (0, 0, SENDERS * SENDS)


class _LockSeen(torch.utils.data.Dataset):
    """Each item says, from the process that made it, whether the folder's lock file is open there: its
    image is all 1s if so, its label is that process's pid."""

    def __init__(self, lock_path) -> None:
        self.lock_path = os.path.realpath(lock_path)

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i):
        open_here = any(os.path.realpath(f"/proc/self/fd/{fd}") == self.lock_path for fd in os.listdir("/proc/self/fd"))
        return torch.full((1, 2, 2), int(open_here), dtype=torch.uint8), os.getpid()


def _batches(folder) -> LoaderBatches:
    # Linux's default start method, fork: each worker starts as a copy of the trainer, descriptors and all
    return LoaderBatches(_LockSeen(folder / ".lock"), 4, device=torch.device("cpu"), mean=0.0, std=1.0,
                         normalize=False, shuffle=False, workers=2)


def test_dataloader_workers_do_not_hold_the_folder_lock_and_the_trainer_still_does(tmp_path):
    lock = FolderLock(tmp_path).acquire()
    try:
        batches = _batches(tmp_path)
        for _ in range(2):  # the persistent workers, twice
            for xb, pids in batches:
                assert os.getpid() not in pids.tolist()  # made in a worker
                assert xb.max().item() == 0, "a DataLoader worker has the folder's lock file open"
        assert lock.held and lock_holder(tmp_path) == os.getpid()  # the workers' closing let nothing go
    finally:
        lock.release()
    assert lock_holder(tmp_path) is None


def _trainer_killed_while_its_workers_linger(folder, pids) -> None:
    FolderLock(folder).acquire()
    batches = _batches(folder)
    for _, worker_pids in batches:
        pids.extend(worker_pids.tolist())
    os.kill(os.getpid(), signal.SIGKILL)  # the persistent workers outlive it for a few seconds


def test_a_killed_trainers_lingering_workers_do_not_keep_its_folder_locked(tmp_path):
    ctx = multiprocessing.get_context("fork")
    pids = ctx.Manager().list()
    trainer = ctx.Process(target=_trainer_killed_while_its_workers_linger, args=(tmp_path, pids))
    trainer.start()
    deadline = time.monotonic() + 60
    while trainer.exitcode is None and time.monotonic() < deadline:  # not join(timeout): that waits on a
        time.sleep(0.02)  # pipe the workers hold too, until they are gone
    workers = set(pids)
    try:
        assert trainer.exitcode == -signal.SIGKILL
        lingering = [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
        assert lingering, "the workers were gone before the lock could be looked at"
        assert lock_holder(tmp_path) is None
        FolderLock(tmp_path).acquire().release()  # a new trainer can take the folder at once
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _finished_run_with_a_damaged_checkpoint(tmp_path):
    folder = Path(recorded(tiny_config(out=str(tmp_path / "run")))[0])
    checkpoint = folder / "checkpoint.pt"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    return folder


def _follow(folder) -> tuple[threading.Thread, list]:
    """A follower, as `workbench attach` and the app follow a run, in a thread: (thread, what it saw)."""
    seen: list = []
    thread = threading.Thread(target=lambda: seen.extend(RunReader(folder).events(follow=True, poll=0.05)),
                              daemon=True)
    thread.start()
    return thread, seen


@pytest.mark.parametrize("starter", ["in this process", "detached (status.json says starting)"])
@pytest.mark.slow
def test_a_resume_that_fails_before_it_starts_leaves_a_finished_run_finished(tmp_path, starter):
    folder = _finished_run_with_a_damaged_checkpoint(tmp_path)
    status_before = json.loads((folder / "status.json").read_text())
    result_before = (folder / "result.json").read_bytes()
    config, lock = claim(resume_config(str(folder), epochs=2))  # the in-process API: no up-front check
    follower, seen = _follow(folder)  # follows the resume from the moment the folder is claimed
    if starter.startswith("detached"):
        write_status(folder, "starting")  # what start_detached writes before its trainer runs
    events = list(train_here(config, lock=lock))

    assert isinstance(events[-1], ev.RunFailed) and "checkpoint" in events[-1].reason
    assert not any(isinstance(e, ev.RunStarted) for e in events)
    assert (folder / "result.json").read_bytes() == result_before  # the run's ending, as it was
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "finished" and read_status(folder).state == "finished"
    assert status["last_resume_failed"] == events[-1].reason  # for `workbench runs` to say
    if starter == "in this process":
        assert {k: v for k, v in status.items() if not k.startswith("last_resume_failed")} == status_before
    logged = list(read_events(folder))
    assert isinstance(logged[-1], ev.RunFailed) and logged[-1].reason == events[-1].reason
    assert sum(isinstance(e, ev.RunFinished) for e in logged) == 1  # the earlier ending stays in the log
    assert {last_word(folder, block) for block in (5, 97, 1 << 16)} == {"RunFailed"}  # lines across blocks

    follower.join(20)
    assert not follower.is_alive(), "the follower of the failed resume is still waiting"
    assert isinstance(seen[-1], ev.RunFailed) and seen[-1].reason == events[-1].reason


def test_a_failed_resume_after_a_resume_that_was_cut_off_is_the_runs_failure(tmp_path):
    """A finished run resumed for more epochs and cut off there has no ending to keep: result.json still
    holds the first ending, but that pass started after it, so a resume that then fails is the run failing."""
    folder = Path(recorded(tiny_config(out=str(tmp_path / "run")))[0])
    config, lock = claim(resume_config(str(folder), epochs=2))
    resumed = train_here(config, lock=lock)
    for event in resumed:
        if isinstance(event, ev.BatchEnded):
            break
    resumed.close()  # cut off mid-epoch, no last word: the run reads as interrupted
    assert read_status(folder).state == "interrupted"
    assert {last_word(folder, block) for block in (5, 97, 1 << 16)} == {"RunStarted"}
    checkpoint = folder / "checkpoint.pt"
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    config, lock = claim(resume_config(str(folder), epochs=2))
    failed = list(train_here(config, lock=lock))[-1]
    assert isinstance(failed, ev.RunFailed)
    assert read_status(folder).state == "failed" and read_status(folder).reason == failed.reason
    assert json.loads((folder / "result.json").read_text())["status"] == "RunFailed"


@pytest.mark.slow
def test_a_detached_resume_that_fails_before_it_starts_is_followed_to_its_end_and_the_run_stays_finished(tmp_path):
    from workbench.commands.train import show_events

    folder = _finished_run_with_a_damaged_checkpoint(tmp_path)
    result_before = (folder / "result.json").read_bytes()
    started, child = start_detached(resume_config(str(folder), epochs=2))
    try:
        code = show_events(RunReader(started).events(follow=True, poll=0.05), str(started))  # what --detach's
        assert code == 1  # follower (the app, attach) prints and returns: the failure, not a hang
        assert child.wait(60) == 1
    finally:
        if child.poll() is None:
            child.kill()
    assert (folder / "result.json").read_bytes() == result_before
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "finished" and "checkpoint" in status["last_resume_failed"]
    assert isinstance(list(read_events(folder))[-1], ev.RunFailed)
