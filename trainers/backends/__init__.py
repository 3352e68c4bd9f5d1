"""How a run is started: in this process, detached in its own session, or as several processes under
torchrun. Each hands back the same thing: a run folder to read and steer (trainers.runs)."""

from .detached import Spare, start_detached
from .local import claim, fork_config, resume_config, train_here

__all__ = ["Spare", "claim", "fork_config", "resume_config", "start", "start_detached", "train_here"]


def start(config, spare: Spare | None = None):
    """Start `config` in the background: (folder, process). Several processes go through torchrun."""
    if config.nproc_per_node > 1 or config.nnodes > 1:
        from .distributed import start_distributed

        return start_distributed(config)
    return start_detached(config, spare=spare)
