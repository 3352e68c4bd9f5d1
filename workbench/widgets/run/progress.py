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
    """Time left at the pace so far: elapsed per batch times the batches still to run.

    `epoch` and `epochs` (the run's last epoch) count from the first epoch ever, as a resumed run numbers
    them; `elapsed` and `step` cover this run only, so the epochs of the checkpoint never count."""
    if step <= 0 or batches <= 0:
        return None
    left = (epochs - epoch) * batches + (batches - batch)
    return elapsed / step * max(0, left)


def loading_text(what: str, done: int, total: int) -> str:
    """A download or decode before the first batch: "downloading x.gz 45%", "decoding images 1200/5000"."""
    if total > 0 and what.startswith("downloading"):
        return f"{what} {min(100, 100 * done // total)}%"
    if total > 0:
        return f"{what} {done}/{total}"
    if what.startswith("downloading") and done > 0:
        return f"{what} {done / 1e6:.1f} MB"
    return f"{what}…"


def progress_text(epoch: int, epochs: int, batch: int, batches: int, samples_per_sec: float,
                  elapsed: float, remaining: float | None) -> str:
    return (f"epoch {epoch}/{epochs}  batch {batch}/{batches}  {samples_per_sec:,.0f} samples/s  "
            f"{format_duration(elapsed)} elapsed  {format_duration(remaining)} left")


def with_gpu(text: str, gpu: str, width: int) -> str:
    """The progress text with the GPU's words after the speed, made to fit `width`: first without the elapsed
    time, then "samples/s" as "/s", then the batch without its word."""
    parts = text.split("  ")
    at = next((i + 1 for i, p in enumerate(parts) if p.endswith("samples/s")), len(parts))
    parts.insert(at, gpu)
    shorter = [lambda p: None if p.endswith(" elapsed") else p,
               lambda p: p.replace(" samples/s", "/s"),
               lambda p: p.removeprefix("batch ")]
    for shorten in shorter:
        if len("  ".join(parts)) <= width:
            break
        parts = [q for q in (shorten(p) if p is not gpu else p for p in parts) if q is not None]
    return "  ".join(parts)


class ProgressLine(Widget):
    """State word plus progress text (and on a GPU its memory); reactives that repaint without a re-layout."""

    COMPONENT_CLASSES = {"progress--state"}

    text: reactive[str] = reactive("waiting for the first batch…", layout=False)
    state: reactive[str] = reactive("starting", layout=False)
    gpu: reactive[str] = reactive("", layout=False)  # "GPU 1.2 GB, peak 3.4 GB, 87%"; "" off a GPU

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    def render(self) -> RenderResult:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        line.append(f" {self.state} ", style=self.get_component_rich_style("progress--state"))
        line.append(" ")
        room = self.size.width - len(self.state) - 3
        line.append(with_gpu(self.text, self.gpu, room) if self.gpu else self.text)
        return line
