"""How a run is started: in this process, or detached in its own session (and, for several processes,
under torchrun). Each hands back the same thing: a run folder to read and steer (trainers.runs)."""

from .local import claim, resume_config, train_here
from .detached import Spare, start_detached

__all__ = ["Spare", "claim", "resume_config", "start_detached", "train_here"]
