"""What `inspect` shows: the module tree, named parameters, totals, shared tensors, layer shapes."""

import torch

from trainers.inspection import inspect_model, report


def test_lenet5_layer_shapes_match_the_d2l_printout():
    r = report("lenet5", "fashion-mnist")
    shapes = [layer.output_shape for layer in r.layers]
    distinct = [s for i, s in enumerate(shapes) if i == 0 or s != shapes[i - 1]]
    assert distinct == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (400,), (120,), (84,), (10,)]
    assert [layer.kind for layer in r.layers][:3] == ["Conv2d", "Sigmoid", "AvgPool2d"]


def test_named_parameters_have_shapes_counts_and_statistics():
    r = report("mlp-wide")
    by_name = {p.name: p for p in r.parameters}
    assert list(by_name) == ["linear_relu_stack.0.weight", "linear_relu_stack.0.bias", "linear_relu_stack.2.weight",
                             "linear_relu_stack.2.bias", "linear_relu_stack.4.weight", "linear_relu_stack.4.bias"]
    w = by_name["linear_relu_stack.0.weight"]
    assert w.shape == (512, 784) and w.count == 401408 and w.trainable and len(w.first) == 2
    assert abs(w.mean) < 0.01 and 0 < w.std < 0.1
    assert r.total == r.trainable == 669706
    assert "(linear_relu_stack): Sequential(" in r.summary


def test_tied_parameters_are_marked_shared_and_counted_once():
    r = report("mlp-tied")
    shared = {p.name: p.shared_with for p in r.parameters if p.shared_with}
    assert shared == {"net.5.weight": "net.3.weight", "net.5.bias": "net.3.bias"}
    assert r.total == sum(p.count for p in r.parameters if not p.shared_with)


def test_frozen_parameters_are_reported_as_not_trainable():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    net[0].weight.requires_grad_(False)
    r = inspect_model(net, (4,))
    assert [p.trainable for p in r.parameters] == [False, True, True, True]
    assert r.total == 23 and r.trainable == 11
