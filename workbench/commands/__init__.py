"""The headless subcommands, one module per group, and COMMANDS: each subcommand's function.

Their modules import torch, textual and the trainers' heavier parts inside the functions, so `workbench
--help` (which imports this table) stays quick."""

from __future__ import annotations

from workbench.commands import export, gpus, info, lab, lrfind, predict, runs, serve, sweep, train

COMMANDS = {
    "train": train.train, "runs": runs.runs, "attach": runs.attach, "stop": runs.stop, "compare": runs.compare,
    "models": info.models, "datasets": info.datasets, "inspect": info.inspect, "predict": predict.predict,
    "lab": lab.lab, "export": export.export, "sweep": sweep.sweep, "sweeps": sweep.sweeps,
    "lr-find": lrfind.lr_find, "serve": serve.serve, "wait": runs.wait, "gpus": gpus.gpus,
}
