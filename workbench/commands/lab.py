"""`workbench lab`: the convolution lab on the terminal, an image, a kernel and their cross-correlation."""

from __future__ import annotations

from trainers.errors import WorkbenchError

from workbench.options import lab_input


def lab(args) -> int:
    from trainers import lab as conv

    from workbench.render.grids import side_by_side, tensor_lines

    conv.check_window(args.padding, args.stride)  # before anything is printed, or torch imported
    if args.learn:
        conv.check_learning(args.steps, args.lr)
    x, what = lab_input(args.image, args.data_dir, args.transpose)
    kernel = conv.kernel_named(args.kernel)
    out = conv.corr2d(x, kernel, args.padding, args.stride)
    (h, w), (kh, kw), (oh, ow) = x.shape, kernel.shape, out.shape
    width = 36
    panels = [(f"input {h}x{w} ({what})", tensor_lines(x.numpy(), width)),
              (f"kernel {kh}x{kw}", tensor_lines(kernel.numpy(), 30)),
              (f"output {oh}x{ow}", tensor_lines(out.numpy(), width))]
    for line in side_by_side(panels):
        print(line)
    print(f"\noutput shape: {conv.shape_formula(h, w, (kh, kw), args.padding, args.stride)}")
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
    for step in conv.learn_kernel(x, out, (kh, kw), args.steps, args.lr, args.padding, args.stride, args.seed):
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
    for line in side_by_side([("learned", tensor_lines(learned, 40)), ("true", tensor_lines(kernel.numpy(), 40))]):
        print(line)
    print(f"largest difference from the true kernel: {gap:.4f}")
    return 0
