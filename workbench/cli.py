"""The `workbench` command: the interactive app by default, subcommands for headless use.

Imports stay light here (no torch, no textual) so `workbench --help` and the app's first frame are quick;
each subcommand imports what it needs (workbench.commands, whose COMMANDS table names each one's function).
"""

from __future__ import annotations

import argparse
import sys

from trainers.errors import WorkbenchError
from trainers.lab import KERNELS

from workbench.commands import COMMANDS
from workbench.commands.lrfind import add_lr_find_options
from workbench.commands.sweep import SWEEP_EPILOG, add_sweep_options
from workbench.commands.train import check_names
from workbench.options import add_run_options

SUBCOMMANDS = tuple(COMMANDS)
KERNEL_NAMES = ", ".join(KERNELS)


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line (and --help), not the whole usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench", description="Train small PyTorch vision models and watch them learn, in the terminal.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    train = sub.add_parser("train", help="train without the interactive screen (--detach: in the background)")
    add_run_options(train)
    train.add_argument("--detach", action="store_true",
                       help="train in the background, in its own session: print the run's name and return")
    runs = sub.add_parser("runs", help="list the runs, newest first")
    runs.add_argument("--home", metavar="DIR", help="the runs home to list (default: $WORKBENCH_RUNS)")
    attach = sub.add_parser("attach", help="open the app on a run (live if it is still training) or on a sweep")
    attach.add_argument("run", nargs="?", help="a name from `workbench runs` or `workbench sweeps`, or a folder "
                        "(default: the newest run)")
    stop = sub.add_parser("stop", help="stop a run after its current batch (it saves first), or a whole sweep")
    stop.add_argument("run", help="a name from `workbench runs` or `workbench sweeps`, or a folder")
    stop.add_argument("--no-wait", action="store_true", help="ask and return, without waiting for it to end")
    wait = sub.add_parser("wait", help="wait until runs (or sweeps) end: one line for each as it ends; exit 0 if all "
                          "finished, 1 if one failed or diverged, 3 if one was stopped or interrupted",
                          description="Block until each run or sweep named has ended, printing a line for each as it "
                          "ends. Exit status: 0 all finished, 1 one failed or diverged, 3 one was stopped or "
                          "interrupted (and none failed), 2 a name that is no run. So: workbench wait NAME && "
                          "notify-send done.")
    wait.add_argument("runs", nargs="+", metavar="RUN", help="names from `workbench runs` or `workbench sweeps`, "
                      "or folders")
    compare = sub.add_parser("compare", help="open the app comparing runs: curves overlaid, configs side by side")
    compare.add_argument("runs", nargs="+", metavar="RUN", help="two or more names or folders")
    sub.add_parser("models", help="list the models")
    ds = sub.add_parser("datasets", help="list the datasets and whether each is ready here")
    ds.add_argument("--data-dir")
    insp = sub.add_parser("inspect", help="print a model's architecture, parameters and layer shapes")
    insp.add_argument("model")
    # the run's own options, from RunConfig's declarations; here they say what the cost is for
    add_run_options(insp, only=("dataset", "init", "layer_init", "freeze", "batch_size", "epochs", "device",
                                "data_dir"), bounds=False, helps={
        "init": "initialise every layer this way first (as train's --init)",
        "layer_init": "one layer's initialisation, as train's --layer-init (repeatable)",
        "freeze": "mark a layer as frozen",
        "batch_size": "batch size the cost is for (default: the model's)",
        "epochs": "epochs the run's time is estimated for (default: the model's)",
        "device": "where the dry run is timed: auto, cpu, cuda, cuda:N or mps",
        "data_dir": "where the dataset's files are (for its size)"})
    insp.set_defaults(init="default", layer_init=[], freeze=[], device="auto")
    insp.add_argument("--load-params", metavar="FILE",
                      help="load parameters saved with torch.save(net.state_dict(), FILE), or a run's checkpoint")
    insp.add_argument("--save-params", metavar="FILE", help="save the parameters shown: torch.save(state_dict)")
    insp.add_argument("--save-tensor", nargs=2, metavar=("NAME", "FILE"), help="save one named parameter tensor")
    insp.add_argument("--no-time", action="store_true",
                      help="skip the timed dry run: the cost section shows only parameters, mult-adds and memory")
    insp.add_argument("--show-file", metavar="FILE",
                      help="print the tensors in a file saved with torch.save (a tensor, a list or a dict), and stop")
    pred = sub.add_parser("predict", help="label every image in a folder with a trained run")
    pred.add_argument("run", help="a run (name or folder) or checkpoint file")
    pred.add_argument("--images", required=True, help="a folder of images, or one image file")
    pred.add_argument("--out", default="predictions.csv", help="CSV to write (default: predictions.csv)")
    pred.add_argument("--model", "-m", metavar="FILE.py:NAME",
                      help="the run's model, when it is your own file: a run folder never chooses code to run, so "
                      "its file runs only when you name it here (and it still has the SHA-256 the run recorded)")
    lab = sub.add_parser("lab", help="the convolution lab: an image, a kernel, their cross-correlation; --learn "
                         "finds the kernel again by gradient descent; several channels, 1x1 convolutions, pooling")
    lab.add_argument("--image", help="stripes (the notes' 6x8 black-band image; the default for one channel), notes "
                     "(the notes' 3x3 arange(9); the default for channels and pooling), notes-4x4, or DATASET[:N], its "
                     "test image N (several channels: images N, N+1, ...)")
    lab.add_argument("--kernel", help=f"{KERNEL_NAMES}, or numbers with rows split by ';' "
                     "(e.g. '1 -1' or '0 1 0; 1 -4 1; 0 1 0'); default edge, the notes' [1, -1]. With channels: "
                     "input channels split by '|', output channels by '||' ('0 1; 2 3 | 1 2; 3 4'); one kernel K "
                     "makes the notes' stack K + i + o (default K = '0 1; 2 3')")
    lab.add_argument("--padding", default="0", help="zeros added on every side, N or HxW (default 0)")
    lab.add_argument("--stride", default="1", help="step between kernel or window positions, N or HxW (default 1)")
    lab.add_argument("--transpose", action="store_true", help="transpose the input: [1, -1] then finds nothing")
    lab.add_argument("--learn", action="store_true",
                     help="learn a fresh kernel of the same shape from the input and this output")
    lab.add_argument("--steps", type=int, default=10, help="gradient steps for --learn (default 10, as the notes)")
    lab.add_argument("--lr", type=float, default=3e-2, help="learning rate for --learn (default 0.03)")
    lab.add_argument("--seed", type=int, default=0, help="seeds the learned kernel's start and --one-by-one's tensors")
    lab.add_argument("--channels-in", type=int, metavar="N",
                     help="input channels: each is cross-correlated with its own kernel and the results summed "
                     "(default 2 with channels, 3 with --one-by-one)")
    lab.add_argument("--channels-out", type=int, metavar="N",
                     help="output channels: one kernel stack each (default 1; 2 with --one-by-one)")
    lab.add_argument("--one-by-one", action="store_true",
                     help="the 1x1 convolution as a matrix product: a fully connected layer at every pixel")
    lab.add_argument("--pool", choices=("max", "avg"), help="max or average pooling, by hand, checked against "
                     "nn.MaxPool2d / nn.AvgPool2d")
    lab.add_argument("--size", help="the pooling window, N or HxW (default 2)")
    lab.add_argument("--data-dir", help="where the dataset's files are")
    export = sub.add_parser(
        "export", help="take a run home: a standalone PyTorch script, its metrics as CSV, TensorBoard files",
        description="Export a run: a plain PyTorch script that trains it again with torch and torchvision alone, "
        "its metrics as CSV, or TensorBoard event files. Give one or more of --script, --csv, --tensorboard.",
        epilog="CSV format: one header line, then one row per logged batch (kind=batch) and per epoch (kind=epoch), "
        "in the order they were recorded. Columns: kind, epoch, batch, batches, step, seen, total, loss, accuracy, "
        "test_loss, test_accuracy, samples_per_sec, elapsed, seconds, eval_seconds, time. A batch row's loss and "
        "accuracy are over the batches since the previous row; step counts batches trained since the run began. "
        "An epoch row's loss and accuracy are that epoch's training figures, test_loss and test_accuracy its "
        "evaluation, seconds its training time, step its last batch's. Accuracies are fractions (0-1); time is the "
        "unix time of the record; an empty cell was not measured (accuracy of an autoencoder).")
    export.add_argument("run", nargs="?", help="a name from `workbench runs` or a folder")
    export.add_argument("--script", metavar="FILE",
                        help="write a standalone training script (model, data, optimizer, loop) that reproduces the "
                        "run's settings and batch order; it needs only torch and torchvision")
    export.add_argument("--csv", nargs="?", const="-", metavar="FILE",
                        help="write the per-batch and per-epoch metrics as CSV to FILE (no FILE, or -: standard "
                        "output); the format is below")
    export.add_argument("--tensorboard", metavar="DIR",
                        help="write TensorBoard event files to DIR/RUN_NAME (scalars batch/* by step and epoch/* by "
                        "epoch, the config as text and hparams, test images); needs pip install "
                        "'workbench[tensorboard]'; then: tensorboard --logdir DIR")
    sweep = sub.add_parser("sweep", help="many runs as one search (Optuna): ranges and lists of any train option",
                           epilog=SWEEP_EPILOG)
    add_sweep_options(sweep)
    lrf = sub.add_parser("lr-find", help="find a learning rate: the loss over a few hundred batches as the lr grows "
                         "(Smith's range test), a chart, and the lr where it falls fastest",
                         description="The learning-rate range test: from the model's initial weights, train one "
                         "batch at a time as the learning rate grows exponentially, until the loss blows up; the "
                         "weights are put back. The last line is `suggested learning rate: X`.")
    add_lr_find_options(lrf)
    served = sub.add_parser("serve", help="the same app in a browser (textual-serve): each tab its own workbench",
                            description="Serve the workbench to browsers through textual-serve. It listens on "
                            "localhost unless told otherwise: from your machine, ssh -L 8000:localhost:8000 SERVER "
                            "and open http://localhost:8000/.")
    served.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: only this machine, or an SSH tunnel)")
    served.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    served.set_defaults(app_args=[])
    gpu = sub.add_parser("gpus", help="the NVIDIA GPUs: memory, utilisation, temperature, power, and whose "
                         "processes are on each (workbench runs by name, others by user and command)",
                         description="Every NVIDIA GPU as NVML (nvidia-ml-py) reports it, with its processes: a "
                         "workbench run by its name, any other process by its user and command. Without a GPU or "
                         "driver, one line says which library found what. The app shows the same on g.")
    gpu.add_argument("--home", metavar="DIR", help="the runs home whose live runs are named (default: $WORKBENCH_RUNS)")
    sweeps = sub.add_parser("sweeps", help="list the sweeps, newest first")
    sweeps.add_argument("--home", metavar="DIR", help="the runs home to list (default: $WORKBENCH_RUNS)")
    return parser


def build_app_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="workbench", epilog=f"subcommands: {', '.join(SUBCOMMANDS)} (workbench COMMAND --help)",
        description="Open the interactive workbench. Options preselect a run; --start begins it at once.")
    add_run_options(parser, skip=("resume", "from_run", "weights_from"))
    parser.add_argument("--start", action="store_true", help="start training at once")
    parser.add_argument("--quiet", action="store_true",
                        help="no bell, desktop notification or toast when a run or sweep ends (also: WORKBENCH_QUIET=1; "
                        "WORKBENCH_BELL=0 keeps the notification but not the bell)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            args = build_parser().parse_args(argv)
            return COMMANDS[args.command](args)
        from workbench.options import config_from_args

        args = build_app_parser().parse_args(argv)
        config = config_from_args(args)
        config.validate()
        check_names(config)
        from workbench.app import run_app

        return run_app(config, start=args.start, quiet=args.quiet) or 0
    except WorkbenchError as err:
        print(f"workbench: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # `workbench runs | head`: the reader has all it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)


if __name__ == "__main__":
    entry()
