"""Everything a run needs before its first batch: the config resolved, the data on the device, the model
built and checked on a trial batch, initialised, the optimizer, and the state of a checkpoint to resume.
Every problem a user can cause raises a WorkbenchError with one sentence."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F

from .. import checkpoint as ckpt
from ..data.batches import LoaderBatches, TensorBatches, to_float
from ..compat import check_pair
from ..config import AUTO, RunConfig
from ..data.base import LoadedData
from ..data.registry import DATASETS, load
from ..devices import AUTO_BATCH_GPU_ONLY, gpu_record, resolve
from ..errors import ConfigError, ModelLoadError
from ..models import ModelSpec, get_spec
from ..models.init import apply_layer_settings, init_parameters
from . import compiler

SAMPLE_BYTES = 256 * 1024  # test images recorded per epoch for the image views: about this much, 8 to 32


def resolve_with_spec(config: RunConfig) -> tuple[RunConfig, ModelSpec]:
    config.validate()
    spec = get_spec(config.model, sha256=config.model_sha256)  # a user's file runs here, once per run
    resolved = config.with_defaults(spec.defaults)
    if spec.sha256:
        resolved = dataclasses.replace(resolved, model_sha256=spec.sha256)
    resolved.validate()
    return resolved, spec


def resolve_config(config: RunConfig) -> RunConfig:
    """The config with every unset value taken from the model's seed defaults, validated."""
    return resolve_with_spec(config)[0]


def loss_fn(kind: str):
    # Cross-entropy on a model that already ends in log_softmax equals NLL on it (log_softmax is
    # idempotent), so "cross_entropy" is also safe for user models of unknown ending.
    return {"cross_entropy": F.cross_entropy, "nll": F.nll_loss, "mse": F.mse_loss}[kind]


def make_optimizer(cfg: RunConfig, params):
    """The configured optimizer. On a CPU, torch's default is a Python loop over the parameters (a quarter
    of mlp-deep's step on two cores); SGD takes its fused kernel instead (x1.12 on mlp-deep), with the
    loop's numbers bit for bit (tests/trainers/test_speed_options.py). Adam's fused kernel (x1.2-1.8 on
    mlp-wide) rounds differently, so it is only taken with `fused_adam`; its foreach kernels keep the
    numbers but did not pay (x0.84-1.07 on real data). On a GPU, torch's own default (foreach) stays."""
    if not cfg.compile:
        compiler.defer()  # the optimizer would import torch's compiler only to mark itself uncompiled
    params = list(params)
    on_cpu = bool(params) and all(p.device.type == "cpu" and p.dtype in FUSED_DTYPES for p in params)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                               fused=True if on_cpu else None)
    fused = bool(cfg.fused_adam) and bool(params) and all(p.dtype in FUSED_DTYPES for p in params)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True if fused else None)


FUSED_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


def like_parameters(optimizer: torch.optim.Optimizer) -> None:
    """Lay each loaded state tensor out as its parameter is (load_state_dict keeps the saved strides). A trial
    saved from a group holds contiguous slices, a run alone channels-last convolutions (on a GPU, or with
    --channels-last): the fused kernels walk both by the parameter's strides, or refuse a mismatch."""
    for p, state in optimizer.state.items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == p.shape and value.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def channels_last(cfg: RunConfig, device: torch.device, model: torch.nn.Module) -> bool:
    """Whether a model trains on NHWC tensors. Convolutions on a GPU run faster that way; on a CPU too
    (cnn-pool x1.3 on 2 cores, its max pooling above all), but oneDNN's NHWC convolutions round
    differently there, so only with `--channels-last`."""
    wanted = device.type == "cuda" or bool(cfg.channels_last)
    return wanted and any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


