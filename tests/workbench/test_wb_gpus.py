"""The GPU server in the app and on the command line, through the fake NVML boundary: the g panel with 0, 1 and
4 GPUs (refreshed while shown, its timer gone when closed), `workbench gpus`, the picker's device list, the
question before starting on a GPU another run holds, a live run's GPU in the Runs screen and `workbench runs`,
and a run's GPU, memory and batch-size choice in its header and status line."""

from pathlib import Path

from tests.conftest import GIB, H100, gpu, live_run
from trainers import events as ev
from trainers.config import RunConfig
from trainers.runs import RunWriter
from workbench.app import WorkbenchApp
from workbench.cli import main
from workbench.messages import StartRun
from workbench.screens.confirm import ConfirmScreen
from workbench.screens.gpus import GpuScreen
from workbench.screens.pick import PickScreen
from workbench.screens.run import RunScreen
from workbench.screens.run_list import RunListScreen
from workbench.widgets.pick.hyperparams import HyperparameterForm
from workbench.widgets.run.progress import ProgressLine

from .helpers import screen_text, shown, until

RUN = "cnn-pool-fashion-mnist-20250101-120301"


def four(pid: int):
    return [gpu(0, used=61.2, util=98, processes=[(pid, 58), (4_000_001, 3.1)]), gpu(1, used=0.5),
            gpu(2, used=20.3, util=45, processes=[(1, 20)]), gpu(3, used=79.1, util=100, processes=[(4_000_002, 79)])]


async def open_panel(pilot, app) -> GpuScreen:
    await pilot.press("g")
    await until(pilot, lambda: isinstance(app.screen, GpuScreen) and app.screen.reads > 0)
    await pilot.pause()
    return app.screen


async def test_the_gpu_panel_names_runs_and_other_processes_and_refreshes_only_while_shown(fake_gpus):
    folder, lock = live_run(RUN, gpu_index=0)
    try:
        path = fake_gpus(four(pid=__import__("os").getpid()))
        app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
        async with app.run_test(size=(80, 24)) as pilot:
            panel = await open_panel(pilot, app)
            text = screen_text(app)
            for line in ("cuda:0  H100 80GB HBM3  ████████░░ 61.2/80.0     98%", f"run {RUN}", "root: ",
                         "not visible here (another container's process)", "cuda:3", "no processes",
                         "driver 550.54.15 · CUDA 12.4 · fake NVML (fake-gpus.json)", "every 2 s · g or Esc closes"):
                assert line in text, line
            path.write_text(path.read_text().replace(str(int(0.5 * GIB)), str(int(40.5 * GIB))))
            panel.refresh_gpus()  # as its timer does every 2 s
            await until(pilot, lambda: panel.reads >= 2)
            await shown(pilot, app, "40.5/80.0")
            await pilot.press("g")
            assert isinstance(app.screen, RunListScreen)  # opened on the live run's list, as the app does
    finally:
        lock.release()


async def test_the_gpu_panel_reads_one_at_a_time_only_while_on_top_and_never_once_closed(fake_gpus, monkeypatch):
    import threading

    import trainers.gpus
    from workbench.screens import gpus as panel_module
    from workbench.screens.help import HelpScreen

    fake_gpus([gpu(0)])
    monkeypatch.setattr(panel_module, "REFRESH_SECONDS", 0.05)
    calls, slow, held_up, real = [], threading.Event(), threading.Event(), trainers.gpus.survey
    slow.set()

    def survey(*args):
        calls.append(1)
        if not slow.wait(0):  # NVML or /proc taking their time: this read is held until slow is set again
            held_up.set()
            slow.wait(10)
        return real(*args)

    monkeypatch.setattr(trainers.gpus, "survey", survey)
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_panel(pilot, app)
        await until(pilot, lambda: panel.reads >= 3)  # refreshing while shown
        slow.clear()
        await until(pilot, held_up.is_set)  # a read under way and held (one begun before the clear may end first)
        held = len(calls)
        await pilot.pause(0.4)  # eight ticks: none starts a read beside the one under way
        assert len(calls) == held
        slow.set()
        await until(pilot, lambda: not panel.reading)
        app.push_screen(HelpScreen("workbench", []))  # another screen on top: the panel stops reading
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: not panel.reading)  # a read begun just before Help came up is shown first
        await pilot.pause(0.1)
        shown_under, held = panel.reads, len(calls)
        await pilot.pause(0.4)
        assert (panel.reads, len(calls)) == (shown_under, held)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is panel and panel.reads > shown_under)  # on top again: reads again
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PickScreen))
        await pilot.pause(0.1)
        closed = len(calls)
        await pilot.pause(0.4)
        assert len(calls) == closed  # closed: no read ever again


