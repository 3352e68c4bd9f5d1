"""Choosing where to train: auto means CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

from .errors import ConfigError


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def resolve(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name} was asked for but torch sees no CUDA GPU here; use --device cpu or auto.")
        index = int(name.split(":", 1)[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {name} does not exist: torch sees {torch.cuda.device_count()} CUDA device(s).")
        return torch.device(name)
    if name == "mps":
        if not _mps_available():
            raise ConfigError("device mps was asked for but Apple's MPS is not available here; use --device cpu or auto.")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def available() -> list[tuple[str, str]]:
    """(value, label) pairs for a device chooser, the automatic choice first.

    Only counts devices: asking a GPU for its name would initialise CUDA in the calling process (the UI),
    which has no use for it; the run reports the device's name when it starts."""
    auto = resolve("auto")
    rows = [("auto", f"auto → {auto.type}"), ("cpu", f"CPU, {torch.get_num_threads()} threads")]
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        rows.append((f"cuda:{i}" if i else "cuda", f"CUDA device {i}"))
    if _mps_available():
        rows.append(("mps", "Apple MPS"))
    return rows
