"""What a sweep searches, written as people write it on the command line and turned into Optuna's
distributions. Each of `workbench train`'s options takes, in a sweep:

    0.01            a fixed value
    32,64,128       a choice
    1e-4..1:log     a range (`:log` for a log scale); a whole-number option's range stays whole

No torch and no Optuna here: the CLI checks a search space before anything starts."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import RunConfig
from ..errors import ConfigError

# Options a sweep never searches: where the trial's folder goes, how it resumes, and settings of the machine
# or of the job rather than of the model's training.
NOT_SEARCHED = ("out", "resume", "model_sha256", "device", "data_dir", "nproc_per_node", "nnodes", "node_rank",
                "rdzv_endpoint", "dist_backend", "layer_init", "freeze", "extra", "threads")


@dataclass(frozen=True)
class Fixed:
    value: object


@dataclass(frozen=True)
class Choice:
    values: tuple


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    log: bool = False
    whole: bool = False


def searchable() -> dict[str, dict]:
    """RunConfig's options a sweep may search, by field name, with their declarations."""
    return {name: meta for name, meta in RunConfig.options()
            if meta.get("flag") and name not in NOT_SEARCHED and meta.get("kind") not in (bool, list)}


def _value(name: str, meta: dict, text: str):
    text = text.strip()
    flag = meta["flag"]
    if meta.get("choices"):
        if text not in meta["choices"]:
            raise ConfigError(f"{flag} {text!r}: one of {', '.join(meta['choices'])}.")
        return text
    kind = meta.get("kind") or str
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: a whole number, a list a,b,c or a range LOW..HIGH.") from None
    if kind is float:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: a number, a list a,b,c or a range LOW..HIGH[:log].") from None
        if not math.isfinite(number):
            raise ConfigError(f"{flag} {text!r}: a finite number.")
        return number
    if not text:
        raise ConfigError(f"{flag}: an empty value.")
    return text


def parse(name: str, text: str) -> Fixed | Choice | Range:
    """One option's search, from its text; a ConfigError of one sentence when it cannot be searched so."""
    options = searchable()
    if name not in options:
        raise ConfigError(f"{name.replace('_', '-')} cannot be searched in a sweep.")
    meta = options[name]
    flag, text = meta["flag"], str(text).strip()
    if ".." in text:
        body, _, scale = text.partition(":")
        if scale not in ("", "log"):
            raise ConfigError(f"{flag} {text}: a range is LOW..HIGH, or LOW..HIGH:log for a log scale.")
        kind = meta.get("kind")
        if kind not in (int, float):
            raise ConfigError(f"{flag} {text}: only a number can take a range; give a list a,b,c.")
        low_text, _, high_text = body.partition("..")
        low, high = _value(name, meta, low_text), _value(name, meta, high_text)
        if not low < high:
            raise ConfigError(f"{flag} {text}: the range's low end must be below its high end.")
        if scale == "log" and low <= 0:
            raise ConfigError(f"{flag} {text}: a log range must stay above 0.")
        _check(name, low), _check(name, high)
        return Range(low, high, log=scale == "log", whole=kind is int)
    if "," in text:
        values = tuple(dict.fromkeys(_value(name, meta, item) for item in text.split(",") if item.strip()))
        if not values:
            raise ConfigError(f"{flag} {text!r}: an empty list.")
        for value in values:
            _check(name, value)
        return Choice(values) if len(values) > 1 else Fixed(values[0])
    value = _value(name, meta, text)
    _check(name, value)
    return Fixed(value)


def _check(name: str, value) -> None:
    """The value as a run would take it: RunConfig's own one-line error for one that cannot work."""
    RunConfig(**{name: value}).validate()


def describe(search) -> str:
    """How a search reads back: '1e-4..1:log', '32,64,128', '0.9'."""
    if isinstance(search, Range):
        return f"{search.low:g}..{search.high:g}" + (":log" if search.log else "")
    if isinstance(search, Choice):
        return ",".join(str(v) for v in search.values)
    return str(search.value)


def to_json(space: dict) -> dict:
    return {name: describe(search) for name, search in space.items()}


def from_json(texts: dict) -> dict:
    return {name: parse(name, text) for name, text in texts.items()}


def varied(space: dict) -> list[str]:
    """The options that differ between trials, in RunConfig's order."""
    return [name for name, search in space.items() if not isinstance(search, Fixed)]


def grid(space: dict) -> dict | None:
    """Every varied option's values, when every one is a list (Optuna's GridSampler); else None."""
    searched = {name: list(search.values) for name, search in space.items() if isinstance(search, Choice)}
    if any(isinstance(search, Range) for search in space.values()):
        return None
    return searched


def grid_size(space: dict) -> int:
    return math.prod(len(v) for v in (grid(space) or {}).values()) if grid(space) is not None else 0
