"""The d2l convolution lessons as pure functions: cross-correlation by hand, the output-shape arithmetic of
padding and stride, kernel presets, the tutorial's stripes image, a kernel learned by gradient descent, several
input and output channels, the 1x1 convolution as a matrix product, and max and average pooling.

    X = stripes()                       # 6x8, ones with a black band in columns 2-5
    Y = corr2d(X, KERNELS["edge"])      # [1, -1]: 1 and -1 at the vertical edges, nothing at horizontal ones
    for step in learn_kernel(X, Y, (1, 2), steps=10, lr=3e-2): print(step.step, step.loss)

`corr2d` is what nn.Conv2d computes (a cross-correlation, not a flipped convolution), written the way the
notes write it, one kernel offset at a time, so gradients flow through it; tests check it against
torch.nn.functional.conv2d.

    X, K = notes_input(2), torch.tensor(notes_kernels(2, 3))   # the notes' X (arange(9) + i) and K + i + o
    corr2d_multi_in_out(X, K)[0]        # [[56, 72], [104, 120]], as corr2d_multi_in(X, K[0])
    pool2d(X[0], (2, 2))                # [[4, 5], [7, 8]]; "avg": [[2, 3], [5, 6]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from .errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

# torch is imported by the functions that compute: the kernel names, the shape arithmetic and the checks
# of a lab's settings are what the command line and the picker read before anything is computed.

KERNELS: dict[str, list[list[float]]] = {
    "edge": [[1.0, -1.0]],  # d2l's vertical-edge detector
    "edge-transposed": [[1.0], [-1.0]],  # its transpose: horizontal edges
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]],
    "sobel-x": [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
    "sobel-y": [[-1.0, -2.0, -1.0], [0.0, 0.0, 0.0], [1.0, 2.0, 1.0]],
    "identity": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
}


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    a, b = (value, value) if isinstance(value, int) else tuple(value)
    return int(a), int(b)


def _said(value: int | tuple[int, int]) -> str:
    """A stride or padding as the user gave it: 0, not (0, 0)."""
    a, b = _pair(value, "")
    return str(a) if a == b else f"{a}x{b}"


def check_learning(steps: int, lr: float) -> None:
    """Refuse, in one sentence, what gradient descent on a kernel cannot do: no steps, or an lr that is not
    a positive number (a negative one climbs the loss)."""
    if steps < 1:
        raise ConfigError(f"steps must be at least 1, got {steps}.")
    if not lr > 0 or lr == float("inf"):
        raise ConfigError(f"lr must be a positive number, got {lr:g}.")


def check_window(padding: int | tuple[int, int] = 0, stride: int | tuple[int, int] = 1) -> None:
    """Refuse, in one sentence, a stride below 1 or a negative padding."""
    (ph, pw), (sh, sw) = _pair(padding, "padding"), _pair(stride, "stride")
    if min(sh, sw) < 1:
        raise ConfigError(f"stride must be at least 1, got {_said(stride)}.")
    if min(ph, pw) < 0:
        raise ConfigError(f"padding must be 0 or more, got {_said(padding)}.")


def output_shape(height: int, width: int, kernel: tuple[int, int], padding: int | tuple[int, int] = 0,
                 stride: int | tuple[int, int] = 1, what: str = "kernel") -> tuple[int, int]:
    """⌊(n − k + 2p) / s⌋ + 1 in each dimension; refuses, in one sentence, a kernel (or pooling window:
    `what`) larger than the padded input or a stride below 1."""
    check_window(padding, stride)
    (kh, kw), (ph, pw), (sh, sw) = _pair(kernel, what), _pair(padding, "padding"), _pair(stride, "stride")
    if kh > height + 2 * ph or kw > width + 2 * pw:
        raise ConfigError(f"a {kh}x{kw} {what} does not fit a {height}x{width} input with padding {_said(padding)}; "
                          f"use a smaller {what} or more padding.")
    return (height - kh + 2 * ph) // sh + 1, (width - kw + 2 * pw) // sw + 1


def shape_formula(height: int, width: int, kernel: tuple[int, int], padding: int | tuple[int, int] = 0,
                  stride: int | tuple[int, int] = 1, what: str = "kernel") -> str:
    """The arithmetic, as the notes write it: "(8 − 3 + 2·1) / 1 + 1 = 8" for each dimension."""
    oh, ow = output_shape(height, width, kernel, padding, stride, what)
    (kh, kw), (ph, pw), (sh, sw) = _pair(kernel, ""), _pair(padding, "padding"), _pair(stride, "stride")

    def one(n, k, p, s, out):
        ratio = f"({n} − {k} + 2·{p}) / {s}"
        return f"⌊{ratio}⌋ + 1 = {out}" if (n - k + 2 * p) % s else f"{ratio} + 1 = {out}"

    return f"height {one(height, kh, ph, sh, oh)}; width {one(width, kw, pw, sw, ow)} → {oh}x{ow}"


def corr2d(x: torch.Tensor, kernel: torch.Tensor, padding: int | tuple[int, int] = 0,
           stride: int | tuple[int, int] = 1) -> torch.Tensor:
    """2-D cross-correlation of a (H, W) input with a (kh, kw) kernel: the sum, over the kernel's
    positions, of each weight times the input shifted under it. Differentiable in both arguments."""
    if x.dim() != 2 or kernel.dim() != 2:
        raise ConfigError(f"corr2d takes a 2-D input and a 2-D kernel, got shapes {tuple(x.shape)} and "
                          f"{tuple(kernel.shape)}.")
    kh, kw = kernel.shape
    (ph, pw), (sh, sw) = _pair(padding, "padding"), _pair(stride, "stride")
    oh, ow = output_shape(x.shape[0], x.shape[1], (kh, kw), (ph, pw), (sh, sw))
    padded = x.new_zeros(x.shape[0] + 2 * ph, x.shape[1] + 2 * pw)
    padded[ph:ph + x.shape[0], pw:pw + x.shape[1]] = x
    out = x.new_zeros(oh, ow) * kernel.sum()  # carries the kernel's autograd history even for a 0 output
    for i in range(kh):
        for j in range(kw):
            window = padded[i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            out = out + kernel[i, j] * window
    return out


def stripes() -> torch.Tensor:
    """The notes' 6x8 image: ones, with a black vertical band in columns 2 to 5."""
    import torch

    x = torch.ones(6, 8)
    x[:, 2:6] = 0
    return x


