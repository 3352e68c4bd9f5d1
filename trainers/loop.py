"""The training loop: `run(config, control)` yields events and knows nothing about any screen.

Every problem a user can cause (bad values, missing data, a model that raises, NaN loss) ends the
generator with a RunFailed event carrying one readable sentence; `run` itself does not raise for them.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
from torch.nn import functional as F

from . import checkpoint as ckpt
from .batches import LoaderBatches, TensorBatches, to_float
from .compat import check_pair
from .config import RunConfig
from .control import RunControl
from .data import DATASETS, LoadedData, load
from .devices import describe, resolve
from .errors import ConfigError, ModelLoadError, WorkbenchError
from .events import (BatchEnded, CheckpointSaved, EpochEnded, ParametersSnapshot, Paused, Predictions,
                     Reconstructions, RunFailed, RunFinished, RunStarted)
from .inspection import count_parameters, parameter_table
from .models import ModelSpec, get_spec
from .record import RunRecorder, default_run_dir, run_folder


class TrainingDiverged(WorkbenchError):
    pass


def _resolve(config: RunConfig) -> tuple[RunConfig, ModelSpec]:
    config.validate()
    spec = get_spec(config.model)  # a user's file runs here, once per run
    resolved = config.with_defaults(spec.defaults)
    resolved.validate()
    return resolved, spec


def resolve_config(config: RunConfig) -> RunConfig:
    """The config with every unset value taken from the model's seed defaults, validated."""
    return _resolve(config)[0]


INITS = {
    "normal": lambda w: torch.nn.init.normal_(w, mean=0.0, std=0.01),
    "xavier": torch.nn.init.xavier_uniform_,
    "kaiming": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "constant": lambda w: torch.nn.init.constant_(w, 1.0),
}


def init_parameters(model: torch.nn.Module, how: str) -> None:
    """The d2l chapter's initialisations: weights (2-D and up) by `how`, biases to zero."""
    if how == "default":
        return
    fill = INITS[how]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fill(p)
            elif name.endswith("bias"):
                p.zero_()


def loss_fn(kind: str):
    # Cross-entropy on a model that already ends in log_softmax equals NLL on it (log_softmax is
    # idempotent), so "cross_entropy" is also safe for user models of unknown ending.
    return {"cross_entropy": F.cross_entropy, "nll": F.nll_loss, "mse": F.mse_loss}[kind]


