"""Trials trained together as one stacked model (issue 25): each grouped trial against the same trial trained
alone, a trial pruned out of its group, a group killed and resumed, a BatchNorm model's fallback to one process
per trial, and the sweep's options. Tiny models on generated digits: a group of three trains in about a second."""

import dataclasses
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import TINY, end_trainers
from trainers import RunConfig
from trainers import checkpoint as ckpt
from trainers.backends import claim, resume_config, train_here
from trainers.backends.group import train_group_here
from trainers.events import BatchEnded, CheckpointSaved, EpochEnded, RunFinished
from trainers.runs import read_status, send
from trainers.train.group import group_key, ungroupable

BASE = dict(dataset="synthetic-digits", epochs=2, batch_size=32, limit_batches=5, limit_test_batches=1, log_every=1,
            extra=dict(TINY), device="cpu", threads=1, data_seed=0)
# three trials that differ in everything a group lets differ: lr, momentum, weight decay, init and seed
TRIALS = [dict(lr=0.05, momentum=0.9, seed=0), dict(lr=0.1, momentum=0.0, weight_decay=1e-3, seed=1),
          dict(lr=0.02, momentum=0.5, init="xavier", seed=2)]


@pytest.fixture(autouse=True)
def _threads():
    """The trials here take one thread (the same floats in this process and in a detached one); the test
    process gets its own number back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def configs(tmp_path, prefix: str, model: str = "mlp", optimizer: str = "sgd", **more) -> list[RunConfig]:
    return [RunConfig(model=model, optimizer=optimizer, out=str(tmp_path / f"{prefix}{i}"), **{**BASE, **t, **more})
            for i, t in enumerate(TRIALS)]


def grouped(cfgs: list[RunConfig], on_event=None, controls=None) -> dict[int, list]:
    """Train `cfgs` as one group in this process; every trial's events, by trial."""
    claimed = [claim(c) for c in cfgs]
    events: dict[int, list] = {i: [] for i in range(len(cfgs))}
    for i, event in train_group_here([c for c, _ in claimed], controls, locks=[lock for _, lock in claimed]):
        events[i].append(event)
        if on_event is not None:
            on_event(i, event)
    return events


def alone(config: RunConfig) -> list:
    config, lock = claim(config)
    return list(train_here(config, lock=lock))


def weights(folder) -> dict:
    return ckpt.load(folder)["model_state"]


def metrics(folder) -> list[dict]:
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("model, optimizer, atol", [
    ("mlp", "sgd", 1e-6),        # the hand MLP step: addmm of the shared batch with the 3 weight matrices, bmm
    ("cnn-pool", "sgd", 1e-6),   # the graph: im2col product, grouped channels-last convolutions, bmm
    ("mlp", "adam", 1e-5),       # each trial's own torch.optim.Adam step
    ("mlp", "fused-adam", 1e-5),  # --fused-adam: Adam's fused kernel, as the trial alone takes it
])
def test_each_grouped_trial_ends_where_its_run_alone_ends(tmp_path, model, optimizer, atol):
    more = dict(fused_adam=True) if optimizer == "fused-adam" else {}
    optimizer = optimizer.removeprefix("fused-")
    together = grouped(configs(tmp_path, "g", model, optimizer, **more))
    for i, config in enumerate(configs(tmp_path, "s", model, optimizer, **more)):
        single = alone(config)
        mine = together[i]
        # the same events, in the same order, at the same batches
        assert [type(e).__name__ for e in mine] == [type(e).__name__ for e in single]
        where = [(e.epoch, e.batch, e.seen) for e in mine if isinstance(e, BatchEnded)]
        assert where == [(e.epoch, e.batch, e.seen) for e in single if isinstance(e, BatchEnded)] and len(where) == 10
        losses = [e.loss for e in mine if isinstance(e, BatchEnded)]
        assert losses == pytest.approx([e.loss for e in single if isinstance(e, BatchEnded)], rel=1e-5)
        assert isinstance(mine[-1], RunFinished) and not mine[-1].stopped
        # every trial's own folder: its metrics, its status, its checkpoint in the ordinary format
        g, s = Path(tmp_path / f"g{i}"), Path(tmp_path / f"s{i}")
        assert [row["epoch"] for row in metrics(g)] == [1, 2]
        assert [row["test_accuracy"] for row in metrics(g)] == pytest.approx([r["test_accuracy"] for r in metrics(s)],
                                                                             abs=1 / 64)
        assert read_status(g).state == "finished"
        wg, ws = weights(g), weights(s)
        assert wg.keys() == ws.keys()
        for name in wg:
            assert torch.allclose(wg[name], ws[name], rtol=0, atol=atol), (i, name)
        assert (g / ckpt.FILENAME).stat().st_size < 1.1 * (s / ckpt.FILENAME).stat().st_size  # its slice alone
        assert json.loads((g / "config.json").read_text())["lr"] == TRIALS[i]["lr"]


