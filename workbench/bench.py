"""Run one training inside the real app, charts on screen, for benchmarks/speed.py's measurement (c)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import tempfile
from pathlib import Path

from trainers.config import RunConfig


def run_in_app(config: RunConfig, size: tuple[int, int] = (100, 30)) -> list[dict]:
    """Train `config` in WorkbenchApp under Textual's headless driver; returns metrics.jsonl's rows."""
    from .app import WorkbenchApp
    from .screens.run import RunScreen

    async def drive(out: str) -> None:
        app = WorkbenchApp(dataclasses.replace(config, out=out), start=True)
        async with app.run_test(size=size) as pilot:
            while not isinstance(app.screen, RunScreen):
                await pilot.pause(0.05)
            while not app.screen.ended:
                await pilot.pause(0.2)  # the app's own timers and messages run meanwhile

    with tempfile.TemporaryDirectory() as out:
        asyncio.run(drive(out))
        return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]