def parse_kernel(text: str) -> torch.Tensor:
    """A kernel typed as rows: "1 -1", "1, -1", "1 0 -1; 2 0 -2; 1 0 -1" (rows split by ';' or newlines),
    optionally divided by a number at the end: "1 1 1; 1 1 1; 1 1 1 / 9"."""
    import torch

    return torch.tensor(kernel_rows(text))


def kernel_rows(text: str) -> list[list[float]]:
    """parse_kernel's numbers as lists, without torch: what the command line checks before computing."""
    text, _, divisor = text.partition("/")
    try:
        scale = float(divisor) if divisor.strip() else 1.0
    except ValueError:
        raise ConfigError(f"a kernel's divisor (after '/') must be a number; got {divisor.strip()!r}.") from None
    if scale == 0:
        raise ConfigError("a kernel cannot be divided by 0.")
    rows = [r for r in text.replace("\n", ";").split(";") if r.strip()]
    try:
        values = [[float(v) for v in r.replace(",", " ").split()] for r in rows]
    except ValueError:
        raise ConfigError(f"a kernel is rows of numbers, e.g. '1 -1' or '0 1 0; 1 -4 1; 0 1 0'; got {text!r}.") \
            from None
    if not values or any(len(r) != len(values[0]) for r in values) or not values[0]:
        raise ConfigError(f"a kernel's rows must all have the same number of values; got {text!r}.")
    if len(values) > 9 or len(values[0]) > 9:
        raise ConfigError("a kernel of at most 9x9 values, please.")
    return [[v / scale for v in row] for row in values] if scale != 1.0 else values


def kernel_named(name_or_values: str) -> torch.Tensor:
    import torch

    return torch.tensor(kernel_named_rows(name_or_values))


def kernel_named_rows(name_or_values: str) -> list[list[float]]:
    """A preset's or typed kernel's numbers as lists, without torch."""
    if name_or_values in KERNELS:
        return KERNELS[name_or_values]
    if any(c.isdigit() for c in name_or_values):
        return kernel_rows(name_or_values)
    raise ConfigError(f"unknown kernel {name_or_values!r}; one of {', '.join(KERNELS)}, or numbers like '1 -1'.")