async def test_the_gpu_panel_without_a_gpu_says_which_library_found_what(fake_gpus):
    fake_gpus(error="LibraryNotFound")
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_panel(pilot, app)
        await shown(pilot, app, "No GPU here: fake NVML (fake-gpus.json) found no NVIDIA driver")
        await pilot.press("escape")
        assert isinstance(app.screen, PickScreen)
        await pilot.press("slash", "g")  # in a list's filter g is a letter
        assert not isinstance(app.screen, GpuScreen)


def test_workbench_gpus_with_none_one_and_four(fake_gpus, capsys):
    fake_gpus([])
    assert main(["gpus"]) == 0
    assert capsys.readouterr().out.startswith("No GPU here: NVIDIA driver 550.54.15 answered, listing no GPU.")
    fake_gpus([gpu(0, used=2, util=37, processes=[(1, 2)])])
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["GPU", "name", "memory", "(GB)", "use", "temp", "power"]
    assert out[1] == "cuda:0  H100 80GB HBM3  ░░░░░░░░░░  2.0/80.0     37%  48°C  292/700 W"
    assert out[2].split()[:2] == ["1", "root:"] and out[2].endswith("2.0 GB")
    fake_gpus(four(pid=1))
    assert main(["gpus"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if line.startswith("cuda:")] == [f"cuda:{i}" for i in range(4)]
    assert max(len(line) for line in out.splitlines()) <= 100  # piped: at most 100 columns, nothing wrapped


async def test_the_pickers_device_list_shows_each_gpus_free_memory(fake_gpus):
    fake_gpus(four(pid=1))
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.screen.query_one(HyperparameterForm)
        await until(pilot, lambda: form.has_class("-gpus"))  # four GPUs: a process each can be chosen (torchrun)
        labels = dict(form.devices)
        assert labels["cuda:1"] == "cuda:1, 79.5 of 80 GB free" and labels["cuda:3"] == "cuda:3, 0.9 of 80 GB free"


async def test_starting_on_a_gpu_another_run_holds_asks_first(fake_gpus, monkeypatch):
    import threading

    import torch

    import trainers.gpus

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a torch that can use the fake GPUs
    asked_in, real = [], trainers.gpus.busy_sentence
    monkeypatch.setattr(trainers.gpus, "busy_sentence", lambda *a: asked_in.append(threading.current_thread()) or real(*a))
    fake_gpus(four(pid=1))  # auto takes cuda:1, the most free
    _, lock = live_run(RUN, gpu_index=1)
    started = []
    try:
        app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
        async with app.run_test(size=(80, 24)) as pilot:
            app.launch_run = started.append
            app.post_message(StartRun(RunConfig(model="mlp", device="auto")))
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await shown(pilot, app, "cuda:1 (H100 80GB HBM3) is in use by run")
            assert RUN in screen_text(app)
            await pilot.press("n")
            assert started == [] and not isinstance(app.screen, ConfirmScreen)
            app.post_message(StartRun(RunConfig(model="mlp", device="auto")))
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            assert [c.model for c in started] == ["mlp"]
            app.post_message(StartRun(RunConfig(model="mlp", device="cpu")))  # the CPU: nothing to ask
            await until(pilot, lambda: len(started) == 2)
            # NVML, /proc and the runs home are read off the UI thread: its event loop never waits on them
            assert asked_in and threading.main_thread() not in asked_in
    finally:
        lock.release()


async def test_the_runs_screen_and_workbench_runs_show_a_live_runs_gpu(fake_gpus, capsys):
    fake_gpus(four(pid=1))
    _, lock = live_run(RUN, gpu_index=2)
    try:
        assert main(["runs"]) == 0
        assert "running cuda:2" in capsys.readouterr().out
        app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits"))
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("R")
            await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.summaries)
            await shown(pilot, app, "running cuda:2")
    finally:
        lock.release()


