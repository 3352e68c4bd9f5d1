"""The cost of a run before it starts: parameters, mult-adds per sample and memory per batch (torchinfo's
columns), then a timed dry run of a few optimisation steps turned into an estimate per epoch and for the run.

`estimate(config, timed=False)` needs only the model and the dataset's shape and size (no image is read, no
download is tried); `timed=True` adds the dry run: forward, loss, backward and optimizer step, as the loop
does them, on the configured device and batch size, on random data of the dataset's shape.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

from .config import AUTO, RunConfig
from .errors import ConfigError, ModelLoadError, WorkbenchError

FLOAT_BYTES = 4  # the model sees float32 inputs, whatever the data is stored as
AT_START = "auto: measured at start"  # the batch note of a cost that leaves --batch-size auto to the run


@dataclass(frozen=True)
class Cost:
    model: str
    dataset: str
    input_shape: tuple[int, ...]  # one sample, (C, H, W)
    batch_size: int
    epochs: int
    params: int  # unique parameters (a shared tensor counts once)
    trainable: int
    mult_adds_per_sample: int  # torchinfo's "Total mult-adds" for one sample (weights and biases of each call)
    param_bytes: int  # torchinfo's "Params size"
    activation_bytes_per_batch: int  # torchinfo's "Forward/backward pass size" at the batch size
    input_bytes: int  # one batch of float32 inputs
    train_size: int | None  # samples; None when the data is not here to count (an image folder)
    test_size: int | None
    sizes_note: str  # where the sizes come from when not from the data itself
    batches_per_epoch: int | None
    eval_samples: int | None  # test samples evaluated after each epoch
    device: str = ""  # where it was timed, e.g. "cpu (4 threads)"
    seconds_per_batch: float | None = None  # measured: median of the timed steps after a warm-up
    timed_steps: int = 0
    eval_seconds_per_sample: float | None = None
    seconds_per_epoch: float | None = None  # training batches plus the evaluation
    seconds_total: float | None = None
    peak_device_bytes: int | None = None  # CUDA only: the most memory the dry run allocated
    timing_note: str = ""  # why there is no timing, or what it leaves out
    batch_note: str = ""  # --batch-size auto: what it chose and why

    @property
    def torchinfo_bytes(self) -> int:
        """torchinfo's "Estimated Total Size": input, forward/backward pass and parameters."""
        return self.input_bytes + self.activation_bytes_per_batch + self.param_bytes


def _input_shape(cfg: RunConfig, spec) -> tuple[int, int, int]:
    from .data.registry import DATASETS

    return tuple(spec.input_shape or DATASETS[cfg.dataset].shape or (1, 28, 28))  # as prepare() decides


def _build(cfg: RunConfig, spec, classes: int | None):
    """The model as a run would start it: built for the class count, initialised, layers set by hand."""
    import torch

    from .models.init import apply_layer_settings, init_parameters

    torch.manual_seed(cfg.seed)
    net = spec.build(num_classes=classes)
    init_parameters(net, cfg.init)
    apply_layer_settings(net, cfg.layer_init, cfg.freeze)
    return net


def _summary(net, shape: tuple[int, ...]):
    """torchinfo on one sample, on the CPU (it would move the model to a GPU when there is one), in eval
    mode so BatchNorm's statistics stay as they are; every column it reports grows linearly with the batch."""
    import torchinfo

    try:
        return torchinfo.summary(net, input_size=(1, *shape), device="cpu", mode="eval", verbose=0)
    except Exception as err:  # torchinfo wraps the model's own error; its first line says what failed
        cause = err.__cause__ or err
        raise ModelLoadError(f"the model failed on a {'x'.join(map(str, shape))} input: "
                             f"{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}") from err


def estimate(config: RunConfig, timed: bool = True, *, warmup: int = 2, steps: int = 5, budget_s: float = 4.0,
             cancelled: Callable[[], bool] | None = None) -> Cost:
    """The cost of `config` (unset values take the model's defaults). `timed=False` skips the dry run."""
    cost = static_cost(config)
    if timed:
        cost = timed_cost(cost, config, warmup=warmup, steps=steps, budget_s=budget_s, cancelled=cancelled)
    return cost


