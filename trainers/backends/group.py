"""A group of trials trained in this process (trainers.train.group), each recorded in its own run folder as if it
had trained alone: its own RunWriter (events, metrics, status, result, heartbeat), its own FolderControl, its
own lock, let go as soon as the trial ends, so the trial can be resumed, exported or deleted while the others go
on. The detached worker runs it (`python -m trainers.backends.worker --group RUN RUN ...`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..config import RunConfig
from ..events import Loading, RunFailed, RunFinished
from ..runs.files import CONFIG, REQUEST, FolderLock, RunFolderError, write_json
from ..runs.requests import FolderControl
from ..runs.writer import RunWriter


def positions(configs: list[RunConfig]) -> list[list[int]]:
    """The configs in parts that can train as one stack: those resuming from the same batch together (a group
    stopped at once resumes as one; a trial saved apart continues in its own part), in the order given."""
    from .. import checkpoint as ckpt
    from ..runs.files import read_json

    parts: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        where: tuple = ("fresh",)
        if config.resume:
            folder = Path(config.resume).expanduser()
            info = read_json((folder if folder.is_dir() else folder.parent) / ckpt.INFO) or {}
            if (folder / ckpt.FILENAME).exists() or folder.is_file():
                where = (int(info.get("epoch") or 0), tuple(info.get("position") or ()))
        parts.setdefault(where, []).append(i)
    return list(parts.values())


def train_group_here(configs: list[RunConfig], controls: list[FolderControl] | None = None,
                     locks: list[FolderLock] | None = None) -> Iterator[tuple[int, object]]:
    """Train `configs` (their folders set in `out` and claimed) as groups of trials; yields (index, event) after
    writing each event in that trial's folder. Each lock is released when its trial's last word is written."""
    from ..train.group import run_group

    folders = [Path(c.out) for c in configs]
    controls = controls or [FolderControl(f) for f in folders]
    writers = [RunWriter(f) for f in folders]
    ended = [False] * len(configs)
    for folder, config, writer in zip(folders, configs, writers):
        if not (folder / CONFIG).exists() and not (folder / REQUEST).exists():
            write_json(folder / REQUEST, config.to_dict())
        writer.starting()

    def end(i: int) -> None:
        ended[i] = True
        writers[i].close()
        if locks is not None and locks[i] is not None:
            locks[i].release()

    def write(i: int, event) -> bool:
        """Write the trial's event; False when its folder cannot take it (it ends, the others go on)."""
        try:
            writers[i].write(event)
        except RunFolderError as err:
            try:
                writers[i].failed(str(err))
            except RunFolderError:
                pass
            end(i)
            return False
        return True

    try:
        for part in positions(configs):
            def progress(what: str, done: int, total: int, part=part) -> None:
                for i in part:
                    if not ended[i]:
                        write(i, Loading(what, done, total))

            events = run_group([configs[i] for i in part], [controls[i] for i in part], progress)
            for j, event in events:
                i = part[j]
                if ended[i]:
                    continue  # its folder failed: the trial is out, its stack row goes on unseen
                if not write(i, event):
                    controls[i].request_stop()
                    continue
                if isinstance(event, (RunFinished, RunFailed)):
                    end(i)
                yield i, event
    finally:  # cut short (an exception, a second stop signal): the caller says so in each folder, then lets go
        for i in range(len(configs)):
            if not ended[i]:
                writers[i].close()
