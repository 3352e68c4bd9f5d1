"""Run one training from the real app, charts on screen, for benchmarks/speed.py's measurement (c)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from trainers.config import RunConfig


def run_in_app(config: RunConfig, size: tuple[int, int] = (100, 30)) -> tuple[list[dict], float]:
    """Train `config` from WorkbenchApp under Textual's headless driver, the charts tab showing. Returns
    metrics.jsonl's rows and the share of one core the app's own process used while the run trained
    (the trainer is its own process; this is what watching costs)."""
    from workbench.app import WorkbenchApp
    from workbench.screens.run import RunScreen

    used = []

    async def drive(out: str) -> None:
        app = WorkbenchApp(dataclasses.replace(config, out=out), start=True)
        async with app.run_test(size=size) as pilot:
            while not (isinstance(app.screen, RunScreen) and app.screen.started is not None):
                await pilot.pause(0.05)
            wall, cpu = time.perf_counter(), time.process_time()
            while not app.screen.ended:
                # a plain sleep: the app's own timers and messages run meanwhile. (pilot.pause would also
                # force a screen update each time, work the app does not do by itself.)
                await asyncio.sleep(0.2)
            used.append((time.process_time() - cpu) / (time.perf_counter() - wall))

    with tempfile.TemporaryDirectory() as out:
        asyncio.run(drive(out))
        rows = [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
    return rows, used[0]
