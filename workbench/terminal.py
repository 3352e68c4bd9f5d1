"""The app and its terminal: an SSH drop, a closed window or `tmux kill-server` must never leave a viewer
behind. TerminalGuard installs the SIGHUP and SIGCONT handlers and starts the WATCHDOG process; the app calls
it at mount, at unmount and when run() returns. Nothing here imports Textual: it is handed the app."""

from __future__ import annotations

import os
import signal
import subprocess
import termios
import threading

HANGUP_GRACE = 1.0
"""Seconds an orderly exit gets once the terminal is gone, before the watchdog kills the app: a viewer with no
terminal serves nobody, and a shutdown can wait on a dead terminal or on a busy thread worker."""
TERMINAL_POLL = 0.2
"""How often the watchdog asks the terminal whether it is still there."""
HANGUP_EXIT = 129  # 128 + SIGHUP, as a shell reports a process its hangup ended

# The watchdog, a small process of its own (python -I -S: no site, quick to start) in a session of its own.
# It is a process, not a thread, because a thread cannot be counted on in time: while a worker imports torch,
# one C call (loading its libraries) holds the GIL for most of a second, and then neither a SIGHUP handler
# nor another thread runs. Its stdin is a pipe from the app: EOF when the app ends (it ends too), a byte
# when the app has had SIGHUP and is leaving. A terminal that stops answering, or that byte, starts the
# grace; an app still there after it is killed. A dead terminal without the byte (no SIGHUP reached the
# app: another session) first gets the app a SIGHUP, so it leaves in order if it can.
WATCHDOG = """
import os, select, signal, sys, termios, time
app, terminal, grace, poll = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

def answers():
    try:
        termios.tcgetattr(terminal)
    except (termios.error, OSError):
        return False
    return True

def wait(seconds):  # True: the app has ended (EOF); None: it says it is leaving; False: nothing yet
    if not select.select([0], [], [], seconds)[0]:
        return False
    return not os.read(0, 64) or None

while True:
    said = wait(poll)
    if said:
        sys.exit()
    if said is None:
        break
    if not answers():
        try:
            os.kill(app, signal.SIGHUP)
        except OSError:
            sys.exit()
        break
deadline = time.monotonic() + grace
while deadline > time.monotonic():
    if wait(deadline - time.monotonic()):
        sys.exit()
try:
    os.kill(app, signal.SIGKILL)
except OSError:
    pass
"""


def terminal_alive(fd: int) -> bool:
    """The terminal on `fd` still answers. A hung-up one (its window closed, tmux killed, the SSH connection
    dropped) fails every request with EIO, and its reads return EOF."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return False
    return True


class TerminalGuard:
    """Watches the app's terminal (only a real one: tests run headless and install nothing)."""

    def __init__(self, app) -> None:
        self.app = app
        self.gone = False
        """The terminal went away (SIGHUP, or it stopped answering): the app is leaving, for certain."""
        self.watchdog: subprocess.Popen | None = None  # ends the app if a lost terminal does not (WATCHDOG)
        self.fd: int | None = None  # the terminal watched; None in tests

    def install(self) -> None:
        """An SSH drop, a closed window or `tmux kill-server`: leave at once, and surely (the runs train on in
        their own sessions, untouched).

        A hangup brings SIGHUP and then SIGCONT. Textual's SIGCONT handler (Ctrl+Z's resume) restarted
        application mode: on a hung-up terminal isatty() is false, so it did not see it may not, and started
        a second output thread, whose first write failed with EIO and ended it; the shutdown's writes then
        filled that thread's queue (30) and blocked the main thread for ever. So SIGHUP turns the restart
        off and sends a dead terminal's output to /dev/null, SIGCONT resumes only a terminal that answers,
        and the WATCHDOG process kills an app still there HANGUP_GRACE after its terminal went."""
        import asyncio

        app = self.app
        fd = getattr(app._driver, "fileno", None)
        if (app.is_headless or not isinstance(fd, int) or not os.isatty(fd)
                or threading.current_thread() is not threading.main_thread()):
            return  # tests (no terminal, or not the main thread): nothing to watch, no process-wide handlers
        loop = asyncio.get_running_loop()
        resume = signal.getsignal(signal.SIGCONT)
        self.fd = fd

        def on_hangup(signum, frame) -> None:
            self.hang_up(fd, loop)

        def on_continue(signum, frame) -> None:
            if not terminal_alive(fd):  # the SIGCONT of a hangup: there is nothing to resume on
                self.hang_up(fd, loop)
            elif callable(resume):
                resume(signum, frame)

        signal.signal(signal.SIGHUP, on_hangup)
        signal.signal(signal.SIGCONT, on_continue)
        app.call_after_refresh(self.start_watchdog, fd)  # after the first frame, which it would only delay

    def start_watchdog(self, fd: int) -> None:
        import sys

        terminal = os.dup(fd)
        try:
            self.watchdog = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", WATCHDOG, str(os.getpid()), str(terminal), str(HANGUP_GRACE),
                 str(TERMINAL_POLL)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(terminal,), start_new_session=True)
        except OSError:
            self.watchdog = None  # the handlers still see to an orderly exit
        finally:
            os.close(terminal)

    def hang_up(self, fd: int, loop) -> None:
        """SIGHUP, or a SIGCONT on a dead terminal. A signal handler: it runs at any point of the main thread,
        so no locks and no messages here, only flags, system calls and a callback for the event loop."""
        if self.gone:
            return
        self.gone = True
        driver = self.app._driver
        if driver is not None:
            driver._auto_restart = False  # a SIGCONT now must not start application mode again
        if not terminal_alive(fd):  # the shutdown's escape codes go nowhere instead of failing with EIO
            try:                    # (`kill -HUP` with the terminal still there restores its screen)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.close(devnull)
            except OSError:
                pass
        if self.watchdog is not None:
            try:
                os.write(self.watchdog.stdin.fileno(), b"x")  # leaving: the grace starts now
            except (OSError, ValueError):
                pass
        try:
            loop.call_soon_threadsafe(self.app.exit)
        except RuntimeError:  # the loop has closed: the app is already on its way out
            pass

    def leave_if_gone(self) -> None:
        """At the app's unmount (screens closed, workers cancelled). With the terminal gone there is nothing to
        restore and no one to tell: leave now rather than wait for thread workers that cannot be cancelled (a
        torch import, a dry run) to finish, as the end of asyncio.run would."""
        if self.gone and self.fd is not None and not terminal_alive(self.fd):
            os._exit(HANGUP_EXIT)

    def close(self) -> None:
        """The app has ended in order: the watchdog reads EOF and ends."""
        if self.watchdog is not None:
            try:
                self.watchdog.stdin.close()
                self.watchdog.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.watchdog = None
