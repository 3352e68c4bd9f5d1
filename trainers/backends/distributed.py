"""Data-parallel training under torchrun: one process per GPU (or per CPU slot, with gloo), the model in
DistributedDataParallel, each rank on its own slice of every global batch, metrics summed over ranks, and
rank 0 alone writing the run folder. Nothing home-made: the processes are started by torch's elastic
launcher (what `torchrun` runs) and talk through torch.distributed.

    launcher (its own session, holds the folder's lock) ── torch.distributed.run ──▶ rank 0 .. rank N-1
                                                          rank 0 ── RunWriter ──▶ RUN/ ◀── any viewer

`python -m trainers.backends.distributed RUN` is the launcher; `--rank-worker RUN` is each rank.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from ..config import RunConfig
from ..errors import ConfigError
from ..runs.files import REQUEST, TRAINER_LOG, FolderLock, read_json, write_json
from ..runs.status import write_status
from .detached import CONTROL_SEEN, LOCK_FD, child_env, request
from .local import claim

PAUSE_LIMIT = timedelta(days=7)  # a paused rank 0 keeps the others waiting in a collective this long at most


def check_setup(config: RunConfig) -> None:
    """Bad setups in one sentence, before any process starts."""
    import torch

    n = config.nproc_per_node
    backend = config.dist_backend
    cuda = torch.cuda.is_available()
    if backend == "nccl" and not cuda:
        raise ConfigError("the nccl backend needs CUDA GPUs and torch sees none here; use --dist-backend gloo "
                          "(processes on the CPU) or leave it at auto.")
    wants_gpu = config.device.startswith("cuda") or (config.device == "auto" and cuda)
    if wants_gpu and n > torch.cuda.device_count():
        raise ConfigError(f"--nproc-per-node {n} asks for more processes than this machine's "
                          f"{torch.cuda.device_count()} GPU(s); use at most {torch.cuda.device_count()}, or "
                          f"--device cpu for CPU processes.")
    if config.batch_size is not None and config.batch_size < n * config.nnodes:
        raise ConfigError(f"--batch-size {config.batch_size} is the global batch, shared by "
                          f"{n * config.nnodes} processes; make it at least that.")


def start_distributed(config: RunConfig) -> tuple[Path, subprocess.Popen]:
    """Claim the folder and start the launcher in its own session; it holds the folder's lock until every
    rank has ended. Returns at once."""
    check_setup(config)
    config, lock = claim(config)
    folder = Path(config.out)
    try:
        write_json(folder / REQUEST, request(config, folder))
        write_status(folder, "starting")
        with open(folder / TRAINER_LOG, "ab") as log:
            child = subprocess.Popen([sys.executable, "-m", "trainers.backends.distributed", str(folder)],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                     pass_fds=(lock.fd,), env=child_env({LOCK_FD: str(lock.fd)}), cwd=os.getcwd())
    except BaseException:
        lock.release()
        raise
    lock.hand_over(child.pid)
    return folder, child


def torchrun_args(config: RunConfig, folder: Path) -> list[str]:
    args = ["--nproc-per-node", str(config.nproc_per_node), "--nnodes", str(config.nnodes),
            "--node-rank", str(config.node_rank), "--max-restarts", "0"]
    if config.rdzv_endpoint:
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", config.rdzv_endpoint, "--rdzv-id", folder.name]
    else:  # what torchrun --standalone does: a rendezvous on a free local port
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:0", "--rdzv-id", folder.name]
    return args + ["-m", "trainers.backends.distributed", "--rank-worker", str(folder)]


def launch(folder: Path) -> int:
    """The launcher: run the ranks through torch's elastic launcher; when one dies, say which and why."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import config_from_args, parse_args

    from .worker import record_failure

    lock = FolderLock(folder)
    if os.environ.get(LOCK_FD):
        lock.adopt(int(os.environ.pop(LOCK_FD)))
    else:
        lock.acquire()
    # A stop signal to the launcher becomes a stop request in the folder: rank 0 reads it and every rank
    # stops at the same batch, after saving. (torch's agent would otherwise end the ranks at once.)
    from ..runs.requests import send

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: send(folder, "stop"))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = RunConfig.from_dict(read_json(folder / REQUEST) or {})
    launch_config, entrypoint, args = config_from_args(parse_args(torchrun_args(config, folder)))
    launch_config.signals_to_handle = "SIGQUIT"  # our handlers above take SIGTERM, SIGINT and SIGHUP
    from torch.distributed.launcher.api import elastic_launch

    try:
        elastic_launch(launch_config, entrypoint)(*args)
    except ChildFailedError as err:
        from ..models import resume_command
        from ..runs.status import read_status

        if read_status(folder).state in ("finished", "stopped"):
            return 0  # a rank that stumbled on its way out, after the run was recorded whole
        # The rank that failed first, not the ones the launcher then ended with SIGTERM.
        rank, failure = min(err.failures.items(),
                            key=lambda item: (item[1].exitcode == -signal.SIGTERM, item[1].timestamp, item[0]))
        code = failure.exitcode
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.Signals._value2member_map_
               else f"exited with code {code}")
        reason = (f"rank {rank} of {config.nproc_per_node * config.nnodes} {how}; the other ranks were stopped. "
                  f"The last checkpoint stays loadable: {resume_command(folder.name, config.model)} continues it.")
        record_failure(folder, reason)
        return 1
    except Exception as err:  # noqa: BLE001 - a launcher that cannot start says so in the folder
        record_failure(folder, f"torchrun could not start the ranks: {type(err).__name__}: {err}")
        return 1
    finally:
        lock.release()
    return 0


def rank_main(folder: Path) -> int:
    """One rank: join the process group, build the same session as every other rank, wrap the model in
    DDP, train its slice; rank 0 writes the folder."""
    import torch
    import torch.distributed as dist

    from ..control import RunControl
    from ..train.loop import run
    from ..runs.requests import FolderControl
    from ..runs.writer import RunWriter, record

    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    config = RunConfig.from_dict(read_json(folder / REQUEST) or {})
    cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    backend = config.dist_backend if config.dist_backend != "auto" else ("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local)
        config.device = f"cuda:{local}"
    elif config.device == "auto":
        config.device = "cpu"
    dist.init_process_group(backend, timeout=PAUSE_LIMIT)
    control = FolderControl(folder, seen=(read_json(folder / REQUEST) or {}).get(CONTROL_SEEN)) if rank == 0 \
        else RunControl()
    control.install_signals()

    def data_parallel(session) -> None:
        session.rank, session.world = rank, world
        session.net = torch.nn.parallel.DistributedDataParallel(session.model, device_ids=[local] if cuda else None)

    try:
        events = run(config, control, adapt=data_parallel)
        if rank == 0:
            events = record(events, RunWriter(folder))
        for _event in events:
            pass  # a failure the loop explains is in the folder: the rank itself ended as planned
        dist.barrier()  # rank 0 saves and writes last: the others wait, so none leaves a collective half done
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def main(argv: list[str]) -> int:
    if argv[:1] == ["--rank-worker"]:
        return rank_main(Path(argv[1]))
    return launch(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
