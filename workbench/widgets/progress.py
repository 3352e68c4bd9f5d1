"""The one-line progress readout. Updating it repaints its text only; its size never changes."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual.widget import Widget


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def remaining_seconds(elapsed: float, step: int, epoch: int, batch: int, batches: int, epochs: int) -> float | None:
    """Time left at the pace so far: elapsed per batch times the batches still to run."""
    if step <= 0 or batches <= 0:
        return None
    left = (epochs - epoch) * batches + (batches - batch)
    return elapsed / step * max(0, left)


def progress_text(epoch: int, epochs: int, batch: int, batches: int, samples_per_sec: float,
                  elapsed: float, remaining: float | None) -> str:
    return (f"epoch {epoch}/{epochs}  batch {batch}/{batches}  {samples_per_sec:,.0f} samples/s  "
            f"{format_duration(elapsed)} elapsed  {format_duration(remaining)} left")


class ProgressLine(Widget):
    """State word plus progress text; both are reactives that repaint without a re-layout."""

    COMPONENT_CLASSES = {"progress--state"}

    text: reactive[str] = reactive("waiting for the first batch…", layout=False)
    state: reactive[str] = reactive("starting", layout=False)

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    def render(self) -> RenderResult:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        line.append(f" {self.state} ", style=self.get_component_rich_style("progress--state"))
        line.append(" ")
        line.append(self.text)
        return line
