"""Shared helpers for the app tests: tiny configs, waiting on the app without sleeping, reading the screen."""

from __future__ import annotations

import time

from trainers import RunConfig

TINY = {"train_size": 256, "test_size": 64}


def tiny(**overrides) -> RunConfig:
    base = dict(model="mlp", dataset="synthetic-digits", epochs=1, batch_size=32, limit_batches=3,
                limit_test_batches=1, log_every=1, extra=dict(TINY), device="cpu")
    base.update(overrides)
    return RunConfig(**base)


async def until(pilot, condition, seconds: float = 60.0) -> None:
    """Let the app process messages until `condition()` holds (a thread worker posts them)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the app never reached the expected state"
        await pilot.pause()


def screen_text(app) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
