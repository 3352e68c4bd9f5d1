"""The headless subcommands. Output is for people on a terminal and for log files when piped: a rich
progress display on a TTY, one plain line per epoch otherwise (no control characters)."""

from __future__ import annotations

import csv
import itertools
import sys
from pathlib import Path

from trainers.errors import WorkbenchError

from .run_commands import attach, compare, runs, stop, train  # noqa: F401 - the run subcommands


def _fmt_acc(value: float | None) -> str:
    return "" if value is None else f" acc {value * 100:6.2f}%"


def models(args) -> int:
    from trainers.models import MODELS

    width = max(map(len, MODELS))
    for spec in MODELS.values():
        shape = "x".join(map(str, spec.input_shape))
        print(f"{spec.name:<{width}}  {spec.task:<11} {shape:<9} seed {spec.seed}  {spec.description}")
    print("\nyour own: --model path/to/file.py:ClassName (an nn.Module subclass or a function returning one)")
    return 0


def datasets(args) -> int:
    from trainers.data import DATASETS, availability, resolve_data_dir, search_paths

    width = max(map(len, DATASETS))
    for name, info in DATASETS.items():
        a = availability(name, args.data_dir)
        shape = "x".join(map(str, info.shape)) if info.shape else "any"
        print(f"{name:<{width}}  {a.state:<8} {shape:<7} {info.description}")
        print(f"{'':<{width}}  {a.message}")
        if info.needs_files and name != "image-folder":
            print(f"{'':<{width}}  looked in: {', '.join(str(p) for p in search_paths(name, args.data_dir))}")
    print(f"\ndata directory: {resolve_data_dir(args.data_dir)} (--data-dir, or $WORKBENCH_DATA)")
    return 0


