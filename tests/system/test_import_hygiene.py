"""trainers must run without a screen: no module of it may import the UI side."""

import pkgutil
import subprocess
import sys

import pytest

import trainers


@pytest.mark.slow
def test_no_trainers_module_imports_the_ui():
    names = [m.name for m in pkgutil.walk_packages(trainers.__path__, "trainers.")]
    assert "trainers.train.loop" in names and "trainers.models.cnn" in names
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'workbench', 'plotext'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cheap_modules_do_not_import_torch():
    # The picker lists models and datasets before torch is loaded; these must stay light.
    code = (
        "import sys\n"
        "import trainers, trainers.config, trainers.events, trainers.models, trainers.data.registry, trainers.compat\n"
        "import workbench.cli\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
