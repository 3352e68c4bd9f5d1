"""The convolution lab: an input, a kernel and their cross-correlation side by side, the output's shape with
the arithmetic that gives it, and a kernel learned back from the input and the output by gradient descent.

The computation is trainers.lab (torch), done in thread workers; this screen only draws characters.
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
from workbench.widgets.pick.hyperparams import NumberInput
from workbench.widgets.shared.charts import LineChart

PRESETS = tuple(KERNELS)
PRESET_TEXT = {"edge": "1 -1", "edge-transposed": "1; -1", "blur": "1 1 1; 1 1 1; 1 1 1 / 9",
               "sharpen": "0 -1 0; -1 5 -1; 0 -1 0", "sobel-x": "-1 0 1; -2 0 2; -1 0 1",
               "sobel-y": "-1 -2 -1; 0 0 0; 1 2 1", "identity": "0 0 0; 0 1 0; 0 0 0"}
IMAGES = 8  # test images offered per dataset


class KernelInput(NumberInput):
    """The kernel's numbers, rows split by ';': letters are left to the screen's keys."""

    NUMBER_CHARACTERS = frozenset("0123456789.eE+- ;,")


class LabScreen(Screen):
    BINDINGS = [
        Binding("b,escape", "app.pop_screen", "Back", tooltip="back to the picker"),
        Binding("1", "tab(0)", "Convolve", tooltip="input, kernel and output side by side"),
        Binding("2", "tab(1)", "Learn", tooltip="the kernel learned back from the input and output"),
        Binding("t", "transpose", "Transpose", tooltip="transpose the input: the edge kernel then finds nothing"),
        Binding("l", "learn", "Learn", tooltip="gradient descent on a fresh kernel (steps and lr from the fields)"),
        Binding("m", "more", "More steps", tooltip="go on from the kernel learned so far"),
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

    def compose(self) -> ComposeResult:
        yield Static(id="lab-title")
        with Horizontal(classes="lab-row"):
            yield Label("image", classes="field-label")
            choices = [("stripes", "stripes")] + [(f"digit #{i}", f"synthetic-digits:{i}") for i in range(IMAGES)]
            if self.dataset:
                choices += [(f"{self.dataset} #{i}", f"{self.dataset}:{i}") for i in range(IMAGES)]
            yield Select(choices, value="stripes", allow_blank=False, compact=True, id="lab-image")
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

    # -- fields ---------------------------------------------------------------------------------------

    def say(self, text: str, error: bool = False) -> None:
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
    @on(NumberInput.Changed, "#lab-padding, #lab-stride")
    def _changed(self) -> None:
        self.recompute()

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

    # -- keys ------------------------------------------------------------------------------------------

    def action_tab(self, index: int) -> None:
        self.query_one(TabbedContent).active = ("tab-convolve", "tab-learn")[index]
        self.set_focus(None)

    def action_transpose(self) -> None:
        self.transposed = not self.transposed
        self.learned = None
        self.recompute()

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
