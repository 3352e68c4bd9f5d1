"""The training loop: `run(config, control)` yields events and knows nothing about any screen or file but
its checkpoints.

Read it as pytorch/examples' mnist: `Trainer.train_epoch()`, `Trainer.evaluate()`, `Trainer.run()`; the
preparation (model, optimizer, data on the device) is trainers.train.prepare. Every problem a user can cause
(bad values, missing data, a model that raises, a diverging loss) ends the generator with a RunFailed event
carrying one readable sentence; `run` itself does not raise for them.

A checkpoint records where training stands — the epoch and batch, the data-order generator's state at the
epoch's start, the random state, the epoch's running sums — so a run stopped at any batch and resumed
ends with the same weights and the same records as a run never stopped (bit for bit on the CPU).
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from ..checkpoint import FILENAME
from ..config import AUTO, RunConfig
from ..control import RunControl
from ..devices import GpuMeter, describe, gb, is_out_of_memory
from ..errors import ConfigError, WorkbenchError
from ..events import (END, BatchEnded, CheckpointSaved, EpochEnded, ParametersSnapshot, Paused, Predictions,
                     Reconstructions, RunFailed, RunFinished, RunStarted)
from ..inspection import count_parameters, parameter_table
from ..models import resume_command
from ..probes.layers import probe_for
from ..probes.insight import Evaluation, epoch_events, walk_samples
from .fit import choose_batch, fit_session
from .prepare import (Session, loss_fn, make_optimizer, prepare,  # noqa: F401 - re-exported
                      resolve_config)
from .step import TrainStep

DIVERGED = 100.0  # a loss this many times the untrained model's is a run that has diverged


class TrainingDiverged(WorkbenchError):
    pass


class OutOfMemory(WorkbenchError):
    """The GPU ran out of memory: the run was saved, and the sentence names a batch size that fits."""


@dataclass
class EpochSums:
    """The running totals of the epoch in progress (kept in checkpoints, so a resumed epoch's record is
    the record of one uninterrupted pass)."""

    loss: float = 0.0  # summed per-sample loss over reported windows
    correct: float = 0.0
    seen: int = 0
    seconds: float = 0.0  # training time of this epoch so far
    win_loss: float = 0.0  # the window since the last BatchEnded, synced only when saved
    win_correct: float = 0.0
    win_n: int = 0


def _compile_cache() -> None:
    """torch.compile's caches in the user's cache folder, not /tmp: a second run skips the compile."""
    import os
    from pathlib import Path

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "workbench" / "inductor"
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache))
    os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "1")


def _as_control(control) -> RunControl:
    if control is None:
        return RunControl()
    if isinstance(control, threading.Event):
        return RunControl(stop=control)
    return control


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


class Trainer:
    def __init__(self, s: Session, control: RunControl, notes: tuple[str, ...] = ()) -> None:
        self.s, self.control, self.notes = s, control, notes
        # on a GPU, memory beside progress: host-side reads of torch's allocator, no device sync
        self.meter = GpuMeter(s.device, s.cfg.gpu) if s.device.type == "cuda" else None
        self.phase: tuple[str, int] = ("start", 0)  # where the run is, for a sentence after an out-of-memory
        # where a save after an out-of-memory in training goes: the last batch whose step and sums are done
        # (`stepped`: the weights have moved past it), the epoch's unreported sums and when they were last read
        self.finished, self.stepped, self.window, self.clock = (0, 0), False, None, time.perf_counter()
        self.criterion = loss_fn(s.loss)
        state = s.resume or {}
        self.done = int(state.get("epoch", 0))  # the last finished (evaluated) epoch
        self.generator = torch.Generator()
        if "generator" in state:
            self.generator.set_state(state["generator"])
        else:  # a fresh run, or a checkpoint that did not record its data order
            self.generator.manual_seed(s.cfg.order_seed + 1_000_003 * self.done)
        self.train_batches = s.batches(True, self.generator)
        self.test_batches = s.batches(False)
        where = state.get("position")
        self.resume_at: tuple[int, int] | None = self.position(where, state.get("batch_size")) if where else None
        self.sums = EpochSums(**state["sums"]) if where and state.get("sums") else EpochSums()
        self.step = int(state.get("step", self.done * len(self.train_batches)))
        self.elapsed = float(state.get("elapsed", 0.0))  # training seconds before this process
        self.baseline: float | None = state.get("baseline")
        if state.get("rng") is not None:
            torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        if self.resume_at is None and self.done >= s.cfg.epochs and s.resume is not None:
            raise ConfigError(f"the checkpoint has {self.done} epoch(s) done, and --epochs ({s.cfg.epochs}) is the "
                              f"total to reach; ask for more epochs to train further.")
        self.epoch_start_state = self.generator.get_state()
        self.checkpoint: str | None = None
        # mid-epoch: the batches the last save counts (0: at an epoch's end, where any batch size goes on)
        self.saved_batch = self.resume_at[1] if self.resume_at and self.resume_at[1] < len(self.train_batches) else 0
        self.segment_start = time.perf_counter()
        self.last: EpochEnded | None = None
        self.probe = None  # trainers.probes.layers: set by run() when layer statistics may be asked for
        if s.compiled:
            _compile_cache()
            s.net = torch.compile(s.net if s.net is not None else s.model)
        self.train_step = TrainStep(s.model, s.optimizer, loss=s.loss, amp=s.cfg.amp, device=s.device,
                                    input_shape=s.input_shape, fast_mlp=s.cfg.fast_mlp, compiled=s.compiled,
                                    world=s.world, net=s.net)
        self.autocast, self.scaler = self.train_step.autocast, self.train_step.scaler
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])

    # -- where training stands ------------------------------------------------------------------------

    def position(self, where, saved_batch: int | None) -> tuple[int, int]:
        """A checkpoint's (epoch, batches done) in batches of this run's size: a resume with another batch size
        (the smaller one an out-of-memory names) goes on after the same samples, each trained once."""
        epoch, done = int(where[0]), int(where[1])
        new, old = int(self.s.cfg.batch_size), int(saved_batch or self.s.cfg.batch_size)
        if old == new or done == 0:
            return epoch, done
        n, limit = self.train_batches.n, self.s.cfg.limit_batches
        old_batches = min(-(-n // old), limit) if limit else -(-n // old)
        if done >= old_batches:
            return epoch, len(self.train_batches)  # the epoch's training was done; its evaluation was not
        samples = done * old
        if samples % new:
            sizes = [d for d in range(1, max(old, new) + 1) if samples % d == 0][-10:]
            raise ConfigError(f"the checkpoint stopped epoch {epoch} after {samples:,} samples ({done} batches of {old}), "
                              f"which batches of {new} do not divide; resume with a --batch-size that divides "
                              f"{samples:,} ({_or(sizes)}).")
        return epoch, min(samples // new, len(self.train_batches))

    def elapsed_now(self) -> float:
        return self.elapsed + time.perf_counter() - self.segment_start

    def state(self, epoch: int | None = None, batch: int | None = None) -> dict:
        """What a checkpoint must hold to continue from here: mid-epoch at (epoch, batch), or else after
        the last finished epoch."""
        mid = epoch is not None
        s = self.sums
        state = {"epoch": self.done, "position": [epoch, batch] if mid else None, "step": self.step,
                 "elapsed": self.elapsed_now(), "baseline": self.baseline,
                 "generator": self.epoch_start_state if mid else self.generator.get_state(),
                 "rng": torch.get_rng_state(),
                 "cuda_rng": torch.cuda.get_rng_state_all() if self.s.device.type == "cuda" else None,
                 "sums": asdict(s) if mid else None, "batch_size": self.s.cfg.batch_size,  # what `position` counts
                 "scaler": self.scaler.state_dict() if self.scaler is not None else None}
        return state

    def save(self, epoch: int | None = None, batch: int | None = None) -> Iterator:
        """Checkpoint here (rank 0 only; the others have the same weights) and say so."""
        if not self.s.cfg.out:
            return
        if self.s.rank == 0:
            self.checkpoint = self.s.save(self.state(epoch, batch))
        self.saved_batch = batch if epoch is not None and batch < len(self.train_batches) else 0
        batches = len(self.train_batches)
        if epoch is None:
            yield CheckpointSaved(self.checkpoint or "", self.done, batches, batches, complete=True)
        else:
            yield CheckpointSaved(self.checkpoint or "", epoch, min(batch, batches), batches, complete=False)

    # -- the run --------------------------------------------------------------------------------------

    def run(self) -> Iterator:
        s, cfg = self.s, self.s.cfg
        total, trainable = count_parameters(s.model)
        if self.resume_at is not None:
            resumed_at = list(self.resume_at)
        else:
            resumed_at = [self.done, END] if s.resume is not None else None
        yield RunStarted(model=cfg.model, dataset=cfg.dataset, task=s.task, summary=str(s.model), parameters=total,
                         trainable=trainable, device=describe(s.device), train_size=s.data.train_size,
                         test_size=s.data.test_size, batches_per_epoch=len(self.train_batches), epochs=cfg.epochs,
                         classes=tuple(s.data.classes), config=cfg.to_dict(), data_source=s.data.source,
                         start_epoch=self.done, warnings=tuple(s.data.warnings), resumed_at=resumed_at,
                         notes=self.notes)
        if resumed_at is None:
            yield ParametersSnapshot(0, tuple(parameter_table(s.model)))
        sample_x, sample_y = s.sample_images()
        self.probe = probe_for(s, sample_x, getattr(self.control, "layer_stats_wanted", None))
        if resumed_at is None and s.rank == 0:
            yield walk_samples(s, 0, sample_x, sample_y)  # the activations at initialisation
        stopped = out = False
        try:
            stopped = yield from self.epochs(sample_x, sample_y)
        except Exception as err:
            if s.world > 1 or not is_out_of_memory(err):
                raise  # under torchrun every rank must agree on a save: the run fails as before
            out = True
        if out:  # out of the except block: the error's frames, holding the batch's tensors, are gone
            yield from self.out_of_memory()  # saves where it can, then raises OutOfMemory with the sentence
        yield RunFinished(epochs_completed=self.done, stopped=stopped, seconds=self.elapsed_now(),
                          checkpoint=self.checkpoint,
                          final_test_accuracy=self.last.test_accuracy if self.last else None,
                          final_test_loss=self.last.test_loss if self.last else None)

    def epochs(self, sample_x, sample_y):
        """The epochs still to train; returns whether the run was stopped."""
        cfg = self.s.cfg
        for epoch in range(self.done + 1, cfg.epochs + 1):
            start, resumed = 0, False
            if self.resume_at is not None and self.resume_at[0] == epoch:
                start, resumed = self.resume_at[1], True
            else:
                self.sums = EpochSums()
            self.epoch_start_state = self.generator.get_state()
            if self.meter is not None:
                self.meter.reset()  # the epoch's peak
            self.finished, self.stepped, self.window = (epoch, start), False, None
            self.phase = ("train", epoch)
            yield from self.train_epoch(epoch, start)
            if self.control.stop.is_set():
                return True
            self.phase = ("evaluate", epoch)
            eval_start = time.perf_counter()
            evaluated = self.evaluate()
            if evaluated is None:  # stopped during evaluation: the epoch's training is kept
                yield from self.save(epoch, len(self.train_batches))
                return True
            self.phase = ("end", epoch)
            yield from self.end_epoch(epoch, evaluated, time.perf_counter() - eval_start, resumed, sample_x, sample_y)
            if self.control.stop.is_set():
                return True
        return False

    def train_epoch(self, epoch: int, start: int) -> Iterator:
        s, cfg, sums = self.s, self.s.cfg, self.sums
        model, device = (s.net if s.net is not None else s.model), s.device
        model.train()
        batches = len(self.train_batches)
        n_total = min(s.data.train_size, batches * cfg.batch_size)
        # Sums stay on the device and are read only when reported: .item() per batch is a GPU sync.
        win_loss = torch.tensor(sums.win_loss, device=device)
        win_correct = torch.tensor(int(sums.win_correct), device=device, dtype=torch.int64)
        self.window, self.clock = (win_loss, win_correct), time.perf_counter()
        probe = self.probe
        for b, (xb, yb, size) in enumerate(self.train_batches.epoch(start), start=start + 1):
            due = probe is not None and probe.due(b, batches)
            if due:
                probe.before_step()  # the weights before this step, to measure what the step did
            # DDP averages gradients over processes; weighting by this slice's share of the global batch
            # makes that average the gradient of the global batch's mean loss.
            weight = yb.shape[0] * s.world / size if s.world > 1 else None
            # watch_skip (a sync) only when stats are due: an fp16 overflow skips the step (routine while
            # the scale settles), and a skipped step has nothing to measure
            loss, out, stepped = self.train_step(xb, yb if s.classify else xb, weight=weight, watch_skip=due)
            self.stepped = True  # until this batch is counted: a save after an out-of-memory would be half of it
            due = due and stepped
            n = yb.shape[0]
            win_loss += loss.detach() * n
            if s.classify:
                win_correct += (out.detach().argmax(1) == yb).sum()
            sums.win_n += n
            self.step += 1
            if self.baseline is None:
                self.baseline = self.first_loss(loss)  # once per run: the untrained model's loss
            report = b % cfg.log_every == 0 or b == batches
            if report:
                wl, wc, wn = self.reduce(win_loss, win_correct, sums.win_n)  # the one sync per report
                self.check_loss(wl / max(wn, 1), f"epoch {epoch}, batch {b}")
                sums.loss += wl
                sums.correct += wc
                sums.seen += wn
                now = time.perf_counter()
                sums.seconds += now - self.clock
                self.clock = now
                memory, peak, util = self.meter.read() if self.meter is not None else (None, None, None)
                yield BatchEnded(epoch=epoch, batch=b, batches=batches, seen=min(b * cfg.batch_size, n_total),
                                 total=n_total, loss=wl / max(wn, 1), accuracy=(wc / max(wn, 1)) if s.classify else None,
                                 samples_per_sec=sums.seen / max(sums.seconds, 1e-9), elapsed=self.elapsed_now(),
                                 step=self.step, gpu_memory=memory, gpu_peak=peak, gpu_util=util)
                win_loss.zero_()
                win_correct.zero_()
                sums.win_n = 0
            self.finished, self.stepped = (epoch, b), False
            if due:  # after the step, before the next zero_grad: the gradients are still there
                yield probe.after_step(epoch, b, batches, self.step)
            if s.world > 1:
                if not report:
                    continue  # under torchrun every rank must act on the same batch: the report's
                self.agree()
            else:
                self.control.poll()
            if self.control.save_requested or self.control.paused or self.control.stop.is_set():
                sums.win_loss, sums.win_correct = float(win_loss.item()), float(win_correct.item())
                sums.seconds += time.perf_counter() - self.clock
                yield from self.between_batches(epoch, b)
                self.clock = time.perf_counter()
                if self.control.stop.is_set():
                    yield from self.save(epoch, b)
                    return
        sums.seconds += time.perf_counter() - self.clock
        sums.win_loss, sums.win_correct = float(win_loss.item()), float(win_correct.item())

    def out_of_memory(self) -> Iterator:
        """The GPU ran out of memory: save as a stop does (in training: at the last finished batch, unless the
        optimizer's step had begun), then end with one sentence naming a batch size that fits: measured on the
        GPU (trainers.train.fit), else half the batch."""
        import gc

        s, cfg = self.s, self.s.cfg
        gc.collect()
        if s.device.type == "cuda":
            torch.cuda.empty_cache()
        kind, epoch = self.phase
        batches = len(self.train_batches)
        label, halfway = None, False
        if kind == "train":
            done = self.finished[1]
            where = f"epoch {epoch}, batch {done + 1}/{batches}, with a batch of {cfg.batch_size}"
            halfway = self.stepped or self.train_step.optimizing
            if halfway:  # the weights and the optimizer's state may be half a step on: the last save stays
                where += ", in the optimizer's step" if self.train_step.optimizing else ", after its step"
            elif self.step > 0 or s.resume is not None:  # else nothing trained yet: a resume starts over
                if self.window is not None:  # the sums as they were after that batch
                    self.sums.win_loss, self.sums.win_correct = (float(v.item()) for v in self.window)
                    self.sums.seconds += time.perf_counter() - self.clock
                yield from self.save(epoch, done)
                label = f"epoch {epoch}, batch {done}/{batches}"
        elif kind == "evaluate":
            where = f"the evaluation after epoch {epoch} (test batches of {cfg.test_batch_size})"
            yield from self.save(epoch, batches)
            label = f"epoch {epoch}, batch {batches}/{batches}"
        elif kind == "end":
            where = f"the end of epoch {epoch}"
            yield from self.save()
            label = f"epoch {epoch}"
        else:
            where = "the start, before the first batch" if kind == "start" else f"epoch {epoch}"
        size, test, fits = self.fitting_batch(kind)
        samples = self.saved_batch * int(cfg.batch_size)  # what the resume goes on after, mid-epoch
        if size and samples and samples % size:
            size = max(d for d in range(1, size + 1) if samples % d == 0)
            fits += f"; {size} divides the {samples:,} samples the save has of its epoch"
        flag = (f" --batch-size {size}" if size else "") + (f" --test-batch-size {test}" if test else "")
        if not cfg.out:
            then = (f"train again with batch_size={size}" if size else f"train again with test_batch_size={test}"
                    if test else "free some of the GPU's memory")
        else:
            command = resume_command(Path(cfg.out).name, cfg.model) + flag
            unsaved = "the weights were half a step on, so they were not saved: " if halfway else ""
            if label and self.checkpoint:
                then = f"saved at {label}: `{command}` goes on from there"
            elif (Path(cfg.out) / FILENAME).exists():
                then = f"{unsaved}its last save stays: `{command}` goes on from it"
            else:
                then = f"{unsaved or 'nothing was saved: '}`{command}` starts it again"
        raise OutOfMemory(f"out of memory on {s.device} at {where}; {fits}; {then}.")

    def fitting_batch(self, kind: str) -> tuple[int | None, int | None, str]:
        """(a batch size that fits, a test batch size that fits, the words for them) after running out of memory
        in `kind` (train, evaluate, ...); None for what did not run out, or when even 1 does not fit."""
        s, failed, tests = self.s, int(self.s.cfg.batch_size), int(self.s.cfg.test_batch_size)
        free = "free some of the GPU's memory (workbench gpus shows whose)"
        if kind == "evaluate":
            also = f"the training batch of {failed} is not what ran out"
            if tests <= 1:
                return None, None, f"{also}, and not even a test batch of 1 fits: {free}"
            fit = self.measure(test_batch=tests // 2, train=False)
            if fit is not None and fit.test_batch:
                return None, fit.test_batch, (f"{also}; test batches of {fit.test_batch} fit (the evaluation takes "
                                              f"{gb(fit.test_need)} of the {gb(fit.room)} free on {s.device})")
            if fit is not None:
                return None, None, f"{also}, and not even a test batch of 1 fits in the {gb(fit.room)} free: {free}"
            return None, tests // 2, f"{also}; half the test batch, {tests // 2}, should fit"
        if kind != "train":
            return None, None, f"the training batch of {failed} is not what ran out: free some of the GPU's memory"
        if failed <= 1:
            return None, None, f"not even a batch of 1 fits: {free}"
        fit = self.measure(largest=failed // 2)
        if fit is not None and fit.batch:
            return fit.batch, None, f"a batch of {fit.batch} fits ({fit.measured(s.device)})"
        if fit is not None:
            return None, None, f"not even a batch of 1 fits in the {gb(fit.room)} free on {s.device}: {free}"
        return failed // 2, None, f"half the batch, {failed // 2}, should fit"

    def measure(self, **how):
        """trainers.train.fit's measurement on this run's GPU; None off a GPU or when it fails (a help: half the
        batch stands without it)."""
        if self.s.device.type != "cuda":
            return None
        try:
            return fit_session(self.s, **how)
        except Exception:  # noqa: BLE001
            return None

    def between_batches(self, epoch: int, b: int) -> Iterator:
        """Saves asked for, and pauses: paused time is not training time (speed and time left ignore it)."""
        control = self.control
        if control.take_save_request():
            yield from self.save(epoch, b)
        if control.paused and not control.stop.is_set():
            yield Paused(True)
            paused_at = time.perf_counter()
            if self.s.rank == 0:
                while control.wait_while_paused():  # True: woken by a save request, still paused
                    if control.take_save_request():
                        yield from self.save(epoch, b)
            if self.s.world > 1:
                self.agree(after_pause=True)  # the other ranks wait here until rank 0 goes on
            pause = time.perf_counter() - paused_at
            self.segment_start += pause
            yield Paused(False)

    def agree(self, after_pause: bool = False) -> None:
        """Under torchrun: every rank takes rank 0's requests (stop, save, pause) and any rank's stop signal,
        at the same batch. One small collective, at report points only, where the sums are synced anyway."""
        import torch.distributed as dist

        c, lead = self.control, self.s.rank == 0
        if lead:
            c.poll()
        flags = torch.tensor([float(c.stop.is_set()), 0.0 if after_pause else float(lead and c.take_save_request()),
                              0.0 if after_pause else float(lead and c.paused)], device=self.s.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        stop, save, pause = (bool(v) for v in flags.tolist())
        if stop:
            c.request_stop()
        if save:
            c.request_save()
        if not lead:  # mirrors rank 0: pausing, its wait is the second collective, in between_batches
            c.pause() if pause else c.resume()

    def first_loss(self, loss: torch.Tensor) -> float:
        if self.s.world > 1:
            import torch.distributed as dist

            value = loss.detach().double().clone()
            dist.all_reduce(value)
            return float(value.item()) / self.s.world
        return float(loss.item())

    def evaluate(self) -> tuple[float, float | None] | None:
        """Mean test loss (per element, as in training) and accuracy; None when stopped meanwhile."""
        s = self.s
        model = s.model
        model.eval()
        loss_sum = torch.zeros((), device=s.device)
        correct = torch.zeros((), device=s.device, dtype=torch.int64)
        n = 0
        self.evaluation = Evaluation(s)  # the epoch's Confusion or Latent, gathered on the way
        with torch.no_grad(), self.autocast():
            for xb, yb in self.test_batches:
                out = model(xb).float()
                self.evaluation.add(xb, yb, out)
                loss_sum += self.criterion(out, yb if s.classify else xb) * yb.shape[0]
                if s.classify:
                    correct += (out.argmax(1) == yb).sum()
                n += yb.shape[0]
                self.control.poll()
                if self.control.stop.is_set():
                    model.train()
                    return None
        model.train()
        total_loss, total_correct, n = self.reduce(loss_sum, correct, n)
        self.evaluation.finish()
        n = max(n, 1)
        return total_loss / n, (total_correct / n) if s.classify else None

    def end_epoch(self, epoch: int, evaluated, eval_seconds: float, resumed: bool, sample_x, sample_y) -> Iterator:
        s, sums = self.s, self.sums
        test_loss, test_acc = evaluated
        self.check_loss(test_loss, f"the evaluation after epoch {epoch}")
        seen = max(sums.seen, 1)
        self.last = EpochEnded(epoch=epoch, epochs=s.cfg.epochs, train_loss=sums.loss / seen,
                               train_accuracy=sums.correct / seen if s.classify else None, test_loss=test_loss,
                               test_accuracy=test_acc, seconds=sums.seconds, eval_seconds=eval_seconds,
                               samples_per_sec=sums.seen / max(sums.seconds, 1e-9), resumed=resumed,
                               gpu_peak=self.meter.peak() if self.meter is not None else None)
        self.done = epoch
        self.resume_at = None
        yield self.last
        if s.rank == 0:
            yield self.samples(epoch, sample_x, sample_y)
            yield ParametersSnapshot(epoch, tuple(parameter_table(s.model)))
            yield from epoch_events(s, epoch, self.evaluation, sample_x, sample_y)
        # every finished epoch is on disk: a crash, a kill or a lost connection keeps the last good one
        yield from self.save()

    def reduce(self, loss: torch.Tensor, correct: torch.Tensor, n: int) -> tuple[float, float, int]:
        """Sums over every process (one collective under torchrun), read to the host."""
        if self.s.world > 1:
            import torch.distributed as dist

            t = torch.stack([loss.double(), correct.double(), torch.tensor(float(n), device=loss.device,
                                                                            dtype=torch.float64)])
            dist.all_reduce(t)
            loss_v, correct_v, n_v = t.tolist()
            return loss_v, correct_v, int(n_v)
        return float(loss.item()), float(correct.item()), n

    def check_loss(self, value: float, where: str) -> None:
        problem = diverged(value, self.baseline, self.s.cfg.lr, where)
        if problem:
            raise TrainingDiverged(problem)

    def samples(self, epoch: int, x_uint8: torch.Tensor, y: torch.Tensor):
        return samples(self.s, epoch, x_uint8, y)


def diverged(value: float, baseline: float | None, lr: float, where: str) -> str | None:
    """Why a loss of `value` at `where` means training diverged (one sentence), or None while it is fine."""
    if not math.isfinite(value):
        return f"the loss became {value} at {where}: training diverged; try a lower learning rate than {lr:g}."
    if baseline is not None and baseline > 0 and value > DIVERGED * baseline:
        return (f"the loss grew from {baseline:.3g} to {value:.3g} by {where}: training diverged; try a lower "
                f"learning rate than {lr:g}.")
    return None


def samples(s: Session, epoch: int, x_uint8: torch.Tensor, y: torch.Tensor):
    """The epoch's Predictions (or Reconstructions) of the fixed sample images."""
    from ..data.batches import to_float

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


def run(config: RunConfig, control: RunControl | threading.Event | None = None,
        progress: Callable[[str, int, int], None] | None = None,
        adapt: Callable[[Session], None] | None = None) -> Iterator:
    """Train as configured, yielding events (see trainers.events). Never raises for user errors.

    `progress(what, done, total)` hears about downloads and image decoding before RunStarted; it is
    called from the thread that iterates, so a UI should post it onwards, not draw in it. Checkpoints go
    to `config.out` when it is set; the rest of the run folder is written by whoever consumes the events
    (trainers.runs.RunWriter). `adapt(session)` changes the prepared session before training (under
    torchrun: the rank, and the model wrapped in DDP)."""
    control = _as_control(control)
    trainer: Trainer | None = None
    session: Session | None = None
    try:
        session = prepare(config, progress)
        notes = (choose_batch(session),) if session.cfg.batch_size == AUTO else ()
        if adapt is not None:
            adapt(session)
        trainer = Trainer(session, control, notes)
        yield from trainer.run()
        return
    except WorkbenchError as err:
        reason = str(err)
    except Exception as err:  # a model or dataset that raises mid-run: report it, keep the caller alive
        if is_out_of_memory(err):
            reason = (f"the GPU ran out of memory before training began ({gb_words(session)}); a smaller model, or freeing "
                      f"the GPU's memory (workbench gpus shows whose it is), may fit.")
        else:
            where = traceback.extract_tb(err.__traceback__)[-1]
            reason = f"{type(err).__name__}: {err} (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
    except SystemExit as err:  # sys.exit() in a user's forward would end the trainer without a word
        reason = _exit_reason(err, config.model)
    done = trainer.done if trainer else 0
    yield RunFailed(reason, done, trainer.checkpoint if trainer else None)


def _or(items) -> str:
    """"1, 2 or 4"."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def gb_words(session: Session | None) -> str:
    """"79.1 GB of 80 GB free on cuda:2": the session's GPU, else the current one (prepare sets it once the
    device is known); never one that CUDA has not started on."""
    try:
        device = session.device if session is not None else None
        if device is None or device.type != "cuda":
            if not torch.cuda.is_initialized():
                return "its memory could not be read"
            device = torch.device("cuda", torch.cuda.current_device())
        free, total = torch.cuda.mem_get_info(device)
        return f"{gb(free)} of {gb(total)} free on {device}"
    except Exception:  # noqa: BLE001
        return "its memory could not be read"


def _exit_reason(err: SystemExit, model: str) -> str:
    """sys.exit(N) called by code the loop ran, as a sentence naming who called it and where."""
    where = traceback.extract_tb(err.__traceback__)[-1]
    place = f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno}"
    code = err.code if err.code is None or isinstance(err.code, int) else repr(str(err.code)[:80])
    user_file = model.rsplit(":", 1)[0] if ":" in model else None
    if user_file and Path(where.filename).resolve() == Path(user_file).expanduser().resolve():
        who = "the model's forward" if where.name == "forward" else f"the model's {where.name}()"
    else:
        who = f"{where.name}()"
    return f"{who} called sys.exit({code}) (at {place}), which would have ended the trainer; a model reports a " \
           f"problem by raising an exception."