def test_image(dataset: str = "synthetic-digits", index: int = 0, data_dir: str | None = None) -> tuple[torch.Tensor, str]:
    """Test image `index` of a dataset as a (H, W) float tensor in 0..1 (grey), and its label."""
    import torch

    from .data.registry import DATASETS, load

    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}.")
    shape = DATASETS[dataset].shape or (1, 28, 28)
    extra = {"train_size": 10, "test_size": max(64, index + 1)} if dataset == "synthetic-digits" else {}
    data = load(dataset, input_shape=shape, data_dir=data_dir, download=False, extra=extra)
    if data.test_x is not None:
        n = data.test_x.shape[0]
        if not 0 <= index < n:
            raise ConfigError(f"{dataset} has test images 0 to {n - 1}; got {index}.")
        x, y = data.test_x[index], int(data.test_y[index])
    else:
        n = len(data.test_dataset)
        if not 0 <= index < n:
            raise ConfigError(f"{dataset} has test images 0 to {n - 1}; got {index}.")
        x, y = data.test_dataset[index]
        x = (x * 255).to(torch.uint8) if x.dtype != torch.uint8 else x
    grey = x.float().mean(0) / 255.0  # colour images: the mean of the channels
    return grey, data.classes[int(y)]


@dataclass(frozen=True)
class KernelStep:
    step: int  # 1-based
    loss: float  # the summed squared error of this step's output, before the update
    kernel: tuple[tuple[float, ...], ...]  # the kernel after the update


def learn_kernel(x: torch.Tensor, target: torch.Tensor, shape: tuple[int, int], steps: int = 10, lr: float = 3e-2,
                 padding: int = 0, stride: int = 1, seed: int = 0,
                 start: torch.Tensor | None = None) -> Iterator[KernelStep]:
    """Gradient descent on a fresh kernel until corr2d(x, kernel) matches `target`, as the notes do it: a
    randomly initialised kernel (nn.Conv2d's own initialisation, seeded), squared error summed, the weight
    moved by lr × its gradient. `start` continues from a kernel already learned."""
    import torch

    check_learning(steps, lr)
    if start is None:
        torch.manual_seed(seed)
        start = torch.nn.Conv2d(1, 1, kernel_size=tuple(shape), bias=False).weight.detach()[0, 0]
    kernel = start.clone().requires_grad_(True)
    for step in range(1, steps + 1):
        out = corr2d(x, kernel, padding, stride)
        if out.shape != target.shape:
            raise ConfigError(f"the target is {tuple(target.shape)} but a {tuple(shape)} kernel gives "
                              f"{tuple(out.shape)}.")
        loss = ((out - target) ** 2).sum()
        kernel.grad = None
        loss.backward()
        with torch.no_grad():
            kernel -= lr * kernel.grad
        yield KernelStep(step, float(loss.detach()), tuple(tuple(float(v) for v in row) for row in kernel.detach()))


# ------------------------------------------------------------------ several channels, 1x1 convolutions, pooling

NOTES_X = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]  # d2l's X: arange(9) as 3x3; channel i is X + i
NOTES_K = [[0.0, 1.0], [2.0, 3.0]]  # d2l's K; for input channel i and output channel o the notes use K + i + o
MAX_CHANNELS = 8
NOTES_IMAGES = {"notes": (3, 3), "notes-4x4": (4, 4)}  # arange(9) and arange(16), the pooling examples' inputs


def parse_pair(value: int | str | tuple[int, int], name: str) -> tuple[int, int]:
    """A size, padding or stride as given: 2, "2", "2x3" (height x width) or (2, 3)."""
    if isinstance(value, str):
        parts = value.lower().replace(" ", "").split("x")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2):
            raise ConfigError(f"{name} is a whole number or HxW (e.g. 2 or 2x3); got {value!r}.")
        return (numbers[0], numbers[-1])
    return _pair(value, name)


def kernel_stack_rows(text: str) -> list[list[list[list[float]]]]:
    """A kernel stack typed by hand, as (out, in, kh, kw) lists: each input channel's kernel as parse_kernel
    reads one, '|' between input channels, '||' between output channels: "0 1; 2 3 | 1 2; 3 4"."""
    stack = [[kernel_rows(k) for k in out.split("|")] for out in text.split("||")]
    shapes = {(len(k), len(k[0])) for out in stack for k in out}
    if len(shapes) > 1:
        said = " and ".join(f"{h}x{w}" for h, w in sorted(shapes))
        raise ConfigError(f"the kernels of a stack must all have one shape; got {said}.")
    if len({len(out) for out in stack}) > 1:
        raise ConfigError("each output channel needs one kernel per input channel; the stack's output channels "
                          f"have {', '.join(str(len(out)) for out in stack)}.")
    return stack


