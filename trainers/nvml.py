"""The NVML boundary: the few calls of NVIDIA's own bindings (nvidia-ml-py's `pynvml`) the workbench makes,
returned as plain data. Nothing else imports pynvml, and nothing here imports torch: asking NVML creates no
CUDA context, so the app can list the GPUs every 2 s without holding one.

`query()` never raises. Without the library, without a driver, or with a driver whose library and kernel
module differ (an update without a reboot), it returns no GPUs and one sentence saying which library found
what.

WORKBENCH_FAKE_GPUS=FILE.json describes GPUs instead of asking NVML (this process and the trainers it starts
read it): how the tests put 0, 1 or 4 GPUs with their processes under the real code above this module.

    {"driver": "550.54.15", "cuda": "12.4",
     "gpus": [{"name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-0", "memory_total": 85899345920,
               "memory_used": 2147483648, "utilization": 37, "temperature": 54, "power": 212.0,
               "power_limit": 700.0, "processes": [{"pid": 4121, "memory": 2147483648}]}]}
    {"error": "LibRmVersionMismatch"}      (or LibraryNotFound, DriverNotLoaded, NoPermission, NotInstalled)

A GPU of the list may be {"error": "GPU is lost"}: one NVML fails on, the others still listed.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

FAKE = "WORKBENCH_FAKE_GPUS"

REASONS = {
    "NotInstalled": "nvidia-ml-py (pynvml) is not installed, so no NVIDIA GPU can be listed; pip install nvidia-ml-py.",
    "LibraryNotFound": "{lib} found no NVIDIA driver (libnvidia-ml.so.1 is not on this machine).",
    "DriverNotLoaded": "{lib} found libnvidia-ml, but the NVIDIA driver is not loaded (no nvidia kernel module).",
    "LibRmVersionMismatch": "{lib} found an NVIDIA driver whose library and kernel module are different versions "
                            "(a driver update without a reboot); reboot or reload the nvidia module to use the GPUs.",
    "NoPermission": "{lib} was refused access to the NVIDIA devices (/dev/nvidia*); ask for the video group or "
                    "the GPU's permissions.",
}


@dataclass(frozen=True)
class GpuProcess:
    """A process holding memory on a GPU, as NVML tells it: a process id of the machine (another container's
    ids may not exist here) and its memory."""

    pid: int
    memory: int | None = None  # bytes; None where NVML cannot tell


@dataclass(frozen=True)
class GpuInfo:
    index: int  # NVML's index (PCI order), not necessarily torch's cuda:N: see trainers.devices.visible
    uuid: str
    name: str
    memory_total: int  # bytes
    memory_used: int
    utilization: int | None = None  # percent of the last sample period (1/6 s to 1 s) a kernel ran
    temperature: int | None = None  # °C
    power: float | None = None  # watts drawn now
    power_limit: float | None = None  # watts allowed
    processes: tuple[GpuProcess, ...] = ()
    error: str = ""  # why NVML could not read this GPU (its other figures are then unknown: 0 or None)

    @property
    def memory_free(self) -> int:
        return max(0, self.memory_total - self.memory_used)


@dataclass(frozen=True)
class Report:
    gpus: tuple[GpuInfo, ...] = ()
    driver: str = ""  # the NVIDIA driver's version
    cuda: str = ""  # the newest CUDA version the driver supports, "12.4"
    library: str = ""  # who answered: "nvidia-ml-py 13.615.71", or the fake's file
    reason: str = ""  # why no GPU is listed, one sentence; "" when NVML answered (with 0 GPUs or more)


def library() -> str:
    try:
        from importlib.metadata import version

        return f"nvidia-ml-py {version('nvidia-ml-py')}"
    except Exception:  # noqa: BLE001 - a pynvml copied in by hand has no metadata
        return "nvidia-ml-py"


def query(processes: bool = True) -> Report:
    """Every NVIDIA GPU NVML sees, with its memory, utilisation, temperature, power and (with `processes`)
    its compute processes. Never raises."""
    if os.environ.get(FAKE):
        return _fake(os.environ[FAKE], processes)
    lib = library()
    try:
        nv = _init()
    except ImportError:
        return Report(library=lib, reason=REASONS["NotInstalled"])
    except Exception as err:  # noqa: BLE001 - any NVML error is a sentence, never a crash
        return Report(library=lib, reason=error_sentence(err, lib))
    try:
        gpus = tuple(_device_or_error(nv, i, processes) for i in range(nv.nvmlDeviceGetCount()))
        driver = _text(nv.nvmlSystemGetDriverVersion())
        cuda = cuda_version(_optional(nv.nvmlSystemGetCudaDriverVersion))
    except Exception as err:  # noqa: BLE001
        return Report(library=lib, reason=error_sentence(err, lib))
    return Report(gpus=gpus, driver=driver, cuda=cuda, library=lib)


def load(index: int) -> tuple[int | None, int, int] | None:
    """(utilisation %, memory used, memory total) of NVML's GPU `index`, for a trainer's progress line; None
    when NVML cannot say. Two calls, no process listing: cheap enough for every report."""
    if os.environ.get(FAKE):
        report = _fake(os.environ[FAKE], False)
        gpu = next((g for g in report.gpus if g.index == index), None)
        return None if gpu is None else (gpu.utilization, gpu.memory_used, gpu.memory_total)
    try:
        nv = _init()
        handle = nv.nvmlDeviceGetHandleByIndex(index)
        memory = nv.nvmlDeviceGetMemoryInfo(handle)
        rates = _optional(nv.nvmlDeviceGetUtilizationRates, handle)
        return (int(rates.gpu) if rates is not None else None), int(memory.used), int(memory.total)
    except Exception:  # noqa: BLE001 - a progress line without the figure
        return None


def error_sentence(err: BaseException, lib: str | None = None) -> str:
    """One sentence for an NVML error, by its class (pynvml names them NVMLError_LibRmVersionMismatch...)."""
    lib = lib or library()
    kind = type(err).__name__.removeprefix("NVMLError_")
    if kind in REASONS:
        return REASONS[kind].format(lib=lib)
    return f"{lib} could not list the GPUs: {str(err).rstrip('.') or type(err).__name__}."


def cuda_version(number: int | None) -> str:
    """NVML's 12040 -> "12.4"."""
    if not number:
        return ""
    return f"{number // 1000}.{number % 1000 // 10}"