def plain_console():
    """Rich output that never wraps a line when it is not on a terminal (piped, redirected): the printed
    model stays one module per line, as print(model) writes it."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, soft_wrap=True, width=10_000)


def inspect(args) -> int:
    from rich.table import Table

    from trainers.config import parse_layer_init
    from trainers.inspection import build, inspect_model, load_params, save_params

    console = plain_console()
    if args.show_file:
        return _show_file(console, args.show_file)
    for item in args.layer_init:
        parse_layer_init(item)
    config = _cost_config(args) if args.dataset else None  # a bad --batch-size fails before any output
    net, shape = build(args.model, args.dataset, args.init, args.layer_init, args.freeze)
    if args.load_params:
        load_params(net, args.load_params, args.model)
    r = inspect_model(net, shape, name=args.model)
    console.print(f"[bold]{r.model}[/]  input {'x'.join(map(str, r.input_shape))}\n")
    console.print(r.summary, markup=False)
    params = Table(title="named parameters", title_justify="left")
    for col in ("name", "shape", "count", "train", "mean", "std", "first values"):
        # the names are what the table is for: at 80 columns they fold onto a second line, never "net.5.weig…"
        params.add_column(col, justify="right" if col in ("count", "mean", "std") else "left", overflow="fold")
    for p in r.parameters:
        name = p.name + (f"  (shared with {p.shared_with})" if p.shared_with else "")
        params.add_row(name, "x".join(map(str, p.shape)), f"{p.count:,}", "yes" if p.trainable else "no",
                       f"{p.mean:+.4f}", f"{p.std:.4f}", ", ".join(f"{v:+.4f}" for v in p.first))
    console.print(params)
    console.print(f"total parameters: {r.total:,}   trainable: {r.trainable:,}   "
                  f"non-trainable: {r.total - r.trainable:,}\n")
    shapes = Table(title=f"output shape per layer for a 1x{'x'.join(map(str, r.input_shape))} input",
                   title_justify="left")
    for col in ("layer", "type", "output", "params"):
        shapes.add_column(col, justify="right" if col == "params" else "left")
    for layer in r.layers:
        shapes.add_row(layer.name, layer.kind, "x".join(map(str, layer.output_shape)), f"{layer.params:,}")
    console.print(shapes)
    if config is not None:
        _print_cost(console, config, args.no_time)
    if args.load_params:
        console.print(f"parameters loaded from {args.load_params}")
    if args.save_params:
        save_params(net, args.save_params)
        console.print(f"saved {len(net.state_dict())} tensors (state_dict) to {args.save_params}; "
                      f"`workbench inspect {args.model} --load-params {args.save_params}` loads them")
    if args.save_tensor:
        _save_tensor(net, *args.save_tensor)
        console.print(f"saved {args.save_tensor[0]} to {args.save_tensor[1]}")
    return 0


def _cost_config(args):
    from trainers.config import RunConfig

    config = RunConfig(model=args.model, dataset=args.dataset, batch_size=args.batch_size, epochs=args.epochs,
                       device=args.device, data_dir=args.data_dir, init=args.init, layer_init=list(args.layer_init),
                       freeze=list(args.freeze), download=False)
    config.validate()
    return config


def _print_cost(console, config, no_time: bool) -> None:
    """The cost before training: the static figures, then a timed dry run unless --no-time."""
    from trainers.cost import format_cost, static_cost, timed_cost

    cost = static_cost(config)
    note = "timing skipped (--no-time)"
    if not no_time:
        try:
            cost = timed_cost(cost, config)
            note = cost.timing_note
        except WorkbenchError as err:  # the static figures still stand
            note = f"not timed: {err}"
    console.print("\n[bold]Cost[/] (mult-adds and memory as torchinfo counts them; activations: the outputs of "
                  "layers with parameters, kept for the backward pass)")
    console.print(f"parameters: {cost.params:,}, {cost.trainable:,} trainable", markup=False)
    for line in format_cost(cost):
        console.print(line, markup=False)
    if cost.batches_per_epoch is not None and cost.seconds_per_epoch is not None:
        console.print(f"an epoch: {cost.batches_per_epoch:,} batches of {cost.batch_size} + {cost.eval_samples:,} "
                      f"test samples", markup=False)
    if cost.sizes_note:
        console.print(f"dataset sizes: {cost.sizes_note}", markup=False)
    console.print(note + (f" (median of {cost.timed_steps} steps)" if cost.timed_steps else ""), markup=False)


def _save_tensor(net, name: str, path: str) -> None:
    import torch

    tensors = dict(net.named_parameters())
    tensors.update(dict(net.named_buffers()))
    if name not in tensors:
        shown = ", ".join(list(tensors)[:10])
        raise WorkbenchError(f"the model has no tensor named {name!r}; its tensors: {shown}.")
    try:
        torch.save(tensors[name].detach().cpu().clone(), path)
    except OSError as err:
        raise WorkbenchError(f"could not write {path}: {err.strerror or err}.") from None


def _show_file(console, path: str) -> int:
    import torch

    from trainers.inspection import load_file

    value = load_file(path)
    if isinstance(value, dict) and value.get("format") == "workbench-checkpoint":
        value = value.get("model_state")
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, (list, tuple)) else [("tensor", value)])
    console.print(f"{path}: {type(value).__name__}")
    for key, v in items:
        if isinstance(v, torch.Tensor):
            flat = v.detach().float().reshape(-1)
            first = ", ".join(f"{x:g}" for x in flat[:6].tolist()) + (", ..." if flat.numel() > 6 else "")
            console.print(f"  {key}: {'x'.join(map(str, v.shape)) or 'scalar'} {str(v.dtype).replace('torch.', '')}"
                          f"  [{first}]", markup=False)
        else:
            console.print(f"  {key}: {type(v).__name__} {v!r}"[:200], markup=False)
    return 0


def _check_out(out: str) -> None:
    """The CSV's path can be written: checked before the model loads, so a typo costs no time."""
    path = Path(out).expanduser()
    if path.is_dir():
        raise WorkbenchError(f"--out {out} is a folder; give a file name such as {path / 'predictions.csv'}.")
    if not path.parent.is_dir():
        raise WorkbenchError(f"--out {out}: the folder {path.parent} does not exist.")


