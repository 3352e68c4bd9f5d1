"""The d2l convolution lessons as pure functions: cross-correlation by hand, the output-shape arithmetic of
padding and stride, kernel presets, the tutorial's stripes image, and a kernel learned by gradient descent.

    X = stripes()                       # 6x8, ones with a black band in columns 2-5
    Y = corr2d(X, KERNELS["edge"])      # [1, -1]: 1 and -1 at the vertical edges, nothing at horizontal ones
    for step in learn_kernel(X, Y, (1, 2), steps=10, lr=3e-2): print(step.step, step.loss)

`corr2d` is what nn.Conv2d computes (a cross-correlation, not a flipped convolution), written the way the
notes write it, one kernel offset at a time, so gradients flow through it; tests check it against
torch.nn.functional.conv2d.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from .errors import ConfigError

if TYPE_CHECKING:
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
                 stride: int | tuple[int, int] = 1) -> tuple[int, int]:
    """⌊(n − k + 2p) / s⌋ + 1 in each dimension; refuses, in one sentence, a kernel larger than the
    padded input or a stride below 1."""
    check_window(padding, stride)
    (kh, kw), (ph, pw), (sh, sw) = kernel, _pair(padding, "padding"), _pair(stride, "stride")
    if kh > height + 2 * ph or kw > width + 2 * pw:
        raise ConfigError(f"a {kh}x{kw} kernel does not fit a {height}x{width} input with padding {_said(padding)}; "
                          f"use a smaller kernel or more padding.")
    return (height - kh + 2 * ph) // sh + 1, (width - kw + 2 * pw) // sw + 1


def shape_formula(height: int, width: int, kernel: tuple[int, int], padding: int | tuple[int, int] = 0,
                  stride: int | tuple[int, int] = 1) -> str:
    """The arithmetic, as the notes write it: "(8 − 3 + 2·1) / 1 + 1 = 8" for each dimension."""
    oh, ow = output_shape(height, width, kernel, padding, stride)
    (kh, kw), (ph, pw), (sh, sw) = kernel, _pair(padding, "padding"), _pair(stride, "stride")

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
    return torch.tensor(values) / scale if scale != 1.0 else torch.tensor(values)


def kernel_named(name_or_values: str) -> torch.Tensor:
    import torch

    if name_or_values in KERNELS:
        return torch.tensor(KERNELS[name_or_values])
    if any(c.isdigit() for c in name_or_values):
        return parse_kernel(name_or_values)
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
