"""`workbench lr-find`: the learning-rate range test (trainers.lrfind) for a model and dataset: a chart of the
smoothed loss against the learning rate, a sentence, and last `suggested learning rate: X` (for scripts)."""

from __future__ import annotations

import math
import re
import sys

from trainers.errors import WorkbenchError

ANSI = re.compile(r"\x1b\[[0-9;]*m")
OPTIONS = ("model", "dataset", "data_dir", "batch_size", "optimizer", "momentum", "weight_decay", "device", "seed",
           "init", "amp")


def add_lr_find_options(parser) -> None:
    from workbench.options import add_run_options

    add_run_options(parser, only=OPTIONS, bounds=False, helps={
        "batch_size": "batch size of each trial step (default: the model's)",
        "optimizer": "the optimizer whose learning rate is found (default: the model's)"})
    parser.add_argument("--start-lr", type=float, default=1e-7, help="the ramp's first learning rate (default 1e-7)")
    parser.add_argument("--end-lr", type=float, default=10.0, help="the ramp's last learning rate (default 10)")
    parser.add_argument("--max-batches", type=int, default=200,
                        help="batches over which the lr grows from start to end (default 200); it stops sooner "
                        "once the loss blows up")


def lr_find(args) -> int:
    from trainers.lrfind import LrPoint, LrSuggestion
    from trainers.lrfind import lr_find as find

    from workbench.commands.train import LoadProgress
    from workbench.options import check_names, config_from_args, given

    if not given(args).get("model"):
        raise WorkbenchError("lr-find needs --model (and --dataset, synthetic-digits when not given).")
    config = config_from_args(args)
    config.validate()
    check_names(config)
    from trainers.compat import check_pair

    problem = check_pair(config.model, config.dataset)
    if problem:
        raise WorkbenchError(problem)
    tty = sys.stdout.isatty()
    load = LoadProgress(tty)
    result = None
    try:
        for event in find(config, start_lr=args.start_lr, end_lr=args.end_lr, max_batches=args.max_batches,
                          progress=load):
            if isinstance(event, LrPoint):
                load.close()
                if tty:
                    print(f"\rbatch {event.batch:4d}  lr {event.lr:9.3g}  loss {event.smoothed:9.4g}", end="",
                          flush=True)
            elif isinstance(event, LrSuggestion):
                result = event
    finally:
        load.close()
    if tty:
        print("\r" + " " * 48 + "\r", end="")
    if result is None or not result.points:
        raise WorkbenchError("the lr finder recorded no batches.")
    print(chart(result, width=100 if tty else 80, color=tty))
    print(words(config.model, config.dataset, result))
    print(f"suggested learning rate: {result.lr_steepest:.3g}")
    return 0


def chart(result, width: int = 80, height: int = 20, color: bool = False) -> str:
    """The smoothed loss against log10(lr), the suggestion marked, as text (plotext)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    if not color:
        plt.theme("clear")
    lrs = [p.lr for p in result.points]
    losses = [p.smoothed for p in result.points]
    # the blow-up at the end of the ramp (thousands, for a loss that starts at 2.3) would flatten the part worth
    # reading into the bottom row: the axis stops at 1.5x the start (or the lowest), as fastai's plot does
    lowest = min(losses)
    top = min(max(losses), max(losses[0], lowest) * 1.5)
    shown = [(lr, loss) for lr, loss in zip(lrs, losses) if loss <= top]
    plt.plot([lr for lr, _ in shown], [loss for _, loss in shown], marker="braille", label="smoothed loss")
    plt.xscale("log")
    plt.ylim(lowest - 0.05 * (top - lowest), top)
    plt.vline(result.lr_steepest, "red")
    plt.text(f"{result.lr_steepest:.3g}", result.lr_steepest, top, color="red")
    low, high = math.floor(math.log10(min(lrs))), math.ceil(math.log10(max(lrs)))
    step = max(1, (high - low + 5) // 6)
    decades = [10.0 ** k for k in range(low, high + 1, step)]
    plt.xticks(decades, [f"1e{k}" for k in range(low, high + 1, step)])
    plt.xlabel("learning rate (log)")
    plt.title(f"smoothed loss over {len(lrs)} batches; | the suggestion")
    text = plt.build()
    plt.clear_figure()
    if not color:
        text = ANSI.sub("", text)
    return "\n".join(line.rstrip() for line in text.rstrip().splitlines())


def words(model: str, dataset: str, result) -> str:
    from trainers.lrfind import in_words

    return in_words(model, dataset, result)
