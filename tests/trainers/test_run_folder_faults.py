"""Faults of the run folder found under load: concurrent control requests, a lock inherited by forked
children, and a resume that fails before it starts."""

import multiprocessing
import os
import signal
import time

import torch

from trainers.batches import LoaderBatches
from trainers.runs import FolderLock, lock_holder, send
from trainers.runs.control import seen_now

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
