"""Training in this process: claim the run folder (a lock no other trainer can take while this one lives),
then pass the loop's events through a RunWriter. `workbench train` uses it in the foreground, and the
detached worker uses it in its own session."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Iterator

from ..config import RunConfig
from ..errors import ConfigError
from ..runs.requests import FolderControl
from ..runs.files import CONFIG, REQUEST, FolderLock, RunFolderError, write_json
from ..runs.home import find_run, new_run_dir, run_folder
from ..runs.writer import RunWriter, record


def claim(config: RunConfig) -> tuple[RunConfig, FolderLock]:
    """Decide the run's folder and take its lock. The config comes back with `out` set to the folder.

    A new run goes to `--out` (or `--out-2`, ... when that holds another run) or a new folder in the runs
    home; a resumed run continues in its own folder unless `--out` names another. A folder another live
    trainer writes is refused with one sentence."""
    if config.out:
        folder = run_folder(config.out, resuming=config.resume)
    elif config.resume and Path(config.resume).expanduser().is_dir():
        folder = Path(config.resume).expanduser()
    else:
        folder = new_run_dir(config.model, config.dataset)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunFolderError(f"cannot make the run folder {folder}: {err.strerror or err}; give --out a folder you "
                             f"can write, or set WORKBENCH_RUNS.") from None
    lock = FolderLock(folder).acquire()
    for stale in folder.glob(".*.tmp"):  # a write a killed trainer left half done: never taken for whole
        stale.unlink(missing_ok=True)
    return dataclasses.replace(config, out=str(folder)), lock


def resume_config(run: str, **overrides) -> RunConfig:
    """The config to continue RUN (a name or a path) in its own folder: everything as the run was
    resolved, `epochs` (the total to reach) and the other `overrides` that are not None replacing it."""
    from ..runs.files import read_json

    from ..runs.files import REQUEST, lock_holder

    folder = find_run(run)
    holder = lock_holder(folder)
    if holder is not None:
        raise RunFolderError(f"{folder} is being written by process {holder} (its trainer is at work); `workbench "
                             f"attach {folder.name}` watches it, `workbench stop {folder.name}` stops it.")
    saved = read_json(folder / CONFIG) or _checkpoint_config(folder) or read_json(folder / REQUEST)
    if not saved:
        damaged = (folder / CONFIG).exists()
        raise ConfigError(f"{folder}'s {CONFIG} is damaged and no checkpoint holds the settings, so there is nothing "
                          f"to resume from." if damaged else
                          f"{folder} has no {CONFIG}, so there is nothing to resume from; it never started.")
    return _saved_config(saved, overrides, folder.name, resume=str(folder), out=str(folder))


def fork_config(from_run: str | None = None, weights_from: str | None = None, **overrides) -> RunConfig:
    """A new run from a run: `from_run`'s settings (`weights_from`'s when only that is given), the
    `overrides` that are not None replacing them, in a new folder. Fresh initial weights, unless
    `weights_from` names the run whose last saved weights it starts from (with a new optimizer). The config
    records its parent. A run folder never chooses code: a user's model file runs only when `overrides`
    names it (`trusted_model`)."""
    from ..models import trusted_model
    from ..runs.files import read_json

    source = find_run(from_run or weights_from)
    weights = find_run(weights_from) if weights_from else None
    saved = read_json(source / CONFIG) or _checkpoint_config(source) or read_json(source / REQUEST)
    if not saved:
        raise ConfigError(f"{source.name} has no readable {CONFIG}, so there are no settings to start from.")
    given = overrides.get("model")
    changed = bool(given) and given != saved.get("model")
    if weights is not None:
        from .. import checkpoint as ckpt

        if not (weights / ckpt.FILENAME).exists():
            raise ConfigError(f"{weights.name} has no saved weights yet ({ckpt.FILENAME}); --from {weights.name} "
                              f"starts a run with its settings from fresh weights.")
        parent_model = (read_json(weights / CONFIG) or _checkpoint_config(weights) or {}).get("model")
        wanted = given or saved.get("model")
        if parent_model and wanted != parent_model:
            raise ConfigError(f"--weights-from {weights.name}: its weights are for the model {parent_model}, not "
                              f"{wanted}; they load only into the model they were trained with.")
    if changed:
        model, sha = given, None  # the user's own choice, checked as any --model is
    else:
        model = trusted_model(saved.get("model"), saved.get("model_sha256"), given, source.name)
        sha = saved.get("model_sha256")
    parent = weights or source
    fixed = {"model": model, "model_sha256": sha, "out": overrides.get("out"), "resume": None, "from_run": None,
             "weights_from": str(weights.resolve()) if weights is not None else None,
             "parent": {"run": parent.name, "folder": str(parent.resolve()), "weights": weights is not None}}
    names = {f.name for f in dataclasses.fields(RunConfig)}
    changes = {k: v for k, v in overrides.items() if v is not None and k in names}
    config = dataclasses.replace(RunConfig.from_dict({**saved, "model": model}), **{**changes, **fixed})
    config.validate()
    return config


def _saved_config(saved: dict, overrides: dict, source: str, **fixed) -> RunConfig:
    """Saved settings (unknown keys dropped), the `overrides` that are not None on top, then `fixed`. The
    saved settings are someone's data: the model they name is built only as `trusted_model` allows."""
    from ..models import trusted_model

    names = {f.name for f in dataclasses.fields(RunConfig)}
    model = trusted_model(saved.get("model"), saved.get("model_sha256"), overrides.get("model"), source)
    config = RunConfig.from_dict({**saved, "model": model})
    changes = {k: v for k, v in overrides.items() if v is not None and k in names}
    _check_optimizer(config, changes.get("optimizer"), source, fixed.get("resume"))
    return dataclasses.replace(config, **{**changes, **fixed, "model": model})


