"""The Channels tab: each input channel, one output channel's kernels and the per-channel cross-correlations
whose sum is that output channel, then every output channel. Plain numpy arrays in, characters out."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from trainers.lab import ChannelSums

from workbench.render.grids import side_by_side, tensor_lines


class ChannelsView(Static):
    """Draws trainers.lab.channel_sums' arrays; `next_output()` moves the detailed row to the next output
    channel."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.result: ChannelSums | None = None
        self.what = ""  # the input, in words
        self.output = 0  # the output channel drawn in detail

    def show(self, result: ChannelSums, what: str) -> None:
        self.result, self.what = result, what
        self.output = min(self.output, len(result.y) - 1)
        self.redraw()

    def next_output(self) -> None:
        if self.result is not None:
            self.output = (self.output + 1) % len(self.result.y)
            self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        if self.result is None:
            return
        r, o = self.result, self.output
        (ci, h, w), co, (oh, ow) = r.x.shape, len(r.kernels), r.y.shape[1:]
        width, height = (self.size.width or 80) - 2, self.size.height or 16
        sections = 3 if co > 1 else 2
        tall = max(2, (height - 2 * sections - 1) // sections)  # a picture's lines in each section
        wide = max(8, (width - 3 * ci) // (2 * ci + 1))

        def lines(values, cap=wide):
            return tensor_lines(values, cap, tall)

        out = [f"input X: {ci} channel{'s' * (ci > 1)} of {h}x{w} ({self.what})"]
        out += side_by_side([(f"X[{i}]", lines(r.x[i], max(wide, (width - 3 * ci) // ci))) for i in range(ci)])
        out.append(f"output channel {o} of {co}" + (" (o: next)" if co > 1 else "") + f" = Σ over i of X[i] ⋆ K[{o},i]")
        out += side_by_side([(f"K[{o},{i}]", lines(r.kernels[o, i], 24)) for i in range(ci)]
                            + [(f"X[{i}]⋆K[{o},{i}]" + (" +" if i < ci - 1 else " ="), lines(r.parts[o, i]))
                               for i in range(ci)] + [(f"Y[{o}]", lines(r.y[o]))])
        if co > 1:
            out.append(f"output Y: {co} channels of {oh}x{ow}")
            out += side_by_side([(f"Y[{j}]" + (" ◂" if j == o else ""), lines(r.y[j], max(wide, width // co - 3)))
                                 for j in range(co)])
        out.append(compact(r.formula, width))
        self.update(Text("\n".join(out), no_wrap=True, overflow="ellipsis"))


def compact(formula: str, width: int) -> str:
    """The shape arithmetic in `width` characters: "h ... ; w ..." when "height ...; width ..." is too long."""
    return formula if len(formula) <= width else formula.replace("height ", "h ").replace("; width ", "; w ")
