"""`workbench gpus`: every NVIDIA GPU, how full, how busy, and whose processes are on it (workbench runs by
name), read through NVML (trainers.gpus); without a GPU or driver, one line saying which library found what."""

from __future__ import annotations

import shutil
import sys


def gpus(args) -> int:
    from trainers.gpus import survey

    from workbench.render.gpus import gpu_lines

    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 100
    for line in gpu_lines(survey(args.home), max(60, width)):
        print(line.plain.rstrip())
    return 0
