"""Layer statistics (trainers.probes.layers): each number against one worked out by hand on a tiny model, the
warning signs on constructed cases (and silence on healthy ones), what they say of the seeds' sigmoid LeNet
against a ReLU net, the event through the run folder, and the option that turns them on."""

import argparse
import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers import run
from trainers.errors import ConfigError
from trainers.probes.layers import LayerProbe, flags
from trainers.runs import FolderControl, RunReader, RunWriter, send
from trainers.runs.log import EventLog, position, read_events
from workbench.options import add_run_options, config_from_args


def by_name(stats: ev.LayerStats) -> dict:
    return {layer.name: layer for layer in stats.layers}


def set_(param: torch.Tensor, values) -> None:
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=torch.float32))


# ------------------------------------------------------------------------------------ the numbers


def test_norms_update_ratio_and_histogram_match_the_hand_computed_values():
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    set_(model[0].weight, [[3.0, 0.0], [0.0, -4.0]])  # with the bias: ||w|| = 5
    set_(model[0].bias, [0.0, 0.0])
    model[0].weight.grad = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    model[0].bias.grad = torch.tensor([0.0, 2.0])  # ||g|| = sqrt(1 + 4)
    model[2].requires_grad_(False)  # no gradient: frozen
    probe = LayerProbe(model, torch.ones(1, 2), every=0)
    probe.before_step()
    with torch.no_grad():  # "the step": moves the weights by a known amount, ||dw|| = 0.05
        model[0].weight += torch.tensor([[0.03, 0.0], [0.0, -0.04]])
    stats = probe.after_step(epoch=1, batch=3, batches=3, step=7)
    first, last = by_name(stats)["0"], by_name(stats)["2"]
    assert (stats.epoch, stats.batch, stats.step, first.kind, first.parameters) == (1, 3, 7, "Linear", 6)
    assert first.weight_norm == pytest.approx(math.hypot(3.03, 4.04))  # after the step
    assert first.grad_norm == pytest.approx(math.sqrt(5))
    assert first.update_ratio == pytest.approx(0.05 / 5)  # ||dw|| / ||w before||
    assert last.grad_norm is None and last.update_ratio is None  # frozen: nothing to say
    values = np.array([3.03, 0.0, 0.0, -4.04, 0.0, 0.0])
    counts, edges = np.histogram(values, bins=16, range=(values.min(), values.max()))
    assert first.counts.tolist() == counts.tolist() and first.counts.sum() == 6
    assert np.allclose(first.edges, edges, atol=1e-5)


def test_a_step_that_blew_a_weight_up_is_recorded_and_said_not_crashed_on():
    """histc refuses an infinite range: the record leaves that histogram out and the flags say why."""
    from trainers.probes.layers import flags

    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    probe = LayerProbe(model, torch.ones(1, 2), every=0)
    probe.before_step()
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
        model[0].weight.grad[0, 0] = float("nan")
    stats = probe.after_step(epoch=1, batch=1, batches=1, step=1)
    first, last = by_name(stats)["0"], by_name(stats)["2"]
    assert first.counts is None and first.edges is None
    assert last.counts is not None and last.counts.sum() == 3  # the healthy layer keeps its histogram
    assert any("not finite" in line for line in flags(stats.layers))


