"""What every dataset loader returns (LoadedData), the progress callback's type, and where downloaded
data lives (resolve_data_dir). Importing it does not import torch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

Progress = Callable[[str, int, int], None]  # (what, done, total)


def resolve_data_dir(data_dir: str | None) -> Path:
    """The argument, else $WORKBENCH_DATA, else $XDG_CACHE_HOME/workbench/data (~/.cache by default)."""
    if data_dir:
        return Path(data_dir).expanduser()
    if os.environ.get("WORKBENCH_DATA"):
        return Path(os.environ["WORKBENCH_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "workbench" / "data"


@dataclass
class LoadedData:
    train_x: "torch.Tensor | None"  # uint8 (N, C, H, W), contiguous, CPU; None when lazy
    train_y: "torch.Tensor | None"  # int64 (N,)
    test_x: "torch.Tensor | None"
    test_y: "torch.Tensor | None"
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, in [0, 1] units
    std: tuple[float, ...]
    source: str  # where the data came from, for the user
    warnings: list[str] = field(default_factory=list)
    train_dataset: "torch.utils.data.Dataset | None" = None  # lazy image folders: (uint8 CHW, int label)
    test_dataset: "torch.utils.data.Dataset | None" = None

    @property
    def train_size(self) -> int:
        return len(self.train_x) if self.train_x is not None else len(self.train_dataset)

    @property
    def test_size(self) -> int:
        return len(self.test_x) if self.test_x is not None else len(self.test_dataset)
