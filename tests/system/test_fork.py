"""Runs forked from runs: `workbench train --from RUN` (its settings, fresh weights) and `--weights-from RUN`
(its last saved weights, a new optimizer), the parent recorded and shown; the app's f."""

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import recorded, tiny_config
from trainers import checkpoint as ckpt
from trainers.errors import UntrustedCode, WorkbenchError
from trainers.train.prepare import prepare
from workbench.cli import build_parser
from workbench.commands.train import train_config


def config_of(*argv):
    return train_config(build_parser().parse_args(["train", *argv]))


@pytest.fixture
def parent(tmp_path):
    folder, _ = recorded(tiny_config(out=str(tmp_path / "runs-home" / "a"), lr=0.05, optimizer="sgd"))
    return Path(folder)


def weights_of(folder) -> dict:
    return ckpt.load(folder)["model_state"]


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_from_takes_the_settings_changes_what_is_given_and_records_the_parent(parent):
    config = config_of("--from", "a", "--lr", "0.01", "--epochs", "2")
    assert (config.lr, config.epochs, config.optimizer, config.limit_batches) == (0.01, 2, "sgd", 3)
    assert config.parent == {"run": "a", "folder": str(parent.resolve()), "weights": False}
    assert config.out is None and config.resume is None and config.weights_from is None
    session = prepare(config)
    assert not same(session.model.state_dict(), weights_of(parent))  # fresh initial weights
    folder, events = recorded(config)
    assert Path(folder) != parent and events[-1].__class__.__name__ == "RunFinished"
    saved = json.loads((Path(folder) / "config.json").read_text())
    assert saved["parent"]["run"] == "a" and saved["lr"] == 0.01


def test_weights_from_starts_from_the_parents_last_weights_with_a_new_optimizer(parent):
    config = config_of("--weights-from", "a", "--lr", "0.02")
    assert config.parent["weights"] and config.lr == 0.02
    session = prepare(config)
    assert same({k: v.cpu() for k, v in session.model.state_dict().items()}, weights_of(parent))
    assert not session.optimizer.state and session.resume is None  # a new optimizer, from the first epoch
    folder, _ = recorded(config)
    assert json.loads((Path(folder) / "config.json").read_text())["parent"]["weights"] is True


def test_weights_of_another_model_are_one_sentence_naming_both(parent):
    with pytest.raises(WorkbenchError) as err:
        config_of("--weights-from", "a", "--model", "cnn")
    text = str(err.value)
    assert "mlp" in text and "cnn" in text and text.count(". ") == 0 and "\n" not in text


def test_weights_whose_shapes_do_not_fit_are_one_sentence(parent, tmp_path):
    import dataclasses

    from trainers.errors import ConfigError

    payload = ckpt.load(parent)
    first = next(iter(payload["model_state"]))
    payload["model_state"][first] = payload["model_state"][first][:, :10]  # a first layer for other images
    torch.save(payload, tmp_path / "other.pt")
    config = dataclasses.replace(config_of("--weights-from", "a"), weights_from=str(tmp_path / "other.pt"))
    with pytest.raises(ConfigError) as err:
        prepare(config)
    text = str(err.value)
    assert "--weights-from other.pt" in text and "do not fit mlp on synthetic-digits" in text and "\n" not in text


def test_a_missing_run_and_a_sweep_are_one_sentence(parent, tmp_path):
    with pytest.raises(WorkbenchError, match="no run named 'nope'"):
        config_of("--from", "nope")
    sweep = tmp_path / "runs-home" / "sw"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("{}")
    for flag in ("--from", "--weights-from"):
        with pytest.raises(WorkbenchError, match="that is a sweep, not a run"):
            config_of(flag, "sw")
    with pytest.raises(WorkbenchError, match="give one or the other"):
        config_of("--from", "a", "--resume", "a")


USER = """import torch
class Net(torch.nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.fc = torch.nn.Linear(784, num_classes)
    def forward(self, x):
        return self.fc(x.flatten(1))
"""


def test_a_parent_trained_with_a_users_model_file_needs_the_user_to_name_it(tmp_path):
    file = tmp_path / "mine.py"
    file.write_text(USER)
    recorded(tiny_config(model=f"{file}:Net", out=str(tmp_path / "runs-home" / "u")))
    with pytest.raises(UntrustedCode, match=f"--model {file}:Net"):
        config_of("--from", "u")
    with pytest.raises(UntrustedCode):
        config_of("--weights-from", "u")
    config = config_of("--weights-from", "u", "--model", f"{file}:Net")
    assert config.model == f"{file}:Net" and config.model_sha256
    session = prepare(config)
    assert torch.equal(session.model.fc.weight.detach(), weights_of(tmp_path / "runs-home" / "u")["fc.weight"])


def test_the_listing_and_compare_show_the_lineage(parent):
    from trainers.runs import list_runs
    from workbench.commands.runs import runs_table
    from workbench.render.text import lineage
    from workbench.screens.compare import differing, forks

    folder, _ = recorded(config_of("--from", "a", "--lr", "0.01", "--out", str(parent.parent / "b")))
    rows = {row[0] for row in runs_table(list_runs())}
    assert rows == {"a", "b ← a"}
    assert lineage("mlp-mnist-20261207-131500", "mlp-mnist-20261207-131455") == \
        "mlp-mnist-20261207-131500 ← …131455"
    from trainers.runs import RunReader

    configs = [RunReader(f).config() for f in (parent, folder)]
    assert forks([str(parent), folder], configs, ["1 mlp", "2 mlp"]) == ["", "← 1 mlp"]
    rows = {key: (values, differs) for key, values, differs in differing(configs)}
    assert rows["lr"] == (["0.05", "0.01"], True) and "parent" not in rows and "from_run" not in rows


async def test_f_on_the_runs_screen_and_on_a_run_fills_the_picker(parent):
    from workbench.app import WorkbenchApp
    from workbench.screens.pick import PickScreen
    from workbench.screens.run import RunScreen
    from workbench.screens.run_list import RunListScreen
    from workbench.widgets.pick.hyperparams import HyperparameterForm

    from tests.workbench.helpers import shown, until

    app = WorkbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunListScreen) and app.screen.table.row_count == 1, 30)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, PickScreen))
        await shown(pilot, app, "a's settings")
        values = app.screen.query_one(HyperparameterForm).values()
        assert values["lr"] == pytest.approx(0.05) and values["optimizer"] == "sgd"
        config = app.screen.build_config()
        assert config.parent == {"run": "a", "folder": str(parent), "weights": False} and config.out is None
        app.push_screen(RunScreen(str(parent)))
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, PickScreen))
        assert app.screen.build_config().parent["run"] == "a"