def test_a_trial_pruned_out_of_its_group_stops_saved_and_the_others_go_on(tmp_path):
    from trainers.runs import FolderControl

    cfgs = configs(tmp_path, "g", epochs=3)
    pruned = Path(cfgs[1].out)
    for c in cfgs:
        Path(c.out).mkdir(parents=True)
    controls = [FolderControl(c.out) for c in cfgs]

    def prune(i, event):  # what the sweep's pruner does after trial 1's first epoch: a stop through its folder
        if i == 1 and isinstance(event, EpochEnded) and event.epoch == 1:
            send(pruned, "stop")
            controls[1].poll_now()  # read at once (a trainer reads control.json a few times a second)

    events = grouped(cfgs, prune, controls)
    assert events[1][-1] == RunFinished(epochs_completed=1, stopped=True, seconds=events[1][-1].seconds,
                                        checkpoint=str(pruned / ckpt.FILENAME),
                                        final_test_accuracy=events[1][-1].final_test_accuracy,
                                        final_test_loss=events[1][-1].final_test_loss)
    assert read_status(pruned).state == "stopped"
    saved = [e for e in events[1] if isinstance(e, CheckpointSaved)]
    assert (saved[-1].epoch, saved[-1].complete) == (1, True)  # at its epoch's end, as a run alone stops there
    assert [e.epoch for e in events[1] if isinstance(e, EpochEnded)] == [1]
    for i in (0, 2):  # the others trained every batch of every epoch, and end as they would have alone
        assert [(e.epoch, e.batch) for e in events[i] if isinstance(e, BatchEnded)] == \
            [(epoch, b) for epoch in (1, 2, 3) for b in range(1, 6)]
        assert read_status(cfgs[i].out).state == "finished" and [r["epoch"] for r in metrics(cfgs[i].out)] == [1, 2, 3]
    single = alone(dataclasses.replace(configs(tmp_path, "s", epochs=3)[2]))
    assert [e.loss for e in events[2] if isinstance(e, BatchEnded)] == \
        pytest.approx([e.loss for e in single if isinstance(e, BatchEnded)], rel=1e-5)
    # the pruned trial is an ordinary run: resumed alone, it finishes
    again = alone(resume_config(str(pruned)))
    assert isinstance(again[-1], RunFinished) and not again[-1].stopped
    assert [r["epoch"] for r in metrics(pruned)] == [1, 2, 3]


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.mark.slow
def test_a_group_killed_mid_epoch_resumes_from_its_checkpoints_and_ends_as_if_never_stopped(tmp_path):
    from trainers.backends.detached import start_group_detached

    # 60 batches an epoch of three cnn-pool trials: seconds, time enough to catch the group mid-epoch
    more = dict(epochs=2, limit_batches=None, extra={"train_size": 1920, "test_size": 64})
    uninterrupted = grouped(configs(tmp_path, "u", "cnn-pool", **more))
    cfgs = configs(tmp_path, "k", "cnn-pool", **more)
    folders, process = start_group_detached(cfgs)
    try:
        # held mid-epoch (trial 0 paused holds the group), every trial saved there, then SIGKILL
        _wait(lambda: all((f / "events.jsonl").exists() and '"BatchEnded"' in (f / "events.jsonl").read_text()
                          for f in folders), 120, "the group never got going")
        send(folders[0], "pause")
        _wait(lambda: all(read_status(f).state == "paused" for f in folders), 60, "the group never paused")
        for f in folders:
            send(f, "save")
        _wait(lambda: all((f / "checkpoint.json").exists() and
                          json.loads((f / "checkpoint.json").read_text()).get("position") for f in folders),
              60, "never saved mid-epoch")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        _wait(lambda: all(read_status(f).state == "interrupted" for f in folders), 30, "not read as interrupted")
        positions = {tuple(json.loads((f / "checkpoint.json").read_text())["position"]) for f in folders}
        assert len(positions) == 1 and next(iter(positions))[1] < 60  # all at the same batch, mid-epoch
        resumed = grouped([resume_config(str(f)) for f in folders])  # the three continue as one group again
    finally:
        end_trainers(tmp_path)
    for i, f in enumerate(folders):
        assert isinstance(resumed[i][-1], RunFinished) and not resumed[i][-1].stopped
        assert [r["epoch"] for r in metrics(f)] == [1, 2]  # no epoch twice
        u = Path(tmp_path / f"u{i}")
        wk, wu = weights(f), weights(u)
        assert all(torch.equal(wk[name], wu[name]) for name in wk), i  # the same floats as never stopped
        assert [r["test_loss"] for r in metrics(f)] == [r["test_loss"] for r in metrics(u)]
        assert [r["train_loss"] for r in metrics(f)] == pytest.approx([r["train_loss"] for r in metrics(u)], rel=1e-6)
        losses = [e.loss for e in uninterrupted[i] if isinstance(e, BatchEnded)]
        from trainers.runs import RunReader
        assert [e.loss for e in RunReader(f).events() if isinstance(e, BatchEnded)] == losses  # one record, no gap
    assert process.returncode == -signal.SIGKILL


