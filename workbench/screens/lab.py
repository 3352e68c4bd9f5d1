"""The convolution lab: an input, a kernel and their cross-correlation side by side, the output's shape with
the arithmetic that gives it, a kernel learned back from the input and the output by gradient descent; several
channels in and out (tab 3) and max and average pooling (tab 4).

The computation is trainers.lab (torch), done in thread workers; this screen and its widgets (widgets/lab/) only
draw characters. Padding and stride (the second row) serve every tab but Learn's own steps and lr.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Label, Select, Static, TabbedContent, TabPane

from trainers.errors import WorkbenchError
from trainers.lab import KERNELS

from workbench.render.grids import side_by_side, tensor_lines
from workbench.widgets.lab.channels import ChannelsView
from workbench.widgets.lab.pooling import PoolingView
from workbench.widgets.pick.hyperparams import NumberInput
from workbench.widgets.shared.charts import LineChart

PRESETS = tuple(KERNELS)
PRESET_TEXT = {"edge": "1 -1", "edge-transposed": "1; -1", "blur": "1 1 1; 1 1 1; 1 1 1 / 9",
               "sharpen": "0 -1 0; -1 5 -1; 0 -1 0", "sobel-x": "-1 0 1; -2 0 2; -1 0 1",
               "sobel-y": "-1 -2 -1; 0 0 0; 1 2 1", "identity": "0 0 0; 0 1 0; 0 0 0"}
IMAGES = 8  # test images offered per dataset
TABS = ("tab-convolve", "tab-learn", "tab-channels", "tab-pooling")
GROUP = {"tab-convolve": "convolve", "tab-learn": "convolve", "tab-channels": "channels", "tab-pooling": "pooling"}
ONLY_ON = {"learn": "convolve", "more": "convolve", "output": "channels", "window": "pooling", "play": "pooling"}


class KernelInput(NumberInput):
    """The kernel's numbers, rows split by ';': letters are left to the screen's keys."""

    NUMBER_CHARACTERS = frozenset("0123456789.eE+- ;,|/")


class SizeInput(NumberInput):
    """A pooling window: 2, or 2x3 (height x width)."""

    NUMBER_CHARACTERS = frozenset("0123456789x")


class LabScreen(Screen):
    BINDINGS = [
        Binding("b,escape", "app.pop_screen", "Back", tooltip="back to the picker"),
        Binding("1", "tab(0)", "Convolve", show=False, tooltip="input, kernel and output side by side"),
        Binding("2", "tab(1)", "Learn", show=False, tooltip="the kernel learned back from the input and output"),
        Binding("3", "tab(2)", "Channels", show=False, tooltip="several channels in and out"),
        Binding("4", "tab(3)", "Pooling", show=False, tooltip="max and average pooling"),
        Binding("t", "transpose", "Transpose", tooltip="transpose the input: the edge kernel then finds nothing"),
        Binding("l", "learn", "Learn", tooltip="gradient descent on a fresh kernel (steps and lr from the fields)"),
        Binding("m", "more", "More steps", tooltip="go on from the kernel learned so far"),
        Binding("o", "output", "Next output", tooltip="the next output channel's kernels and sums"),
        Binding("n", "window(1)", "Move window", tooltip="the pooling window to the next output cell"),
        Binding("N", "window(-1)", "Back", show=False, tooltip="the pooling window to the previous output cell"),
        Binding("p", "play", "Play", tooltip="move the window over the whole input, and stop"),
    ]

    def __init__(self, dataset: str | None = None, data_dir: str | None = None) -> None:
        super().__init__()
        self.dataset = dataset if dataset and dataset not in ("synthetic-digits", "image-folder") else None
        self.data_dir = data_dir
        self.transposed = False
        self.images: dict[str, tuple] = {}  # choice -> (tensor, description)
        self.current = None  # (x, kernel, out) last computed
        self.learned = None  # the kernel learned so far (a tensor), for "more steps"
        self.steps_done = 0
        self.said: dict[str, tuple[str, bool]] = {}  # per group of tabs: its last message
        self.opened = {"convolve"}  # the groups computed as the fields change

    def compose(self) -> ComposeResult:
        yield Static(id="lab-title")
        with Horizontal(classes="lab-row"):
            yield Label("image", classes="field-label")
            yield Select(self.choices(), value="stripes", allow_blank=False, compact=True, id="lab-image")
            yield Label("kernel", classes="field-label")
            yield Select([(p, p) for p in PRESETS] + [("typed", "typed")], value="edge", allow_blank=False,
                         compact=True, id="lab-preset")
            yield KernelInput(value="1 -1", compact=True, id="lab-kernel")
        with Horizontal(classes="lab-row"):
            yield Label("padding", classes="field-label")
            yield NumberInput(value="0", compact=True, type="integer", id="lab-padding")
            yield Label("stride", classes="field-label")
            yield NumberInput(value="1", compact=True, type="integer", id="lab-stride")
            yield Label("steps", classes="field-label")
            yield NumberInput(value="10", compact=True, type="integer", id="lab-steps")
            yield Label("lr", classes="field-label")
            yield NumberInput(value="0.03", compact=True, type="number", id="lab-lr")
        with TabbedContent(id="lab-tabs"):
            with TabPane("1 Convolve", id="tab-convolve"):
                yield Static(id="lab-panels")
                yield Static(id="lab-formula")
            with TabPane("2 Learn", id="tab-learn"):
                yield LineChart("loss per step (squared error, summed)", [("loss", "cyan", "braille")],
                                integer_x=True, id="lab-loss")
                yield Static(id="lab-learned")
            with TabPane("3 Channels", id="tab-channels"):
                with Horizontal(classes="lab-row"):
                    yield Label("input", classes="field-label")
                    yield Select(self.choices("notes"), value="notes", allow_blank=False, compact=True,
                                 id="lab-ch-image")
                    yield Label("in", classes="field-label")
                    yield NumberInput(value="2", compact=True, type="integer", id="lab-ch-in")
                    yield Label("out", classes="field-label")
                    yield NumberInput(value="3", compact=True, type="integer", id="lab-ch-out")
                    yield Label("kernels", classes="field-label")
                    yield KernelInput(placeholder="0 1; 2 3 (+ i + o)", compact=True, id="lab-ch-kernels")
                yield ChannelsView(id="lab-channels")
            with TabPane("4 Pooling", id="tab-pooling"):
                with Horizontal(classes="lab-row"):
                    yield Label("input", classes="field-label")
                    yield Select(self.choices("notes", "notes-4x4"), value="notes", allow_blank=False, compact=True,
                                 id="lab-pool-image")
                    yield Label("window", classes="field-label")
                    yield SizeInput(value="2", compact=True, id="lab-pool-size")
                    yield Label("padding and stride: the fields above", classes="field-label")
                yield PoolingView(id="lab-pooling")
        yield Static(id="lab-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lab-title", Static).update(Text(
            "Convolution lab · nn.Conv2d by hand (d2l) · t transposes · l learns",
            no_wrap=True, overflow="ellipsis"))
        self.query_one("#lab-learned", Static).update(Text("l learns a fresh kernel of the kernel's shape from the "
                                                          "input and the output shown on tab 1."))
        self.say("Loading torch for the lab…")
        self.recompute()

    def choices(self, *notes: str) -> list[tuple[str, str]]:
        named = {"notes": "notes' 3x3", "notes-4x4": "notes' 4x4"}
        choices = [(named[n], n) for n in notes] + [("stripes", "stripes")]
        choices += [(f"digit #{i}", f"synthetic-digits:{i}") for i in range(IMAGES)]
        if self.dataset:
            choices += [(f"{self.dataset} #{i}", f"{self.dataset}:{i}") for i in range(IMAGES)]
        return choices

    # -- fields ---------------------------------------------------------------------------------------

    @property
    def group(self) -> str:
        return GROUP[self.query_one(TabbedContent).active or "tab-convolve"]

    def say(self, text: str, error: bool = False, group: str = "convolve") -> None:
        """The message line speaks for the tab shown: each group of tabs keeps its last message."""
        self.said[group] = (text, error)
        if group == self.group:
            line = self.query_one("#lab-message", Static)
            line.update(Text(text))
            line.set_class(error, "-error")

    def _int(self, field: str, lowest: int) -> int:
        text = self.query_one(f"#lab-{field}", NumberInput).value.strip()
        try:
            value = int(text)
        except ValueError:
            raise WorkbenchError(f"{field} must be a whole number, got {text!r}.") from None
        if value < lowest:
            raise WorkbenchError(f"{field} must be at least {lowest}, got {value}.")
        return value

    def settings(self) -> dict:
        try:
            lr = float(self.query_one("#lab-lr", NumberInput).value)
        except ValueError:
            raise WorkbenchError("lr must be a number.") from None
        return {"image": self.query_one("#lab-image", Select).value,
                "kernel": self.query_one("#lab-kernel", KernelInput).value,
                "padding": self._int("padding", 0), "stride": self._int("stride", 1),
                "steps": self._int("steps", 1), "lr": lr, "transposed": self.transposed}

    @on(Select.Changed, "#lab-preset")
    def _preset(self, event: Select.Changed) -> None:
        if event.value in PRESET_TEXT:
            text = PRESET_TEXT[event.value]
            field = self.query_one("#lab-kernel", KernelInput)
            if field.value != text:
                field.value = text  # its Changed recomputes
                return
        self.recompute()

    @on(KernelInput.Changed, "#lab-kernel")
    def _kernel_typed(self, event) -> None:
        preset = self.query_one("#lab-preset", Select)
        if PRESET_TEXT.get(preset.value) != event.value:
            preset.value = "typed"
        self.recompute()

    @on(Select.Changed, "#lab-image")
    def _changed(self) -> None:
        self.recompute()

    @on(NumberInput.Changed, "#lab-padding, #lab-stride")
    def _window_changed(self) -> None:
        self.recompute_all()

    @on(Select.Changed, "#lab-ch-image")
    @on(NumberInput.Changed, "#lab-ch-in, #lab-ch-out, #lab-ch-kernels")
    def _channels_changed(self) -> None:
        self.recompute_channels()

    @on(Select.Changed, "#lab-pool-image")
    @on(NumberInput.Changed, "#lab-pool-size")
    def _pooling_changed(self) -> None:
        self.recompute_pooling()

    @on(TabbedContent.TabActivated, "#lab-tabs")
    def _tab_shown(self) -> None:
        group = self.group
        if group not in self.opened:
            self.opened.add(group)
            self.say("Computing…", group=group)
            self.recompute_all()
        text, error = self.said.get(group, ("", False))
        self.say(text, error, group)
        self.refresh_bindings()

    def check_action(self, action: str, parameters) -> bool | None:
        """The keys of one tab work, and show in the footer, on that tab."""
        return action not in ONLY_ON or ONLY_ON[action] == self.group

    def recompute_all(self) -> None:
        for group in self.opened:
            {"convolve": self.recompute, "channels": self.recompute_channels,
             "pooling": self.recompute_pooling}[group]()

    # -- computing (thread workers: torch) -------------------------------------------------------------

    def _image(self, choice: str):
        from workbench.options import lab_input

        if choice not in self.images:
            self.images[choice] = lab_input(choice, self.data_dir)
        return self.images[choice]

    def compute(self, s: dict):
        """(input, kernel, output, description, formula) for these settings (in a worker: torch)."""
        from trainers import lab

        x, what = self._image(s["image"])
        if s["transposed"]:
            x, what = x.t().contiguous(), what + ", transposed"
        kernel = lab.parse_kernel(s["kernel"])
        out = lab.corr2d(x, kernel, s["padding"], s["stride"])
        formula = lab.shape_formula(x.shape[0], x.shape[1], tuple(kernel.shape), s["padding"], s["stride"])
        return x, kernel, out, what, formula

    @work(thread=True, exclusive=True, group="lab", exit_on_error=False)
    def recompute(self) -> None:
        try:
            result = self.compute(self.app.call_from_thread(self.settings))
        except (WorkbenchError, ValueError) as err:
            self.app.call_from_thread(self.say, str(err), True)
            return
        self.app.call_from_thread(self.show, *result)

    def show(self, x, kernel, out, what: str, formula: str) -> None:
        self.current = (x, kernel, out)
        width = max(20, (self.size.width - 14) // 2 - 4)
        height = max(4, self.size.height - 11)
        (h, w), (kh, kw), (oh, ow) = x.shape, kernel.shape, out.shape
        panels = [(f"input {h}x{w}", tensor_lines(x.numpy(), width, height)),
                  (f"kernel {kh}x{kw}", tensor_lines(kernel.numpy(), 24, height)),
                  (f"output {oh}x{ow}", tensor_lines(out.numpy(), width, height))]
        self.query_one("#lab-panels", Static).update(Text("\n".join(side_by_side(panels)), no_wrap=True))
        note = ("the output is all zeros: this kernel finds nothing here" if float(out.abs().max()) == 0
                else "brightness is |value|: 1 and -1 both show" if max(oh, ow) > 12 else "")
        self.query_one("#lab-formula", Static).update(Text(f"{formula}\n{note}", no_wrap=True, overflow="ellipsis"))
        self.say(f"{what} · kernel {kh}x{kw} · padding {self.query_one('#lab-padding', NumberInput).value} · stride "
                 f"{self.query_one('#lab-stride', NumberInput).value}")

    # -- channels and pooling (thread workers: torch) --------------------------------------------------

    def _stack(self, image: str, channels: int):
        from trainers import lab

        key = (image, channels)
        if key not in self.images:
            self.images[key] = lab.input_stack(image, channels, self.data_dir)
        x, what = self.images[key]
        return (x.transpose(1, 2).contiguous(), what + ", transposed") if self.transposed else (x, what)

    def channel_settings(self) -> dict:
        return {"image": self.query_one("#lab-ch-image", Select).value, "in": self._int("ch-in", 1),
                "out": self._int("ch-out", 1), "kernels": self.query_one("#lab-ch-kernels", KernelInput).value,
                "padding": self._int("padding", 0), "stride": self._int("stride", 1)}

    @work(thread=True, exclusive=True, group="channels", exit_on_error=False)
    def recompute_channels(self) -> None:
        from trainers import lab

        try:
            s = self.app.call_from_thread(self.channel_settings)
            stack, ci, _co, source = lab.kernel_stack(s["kernels"], s["in"], s["out"])
            import torch

            x, what = self._stack(s["image"], ci)
            sums = lab.channel_sums(x, torch.tensor(stack), s["padding"], s["stride"])
        except (WorkbenchError, ValueError) as err:
            self.app.call_from_thread(self.say, str(err), True, "channels")
            return
        self.app.call_from_thread(self.query_one(ChannelsView).show, sums, what)
        shape = "x".join(map(str, sums.kernels.shape))
        self.app.call_from_thread(self.say, f"K {shape} (out × in × h × w): {source}", False, "channels")

    def pooling_settings(self) -> dict:
        from trainers.lab import parse_pair

        return {"image": self.query_one("#lab-pool-image", Select).value,
                "size": parse_pair(self.query_one("#lab-pool-size", SizeInput).value, "window"),
                "padding": self._int("padding", 0), "stride": self._int("stride", 1)}

    @work(thread=True, exclusive=True, group="pooling", exit_on_error=False)
    def recompute_pooling(self) -> None:
        from trainers import lab

        try:
            s = self.app.call_from_thread(self.pooling_settings)
            x, what = self._stack(s["image"], 1)
            result = lab.pooled(x[0], s["size"], s["padding"], s["stride"])
        except (WorkbenchError, ValueError) as err:
            self.app.call_from_thread(self.say, str(err), True, "pooling")
            return
        self.app.call_from_thread(self.query_one(PoolingView).show, result, what)
        size = s["size"][0] if s["size"][0] == s["size"][1] else s["size"]
        self.app.call_from_thread(self.say, f"by hand, as nn.MaxPool2d and nn.AvgPool2d({size}, stride={s['stride']}, "
                                  f"padding={s['padding']})", False, "pooling")

    # -- keys ------------------------------------------------------------------------------------------

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = TABS[index]
        self.set_focus(None)

    def action_transpose(self) -> None:
        self.transposed = not self.transposed
        self.learned = None
        self.recompute_all()

    def action_output(self) -> None:
        self.query_one(ChannelsView).next_output()

    def action_window(self, step: int) -> None:
        self.query_one(PoolingView).move(step)

    def action_play(self) -> None:
        self.query_one(PoolingView).play()

    def action_learn(self) -> None:
        self.learned, self.steps_done = None, 0
        self.query_one("#lab-loss", LineChart).clear()
        self.action_tab(1)
        self.learn()

    def action_more(self) -> None:
        if self.learned is None:
            self.action_learn()
            return
        self.action_tab(1)
        self.learn()

    @work(thread=True, exclusive=True, group="learn", exit_on_error=False)
    def learn(self) -> None:
        try:
            s = self.app.call_from_thread(self.settings)
            from trainers import lab

            x, kernel, out, what, _formula = self.compute(s)  # what the fields say now, not a draw behind
            lowest = None
            for step in lab.learn_kernel(x, out, tuple(kernel.shape), s["steps"], s["lr"], s["padding"], s["stride"],
                                         start=self.learned):
                self.app.call_from_thread(self.learned_step, step, kernel)
                lowest = step.loss if lowest is None else min(lowest, step.loss)
                if not step.loss <= 4 * lowest + 1e-9:  # NaN, inf, or climbing: gradient descent overshoots
                    self.app.call_from_thread(self.say, f"The loss is growing ({lowest:.3g} -> {step.loss:.3g}): lr "
                                              f"{s['lr']:g} is too large for {what}; try {s['lr'] / 10:g}.", True)
                    return
            self.app.call_from_thread(self.say, f"Learned on {what}: m takes {s['steps']} more steps, l starts over.")
        except (WorkbenchError, ValueError) as err:
            self.app.call_from_thread(self.say, str(err), True)

    def learned_step(self, step, truth) -> None:
        import numpy as np

        self.steps_done += 1
        learned = np.array(step.kernel, dtype=np.float32)
        import torch

        self.learned = torch.tensor(learned)
        chart = self.query_one("#lab-loss", LineChart)
        chart.add("loss", self.steps_done, step.loss)
        gap = float(np.abs(learned - truth.numpy()).max())
        lines = side_by_side([("learned", tensor_lines(learned, 40, 9)), ("true", tensor_lines(truth.numpy(), 40, 9))])
        self.query_one("#lab-learned", Static).update(Text(
            "\n".join(lines) + f"\nstep {self.steps_done}: loss {step.loss:.4f} · largest difference {gap:.4f} · "
            f"m goes on", no_wrap=True))
