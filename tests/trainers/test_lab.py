"""The tutorials' hands-on labs: cross-correlation by hand, padding and stride, a kernel learned back, and
parameters set per layer (initialisation, freezing) that reach the run; parameters saved and loaded."""

import contextlib
import io
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.errors import ConfigError, WorkbenchError
from trainers.lab import (KERNELS, check_channels, check_pool, corr2d, corr2d_multi_in, corr2d_multi_in_out,
                          corr2d_multi_in_out_1x1, input_stack, kernel_named, kernel_stack_rows, learn_kernel,
                          notes_kernels, output_shape, parse_kernel, parse_pair, pool2d, shape_formula, stripes)


@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2), ((1, 0), (2, 1)), (0, 3)])
@pytest.mark.parametrize("kernel", [(1, 2), (3, 3), (2, 5)])
def test_corr2d_is_what_conv2d_computes(padding, stride, kernel):
    g = torch.Generator().manual_seed(hash((padding, stride, kernel)) % 1000)
    x, k = torch.randn(9, 11, generator=g), torch.randn(*kernel, generator=g)
    mine = corr2d(x, k, padding, stride)
    theirs = F.conv2d(x[None, None], k[None, None], padding=padding, stride=stride)[0, 0]
    assert mine.shape == theirs.shape
    assert torch.allclose(mine, theirs, atol=1e-5)


def test_the_edge_detector_finds_vertical_edges_and_misses_horizontal_ones():
    x = stripes()
    y = corr2d(x, kernel_named("edge"))
    assert y.shape == (6, 7)
    assert y[:, 1].tolist() == [1.0] * 6 and y[:, 5].tolist() == [-1.0] * 6  # the notes' output
    assert y.abs().sum() == 12
    assert corr2d(x.t(), kernel_named("edge")).abs().sum() == 0  # the transposed image: nothing found
    assert corr2d(x.t(), kernel_named("edge-transposed")).abs().sum() == 12


def test_the_output_shape_formula_on_the_tutorials_cases():
    assert output_shape(8, 8, (3, 3), 1, 1) == (8, 8)  # padding 1 keeps 8x8
    assert output_shape(8, 8, (3, 3), 1, 2) == (4, 4)  # stride 2 halves it
    assert output_shape(8, 8, (5, 3), (2, 1), 1) == (8, 8)
    assert output_shape(8, 8, (3, 5), (0, 1), (3, 4)) == (2, 2)
    assert "⌊(8 − 3 + 2·1) / 2⌋ + 1 = 4" in shape_formula(8, 8, (3, 3), 1, 2)
    with pytest.raises(ConfigError, match="does not fit"):
        output_shape(2, 2, (3, 3))
    with pytest.raises(ConfigError, match="stride"):
        output_shape(8, 8, (3, 3), 0, 0)


def test_a_kernel_is_learned_back_from_an_input_and_its_edge_map():
    x = stripes()
    y = corr2d(x, torch.tensor(KERNELS["edge"]))
    steps = list(learn_kernel(x, y, (1, 2), steps=10, lr=3e-2))
    assert len(steps) == 10 and steps[-1].loss < steps[0].loss / 100
    learned = torch.tensor(steps[-1].kernel)
    assert (learned - torch.tensor([[1.0, -1.0]])).abs().max() < 0.05
    more = list(learn_kernel(x, y, (1, 2), steps=5, start=learned))  # "then as many as the user asks"
    assert more[-1].loss < steps[-1].loss


def test_kernels_typed_by_hand():
    assert parse_kernel("1 -1").tolist() == [[1.0, -1.0]]
    assert parse_kernel("0 1 0; 1 -4 1; 0 1 0").shape == (3, 3)
    with pytest.raises(ConfigError, match="same number"):
        parse_kernel("1 2; 3")
    with pytest.raises(ConfigError, match="unknown kernel"):
        kernel_named("gaussian")


# ------------------------------------------------------------------------------------- parameters by hand


def _snapshots(events):
    return [e for e in events if isinstance(e, ev.ParametersSnapshot)]


