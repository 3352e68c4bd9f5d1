"""Choosing where to train: auto means the CUDA GPU with the most free memory (then the least busy), then
Apple MPS, then the CPU. What is on the machine comes from NVML (trainers.nvml), which needs no CUDA
context; torch is imported inside the functions that need it, so the GPU view can use this module cheaply.

NVML numbers GPUs in PCI order and sees them all; torch's cuda:N counts only those CUDA_VISIBLE_DEVICES
leaves, in CUDA's order. `visible()` maps one onto the other: by UUID where torch has said them (a trainer,
which initialises CUDA anyway), else from CUDA_VISIBLE_DEVICES, in PCI order: what CUDA counts in once
CUDA_DEVICE_ORDER=PCI_BUS_ID, which every trainer the workbench starts is given (`pci_order`).
"""

from __future__ import annotations

import os
import time

from . import nvml
from .errors import ConfigError

AUTO_BATCH_GPU_ONLY = ("--batch-size auto measures the largest batch that fits in a GPU's memory, so it applies to "
                       "GPUs only; on {where} give --batch-size N.")


def pci_order(env: dict | None = None) -> dict:
    """CUDA_DEVICE_ORDER=PCI_BUS_ID in `env` (os.environ by default) unless its user set an order: CUDA counts
    GPUs fastest first, NVML and nvidia-smi in PCI order, and on a server of mixed GPUs cuda:N would name
    another GPU than the one the GPU view, the picker and auto mean. Read when CUDA starts: set it before."""
    env = os.environ if env is None else env
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env


def _mps_available() -> bool:
    import torch

    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ---------------------------------------------------------------------------------------- which GPUs


def visible(report: nvml.Report | None = None, torch_uuids: list[str] | None = None) -> list[tuple[int, nvml.GpuInfo]]:
    """(torch's cuda index, the GPU) for each GPU this process may use, in torch's order. `torch_uuids`:
    torch's own UUID per index (exact); without them, CUDA_VISIBLE_DEVICES says which and in what order."""
    report = report if report is not None else nvml.query(processes=False)
    gpus = list(report.gpus)
    if torch_uuids:
        by_uuid = {g.uuid.removeprefix("GPU-").lower(): g for g in gpus}
        found = [(i, by_uuid.get(u.removeprefix("GPU-").lower())) for i, u in enumerate(torch_uuids)]
        return [(i, g) for i, g in found if g is not None]
    return list(enumerate(_listed(gpus)[0]))


def _listed(gpus: list[nvml.GpuInfo]) -> tuple[list[nvml.GpuInfo], bool]:
    """The GPUs CUDA_VISIBLE_DEVICES leaves, in its order, and whether every entry was understood: an index or
    a GPU's UUID (or its start). A MIG instance (MIG-...) or anything else is not a GPU NVML lists here, so
    what CUDA makes of the list is torch's to say."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return gpus, True
    chosen = []
    for item in (p.strip() for p in listed.split(",")):
        if item.lstrip("-").isdigit():
            match = gpus[int(item)] if 0 <= int(item) < len(gpus) else None
        elif item.upper().startswith("GPU-"):
            starts = [g for g in gpus if g.uuid.lower().startswith(item.lower())]
            match = starts[0] if len(starts) == 1 else None
        else:
            return chosen, False
        if match is None:
            break  # CUDA stops at the first entry that names no GPU
        chosen.append(match)
    return chosen, True


def _torch_uuids() -> list[str] | None:
    """torch's UUID of each cuda:N; only where CUDA is being used anyway (a trainer, the dry run)."""
    import torch

    try:
        return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - an older torch without .uuid: CUDA_VISIBLE_DEVICES decides
        return None


def pick(gpus: list[tuple[int, nvml.GpuInfo]]) -> tuple[int, nvml.GpuInfo] | None:
    """The GPU `--device auto` takes: the most free memory, then the lowest utilisation, then the lowest index;
    never one NVML cannot read."""
    gpus = [(i, g) for i, g in gpus if not g.error]
    if not gpus:
        return None
    return max(gpus, key=lambda item: (item[1].memory_free, -(item[1].utilization or 0), -item[0]))


def short_name(name: str) -> str:
    """"NVIDIA GeForce RTX 4090" -> "RTX 4090": the maker is the same on every line."""
    for prefix in ("NVIDIA ", "GeForce ", "Tesla "):
        name = name.removeprefix(prefix)
    return name


