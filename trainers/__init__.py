"""Everything PyTorch for the workbench: models, data, the training loop, inspection, checkpoints.

Usable from a script or notebook:

    from trainers import RunConfig, run
    for event in run(RunConfig(model="mlp-deep", dataset="fashion-mnist", epochs=1)):
        print(event)

Importing this package is cheap: torch is imported when a run, an inspection or a model build needs it.
"""

from .config import RunConfig
from .control import RunControl
from .errors import WorkbenchError

__all__ = ["RunConfig", "RunControl", "WorkbenchError", "run", "resolve_config", "MODELS", "DATASETS"]


def __getattr__(name: str):
    # Lazy re-exports: `trainers.run` pulls in torch only when first used.
    if name in ("run", "resolve_config"):
        from .train import loop

        return getattr(loop, name)
    if name == "MODELS":
        from .models import MODELS

        return MODELS
    if name == "DATASETS":
        from .data.registry import DATASETS

        return DATASETS
    raise AttributeError(f"module 'trainers' has no attribute {name!r}")
