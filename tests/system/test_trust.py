"""A run folder from someone else is data, never code. A folder whose config and checkpoint name a
marker-planting model file, with every digest rewritten to match, goes to each command that reads a run:
the file never runs, and each says in one sentence what it refused and how to allow it."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from tests.conftest import recorded, tiny_config
from trainers.backends import resume_config
from trainers.errors import UntrustedCode
from workbench.cli import main

NET = '''
import torch
from torch import nn

{prelude}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1))
'''


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def handed(tmp_path):
    """(the handed-over folder, the marker its file would plant, the user's own run, the user's file)."""
    mine = tmp_path / "mine.py"
    mine.write_text(NET.format(prelude=""))
    own, _ = recorded(tiny_config(model=f"{mine}:Net", out=str(tmp_path / "own")))
    own = Path(own)
    marker = tmp_path / "MARKER"
    evil = tmp_path / "theirs" / "evil.py"
    evil.parent.mkdir()
    evil.write_text(NET.format(prelude=f"open({str(marker)!r}, 'w').write('ran')"))
    folder = tmp_path / "handed"
    shutil.copytree(own, folder)
    model, digest = f"{evil}:Net", sha(evil)
    for name in ("config.json", "request.json"):
        if (folder / name).exists():
            saved = json.loads((folder / name).read_text())
            saved.update(model=model, model_sha256=digest)
            (folder / name).write_text(json.dumps(saved))
    payload = torch.load(folder / "checkpoint.pt", weights_only=True)
    payload["model_name"] = model
    payload["config"].update(model=model, model_sha256=digest)
    torch.save(payload, folder / "checkpoint.pt")
    info = json.loads((folder / "checkpoint.json").read_text())
    info.update(sha256=sha(folder / "checkpoint.pt"), previous_sha256=None)
    (folder / "checkpoint.json").write_text(json.dumps(info))
    return folder, marker, own, mine


def refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_run_records_its_model_files_digest(handed):
    _, _, own, mine = handed
    assert json.loads((own / "config.json").read_text())["model_sha256"] == sha(mine)
    assert torch.load(own / "checkpoint.pt", weights_only=True)["config"]["model_sha256"] == sha(mine)


def test_predict_and_resume_refuse_a_folder_that_names_code(handed, capsys, tmp_path):
    folder, marker, _, _ = handed
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("L", (28, 28), 128).save(images / "a.png")
    config_before = (folder / "config.json").read_bytes()
    status_before = (folder / "status.json").read_bytes()
    line = refused(capsys, ["predict", str(folder), "--images", str(images), "--out", str(tmp_path / "p.csv")])
    assert "never chooses code to run" in line and f"--model {folder.parent}/theirs/evil.py:Net" in line
    assert not (tmp_path / "p.csv").exists()
    line = refused(capsys, ["train", "--resume", str(folder), "--epochs", "3"])
    assert "evil.py" in line and "--model" in line
    lone = tmp_path / "lone.pt"  # the checkpoint alone, copied out of the folder
    shutil.copy(folder / "checkpoint.pt", lone)
    line = refused(capsys, ["train", "--resume", str(lone), "--epochs", "3"])
    assert "evil.py" in line
    with pytest.raises(UntrustedCode):
        resume_config(str(folder), epochs=3)  # the in-process API keeps the same rule
    assert not marker.exists()
    assert (folder / "config.json").read_bytes() == config_before  # nothing in the folder changed
    assert (folder / "status.json").read_bytes() == status_before


def test_naming_another_file_is_refused_by_its_digest_and_a_name_outside_the_zoo_too(handed, capsys, tmp_path):
    folder, marker, _, mine = handed
    line = refused(capsys, ["train", "--resume", str(folder), "--epochs", "3", "--model", f"{mine}:Net"])
    assert f"{mine} has SHA-256 {sha(mine)[:16]}" in line and "was not run" in line
    saved = json.loads((folder / "config.json").read_text())
    saved["model"] = "os:system"
    (folder / "config.json").write_text(json.dumps(saved))
    line = refused(capsys, ["train", "--resume", str(folder), "--epochs", "3"])
    assert "'os:system'" in line and "neither one of the workbench's models nor a file.py:Name" in line
    assert not marker.exists()


def test_export_reads_the_file_but_never_runs_it(handed, capsys, tmp_path):
    folder, marker, _, _ = handed
    assert main(["export", str(folder), "--script", str(tmp_path / "again.py"), "--csv", str(tmp_path / "m.csv")]) == 0
    script = " ".join((tmp_path / "again.py").read_text().split())
    assert "read it before you run this script" in script  # the copied file is flagged as the run's, not ours
    assert not marker.exists()
    (folder.parent / "theirs" / "evil.py").write_text("print('changed')\n")
    line = refused(capsys, ["export", str(folder), "--script", str(tmp_path / "other.py")])
    assert "changed since it trained" in line


async def test_attach_and_compare_run_nothing_and_inspect_asks_first(handed):
    from tests.workbench.helpers import shown, until
    from workbench.app import WorkbenchApp
    from workbench.screens.inspect import InspectScreen
    from workbench.screens.trust import TrustScreen

    folder, marker, own, _ = handed
    app = WorkbenchApp(attach=str(folder))
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot, app, "Finished")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TrustScreen))
        assert app.screen.path == folder.parent / "theirs" / "evil.py"
        await shown(pilot, app, sha(folder.parent / "theirs" / "evil.py"))  # the digest, whole
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, TrustScreen))
        assert not isinstance(app.screen, InspectScreen)
        await pilot.press("4")  # the Model tab: the printed architecture comes from the log, not the file
        await pilot.pause()
        await pilot.press("s")  # again, with the run's settings: a new run would build the file too
        await until(pilot, lambda: isinstance(app.screen, TrustScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.__class__.__name__ == "RunScreen")
        await pilot.pause(0.5)
        assert app.screen.name_text == "handed"  # no new run was started
    assert not marker.exists()
    home = Path(os.environ["WORKBENCH_RUNS"])
    assert not home.exists() or not any(home.iterdir())  # no new run was started from the folder's settings
    app = WorkbenchApp(compare=[str(folder), str(own)])
    async with app.run_test(size=(100, 30)) as pilot:
        await shown(pilot, app, "Comparing 2 runs")
    assert not marker.exists()


async def test_inspect_of_a_file_model_runs_after_yes(handed):
    from tests.workbench.helpers import until
    from workbench.app import WorkbenchApp
    from workbench.screens.inspect import InspectScreen
    from workbench.screens.trust import TrustScreen

    folder, marker, _, _ = handed
    app = WorkbenchApp(attach=str(folder))
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.screen.__class__.__name__ == "RunScreen")
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, TrustScreen))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, InspectScreen))
        await until(pilot, marker.exists)  # the user said yes: now it is their choice to run it


def test_the_users_own_file_resumes_and_predicts_when_named_and_not_after_it_changed(handed, capsys, tmp_path):
    _, _, own, mine = handed
    line = refused(capsys, ["train", "--resume", str(own), "--epochs", "2"])
    assert f"--model {mine}:Net" in line  # the sentence gives the command that works
    assert main(["train", "--resume", str(own), "--epochs", "2", "--model", f"{mine}:Net"]) == 0
    assert json.loads((own / "checkpoint.json").read_text())["epoch"] == 2
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("L", (28, 28), 0).save(images / "a.png")
    assert main(["predict", str(own), "--images", str(images), "--out", str(tmp_path / "p.csv"),
                 "--model", f"{mine}:Net"]) == 0
    assert (tmp_path / "p.csv").read_text().count("\n") == 2
    mine.write_text(mine.read_text() + "\n# edited\n")
    line = refused(capsys, ["train", "--resume", str(own), "--epochs", "3", "--model", f"{mine}:Net"])
    assert "was not run" in line