def gpu_run(folder: Path) -> str:
    """A finished run on cuda:1 whose events carry the GPU's memory, and --batch-size auto's choice."""
    record = {"index": 1, "name": H100, "uuid": "GPU-00000001-fake", "nvml_index": 1, "memory": 80 * GIB,
              "driver": "550.54.15", "cuda": "12.4", "torch_cuda": "13.0"}
    config = RunConfig(model="mlp", dataset="fashion-mnist", epochs=1, batch_size=256, optimizer="adam", lr=1e-3,
                       gpu=record).to_dict()
    folder.mkdir(parents=True)
    writer = RunWriter(folder)
    writer.starting()
    writer.write(ev.RunStarted(model="mlp", dataset="fashion-mnist", task="classify", summary="mlp()", parameters=203_530,
                               trainable=203_530, device=f"cuda:1 ({H100})", train_size=60_000, test_size=10_000,
                               batches_per_epoch=235, epochs=1, classes=tuple("0123456789"), config=config,
                               notes=("--batch-size auto chose 256: training takes 1.2 GB of the 79.5 GB free on cuda:1; "
                                      "512 would take 80.1 GB, leaving less than a tenth spare.",)))
    writer.write(ev.BatchEnded(epoch=1, batch=100, batches=235, seen=25_600, total=60_000, loss=0.5, accuracy=0.8,
                               samples_per_sec=51_234.0, elapsed=2.0, step=100, gpu_memory=int(1.2 * GIB),
                               gpu_peak=int(3.4 * GIB), gpu_util=87))
    writer.write(ev.EpochEnded(epoch=1, epochs=1, train_loss=0.5, train_accuracy=0.8, test_loss=0.5, test_accuracy=0.8,
                               seconds=4.0, samples_per_sec=51_234.0, gpu_peak=int(3.4 * GIB)))
    writer.write(ev.RunFinished(epochs_completed=1, stopped=False, seconds=4.0, final_test_accuracy=0.8))
    writer.close()
    return str(folder)


