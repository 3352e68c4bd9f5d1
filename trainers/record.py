"""A run's record on disk: config.json, metrics.jsonl (one object per finished epoch) and batches.jsonl
(every logged batch). Written as events happen, so a crash or a closed terminal loses nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from .events import BatchEnded, EpochEnded, RunFailed, RunFinished, RunStarted


def default_run_dir(model: str, dataset: str, root: str | None = None) -> str:
    """A new folder under `root`, else $WORKBENCH_RUNS, else ./runs, named MODEL-DATASET-TIME."""
    root = root or os.environ.get("WORKBENCH_RUNS") or "runs"
    safe = Path(model.split(":")[0]).stem if ":" in model else model
    base = Path(root) / f"{safe}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():  # two runs started in the same second keep separate folders
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return str(path)


class RunRecorder:
    def __init__(self, out: str | Path) -> None:
        self.dir = Path(out)
        self.dir.mkdir(parents=True, exist_ok=True)

    def _append(self, name: str, row: dict) -> None:
        with open(self.dir / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def write(self, event) -> None:
        if isinstance(event, RunStarted):
            info = {k: v for k, v in dataclasses.asdict(event).items() if k != "config"}
            (self.dir / "config.json").write_text(json.dumps({**event.config, "run": info}, indent=2) + "\n")
            for stale in ("metrics.jsonl", "batches.jsonl"):
                (self.dir / stale).unlink(missing_ok=True)
        elif isinstance(event, EpochEnded):
            row = dataclasses.asdict(event)
            row["train_seconds"] = row.pop("seconds")
            self._append("metrics.jsonl", row)
        elif isinstance(event, BatchEnded):
            self._append("batches.jsonl", dataclasses.asdict(event))
        elif isinstance(event, (RunFinished, RunFailed)):
            (self.dir / "result.json").write_text(
                json.dumps({"status": type(event).__name__, **dataclasses.asdict(event)}, indent=2) + "\n")
