"""Faults of the run folder found under load: concurrent control requests, a lock inherited by forked
children, and a resume that fails before it starts."""

import multiprocessing

from trainers.runs import send
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
