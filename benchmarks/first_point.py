"""Seconds from pressing start in the app to the first chart point on screen, with and without a spare
trainer process kept ready (torch already imported) while the user chooses. Median of --repeat each.

Run:  python benchmarks/first_point.py [--repeat 3]     (Fashion-MNIST when installed, else synthetic)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["WORKBENCH_RUNS"] = tempfile.mkdtemp(prefix="first-point-")

from trainers.config import RunConfig  # noqa: E402
from trainers.data.registry import availability  # noqa: E402
from workbench.app import WorkbenchApp  # noqa: E402
from workbench.screens.pick import PickScreen  # noqa: E402
from workbench.screens.run import RunScreen  # noqa: E402


async def until(pilot, condition, step: float = 0.01) -> None:
    while not condition():
        await pilot.pause(step)


async def once(config: RunConfig, prewarm: bool) -> float:
    app = WorkbenchApp(config, prewarm=prewarm)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause(3.0)  # the user looks at the picker for a while
        start = time.monotonic()
        app.screen.action_start()
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        chart = app.screen.query_one("#chart-batch")
        await until(pilot, lambda: chart.points > 0 and chart.replots > 0)
        seconds = time.monotonic() - start
        await until(pilot, lambda: app.screen.ended, 0.1)
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dataset = "fashion-mnist" if availability("fashion-mnist").state == "ready" else "synthetic-digits"
    config = RunConfig(model="mlp-deep", dataset=dataset, epochs=1, limit_batches=60)
    print(f"mlp-deep on {dataset}: seconds from start to the first chart point")
    for prewarm in (False, True):
        times = [asyncio.run(once(config, prewarm)) for _ in range(args.repeat)]
        label = "spare trainer ready" if prewarm else "cold start        "
        print(f"  {label}  median {statistics.median(times):.2f} s  ({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
