"""The run folder is the hub between whoever trains and whoever watches.

    trainer (in this process, detached, torchrun's rank 0)
       └─ RunWriter ─▶ RUN/ events.jsonl + arrays/ + config, metrics, status, result + checkpoint ◀─ control.json
    viewer (the app, `workbench attach`, `workbench runs`, a notebook)            send() ─┘
       └─ RunReader(RUN).events(follow=True)

Modules: `files` (names, atomic writes, the lock), `log` (the event log), `writer`, `reader`, `status`,
`requests` (control.json: pause, stop, save asked of a running trainer), `home` (the runs home: naming,
finding and listing runs). Nothing here imports a UI.
"""

from ..events import END
from .files import FolderLock, RunFolderError, lock_holder, read_json, write_json
from .home import RunSummary, find_run, list_runs, new_run_dir, run_folder, runs_home, summarize
from .log import LogError, read_events
from .reader import CaughtUp, LogRestarted, RunReader, TrainerGone
from .requests import FolderControl, send
from .status import Status, read_status, write_status
from .writer import RunWriter, record

__all__ = ["CaughtUp", "END", "FolderControl", "FolderLock", "LogError", "LogRestarted", "RunFolderError", "RunReader",
           "RunSummary", "RunWriter", "Status", "TrainerGone", "find_run", "list_runs", "lock_holder", "new_run_dir",
           "read_events", "read_json", "read_status", "record", "run_folder", "runs_home", "send", "summarize",
           "write_json", "write_status"]
