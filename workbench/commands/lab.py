"""`workbench lab`: the convolution lab on the terminal: an image, a kernel and their cross-correlation;
several channels in and out (--channels-in, --channels-out), the 1x1 convolution (--one-by-one), and max and
average pooling (--pool). Every setting is checked without torch first, so a bad one is one line at once."""

from __future__ import annotations

from trainers.errors import WorkbenchError

IMAGE_WIDTH = 28  # characters for a picture-sized panel


def lab(args) -> int:
    from trainers import lab as conv

    # before anything is printed, or torch imported
    padding, stride = conv.parse_pair(args.padding, "padding"), conv.parse_pair(args.stride, "stride")
    conv.check_window(padding, stride)
    lesson = _lesson(args)
    if lesson == "pool":
        return _pool(args, padding, stride)
    if lesson == "one-by-one":
        return _one_by_one(args, padding, stride)
    if lesson == "channels":
        return _channels(args, padding, stride)
    return _convolve(args, padding, stride)


def _lesson(args) -> str:
    """Which lesson the flags ask for; mixes that mean nothing are refused in one sentence."""
    channels = args.channels_in is not None or args.channels_out is not None or "|" in (args.kernel or "")
    if args.pool and args.one_by_one:
        raise WorkbenchError("--pool and --one-by-one are two lessons; give one of them.")
    if args.size is not None and not args.pool:
        raise WorkbenchError("--size is the pooling window: give --pool max or --pool avg with it.")
    if args.learn and (args.pool or args.one_by_one or channels):
        raise WorkbenchError("--learn learns one kernel on one channel: leave out --pool, --one-by-one and the "
                             "channel options.")
    if args.pool:
        if args.kernel is not None:
            raise WorkbenchError("pooling has a window, not a kernel: --size sets it.")
        if args.channels_out is not None:
            raise WorkbenchError("pooling keeps the channels as they are (one output per input channel): "
                                 "--channels-out is for convolution.")
        return "pool"
    return "one-by-one" if args.one_by_one else "channels" if channels else "convolve"


def _print_panels(panels) -> None:
    from workbench.render.grids import side_by_side

    for line in side_by_side(panels):
        print(line)


def _lines(values, width: int = IMAGE_WIDTH, height: int = 16) -> list[str]:
    from workbench.render.grids import tensor_lines

    return tensor_lines(values.detach().numpy() if hasattr(values, "detach") else values, width, height)


def _channel_panels(name: str, stack) -> list[tuple[str, list[str]]]:
    return [(f"{name}[{i}]", _lines(channel)) for i, channel in enumerate(stack)]


# -- one channel: the input, the kernel, their cross-correlation, and the kernel learned back ---------------


