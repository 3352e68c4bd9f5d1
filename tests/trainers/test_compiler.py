"""A run that does not compile never loads torch's compiler (1.3 s of its start), and computes the same floats;
anything that needs the compiler later gets the real one."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import torch
    from tests.conftest import tiny_config
    from trainers import run
    from trainers.events import RunFailed
    from trainers.train import compiler

    def weights(optimizer):
        held = {}
        cfg = tiny_config(model="cnn-pool", optimizer=optimizer, epochs=1, limit_batches=3, weight_decay=1e-3)
        events = list(run(cfg, adapt=lambda s: held.update(model=s.model)))
        assert not any(isinstance(e, RunFailed) for e in events), events[-1]
        return torch.cat([p.detach().flatten() for p in held["model"].parameters()])

    assert "torch._dynamo" not in sys.modules
    deferred = {name: weights(name) for name in ("sgd", "adam")}
    print("after a run:", "stand-in" if compiler.deferred() else "real")
    add = torch.optim.Optimizer.add_param_group.__wrapped__
    print("passed through:", getattr(add, "__dynamo_disable", None) is add)
    import torchvision  # imports torch._dynamo.utils: the real module loads
    print("after torchvision:", "stand-in" if compiler.deferred() else "real",
          type(sys.modules["torch._dynamo"]).__name__, torch._dynamo is sys.modules["torch._dynamo"])
    print("remarked:", getattr(add, "__dynamo_disable", None) is not add)
    real = {name: weights(name) for name in ("sgd", "adam")}
    print("same floats:", all(torch.equal(deferred[n], real[n]) for n in deferred))
    print("disabled again:", getattr(add, "__dynamo_disable", None) not in (None, add))
    f = torch.compile(lambda x: torch.sin(x) * 2, backend="eager")
    print("compiles:", torch.equal(f(torch.ones(3)), torch.sin(torch.ones(3)) * 2))
""")


@pytest.mark.slow
def test_a_run_leaves_the_compiler_unloaded_and_the_real_one_comes_when_needed():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == ["after a run: stand-in",
                     "passed through: True",
                     "after torchvision: real module True",
                     "remarked: True",
                     "same floats: True",
                     "disabled again: True",
                     "compiles: True"], out.stdout


def test_a_compiling_run_is_not_given_the_stand_in(monkeypatch):
    from trainers.train import compiler, prepare
    from tests.conftest import tiny_config

    monkeypatch.setattr(compiler, "defer", lambda: pytest.fail("a --compile run must load the real compiler"))
    import torch

    cfg = prepare.resolve_with_spec(tiny_config(compile=True))[0]
    prepare.make_optimizer(cfg, [torch.nn.Parameter(torch.zeros(2))])