BATCHNORM = """
import torch
class Normed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3)
        self.norm = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 26 * 26, 10)
    def forward(self, x):
        return self.fc(torch.relu(self.norm(self.conv(x))).flatten(1))
"""


@pytest.mark.slow
def test_a_batchnorm_model_trains_one_process_per_trial_and_the_sweep_says_so_once(tmp_path):
    from trainers.models.user import file_sha256
    from trainers.sweeps import make_sweep
    from trainers.sweeps.runner import SweepNote, Sweeper
    from trainers.sweeps.study import SweepSpec, load_study

    (tmp_path / "normed.py").write_text(BATCHNORM)
    model = f"{tmp_path}/normed.py:Normed"
    assert "BatchNorm2d layers keep running statistics" in ungroupable(RunConfig(model=model))
    base = {**BASE, "model": model, "model_sha256": file_sha256(tmp_path / "normed.py"), "epochs": 1,
            "limit_batches": 2, "threads": None, "optimizer": "sgd"}
    spec = SweepSpec(name="", base=base, space={"lr": "0.01,0.1"}, trials=2, parallel=2, sampler="grid", prune="none",
                     seed=0, group=0)
    folder = make_sweep(spec, str(tmp_path / "sweep"))
    events = list(Sweeper(folder, poll=0.1).run())
    notes = [e.text for e in events if isinstance(e, SweepNote)]
    assert len(notes) == 1 and notes[0].startswith("trials train one process each:") and "BatchNorm2d" in notes[0]
    assert [t.state.name for t in load_study(folder).trials] == ["COMPLETE"] * 2
    pids = {read_status(folder / f"trial-00{n}").pid for n in (0, 1)}
    assert len(pids) == 2  # a trainer process each


@pytest.mark.slow
def test_a_sweep_trains_its_trials_in_one_group_process_each_in_its_own_folder(tmp_path):
    from trainers.sweeps import make_sweep
    from trainers.sweeps.runner import SweepNote, Sweeper, TrialEnded
    from trainers.sweeps.study import SweepSpec, load_study

    spec = SweepSpec(name="", base={**BASE, "model": "cnn-pool", "optimizer": "sgd", "threads": None},
                     space={"lr": "0.01,0.05,0.1", "seed": "0,1"}, trials=3, parallel=3, sampler="grid", prune="none",
                     seed=0, group=0)
    folder = make_sweep(spec, str(tmp_path / "sweep"))
    events = list(Sweeper(folder, poll=0.1).run())
    assert "trials 0-2 train together in one process" in [e.text for e in events if isinstance(e, SweepNote)]
    assert sorted(e.state for e in events if isinstance(e, TrialEnded)) == ["finished"] * 3
    study = load_study(folder)
    trials = [folder / f"trial-00{n}" for n in range(3)]
    assert len({read_status(t).pid for t in trials}) == 1  # one trainer process wrote all three
    for t, frozen in zip(trials, study.trials):
        assert read_status(t).state == "finished" and [r["epoch"] for r in metrics(t)] == [1, 2]
        config = json.loads((t / "config.json").read_text())
        assert config["lr"] == frozen.params["lr"] and config["seed"] == frozen.params["seed"]
        assert frozen.value == pytest.approx(metrics(t)[-1]["test_accuracy"])
    assert "trained in a group" in (trials[1] / "trainer.log").read_text()


