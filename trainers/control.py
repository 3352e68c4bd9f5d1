"""How a caller steers a running loop from another thread: plain threading.Events, no UI."""

from __future__ import annotations

import threading


class RunControl:
    """Stop, pause and save requests, checked by the loop between batches."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop if stop is not None else threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._save = threading.Event()

    def install_signals(self) -> None:
        """SIGTERM/SIGINT stop after the batch (a second one ends at once), SIGUSR1 saves, SIGHUP is
        ignored: a trainer in its own session has no terminal to lose. Main thread only."""
        import signal

        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, _frame):
            if self.stop.is_set():
                raise KeyboardInterrupt
            self.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGUSR1, lambda *_: self.request_save())
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def poll(self) -> None:
        """Take in requests that arrive from outside this process (trainers.runs.requests overrides it);
        the loop calls it between batches, so it must be cheap."""

    def poll_now(self) -> None:
        """poll(), without waiting for its next turn (a group trainer that saw one trial stopped looks at the
        others' requests at the same batch)."""
        self.poll()

    def request_stop(self) -> None:
        self.stop.set()
        self._running.set()  # a paused loop must wake up to notice

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def request_save(self) -> None:
        self._save.set()

    @property
    def save_requested(self) -> bool:
        """A save is asked for (without taking the request)."""
        return self._save.is_set()

    def take_save_request(self) -> bool:
        if self._save.is_set():
            self._save.clear()
            return True
        return False

    def wait_while_paused(self) -> bool:
        """Block while paused. Returns True when a save was asked for meanwhile (still paused), False
        when running again or stopping."""
        while not self._running.wait(0.1):
            self.poll()
            if self.stop.is_set():
                return False
            if self._save.is_set():
                return True
        return False