# ------------------------------------------------------------------------------------------- NVML

_LOCK = threading.Lock()
_NV = None


def _init():
    """pynvml, initialised once per process (nvmlInit counts its calls; the process's end releases it)."""
    global _NV
    with _LOCK:
        if _NV is None:
            import pynvml

            pynvml.nvmlInit()
            _NV = pynvml
        return _NV


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _optional(call, *args):
    """A reading some GPUs do not support (power on some boards, utilisation under MIG): None, not an error."""
    try:
        return call(*args)
    except Exception:  # noqa: BLE001 - NVMLError_NotSupported and friends
        return None


def _device_or_error(nv, index: int, processes: bool) -> GpuInfo:
    """One GPU, or what can be said of one NVML fails on (fallen off the bus, in reset): listed with its error
    in words, so one bad GPU hides none of the others and keeps their indices."""
    try:
        return _device(nv, index, processes)
    except Exception as err:  # noqa: BLE001 - NVMLError_GpuIsLost and friends
        handle = _optional(nv.nvmlDeviceGetHandleByIndex, index)
        uuid = _optional(nv.nvmlDeviceGetUUID, handle) if handle is not None else None
        name = _optional(nv.nvmlDeviceGetName, handle) if handle is not None else None
        return GpuInfo(index=index, uuid=_text(uuid) if uuid else f"unreadable-{index}",
                       name=_text(name) if name else "GPU", memory_total=0, memory_used=0,
                       error=f"NVML cannot read it: {str(err).rstrip('.') or type(err).__name__}")


def _device(nv, index: int, processes: bool) -> GpuInfo:
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    memory = nv.nvmlDeviceGetMemoryInfo(handle)
    rates = _optional(nv.nvmlDeviceGetUtilizationRates, handle)
    temperature = _optional(nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU)
    power = _optional(nv.nvmlDeviceGetPowerUsage, handle)  # milliwatts
    limit = _optional(nv.nvmlDeviceGetEnforcedPowerLimit, handle)
    procs: tuple[GpuProcess, ...] = ()
    if processes:
        listed = _optional(nv.nvmlDeviceGetComputeRunningProcesses, handle) or []
        procs = tuple(GpuProcess(int(p.pid), int(p.usedGpuMemory) if p.usedGpuMemory is not None else None)
                      for p in listed)
    return GpuInfo(index=index, uuid=_text(nv.nvmlDeviceGetUUID(handle)), name=_text(nv.nvmlDeviceGetName(handle)),
                   memory_total=int(memory.total), memory_used=int(memory.used),
                   utilization=int(rates.gpu) if rates is not None else None,
                   temperature=int(temperature) if temperature is not None else None,
                   power=power / 1000 if power is not None else None,
                   power_limit=limit / 1000 if limit is not None else None, processes=procs)


# ------------------------------------------------------------------------------------------- the fake


def _fake(path: str, processes: bool) -> Report:
    """The GPUs a JSON file describes (see the module's docstring); the same sentences as NVML's errors."""
    lib = f"fake NVML ({os.path.basename(path)})"
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as err:
        return Report(library=lib, reason=f"{FAKE}={path} cannot be read: {err}.")
    if data.get("error"):
        kind = str(data["error"])
        return Report(library=lib, reason=REASONS.get(kind, f"{lib} could not list the GPUs: {kind}.").format(lib=lib))
    gpus = []
    for i, g in enumerate(data.get("gpus", [])):
        if g.get("error"):  # {"error": "GPU is lost"}: a GPU NVML fails on
            gpus.append(GpuInfo(index=i, uuid=g.get("uuid", f"unreadable-{i}"), name=g.get("name", "GPU"),
                                memory_total=0, memory_used=0, error=f"NVML cannot read it: {g['error']}"))
            continue
        procs = tuple(GpuProcess(int(p["pid"]), p.get("memory")) for p in g.get("processes", ())) if processes else ()
        gpus.append(GpuInfo(index=i, uuid=g.get("uuid", f"GPU-fake-{i}"), name=g.get("name", "NVIDIA Fake GPU"),
                            memory_total=int(g.get("memory_total", 80 * 2**30)), memory_used=int(g.get("memory_used", 0)),
                            utilization=g.get("utilization"), temperature=g.get("temperature"), power=g.get("power"),
                            power_limit=g.get("power_limit"), processes=procs))
    return Report(gpus=tuple(gpus), driver=str(data.get("driver", "")), cuda=str(data.get("cuda", "")), library=lib)