def test_which_trials_can_share_a_group():
    base = RunConfig(model="cnn-pool", dataset="synthetic-digits", batch_size=32, lr=0.1)
    same = [dataclasses.replace(base, lr=0.01, momentum=0.9, weight_decay=1e-4, init="xavier", seed=3, data_seed=0,
                                out="elsewhere"), dataclasses.replace(base, seed=0)]
    assert all(group_key(c) == group_key(base) for c in same)  # the data order is seed 0's in all three
    for other in (dict(batch_size=64), dict(seed=3), dict(optimizer="adam"), dict(epochs=3), dict(data_seed=1)):
        assert group_key(dataclasses.replace(base, **other)) != group_key(base), other


def test_the_stacked_forward_and_gradients_are_each_models_own():
    from trainers.models import MODELS
    from trainers.train.prepare import loss_fn
    from trainers.train.stacked import StackedNet

    torch.manual_seed(0)
    for name in ("mlp", "mlp-scratch", "mnistnet", "mlp-tied", "cnn-strided", "resnet-small", "lenet5", "autoencoder"):
        spec = MODELS[name]
        models = [spec.build() for _ in range(2)]
        copies = [spec.build() for _ in range(2)]
        for a, b in zip(models, copies):
            b.load_state_dict(a.state_dict())
        net = StackedNet(models, spec.input_shape, loss=spec.loss, device=torch.device("cpu"))
        x = torch.randn(8, *spec.input_shape)
        target = x if spec.loss == "mse" else torch.randint(0, 10, (8,))
        losses, _ = net.step(x, target)
        for k, m in enumerate(copies):
            loss = loss_fn(spec.loss)(m(x), target)
            loss.backward()
            assert losses[k].item() == pytest.approx(loss.item(), rel=1e-4), name
            for pname, p in m.named_parameters():
                assert torch.allclose(net.stacked[pname].grad[k], p.grad, rtol=1e-4, atol=1e-5), (name, pname)


def test_a_parameter_two_layers_share_gets_both_layers_gradients():
    from torch import nn

    from trainers.train.prepare import loss_fn
    from trainers.train.stacked import StackedNet

    def shared():
        a, b = nn.Linear(64, 64), nn.Linear(64, 64)
        b.weight = a.weight  # one Parameter, two layers: its gradient is the sum of both uses
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), a, nn.ReLU(), b, nn.ReLU(), nn.Linear(64, 10))

    torch.manual_seed(0)
    models = [shared() for _ in range(2)]
    copies = [shared() for _ in range(2)]
    for a, b in zip(models, copies):
        b.load_state_dict(a.state_dict())
    net = StackedNet(models, (1, 28, 28), loss="cross_entropy", device=torch.device("cpu"))
    x, target = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    losses, _ = net.step(x, target)
    for k, m in enumerate(copies):
        loss = loss_fn("cross_entropy")(m(x), target)
        loss.backward()
        assert losses[k].item() == pytest.approx(loss.item(), rel=1e-4)
        for pname, p in m.named_parameters():
            assert torch.allclose(net.stacked[pname].grad[k], p.grad, rtol=1e-4, atol=1e-5), pname


def test_optimizer_state_loaded_in_another_layout_takes_its_parameters():
    from trainers.train.prepare import like_parameters

    weight = torch.nn.Parameter(torch.randn(4, 3, 5, 5))  # contiguous, as a grouped trial's slice is
    opt = torch.optim.SGD([weight], lr=0.1, momentum=0.9)
    saved = torch.randn(4, 3, 5, 5).contiguous(memory_format=torch.channels_last)  # a run alone's, channels-last
    opt.load_state_dict({"state": {0: {"momentum_buffer": saved}}, "param_groups": opt.state_dict()["param_groups"]})
    assert opt.state[weight]["momentum_buffer"].stride() != weight.stride()  # what load_state_dict leaves
    like_parameters(opt)
    buf = opt.state[weight]["momentum_buffer"]
    assert buf.stride() == weight.stride() and torch.equal(buf, saved)