def make_optimizer(cfg: RunConfig, params):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


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
    start_epoch: int = 0

    def batches(self, train: bool, generator: torch.Generator | None = None):
        cfg, d = self.cfg, self.data
        size = cfg.batch_size if train else cfg.test_batch_size
        limit = cfg.limit_batches if train else cfg.limit_test_batches
        common = dict(device=self.device, mean=d.mean, std=d.std, normalize=self.normalize, shuffle=train,
                      generator=generator, limit=limit)
        x, y = (d.train_x, d.train_y) if train else (d.test_x, d.test_y)
        if x is not None:
            return TensorBatches(x, y, size, channels_last=self.channels_last, **common)
        return LoaderBatches(d.train_dataset if train else d.test_dataset, size, **common)

    @property
    def channels_last(self) -> bool:
        """Convolutions on a GPU run faster on NHWC tensors; elsewhere the layout stays as it is."""
        return self.device.type == "cuda" and any(isinstance(m, torch.nn.Conv2d) for m in self.model.modules())

    def sample_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first few test images (uint8) and labels: the same ones every epoch."""
        k = self.cfg.samples
        if self.data.test_x is not None:
            return self.data.test_x[:k], self.data.test_y[:k]
        items = [self.data.test_dataset[i] for i in range(min(k, len(self.data.test_dataset)))]
        return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])

    def save(self, epoch: int) -> str:
        out = self.cfg.out or default_run_dir(self.cfg.model, self.cfg.dataset)
        self.cfg.out = out
        path = ckpt.save(ckpt.Path(out) / ckpt.FILENAME, model=self.model, optimizer=self.optimizer,
                         config=self.cfg.to_dict(), epoch=epoch, classes=self.data.classes,
                         input_shape=self.input_shape, task=self.task, mean=self.data.mean, std=self.data.std,
                         normalize=self.normalize)
        return str(path)


def prepare(config: RunConfig, progress=None) -> Session:
    cfg, spec = _resolve(config)
    reason = check_pair(cfg.model, cfg.dataset)
    if reason:
        raise ConfigError(reason)
    if cfg.out:
        cfg.out = run_folder(cfg.out, resuming=cfg.resume)
    device = resolve(cfg.device)
    input_shape = spec.input_shape or DATASETS[cfg.dataset].shape or (1, 28, 28)
    data = load(cfg.dataset, input_shape=input_shape, data_dir=cfg.data_dir, seed=cfg.seed,
                download=cfg.download, extra=cfg.extra, progress=progress)
    torch.manual_seed(cfg.seed)
    model = spec.build(num_classes=len(data.classes))
    task, loss = spec.task, spec.loss
    # One trial batch on the CPU finds shape problems (and a user model's task) before any training;
    # in eval mode, so it leaves no trace in BatchNorm statistics or the dropout random stream.
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
    normalize = task == "classify" and (cfg.normalize if cfg.normalize is not None else True)
    init_parameters(model, cfg.init)
    model.to(device)
    optimizer = make_optimizer(cfg, model.parameters())
    session = Session(cfg, spec, task, loss, device, data, model, optimizer, normalize, tuple(input_shape))
    if session.channels_last:
        model.to(memory_format=torch.channels_last)
    if cfg.resume:
        payload = ckpt.load(cfg.resume)
        ckpt.restore_model(model, payload, cfg.model)
        if payload.get("optimizer_state"):
            try:
                optimizer.load_state_dict(payload["optimizer_state"])
            except (ValueError, KeyError) as err:
                raise ConfigError(f"the checkpoint's optimizer state does not fit {cfg.optimizer}: {err}") from err
        session.start_epoch = int(payload.get("epoch", 0))
    return session


def _as_control(control) -> RunControl:
    if control is None:
        return RunControl()
    if isinstance(control, threading.Event):
        return RunControl(stop=control)
    return control


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def run(config: RunConfig, control: RunControl | threading.Event | None = None,
        progress: Callable[[str, int, int], None] | None = None) -> Iterator:
    """Train as configured, yielding events (see trainers.events). Never raises for user errors.

    `progress(what, done, total)` hears about downloads and image decoding before RunStarted; it is
    called from the thread that iterates, so a UI should post it onwards, not draw in it."""
    control = _as_control(control)
    state = {"epochs": 0, "checkpoint": None}
    recorder: RunRecorder | None = None
    try:
        session = prepare(config, progress)
        if session.cfg.out:
            recorder = RunRecorder(session.cfg.out)
        for event in _train(session, control, state):
            if recorder is not None:
                recorder.write(event)
            yield event
    except WorkbenchError as err:
        event = RunFailed(str(err), state["epochs"], state["checkpoint"])
    except torch.cuda.OutOfMemoryError:
        event = RunFailed("the GPU ran out of memory; use a smaller batch size.", state["epochs"], state["checkpoint"])
    except Exception as err:  # a model or dataset that raises mid-run: report it, keep the caller alive
        where = traceback.extract_tb(err.__traceback__)[-1]
        event = RunFailed(f"{type(err).__name__}: {err} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})",
                          state["epochs"], state["checkpoint"])
    else:
        return
    finally:
        if recorder is not None:
            recorder.close()  # also when the caller abandons the generator
    if recorder is not None:
        recorder.write(event)
    yield event


def _train(s: Session, control: RunControl, state: dict) -> Iterator:
    cfg, model, opt, device = s.cfg, s.model, s.optimizer, s.device
    criterion = loss_fn(s.loss)
    classify = s.task == "classify"
    # A resumed run continues with fresh shuffles rather than replaying epoch 1's order.
    generator = torch.Generator().manual_seed(cfg.seed + 1_000_003 * s.start_epoch)
    train_batches = s.batches(True, generator)
    test_batches = s.batches(False)
    total, trainable = count_parameters(model)
    n_train = min(s.data.train_size, len(train_batches) * cfg.batch_size)
    run_start = time.perf_counter()
    yield RunStarted(model=cfg.model, dataset=cfg.dataset, task=s.task, summary=str(model), parameters=total,
                     trainable=trainable, device=describe(device), train_size=s.data.train_size,
                     test_size=s.data.test_size, batches_per_epoch=len(train_batches),
                     epochs=s.start_epoch + cfg.epochs, classes=tuple(s.data.classes), config=cfg.to_dict(),
                     data_source=s.data.source, start_epoch=s.start_epoch, warnings=tuple(s.data.warnings))
    yield ParametersSnapshot(s.start_epoch, tuple(parameter_table(model)))
    sample_x, sample_y = s.sample_images()
    step = 0
    last = None
    for epoch in range(s.start_epoch + 1, s.start_epoch + cfg.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        # Sums stay on the device and are read only when reported: .item() per batch is a GPU sync.
        win_loss = torch.zeros((), device=device)
        win_correct = torch.zeros((), device=device, dtype=torch.int64)
        win_n = seen = 0
        ep_loss = ep_correct = 0.0
        batches = len(train_batches)
        stopped = False
        for b, (xb, yb) in enumerate(train_batches, start=1):
            out = model(xb)
            loss = criterion(out, xb if not classify else yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n = yb.shape[0]
            win_loss += loss.detach() * n
            if classify:
                win_correct += (out.detach().argmax(1) == yb).sum()
            win_n += n
            seen += n
            step += 1
            if b % cfg.log_every == 0 or b == batches:
                wl, wc = win_loss.item(), win_correct.item()  # the one sync per report
                if not math.isfinite(wl):
                    raise TrainingDiverged(f"the loss became {wl} at epoch {epoch}, batch {b}: training diverged; "
                                           f"try a lower learning rate than {cfg.lr:g}.")
                ep_loss += wl
                ep_correct += wc
                now = time.perf_counter()
                yield BatchEnded(epoch=epoch, batch=b, batches=batches, seen=seen, total=n_train,
                                 loss=wl / win_n, accuracy=(wc / win_n) if classify else None,
                                 samples_per_sec=seen / max(now - epoch_start, 1e-9),
                                 elapsed=now - run_start, step=step)
                win_loss.zero_()
                win_correct.zero_()
                win_n = 0
            if control.take_save_request():
                state["checkpoint"] = s.save(epoch - 1)
                yield CheckpointSaved(state["checkpoint"], epoch - 1)
            if control.paused and not control.stop.is_set():
                yield Paused(True)
                paused_at = time.perf_counter()
                while control.wait_while_paused():  # True: woken by a save request, still paused
                    if control.take_save_request():
                        state["checkpoint"] = s.save(epoch - 1)
                        yield CheckpointSaved(state["checkpoint"], epoch - 1)
                # Paused time is not training time: speed, elapsed and time left ignore it.
                pause = time.perf_counter() - paused_at
                epoch_start += pause
                run_start += pause
                yield Paused(False)
            if control.stop.is_set():
                stopped = True
                break
        if stopped:
            break
        train_seconds = time.perf_counter() - epoch_start
        eval_start = time.perf_counter()
        test_loss, test_acc = evaluate(s, test_batches, criterion)
        if not math.isfinite(test_loss):
            raise TrainingDiverged(f"the test loss became {test_loss} after epoch {epoch}: training diverged; "
                                   f"try a lower learning rate than {cfg.lr:g}.")
        last = EpochEnded(epoch=epoch, epochs=s.start_epoch + cfg.epochs, train_loss=ep_loss / seen,
                          train_accuracy=ep_correct / seen if classify else None, test_loss=test_loss,
                          test_accuracy=test_acc, seconds=train_seconds,
                          eval_seconds=time.perf_counter() - eval_start, samples_per_sec=seen / train_seconds)
        state["epochs"] = epoch - s.start_epoch
        yield last
        yield _samples(s, epoch, sample_x, sample_y)
        yield ParametersSnapshot(epoch, tuple(parameter_table(model)))
        if cfg.out:  # every finished epoch is on disk: a crash, NaN or lost connection keeps the last good one
            state["checkpoint"] = s.save(epoch)
            yield CheckpointSaved(state["checkpoint"], epoch)
        if control.stop.is_set():
            stopped = True
            break
    if cfg.out and stopped:
        # A stop mid-epoch keeps the weights trained so far; the label stays the last finished epoch.
        state["checkpoint"] = s.save(s.start_epoch + state["epochs"])
        yield CheckpointSaved(state["checkpoint"], s.start_epoch + state["epochs"])
    yield RunFinished(epochs_completed=state["epochs"], stopped=stopped, seconds=time.perf_counter() - run_start,
                      checkpoint=state["checkpoint"], final_test_accuracy=last.test_accuracy if last else None,
                      final_test_loss=last.test_loss if last else None)


def evaluate(s: Session, batches, criterion) -> tuple[float, float | None]:
    """Mean test loss (per element, as in training) and accuracy."""
    model = s.model
    classify = s.task == "classify"
    model.eval()
    loss_sum = torch.zeros((), device=s.device)
    correct = torch.zeros((), device=s.device, dtype=torch.int64)
    n = 0
    with torch.no_grad():
        for xb, yb in batches:
            out = model(xb)
            loss_sum += criterion(out, yb if classify else xb) * yb.shape[0]
            if classify:
                correct += (out.argmax(1) == yb).sum()
            n += yb.shape[0]
    model.train()
    n = max(n, 1)
    return loss_sum.item() / n, (correct.item() / n) if classify else None


def _samples(s: Session, epoch: int, x_uint8: torch.Tensor, y: torch.Tensor):
    model = s.model
    model.eval()
    with torch.no_grad():
        x = to_float(x_uint8.to(s.device), s.data.mean, s.data.std, s.normalize)
        out = model(x)
    model.train()
    if s.task == "reconstruct":
        return Reconstructions(epoch=epoch, originals=x_uint8.cpu().numpy(), outputs=_to_uint8(out))
    probs = torch.softmax(out.float(), dim=1).cpu().numpy().astype(np.float32)
    return Predictions(epoch=epoch, images=x_uint8.cpu().numpy(), labels=tuple(int(v) for v in y),
                       predicted=tuple(int(v) for v in probs.argmax(1)), probabilities=probs,
                       classes=tuple(s.data.classes))
