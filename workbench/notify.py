"""A word when a run ends: while the app is open, a run in the runs home (or a sweep) that finishes, fails or
diverges rings the terminal's bell and sends a desktop notification through the terminal's own escape
sequences (OSC 777 and OSC 9: iTerm2, kitty, WezTerm, foot, and tmux's passthrough carry them over SSH), plus
a toast. Only runs seen live while the app was open: those that had ended before never ring.

Cheap: status.json of the live runs every WATCH_SECONDS, the runs home listed again every LIST_SECONDS.
Nothing here imports Textual: it is handed the app (as workbench.terminal is)."""

from __future__ import annotations

import os
from pathlib import Path

WATCH_SECONDS = 2.0  # how often the live runs' status.json are read
LIST_SECONDS = 10.0  # how often the runs home is listed again, for runs started since
RINGS = ("finished", "failed")  # a run's ends that ring (a diverged run is a failed one); stopped ones were asked for
SWEEP_RINGS = ("finished",)  # a stopped or interrupted sweep is asked for, or said by its trials' own ends
BEL = "\x07"
ST = "\x1b\\"


def _clean(text: str) -> str:
    """No control characters (an ESC or BEL would end the sequence early) and no ';' (OSC 777's separator)."""
    return "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).replace(";", ",")


def passthrough(sequence: str) -> str:
    """A sequence tmux hands on to the terminal it runs in (with `allow-passthrough on`): DCS tmux; ... ST,
    every ESC inside doubled."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + ST


def notification(title: str, body: str, bell: bool = True, tmux: bool = False) -> str:
    """The characters that ring the bell and ask the terminal for a desktop notification: BEL, OSC 777
    (`notify;TITLE;BODY`: urxvt, foot, WezTerm, kitty) and OSC 9 (`BODY`: iTerm2, WezTerm, kitty)."""
    title, body = _clean(title), _clean(body)
    sequences = [f"\x1b]777;notify;{title};{body}{ST}", f"\x1b]9;{body}{ST}"]
    if tmux:
        sequences = [passthrough(s) for s in sequences]
    return (BEL if bell else "") + "".join(sequences)


def quiet_by_environment(environ=os.environ) -> bool:
    """WORKBENCH_QUIET=1: no word at all when a run ends."""
    return environ.get("WORKBENCH_QUIET", "").strip().lower() not in ("", "0", "no", "false")


def bell_wanted(environ=os.environ) -> bool:
    """WORKBENCH_BELL=0 (or NO_BELL set, in the NO_COLOR fashion): the notification without the bell."""
    if environ.get("NO_BELL"):
        return False
    return environ.get("WORKBENCH_BELL", "").strip().lower() not in ("0", "no", "false", "off")


def write(app, data: str) -> None:
    """Out through the app's driver, as App.bell does, between its frames (tests replace this)."""
    driver = getattr(app, "_driver", None)
    if driver is not None and not app.is_headless:
        driver.write(data)
        driver.flush()


def run_words(folder: Path) -> tuple[str, str, str]:
    """(state, toast severity, one line) of a run that has ended."""
    from trainers.runs import summarize

    s = summarize(folder)
    best = (f", best {100 * s.best_accuracy:.2f}%" if s.best_accuracy is not None
            else f", best loss {s.best_loss:.4f}" if s.best_loss is not None else "")
    line = f"{s.name} {s.state}: epoch {s.epochs_done}/{s.epochs}{best}"
    if s.state != "finished" and s.reason:
        line += f" ({s.reason[:120]})"
    return s.state, "information" if s.state == "finished" else "error", line


def sweep_words(folder: Path, state: str) -> tuple[str, str, str]:
    return state, "information", f"sweep {folder.name} {state}"


class EndWatcher:
    """Watches the runs home while the app is open and says when a run or sweep ends (once per run)."""

    def __init__(self, app, home: Path | None = None, extra=None, environ=os.environ) -> None:
        self.app = app
        self.home = home
        self.extra = extra  # a callable: more run folders to watch (those on screen, wherever they are)
        self.bell = bell_wanted(environ)
        self.tmux = bool(environ.get("TMUX"))
        self.known: set[Path] = set()  # every run and sweep seen: one already ended when first seen never rings
        self.live: set[Path] = set()  # runs seen live, not yet seen ended
        self.sweeps: set[Path] = set()  # sweeps seen running
        self.said: list[str] = []  # the lines said, in order
        self.opened = False

    def start(self) -> None:
        self.list(opening=True)
        self.app.set_interval(WATCH_SECONDS, self.check)
        self.app.set_interval(LIST_SECONDS, self.list)

    def list(self, opening: bool = False) -> None:
        """Find runs and sweeps started since; at the app's opening, those ended are only remembered."""
        from trainers.runs import runs_home
        from trainers.runs.home import is_run
        from trainers.runs.status import read_status
        from trainers.sweeps.study import is_sweep
        from trainers.sweeps.view import sweep_state

        home = self.home or runs_home()
        try:
            paths = [p for p in home.iterdir()] if home.is_dir() else []
        except OSError:
            paths = []
        if self.extra is not None:
            paths += [Path(p) for p in self.extra()]
        for path in paths:
            if path in self.known:
                continue
            try:
                if is_sweep(path):
                    self.known.add(path)
                    state = sweep_state(path)
                    if state in ("running", "waiting"):
                        self.sweeps.add(path)
                    elif not opening and state in SWEEP_RINGS:
                        self.say(*sweep_words(path, state))  # started and ended between two listings
                elif is_run(path):
                    status = read_status(path)
                    if status.state == "empty":
                        continue  # not claimed by its trainer yet: seen again at the next listing
                    self.known.add(path)
                    if status.live:
                        self.live.add(path)
                    elif not opening and status.state in RINGS:
                        self.say(*run_words(path))
            except OSError:
                continue  # removed while listing

    def check(self) -> None:
        """Read the live runs' status.json (and the running sweeps' state); say those that have ended."""
        from trainers.runs.status import read_status
        from trainers.sweeps.view import sweep_state

        for path in sorted(self.live):
            try:
                status = read_status(path)
            except OSError:
                self.live.discard(path)
                continue
            if status.live or status.state == "empty":
                continue
            self.live.discard(path)
            if status.state in RINGS:
                self.say(*run_words(path))
        for path in sorted(self.sweeps):
            state = sweep_state(path)
            if state in ("running", "waiting"):
                continue
            self.sweeps.discard(path)
            if state in SWEEP_RINGS:
                self.say(*sweep_words(path, state))

    def say(self, state: str, severity: str, line: str) -> None:
        self.said.append(line)
        write(self.app, notification("workbench", line, bell=self.bell, tmux=self.tmux))
        self.app.notify(line, title=f"run {state}" if not line.startswith("sweep ") else "sweep ended",
                        severity=severity, timeout=10)
