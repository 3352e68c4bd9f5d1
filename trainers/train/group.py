"""Trials of one model trained together in one process: a sweep's group (trainers.backends.group runs it).

Trials that share the model, the dataset, the batch size, the data order, the epochs and everything else that
changes shapes train as one stacked model (trainers.train.stacked): each step feeds all of them the same batch,
then each takes its own optimizer step with its own learning rate, momentum and weight decay (SGD or Adam: one
kind per group), from its own initial weights (its --seed, --init, --layer-init). Each trial is still a run of
its own: `run_group` yields (trial, event) pairs, the very events `trainers.run` yields for one run: its batches,
epochs, evaluation, samples, checkpoints (its slice of the stack as an ordinary model and optimizer state, in its
own folder) and its end; and each trial's control (stop, save, pause) is its own. A stopped, pruned or diverged
trial leaves the stack and the others go on; pausing one trial holds the group (they share every batch).

Where a grouped trial's numbers differ from the same trial trained alone (docs/sweeps.md): its convolutions run
on K models' channels at once, channels-last (oneDNN's other kernels round differently); a plain MLP's matrix
products give the same floats here. Each trial's optimizer step is the one it takes alone: fused SGD's kernel
(or Adam's, with --fused-adam) called directly on its slice, torch's Adam loop through its own step().
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

import torch

from ..config import RunConfig
from ..control import RunControl
from ..devices import describe, is_out_of_memory
from ..errors import ConfigError, WorkbenchError
from ..events import (END, BatchEnded, CheckpointSaved, EpochEnded, ParametersSnapshot, Paused, RunFailed,
                      RunFinished, RunStarted)
from ..inspection import count_parameters, parameter_table
from ..probes.insight import Evaluation, epoch_events, walk_samples
from .loop import EpochSums, diverged, samples
from .mlpstep import _hooked
from .prepare import Session, prepare
from .stacked import StackedNet, Ungroupable, why_ungroupable

# What may differ between the trials of one group: what a trial's own optimizer step and initial weights take.
WITHIN = ("lr", "momentum", "weight_decay", "init", "layer_init", "seed")
# Where a trial is, and how the launcher runs it: never part of what a group shares.
APART = ("out", "resume", "threads", "parent", "from_run", "weights_from", "data_seed")
PAUSE_POLL = 0.1  # seconds between looks at the trials' controls while one holds the group paused


def group_key(config: RunConfig) -> str:
    """Trials with equal keys can train as one stack: the same model, data, data order, batch size, epochs..."""
    shared = {k: v for k, v in config.to_dict().items() if k not in WITHIN + APART}
    shared["order_seed"] = config.order_seed
    return json.dumps(shared, sort_keys=True, default=str)


def ungroupable(config: RunConfig) -> str | None:
    """Why trials of `config` cannot train as one stacked model (one sentence, to say once), or None when they
    can. Builds the model on the CPU (a user's file runs here: the sweep names it) and traces it."""
    from ..models import get_spec, is_user_model
    from ..data.registry import DATASETS
    from .prepare import resolve_with_spec

    try:
        cfg, spec = resolve_with_spec(config)
    except WorkbenchError as err:
        return str(err)
    reason = apart(cfg)
    if reason:
        return reason
    classes = len(DATASETS[cfg.dataset].classes) if cfg.dataset in DATASETS else None
    try:
        models = [get_spec(cfg.model, sha256=cfg.model_sha256).build(num_classes=classes) for _ in range(2)]
    except Exception as err:  # noqa: BLE001 - the trial itself will say it in its own words
        return f"{cfg.model} could not be built here ({type(err).__name__})"
    reason = why_ungroupable(models[0])
    if reason:
        return f"{cfg.model}: {reason}"
    if is_user_model(cfg.model):
        return (f"{cfg.model} is a model from a file, and its forward may do more than tensor operations (a "
                f"stacked model would run it once for all trials)")
    shape = spec.input_shape or (DATASETS[cfg.dataset].shape if cfg.dataset in DATASETS else None) or (1, 28, 28)
    try:
        StackedNet(models, shape, loss=spec.loss, device=torch.device("cpu"), fast_mlp=cfg.fast_mlp)
    except Ungroupable as err:
        return f"{cfg.model}: {err}"
    return None


def apart(config: RunConfig) -> str | None:
    """Why a trial of these settings trains alone whatever its model (checked per trial: these can be searched)."""
    if config.amp != "off":
        return f"--amp {config.amp} trains one process per trial"
    if config.compile:
        return "--compile trains one process per trial"
    if config.layer_stats is not None:
        return "layer statistics (--layer-stats) are measured one process per trial"
    if config.nproc_per_node > 1 or config.nnodes > 1:
        return "a torchrun job trains one trial at a time"
    if config.freeze:
        return "--freeze trains one process per trial"
    return None


def fit_on_device(config: RunConfig, device_name: str, share: float = 0.8) -> int | None:
    """How many trials of `config` fit together in a GPU's free memory: one and two stacked trials' peaks of a
    training step and of an evaluation batch (with their optimizer's state and the data set on the device) give
    what each trial adds; None where it cannot be measured (no CUDA, a model that will not build)."""
    import math

    from ..data.registry import DATASETS
    from .prepare import resolve_with_spec

    device = torch.device(device_name)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    try:
        cfg, spec = resolve_with_spec(config)
        shape = spec.input_shape or (DATASETS[cfg.dataset].shape if cfg.dataset in DATASETS else None) or (1, 28, 28)
        classes = len(DATASETS[cfg.dataset].classes) if cfg.dataset in DATASETS else 10
        state = 2 if cfg.optimizer == "adam" else 1  # Adam's two moments; SGD's momentum buffer

        def peak(k: int) -> int:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            models = [spec.build(num_classes=classes).to(device) for _ in range(k)]
            net = StackedNet(models, shape, loss=spec.loss, device=device)
            x = torch.randn(cfg.batch_size, *shape, device=device)
            y = torch.randint(0, classes, (cfg.batch_size,), device=device)
            net.step(x, x if spec.loss == "mse" else y)
            net.forward(torch.randn(cfg.test_batch_size, *shape, device=device))
            params = sum(t.numel() * t.element_size() for t in net.stacked.values())
            used = torch.cuda.max_memory_allocated(device) - before + state * params
            del models, net, x, y
            return used

        one, two = peak(1), peak(2)
        each = max(two - one, 1)
        info = DATASETS.get(cfg.dataset)
        data = 0
        if info is not None:
            from ..data.registry import split_sizes

            sizes = split_sizes(cfg.dataset, cfg.data_dir, cfg.extra, cfg.order_seed)
            data = (sizes.train + sizes.test) * math.prod(shape) * 5  # float32 images and their uint8 originals
        free, _total = torch.cuda.mem_get_info(device)
        return max(1, int((free * share - data - (one - each)) // each))
    except Exception:  # noqa: BLE001 - a measurement that fails leaves the group as asked
        return None
    finally:
        torch.cuda.empty_cache()


# --- each trial's optimizer step, on its slice of the stack ------------------------------------------------

class StackedOptimizer:
    """Each trial's own torch optimizer (made by prepare, so its checkpoints hold an ordinary state_dict), stepped
    on its Parameters, which are views of the stack, with its slice of the gradients."""

    def __init__(self, net: StackedNet, sessions: list[Session]) -> None:
        self.net = net
        self.members = []
        for s in sessions:
            opt = s.optimizer
            if len(opt.param_groups) != 1:
                raise Ungroupable("an optimizer with several parameter groups")
            names = {id(p): n for n, p in s.model.named_parameters()}
            params = list(opt.param_groups[0]["params"])
            self.members.append((opt, params, [names[id(p)] for p in params]))

    def keep(self, rows: list[int]) -> None:
        self.members = [self.members[r] for r in rows]

    @torch.no_grad()
    def step(self) -> None:
        """Each trial's step as it would take it alone: a fused optimizer's kernel called directly (SGD on a CPU,
        --fused-adam), any other through its own step() (torch's Adam: its loop, its rounding)."""
        stacked = self.net.stacked
        for row, (opt, params, names) in enumerate(self.members):
            grads = [stacked[n].grad[row] for n in names]
            if opt.param_groups[0].get("fused") and not _hooked(opt):
                (sgd_step if isinstance(opt, torch.optim.SGD) else adam_step)(opt, params, grads)
                continue
            for p, g in zip(params, grads):
                p.grad = g
            opt.step()


def sgd_step(opt: torch.optim.SGD, params: list, grads: list) -> None:
    """torch.optim.SGD's step with fused=True (what a run alone takes on a CPU), with these gradients."""
    group = opt.param_groups[0]
    momentum = group["momentum"]
    bufs, first = [], False
    if momentum != 0:  # as SGD: the first step (no buffers yet) fills them with the gradients
        bufs = [opt.state[p].get("momentum_buffer") for p in params]
        first = all(b is None for b in bufs)
        bufs = [torch.empty_like(p) if b is None else b for p, b in zip(params, bufs)]
    torch._fused_sgd_(params, grads, bufs, weight_decay=group["weight_decay"], momentum=momentum, lr=group["lr"],
                      dampening=group["dampening"], nesterov=group["nesterov"], maximize=group["maximize"],
                      is_first_step=first, grad_scale=None, found_inf=None)
    if momentum != 0:
        for p, buf in zip(params, bufs):
            opt.state[p]["momentum_buffer"] = buf


def adam_step(opt: torch.optim.Adam, params: list, grads: list) -> None:
    """torch.optim.Adam's step with fused=True, its state where torch.optim.Adam keeps it (steps on the CPU)."""
    group = opt.param_groups[0]
    if group.get("amsgrad") or group.get("decoupled_weight_decay"):
        raise Ungroupable("Adam with amsgrad or decoupled weight decay")
    states = [opt.state[p] for p in params]
    for p, st in zip(params, states):
        if not st:
            st["step"] = torch.tensor(0.0, dtype=torch.float32)
            st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    steps = [st["step"] for st in states]
    torch._foreach_add_(steps, 1)
    device = params[0].device
    on_device = steps if all(s.device == device for s in steps) else [s.to(device) for s in steps]
    beta1, beta2 = group["betas"]
    torch._fused_adam_(params, grads, [st["exp_avg"] for st in states], [st["exp_avg_sq"] for st in states], [],
                       on_device, lr=float(group["lr"]), beta1=float(beta1), beta2=float(beta2),
                       weight_decay=float(group["weight_decay"]), eps=float(group["eps"]), amsgrad=False,
                       maximize=bool(group["maximize"]), grad_scale=None, found_inf=None)


# --- the trials -----------------------------------------------------------------------------------------------

@dataclass
class Member:
    """One trial of the group: its session (model whose Parameters are views of the stack, its optimizer, its
    checkpoint's state), control, and where its run stands."""

    index: int  # its place in run_group's list of configs
    s: Session
    control: RunControl
    done: int = 0
    step: int = 0
    elapsed: float = 0.0  # training seconds before this process
    baseline: float | None = None
    sums: EpochSums = field(default_factory=EpochSums)
    checkpoint: str | None = None
    last: EpochEnded | None = None
    evaluation: Evaluation | None = None
    pending_sums: bool = False  # its sums came from a checkpoint mid-epoch
    out: bool = False  # left the group (stopped, failed, finished)


def _position(state: dict | None) -> tuple:
    state = state or {}
    where = state.get("position")
    generator = state.get("generator")
    return (int(state.get("epoch", 0)), tuple(where) if where else None,
            bytes(generator.numpy().tobytes()) if isinstance(generator, torch.Tensor) else None)


class GroupTrainer:
    """The loop of trainers.train.loop.Trainer for a group: the same events, for each trial, from one stack."""

    def __init__(self, members: list[Member]) -> None:
        self.members = members
        first = members[0].s
        self.s0 = first
        state = first.resume or {}
        if len({_position(m.s.resume) for m in members}) != 1:
            raise ConfigError("the trials of a group must continue from the same batch; resume them apart")
        self.done = int(state.get("epoch", 0))
        self.generator = torch.Generator()
        if "generator" in state:
            self.generator.set_state(state["generator"])
        else:
            self.generator.manual_seed(first.cfg.order_seed + 1_000_003 * self.done)
        self.train_batches = first.batches(True, self.generator)
        self.test_batches = first.batches(False)
        where = state.get("position")
        self.resume_at = tuple(where) if where else None
        for m in members:
            st = m.s.resume or {}
            m.done = self.done
            m.step = int(st.get("step", self.done * len(self.train_batches)))
            m.elapsed = float(st.get("elapsed", 0.0))
            m.baseline = st.get("baseline")
            if where and st.get("sums"):
                m.sums = EpochSums(**st["sums"])
        if state.get("rng") is not None:
            torch.set_rng_state(state["rng"])
        if self.resume_at is None and self.done >= first.cfg.epochs and first.resume is not None:
            raise ConfigError(f"the checkpoints have {self.done} epoch(s) done, and --epochs ({first.cfg.epochs}) is "
                              f"the total to reach; ask for more epochs to train further.")
        self.net = StackedNet([m.s.model for m in members], first.input_shape, loss=first.loss, device=first.device,
                              fast_mlp=first.cfg.fast_mlp)
        self.optimizer = StackedOptimizer(self.net, [m.s for m in members])
        self.active = list(members)  # in the order of the stack's rows
        self.epoch_start_state = self.generator.get_state()
        self.segment_start = time.perf_counter()
        self.paused_seconds = 0.0

    # -- where each trial stands -----------------------------------------------------------------------------

    def elapsed(self, m: Member) -> float:
        return m.elapsed + time.perf_counter() - self.segment_start - self.paused_seconds

    def state(self, m: Member, epoch: int | None = None, batch: int | None = None) -> dict:
        mid = epoch is not None
        return {"epoch": m.done, "position": [epoch, batch] if mid else None, "step": m.step,
                "elapsed": self.elapsed(m), "baseline": m.baseline,
                "generator": self.epoch_start_state if mid else self.generator.get_state(),
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if m.s.device.type == "cuda" else None,
                "sums": asdict(m.sums) if mid else None, "scaler": None}

    def save(self, m: Member, epoch: int | None = None, batch: int | None = None) -> Iterator:
        if not m.s.cfg.out:
            return
        m.checkpoint = m.s.save(self.state(m, epoch, batch))
        batches = len(self.train_batches)
        if epoch is None:
            yield m, CheckpointSaved(m.checkpoint, m.done, batches, batches, complete=True)
        else:
            yield m, CheckpointSaved(m.checkpoint, epoch, min(batch, batches), batches, complete=False)

    def leave(self, gone: list[Member]) -> None:
        """These trials leave the stack; the others' rows close up."""
        for m in gone:
            m.out = True
        keep = [row for row, m in enumerate(self.active) if not m.out]
        with torch.no_grad():  # a trial gone holds copies of its own, not views that keep the old stack alive
            for m in gone:
                for p in m.s.model.parameters():
                    p.grad = None
                    p.data = p.data.clone()
        if len(keep) == len(self.active):
            return
        self.active = [self.active[row] for row in keep]
        if self.active:
            self.net.keep(keep)
            self.optimizer.keep(keep)

    def finished(self, m: Member, stopped: bool) -> RunFinished:
        return RunFinished(epochs_completed=m.done, stopped=stopped, seconds=self.elapsed(m), checkpoint=m.checkpoint,
                           final_test_accuracy=m.last.test_accuracy if m.last else None,
                           final_test_loss=m.last.test_loss if m.last else None)

    def failed(self, m: Member, reason: str) -> RunFailed:
        return RunFailed(reason, m.done, m.checkpoint)

    # -- the run ----------------------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[Member, object]]:
        s0, cfg = self.s0, self.s0.cfg
        if self.resume_at is not None:
            resumed_at = list(self.resume_at)
        else:
            resumed_at = [self.done, END] if s0.resume is not None else None
        sample_x, sample_y = s0.sample_images()
        for m in self.members:
            s = m.s
            total, trainable = count_parameters(s.model)
            yield m, RunStarted(model=s.cfg.model, dataset=s.cfg.dataset, task=s.task, summary=str(s.model),
                                parameters=total, trainable=trainable, device=describe(s.device),
                                train_size=s.data.train_size, test_size=s.data.test_size,
                                batches_per_epoch=len(self.train_batches), epochs=s.cfg.epochs,
                                classes=tuple(s.data.classes), config=s.cfg.to_dict(), data_source=s.data.source,
                                start_epoch=self.done, warnings=tuple(s.data.warnings), resumed_at=resumed_at)
            if resumed_at is None:
                yield m, ParametersSnapshot(0, tuple(parameter_table(s.model)))
                yield m, walk_samples(s, 0, sample_x, sample_y)
        for epoch in range(self.done + 1, cfg.epochs + 1):
            start = 0
            resumed = self.resume_at is not None and self.resume_at[0] == epoch
            if resumed:
                start = self.resume_at[1]
            else:
                for m in self.active:
                    m.sums = EpochSums()
            self.epoch_start_state = self.generator.get_state()
            yield from self.train_epoch(epoch, start)
            if not self.active:
                return
            eval_start = time.perf_counter()
            evaluated = self.evaluate()
            eval_seconds = time.perf_counter() - eval_start
            gone = []
            for m in list(self.active):
                problem = yield from self.end_epoch(m, epoch, evaluated[m.index], eval_seconds, resumed, sample_x,
                                                    sample_y)
                if problem:
                    yield m, self.failed(m, problem)
                    gone.append(m)
                elif m.control.stop.is_set():
                    yield m, self.finished(m, stopped=True)
                    gone.append(m)
            self.resume_at = None
            self.leave(gone)
            if not self.active:
                return
        for m in list(self.active):
            yield m, self.finished(m, stopped=False)
        self.leave(list(self.active))

    def train_epoch(self, epoch: int, start: int) -> Iterator:
        s0, cfg = self.s0, self.s0.cfg
        batches = len(self.train_batches)
        n_total = min(s0.data.train_size, batches * cfg.batch_size)
        device = s0.device
        win_loss = torch.tensor([m.sums.win_loss for m in self.active], device=device)
        win_correct = torch.tensor([int(m.sums.win_correct) for m in self.active], device=device, dtype=torch.int64)
        clock = time.perf_counter()
        for b, (xb, yb, _size) in enumerate(self.train_batches.epoch(start), start=start + 1):
            losses, out = self.net.step(xb, yb if s0.classify else xb)
            self.optimizer.step()
            n = yb.shape[0]
            win_loss += losses * n
            if s0.classify:
                win_correct += (out.argmax(-1) == yb).sum(1)
            for m in self.active:
                m.sums.win_n += n
                m.step += 1
            if any(m.baseline is None for m in self.active):  # once per run: the untrained models' losses
                for m, value in zip(self.active, losses.tolist()):
                    m.baseline = value if m.baseline is None else m.baseline
            gone: list[Member] = []
            if b % cfg.log_every == 0 or b == batches:
                wl, wc = win_loss.tolist(), win_correct.tolist()  # the one sync per report
                now = time.perf_counter()
                seconds, clock = now - clock, now
                for row, m in enumerate(self.active):
                    sums, wn = m.sums, m.sums.win_n
                    value = wl[row] / max(wn, 1)
                    problem = diverged(value, m.baseline, m.s.cfg.lr, f"epoch {epoch}, batch {b}")
                    if problem:
                        yield m, self.failed(m, problem)
                        gone.append(m)
                        continue
                    sums.loss += wl[row]
                    sums.correct += wc[row]
                    sums.seen += wn
                    sums.seconds += seconds
                    sums.win_n = 0
                    yield m, BatchEnded(epoch=epoch, batch=b, batches=batches, seen=min(b * cfg.batch_size, n_total),
                                        total=n_total, loss=value, accuracy=(wc[row] / max(wn, 1)) if s0.classify
                                        else None, samples_per_sec=sums.seen / max(sums.seconds, 1e-9),
                                        elapsed=self.elapsed(m), step=m.step)
                win_loss.zero_()
                win_correct.zero_()
            for m in self.active:
                if m not in gone:
                    m.control.poll()
            if any(m.control.stop.is_set() for m in self.active if m not in gone):
                for m in self.active:  # a sweep stopping stops all its trials at once: at the same batch, so they
                    if m not in gone:  # resume as one group again
                        m.control.poll_now()
            asking = [m for m in self.active if m not in gone and (m.control.save_requested or m.control.paused
                                                                   or m.control.stop.is_set())]
            if asking:
                self._keep_windows(win_loss, win_correct)
                spent = time.perf_counter() - clock
                for m in self.active:
                    m.sums.seconds += spent
                yield from self.between_batches(epoch, b, gone)
                clock = time.perf_counter()
                for m in self.active:
                    if m not in gone and m.control.stop.is_set():
                        yield from self.save(m, epoch, b)
                        yield m, self.finished(m, stopped=True)
                        gone.append(m)
            if gone:
                keep = [row for row, m in enumerate(self.active) if m not in gone]
                win_loss, win_correct = win_loss[keep], win_correct[keep]
                self.leave(gone)
                if not self.active:
                    return
        spent = time.perf_counter() - clock
        for m in self.active:
            m.sums.seconds += spent
        self._keep_windows(win_loss, win_correct)

    def _keep_windows(self, win_loss: torch.Tensor, win_correct: torch.Tensor) -> None:
        for m, wl, wc in zip(self.active, win_loss.tolist(), win_correct.tolist()):
            m.sums.win_loss, m.sums.win_correct = float(wl), float(wc)

    def between_batches(self, epoch: int, b: int, gone: list[Member]) -> Iterator:
        """Saves asked for, and pauses: one trial paused holds the group (they share every batch) until it is
        resumed or stopped; the others' saves and stops are served meanwhile."""
        for m in self.active:
            if m not in gone and m.control.take_save_request():
                yield from self.save(m, epoch, b)

        def holding() -> list[Member]:
            return [m for m in self.active if m not in gone and m.control.paused and not m.control.stop.is_set()]

        if not holding():
            return
        held = [m for m in self.active if m not in gone]
        for m in held:
            yield m, Paused(True)
        paused_at = time.perf_counter()
        wake = threading.Event()
        while holding():
            wake.wait(PAUSE_POLL)
            for m in held:
                m.control.poll()
                if m.control.take_save_request():
                    yield from self.save(m, epoch, b)
        self.paused_seconds += time.perf_counter() - paused_at
        for m in held:
            yield m, Paused(False)

    def evaluate(self) -> dict[int, tuple[float, float | None, Evaluation]]:
        """Each trial's mean test loss and accuracy, from one stacked pass over the test set."""
        s0 = self.s0
        k = len(self.active)
        loss_sum = torch.zeros(k, device=s0.device)
        correct = torch.zeros(k, device=s0.device, dtype=torch.int64)
        evaluations = [Evaluation(m.s) for m in self.active]
        n = 0
        for m in self.active:
            m.s.model.eval()
        with torch.no_grad():
            for xb, yb in self.test_batches:
                out = self.net.forward(xb).float()
                for row, e in enumerate(evaluations):
                    e.add(xb, yb, out[row])
                loss_sum += self.net.losses(out, yb if s0.classify else xb) * yb.shape[0]
                if s0.classify:
                    correct += (out.argmax(-1) == yb).sum(1)
                n += yb.shape[0]
        for m in self.active:
            m.s.model.train()
        n = max(n, 1)
        results = {}
        for m, e, total, right in zip(self.active, evaluations, loss_sum.tolist(), correct.tolist()):
            e.finish()
            results[m.index] = (total / n, (right / n) if s0.classify else None, e)
        return results

    def end_epoch(self, m: Member, epoch: int, evaluated, eval_seconds: float, resumed: bool, sample_x,
                  sample_y) -> Iterator:
        """The trial's epoch end, as Trainer.end_epoch; returns why it diverged, if it did."""
        s, sums = m.s, m.sums
        test_loss, test_acc, evaluation = evaluated
        problem = diverged(test_loss, m.baseline, s.cfg.lr, f"the evaluation after epoch {epoch}")
        if problem:
            return problem
        seen = max(sums.seen, 1)
        m.last = EpochEnded(epoch=epoch, epochs=s.cfg.epochs, train_loss=sums.loss / seen,
                            train_accuracy=sums.correct / seen if s.classify else None, test_loss=test_loss,
                            test_accuracy=test_acc, seconds=sums.seconds, eval_seconds=eval_seconds,
                            samples_per_sec=sums.seen / max(sums.seconds, 1e-9), resumed=resumed)
        m.done = epoch
        yield m, m.last
        yield m, samples(s, epoch, sample_x, sample_y)
        yield m, ParametersSnapshot(epoch, tuple(parameter_table(s.model)))
        for event in epoch_events(s, epoch, evaluation, sample_x, sample_y):
            yield m, event
        yield from self.save(m)
        return None


def run_group(configs: list[RunConfig], controls: list[RunControl],
              progress: Callable[[str, int, int], None] | None = None) -> Iterator[tuple[int, object]]:
    """Train the trials of `configs` together; yields (index into configs, event), every trial's events in the
    order `trainers.run` would yield them. Never raises for user errors: a trial that cannot start ends with its
    RunFailed and the others go on; a failure of the group's step ends every trial still in it."""
    sessions: dict[int, Session] = {}
    data = None
    for i, config in enumerate(configs):
        try:
            s = prepare(config, progress if data is None else None, data=data)
        except WorkbenchError as err:
            yield i, RunFailed(str(err), 0, None)
            continue
        except Exception as err:  # noqa: BLE001 - a model or checkpoint that raises: this trial's end only
            yield i, RunFailed(_words(err), 0, None)
            continue
        data = s.data
        sessions[i] = s
    if not sessions:
        return
    members = [Member(i, s, controls[i]) for i, s in sessions.items()]
    trainer: GroupTrainer | None = None
    reason = None
    try:
        trainer = GroupTrainer(members)
        for m, event in trainer.run():
            yield m.index, event
        return
    except (WorkbenchError, Ungroupable) as err:
        reason = str(err)
    except Exception as err:  # noqa: BLE001 - the step of all of them failed: each trial says so
        reason = ("the GPU ran out of memory with the trials stacked; use a smaller --group." if is_out_of_memory(err)
                  else _words(err))
    for m in members:
        if not m.out:
            yield m.index, RunFailed(reason, m.done, m.checkpoint)


def _words(err: BaseException) -> str:
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    place = f" (at {where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
    return f"{type(err).__name__}: {err}{place}"