def predict(args) -> int:
    from trainers.predict import Labelled, predict_folder
    from trainers.runs import find_run

    _check_out(args.out)
    try:
        args.run = str(find_run(args.run))
    except WorkbenchError:
        if not Path(args.run).expanduser().exists():
            raise  # neither a run nor a file: "no run named ..."
        # a checkpoint file elsewhere; predict_folder says what is wrong with it
    written = skipped = 0
    try:
        rows = predict_folder(args.run, args.images, model=args.model)
        first = next(rows)  # raises early for a bad run or folder, before the CSV is created
    except StopIteration:
        first = None
    try:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(["file", "label", "class", "probability"])
            for row in itertools.chain([first] if first else [], rows):
                if isinstance(row, Labelled):
                    out.writerow([row.file, row.label, row.class_name, f"{row.probability:.4f}"])
                    written += 1
                else:
                    print(f"workbench: skipped {row.file}: {row.reason}", file=sys.stderr)
                    skipped += 1
    except OSError as err:
        raise WorkbenchError(f"could not write {args.out}: {err.strerror or err}.") from None
    print(f"wrote {written} prediction(s) to {args.out}" + (f"; skipped {skipped} unreadable" if skipped else ""))
    if written == 0:
        raise WorkbenchError(f"no image in {args.images} could be read.")
    return 0


def lab_input(image: str, data_dir: str | None = None, transpose: bool = False):
    """(2-D tensor, description) for --image: "stripes", or DATASET[:N] (test image N, default 0)."""
    from trainers import lab

    if image == "stripes":
        x, what = lab.stripes(), "stripes"
    else:
        name, _, index = image.partition(":")
        try:
            n = int(index) if index else 0
        except ValueError:
            raise WorkbenchError(f"--image {image}: the part after ':' is a test image's number.") from None
        x, label = lab.test_image(name, n, data_dir)
        what = f"{name} #{n}, {label}"
    if transpose:
        x, what = x.t().contiguous(), what + ", transposed"
    return x, what


def lab(args) -> int:
    from trainers import lab as conv

    from .grids import side_by_side, tensor_lines

    if args.learn:
        conv.check_learning(args.steps, args.lr)  # before anything is printed
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


def export(args) -> int:
    from trainers import export as ex
    from trainers.runs import find_run

    if not (args.script or args.csv or args.tensorboard):
        raise WorkbenchError("export needs --script FILE, --csv [FILE] or --tensorboard DIR (see workbench export "
                             "--help).")
    if args.run is None:
        if args.csv in (None, "-"):
            raise WorkbenchError("export needs a RUN: a name from `workbench runs` or a folder.")
        # `export --csv RUN`: argparse took the run for --csv's optional FILE; the metrics go to stdout
        args.run, args.csv = args.csv, "-"
    folder = find_run(args.run)
    config = ex.run_config(folder) if args.script or args.tensorboard else None  # the CSV needs only the log
    to_stdout = args.csv == "-"
    # every output is checked before anything is written: a typo in the last one costs nothing
    if args.script:
        ex.check_output_file(args.script)
    if args.csv and not to_stdout:
        ex.check_output_file(args.csv)
    if args.tensorboard:
        ex.need_tensorboard()
        ex.check_tensorboard_dir(folder, args.tensorboard)
    say = sys.stderr if to_stdout else sys.stdout  # CSV on standard output stays pure CSV
    if args.script:
        path = ex.write_script(folder, args.script)
        print(f"wrote {path}: `python {path}` trains {config['model']} on {config['dataset']} as {folder.name} did, "
              f"with torch and torchvision alone", file=say)
    if args.csv:
        from trainers.runs.log import Skipped

        skipped = Skipped()
        rows = ex.write_csv(folder, sys.stdout if to_stdout else Path(args.csv), skipped)
        if not to_stdout:
            print(f"wrote {rows} row(s) of metrics to {args.csv}", file=say)
        if skipped.lines:
            print(f"workbench: warning: {skipped.sentence(folder)}", file=sys.stderr)
    if args.tensorboard:
        target, counts = ex.write_tensorboard(folder, args.tensorboard)
        print(f"wrote TensorBoard files to {target} ({sum(counts.values())} points in {len(counts)} scalar tags); "
              f"`tensorboard --logdir {args.tensorboard}` shows them", file=say)
    return 0
