"""`workbench gpus`: every NVIDIA GPU, how full, how busy, and whose processes are on it (workbench runs by
name), read through NVML (trainers.gpus); without a GPU or driver, one line saying which library found what."""

from __future__ import annotations

import shutil
import sys
import textwrap


def gpus(args) -> int:
    from trainers.gpus import survey

    from workbench.render.gpus import gpu_lines

    tty = sys.stdout.isatty()
    width = max(60, shutil.get_terminal_size().columns if tty else 100)
    for line in gpu_lines(survey(args.home), width):
        # the no-GPU sentence is one line; on a terminal it breaks between words, piped it stays whole
        text = line.plain.rstrip()
        print(textwrap.fill(text, width) if tty and len(text) > width else text)
    return 0