@dataclass
class Session:
    """Everything a run needs, built and checked before the first batch."""

    cfg: RunConfig
    spec: ModelSpec
    task: str
    loss: str
    device: torch.device
    data: LoadedData
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    normalize: bool
    input_shape: tuple[int, int, int]
    resume: dict | None = None  # the checkpoint's training state, when resuming
    rank: int = 0  # under torchrun: this process's rank and the number of processes
    world: int = 1
    net: torch.nn.Module | None = None  # the model as trained: DDP's wrapper under torchrun, else the model
    compiled: bool = False  # torch.compile the training forward (done once, by the trainer)
    extra: dict = field(default_factory=dict)

    @property
    def classify(self) -> bool:
        return self.task == "classify"

    def batches(self, train: bool, generator: torch.Generator | None = None):
        cfg, d = self.cfg, self.data
        size = cfg.batch_size if train else cfg.test_batch_size
        limit = cfg.limit_batches if train else cfg.limit_test_batches
        common = dict(device=self.device, mean=d.mean, std=d.std, normalize=self.normalize, shuffle=train,
                      generator=generator, limit=limit, part=(self.rank, self.world))
        x, y = (d.train_x, d.train_y) if train else (d.test_x, d.test_y)
        if x is not None:
            return TensorBatches(x, y, size, channels_last=self.channels_last, **common)
        return LoaderBatches(d.train_dataset if train else d.test_dataset, size, **common)

    @property
    def channels_last(self) -> bool:
        return channels_last(self.cfg, self.device, self.model)

    def sample_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first few test images (uint8) and labels, the same ones every epoch: as many as fit in
        about SAMPLE_BYTES, from 8 up to `cfg.samples`."""
        per_image = max(1, int(torch.tensor(self.input_shape).prod()))
        k = max(min(8, self.cfg.samples), min(self.cfg.samples, SAMPLE_BYTES // per_image))
        if self.data.test_x is not None:
            return self.data.test_x[:k], self.data.test_y[:k]
        items = [self.data.test_dataset[i] for i in range(min(k, len(self.data.test_dataset)))]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])

    def save(self, state: dict) -> str:
        """Write checkpoint.pt (and its SHA-256 beside it) with the model, optimizer and `state`."""
        model = self.model.module if hasattr(self.model, "module") else self.model  # DDP: the plain names
        path = ckpt.save(Path(self.cfg.out) / ckpt.FILENAME, model=model, optimizer=self.optimizer,
                         config=self.cfg.to_dict(), classes=self.data.classes, input_shape=self.input_shape,
                         task=self.task, mean=self.data.mean, std=self.data.std, normalize=self.normalize,
                         state=state)
        return str(path)


def prepare(config: RunConfig, progress=None, data: LoadedData | None = None) -> Session:
    """`data`: already loaded for this config's dataset (a group of trials loads it once)."""
    cfg, spec = resolve_with_spec(config)
    reason = check_pair(cfg.model, cfg.dataset)
    if reason:
        raise ConfigError(reason)
    payload = None
    if cfg.resume and not _never_saved(cfg.resume):
        payload = ckpt.load(cfg.resume)  # a bad checkpoint fails before the data loads
    parent = None
    if payload is None and cfg.weights_from:
        parent = ckpt.load(cfg.weights_from)  # a fork's first weights: its parent's last saved ones
    device = resolve(cfg.device)
    if device.type == "cuda":
        # the run's GPU is the current one: what asks without a device (a library's workspace, a sentence about
        # its memory) asks this GPU, and no context opens on cuda:0 when auto took another
        torch.cuda.set_device(device)
    if cfg.batch_size == AUTO and device.type != "cuda":
        raise ConfigError(AUTO_BATCH_GPU_ONLY.format(where="the CPU" if device.type == "cpu" else str(device)))
    # which GPU, driver and CUDA the run trained with, in its config (the run's header shows it)
    cfg = dataclasses.replace(cfg, gpu=gpu_record(device))
    if device.type == "cpu":
        # Denormals take the slow path in x86 floating point: mlp's second epoch was 1.7x its first. This
        # process's threads (the intra-op pool is made after this) treat them as zero.
        torch.set_flush_denormal(bool(cfg.flush_denormal))
    if cfg.threads:  # a sweep's trials share the cores: each its part, none oversubscribing
        torch.set_num_threads(cfg.threads)
    input_shape = spec.input_shape or DATASETS[cfg.dataset].shape or (1, 28, 28)
    if data is None:
        data = load(cfg.dataset, input_shape=input_shape, data_dir=cfg.data_dir, seed=cfg.order_seed,
                    download=cfg.download, extra=cfg.extra, progress=progress)
    torch.manual_seed(cfg.seed)
    model = spec.build(num_classes=len(data.classes))
    task, loss = _check_model(cfg, spec, model, data, input_shape)
    normalize = task == "classify" and (cfg.normalize if cfg.normalize is not None else True)
    init_parameters(model, cfg.init)
    apply_layer_settings(model, cfg.layer_init, cfg.freeze)
    if parent is not None:
        _start_from(model, parent, cfg)
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("every parameter is frozen, so nothing would train; unfreeze at least one layer.")
    optimizer = make_optimizer(cfg, trainable)
    session = Session(cfg, spec, task, loss, device, data, model, optimizer, normalize, tuple(input_shape))
    if session.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError("--amp fp16 needs a CUDA GPU (float16 on a CPU is slow and unscaled); use --amp bf16 here.")
    if cfg.compile:
        session.compiled = True
    if payload is not None:
        ckpt.restore_model(model, payload, cfg.model)
        saved = payload.get("config")
        saved_optimizer = saved.get("optimizer") if isinstance(saved, dict) else None
        if payload.get("optimizer_state") and saved_optimizer in (None, cfg.optimizer):
            try:
                optimizer.load_state_dict(payload["optimizer_state"])
            except (ValueError, KeyError) as err:
                raise ConfigError(f"the checkpoint's optimizer state does not fit {cfg.optimizer}: {err}") from err
            like_parameters(optimizer)
        session.resume = ckpt.training_state(payload)
        if isinstance(saved, dict) and isinstance(saved.get("batch_size"), int):
            # checkpoints before the state said it: the position counts batches of the size the run saved with
            session.resume.setdefault("batch_size", saved["batch_size"])
    return session