def notes_kernels(channels_in: int, channels_out: int,
                  base: list[list[float]] | None = None) -> list[list[list[list[float]]]]:
    """The notes' kernel stack: K + i for input channel i, K + i + o for output channel o (K = [[0, 1], [2, 3]]
    unless `base` is given). (out, in, kh, kw) lists."""
    base = NOTES_K if base is None else base
    return [[[[v + i + o for v in row] for row in base] for i in range(channels_in)] for o in range(channels_out)]


def kernel_stack(text: str | None, channels_in: int | None = None, channels_out: int | None = None,
                 default: tuple[int, int] = (2, 1)) -> tuple[list, int, int, str]:
    """(stack as (out, in, kh, kw) lists, channels in, channels out, where it came from), checked without torch.
    A typed stack ('|' between input channels, '||' between output channels) says its own channel counts unless
    they are given; one kernel K (a preset or typed), or none (the notes' [[0, 1], [2, 3]]), makes the notes'
    stack K + i + o for the channels given (`default` when not)."""
    if text and "|" in text:
        stack = kernel_stack_rows(text)
        shape = (len(stack), len(stack[0]), len(stack[0][0]), len(stack[0][0][0]))
        ci = shape[1] if channels_in is None else channels_in
        check_channels(ci, channels_out, shape)
        return stack, ci, shape[0], "typed"
    ci = default[0] if channels_in is None else channels_in
    co = default[1] if channels_out is None else channels_out
    check_channels(ci, co)
    if text and text.strip():
        return notes_kernels(ci, co, kernel_named_rows(text.strip())), ci, co, f"{text.strip()} + i + o, as the notes do"
    return notes_kernels(ci, co), ci, co, "the notes' K + i + o"


def check_channels(channels_in: int, channels_out: int | None = None,
                   stack: tuple[int, int, int, int] | None = None) -> None:
    """Refuse, in one sentence, channel counts out of 1..8, or a kernel stack (out, in, kh, kw) whose input
    channels are not the input's or whose output channels are not the ones asked for."""
    for name, n in (("channels-in", channels_in), ("channels-out", channels_out)):
        if n is not None and not 1 <= n <= MAX_CHANNELS:
            raise ConfigError(f"{name} must be 1 to {MAX_CHANNELS}, got {n}.")
    if stack is None:
        return
    co, ci = stack[0], stack[1]
    if ci != channels_in:
        raise ConfigError(f"the kernel stack has {ci} input channel{'s' * (ci != 1)} but the input has "
                          f"{channels_in}: give one kernel per input channel.")
    if channels_out is not None and co != channels_out:
        raise ConfigError(f"the kernel stack makes {co} output channel{'s' * (co != 1)}, not the "
                          f"{channels_out} asked for.")


def check_pool(height: int, width: int, size: int | tuple[int, int], padding: int | tuple[int, int] = 0,
               stride: int | tuple[int, int] = 1) -> tuple[int, int]:
    """The pooled output's (height, width); refuses, in one sentence, a window below 1x1, a stride below 1, a
    window larger than the padded input, or padding over half the window (torch's pooling refuses it too: a
    window could then hold padding alone)."""
    (kh, kw), (ph, pw) = _pair(size, "size"), _pair(padding, "padding")
    if min(kh, kw) < 1:
        raise ConfigError(f"a pooling window is at least 1x1, got {_said(size)}.")
    shape = output_shape(height, width, (kh, kw), padding, stride, what="pooling window")
    if ph > kh // 2 or pw > kw // 2:
        raise ConfigError(f"padding {_said(padding)} is over half a {kh}x{kw} window; torch allows at most "
                          f"{_said((kh // 2, kw // 2))}.")
    return shape


def pool_window(i: int, j: int, size: int | tuple[int, int],
                stride: int | tuple[int, int] = 1) -> tuple[tuple[int, int], tuple[int, int]]:
    """Output cell (i, j)'s window in the padded input: ((first row, last row + 1), (first col, last col + 1))."""
    (kh, kw), (sh, sw) = _pair(size, "size"), _pair(stride, "stride")
    return (i * sh, i * sh + kh), (j * sw, j * sw + kw)


