"""Screenshots of the workbench in a real terminal emulator: xterm in VT340 mode (Sixel, 256 colour
registers) on a virtual X screen (Xvfb), driven with xdotool, captured with xwd and saved as PNG.

    .venv/bin/python tools/screenshot.py --size 100x30 \\
        --step wait:6 --step key:3 --step wait:3 --step shot:docs/pictures/images.png \\
        -- attach /tmp/ae-run

Steps run in order: `wait:SECONDS`, `key:KEYS` (xdotool key names, space-separated: `key:3`, `key:Tab`,
`key:ctrl+q`), `type:TEXT`, `shot:FILE.png`. Everything after `--` is the workbench's arguments.
Needs Debian's xvfb, xterm, x11-apps (xwd), imagemagick (convert) and xdotool. Not a test: it needs X,
and its pictures are looked at. Every process it starts ends when it does."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEEDS = ("Xvfb", "xterm", "xwd", "convert", "xdotool")


def free_display() -> int:
    for n in range(70, 200):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise SystemExit("screenshot: no free X display number between :70 and :199")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="100x30", help="the terminal's COLSxROWS (default 100x30)")
    parser.add_argument("--font-size", type=int, default=11)
    parser.add_argument("--step", action="append", default=[], help="wait:S, key:KEYS, type:TEXT or shot:FILE")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the workbench (repeatable)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then the workbench's arguments")
    args = parser.parse_args()
    missing = [name for name in NEEDS if shutil.which(name) is None]
    if missing:
        print(f"screenshot: {', '.join(missing)} not found (apt-get install xvfb xterm x11-apps imagemagick "
              f"xdotool)", file=sys.stderr)
        return 2
    cols, rows = (int(v) for v in args.size.lower().split("x"))
    workbench = [a for a in args.args if a != "--"]
    display = f":{free_display()}"
    started: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            started.append(subprocess.Popen(["Xvfb", display, "-screen", "0", "2400x1600x24", "-nolisten", "tcp"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            env = {**os.environ, "DISPLAY": display}
            for item in args.env:
                key, _, value = item.partition("=")
                env[key] = value
            deadline = time.monotonic() + 10
            while subprocess.run(["xdotool", "getmouselocation"], env=env, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise SystemExit("screenshot: Xvfb did not start")
                time.sleep(0.1)
            command = f"cd {shlex.quote(str(ROOT))} && exec {shlex.quote(sys.executable)} -m workbench.cli " + \
                shlex.join(workbench)
            title = f"workbench-shot-{os.getpid()}"
            started.append(subprocess.Popen(
                ["xterm", "-ti", "vt340", "-xrm", "XTerm*numColorRegisters: 256", "-xrm",
                 "XTerm*decTerminalID: vt340", "-fa", "DejaVu Sans Mono",
                 "-fs", str(args.font_size), "-geometry", f"{cols}x{rows}+0+0", "-title", title, "-hold", "-bg", "black",
                 "-fg", "white", "-e", "sh", "-c", command], env=env))
            window = ""
            deadline = time.monotonic() + 20
            while not window:
                found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title], env=env,
                                       capture_output=True, text=True)
                window = found.stdout.split()[0] if found.stdout.split() else ""
                if time.monotonic() > deadline:
                    raise SystemExit("screenshot: xterm's window never appeared")
                time.sleep(0.2)
            # no window manager: the keyboard goes where the pointer is (XTEST keys, as a person's would)
            subprocess.run(["xdotool", "mousemove", "--window", window, "20", "20"], env=env, check=True)
            for step in args.step:
                kind, _, value = step.partition(":")
                if kind == "wait":
                    time.sleep(float(value))
                elif kind == "key":
                    subprocess.run(["xdotool", "key", *value.split()], env=env, check=True)
                elif kind == "type":
                    subprocess.run(["xdotool", "type", value], env=env, check=True)
                elif kind == "shot":
                    out = Path(value)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    dump = Path(tmp) / "shot.xwd"
                    subprocess.run(["xwd", "-silent", "-id", window, "-out", str(dump)], env=env, check=True)
                    subprocess.run(["convert", f"xwd:{dump}", str(out)], check=True)
                    print(f"saved {out}")
                else:
                    raise SystemExit(f"screenshot: unknown step {step!r}; wait:S, key:KEYS, type:TEXT or shot:FILE")
        finally:
            for process in reversed(started):
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
