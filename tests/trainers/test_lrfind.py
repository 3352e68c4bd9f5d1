"""The learning-rate range test: its ramp, its early stop, the weights put back, the suggestion, the command."""

import io
import math
from contextlib import redirect_stderr, redirect_stdout

import pytest
import torch

from tests.conftest import tiny_config
from trainers.errors import ConfigError
from trainers.lrfind import LrPoint, LrSuggestion, lr_find, ramp, suggest


def run(config, **kwargs):
    events = list(lr_find(config, **kwargs))
    assert all(isinstance(e, LrPoint) for e in events[:-1])
    assert isinstance(events[-1], LrSuggestion)
    return events[:-1], events[-1]


def test_the_ramp_is_geometric_from_start_to_end():
    points, result = run(tiny_config(), start_lr=1e-5, end_lr=1e-2, max_batches=12, stop_factor=1e9)
    lrs = [p.lr for p in points]
    assert lrs == ramp(1e-5, 1e-2, 12)
    assert lrs[0] == pytest.approx(1e-5, rel=1e-12) and lrs[-1] == pytest.approx(1e-2, rel=1e-12)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([1000 ** (1 / 11)] * 11, rel=1e-12)
    assert [p.batch for p in points] == list(range(1, 13))
    assert not result.stopped_early and result.points == tuple(points)


def test_the_smoothed_loss_is_the_debiased_moving_average():
    points, _ = run(tiny_config(), max_batches=6, beta=0.9, stop_factor=1e9)
    avg = 0.0
    for i, p in enumerate(points):
        avg = 0.9 * avg + 0.1 * p.loss
        assert p.smoothed == pytest.approx(avg / (1 - 0.9 ** (i + 1)))
    assert points[0].smoothed == pytest.approx(points[0].loss)


def test_a_huge_end_lr_stops_early():
    points, result = run(tiny_config(optimizer="sgd"), start_lr=1e-3, end_lr=1e6, max_batches=40)
    assert result.stopped_early
    assert len(points) < 40
    assert "lr" in result.reason


def test_the_random_state_is_put_back():
    rng = torch.get_rng_state()
    run(tiny_config(model="cnn-pool"), max_batches=4, stop_factor=1e9)
    assert torch.equal(torch.get_rng_state(), rng)


def test_the_finder_restores_its_own_model(monkeypatch):
    from trainers.train import prepare as prep_module

    sessions, real = [], prep_module.prepare

    def keep(config, progress=None):
        s = real(config, progress)
        sessions.append((s, {k: v.clone() for k, v in s.model.state_dict().items()}))
        return s

    monkeypatch.setattr(prep_module, "prepare", keep)
    moved = []
    events = []
    for event in lr_find(tiny_config(model="cnn-pool"), max_batches=6, start_lr=1e-2, end_lr=1.0, stop_factor=1e9):
        events.append(event)
        (session, before), = sessions
        now = session.model.state_dict()
        moved.append(any(not torch.equal(before[k], now[k]) for k in before))
    assert isinstance(events[-1], LrSuggestion) and len(events[-1].points) == 6
    assert all(moved)  # it trained: the weights moved from the first batch on
    (session, before), = sessions
    after = session.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BatchNorm's running stats included


def test_the_suggestion_lies_in_the_ramp_below_the_minimum():
    _, result = run(tiny_config(limit_batches=None), max_batches=40, start_lr=1e-4, end_lr=10)
    lrs = [p.lr for p in result.points]
    best = min(result.points, key=lambda p: p.smoothed)
    assert lrs[0] <= result.lr_steepest <= lrs[-1]
    assert result.lr_steepest < best.lr
    assert result.lr_min_over_10 == pytest.approx(best.lr / 10)


def test_suggest_picks_the_steepest_descent_before_the_minimum():
    losses = [5, 5, 5, 5, 4.9, 4, 2, 1.8, 1.7, 3, 9]
    points = [LrPoint(i + 1, 10.0 ** (i - 8), v, v) for i, v in enumerate(losses)]
    steepest, min10 = suggest(points)
    assert steepest == pytest.approx(1e-3)  # from 4 to 2: the steepest fall
    assert min10 == pytest.approx(1e-1)


def test_an_autoencoder_uses_its_reconstruction_loss():
    _, result = run(tiny_config(model="autoencoder"), max_batches=5, stop_factor=1e9)
    assert len(result.points) == 5
    assert all(math.isfinite(p.loss) and p.loss >= 0 for p in result.points)


def test_a_loss_nan_from_the_first_batch_is_one_sentence(monkeypatch):
    from trainers.train import step as step_module

    real = step_module.TrainStep.__call__

    def nan(self, x, target, **kw):
        loss, out, stepped = real(self, x, target, **kw)
        return loss * float("nan"), out, stepped

    monkeypatch.setattr(step_module.TrainStep, "__call__", nan)
    with pytest.raises(ConfigError) as err:
        list(lr_find(tiny_config(), max_batches=5))
    text = str(err.value)
    assert "first batch" in text and "\n" not in text


def test_bad_ranges_are_config_errors():
    with pytest.raises(ConfigError):
        list(lr_find(tiny_config(), start_lr=1.0, end_lr=1e-3))
    with pytest.raises(ConfigError):
        list(lr_find(tiny_config(), max_batches=1))


def cli(args):
    from workbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def test_the_command_ends_with_the_suggestion():
    code, out, _ = cli(["lr-find", "--model", "mlp", "--dataset", "synthetic-digits", "--device", "cpu",
                        "--max-batches", "12", "--batch-size", "16"])
    assert code == 0
    last = out.rstrip("\n").splitlines()[-1]
    assert last.startswith("suggested learning rate: ")
    value = float(last.split(": ", 1)[1])
    assert 1e-7 <= value <= 10
    assert "\x1b[" not in out  # piped: no colours
    assert "learning rate (log)" in out


def test_a_bad_input_is_one_line():
    code, out, err = cli(["lr-find", "--model", "mlp", "--batch-size", "0"])
    assert code == 2
    assert err.count("\n") == 1 and "batch size" in err
    code, _, err = cli(["lr-find", "--model", "no-such-model"])
    assert code == 2 and err.count("\n") == 1