def test_per_layer_initialisation_and_freezing_reach_the_run(tmp_path):
    config = tiny_config(epochs=1, layer_init=["fc1=constant:42", "fc2=zeros"], freeze=["fc2"],
                         optimizer="sgd", lr=0.01, out=str(tmp_path / "run"))
    _, events = recorded(config)
    started = next(e for e in events if isinstance(e, ev.RunStarted))
    assert started.trainable == started.parameters - (10 * 256 + 10)  # fc2 is frozen
    before, after = (dict((p.name, p) for p in s.parameters) for s in (_snapshots(events)[0], _snapshots(events)[-1]))
    assert before["fc1.weight"].mean == 42 and before["fc1.weight"].std == 0 and before["fc1.bias"].mean == 0
    assert before["fc2.weight"].mean == 0 and before["fc2.weight"].std == 0  # the values before the first step
    assert after["fc2.weight"].mean == 0 and after["fc2.weight"].std == 0  # frozen: unchanged by training
    assert after["fc1.weight"].first != before["fc1.weight"].first  # trained
    assert not after["fc2.weight"].trainable


def test_xavier_on_one_layer_leaves_the_others_as_they_were():
    from trainers.inspection import build

    plain, _ = build("mlp-deep")
    mixed, _ = build("mlp-deep", layer_init=["3=xavier"])
    for (name, a), (_, b) in zip(plain.named_parameters(), mixed.named_parameters()):
        if name.startswith("3."):
            assert not torch.equal(a, b) if name.endswith("weight") else b.abs().sum() == 0
        else:
            assert torch.equal(a, b), name


def test_bad_layer_settings_are_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="NAME=HOW"):
        tiny_config(layer_init=["fc1"]).validate()
    with pytest.raises(ConfigError, match="must be a number"):
        tiny_config(layer_init=["fc1=constant:lots"]).validate()
    _, events = recorded(tiny_config(layer_init=["fc9=xavier"], out=str(tmp_path / "a")))
    assert isinstance(events[-1], ev.RunFailed) and "no layer named 'fc9'" in events[-1].reason
    assert "fc1, fc2" in events[-1].reason
    _, events = recorded(tiny_config(freeze=["fc1", "fc2"], out=str(tmp_path / "b")))
    assert isinstance(events[-1], ev.RunFailed) and "every parameter is frozen" in events[-1].reason


def wb(*args):
    """`workbench ARGS` as the command runs it (workbench.cli.main), in this process: these commands start no
    trainer and catch no signal, and a process of their own would spend two seconds importing torch again.
    tests/system/test_cli.py runs the command as a process."""
    from workbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's errors
            code = exit.code
    return subprocess.CompletedProcess(["workbench", *args], code, out.getvalue(), err.getvalue())


def test_parameters_and_tensors_saved_and_loaded_as_the_notes_do(tmp_path):
    params = tmp_path / "mlp.params"
    out = wb("inspect", "mlp", "--layer-init", "fc1=constant:42", "--save-params", str(params))
    assert out.returncode == 0, out.stderr
    state = torch.load(params, weights_only=True)
    assert set(state) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} and (state["fc1.weight"] == 42).all()
    loaded = wb("inspect", "mlp", "--load-params", str(params))
    assert loaded.returncode == 0 and "+42.0000" in loaded.stdout  # the loaded values are what is shown
    wrong = wb("inspect", "lenet5", "--load-params", str(params))
    assert wrong.returncode == 2 and "does not fit lenet5" in wrong.stderr and wrong.stderr.count("\n") == 1
    tensor = tmp_path / "x-file"
    assert wb("inspect", "mlp", "--save-tensor", "fc2.bias", str(tensor)).returncode == 0
    assert torch.load(tensor, weights_only=True).shape == (10,)
    torch.save({"x": torch.arange(4), "y": torch.zeros(4)}, tmp_path / "mydict")
    shown = wb("inspect", "mlp", "--show-file", str(tmp_path / "mydict"))
    assert "x: 4 int64  [0, 1, 2, 3]" in shown.stdout
    from pathlib import Path

    torch.save({"p": Path("/etc/passwd")}, tmp_path / "evil")
    evil = wb("inspect", "mlp", "--show-file", str(tmp_path / "evil"))
    assert evil.returncode == 2 and "could run code" in evil.stderr
    (tmp_path / "junk.pt").write_bytes(b"garbage, not a torch file")  # damaged is not dangerous: say which
    junk = wb("inspect", "mlp", "--load-params", str(tmp_path / "junk.pt"))
    assert junk.returncode == 2 and "is not a readable file" in junk.stderr and "could run code" not in junk.stderr


