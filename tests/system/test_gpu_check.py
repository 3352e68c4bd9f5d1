"""benchmarks/gpu_check.sh fits one call of the lent GPU machine (600 s at most) and skips, with a line, what
that machine cannot import; it never runs here (no GPU), but its skeleton does."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.sh"


def test_its_steps_fit_one_call_of_the_gpu_machine():
    text = SCRIPT.read_text()
    limits = [int(n) for n in re.findall(r"^\s+step (\d+) ", text, re.M)]
    budget = int(re.search(r"BUDGET=\$\{BUDGET:-(\d+)\}", text).group(1))
    assert len(limits) == 9 and sum(limits) <= budget <= 500
    assert budget + 5 * len(limits) < 600  # each step's kill grace too: well inside one call


def test_a_step_whose_imports_are_missing_says_so_and_is_skipped(tmp_path):
    python = tmp_path / "python-without-site-packages"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} -S \"$@\"\n")  # no torch, no rich, no pytest
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PYTHON": str(python), "OUT": str(tmp_path / "out"), "WORKBENCH_DATA": str(tmp_path)}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    steps = [line for line in done.stdout.splitlines() if line.startswith("=== ")]
    assert len(steps) == 9 and all(": skipped, " in line and "cannot import: torch" in line for line in steps), steps
    assert "data: synthetic-digits" in done.stdout.splitlines()[0]  # no Fashion-MNIST files: generated digits
    assert (tmp_path / "out" / "gpu_check.log").read_text() == done.stdout
