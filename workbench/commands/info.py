"""What is here, printed: models, datasets, and one model inspected (inspect)."""

from __future__ import annotations

import sys

from trainers.errors import WorkbenchError


def models(args) -> int:
    from trainers.models import MODELS

    width = max(map(len, MODELS))
    for spec in MODELS.values():
        shape = "x".join(map(str, spec.input_shape))
        print(f"{spec.name:<{width}}  {spec.task:<11} {shape:<9} seed {spec.seed}  {spec.description}")
    print("\nyour own: --model path/to/file.py:ClassName (an nn.Module subclass or a function returning one)")
    return 0


def datasets(args) -> int:
    from trainers.data.base import resolve_data_dir
    from trainers.data.registry import DATASETS, availability, search_paths

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
