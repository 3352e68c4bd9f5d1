"""The tutorials' hands-on labs: cross-correlation by hand, padding and stride, a kernel learned back, and
parameters set per layer (initialisation, freezing) that reach the run; parameters saved and loaded."""

import contextlib
import io
import subprocess

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import recorded, tiny_config
from trainers import events as ev
from trainers.errors import ConfigError, WorkbenchError
from trainers.lab import KERNELS, corr2d, kernel_named, learn_kernel, output_shape, parse_kernel, shape_formula, stripes


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
    tests/test_cli.py runs the command as a process."""
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
