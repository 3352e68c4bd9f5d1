"""What a run tells the world, as frozen dataclasses of plain Python and numpy data (no live tensors).

`trainers.run()` yields these in this order: RunStarted, a ParametersSnapshot and Activations of epoch 0,
then per epoch any number of BatchEnded, one EpochEnded, Reconstructions (reconstruct models) or
Predictions (classifiers), a ParametersSnapshot, Latent or Confusion, and Activations; LayerStats after
the batches they were asked for (off by default); Paused and CheckpointSaved whenever they happen;
finally exactly one of RunFinished or RunFailed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

END = 1 << 30  # the "batch" of an epoch's evaluation and samples: after every batch of that epoch


@dataclass(frozen=True)
class ParamInfo:
    name: str
    shape: tuple[int, ...]
    count: int
    trainable: bool
    mean: float
    std: float
    first: tuple[float, ...]  # the first few values, as the seeds print them
    shared_with: str | None = None  # the name this tensor was first registered under, when it is reused


@dataclass(frozen=True)
class Loading:
    """Before RunStarted: a download or decode under way (from trainers.process; trainers.run reports
    these to its `progress` callback instead)."""

    what: str  # e.g. "downloading train-images-idx3-ubyte.gz"
    done: int
    total: int  # 0 when unknown


@dataclass(frozen=True)
class RunStarted:
    model: str
    dataset: str
    task: str  # "classify" or "reconstruct"
    summary: str  # print(model)
    parameters: int
    trainable: int
    device: str
    train_size: int
    test_size: int
    batches_per_epoch: int
    epochs: int  # the epoch this run will reach: --epochs is the total, a resumed run included
    classes: tuple[str, ...]
    config: dict = field(default_factory=dict)  # the resolved RunConfig, as a dict
    data_source: str = ""  # where the data came from, for the user
    start_epoch: int = 0  # epochs already done by the checkpoint this run resumed from
    warnings: tuple[str, ...] = ()  # things the user should know (skipped images, a held-out split)
    resumed_at: tuple[int, int] | None = None  # (epoch, batches done) the run continues from; (epoch, END)
    # after a finished epoch. Whatever a log recorded past this point belongs to a pass that was cut off.
    notes: tuple[str, ...] = ()  # what the trainer decided for the user, a sentence each (--batch-size auto's choice)


@dataclass(frozen=True)
class BatchEnded:
    epoch: int  # 1-based
    batch: int  # 1-based, within the epoch
    batches: int  # batches in this epoch
    seen: int  # samples seen this epoch
    total: int  # samples in this epoch
    loss: float  # mean loss over the batches since the previous BatchEnded
    accuracy: float | None  # fraction correct over those batches; None for reconstruction
    samples_per_sec: float
    elapsed: float  # seconds since the run started
    step: int  # batches trained since the run's very start (resumed runs continue the count)
    gpu_memory: int | None = None  # on a GPU: bytes the trainer's tensors hold now (torch.cuda.memory_allocated)
    gpu_peak: int | None = None  # and at most since the epoch began (max_memory_allocated)
    gpu_util: int | None = None  # the GPU's utilisation, percent (NVML; None when it cannot say)


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float | None
    test_loss: float
    test_accuracy: float | None
    seconds: float  # training time of this epoch (evaluation excluded)
    eval_seconds: float = 0.0
    samples_per_sec: float = 0.0
    resumed: bool = False  # the epoch was cut off and continued from a checkpoint (its record is one pass)
    gpu_peak: int | None = None  # on a GPU: the most bytes the trainer's tensors held in this epoch (this pass)


@dataclass(frozen=True)
class Reconstructions:
    epoch: int
    originals: np.ndarray  # uint8, (N, C, H, W), the same test images every epoch
    outputs: np.ndarray  # uint8, (N, C, H, W)


@dataclass(frozen=True)
class Predictions:
    epoch: int
    images: np.ndarray  # uint8, (N, C, H, W), the same test images every epoch
    labels: tuple[int, ...]
    predicted: tuple[int, ...]
    probabilities: np.ndarray  # float32, (N, classes), softmax
    classes: tuple[str, ...]


@dataclass(frozen=True)
class ParametersSnapshot:
    epoch: int  # 0: before training
    parameters: tuple[ParamInfo, ...]  # the live model's named parameters, with their statistics


@dataclass(frozen=True)
class LayerStat:
    """One layer of a LayerStats record (trainers.probes.layers). A layer with parameters has the norms and
    the histogram (over its own parameters, weight and bias together); a ReLU, Sigmoid or Tanh module has
    `dead` or `saturated` instead, measured on a fixed batch of test images."""

    name: str  # the module's name in the model ("fc1", "features.0")
    kind: str  # its class ("Linear", "ReLU")
    parameters: int = 0
    weight_norm: float | None = None  # L2 norm of the parameters after the step
    grad_norm: float | None = None  # L2 norm of their gradient at the step; None: no gradient (frozen, unused)
    update_ratio: float | None = None  # measured ||w_after - w_before|| / ||w_before|| of the step
    counts: np.ndarray | None = None  # int64 (bins,): histogram of the parameters' values (of at most 16,384
    # evenly strided values per tensor: its shape)
    edges: np.ndarray | None = None  # float32 (bins + 1,)
    dead: float | None = None  # ReLU: share of its units that output 0 for every image of the fixed batch
    saturated: float | None = None  # Sigmoid/Tanh: share of its outputs in the flat ends (>0.99 or <0.01; |y|>0.99)


@dataclass(frozen=True)
class LayerStats:
    """Per-layer statistics after one optimisation step: every N batches and at each epoch's last batch
    when asked for (RunConfig.layer_stats). Placed in the log at (epoch, batch), like BatchEnded."""

    epoch: int
    batch: int  # the step's batch in the epoch; == batches for the epoch's last
    batches: int
    step: int
    layers: tuple[LayerStat, ...]
    flags: tuple[str, ...] = ()  # warning signs, one sentence each (vanishing gradients, dead ReLUs...)
    images: int = 0  # images in the fixed batch the activations were measured on


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    epoch: int  # complete: the last finished epoch; else the epoch in progress
    batch: int = 0  # batches of that epoch done
    batches: int = 0  # batches in an epoch
    complete: bool = True  # saved after the epoch's evaluation

    @property
    def label(self) -> str:
        """"epoch 3" or "epoch 1, batch 412/938", as a person says where a save stands."""
        if self.complete or not self.batches:
            return f"epoch {self.epoch}"
        return f"epoch {self.epoch}, batch {self.batch}/{self.batches}"


@dataclass(frozen=True)
class Paused:
    paused: bool


@dataclass(frozen=True)
class RunFinished:
    epochs_completed: int  # epochs finished in all, a resumed run's earlier ones included
    stopped: bool  # True when the user stopped it early
    seconds: float
    checkpoint: str | None = None
    final_test_accuracy: float | None = None
    final_test_loss: float | None = None


@dataclass(frozen=True)
class RunFailed:
    reason: str  # one readable sentence
    epochs_completed: int = 0
    checkpoint: str | None = None  # the last good weights, when they were saved


@dataclass(frozen=True)
class LayerActivation:
    """What one leaf layer's forward call made of the Activations images (trainers.probes.activations)."""

    name: str  # the module's qualified name; a module called twice appears twice, the second "name#2"
    kind: str  # the module's type, e.g. "Conv2d"
    shape: tuple[int, ...]  # the output of one image, without the batch dimension
    low: tuple[float, ...]  # per image: the output's min, max and mean
    high: tuple[float, ...]
    mean: tuple[float, ...]
    maps: np.ndarray | None = None  # uint8 (images, k, H, W): the first k channels, each min-max scaled
    map_low: np.ndarray | None = None  # float32 (images, k): each map's raw range before scaling
    map_high: np.ndarray | None = None
    follows: str | None = None  # a nonlinearity right after a layer with maps: that layer's name


