"""The run configuration: plain data, no torch import, usable from the CLI, the app and notebooks."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

from .errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
INITS = ("default", "normal", "xavier", "kaiming", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class RunConfig:
    """Everything that decides what a run does. Unset (None) values take the model's own defaults."""

    model: str = "mlp"
    """A registered model name, or `path/to/file.py:Name` for a user's own nn.Module (or factory)."""
    dataset: str = "synthetic-digits"
    """A registered dataset name (see `workbench datasets`)."""
    epochs: int | None = None
    """Passes over the training set."""
    batch_size: int | None = None
    """Samples per optimisation step."""
    optimizer: str | None = None
    """'sgd' (with momentum) or 'adam' (with weight decay)."""
    lr: float | None = None
    """Learning rate."""
    momentum: float | None = None
    """SGD momentum (ignored by Adam)."""
    weight_decay: float | None = None
    """L2 penalty, as the optimizer's weight_decay."""
    init: str | None = None
    """Parameter initialisation: default (PyTorch's), normal, xavier, kaiming, constant."""
    seed: int = 0
    """Seeds parameters, shuffling and synthetic data: same seed, same numbers."""
    device: str = "auto"
    """auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."""
    data_dir: str | None = None
    """Where dataset files live; None means $WORKBENCH_DATA, then ~/.cache/workbench/data."""
    out: str | None = None
    """Run folder for config.json, metrics.jsonl and checkpoints; None writes nothing."""
    resume: str | None = None
    """A checkpoint to start from (model and optimizer state), as the seeds resume training."""
    normalize: bool | None = None
    """Normalise inputs with the dataset's mean/std; None: classifiers yes, autoencoders no."""
    log_every: int = 10
    """Batches between BatchEnded events (the seeds log every 10 to 300 batches)."""
    limit_batches: int | None = None
    """Stop each epoch after this many batches (quick looks and tests); None: the whole set."""
    limit_test_batches: int | None = None
    """Evaluate on at most this many test batches; None: the whole test set."""
    test_batch_size: int = 1000
    """Batch size for evaluation (no gradients, so larger is fine)."""
    samples: int = 8
    """Test images shown as reconstructions or predictions each epoch."""
    download: bool = True
    """Try to download a missing dataset (fails cleanly offline)."""
    extra: dict = field(default_factory=dict)
    """Free-form settings a dataset or model may read (e.g. synthetic sizes)."""

    def with_defaults(self, defaults: dict) -> "RunConfig":
        """Fill unset fields from a model's defaults, then the global ones."""
        base = {"epochs": 5, "batch_size": 64, "optimizer": "adam", "lr": 1e-3, "momentum": 0.0,
                "weight_decay": 0.0, "init": "default", "normalize": True}
        base.update(defaults)
        changes = {k: v for k, v in base.items() if getattr(self, k, None) is None and hasattr(self, k)}
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        """Raise ConfigError with one sentence for the first value that cannot work."""

        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        if self.epochs is not None:
            need(isinstance(self.epochs, int) and self.epochs >= 1, f"epochs must be at least 1, got {self.epochs}.")
        if self.batch_size is not None:
            need(isinstance(self.batch_size, int) and self.batch_size >= 1,
                 f"batch size must be at least 1, got {self.batch_size}.")
        if self.optimizer is not None:
            need(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.lr is not None:
            need(math.isfinite(self.lr) and self.lr > 0, f"learning rate must be a positive number, got {self.lr}.")
        if self.momentum is not None:
            need(math.isfinite(self.momentum) and 0 <= self.momentum < 1, f"momentum must be in [0, 1), got {self.momentum}.")
        if self.weight_decay is not None:
            need(math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                 f"weight decay must be zero or positive, got {self.weight_decay}.")
        need(self.init is None or self.init in INITS, f"init must be one of {', '.join(INITS)}, got {self.init!r}.")
        need(self.device in DEVICES or re.fullmatch(r"cuda:\d+", self.device) is not None,
             f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {self.device!r}.")
        need(self.log_every >= 1, f"log_every must be at least 1, got {self.log_every}.")
        need(self.test_batch_size >= 1, f"test batch size must be at least 1, got {self.test_batch_size}.")
        if self.limit_batches is not None:
            need(self.limit_batches >= 1, f"limit_batches must be at least 1, got {self.limit_batches}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
