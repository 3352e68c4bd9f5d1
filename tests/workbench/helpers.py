"""Shared helpers for the app tests: tiny configs, waiting on the app without sleeping, reading the screen."""

from __future__ import annotations

import asyncio
import time

from tests.conftest import TINY, tiny_config as tiny  # noqa: F401 - re-exported for the app tests


QUICK = 25  # looks at the settled app before waiting a tenth of a second between looks: a key's effect is quicker


async def until(pilot, condition, seconds: float = 60.0) -> None:
    """Let the app process messages until `condition()` holds (a thread worker posts them)."""
    from textual.css.query import NoMatches

    def holds() -> bool:
        try:
            return bool(condition())
        except NoMatches:  # a screen just pushed, its widgets not composed yet: not there yet
            return False

    deadline = time.monotonic() + seconds
    looked = 0
    while not holds():
        assert time.monotonic() < deadline, "the app never reached the expected state"
        looked += 1
        if looked > QUICK:  # waiting on another process (a trainer, a file): the app runs on meanwhile, and
            await asyncio.sleep(0.1)  # settling every widget's queue fifty times a second costs a core
        await pilot.pause()


def screen_text(app) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def shown(pilot, app, text: str, seconds: float = 30.0) -> None:
    """Wait until `text` is on the terminal: a repaint needs a moment of the app's clock, not only its queue."""
    for _ in range(int(seconds / 0.05)):
        if text in screen_text(app):
            return
        await pilot.pause(0.05)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{screen_text(app)}")