def parse_image(image: str) -> tuple[str, int]:
    """"DATASET[:N]" as (name, N); the named inputs as (name, 0)."""
    name, _, index = image.partition(":")
    try:
        return name, int(index) if index else 0
    except ValueError:
        raise ConfigError(f"--image {image}: the part after ':' is a test image's number.") from None


def input_size(image: str) -> tuple[int, int]:
    """(height, width) of a lab input, without loading it: notes, notes-4x4, stripes or DATASET[:N]."""
    from .data.registry import DATASETS

    name, _ = parse_image(image)
    if name in NOTES_IMAGES:
        return NOTES_IMAGES[name]
    if name == "stripes":
        return (6, 8)
    if name not in DATASETS or DATASETS[name].shape is None:
        known = [n for n, d in DATASETS.items() if d.shape is not None]
        raise ConfigError(f"unknown image {image!r}; one of notes, notes-4x4, stripes, or {', '.join(known)}[:N].")
    return DATASETS[name].shape[1:]


def input_stack(image: str = "notes", channels: int = 2, data_dir: str | None = None) -> tuple[torch.Tensor, str]:
    """A (channels, H, W) input and what it is: as the notes build X, channel i is the image + i (notes: arange(9)
    as 3x3, notes-4x4: arange(16), stripes); a dataset's channels are its test images N, N + 1, ..."""
    import torch

    check_channels(channels)
    name, n = parse_image(image)
    if name in NOTES_IMAGES or name == "stripes":
        h, w = input_size(name)
        base = stripes() if name == "stripes" else torch.arange(h * w, dtype=torch.float32).reshape(h, w)
        what = {"notes": "the notes' X, arange(9)", "notes-4x4": "arange(16)", "stripes": "stripes"}[name]
        return torch.stack([base + i for i in range(channels)]), what + (" + channel" if channels > 1 else "")
    pictures = [test_image(name, n + i, data_dir) for i in range(channels)]
    labels = ", ".join(label for _x, label in pictures)
    what = f"{name} #{n}" + (f"-{n + channels - 1}" if channels > 1 else "") + f", {labels}"
    return torch.stack([x for x, _label in pictures]), what


def corr2d_multi_in(x: torch.Tensor, kernels: torch.Tensor, padding: int | tuple[int, int] = 0,
                    stride: int | tuple[int, int] = 1) -> torch.Tensor:
    """Several input channels: x (ci, H, W), kernels (ci, kh, kw); the sum over input channels of each channel's
    cross-correlation with its own kernel, as the notes write it. One output channel."""
    if x.dim() != 3 or kernels.dim() != 3:
        raise ConfigError(f"corr2d_multi_in takes a (channels, H, W) input and a (channels, kh, kw) kernel stack, "
                          f"got shapes {tuple(x.shape)} and {tuple(kernels.shape)}.")
    check_channels(x.shape[0], None, (1, *kernels.shape))  # zip would quietly drop the extra channels
    return sum(corr2d(xi, ki, padding, stride) for xi, ki in zip(x, kernels))


def corr2d_multi_in_out(x: torch.Tensor, kernels: torch.Tensor, padding: int | tuple[int, int] = 0,
                        stride: int | tuple[int, int] = 1) -> torch.Tensor:
    """Several output channels: kernels (co, ci, kh, kw), one stack of ci kernels per output channel; the
    outputs stacked, (co, oh, ow). What F.conv2d(x[None], kernels)[0] computes."""
    import torch

    if kernels.dim() != 4:
        raise ConfigError(f"corr2d_multi_in_out takes an (out, in, kh, kw) kernel stack, got shape "
                          f"{tuple(kernels.shape)}.")
    check_channels(x.shape[0], None, tuple(kernels.shape))
    return torch.stack([corr2d_multi_in(x, k, padding, stride) for k in kernels], 0)


