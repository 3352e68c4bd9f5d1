"""The GPU server through the fake NVML boundary (0, 1 and 4 GPUs with processes): what NVML's errors say,
whose process is whose, which GPU auto takes, the busy warning, bad device names, --batch-size auto on a CPU,
and an out-of-memory raised from a model's forward (the run saves and names a batch that fits). The tests
marked gpu need CUDA (benchmarks/gpu_check.sh runs them on a GPU machine)."""

import os
import subprocess
import sys

import pytest
import torch

from tests.conftest import GIB, gpu, live_run, recorded, tiny_config
from trainers import devices, gpus, nvml
from trainers.errors import ConfigError
from trainers.events import BatchEnded, CheckpointSaved, EpochEnded, RunFailed, RunFinished, RunStarted



def no_cuda(monkeypatch) -> None:
    """A torch that cannot use CUDA (a CPU-only build, or no driver), whatever this machine has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(devices, "_mps_available", lambda: False)


def needs_gpu(test):
    """Marked gpu (`pytest -m gpu` picks them) and skipped without CUDA."""
    return pytest.mark.gpu(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test))

FOUR = [gpu(0, used=70, util=90, processes=[(1, 2)]), gpu(1, used=10, util=40), gpu(2, used=10, util=5),
        gpu(3, used=79.5, util=100)]


# -- the boundary --------------------------------------------------------------------------------------


def test_without_the_driver_nvml_is_one_sentence_never_an_error(monkeypatch):
    import pynvml

    def mismatch():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)

    monkeypatch.delenv(nvml.FAKE, raising=False)
    monkeypatch.setattr(nvml, "_NV", None)
    monkeypatch.setattr(pynvml, "nvmlInit", mismatch)
    report = nvml.query()
    assert report.gpus == () and "library and kernel module are different versions" in report.reason
    assert report.reason.endswith(".") and ". " not in report.reason and "nvidia-ml-py" in report.reason  # one sentence
    monkeypatch.setattr(pynvml, "nvmlInit", lambda: (_ for _ in ()).throw(
        pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)))
    assert "found no NVIDIA driver (libnvidia-ml.so.1" in nvml.query().reason
    assert nvml.load(0) is None  # a trainer's progress line goes without the figure


def test_the_fake_describes_gpus_and_errors(fake_gpus):
    fake_gpus(FOUR)
    report = nvml.query()
    assert [g.index for g in report.gpus] == [0, 1, 2, 3] and report.driver == "550.54.15" and report.cuda == "12.4"
    assert report.gpus[0].memory_free == 10 * GIB and report.gpus[0].processes[0].pid == 1
    assert nvml.load(1) == (40, 10 * GIB, 80 * GIB)
    fake_gpus(error="LibRmVersionMismatch")
    assert "reboot or reload the nvidia module" in nvml.query().reason
    assert nvml.cuda_version(12040) == "12.4" and nvml.cuda_version(13000) == "13.0"


def test_one_gpu_nvml_cannot_read_hides_none_of_the_others(monkeypatch):
    from types import SimpleNamespace

    import pynvml

    class Lost(pynvml.NVMLError):
        def __str__(self):
            return "GPU is lost"

    def memory(handle):
        if handle == 1:
            raise Lost(pynvml.NVML_ERROR_GPU_IS_LOST)
        return SimpleNamespace(total=80 * GIB, used=GIB)

    nv = SimpleNamespace(nvmlDeviceGetCount=lambda: 3, nvmlDeviceGetHandleByIndex=lambda i: i,
                         nvmlDeviceGetMemoryInfo=memory, nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
                         nvmlDeviceGetName=lambda h: "NVIDIA H100", nvmlSystemGetDriverVersion=lambda: "550.54.15",
                         nvmlSystemGetCudaDriverVersion=lambda: 12040, NVML_TEMPERATURE_GPU=0,
                         nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=5),
                         nvmlDeviceGetTemperature=lambda h, kind: 40, nvmlDeviceGetPowerUsage=lambda h: 100_000,
                         nvmlDeviceGetEnforcedPowerLimit=lambda h: 700_000, nvmlDeviceGetComputeRunningProcesses=lambda h: [])
    monkeypatch.delenv(nvml.FAKE, raising=False)
    monkeypatch.setattr(nvml, "_init", lambda: nv)
    report = nvml.query()
    assert [(g.index, g.uuid, g.error) for g in report.gpus] == [
        (0, "GPU-0", ""), (1, "GPU-1", "NVML cannot read it: GPU is lost"), (2, "GPU-2", "")]
    assert report.gpus[2].memory_used == GIB and report.driver == "550.54.15"


def test_auto_never_takes_a_gpu_nvml_cannot_read(fake_gpus, capsys):
    fake_gpus([gpu(0, used=80, util=100), {"error": "GPU is lost"}])  # the full one, not the unknown one
    assert devices.auto_gpu() == 0
    assert dict(devices.available())["cuda:1"] == "cuda:1, unreadable (NVML)"
    from workbench.cli import main

    assert main(["gpus"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("cuda:0  H100 80GB HBM3") and lines[3].split() == ["cuda:1", "GPU", "NVML", "cannot",
                                                                                  "read", "it:", "GPU", "is", "lost"]


# -- which GPU auto takes --------------------------------------------------------------------------------


def test_auto_takes_the_most_free_memory_then_the_least_busy(fake_gpus, monkeypatch):
    fake_gpus(FOUR)
    assert devices.auto_gpu() == 2  # GPUs 1 and 2 have 70 GB free; 2 is less busy
    fake_gpus([gpu(0, used=1), gpu(1, used=0.5)])
    assert devices.auto_gpu() == 1
    fake_gpus(FOUR)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")  # torch's cuda:0 is NVML's 3, cuda:1 its 1
    assert devices.auto_gpu() == 1
    assert [(i, g.index) for i, g in devices.visible()] == [(0, 3), (1, 1)]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-00000002")  # a UUID's start names a GPU too
    assert [(i, g.index) for i, g in devices.visible()] == [(0, 2)]
    # torch's own UUIDs, where it has said them, win over the variable
    assert [(i, g.index) for i, g in devices.visible(torch_uuids=["00000003-fake", "GPU-00000000-fake"])] == [(0, 3), (1, 0)]
    fake_gpus([])
    assert devices.auto_gpu() is None  # resolve() then falls back to torch's cuda:0


def test_trainers_count_gpus_in_pci_order_as_nvml_does_unless_told_otherwise(monkeypatch, capsys):
    from trainers.backends.detached import child_env
    from workbench.cli import main

    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert child_env()["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # detached trainers, sweeps' trials, torchrun's ranks
    assert main(["train", "--model", "mlp", "--device", "cpu", "--epochs", "1", "--limit-batches", "1"]) == 0
    assert os.environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # set in the process that trains, before CUDA starts
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
    assert child_env()["CUDA_DEVICE_ORDER"] == "FASTEST_FIRST"  # the user's own order stands


def test_the_device_list_shows_each_gpu_with_its_free_memory(fake_gpus, monkeypatch):
    no_cuda(monkeypatch)
    fake_gpus(FOUR)
    rows = dict(devices.available())
    assert rows["cuda"] == "cuda:0, 10.0 of 80 GB free" and rows["cuda:2"] == "cuda:2, 70.0 of 80 GB free"
    fake_gpus([gpu(0, used=1, total=16, name="Tesla T4")])
    assert dict(devices.available())["cuda"] == "cuda:0, 15.0 of 16 GB free, T4"  # the name where it fits
    assert rows["auto"] == "auto → cpu"  # a torch without CUDA: auto trains on the CPU whatever NVML lists
    fake_gpus([])
    assert [v for v, _ in devices.available()] == ["auto", "cpu"]
    fake_gpus(FOUR)


# -- bad input ---------------------------------------------------------------------------------------------


def test_a_gpu_that_is_not_there_names_the_ones_that_are(fake_gpus, monkeypatch):
    fake_gpus([gpu(0)])
    with pytest.raises(ConfigError, match=r"^device cuda:7 does not exist: this machine has 1 GPU: cuda:0 \(H100 80GB "
                                          r"HBM3\)\.$"):
        devices.check_device("cuda:7")
    fake_gpus(FOUR)
    with pytest.raises(ConfigError, match="has 4 GPUs: cuda:0 .*cuda:3 "):
        devices.resolve("cuda:4")
    fake_gpus(error="LibRmVersionMismatch")
    no_cuda(monkeypatch)  # what torch makes of that driver
    with pytest.raises(ConfigError, match=r"torch sees no CUDA GPU here: .*different versions .*reboot"):
        devices.check_device("cuda")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        devices.check_device("tpu")


def test_under_mig_torchs_count_decides_which_cuda_devices_there_are(fake_gpus, monkeypatch):
    fake_gpus([gpu(0), gpu(1)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-5c8e1f3a-8c5b-5a57-9a0b-1c2d3e4f5a6b")  # one MIG instance
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    devices.check_device("cuda")  # NVML lists no MIG instance, but torch can use it
    with pytest.raises(ConfigError, match=r"^device cuda:1 does not exist: torch sees 1 CUDA device\(s\)"):
        devices.check_device("cuda:1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,7,0")  # understood: CUDA stops at 7
    with pytest.raises(ConfigError, match=r"this machine has 1 GPU: cuda:0 "):
        devices.check_device("cuda:1")


def test_batch_size_auto_on_a_cpu_applies_to_gpus_only():
    with pytest.raises(ConfigError, match=r"applies to GPUs only; on the CPU give --batch-size N\.$"):
        devices.check(tiny_config(batch_size="auto", device="cpu"))
    events = list(__import__("trainers").run(tiny_config(batch_size="auto")))
    assert isinstance(events[-1], RunFailed) and "applies to GPUs only" in events[-1].reason
    with pytest.raises(ConfigError, match="several processes"):
        tiny_config(batch_size="auto", nproc_per_node=2).validate()
    with pytest.raises(ConfigError, match="a whole number or auto, got 'many'"):
        tiny_config(batch_size="many").validate()


# -- whose processes -----------------------------------------------------------------------------------------


def test_processes_are_named_by_run_or_by_user_and_command(fake_gpus):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # as a torchrun rank is
    try:
        run, lock = live_run("cnn-pool-fashion-mnist-20250101-120301", gpu_index=1)
        fake_gpus([gpu(0, processes=[(child.pid, 3), (1, 1), (4_000_000, 2)]), gpu(1, used=12), gpu(2)])
        view = gpus.survey()
        first = view.rows[0]
        by_pid = {h.pid: h for h in first.holders}
        assert by_pid[child.pid].run == run.name  # its parent is the run's trainer (this process)
        assert by_pid[1].run == "" and by_pid[1].user and by_pid[1].command  # pid 1: someone's, by user and command
        assert by_pid[4_000_000].user == ""  # another container's pid: not visible here
        assert view.rows[1].runs == (run.name,)  # the run recorded GPU 1, whose processes NVML does not list
        assert [r.cuda for r in view.rows] == [0, 1, 2]
        lock.release()
        assert gpus.survey().rows[1].runs == ()  # a run that ended holds no GPU
    finally:
        child.kill()
        child.wait()


def test_processes_of_sweep_trials_are_named_by_sweep_and_trial(fake_gpus):
    run, lock = live_run("sweep-x/trial-003", gpu_index=0)
    try:
        fake_gpus([gpu(0, processes=[(os.getpid(), 1)])])
        assert gpus.survey().rows[0].holders[0].run == "sweep-x/trial-003"
    finally:
        lock.release()


def test_no_gpu_says_which_library_found_what(fake_gpus):
    fake_gpus(error="LibraryNotFound")
    sentence = gpus.no_gpu_sentence(nvml.query())
    assert sentence.startswith("No GPU here: fake NVML (fake-gpus.json) found no NVIDIA driver")
    assert f"torch {torch.__version__}" in sentence and sentence.endswith("Runs train on the CPU (or Apple's MPS).")


# -- the busy warning ------------------------------------------------------------------------------------------


def test_a_gpu_held_by_a_live_run_is_busy_with_that_runs_name(fake_gpus, monkeypatch):
    fake_gpus(FOUR)
    _, lock = live_run("mlp-mnist-20250101-090000", gpu_index=1)
    try:
        where, runs, free = gpus.busy("cuda:1")
        assert where == "cuda:1 (H100 80GB HBM3)" and [r.name for r in runs] == ["mlp-mnist-20250101-090000"]
        assert free == "cuda:2"  # GPU 0 has a process, GPU 1 the run
        assert gpus.busy_sentence("cuda:1") == ("cuda:1 (H100 80GB HBM3) is in use by run mlp-mnist-20250101-090000: "
                                                "the new run would share its memory and time; --device cuda:2 has no "
                                                "process on it.")
        assert gpus.busy("cuda:2")[1] == [] and gpus.busy_sentence("cpu") == ""
        no_cuda(monkeypatch)
        assert gpus.busy("auto")[0] == ""  # a torch without CUDA: auto trains on the CPU, whatever NVML lists
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        assert gpus.busy("auto")[0] == "cuda:2 (H100 80GB HBM3)"  # auto takes the free one
    finally:
        lock.release()
    assert gpus.busy_sentence("cuda:1") == ""


def test_a_run_still_loading_is_on_the_gpu_it_asked_for(fake_gpus):
    fake_gpus(FOUR)
    _, lock = live_run("mlp-mnist-20250101-090000", gpu_index=None, device="cuda:1")  # no record, no process yet
    _, other = live_run("mlp-mnist-20250101-090001", gpu_index=None, device="auto")  # which GPU: not known yet
    try:
        assert [r.name for r in gpus.busy("cuda:1")[1]] == ["mlp-mnist-20250101-090000"]
        assert gpus.survey().rows[1].runs == ("mlp-mnist-20250101-090000",)
        assert gpus.busy("cuda:2")[1] == [] and gpus.busy("cuda:0")[2] == "cuda:2"  # 1 is taken by the loading run
    finally:
        lock.release()
        other.release()


# -- out of memory ----------------------------------------------------------------------------------------------

OOM_MODEL = """import torch
class Net(torch.nn.Module):
    calls = 0
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        if self.training and x.shape[0] > {fits}:  # a GPU that holds {fits} images a batch, and then {at} - 1 steps
            Net.calls += 1
            if Net.calls >= {at}:
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.fc(x.flatten(1))
"""


def test_out_of_memory_saves_the_run_and_names_a_batch_that_fits(tmp_path):
    src = tmp_path / "hungry.py"
    src.write_text(OOM_MODEL.format(at=3, fits=8))
    folder, events = recorded(tiny_config(model=f"{src}:Net", batch_size=16, epochs=2, limit_batches=4,
                                          out=str(tmp_path / "r")))
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.checkpoint
    name = os.path.basename(folder)
    assert failed.reason == (f"out of memory on cpu at epoch 1, batch 3/4, with a batch of 16; half the batch, 8, should "
                             f"fit; saved at epoch 1, batch 2/4: `workbench train --resume {name} --model {src}:Net "
                             f"--batch-size 8` goes on from there.")
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert (saved[-1].epoch, saved[-1].batch, saved[-1].complete) == (1, 2, False)  # as a stop saves
    from trainers.runs import read_status

    assert read_status(folder).state == "failed" and read_status(folder).reason == failed.reason
    # the sentence's command goes on: the same run, from batch 2, at the smaller batch
    from trainers.backends import resume_config

    config = resume_config(folder, model=f"{src}:Net", batch_size=8)  # (the run is in --out, not the home)
    _, more = recorded(config)
    assert isinstance(more[-1], RunFinished) and more[-1].epochs_completed == 2
    # 2 batches of 16 are 4 of 8: the resume goes on after the same 32 samples
    assert more[0].config["batch_size"] == 8 and tuple(more[0].resumed_at) == (1, 4)


COUNTING_MODEL = '''import torch
class Net(torch.nn.Module):
    calls = 0
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        if self.training:
            if x.shape[0] > {fits}:
                Net.calls += 1
                if Net.calls >= {at}:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            with open({log!r}, "a") as f:  # each sample trained on, by the sum of its pixels
                f.write("".join(f"{{v:.5f}}\\n" for v in x.detach().flatten(1).sum(1).tolist()))
        return self.fc(x.flatten(1))
'''


def trained(tmp_path, name: str, fits: int, at: int = 1):
    """A model file that runs out of memory at its `at`-th batch over `fits`, and the file naming each sample it
    trained on."""
    log = tmp_path / f"{name}.log"
    src = tmp_path / f"{name}.py"
    src.write_text(COUNTING_MODEL.format(fits=fits, at=at, log=str(log)))
    return f"{src}:Net", log


def test_a_resume_at_the_smaller_batch_trains_every_sample_of_the_epoch_once(tmp_path):
    from trainers.backends import resume_config

    whole, whole_log = trained(tmp_path, "whole", fits=10_000)
    recorded(tiny_config(model=whole, batch_size=16, limit_batches=None, out=str(tmp_path / "whole")))
    model, log = trained(tmp_path, "hungry", fits=8, at=3)
    folder, events = recorded(tiny_config(model=model, batch_size=16, limit_batches=None, out=str(tmp_path / "r")))
    assert isinstance(events[-1], RunFailed) and "--batch-size 8` goes on from there" in events[-1].reason
    _, more = recorded(resume_config(folder, model=model, batch_size=8))
    assert isinstance(more[-1], RunFinished) and tuple(more[0].resumed_at) == (1, 4)
    samples = log.read_text().split()
    assert len(samples) == 256  # 2 batches of 16, then 28 of 8: none twice, none left out
    assert sorted(samples) == sorted(whole_log.read_text().split())


def test_a_resume_at_a_batch_that_does_not_divide_the_samples_done_says_which_do(tmp_path):
    from trainers.backends import resume_config

    model, _ = trained(tmp_path, "hungry", fits=8, at=3)
    folder, _ = recorded(tiny_config(model=model, batch_size=16, limit_batches=None, out=str(tmp_path / "r")))
    _, more = recorded(resume_config(folder, model=model, batch_size=12))
    assert isinstance(more[-1], RunFailed)
    assert more[-1].reason == ("the checkpoint stopped epoch 1 after 32 samples (2 batches of 16), which batches of 12 do "
                               "not divide; resume with a --batch-size that divides 32 (1, 2, 4, 8 or 16).")
    # so an out-of-memory names a batch that divides what its save has done: 2 batches of 15 are 5 of 6, not of 7
    model, _ = trained(tmp_path, "odd", fits=8, at=3)
    _, events = recorded(tiny_config(model=model, batch_size=15, limit_batches=None, out=str(tmp_path / "odd")))
    assert "; half the batch, 7, should fit; 6 divides the 30 samples the save has of its epoch; saved at epoch 1, " \
           "batch 2/18: " in events[-1].reason and events[-1].reason.endswith("--batch-size 6` goes on from there.")


def test_out_of_memory_at_the_first_batch_saves_nothing_and_starts_over(tmp_path):
    src = tmp_path / "hungry.py"
    src.write_text(OOM_MODEL.format(at=1, fits=0))
    folder, events = recorded(tiny_config(model=f"{src}:Net", batch_size=1, out=str(tmp_path / "r")))
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.checkpoint is None
    assert "with a batch of 1; not even a batch of 1 fits: free some of the GPU's memory" in failed.reason
    assert failed.reason.endswith(f"nothing was saved: `workbench train --resume r --model {src}:Net` starts it again.")
    assert not any(isinstance(e, CheckpointSaved) for e in events)


def test_out_of_memory_in_the_evaluation_keeps_the_epochs_training(tmp_path):
    src = tmp_path / "hungry.py"
    src.write_text(OOM_MODEL.replace("if self.training and x.shape[0] > {fits}:", "if not self.training and "
                                     "x.shape[0] > {fits}:").format(at=1, fits=40))  # the test batch of 64, only
    folder, events = recorded(tiny_config(model=f"{src}:Net", out=str(tmp_path / "r")))
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.checkpoint
    assert failed.reason == (f"out of memory on cpu at the evaluation after epoch 1 (test batches of 1000); the training "
                             f"batch of 32 is not what ran out; half the test batch, 500, should fit; saved at epoch 1, "
                             f"batch 3/3: `workbench train --resume r --model {src}:Net --test-batch-size 500` goes on "
                             f"from there.")
    from trainers.backends import resume_config

    more = recorded(resume_config(folder, model=f"{src}:Net", test_batch_size=32))[1]  # 32 fits this one's 40
    assert isinstance(more[-1], RunFinished) and more[0].config["test_batch_size"] == 32
    assert [(e.epoch, e.resumed) for e in more if isinstance(e, EpochEnded)] == [(1, True)]


def test_out_of_memory_in_the_optimizers_step_keeps_the_last_save(tmp_path, monkeypatch):
    model, _ = trained(tmp_path, "net", fits=10_000)
    real, steps = torch.optim.Adam.step, []

    def step(self, *args, **kwargs):  # Adam's foreach kernels move its state, then a temporary does not fit
        real(self, *args, **kwargs)
        steps.append(1)
        if len(steps) == 5:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    folder, events = recorded(tiny_config(model=model, optimizer="adam", epochs=2, out=str(tmp_path / "r")))
    saved = [(e.epoch, e.batch, e.complete) for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [(1, 3, True)]  # epoch 1's end, and nothing of the half-stepped epoch 2
    assert events[-1].reason == (f"out of memory on cpu at epoch 2, batch 2/3, with a batch of 32, in the optimizer's "
                                 f"step; half the batch, 16, should fit; the weights were half a step on, so they were "
                                 f"not saved: its last save stays: `workbench train --resume r --model {model} "
                                 f"--batch-size 16` goes on from it.")


def test_out_of_memory_building_a_batch_saves_at_the_last_finished_one(tmp_path, monkeypatch):
    from trainers.backends import resume_config
    from trainers.data.batches import TensorBatches

    real, batches = TensorBatches.epoch, []

    def epoch(self, start=0):  # the third training batch does not fit on the GPU
        for item in real(self, start):
            if self.order.shuffle:
                batches.append(1)
                if len(batches) == 3:
                    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 96.00 MiB")
            yield item

    whole = recorded(tiny_config(out=str(tmp_path / "whole")))[1]
    monkeypatch.setattr(TensorBatches, "epoch", epoch)
    folder, events = recorded(tiny_config(out=str(tmp_path / "r")))
    assert events[-1].reason.startswith("out of memory on cpu at epoch 1, batch 3/3, with a batch of 32; half the "
                                        "batch, 16, should fit; saved at epoch 1, batch 2/3: ")
    monkeypatch.setattr(TensorBatches, "epoch", real)
    more = recorded(resume_config(folder))[1]  # at the same batch: the run never stopped, bit for bit
    ended = [e for e in more if isinstance(e, EpochEnded)]
    assert [(e.train_loss, e.test_loss) for e in ended] == [(e.train_loss, e.test_loss) for e in whole
                                                            if isinstance(e, EpochEnded)]


def test_out_of_memory_that_cuda_reports_as_a_runtime_error_saves_too(tmp_path):
    src = tmp_path / "hungry.py"
    src.write_text(OOM_MODEL.format(at=3, fits=8).replace(
        'torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")',
        'RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")'))
    _, events = recorded(tiny_config(model=f"{src}:Net", batch_size=16, limit_batches=4, out=str(tmp_path / "r")))
    assert events[-1].reason.startswith("out of memory on cpu at epoch 1, batch 3/4, with a batch of 16; half the "
                                        "batch, 8, should fit; saved at epoch 1, batch 2/4")
    assert devices.is_out_of_memory(RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be ..."))
    assert devices.is_out_of_memory(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"))
    assert not devices.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


class FakeCuda:
    """torch.cuda's memory readings as a GPU would give them, for trainers.train.fit measuring on the CPU: the
    process holds `held` GiB (`cached` more in torch's cache), the GPU has `free` GiB more; a training step at
    batch b peaks at `fixed` + `per_sample` * b GiB above what was held, the evaluation at `fixed` + `per_test` * b."""

    def __init__(self, monkeypatch, *, held, cached, free, fixed, per_sample, per_test):
        from trainers.train import fit

        self.__dict__.update(held=held, cached=cached, free=free, fixed=fixed, per_sample=per_sample,
                             per_test=per_test, batches=[])
        real_inputs = fit._inputs

        def inputs(model, device, shape, batch, g):
            self.model, self.batch = model, batch
            self.batches.append((batch, model.training))
            return real_inputs(model, device, shape, batch, g)

        monkeypatch.setattr(fit, "_inputs", inputs)
        for name in ("empty_cache", "reset_peak_memory_stats", "synchronize", "set_rng_state"):
            monkeypatch.setattr(torch.cuda, name, lambda *a, **k: None)
        monkeypatch.setattr(torch.cuda, "get_rng_state", lambda *a: None)
        monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a: int(self.held * GIB))
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda *a: int((self.held + self.cached) * GIB))
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda *a: (int(self.free * GIB), 80 * GIB))
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: int(GIB * (self.held + self.fixed + (
            self.per_sample if self.model.training else self.per_test) * self.batch)))


def test_the_batch_that_fits_counts_the_runs_data_once_and_its_gradients_not_at_all(monkeypatch):
    """After an out-of-memory the run holds its data (4 GiB) and more: what it holds comes back to it in the resumed
    process, so the room is everything free plus everything held (13 GiB), and the data is counted once."""
    import dataclasses

    from trainers.train.fit import choose_batch, fit_session
    from trainers.train.prepare import prepare

    session = prepare(tiny_config())
    monkeypatch.setattr("trainers.train.fit.resident_bytes", lambda s: 4 * GIB)
    FakeCuda(monkeypatch, held=8, cached=1, free=4, fixed=1, per_sample=0.5, per_test=0.01)
    for p in session.model.parameters():
        p.grad = torch.ones_like(p)  # the step that ran out left its gradients
    fit = fit_session(session, largest=256)
    assert all(p.grad is None for p in session.model.parameters())  # freed before measuring
    assert fit.room == 13 * GIB and fit.batch == 8 and fit.need == 9 * GIB  # 1 + 0.5 x 8 + 4 <= 0.9 x 13
    assert fit.limit() == "16 would take 13.0 GB, leaving less than a tenth spare"
    # the evaluation is measured beside it: test batches of 1000 would take 15 GiB, 512 fit
    session.cfg = dataclasses.replace(session.cfg, test_batch_size=1000)
    note = choose_batch(session)
    assert (session.cfg.batch_size, session.cfg.test_batch_size) == (8, 512)
    assert note == ("--batch-size auto chose 8: training takes 9.0 GB of the 13.0 GB free on cpu; 16 would take 13.0 GB, "
                    "leaving less than a tenth spare; evaluation in batches of 512 (1000 would not fit beside it).")
    session.resume = {"position": [1, 3], "batch_size": 4}  # a checkpoint 12 samples into epoch 1
    session.cfg = dataclasses.replace(session.cfg, test_batch_size=1000)
    assert "; 6, to divide the 12 samples its checkpoint has of epoch 1; " in choose_batch(session)
    assert session.cfg.batch_size == 6


def test_the_data_a_run_keeps_on_the_gpu_is_counted_as_it_is_kept(monkeypatch):
    from trainers.data import batches
    from trainers.data.batches import TensorBatches, resident_bytes

    x, y = torch.zeros((100, 1, 28, 28), dtype=torch.uint8), torch.zeros(100, dtype=torch.int64)
    for budget in (1 << 30, 1000):  # float32 when it fits under the budget, else kept as uint8
        monkeypatch.setattr(batches, "FLOAT_BUDGET", budget)
        kept = TensorBatches(x, y, 10, device=torch.device("cpu"), mean=(0.5,), std=(0.5,), normalize=True, shuffle=False)
        assert resident_bytes(x, y) == kept.x.numel() * kept.x.element_size() + kept.y.numel() * kept.y.element_size()
    assert resident_bytes(x, y) == 100 * 784 + 100 * 8


def test_a_group_of_trials_out_of_memory_as_cudas_runtime_error_says_to_group_fewer(tmp_path, monkeypatch):
    from trainers.backends import claim
    from trainers.backends.group import train_group_here
    from trainers.train.group import GroupTrainer

    def out(self, *args):
        raise RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`")

    monkeypatch.setattr(GroupTrainer, "train_epoch", out)
    claimed = [claim(tiny_config(optimizer="sgd", lr=lr, out=str(tmp_path / f"t{i}"))) for i, lr in enumerate((0.1, 0.2))]
    events = list(train_group_here([c for c, _ in claimed], None, locks=[lock for _, lock in claimed]))
    assert [e.reason for _, e in events if isinstance(e, RunFailed)] == \
        ["the GPU ran out of memory with the trials stacked; use a smaller --group."] * 2


def test_out_of_memory_before_training_names_the_runs_gpu_which_prepare_made_current(monkeypatch):
    from types import SimpleNamespace

    from trainers.train import loop, prepare

    asked = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: asked.append(device) or (3 * GIB, 80 * GIB))
    assert loop.gb_words(SimpleNamespace(device=torch.device("cuda", 2))) == "3.0 GB of 80.0 GB free on cuda:2"
    assert asked == [torch.device("cuda", 2)]
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    assert loop.gb_words(None) == "its memory could not be read" and len(asked) == 1  # no context opened to say it

    class Current(Exception):
        pass

    monkeypatch.setattr(prepare, "resolve", lambda name: torch.device("cuda", 2))  # auto took cuda:2
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: (_ for _ in ()).throw(Current(device)))
    with pytest.raises(Current) as made:
        prepare.prepare(tiny_config(device="auto"))
    assert made.value.args == (torch.device("cuda", 2),)


# -- on a GPU -------------------------------------------------------------------------------------------------


@needs_gpu
def test_on_a_gpu_the_run_records_it_and_reports_its_memory(tmp_path):
    _, events = recorded(tiny_config(model="cnn-pool", device="auto", out=str(tmp_path / "r")))
    started = events[0]
    assert isinstance(started, RunStarted) and started.config["gpu"]["name"] and started.config["gpu"]["driver"]
    assert started.device.startswith(f"cuda:{started.config['gpu']['index']} (")
    batch = next(e for e in events if isinstance(e, BatchEnded))
    assert 0 < batch.gpu_memory <= batch.gpu_peak
    epoch = next(e for e in events if isinstance(e, EpochEnded))
    assert epoch.gpu_peak >= batch.gpu_peak


@needs_gpu
def test_on_a_gpu_batch_size_auto_chooses_a_power_of_two_and_says_so(tmp_path):
    _, events = recorded(tiny_config(model="cnn-pool", device="auto", batch_size="auto", out=str(tmp_path / "r")))
    started = events[0]
    chosen = started.config["batch_size"]
    assert isinstance(chosen, int) and chosen & (chosen - 1) == 0 and chosen <= 256  # TINY has 256 samples
    assert started.notes[0].startswith(f"--batch-size auto chose {chosen}: training takes ")
    assert isinstance(events[-1], RunFinished)


@needs_gpu
def test_on_a_gpu_a_real_out_of_memory_is_measured(tmp_path):
    from trainers.train.fit import fit_session
    from trainers.train.prepare import prepare

    session = prepare(tiny_config(model="cnn-pool", device="auto"))
    free, _ = torch.cuda.mem_get_info(session.device)
    fit = fit_session(session, largest=256)
    assert 1 <= fit.batch <= 256 and 0 < fit.need <= 0.9 * fit.room and fit.room <= free + torch.cuda.memory_reserved()


@needs_gpu
def test_on_a_gpu_fp16_trains_with_its_scaler(tmp_path):
    _, events = recorded(tiny_config(model="cnn-pool", device="cuda", amp="fp16", out=str(tmp_path / "r")))
    assert isinstance(events[-1], RunFinished)


GREEDY_MODEL = """import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        if self.training and x.shape[0] > 8:  # a batch over 8 asks the GPU for a petabyte
            torch.empty(2**50, dtype=torch.uint8, device=x.device)
        return self.fc(x.flatten(1))
"""


@needs_gpu
def test_on_a_gpu_a_real_out_of_memory_saves_and_measures_what_fits(tmp_path):
    src = tmp_path / "greedy.py"
    src.write_text(GREEDY_MODEL)
    folder, events = recorded(tiny_config(model=f"{src}:Net", device="cuda", batch_size=8, epochs=2,
                                          out=str(tmp_path / "r")))
    assert isinstance(events[-1], RunFinished)  # 8 fits: the trainer's first epoch is saved...
    more = recorded(tiny_config(model=f"{src}:Net", device="cuda", batch_size=32, epochs=3, out=folder,
                                resume=folder))[1]
    failed = more[-1]
    assert isinstance(failed, RunFailed) and failed.checkpoint  # ...and a batch of 32 runs out at once
    assert "with a batch of 32; a batch of 8 fits (training takes " in failed.reason
    assert failed.reason.endswith("--batch-size 8` goes on from there.")



def test_the_cost_shows_a_steps_measured_peak_beside_torchinfo_only_on_a_gpu():
    import dataclasses

    from trainers.cost import format_cost, static_cost

    cost = static_cost(tiny_config(device="cpu"))
    assert len(format_cost(cost)) == 4 and "peak" not in " ".join(format_cost(cost))  # a CPU: nothing more
    on_gpu = dataclasses.replace(cost, peak_device_bytes=3_210_000_000, batch_note="auto: ...")
    lines = format_cost(on_gpu)
    assert lines[0].endswith("batch 32 (auto)") and lines[-1].startswith("peak 3.21 GB a step · torchinfo ")
    assert all(len(line) <= 40 for line in lines)
    later = format_cost(static_cost(tiny_config(model="resnet-small", batch_size="auto"), measure_auto=False))
    assert later[0].endswith("mult-adds/sample, batch auto") and later[2:] == ["auto: measured at start",
                                                                               "epoch: 256 samples + 64 test"]
    assert all(len(line) <= 40 for line in later)
