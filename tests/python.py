"""Python processes for the tests, forked from one warm interpreter per test process (trainers.warm):
torch is imported once there, not again in each `workbench train` a test starts (two seconds of CPU apiece
on two cores). They are real processes: their own pid, argv, environment, streams, session and signals, and
a command runs in them exactly as `python -m ...` runs it.

A test that asks what a fresh interpreter imports (tests/system/test_import_hygiene.py) or runs a script
without the workbench (tests/system/test_export.py) starts `sys.executable` itself instead.
"""

import subprocess
import sys

from trainers.warm import Warm, WarmPopen

PYTHON = sys.executable
WARM = Warm(listen=True)  # shared with every process under this one (tests/conftest.py)


def popen(args, **kwargs) -> subprocess.Popen:
    """subprocess.Popen([PYTHON, ...], ...), warm; `terminal=True` makes its stdin its controlling terminal."""
    return WarmPopen(args, warm=WARM, **kwargs)


def run(args, *, input=None, capture_output=False, timeout=None, check=False, **kwargs):
    """subprocess.run([PYTHON, ...], ...), warm."""
    if capture_output:
        if kwargs.get("stdout") is not None or kwargs.get("stderr") is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
    if input is not None:
        if kwargs.get("stdin") is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        kwargs["stdin"] = subprocess.PIPE
    with popen(args, **kwargs) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()  # as subprocess.run: a grandchild may hold the pipes open
            raise
        except BaseException:
            process.kill()
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


def workbench(*args, timeout: float = 300, **kwargs):
    """`workbench ARGS` in a process of its own (this process's environment unless `env` is given), its
    output captured as text."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return run([PYTHON, "-m", "workbench.cli", *map(str, args)], timeout=timeout, **kwargs)