def _check_optimizer(saved: RunConfig, wanted: str | None, source: str, resume: str | None) -> None:
    """A resume continues the optimizer's state too: Adam's moments are no SGD momentum. Refused before
    anything is written, with the way that works: a new run from the weights alone."""
    if not wanted or not saved.optimizer or wanted == saved.optimizer:
        return
    from .. import checkpoint as ckpt

    weights = Path(resume) / ckpt.FILENAME if resume and Path(resume).is_dir() else resume
    raise ConfigError(f"{source} trained with {saved.optimizer}, whose state cannot go on as {wanted}; a new run from "
                      f"its weights can: workbench train --model {saved.model} --dataset {saved.dataset} --optimizer "
                      f"{wanted} --resume {weights}")


def checkpoint_file_config(path: str, **overrides) -> RunConfig:
    """The config to continue from a checkpoint file that sits in no run folder (copied elsewhere, or
    downloaded): the settings it carries, the `overrides` that are not None replacing them, in a new run
    folder (or `out`). A damaged file is refused here, before any folder is made."""
    from .. import checkpoint as ckpt

    payload = ckpt.load(path)
    saved = payload.get("config")
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} carries no settings; give --model and --dataset to start from its weights.")
    config = _saved_config(saved, overrides, Path(path).name, resume=str(Path(path).expanduser()),
                           out=overrides.get("out"))  # a new run folder, not the one the file came from
    state = ckpt.training_state(payload)
    done = int(state.get("epoch", 0))
    if state.get("position") is None and config.epochs is not None and done >= config.epochs:
        raise ConfigError(f"{Path(path).name} has {done} epoch(s) done, and --epochs ({config.epochs}) is the total "
                          f"to reach; --epochs N (more than {done}) trains it further.")
    return config


def _checkpoint_config(folder: Path) -> dict | None:
    """The settings a checkpoint carries: what a resume falls back on when config.json is lost or damaged."""
    from .. import checkpoint as ckpt

    if not (folder / ckpt.FILENAME).exists():
        return None
    try:
        config = ckpt.load(folder).get("config")
    except Exception:  # noqa: BLE001 - a bad checkpoint is reported by the run itself, in its own words
        return None
    return config if isinstance(config, dict) else None


def train_here(config: RunConfig, progress: Callable[[str, int, int], None] | None = None,
               control: FolderControl | None = None, lock: FolderLock | None = None) -> Iterator:
    """Run the loop in this process, recording everything in the run folder; yields the events.

    `config.out` must be set and claimed (`claim`); the lock is released when the generator ends."""
    from ..train.loop import run

    folder = Path(config.out)
    writer = RunWriter(folder)
    control = control or FolderControl(folder)
    if not (folder / CONFIG).exists() and not (folder / REQUEST).exists():
        write_json(folder / REQUEST, config.to_dict())  # what was asked: a run that fails to start still says it
    writer.starting()

    def loading(what: str, done: int, total: int) -> None:
        from ..events import Loading

        writer.write(Loading(what, done, total))
        if progress:
            progress(what, done, total)

    try:
        yield from record(run(config, control, progress=loading), writer)
    finally:
        if lock is not None:
            lock.release()