def test_dead_relu_units_are_those_that_never_fire_on_the_fixed_batch():
    layer = nn.Linear(2, 4, bias=False)
    # unit 0 and 1 fire on both images, unit 2 on the second only, unit 3 on neither: 1 of 4 is dead
    set_(layer.weight, [[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    model = nn.Sequential(layer, nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 1))
    images = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    seen_training = []
    model[1].register_forward_hook(lambda m, i, o: seen_training.append(m.training))
    model.train()
    stats = LayerProbe(model, images, every=0).after_step(1, 1, 1, 1)
    relu = by_name(stats)["1"]
    assert relu.dead == pytest.approx(0.25) and relu.saturated is None
    assert seen_training == [False] and model.training and model[2].training  # eval for the look, then back
    assert [layer.name for layer in stats.layers] == ["0", "1", "3"]  # in the model's order


def test_saturated_sigmoid_and_tanh_outputs_are_counted_in_their_flat_ends():
    sig_in, tanh_in = nn.Linear(1, 2, bias=False), nn.Linear(1, 2, bias=False)
    set_(sig_in.weight, [[10.0], [0.1]])  # sigmoid(+-10) is beyond 0.99/0.01, sigmoid(+-0.1) is not
    set_(tanh_in.weight, [[3.0], [0.1]])  # |tanh(3)| = 0.995 > 0.99
    model = nn.ModuleDict({"a": sig_in, "sig": nn.Sigmoid(), "b": tanh_in, "tanh": nn.Tanh()})
    model.forward = lambda x: (model["sig"](model["a"](x)), model["tanh"](model["b"](x)))
    stats = by_name(LayerProbe(model, torch.tensor([[1.0], [-1.0]]), every=0).after_step(1, 1, 1, 1))
    assert stats["sig"].saturated == pytest.approx(0.5) and stats["sig"].dead is None
    assert stats["tanh"].saturated == pytest.approx(0.5)


def test_due_every_n_batches_and_at_the_epochs_last():
    probe = LayerProbe(nn.Linear(1, 1), torch.ones(1, 1), every=4)
    assert [b for b in range(1, 11) if probe.due(b, 10)] == [4, 8, 10]
    probe.every = 0
    assert [b for b in range(1, 11) if probe.due(b, 10)] == [10]
    asked = {"now": False}
    probe = LayerProbe(nn.Linear(1, 1), torch.ones(1, 1), every=None, wanted=lambda: asked["now"])
    assert not probe.due(10, 10)
    asked["now"] = True
    assert probe.due(10, 10) and probe.due(50, 100) and not probe.due(49, 100)


# ------------------------------------------------------------------------------------ in words


def layer(name, n=100, g=0.1, ratio=1e-3, **kw):
    return ev.LayerStat(name=name, kind="Linear", parameters=n, weight_norm=1.0, grad_norm=g, update_ratio=ratio,
                        **kw)


def relu(name, dead):
    return ev.LayerStat(name=name, kind="ReLU", dead=dead)


def sigmoid(name, saturated):
    return ev.LayerStat(name=name, kind="Sigmoid", saturated=saturated)


HEALTHY = [layer("fc1", g=0.05), relu("relu", 0.1), layer("fc2", g=0.2), sigmoid("out", 0.2)]


def test_a_healthy_network_raises_no_flag():
    assert flags(HEALTHY) == ()
    assert flags(HEALTHY, previous_gradient=0.2) == ()


@pytest.mark.parametrize("layers,previous,words", [
    ([layer("fc1", g=1e-5), layer("fc2", g=0.1)], None, ["Vanishing gradients", "fc1", "4.0 orders", "fc2"]),
    ([layer("fc1", g=1e-9), layer("fc2", g=1e-9)], None, ["Vanishing gradients", "no layer learns"]),
    ([layer("fc1", g=5e3), layer("fc2", g=1.0)], None, ["Exploding gradients", "5e+03"]),
    ([layer("fc1", g=30.0), layer("fc2", g=40.0)], 2.0, ["Exploding gradients", "grew 25x"]),
    ([layer("fc1", g=float("nan")), layer("fc2")], None, ["not finite", "fc1"]),
    ([layer("fc1"), relu("relu", 0.8), layer("fc2")], None, ["Dead ReLUs", "relu 80%"]),
    ([layer("fc1"), sigmoid("act", 0.9), layer("fc2")], None, ["Saturated", "act 90%"]),
    ([layer("fc1", ratio=0.05), layer("fc2")], None, ["Large updates", "fc1 5e-02"]),
    ([layer("fc1", ratio=1e-7), layer("fc2")], None, ["Tiny updates", "fc1 1e-07"]),
])
def test_each_warning_sign_is_said_in_words(layers, previous, words):
    said = flags(layers, previous)
    assert len(said) == 1, said
    for word in words:
        assert word in said[0], (word, said[0])
    assert said[0].endswith(".")


def test_the_sigmoid_lenet_shows_vanishing_gradients_and_the_relu_mlp_does_not():
    def last_stats(model, **kw):
        cfg = tiny_config(model=model, layer_stats=0, epochs=1, limit_batches=3, **kw)
        found = [e for e in run(cfg) if isinstance(e, (ev.LayerStats, ev.RunFailed))]
        assert found and isinstance(found[-1], ev.LayerStats), found
        return found[-1]

    lenet = last_stats("lenet5")
    assert any(f.startswith("Vanishing gradients") and "0 (Conv2d)" in f for f in lenet.flags), lenet.flags
    assert {layer.kind for layer in lenet.layers} == {"Conv2d", "Sigmoid", "Linear"}
    deep = last_stats("mlp-deep")
    assert not any("Vanishing" in f or "Dead" in f for f in deep.flags), deep.flags
    assert sum(layer.kind == "ReLU" for layer in deep.layers) == 4


# ------------------------------------------------------------------------------------ in a run


def test_a_run_with_stats_records_them_where_asked_and_trains_exactly_as_without(tmp_path):
    cfg = dict(epochs=2, limit_batches=5, log_every=1)
    _, plain = recorded(tiny_config(**cfg, out=str(tmp_path / "plain")))
    folder, probed = recorded(tiny_config(**cfg, layer_stats=2, out=str(tmp_path / "probed")))
    stats = [e for e in probed if isinstance(e, ev.LayerStats)]
    assert [(e.epoch, e.batch) for e in stats] == [(1, 2), (1, 4), (1, 5), (2, 2), (2, 4), (2, 5)]
    assert [e.step for e in stats] == [2, 4, 5, 7, 9, 10]
    assert [layer.name for layer in stats[0].layers] == ["fc1", "relu", "fc2"] and stats[0].images > 0
    losses = [[e.loss for e in events if isinstance(e, ev.BatchEnded)] for events in (plain, probed)]
    assert losses[0] == losses[1]  # the look changes nothing: no random draw, no gradient, same order
    back = [e for e in RunReader(folder).events() if isinstance(e, ev.LayerStats)]
    assert [(e.epoch, e.batch) for e in back] == [(e.epoch, e.batch) for e in stats]
    fc1 = by_name(back[-1])["fc1"]
    assert fc1.counts.tolist() == by_name(stats[-1])["fc1"].counts.tolist()
    assert fc1.counts.sum() == 784 * 256 // 13 + 1 + 256  # a strided sample of the weight (every 13th), all the bias
    assert isinstance(back[-1].layers, tuple) and isinstance(back[-1].flags, tuple)


def test_the_event_round_trips_through_the_run_log_and_is_placed_at_its_batch(tmp_path):
    stat = ev.LayerStat("fc1", "Linear", 6, 5.0, 0.5, 1e-3, np.arange(16, dtype=np.int64),
                        np.linspace(-1, 1, 17, dtype=np.float32))
    relu_stat = ev.LayerStat("relu", "ReLU", dead=0.25)
    event = ev.LayerStats(epoch=1, batch=2, batches=3, step=2, layers=(stat, relu_stat),
                          flags=("Dead ReLUs: ...",), images=8)
    writer = RunWriter(tmp_path)
    writer.starting()
    writer.write(ev.BatchEnded(1, 2, 3, 64, 96, 1.0, 0.5, 10.0, 1.0, 2))
    writer.write(event)
    writer.write(ev.BatchEnded(1, 3, 3, 96, 96, 1.0, 0.5, 10.0, 1.0, 3))
    writer.write(ev.LayerStats(epoch=1, batch=3, batches=3, step=3, layers=(stat,)))
    writer.log.close()
    back = [e for e in RunReader(tmp_path).events() if isinstance(e, ev.LayerStats)]
    assert len(back) == 2 and back[0].flags == event.flags and back[0].layers[1] == relu_stat
    assert np.array_equal(back[0].layers[0].counts, stat.counts) and back[0].layers[0].weight_norm == 5.0
    assert position({"type": "LayerStats", "data": {"epoch": 1, "batch": 2}}) == (1, 2)
    # a run resumed from batch 2 keeps that batch's stats and cuts what came after
    log = EventLog(tmp_path)
    assert log.truncate_to((1, 2))
    kept = list(read_events(tmp_path))
    assert [type(e).__name__ for e in kept][-2:] == ["BatchEnded", "LayerStats"] and kept[-1].batch == 2


def test_a_viewers_lease_turns_stats_on_for_a_run_that_did_not_ask(tmp_path):
    config = tiny_config(out=str(tmp_path / "watched"))
    (tmp_path / "watched").mkdir()
    send(config.out, "watch-layers")  # the app's Layers tab, shown
    control = FolderControl(config.out)
    assert control.layer_stats_wanted()
    events = list(run(config, control))
    assert [(e.epoch, e.batch) for e in events if isinstance(e, ev.LayerStats)] == [(1, 3)]  # the epoch's last
    _, unwatched = recorded(tiny_config(out=str(tmp_path / "unwatched")))
    assert not any(isinstance(e, ev.LayerStats) for e in unwatched)


# ------------------------------------------------------------------------------------ the option


def parse(*argv):
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_run_options(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_the_option_is_a_flag_off_by_default_and_bad_values_are_one_sentence():
    assert parse().layer_stats is None
    assert parse("--layer-stats", "50").layer_stats == 50 and parse("--layer-stats", "0").layer_stats == 0
    with pytest.raises((argparse.ArgumentError, SystemExit)):
        parse("--layer-stats", "-1")
    with pytest.raises(ConfigError, match="--layer-stats takes a number of batches"):
        tiny_config(layer_stats=-3).validate()
    events = list(run(tiny_config(layer_stats=-3)))
    assert isinstance(events[-1], ev.RunFailed) and "--layer-stats" in events[-1].reason


def test_a_viewers_lease_never_rewrites_the_requests(tmp_path):
    """The Layers tab renews its lease every few seconds: a stop sent meanwhile must not be overwritten."""
    from trainers.runs import send
    from trainers.runs.requests import FolderControl
    from trainers.runs.files import CONTROL, read_json

    control = FolderControl(tmp_path)
    send(tmp_path, "stop")
    before = read_json(tmp_path / CONTROL)
    send(tmp_path, "watch-layers")
    assert read_json(tmp_path / CONTROL) == before  # control.json untouched by the lease
    control._next_check = 0
    control.poll()
    assert control.stop.is_set() and control.layer_stats_wanted()
