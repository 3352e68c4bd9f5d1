"""The run screen's tabs 6 and 7 (activations; where the model is wrong), kept out of run.py: what they
compose, which events they draw, how they are cleared. RunScreen mixes this in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import TabbedContent, TabPane

from trainers import events as ev

from workbench.widgets.insight.activations import ActivationView
from workbench.widgets.insight.confusion import ConfusionView, LatentView

INSIGHT_TABS = ("tab-activations", "tab-errors")
ERRORS_LABEL = {False: "7 Errors", True: "7 Latent/errors"}


class InsightTabs:
    """For RunScreen: `compose_insight()` inside its TabbedContent, `insight_handlers()` into its handlers."""

    def compose_insight(self) -> ComposeResult:
        with TabPane("6 Activations", id="tab-activations"):
            yield ActivationView(id="activations")
        with TabPane(ERRORS_LABEL[False], id="tab-errors"):
            with VerticalScroll(id="confusion-scroll"):
                yield ConfusionView(id="confusion")
            yield LatentView(id="latent")

    def insight_handlers(self) -> dict:
        return {ev.Activations: self.on_activations, ev.Confusion: self.on_confusion, ev.Latent: self.on_latent}

    def on_activations(self, e: ev.Activations) -> None:
        if e.images is not None:
            self.query_one(ActivationView).show(e)

    def on_confusion(self, e: ev.Confusion) -> None:
        if e.matrix is not None and e.worst_images is not None:
            self.query_one(ConfusionView).show(e)

    def on_latent(self, e: ev.Latent) -> None:
        if e.worst_images is not None:
            self.query_one(LatentView).show(e)

    def reset_insight(self, reconstruct: bool) -> None:
        self.query_one(ActivationView).clear()
        self.query_one(ConfusionView).clear()
        self.query_one(LatentView).clear()
        self.label_insight(reconstruct)

    def label_insight(self, reconstruct: bool) -> None:
        self.query_one(TabbedContent).get_tab("tab-errors").label = ERRORS_LABEL[reconstruct]

    def set_insight_rendering(self, rendering: str) -> None:
        self.query_one(ActivationView).rendering = rendering
        self.query_one(ConfusionView).rendering = rendering
        self.query_one(LatentView).set_rendering(rendering)

    def focus_insight(self, tab: str) -> bool:
        """Focus what the keys of `tab` steer (True), or nothing to do (False)."""
        if tab == "tab-activations":
            self.query_one(ActivationView).focus()
            return True
        if tab == "tab-errors":
            if self.has_class("-reconstruct"):
                self.set_focus(None)
            else:
                self.query_one("#confusion-scroll").focus()  # the arrows then scroll the matrix and images
            return True
        return False
