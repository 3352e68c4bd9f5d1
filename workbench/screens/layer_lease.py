"""The Layers tab's lease on a live trainer's layer statistics, kept out of the run screen.

A run not started with --layer-stats N measures its layers only while someone watches: while the run
screen's Layers tab is shown, a "watch-layers" request goes to the trainer through the run folder and is
renewed every third of the lease (trainers.runs.requests.WATCH_SECONDS). When the tab is hidden the
renewals pause, and the trainer's lease runs out by itself."""

from __future__ import annotations

from trainers.errors import WorkbenchError
from trainers.runs import send
from trainers.runs.requests import WATCH_SECONDS


class LayerLease:
    """For RunScreen, which has `folder`, `live`, `layer_stats_every()` and `set_interval`."""

    def __init__(self, screen) -> None:
        self.screen = screen
        self.timer = None  # renews the lease while the tab is shown; paused while it is not

    def shown(self, shown: bool) -> None:
        if shown and self.timer is None:
            self.timer = self.screen.set_interval(WATCH_SECONDS / 3, self.renew)
        elif self.timer is not None:
            self.timer.resume() if shown else self.timer.pause()
        if shown:
            self.renew()

    def renew(self) -> None:
        screen = self.screen
        if screen.live and screen.layer_stats_every() is None:
            try:
                send(screen.folder, "watch-layers")
            except (OSError, WorkbenchError):
                pass  # not reachable: the tab says there are none, and the keys' messages say why