async def test_a_gpu_runs_header_names_its_gpu_and_its_status_line_the_memory(tmp_path):
    app = WorkbenchApp(attach=gpu_run(tmp_path / "mlp-fashion-mnist-gpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.ended)
        await pilot.pause()
        text = screen_text(app)
        assert text.splitlines()[0].strip().startswith("mlp on fashion-mnist · cuda:1 H100 80GB HBM3 · 203,530 params")
        progress = app.screen.query_one(ProgressLine)
        assert progress.gpu == "GPU 1.2 GB, peak 3.4 GB, 87%"
        from workbench.render.gpus import gigabytes
        from workbench.render.text import gpu_words

        # an H200's memory in the same words everywhere: as workbench gpus and the sentences say it
        assert (gpu_words(int(139.2 * GIB), int(140.4 * GIB), None), gigabytes(int(139.2 * GIB))) == \
            ("GPU 139 GB, peak 140 GB", "139")
        assert "epoch 1/1  batch 100/235  51,234/s  GPU 1.2 GB, peak 3.4 GB, 87%" in text  # fitted to 80 columns
        await pilot.press("4")
        await shown(pilot, app, "cuda:1 (NVIDIA H100 80GB HBM3) ·")
        assert "driver 550.54.15 · CUDA 12.4" in screen_text(app)
        await shown(pilot, app, "--batch-size auto chose 256")


def test_train_on_a_cpu_refuses_batch_size_auto_and_a_gpu_that_is_not_there(fake_gpus, capsys):
    assert main(["train", "--model", "mlp", "--device", "cpu", "--batch-size", "auto"]) == 2
    assert capsys.readouterr().err == ("workbench: error: --batch-size auto measures the largest batch that fits in a "
                                       "GPU's memory, so it applies to GPUs only; on the CPU give --batch-size N.\n")
    fake_gpus([gpu(0)])
    assert main(["train", "--model", "mlp", "--device", "cuda:7"]) == 2
    assert capsys.readouterr().err == ("workbench: error: device cuda:7 does not exist: this machine has 1 GPU: cuda:0 "
                                       "(H100 80GB HBM3).\n")
    from trainers.runs import runs_home

    assert not runs_home().exists()  # refused before any folder was made


def test_train_warns_in_one_line_when_another_run_holds_the_gpu(fake_gpus, capsys, monkeypatch):
    import torch

    from workbench.commands.train import check_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a torch that can use the fake GPUs
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    fake_gpus(four(pid=1))
    _, lock = live_run(RUN, gpu_index=1)
    try:
        check_gpu(RunConfig(model="mlp", device="cuda:1"))
        assert "cuda:1 (H100 80GB HBM3) is in use by run" in capsys.readouterr().err
        check_gpu(RunConfig(model="mlp", device="auto"))
        err = capsys.readouterr().err
        assert err == (f"workbench: warning: cuda:1 (H100 80GB HBM3) is in use by run {RUN}: the new run would share "
                       f"its memory and time.\n")  # every other GPU has a process: none to suggest
    finally:
        lock.release()
    check_gpu(RunConfig(model="mlp", device="auto"))
    assert capsys.readouterr().err == ""


async def test_the_forms_batch_takes_auto_and_a_start_on_the_cpu_says_it_applies_to_gpus_only(monkeypatch):
    from workbench.widgets.pick.cost import CostPanel

    monkeypatch.setattr(CostPanel, "price", lambda *a: None)  # no dry run in its own interpreter here
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits", device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#hp-batch_size").focus()
        await pilot.press("a", "u", "t", "o")  # letters of the field's word are text there, not shortcuts
        assert app.screen.query_one(HyperparameterForm).values()["batch_size"] == "auto"
        await pilot.press("s")
        await shown(pilot, app, "applies to GPUs only")
        assert isinstance(app.screen, PickScreen) and not app.screen.starting and app.children_started == []


async def test_the_pickers_cost_leaves_batch_size_auto_to_the_start(fake_gpus, monkeypatch):
    """No dry run grows allocations on a shared GPU at every change of the form: auto is measured when the run
    starts, and the panel says so, with what a sample costs."""
    import torch

    import trainers.cost
    import trainers.train.fit
    from workbench.widgets.pick.cost import CostPanel

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU the form's auto would measure on
    fake_gpus(four(pid=1))
    measured = []
    monkeypatch.setattr(trainers.train.fit, "largest_batch", lambda *a, **k: measured.append(1))
    # the panel may time batch 32's step before the field reads auto (a busy machine is slow to type): that is
    # the ordinary pricing; what must never run is a measurement of auto
    monkeypatch.setattr(trainers.cost, "timed_elsewhere",
                        lambda cost, config, **k: measured.append(2) if config.batch_size == "auto" else None)
    monkeypatch.setattr(CostPanel, "DEBOUNCE_S", 0.01)
    app = WorkbenchApp(RunConfig(model="mlp", dataset="synthetic-digits", device="cuda:1"))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.screen.query_one(HyperparameterForm).values()["batch_size"] == 32)
        app.screen.query_one("#hp-batch_size").value = "auto"
        await shown(pilot, app, "auto: measured at start")
        panel = app.screen.query_one(CostPanel)
        assert "mult-adds/sample, batch auto" in screen_text(app) and panel.cost.batch_note == "auto: measured at start"
        await pilot.pause(0.3)
        assert measured == []


def test_train_prints_the_gpu_its_driver_the_batch_auto_chose_and_each_epochs_peak(tmp_path, capsys):
    from trainers.runs import RunReader
    from workbench.commands.train import show_events

    folder = gpu_run(tmp_path / "mlp-fashion-mnist-gpu")
    assert show_events(RunReader(folder).events(), folder) == 0
    out = capsys.readouterr().out.splitlines()
    assert "; cuda:1 H100 80GB HBM3 · driver 550.54.15 · CUDA 12.4; adam lr 0.001, batch 256;" in out[0]
    assert out[1].startswith("--batch-size auto chose 256: training takes 1.2 GB")
    assert out[2].endswith("51,234 samples/s  GPU peak 3.4 GB")