def static_cost(config: RunConfig, measure_auto: bool = True) -> Cost:
    """Parameters, mult-adds and memory, from one sample through the model on the CPU; the dataset's sizes
    from its headers or listing (an image folder that is not here leaves them unknown). --batch-size auto is
    measured on the GPU, or with `measure_auto=False` left to the run (the figures then per sample)."""
    from .compat import check_pair
    from .data.registry import split_sizes
    from .inspection import count_parameters
    from .train.prepare import resolve_with_spec

    cfg, spec = resolve_with_spec(config)
    reason = check_pair(cfg.model, cfg.dataset)
    if reason:
        raise ConfigError(reason)
    shape = _input_shape(cfg, spec)
    try:
        sizes = split_sizes(cfg.dataset, cfg.data_dir, cfg.extra, cfg.order_seed)
    except WorkbenchError as err:
        sizes = None
        note = str(err)
    else:
        note = sizes.note
    net = _build(cfg, spec, sizes.classes if sizes else None)
    total, trainable = count_parameters(net)
    s = _summary(net, shape)
    unique = {id(p): p for p in net.parameters()}.values()
    batch_note = ""
    if cfg.batch_size == AUTO and not measure_auto:
        cfg, batch_note = dataclasses.replace(cfg, batch_size=1), AT_START
    elif cfg.batch_size == AUTO:
        cfg, batch_note = _auto_batch(cfg, spec, net, shape, sizes)
    b = cfg.batch_size
    batches = eval_samples = None
    if sizes is not None:
        batches = math.ceil(sizes.train / b)
        if cfg.limit_batches:
            batches = min(batches, cfg.limit_batches)
        eval_samples = sizes.test if not cfg.limit_test_batches else min(
            sizes.test, cfg.limit_test_batches * cfg.test_batch_size)
    return Cost(model=cfg.model, dataset=cfg.dataset, input_shape=shape, batch_size=b, epochs=cfg.epochs,
                params=total, trainable=trainable, mult_adds_per_sample=int(s.total_mult_adds),
                # counted from the tensors: torchinfo leaves out parameters held outside leaf modules
                param_bytes=sum(p.numel() * p.element_size() for p in unique),
                activation_bytes_per_batch=int(s.total_output_bytes) * b,
                input_bytes=b * math.prod(shape) * FLOAT_BYTES,
                train_size=sizes.train if sizes else None, test_size=sizes.test if sizes else None,
                sizes_note=note, batches_per_epoch=batches, eval_samples=eval_samples, batch_note=batch_note)


def _auto_batch(cfg: RunConfig, spec, net, shape, sizes) -> tuple[RunConfig, str]:
    """--batch-size auto for the cost: the batch measured on the chosen GPU, as the run will measure it."""
    import torch

    from .devices import AUTO_BATCH_GPU_ONLY, gb, resolve
    from .train.fit import largest_batch

    device = resolve(cfg.device)
    if device.type != "cuda":
        raise ConfigError(AUTO_BATCH_GPU_ONLY.format(where="the CPU" if device.type == "cpu" else str(device)))
    x = torch.rand((2, *shape))
    net.eval()
    with torch.no_grad():
        loss = "mse" if net(x).shape == x.shape else spec.loss  # an autoencoder, as prepare decides
    fit = largest_batch(net, cfg, device, shape, sizes.classes if sizes else (spec.num_classes or 10), loss,
                        largest=sizes.train if sizes else 1 << 16)
    if fit.batch == 0:
        raise ConfigError(f"--batch-size auto: not even a batch of 1 fits in the {gb(fit.room)} free on "
                          f"{device}.")
    limit = fit.limit()
    return dataclasses.replace(cfg, batch_size=fit.batch), f"auto: {fit.measured(device)}" + (f"; {limit}" if limit else "")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _median_time(step: Callable[[], None], device, warmup: int, steps: int, budget_s: float,
                 cancelled: Callable[[], bool]) -> tuple[float | None, int]:
    """The median seconds of `step` after `warmup` untimed calls (the first ones pay for allocation and
    kernel choice); stops early, after at least one timed step, once `budget_s` is spent."""
    for _ in range(warmup):
        if cancelled():
            return None, 0
        step()
    _sync(device)
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < steps and not cancelled():
        start = time.perf_counter()
        step()
        _sync(device)  # the clock must wait for the device, or it times the kernel launches only
        times.append(time.perf_counter() - start)
        if time.perf_counter() - began > budget_s:
            break
    return (statistics.median(times) if times else None), len(times)


