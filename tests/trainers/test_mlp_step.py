"""A plain MLP's step taken by hand (trainers.train.mlpstep) must compute exactly what autograd computes: the
same losses, weights, gradients and momentum, bit for bit; and every other model must stay on autograd."""

import dataclasses

import pytest
import torch
from torch import nn

import trainers.train.mlpstep
from trainers import run
from trainers.events import BatchEnded, LayerStats, RunFailed
from trainers.train.mlpstep import hand_step, linear_chain
from trainers.models import MODELS
from tests.conftest import tiny_config


def train(cfg, monkeypatch):
    """Train `cfg`; (hand steps taken, batch losses, layer gradient norms, final weights, optimizer state)."""
    calls = []
    real = trainers.train.mlpstep.MLPStep.__call__

    def counted(self, x, y):
        calls.append(x.shape[0])
        return real(self, x, y)

    monkeypatch.setattr(trainers.train.mlpstep.MLPStep, "__call__", counted)
    held = {}
    events = list(run(cfg, adapt=lambda s: held.update(model=s.model, optimizer=s.optimizer)))
    monkeypatch.undo()
    assert not any(isinstance(e, RunFailed) for e in events), events[-1]
    losses = [e.loss for e in events if isinstance(e, BatchEnded)]
    grads = [[layer.grad_norm for layer in e.layers if layer.parameters] for e in events if isinstance(e, LayerStats)]
    model, opt = held["model"], held["optimizer"]
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    state = [t for p in model.parameters() for t in opt.state[p].values() if isinstance(t, torch.Tensor)]
    return calls, losses, grads, weights, state


@pytest.mark.parametrize("model, extra", [
    ("mlp-deep", {}),                                                   # SGD, momentum 0.5 (seed 001)
    ("mlp", {"optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-3}),  # reshape(-1, 784), no nn.Flatten
    ("mlp", {"optimizer": "sgd", "momentum": 0.0}),                     # no momentum buffers at all
    ("mlp-wide", {}),                                                   # Adam takes its own step()
])
def test_a_plain_mlp_takes_the_hand_step_with_autograds_numbers(model, extra, monkeypatch):
    # 256 images in batches of 48: the epoch ends on a short batch of 16, which gets buffers of its own
    cfg = tiny_config(model=model, epochs=2, batch_size=48, limit_batches=None, layer_stats=2, **extra)
    hand = train(cfg, monkeypatch)
    auto = train(dataclasses.replace(cfg, fast_mlp=False), monkeypatch)
    assert hand[0] == [48] * 5 + [16] + [48] * 5 + [16]  # every batch of both epochs, by hand
    assert auto[0] == []
    assert hand[1] == auto[1] and len(hand[1]) == 12  # the losses the charts draw
    assert hand[2] == auto[2] and all(g is not None for layer in hand[2] for g in layer)  # gradients kept
    assert torch.equal(hand[3], auto[3])  # the weights: not close, the same floats
    assert len(hand[4]) == len(auto[4]) and all(torch.equal(a, b) for a, b in zip(hand[4], auto[4]))
    if extra.get("momentum") == 0.0:
        assert hand[4] == []


def test_a_resumed_run_continues_exactly_as_autograd_would(tmp_path, monkeypatch):
    """The momentum buffers live in the optimizer's state: a checkpoint written by hand steps resumes
    under autograd to the same weights, and the other way round."""
    base = tiny_config(model="mlp-deep", epochs=2, limit_batches=None, batch_size=64)
    whole = train(dataclasses.replace(base, fast_mlp=False), monkeypatch)[3]
    for first, second in ((True, False), (False, True)):
        out = tmp_path / f"{first}"
        train(dataclasses.replace(base, epochs=1, out=str(out), fast_mlp=first), monkeypatch)
        resumed = train(dataclasses.replace(base, resume=str(out / "checkpoint.pt"), out=str(out / "again"),
                                            fast_mlp=second), monkeypatch)
        assert torch.equal(resumed[3], whole)


@pytest.mark.parametrize("name", ["mlp-scratch", "mnistnet", "mlp-tied", "cnn-pool", "lenet5", "autoencoder"])
def test_other_seed_models_stay_on_autograd(name):
    spec = MODELS[name]
    assert linear_chain(spec.build(), tuple(spec.input_shape)) is None


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.flat, self.a, self.b = nn.Flatten(), nn.Linear(784, 784), nn.Linear(784, 10)

    def forward(self, x):
        x = self.flat(x)
        return self.b(torch.relu(self.a(x)) + x)  # a skip connection


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Dropout(), nn.ReLU(), nn.Linear(64, 10)),
    nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 10)),
    nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Linear(64, 10)),  # no ReLU between
    nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10), nn.ReLU()),  # ends in ReLU
    nn.Sequential(nn.Linear(784, 10)),  # 2-D input expected, images come 4-D
    Skip(),
])
def test_anything_but_a_plain_chain_stays_on_autograd(model, monkeypatch):
    monkeypatch.setattr(trainers.train.mlpstep, "KNOWN", ("trainers.models.", __name__))  # trace Skip too
    assert linear_chain(model, (1, 28, 28)) is None


