"""The detached sweep process: `python -m trainers.sweeps.worker SWEEP`. It runs the sweep as `workbench
sweep` would in a terminal, printing the same lines to SWEEP/sweep.log; SIGTERM (`workbench stop SWEEP`)
stops it as Ctrl-C does: the running trials save, and `workbench sweep --resume SWEEP` continues."""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from .runner import Sweeper
    from .words import say

    sweeper = Sweeper(Path(argv[0]))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sweeper.stopping.set())
    for event in sweeper.run():
        line = say(event, sweeper.spec)
        if line:
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