def test_the_lab_on_the_command_line_shows_input_kernel_output_and_learns_the_kernel():
    out = wb("lab", "--learn")
    assert out.returncode == 0, out.stderr
    assert "input 6x8 (stripes)" in out.stdout and "output 6x7" in out.stdout
    assert "(8 − 2 + 2·0) / 1 + 1 = 7" in out.stdout and "step   10" in out.stdout
    gap = float(out.stdout.rsplit("largest difference from the true kernel: ", 1)[1].split()[0])
    assert gap < 0.05
    flat = wb("lab", "--transpose")
    assert "finds nothing" in flat.stdout
    digit = wb("lab", "--image", "synthetic-digits:3", "--kernel", "sobel-x", "--padding", "1", "--stride", "2")
    assert digit.returncode == 0 and "output 14x14" in digit.stdout and "→ 14x14" in digit.stdout
    bad = wb("lab", "--kernel", "1 2; 3")
    assert bad.returncode == 2 and "same number of values" in bad.stderr


def test_a_users_own_init_rule_survives_when_no_init_is_asked_for(tmp_path):
    (tmp_path / "mine.py").write_text(
        "import torch\n"
        "class Mine(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(784, 10)\n"
        "        torch.nn.init.constant_(self.fc.weight, 0.5)  # the notes' custom rule\n"
        "    def forward(self, x):\n"
        "        return self.fc(x.flatten(1))\n")
    _, events = recorded(tiny_config(model=f"{tmp_path}/mine.py:Mine", out=str(tmp_path / "run")))
    first = {p.name: p for p in _snapshots(events)[0].parameters}
    assert first["fc.weight"].mean == pytest.approx(0.5) and first["fc.weight"].std == 0
    with pytest.raises(WorkbenchError):
        kernel_named("")


@pytest.mark.parametrize("args,said", [
    (["--learn", "--lr", "-1"], "lr must be a positive number, got -1."),
    (["--learn", "--steps", "0"], "steps must be at least 1, got 0."),
    (["--stride", "0"], "stride must be at least 1, got 0."),
    (["--padding", "-1"], "padding must be 0 or more, got -1."),
])
def test_the_labs_bad_settings_are_one_line_before_anything_is_shown(args, said):
    out = wb("lab", *args)
    assert out.returncode == 2 and out.stdout == "" and out.stderr == f"workbench: error: {said}\n"


# ------------------------------------------------------------ several channels, 1x1 convolutions, pooling


def test_the_notes_channel_examples_give_their_numbers():
    x, _what = input_stack("notes", 2)  # arange(9) as 3x3, and + 1
    k = torch.tensor(notes_kernels(2, 1))[0]  # [[0, 1], [2, 3]] and + 1
    assert corr2d_multi_in(x, k).tolist() == [[56, 72], [104, 120]]
    y = corr2d_multi_in_out(x, torch.tensor(notes_kernels(2, 3)))  # torch.stack((K, K + 1, K + 2), 0)
    assert y.tolist() == [[[56, 72], [104, 120]], [[76, 100], [148, 172]], [[96, 128], [192, 224]]]