def test_a_chain_defined_here_would_be_traced(monkeypatch):
    class Plain(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(784, 32), nn.Linear(32, 10)

        def forward(self, x):
            return self.b(torch.relu(self.a(torch.flatten(x, 1))))

    assert linear_chain(Plain(), (1, 28, 28)) is None  # someone else's forward
    monkeypatch.setattr(trainers.train.mlpstep, "KNOWN", ("trainers.models.", __name__))
    assert [m.out_features for m in linear_chain(Plain(), (1, 28, 28))] == [32, 10]


class Counting(nn.Module):
    calls = 0

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        Counting.calls += 1  # Python that fx runs once while tracing, and a hand step would never run
        return self.fc(x.flatten(1))


def test_a_users_own_forward_is_always_run():
    assert linear_chain(Counting(), (1, 28, 28)) is None
    user_sequential = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    assert linear_chain(user_sequential, (1, 28, 28)) is not None  # torch's own forward: a plain chain


def test_the_hand_step_is_only_taken_where_it_is_exact():
    def step(model=None, **kw):
        model = model or MODELS["mlp-deep"].build()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        args = dict(input_shape=(1, 28, 28), loss="cross_entropy", device=torch.device("cpu"))
        return hand_step(model, opt, **{**args, **kw})

    assert step() is not None
    assert step(input_shape=(3, 28, 28)) is None  # 2352 features into a 784-wide first layer
    assert step(loss="mse") is None and step(loss="nll") is None
    assert step(amp="bf16") is None and step(compiled=True) is None and step(world=2) is None
    assert step(fast=False) is None
    frozen = MODELS["mlp-deep"].build()
    frozen[1].weight.requires_grad_(False)
    assert step(frozen) is None
    double = MODELS["mlp-deep"].build().double()
    assert step(double) is None


def test_a_hooked_optimizer_still_runs_its_step():
    """SGD's kernel is called directly only while nothing hooks the optimizer's steps."""
    model = MODELS["mlp-deep"].build()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5, fused=True)
    step = hand_step(model, opt, input_shape=(1, 28, 28), loss="cross_entropy", device=torch.device("cpu"))
    seen = []
    opt.register_step_post_hook(lambda *_: seen.append(1))
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    step(x, y)
    step(x, y)
    assert seen == [1, 1] and all(opt.state[p]["momentum_buffer"] is not None for p in model.parameters())


def test_the_cost_dry_run_times_the_step_the_run_takes(monkeypatch):
    from trainers.cost import static_cost, timed_cost

    calls = []
    real = trainers.train.mlpstep.MLPStep.__call__
    monkeypatch.setattr(trainers.train.mlpstep.MLPStep, "__call__", lambda self, x, y: calls.append(1) or real(self, x, y))
    cfg = tiny_config(model="mlp-deep")
    cost = timed_cost(static_cost(cfg), cfg, warmup=1, steps=2, budget_s=2.0)
    assert cost.seconds_per_batch and calls
    for other in (dict(fast_mlp=False), dict(compile=True), dict(nproc_per_node=2)):  # autograd's step there
        calls.clear()
        timed_cost(static_cost(cfg), dataclasses.replace(cfg, **other), warmup=1, steps=2, budget_s=2.0)
        assert not calls, other