def gb(n: float, unit: bool = True) -> str:
    """Bytes as nvidia-smi's "GB" (GiB): "61.2 GB", whole from 100 GB ("139 GB"); the one way the workbench says
    a GPU's memory. (The cost panel's figures are torchinfo's decimal MB and GB: trainers.cost.human_bytes.)"""
    figure = f"{n / 2**30:.1f}" if n < 100 * 2**30 else f"{n / 2**30:.0f}"
    return f"{figure} GB" if unit else figure


def gpu_list(gpus: list[tuple[int, nvml.GpuInfo]]) -> str:
    """"cuda:0 (H100 80GB HBM3), cuda:1 (H100 80GB HBM3)"."""
    return ", ".join(f"cuda:{i} ({short_name(g.name)})" for i, g in gpus)


# ---------------------------------------------------------------------------------------- out of memory

# what CUDA's libraries say when an allocation of their own fails: torch raises these as a plain RuntimeError
OUT_OF_MEMORY = ("CUDA out of memory", "CUDA error: out of memory", "CUBLAS_STATUS_ALLOC_FAILED",
                 "CUDNN_STATUS_ALLOC_FAILED", "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE")


def is_out_of_memory(err: BaseException) -> bool:
    """Whether `err` is the GPU running out of memory: torch's OutOfMemoryError (its caching allocator), or a
    RuntimeError from cuBLAS, cuDNN or a CUDA call that could not allocate (their own memory, outside torch's)."""
    import torch

    if isinstance(err, torch.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and any(words in str(err) for words in OUT_OF_MEMORY)


# ---------------------------------------------------------------------------------------- resolving


def cuda_index(name: str) -> int:
    return int(name.split(":", 1)[1]) if ":" in name else 0


def check_device(name: str) -> None:
    """A device that is not here, in one sentence naming what is: cuda:7 on a machine of one GPU names that
    one; CUDA asked for where torch has none says what NVML found (no driver, a driver/library mismatch, a
    CPU-only torch)."""
    if name == "cpu" or name == "auto":
        return
    if name == "mps":
        if not _mps_available():
            raise ConfigError("device mps was asked for but Apple's MPS is not available here; use --device cpu or auto.")
        return
    if not name.startswith("cuda"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps.")
    import torch

    index = cuda_index(name)
    report = nvml.query(processes=False)
    gpus = visible(report)
    understood = _listed(list(report.gpus))[1]  # else (MIG instances) torch's count decides, below
    if report.gpus and understood and index >= len(gpus):
        there = f"{len(gpus)} GPU{'s' if len(gpus) != 1 else ''}: {gpu_list(gpus)}" if gpus else \
            "no GPU this process may use (CUDA_VISIBLE_DEVICES hides them)"
        raise ConfigError(f"device {name} does not exist: this machine has {there}.")
    if not torch.cuda.is_available():
        if report.reason:
            why = report.reason.rstrip(".")
        elif report.gpus and not torch.version.cuda:
            why = f"NVML lists {len(report.gpus)} GPU(s), but torch {torch.__version__} is a CPU-only build"
        elif report.gpus:
            why = (f"NVML lists {len(report.gpus)} GPU(s), but torch {torch.__version__} (CUDA {torch.version.cuda}) "
                   f"cannot use them with driver {report.driver} (CUDA {report.cuda or '?'})")
        else:
            why = f"{report.library} lists no NVIDIA GPU"
        raise ConfigError(f"device {name} was asked for but torch sees no CUDA GPU here: {why}; use --device cpu or auto.")
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(f"device {name} does not exist: torch sees {count} CUDA device(s), cuda:0 to cuda:{count - 1}.")


def check(config) -> None:
    """What can be said before a run starts (the CLI, the app): a device that is not here, and
    --batch-size auto where there is no GPU. One sentence each, as ConfigError."""
    check_device(config.device)
    if config.batch_size == "auto":
        on_gpu = config.device.startswith("cuda") or (config.device == "auto" and _cuda_available())
        if not on_gpu:
            where = {"auto": "this machine's CPU", "cpu": "the CPU"}.get(config.device, config.device)
            raise ConfigError(AUTO_BATCH_GPU_ONLY.format(where=where))


def auto_gpu(report: nvml.Report | None = None, torch_uuids: list[str] | None = None) -> int | None:
    """The cuda index `--device auto` takes, through NVML; None when NVML lists none (then cuda:0)."""
    choice = pick(visible(report, torch_uuids))
    return choice[0] if choice else None


def resolve(name: str = "auto"):
    """The torch.device a run trains on."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            index = auto_gpu(torch_uuids=_torch_uuids())
            return torch.device("cuda", index if index is not None else 0)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    check_device(name)
    if name.startswith("cuda"):
        return torch.device("cuda", cuda_index(name))
    return torch.device(name)


def describe(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(device)


def available() -> list[tuple[str, str]]:
    """(value, label) pairs for a device chooser, the automatic choice first, each GPU with its free memory.

    The GPUs come from NVML, not torch: asking torch for a GPU's name would initialise CUDA in the calling
    process (the UI), which has no use for it."""
    import torch

    report = nvml.query(processes=False)
    gpus = visible(report)
    cuda = torch.cuda.is_available()
    choice = pick(gpus)
    if cuda and choice is not None:
        auto = f"auto → cuda:{choice[0]} ({gb(choice[1].memory_free)} free)"
    else:
        auto = f"auto → {'cuda' if cuda else 'mps' if _mps_available() else 'cpu'}"
    rows = [("auto", auto), ("cpu", f"CPU, {torch.get_num_threads()} threads")]
    if gpus:
        for i, g in gpus:
            rows.append((f"cuda:{i}" if i else "cuda", device_label(i, g)))
    else:
        for i in range(torch.cuda.device_count() if cuda else 0):
            rows.append((f"cuda:{i}" if i else "cuda", f"CUDA device {i}"))
    if _mps_available():
        rows.append(("mps", "Apple MPS"))
    return rows


LABEL = 30  # the picker's device chooser: wider labels wrap in its menu


def device_label(index: int, gpu: nvml.GpuInfo) -> str:
    """"cuda:1, 67.6 of 80 GB free", with the GPU's name where it fits in LABEL characters (`workbench gpus`
    and the g panel name every GPU)."""
    if gpu.error:
        return f"cuda:{index}, unreadable (NVML)"
    label = f"cuda:{index}, {gb(gpu.memory_free, unit=False)} of {gpu.memory_total / 2**30:.0f} GB free"
    named = f"{label}, {short_name(gpu.name)}"
    return named if len(named) <= LABEL else label


# ---------------------------------------------------------------------------------------- a run's GPU


def gpu_record(device) -> dict | None:
    """What a run records of its GPU (RunConfig.gpu): torch's index, the name, UUID, memory, the driver and
    the CUDA versions (the driver's and torch's). None off a GPU."""
    if getattr(device, "type", None) != "cuda":
        return None
    import torch

    index = device.index if device.index is not None else torch.cuda.current_device()
    report = nvml.query(processes=False)
    gpu = dict(visible(report, _torch_uuids())).get(index)
    if gpu is None:
        props = torch.cuda.get_device_properties(index)
        return {"index": index, "name": props.name, "uuid": str(getattr(props, "uuid", "")), "nvml_index": None,
                "memory": int(props.total_memory), "driver": report.driver, "cuda": report.cuda,
                "torch_cuda": torch.version.cuda}
    return {"index": index, "name": gpu.name, "uuid": gpu.uuid, "nvml_index": gpu.index, "memory": gpu.memory_total,
            "driver": report.driver, "cuda": report.cuda, "torch_cuda": torch.version.cuda}


def record_words(gpu: dict | None) -> str:
    """"cuda:0 H100 80GB HBM3 · driver 550.54 · CUDA 12.4", for a run's header; "" off a GPU."""
    if not isinstance(gpu, dict) or gpu.get("index") is None:
        return ""
    parts = [f"cuda:{gpu['index']} {short_name(str(gpu.get('name') or 'GPU'))}"]
    if gpu.get("driver"):
        parts.append(f"driver {gpu['driver']}")
    if gpu.get("cuda") or gpu.get("torch_cuda"):
        parts.append(f"CUDA {gpu.get('cuda') or gpu.get('torch_cuda')}")
    return " · ".join(parts)


class GpuMeter:
    """The trainer's GPU memory (torch's allocator: what this process holds, now and at its peak since
    `reset()`) and the GPU's utilisation (NVML, at most once a second). Host-side reads: no device sync."""

    UTIL_EVERY = 1.0

    def __init__(self, device, record: dict | None) -> None:
        self.device = device
        self.nvml_index = record.get("nvml_index") if record else None
        self._util: int | None = None
        self._when = float("-inf")

    def reset(self) -> None:
        import torch

        torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> int:
        import torch

        return int(torch.cuda.max_memory_allocated(self.device))

    def read(self) -> tuple[int, int, int | None]:
        """(allocated bytes, peak bytes, utilisation % or None)."""
        import torch

        now = time.monotonic()
        if self.nvml_index is not None and now - self._when >= self.UTIL_EVERY:
            self._when = now
            load = nvml.load(self.nvml_index)
            self._util = load[0] if load else None
        return int(torch.cuda.memory_allocated(self.device)), self.peak(), self._util