@pytest.mark.parametrize("padding,stride", [(0, 1), (1, 1), (0, 2), (2, 3), ((1, 0), (2, 1))])
@pytest.mark.parametrize("ci,co,kernel", [(1, 1, (2, 2)), (2, 3, (3, 3)), (3, 2, (1, 2)), (4, 1, (3, 1))])
def test_several_channels_in_and_out_are_what_conv2d_computes(padding, stride, ci, co, kernel):
    g = torch.Generator().manual_seed(ci * 10 + co)
    x, k = torch.randn(ci, 7, 9, generator=g), torch.randn(co, ci, *kernel, generator=g)
    theirs = F.conv2d(x[None], k, padding=padding, stride=stride)[0]
    mine = corr2d_multi_in_out(x, k, padding, stride)
    assert mine.shape == theirs.shape and torch.allclose(mine, theirs, atol=1e-5)
    assert torch.allclose(corr2d_multi_in(x, k[0], padding, stride), theirs[0], atol=1e-5)


@pytest.mark.parametrize("ci,co,size", [(3, 2, (3, 3)), (1, 4, (5, 2)), (6, 1, (1, 1))])
def test_a_1x1_convolution_is_a_matrix_product(ci, co, size):
    g = torch.Generator().manual_seed(ci)
    x, k = torch.normal(0, 1, (ci, *size), generator=g), torch.normal(0, 1, (co, ci, 1, 1), generator=g)
    y = corr2d_multi_in_out_1x1(x, k)
    assert y.shape == (co, *size)
    assert float((y - corr2d_multi_in_out(x, k)).abs().sum()) < 1e-5  # the notes' check
    assert torch.allclose(y, F.conv2d(x[None], k)[0], atol=1e-5)


def test_the_notes_pooling_examples_give_their_numbers():
    x = torch.arange(9, dtype=torch.float32).reshape(3, 3)
    assert pool2d(x, (2, 2)).tolist() == [[4, 5], [7, 8]]
    assert pool2d(x, (2, 2), "avg").tolist() == [[2, 3], [5, 6]]
    x4 = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    assert pool2d(x4, 3, stride=3).tolist() == [[10]]  # nn.MaxPool2d(3): the stride is the window
    assert pool2d(x4, 3, padding=1, stride=2).tolist() == [[5, 7], [13, 15]]
    assert pool2d(x4, (2, 3), padding=(0, 1), stride=(2, 3)).tolist() == [[5, 7], [13, 15]]
    two = pool2d(torch.stack([x4, x4 + 1]), 3, padding=1, stride=2)  # each channel on its own
    assert two.tolist() == [[[5, 7], [13, 15]], [[6, 8], [14, 16]]]


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size,padding,stride", [
    (2, 0, 2), (2, 0, 1), (3, 1, 2), (3, 1, 1), ((2, 3), (0, 1), (2, 3)), ((3, 2), (1, 1), (1, 2)), (1, 0, 1),
    (4, 2, 3)])
def test_pooling_by_hand_is_what_torchs_pooling_layers_compute(mode, size, padding, stride):
    """AvgPool2d with its default count_include_pad=True: padding counts as zeros in the mean."""
    x = torch.randn(3, 7, 10, generator=torch.Generator().manual_seed(7))
    layer = torch.nn.MaxPool2d if mode == "max" else torch.nn.AvgPool2d
    theirs = layer(size, stride=stride, padding=padding)(x[None])[0]
    mine = pool2d(x, size, mode, padding, stride)
    assert mine.shape == theirs.shape and torch.allclose(mine, theirs, atol=1e-6)
    assert torch.allclose(pool2d(x[1], size, mode, padding, stride), theirs[1], atol=1e-6)


