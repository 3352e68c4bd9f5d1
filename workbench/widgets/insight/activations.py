"""One test image through the network (trainers.events.Activations): the layers on the left with their
output shape and range, the selected layer's first feature maps on the right — a convolution and the
nonlinearity after it one above the other, channel under channel, as the seeds print ReLU before and
after. Up/down pick the layer, left/right the test image."""

from __future__ import annotations

from rich.text import Text
from textual.app import RenderResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget

from workbench.render.images import grid
from workbench.render.tiling import cell_size


KINDS = {"ConvTranspose2d": "ConvT2d", "ConvTranspose1d": "ConvT1d", "AdaptiveAvgPool2d": "AdaptAvg2d",
         "AdaptiveMaxPool2d": "AdaptMax2d", "MultiheadAttention": "MHAttention"}  # long names, short in the list


def short(value: float) -> str:
    """A number in at most about 6 characters: 0.0123 -> 0.012, 1234.5 -> 1.2e+03."""
    if value == 0:
        return "0"
    text = f"{value:.2g}"
    return text.replace("e+0", "e+").replace("e-0", "e-")


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) or "scalar"


def wrapped(words: str, width: int, style: str = "") -> list[Text]:
    """A caption over as many lines as it needs at `width`, broken between words: never cut."""
    import textwrap

    return [Text(line, style=style, no_wrap=True, end="")
            for line in textwrap.wrap(words, max(8, width), break_on_hyphens=False)] or [Text("")]


def joined(lines: list[Text]) -> Text:
    """Lines as one Text that crops (with an ellipsis) rather than wraps: a wrapped line shifts the rows
    below it out of their columns."""
    text = Text("\n").join(lines)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def characters(rendering: str, app) -> str:
    """The character rendering to draw with: these views have no real-pixel pictures."""
    if rendering != "pixels":
        return rendering
    return "shades" if getattr(app, "no_color", False) else "blocks"