def timed_cost(cost: Cost, config: RunConfig, *, warmup: int = 2, steps: int = 5, budget_s: float = 4.0,
               cancelled: Callable[[], bool] | None = None) -> Cost:
    """`cost` with the dry run's timing: training steps at the batch size (as the loop runs them: autocast,
    channels-last on a GPU, the loss, backward, the optimizer), then evaluation forwards at the same batch
    size, scaled per test sample. Random inputs of the dataset's shape: the time of a dense model does not
    depend on the values. Raises WorkbenchError when the dry run cannot run; returns `cost` unchanged
    when cancelled."""
    import torch

    from .devices import describe, is_out_of_memory, resolve
    from .train.prepare import resolve_with_spec, channels_last as wants_channels_last, make_optimizer
    from .train.step import TrainStep

    cancelled = cancelled or (lambda: False)
    cfg, spec = resolve_with_spec(config)
    if cfg.batch_size == AUTO:
        cfg = dataclasses.replace(cfg, batch_size=cost.batch_size)  # as static_cost measured it
    device = resolve(cfg.device)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ConfigError("--amp fp16 needs a CUDA GPU (float16 on a CPU is slow and unscaled); use --amp bf16 here.")
    classes = spec.num_classes or 10
    try:
        from .data.registry import split_sizes

        classes = split_sizes(cfg.dataset, cfg.data_dir, cfg.extra, cfg.order_seed).classes
    except WorkbenchError:
        pass
    model = _build(cfg, spec, classes).to(device)
    channels_last = wants_channels_last(cfg, device, model)  # as the run will train it
    if channels_last:
        model.to(memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError("every parameter is frozen, so nothing would train; unfreeze at least one layer.")
    opt = make_optimizer(cfg, trainable)
    g = torch.Generator(device="cpu").manual_seed(cfg.seed)
    b = cfg.batch_size
    x = torch.rand((b, *cost.input_shape), generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (b,), generator=g).to(device)
    step = target = None

    def train_step() -> None:
        step(x, target)

    def eval_step() -> None:
        with torch.no_grad(), step.autocast():
            model(x).float()

    try:
        # a model that returns its input's shape is an autoencoder, trained on MSE (as prepare decides)
        model.eval()
        with torch.no_grad():
            reconstruct = model(x).shape == x.shape
        step = TrainStep(model, opt, loss="mse" if reconstruct else spec.loss, amp=cfg.amp, device=device,
                         input_shape=tuple(cost.input_shape), fast_mlp=cfg.fast_mlp, compiled=bool(cfg.compile),
                         world=cfg.nproc_per_node * cfg.nnodes)  # the step the loop will take
        target = x if reconstruct else y
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        model.train()
        per_batch, n = _median_time(train_step, device, warmup, steps, budget_s, cancelled)
        model.eval()
        per_eval, _ = _median_time(eval_step, device, 1, max(1, steps // 2), budget_s / 2, cancelled)
    except RuntimeError as err:  # torch's OutOfMemoryError is one
        if is_out_of_memory(err):
            raise WorkbenchError(f"a batch of {b} does not fit in {device}'s memory; try a smaller batch size.") from None
        raise WorkbenchError(f"the dry run failed on {device}: {str(err).splitlines()[0]}") from None
    if per_batch is None or per_eval is None:
        return cost
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    eval_per_sample = per_eval / b
    per_epoch = total = None
    if cost.batches_per_epoch is not None:
        per_epoch = per_batch * cost.batches_per_epoch + eval_per_sample * (cost.eval_samples or 0)
        total = per_epoch * cost.epochs
    notes = ["random data of the dataset's shape; loading the data and starting up not counted"]
    if cfg.compile:
        notes.append("timed without torch.compile")
    if cfg.nproc_per_node * cfg.nnodes > 1:
        notes.append("as one process: the estimate ignores splitting the batch over processes")
    return dataclasses.replace(cost, device=describe(device), seconds_per_batch=per_batch, timed_steps=n,
                               eval_seconds_per_sample=eval_per_sample, seconds_per_epoch=per_epoch,
                               seconds_total=total, peak_device_bytes=peak, timing_note="; ".join(notes))


def timed_elsewhere(cost: Cost, config: RunConfig, *, cancelled: Callable[[], bool] | None = None,
                    **dry_run) -> Cost:
    """`timed_cost` in a fresh interpreter (`python -m trainers.cost`), for callers with busy threads of
    their own: a UI thread holding the GIL made a thread's dry run 10-30x slower (an mlp batch 2.5 ms alone,
    27-76 ms beside a busy thread), and a GPU's context stays out of the caller. Cancelling kills it."""
    import json
    import subprocess
    import sys

    from .warm import popen

    cancelled = cancelled or (lambda: False)
    request = json.dumps({"config": config.to_dict(), "dry_run": dry_run})
    proc = popen([sys.executable, "-m", "trainers.cost"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdin.write(request)
        proc.stdin.close()
        while True:  # the only way to hear a cancel while waiting is to look for it now and then
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if cancelled():
                    return cost
        lines = proc.stdout.read().splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise WorkbenchError(f"the dry run ended without an answer (exit status {proc.returncode}).") from None
    if "error" in answer:
        raise WorkbenchError(answer["error"])
    fields = answer["cost"]
    return Cost(**{**fields, "input_shape": tuple(fields["input_shape"])})


def _main() -> int:
    """`python -m trainers.cost` with {"config": RunConfig as a dict, "dry_run": {...}} on stdin: one JSON
    line on stdout, {"cost": ...} or {"error": one sentence}."""
    import json
    import sys

    request = json.loads(sys.stdin.read())
    try:
        config = RunConfig.from_dict(request["config"])
        cost = estimate(config, **request.get("dry_run", {}))
        print(json.dumps({"cost": dataclasses.asdict(cost)}))
    except WorkbenchError as err:
        print(json.dumps({"error": str(err)}))
    except Exception as err:  # noqa: BLE001 - the caller shows it in one line
        print(json.dumps({"error": f"{type(err).__name__}: {err}"}))
    return 0


# ------------------------------------------------------------------------------------------ text


def human_bytes(n: float) -> str:
    """Three figures in decimal units, as torchinfo's MB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


def human_count(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{int(n)}"


def human_seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def format_cost(cost: Cost, timing: str | None = None) -> list[str]:
    """Four plain lines of at most 40 characters (the picker's panel, the first after "Cost · "): mult-adds,
    memory per batch, then the timing, or `timing` in its place (e.g. "timing…" or why there is none); on a
    GPU a fifth: the dry run's measured peak memory of a step beside torchinfo's estimate."""
    c = cost
    if c.batch_note == AT_START:  # no batch yet: what a sample costs, and the epoch in samples
        return [f"{human_count(c.mult_adds_per_sample)} mult-adds/sample, batch auto",
                f"weights {human_bytes(c.param_bytes)} · act. {human_bytes(c.activation_bytes_per_batch)} a sample",
                AT_START, f"epoch: {c.train_size:,} samples + {c.eval_samples:,} test" if c.train_size is not None
                and c.eval_samples is not None else "epoch: size unknown, no data here"]
    auto = " (auto)" if c.batch_note else ""
    lines = [f"{human_count(c.mult_adds_per_sample)} mult-adds/sample, batch {c.batch_size}{auto}",
             f"weights {human_bytes(c.param_bytes)} · activations {human_bytes(c.activation_bytes_per_batch)}"]
    # on a GPU, what the dry run's step took at its peak, beside torchinfo's estimate of the same
    peak = (f"peak {human_bytes(c.peak_device_bytes)} a step · torchinfo {human_bytes(c.torchinfo_bytes)}"
            if c.peak_device_bytes is not None else None)
    epoch = (f"epoch: {c.batches_per_epoch:,} batches + {c.eval_samples:,} test" if c.batches_per_epoch is not None
             else "epoch: size unknown, no data here")
    if c.seconds_per_batch is None:
        lines.append(f"input {human_bytes(c.input_bytes)}" + (f" · {timing}" if timing else ""))
        lines.append(epoch)
        return lines + ([peak] if peak else [])
    where = c.device.split(" (")[0]
    lines.append(f"input {human_bytes(c.input_bytes)} · {human_seconds(c.seconds_per_batch)} a batch on {where}")
    if c.seconds_per_epoch is None:
        lines.append(epoch)
    else:
        runs = f"{c.epochs} epoch{'s' if c.epochs != 1 else ''}"
        lines.append(f"epoch ≈ {human_seconds(c.seconds_per_epoch)} · {runs} ≈ {human_seconds(c.seconds_total)}")
    return lines + ([peak] if peak else [])


if __name__ == "__main__":
    raise SystemExit(_main())