@pytest.mark.slow
def test_a_group_whose_trainer_dies_during_the_sweep_continues_as_one_group(tmp_path):
    import threading

    from trainers.sweeps import make_sweep
    from trainers.sweeps.runner import SweepNote, Sweeper, TrialStarted
    from trainers.sweeps.study import SweepSpec, load_study

    spec = SweepSpec(name="", base={**BASE, "model": "cnn-pool", "optimizer": "sgd", "threads": None,
                                    "limit_batches": None, "extra": {"train_size": 1920, "test_size": 64}},
                     space={"lr": "0.01,0.05,0.1"}, trials=3, parallel=3, sampler="grid", prune="none", seed=0, group=0)
    folder = make_sweep(spec, str(tmp_path / "sweep"))
    trials = [folder / f"trial-00{n}" for n in range(3)]
    events: list = []
    sweeper = threading.Thread(target=lambda: events.extend(Sweeper(folder, poll=0.1).run()), daemon=True)
    sweeper.start()
    try:
        _wait(lambda: all((t / "events.jsonl").exists() and '"BatchEnded"' in (t / "events.jsonl").read_text()
                          for t in trials), 120, "the group never got going")
        send(trials[0], "pause")  # holds the group mid-epoch
        _wait(lambda: all(read_status(t).state == "paused" for t in trials), 60, "the group never paused")
        os.kill(read_status(trials[0]).pid, signal.SIGKILL)
        sweeper.join(300)
    finally:
        end_trainers(tmp_path)
    assert not sweeper.is_alive()
    assert [e.text for e in events if isinstance(e, SweepNote)].count("trials 0-2 train together in one process") == 2
    assert sorted(e.number for e in events if isinstance(e, TrialStarted) and e.resumed) == [0, 1, 2]
    assert [t.state.name for t in load_study(folder).trials] == ["COMPLETE"] * 3
    for t in trials:
        assert [r["epoch"] for r in metrics(t)] == [1, 2]
    assert len({read_status(t).pid for t in trials}) == 1


def test_the_sweep_options_for_groups():
    from workbench.sweep_options import SweepOptionError, SweepSettings, build_sweep

    texts = {"model": "mlp", "dataset": "synthetic-digits", "lr": "0.01,0.1,0.2"}
    spec, _ = build_sweep(texts, SweepSettings())
    assert (spec.group, spec.parallel) == (0, 1)  # as many as fit, of those running at once
    spec, notes = build_sweep(texts, SweepSettings(group=3))
    assert (spec.group, spec.parallel) == (3, 3) and not notes  # --group 3 alone: 3 at a time, together
    spec, _ = build_sweep(texts, SweepSettings(group=1, parallel=3))  # --no-group
    assert (spec.group, spec.parallel) == (1, 3)
    spec, notes = build_sweep({**texts, "seed": "0,1"}, SweepSettings(parallel=2))
    assert spec.base["data_seed"] == 0 and any("share one data order (--data-seed 0)" in n for n in notes)
    spec, _ = build_sweep({**texts, "seed": "0,1"}, SweepSettings(parallel=2, group=1))
    assert "data_seed" not in spec.base  # trained apart, each trial's seed orders its data as before
    with pytest.raises(SweepOptionError, match="--group must be at least 1"):
        build_sweep(texts, SweepSettings(group=0))


def test_groups_on_gpus_go_to_the_gpu_fewest_groups_train_on(monkeypatch):
    import trainers.backends.detached
    from trainers.sweeps import runner

    class Process:
        def __init__(self):
            self.alive = True

        def poll(self):
            return None if self.alive else 0

    started = []

    def start(configs, warm=None):
        started.append([c.device for c in configs])
        return [], Process()

    monkeypatch.setattr(trainers.backends.detached, "start_group_detached", start)
    monkeypatch.setattr(runner, "_gpu_count", lambda: 2)
    launcher = runner.LocalLauncher(parallel=8, device="auto")
    cfg = RunConfig(model="mlp", dataset="synthetic-digits")
    first = launcher.start_group([cfg] * 4, 0)
    launcher.start_group([cfg] * 4, 4)  # slot 4 of 2 GPUs: slot % gpus would be cuda:0 again
    assert started == [["cuda:0"] * 4, ["cuda:1"] * 4]
    first.alive = False  # the first group ended: its GPU is the free one
    launcher.start_group([cfg] * 4, 8)
    assert started[-1] == ["cuda:0"] * 4