def test_bad_channels_and_pooling_are_one_sentence_without_torch():
    with pytest.raises(ConfigError, match="^the kernel stack has 3 input channels but the input has 2: give one"):
        check_channels(2, None, (1, 3, 2, 2))
    with pytest.raises(ConfigError, match="input has 2"):
        corr2d_multi_in_out(torch.zeros(2, 3, 3), torch.zeros(1, 3, 2, 2))
    with pytest.raises(ConfigError, match="^a 6x6 pooling window does not fit a 3x3 input with padding 1"):
        check_pool(3, 3, 6, 1, 1)
    with pytest.raises(ConfigError, match="does not fit a 3x3 input with padding 0"):
        pool2d(torch.zeros(3, 3), 4)
    with pytest.raises(ConfigError, match="^stride must be at least 1, got 0.$"):
        check_pool(4, 4, 2, 0, 0)
    with pytest.raises(ConfigError, match="^padding 2 is over half a 3x3 window; torch allows at most 1.$"):
        check_pool(8, 8, 3, 2, 1)
    assert parse_pair("2x3", "size") == (2, 3) and parse_pair("2", "size") == (2, 2)
    with pytest.raises(ConfigError, match="size is a whole number or HxW"):
        parse_pair("2y3", "size")
    assert len(kernel_stack_rows("0 1; 2 3 | 1 2; 3 4 || 1 1; 1 1 | 0 0; 0 0")) == 2
    with pytest.raises(ConfigError, match="one shape"):
        kernel_stack_rows("1 2 | 3")
    code = ("import sys, trainers.lab as l; l.check_pool(3, 3, 2); l.check_channels(2, 3, (3, 2, 2, 2)); "
            "l.input_size('synthetic-digits:3'); l.kernel_stack_rows('1 | 2'); assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_channels_one_by_one_and_pooling_on_the_command_line():
    out = wb("lab", "--channels-in", "2", "--channels-out", "3")
    assert out.returncode == 0, out.stderr
    assert "input X: 2 channels of 3x3" in out.stdout and "shape (3, 2, 2, 2)" in out.stdout
    assert "X[0]⋆K[2,0] +" in out.stdout and "192 224" in out.stdout and "largest difference 0" in out.stdout
    one = wb("lab", "--one-by-one")
    assert one.returncode == 0 and "a 2x3 matrix" in one.stdout and "X as 3x9" in one.stdout
    assert "corr2d_multi_in_out(X, K) gives the same" in one.stdout
    pooled = wb("lab", "--pool", "max", "--size", "2")
    assert pooled.returncode == 0 and "max pooling 2x2" in pooled.stdout
    assert [line.split()[-2:] for line in pooled.stdout.splitlines()[1:3]] == [["4", "5"], ["7", "8"]]
    avg = wb("lab", "--pool", "avg", "--image", "notes-4x4", "--size", "2x3", "--padding", "0x1", "--stride", "2x3")
    assert avg.returncode == 0 and "nn.AvgPool2d((2, 3), stride=(2, 3), padding=(0, 1)) gives the same" in avg.stdout
    assert "count_include_pad=True" in avg.stdout and "→ 2x2" in avg.stdout
    padded = wb("lab", "--pool", "max", "--image", "notes-4x4", "--size", "3", "--padding", "1", "--stride", "2")
    assert "padded 6x6" in padded.stdout and "13 15" in padded.stdout
    digits = wb("lab", "--pool", "avg", "--image", "synthetic-digits:0", "--channels-in", "2", "--stride", "2")
    assert digits.returncode == 0 and "avg[1]" in digits.stdout and "→ 14x14" in digits.stdout


@pytest.mark.parametrize("args,said", [
    (["--channels-in", "2", "--kernel", "0 1; 2 3 | 1 2; 3 4 | 1 1; 1 1"],
     "the kernel stack has 3 input channels but the input has 2: give one kernel per input channel."),
    (["--pool", "max", "--size", "4"],
     "a 4x4 pooling window does not fit a 3x3 input with padding 0; use a smaller pooling window or more padding."),
    (["--pool", "avg", "--stride", "0"], "stride must be at least 1, got 0."),
    (["--pool", "max", "--size", "2x0"], "a pooling window is at least 1x1, got 2x0."),
    (["--pool", "max", "--size", "two"], "size is a whole number or HxW (e.g. 2 or 2x3); got 'two'."),
    (["--channels-out", "9"], "channels-out must be 1 to 8, got 9."),
    (["--size", "3"], "--size is the pooling window: give --pool max or --pool avg with it."),
])
def test_bad_channel_and_pooling_settings_are_one_line_before_anything_is_shown(args, said):
    out = wb("lab", *args)
    assert out.returncode == 2 and out.stdout == "" and out.stderr == f"workbench: error: {said}\n"