@dataclass(frozen=True)
class Activations:
    """A few fixed test images walked through every leaf layer (epoch 0: at initialisation)."""

    epoch: int
    images: np.ndarray  # uint8 (N, C, H, W), the first of the Predictions/Reconstructions images
    labels: tuple[int, ...]
    classes: tuple[str, ...]
    layers: tuple[LayerActivation, ...]


@dataclass(frozen=True)
class Confusion:
    """A classifier's whole evaluation pass: where it is wrong."""

    epoch: int
    classes: tuple[str, ...]
    matrix: np.ndarray  # int64 (classes, classes): rows the true class, columns the predicted one
    per_class: tuple[float | None, ...]  # accuracy per true class; None where the test set has none
    worst_images: np.ndarray  # uint8 (k, C, H, W): the most confidently wrong test images, worst first
    worst_true: tuple[int, ...]
    worst_predicted: tuple[int, ...]
    worst_confidence: tuple[float, ...]  # softmax probability of the wrong prediction


@dataclass(frozen=True)
class Latent:
    """An autoencoder's evaluation pass: its worst reconstructions, and where its code puts test images."""

    epoch: int
    classes: tuple[str, ...]
    mean_error: float  # per-image mean squared error, averaged over the test set
    worst_images: np.ndarray  # uint8 (k, C, H, W), worst reconstructed first
    worst_outputs: np.ndarray  # uint8 (k, C, H, W)
    worst_errors: tuple[float, ...]
    points: np.ndarray | None = None  # float16 (n, 2): the codes of a fixed test subset, PCA-projected
    labels: np.ndarray | None = None  # int16 (n,): their classes
    explained: tuple[float, ...] = ()  # variance share of each of the two components
    code_size: int = 0  # 0: the model shows no code (no `encode` method or `encoder` module)


Event = (Loading | RunStarted | BatchEnded | EpochEnded | Reconstructions | Predictions | ParametersSnapshot
         | CheckpointSaved | Paused | RunFinished | RunFailed
         | Activations | Confusion | Latent | LayerStats)