class ActivationView(Widget, can_focus=True):
    """Activations down through `show()`; `layer` and `image` are the selection."""

    BINDINGS = [
        Binding("down,j", "layer(1)", "Layer", key_display="↑↓", tooltip="the next layer"),
        Binding("up,k", "layer(-1)", "Previous layer", show=False, tooltip="the previous layer"),
        Binding("right", "image(1)", "Image", key_display="←→", tooltip="the next test image"),
        Binding("left", "image(-1)", "Previous image", show=False, tooltip="the previous test image"),
    ]
    COMPONENT_CLASSES = {"activations--selected", "activations--dim"}
    DEFAULT_CSS = "ActivationView { text-wrap: nowrap; text-overflow: ellipsis; }"

    rendering: reactive[str] = reactive("blocks")
    layer: reactive[int] = reactive(0)
    image: reactive[int] = reactive(0)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event = None  # trainers.events.Activations

    def show(self, event) -> None:
        self.event = event
        self.layer = self.layer  # revalidated against the new event's layer count
        self.image = self.image
        self.refresh()

    def clear(self) -> None:
        self.event = None
        self.refresh()

    def validate_layer(self, value: int) -> int:
        count = len(self.event.layers) if self.event is not None else 1
        return max(0, min(value, max(0, count - 1)))

    def validate_image(self, value: int) -> int:
        count = len(self.event.labels) if self.event is not None else 1
        return value % max(1, count)

    def action_layer(self, step: int) -> None:
        self.layer += step

    def action_image(self, step: int) -> None:
        self.image += step

    # -- drawing ---------------------------------------------------------------------------------------

    def pair(self) -> tuple[int, int | None]:
        """(before, after) layer indices to draw: a layer with maps and the nonlinearity that follows it
        (either may be the selected one), or the selected layer alone."""
        layers, i = self.event.layers, self.layer
        if layers[i].follows is not None and i > 0 and layers[i - 1].name == layers[i].follows:
            return i - 1, i
        if i + 1 < len(layers) and layers[i + 1].follows == layers[i].name:
            return i, i + 1
        return i, None

    def list_width(self, most: int) -> int:
        """Columns the layer list wants: whole names where they fit in `most`."""
        e = self.event
        ranges = self.range_width()
        shapes = max(len(shape_text(la.shape)) for la in e.layers)
        names = max(len(la.name) for la in e.layers)
        kinds = max(len(KINDS.get(la.kind, la.kind)) for la in e.layers)
        return min(most, 2 + names + 1 + kinds + 1 + shapes + 1 + ranges)

    def range_text(self, la, image: int | None = None) -> str:
        image = self.image if image is None else image
        return f"{short(la.low[image])}…{short(la.high[image])}"

    def range_width(self) -> int:
        """The widest range of any layer for any image: the columns stay put when the image changes."""
        e = self.event
        return max(len(self.range_text(la, i)) for la in e.layers for i in range(len(e.labels)))

    def list_lines(self, width: int, height: int) -> list[Text]:
        e = self.event
        # the shape and the range are never cut; the kind, then the name, give way when space is short
        range_w = self.range_width()
        shape_w = max(len(shape_text(la.shape)) for la in e.layers)
        room = max(6, width - 2 - shape_w - range_w - 3)
        kinds = [KINDS.get(la.kind, la.kind) for la in e.layers]
        name_w = max(2, min(max(len(la.name) for la in e.layers), room - 4))  # names tell layers apart
        kind_w = max(1, min(max(len(k) for k in kinds), room - name_w))
        selected = self.get_component_rich_style("activations--selected")
        before, after = self.pair()
        rows = []
        for i, la in enumerate(e.layers):
            name = la.name if len(la.name) <= name_w else "…" + la.name[-(name_w - 1):]  # the tail names it
            text = (f"{name:<{name_w}} {kinds[i][:kind_w]:<{kind_w}} {shape_text(la.shape):>{shape_w}} "
                    f"{self.range_text(la):<{range_w}}")
            mark = "▸" if i == self.layer else ("·" if i in (before, after) else " ")
            rows.append(Text(f"{mark} {text}"[:width].ljust(width), no_wrap=True, end="",
                             style=selected if i == self.layer else ""))
        # a long list scrolls to keep the selection in view
        top = max(0, min(self.layer - height // 2, len(rows) - height))
        return rows[top:top + height]

    def map_lines(self, width: int, height: int) -> list[Text]:
        e, img = self.event, self.image
        la = e.layers[self.layer]
        classes = e.classes
        label = e.labels[img]
        true = f"true {classes[label]}" if 0 <= label < len(classes) else ""
        lines = wrapped(f"{la.kind} {la.name}: {shape_text(la.shape)} · image {img + 1}/{len(e.labels)} {true}",
                        width, "bold")
        lines += wrapped(f"min {short(la.low[img])} · max {short(la.high[img])} · mean {short(la.mean[img])}", width)
        before, after = self.pair()
        drawn = [e.layers[j] for j in (before, after) if j is not None and e.layers[j].maps is not None]
        if not drawn:
            lines.append(Text("no feature maps: this layer's output is a vector" if len(la.shape) < 3 else
                              "no feature maps: 1×1 outputs", style="dim", no_wrap=True, overflow="ellipsis"))
            return lines
        kept, (h, w) = drawn[0].maps.shape[1], drawn[0].maps.shape[2:]
        channels = la.shape[0] if la.shape else kept
        room = height - len(lines) - 1 - (2 if width < 48 else 0)  # the caption lines below may wrap
        # as many maps as stay legible: all kept ones in one or two rows, or fewer but larger
        best = None
        for k in sorted({kept, min(kept, 4), min(kept, 3)}, reverse=True):
            for per_row in sorted({k, -(-k // 2)}, reverse=True):
                rows = -(-k // per_row)
                cw, ch = cell_size((h, w), per_row, (width, room - len(drawn)), bands=len(drawn) * rows,
                                   rows_per_band=1, extra_lines=0)
                if len(drawn) * (rows * ch + 1) > room:
                    continue
                if best is None or cw * ch > 1.5 * best[2] * best[3]:  # worth showing fewer only if much larger
                    best = (k, per_row, cw, ch)
        k, per_row, cw, ch = best or (kept, kept, *cell_size((h, w), kept, (width, room), bands=len(drawn),
                                                               rows_per_band=1))
        lines += wrapped(f"first {k} of {channels} channels, each scaled to its own range", width, "dim")
        rendering = characters(self.rendering, self.app)
        for n, layer in enumerate(drawn):
            role = ("before" if n == 0 else "after") if len(drawn) == 2 else "maps"
            low = float(layer.map_low[img].min())
            high = float(layer.map_high[img].max())
            lines += wrapped(f"{role}: {layer.kind} {layer.name}, maps from {short(low)} to {short(high)}", width,
                             "bold" if layer is la else "")
            maps = list(layer.maps[img][:k, None])
            for start in range(0, k, per_row):
                lines += grid(maps[start:start + per_row], cw, ch, rendering)
        return lines

    def render(self) -> RenderResult:
        e = self.event
        if e is None or not e.layers:
            return Text("Activations of a few test images appear here once the run has started.", style="dim")
        width, height = self.size
        left_w = self.list_width(max(24, width * 11 // 20))
        right_w = max(8, width - left_w - 2)
        when = "at initialisation" if e.epoch == 0 else f"after epoch {e.epoch}"
        head = Text(f"activations {when} · ↑↓ layer · ←→ image", style="bold", no_wrap=True, overflow="ellipsis")
        left = self.list_lines(left_w, height - 1)
        right = self.map_lines(right_w, height - 1)
        lines = [head]
        for y in range(max(len(left), len(right))):
            line = Text(no_wrap=True, end="")
            line.append_text(left[y] if y < len(left) else Text(" " * left_w))
            if y < len(right):
                line.append("  ")
                cell = right[y].copy()
                cell.truncate(right_w, overflow="ellipsis")
                line.append_text(cell)
            lines.append(line)
        return joined(lines[:height])