def _start_from(model: torch.nn.Module, parent: dict, cfg: RunConfig) -> None:
    """The parent's weights in place of the initial ones; shapes that do not fit are one sentence naming both."""
    saved = parent.get("config") if isinstance(parent.get("config"), dict) else {}
    try:
        model.load_state_dict(parent["model_state"])
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[-1].strip()[:160] if str(err).strip() else type(err).__name__
        raise ConfigError(f"--weights-from {Path(cfg.weights_from).name}: its {parent.get('model_name')} weights (from "
                          f"{saved.get('dataset', '?')}) do not fit {cfg.model} on {cfg.dataset}: {first}") from None


def _never_saved(resume: str) -> bool:
    """A run folder whose trainer was stopped before its first save: resuming it starts it over."""
    folder = Path(resume).expanduser()
    return folder.is_dir() and not (folder / ckpt.FILENAME).exists() and (folder / "config.json").exists()


def _check_model(cfg: RunConfig, spec: ModelSpec, model, data: LoadedData, input_shape) -> tuple[str, str]:
    """One trial batch on the CPU finds shape problems (and a user model's task) before any training; in
    eval mode, so it leaves no trace in BatchNorm statistics or the dropout random stream."""
    task, loss = spec.task, spec.loss
    probe = to_float(data.train_x[:2] if data.train_x is not None else torch.stack(
        [data.train_dataset[i][0] for i in range(min(2, len(data.train_dataset)))]), data.mean, data.std, False)
    shape = "x".join(map(str, input_shape))
    try:
        model.eval()
        with torch.no_grad():
            out = model(probe)
        model.train()
    except Exception as err:
        raise ModelLoadError(f"{cfg.model} failed on a batch of {shape} images from {cfg.dataset}: "
                             f"{type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor):
        raise ModelLoadError(f"{cfg.model} returned a {type(out).__name__} for a batch of {shape} images; "
                             f"it must return one tensor (logits, or the reconstructed images).")
    if spec.seed == "user":
        if tuple(out.shape) == tuple(probe.shape):
            task, loss = "reconstruct", "mse"
        elif out.dim() != 2:
            raise ModelLoadError(f"{cfg.model} returned shape {tuple(out.shape)}; a classifier must return "
                                 f"(batch, classes) and an autoencoder its input's shape {tuple(probe.shape)}.")
    if task == "classify" and out.shape[-1] != len(data.classes):
        raise ConfigError(f"{cfg.model} outputs {out.shape[-1]} classes but {cfg.dataset} has {len(data.classes)}.")
    return task, loss