def _convolve(args, padding, stride) -> int:
    from trainers import lab as conv

    image = args.image or "stripes"
    if args.learn:
        conv.check_learning(args.steps, args.lr)
    rows = conv.kernel_named_rows(args.kernel or "edge")
    conv.output_shape(*_transposed(conv.input_size(image), args.transpose), (len(rows), len(rows[0])), padding,
                      stride)
    import torch

    x, what = conv.input_stack(image, 1, args.data_dir)
    x = x[0]
    if args.transpose:
        x, what = x.t().contiguous(), what + ", transposed"
    kernel = torch.tensor(rows)
    out = conv.corr2d(x, kernel, padding, stride)
    (h, w), (kh, kw), (oh, ow) = x.shape, kernel.shape, out.shape
    _print_panels([(f"input {h}x{w} ({what})", _lines(x, 36)), (f"kernel {kh}x{kw}", _lines(kernel, 30)),
                   (f"output {oh}x{ow}", _lines(out, 36))])
    print(f"\noutput shape: {conv.shape_formula(h, w, (kh, kw), padding, stride)}")
    if out.abs().max() == 0:
        print("the output is all zeros: this kernel finds nothing in this input")
    elif not (len(out) <= 12 and out.shape[1] <= 10):
        print("images: brightness is |value|, so an edge map's 1 and -1 both show")
    if not args.learn:
        return 0
    print(f"\nlearning a {kh}x{kw} kernel from the input and this output: {args.steps} steps, lr {args.lr:g}, "
          f"squared error summed")
    every = max(1, args.steps // 10)
    last, lowest = None, None
    for step in conv.learn_kernel(x, out, (kh, kw), args.steps, args.lr, padding, stride, args.seed):
        if step.step % every == 0 or step.step == args.steps:
            print(f"  step {step.step:4d}  loss {step.loss:.4f}")
        last = step
        lowest = step.loss if lowest is None else min(lowest, step.loss)
        if not step.loss <= 4 * lowest + 1e-9:
            raise WorkbenchError(f"the loss grew from {lowest:.3g} to {step.loss:.3g} by step {step.step}: lr "
                                 f"{args.lr:g} is too large for this input; try --lr {args.lr / 10:g}.")
    import numpy as np

    learned = np.array(last.kernel, dtype=np.float32)
    gap = float(np.abs(learned - kernel.numpy()).max())
    _print_panels([("learned", _lines(learned, 40)), ("true", _lines(kernel, 40))])
    print(f"largest difference from the true kernel: {gap:.4f}")
    return 0


def _transposed(size, transpose: bool):
    return (size[1], size[0]) if transpose else size


# -- several channels in and out ---------------------------------------------------------------------------


def _channels(args, padding, stride) -> int:
    from trainers import lab as conv

    image = args.image or "notes"
    stack, ci, co, source = conv.kernel_stack(args.kernel, args.channels_in, args.channels_out)
    h, w = _transposed(conv.input_size(image), args.transpose)
    kh, kw = len(stack[0][0]), len(stack[0][0][0])
    formula = conv.shape_formula(h, w, (kh, kw), padding, stride)
    import torch
    import torch.nn.functional as F

    x, what = conv.input_stack(image, ci, args.data_dir)
    if args.transpose:
        x, what = x.transpose(1, 2).contiguous(), what + ", transposed"
    k = torch.tensor(stack)
    y = conv.corr2d_multi_in_out(x, k, padding, stride)
    print(f"input X: {ci} channel{'s' * (ci > 1)} of {h}x{w} ({what})")
    _print_panels(_channel_panels("X", x))
    print(f"\nkernels K: {co} output × {ci} input channels of {kh}x{kw}, shape {tuple(k.shape)} ({source})")
    for o in range(co):
        print(f"\noutput channel {o}: the sum over the input channels of X[i] ⋆ K[{o},i]")
        parts = [conv.corr2d(x[i], k[o, i], padding, stride) for i in range(ci)]
        _print_panels([(f"K[{o},{i}]", _lines(k[o, i], 30)) for i in range(ci)]
                      + [(f"X[{i}]⋆K[{o},{i}]" + (" +" if i < ci - 1 else " ="), _lines(p)) for i, p in enumerate(parts)]
                      + [(f"Y[{o}]", _lines(y[o]))])
    oh, ow = y.shape[1:]
    print(f"\noutput Y: {co} channel{'s' * (co > 1)} of {oh}x{ow}")
    _print_panels(_channel_panels("Y", y))
    gap = float((F.conv2d(x[None], k, padding=padding, stride=stride)[0] - y).abs().max())
    print(f"\neach channel: {formula}")
    print(f"torch.nn.functional.conv2d(X, K) gives the same: largest difference {gap:.2g}")
    return 0


def _one_by_one(args, padding, stride) -> int:
    from trainers import lab as conv

    if padding != (0, 0) or stride != (1, 1):
        raise WorkbenchError("--one-by-one shows the 1x1 convolution as a matrix product, with no padding or stride.")
    stack, ci, co, _source = conv.kernel_stack(args.kernel, args.channels_in, args.channels_out, default=(3, 2))
    if not args.kernel:
        stack = None  # the notes' random kernels, drawn below
    elif (len(stack[0][0]), len(stack[0][0][0])) != (1, 1):
        raise WorkbenchError(f"a 1x1 convolution's kernels are 1x1; got {len(stack[0][0])}x{len(stack[0][0][0])}.")
    if args.image:
        conv.input_size(args.image)
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(args.seed)
    if args.image:
        x, what = conv.input_stack(args.image, ci, args.data_dir)
    else:
        x, what = torch.normal(0, 1, (ci, 3, 3), generator=g), f"normal(0, 1), seed {args.seed}, as the notes"
    k = torch.tensor(stack) if stack is not None else torch.normal(0, 1, (co, ci, 1, 1), generator=g)
    h, w = x.shape[1:]
    y = conv.corr2d_multi_in_out_1x1(x, k)
    print(f"input X: {ci} channel{'s' * (ci > 1)} of {h}x{w} ({what})")
    _print_panels(_channel_panels("X", x))
    print(f"\nkernels K: {co} output × {ci} input channels of 1x1, shape {tuple(k.shape)}: a {co}x{ci} matrix")
    print("\nY = K · X, X read as a matrix with one column per pixel:")
    panels = [(f"K as {co}x{ci}", _lines(k.reshape(co, ci), 40))]
    if h * w <= 10:
        panels.append((f"X as {ci}x{h * w}", _lines(x.reshape(ci, h * w), 80)))
    _print_panels(panels)
    if h * w <= 10:
        print()
        _print_panels([(f"K · X as {co}x{h * w}", _lines(y.reshape(co, h * w), 80))])
    else:
        print(f"(X as {ci}x{h * w} and K · X as {co}x{h * w}: too wide to print)")
    print(f"\noutput Y, reshaped to {co} channel{'s' * (co > 1)} of {h}x{w}")
    _print_panels(_channel_panels("Y", y))
    by_hand = float((conv.corr2d_multi_in_out(x, k) - y).abs().max())
    by_torch = float((F.conv2d(x[None], k)[0] - y).abs().max())
    print(f"\ncorr2d_multi_in_out(X, K) gives the same: largest difference {by_hand:.2g}; "
          f"F.conv2d: {by_torch:.2g}")
    print("a 1x1 kernel never looks at a neighbour: it mixes the channels at each pixel, a fully connected layer\n"
          "applied at every pixel with the channels as its features")
    return 0


# -- max and average pooling --------------------------------------------------------------------------------


def _pool(args, padding, stride) -> int:
    from trainers import lab as conv

    image = args.image or "notes"
    size = conv.parse_pair(args.size if args.size is not None else "2", "size")
    ci = 1 if args.channels_in is None else args.channels_in
    conv.check_channels(ci)
    h, w = _transposed(conv.input_size(image), args.transpose)
    conv.check_pool(h, w, size, padding, stride)
    formula = conv.shape_formula(h, w, size, padding, stride, what="pooling window")
    import numpy as np
    import torch

    from workbench.render.grids import number_lines, shows_numbers

    x, what = conv.input_stack(image, ci, args.data_dir)
    if args.transpose:
        x, what = x.transpose(1, 2).contiguous(), what + ", transposed"
    y = conv.pool2d(x, size, args.pool, padding, stride)
    (kh, kw), (ph, pw) = size, padding
    name = "max" if args.pool == "max" else "average"
    window = (f"{name} of", [" ".join("■" * kw)] * kh)
    if ci == 1:
        panels = [(f"input {h}x{w} ({what})", _lines(x[0], 36))]
        if (ph or pw) and shows_numbers(np.zeros((h + 2 * ph, w + 2 * pw))):
            padded = np.zeros((h + 2 * ph, w + 2 * pw), np.float32)
            padded[ph:ph + h, pw:pw + w] = x[0].numpy()
            blank = np.ones_like(padded, bool)
            blank[ph:ph + h, pw:pw + w] = False
            panels.append((f"padded {h + 2 * ph}x{w + 2 * pw}", number_lines(padded, blank)))
        oh, ow = y.shape[1:]
        _print_panels(panels + [(f"window {kh}x{kw}", window[1]), (f"{name} pooling {oh}x{ow}", _lines(y[0], 36))])
    else:
        print(f"input: {ci} channels of {h}x{w} ({what}); each is pooled on its own, the output has {ci} too")
        _print_panels(_channel_panels("X", x) + [(f"window {kh}x{kw}", window[1])])
        print()
        _print_panels(_channel_panels(f"{args.pool}", y))
    print(f"\noutput shape: {formula}")
    if ph or pw:
        print("padding is −∞ for max: never chosen" if args.pool == "max" else
              "padding counts as 0 in the mean: the sum is divided by the whole window, as nn.AvgPool2d's default "
              "count_include_pad=True does")
    layer = torch.nn.MaxPool2d if args.pool == "max" else torch.nn.AvgPool2d
    theirs = layer(size, stride=stride, padding=padding)(x[None])[0]
    gap = float((theirs - y).abs().max())
    call = f"nn.{layer.__name__}({_arg(size)}, stride={_arg(stride)}, padding={_arg(padding)})"
    print(f"{call} gives the same: largest difference {gap:.2g}")
    if args.stride == "1" and size != (1, 1):
        print(f"stride 1, as the notes' pool2d; nn.{layer.__name__}({_arg(size)}) steps by its window unless told "
              f"(--stride {args.size or 2} does)")
    return 0


def _arg(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"({pair[0]}, {pair[1]})"