def corr2d_multi_in_out_1x1(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution as the notes read it, a fully connected layer at every pixel: x (ci, H, W) as a
    (ci, H·W) matrix, one column per pixel; kernels (co, ci, 1, 1) as a (co, ci) matrix; their product,
    (co, H·W), reshaped to (co, H, W)."""
    import torch

    if kernels.dim() != 4 or tuple(kernels.shape[2:]) != (1, 1):
        raise ConfigError(f"a 1x1 convolution takes an (out, in, 1, 1) kernel stack, got shape {tuple(kernels.shape)}.")
    check_channels(x.shape[0], None, tuple(kernels.shape))
    c_i, h, w = x.shape
    c_o = kernels.shape[0]
    y = torch.matmul(kernels.reshape(c_o, c_i), x.reshape(c_i, h * w))
    return y.reshape(c_o, h, w)


def pool2d(x: torch.Tensor, pool_size: int | tuple[int, int], mode: str = "max", padding: int | tuple[int, int] = 0,
           stride: int | tuple[int, int] = 1) -> torch.Tensor:
    """Max or average pooling by hand, as the notes write it: each output cell is the maximum or the mean of its
    window. A (H, W) input, or (C, H, W), each channel pooled on its own. The window may be rectangular, with
    its own padding and stride in each dimension; the stride is 1 by default, as in the notes' pool2d
    (nn.MaxPool2d and nn.AvgPool2d step by their window unless told). Padding is -inf for max (never chosen)
    and 0 for average, counted in the mean, as torch's default count_include_pad=True does."""
    import torch

    if mode not in ("max", "avg"):
        raise ConfigError(f"pooling is max or avg, got {mode!r}.")
    if x.dim() == 3:
        return torch.stack([pool2d(channel, pool_size, mode, padding, stride) for channel in x])
    if x.dim() != 2:
        raise ConfigError(f"pool2d takes a (H, W) or (channels, H, W) input, got shape {tuple(x.shape)}.")
    (h, w), (ph, pw) = x.shape, _pair(padding, "padding")
    oh, ow = check_pool(h, w, pool_size, padding, stride)
    padded = x.new_full((h + 2 * ph, w + 2 * pw), float("-inf") if mode == "max" else 0.0)
    padded[ph:ph + h, pw:pw + w] = x
    y = x.new_zeros(oh, ow)
    for i in range(oh):
        for j in range(ow):
            (r0, r1), (c0, c1) = pool_window(i, j, pool_size, stride)
            window = padded[r0:r1, c0:c1]
            y[i, j] = window.max() if mode == "max" else window.mean()
    return y


# -------------------------------------------------------------------- worked out, as plain arrays for a viewer


@dataclass(frozen=True)
class ChannelSums:
    """A cross-correlation over several channels, worked out: numpy arrays, no live tensors."""

    x: np.ndarray  # (ci, H, W)
    kernels: np.ndarray  # (co, ci, kh, kw)
    parts: np.ndarray  # (co, ci, oh, ow): X[i] ⋆ K[o, i], before the sum over i
    y: np.ndarray  # (co, oh, ow) = corr2d_multi_in_out(x, kernels)
    formula: str  # each output channel's shape arithmetic


def channel_sums(x: torch.Tensor, kernels: torch.Tensor, padding: int | tuple[int, int] = 0,
                 stride: int | tuple[int, int] = 1) -> ChannelSums:
    import torch

    y = corr2d_multi_in_out(x, kernels, padding, stride)
    parts = torch.stack([torch.stack([corr2d(xi, k, padding, stride) for xi, k in zip(x, ko)]) for ko in kernels])
    formula = shape_formula(x.shape[1], x.shape[2], tuple(kernels.shape[2:]), padding, stride)
    return ChannelSums(x.numpy(), kernels.numpy(), parts.numpy(), y.numpy(), formula)


@dataclass(frozen=True)
class Pooled:
    """One channel max- and average-pooled with the same window: numpy arrays, no live tensors."""

    x: np.ndarray  # (H, W)
    y_max: np.ndarray  # (oh, ow)
    y_avg: np.ndarray
    size: tuple[int, int]
    padding: tuple[int, int]
    stride: tuple[int, int]
    formula: str


def pooled(x: torch.Tensor, size: int | tuple[int, int], padding: int | tuple[int, int] = 0,
           stride: int | tuple[int, int] = 1) -> Pooled:
    size, padding, stride = _pair(size, "size"), _pair(padding, "padding"), _pair(stride, "stride")
    check_pool(x.shape[0], x.shape[1], size, padding, stride)
    y_max, y_avg = (pool2d(x, size, mode, padding, stride) for mode in ("max", "avg"))
    formula = shape_formula(x.shape[0], x.shape[1], size, padding, stride, what="pooling window")
    return Pooled(x.numpy(), y_max.numpy(), y_avg.numpy(), size, padding, stride, formula)
