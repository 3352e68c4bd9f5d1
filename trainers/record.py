"""A run's record on disk: config.json, metrics.jsonl (one object per finished epoch) and batches.jsonl
(every logged batch). Written as events happen, so a crash or a closed terminal loses nothing."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

from .errors import ConfigError
from .events import BatchEnded, EpochEnded, RunFailed, RunFinished, RunStarted


def _holds_a_run(path: Path) -> bool:
    # trainer.log alone is not a run: trainers.process creates it before the child picks the folder.
    return path.exists() and (not path.is_dir() or any(p.name != "trainer.log" for p in path.iterdir()))


def _unused(path: Path) -> Path:
    """`path`, or `path-2`, `path-3`... when it already holds a run: runs never overwrite runs."""
    candidate, n = path, 1
    while _holds_a_run(candidate):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def default_run_dir(model: str, dataset: str, root: str | None = None) -> str:
    """A new folder under `root`, else $WORKBENCH_RUNS, else ./runs, named MODEL-DATASET-TIME."""
    root = root or os.environ.get("WORKBENCH_RUNS") or "runs"
    safe = Path(model.split(":")[0]).stem if ":" in model else model
    return str(_unused(Path(root) / f"{safe}-{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"))


def run_folder(out: str, resuming: str | None = None) -> str:
    """The folder a run with `--out out` writes to: `out` itself when it is new or empty, or when the run
    resumes from it (the record continues); otherwise a fresh `out-N` beside it."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file; give a folder for the run's record.")
    if resuming:
        source = Path(resuming).expanduser()
        source = source.parent if source.is_file() else source
        if source.resolve() == path.resolve():
            return str(path)
    return str(_unused(path))


class RunRecorder:
    """Appends as the run goes; files stay open (line-buffered) instead of reopening per logged batch."""

    def __init__(self, out: str | Path) -> None:
        self.dir = Path(out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, object] = {}

    def _append(self, name: str, row: dict) -> None:
        f = self._files.get(name)
        if f is None:
            f = self._files[name] = open(self.dir / name, "a", encoding="utf-8", buffering=1)
        f.write(json.dumps(row) + "\n")

    def write(self, event) -> None:
        if isinstance(event, RunStarted):
            info = {k: v for k, v in dataclasses.asdict(event).items() if k != "config"}
            (self.dir / "config.json").write_text(json.dumps({**event.config, "run": info}, indent=2) + "\n")
        elif isinstance(event, EpochEnded):
            row = dataclasses.asdict(event)
            row["train_seconds"] = row.pop("seconds")
            self._append("metrics.jsonl", row)
        elif isinstance(event, BatchEnded):
            self._append("batches.jsonl", dataclasses.asdict(event))
        elif isinstance(event, (RunFinished, RunFailed)):
            (self.dir / "result.json").write_text(
                json.dumps({"status": type(event).__name__, **dataclasses.asdict(event)}, indent=2) + "\n")
            self.close()

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
