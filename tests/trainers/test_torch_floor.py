"""pyproject.toml's torch floor is the oldest torch that has every torch API the code uses.

The table below says when each API that is not ancient first appeared. The tests read the floor from
pyproject.toml, find (with `ast`, so comments and docstrings do not count) which table entries trainers/
and workbench/ use, and fail when one is newer than the floor. They also check that every spelling in
the table exists in the installed torch (so a typo cannot make an entry match nothing), that every
`except torch.X` names an API in the table (an except naming a missing attribute raises AttributeError
and hides the real error), and that the torchvision floor is the one built for the torch floor.

Sources for the versions: the torch 2.2.0, 2.3.0 and 2.4.0 wheels themselves (what each one's Python
files and stubs define), PyTorch pull requests and release documentation, as noted per entry.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import io
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("trainers", "workbench") for p in (ROOT / folder).rglob("*.py"))

# Spelling -> (first torch version, where that was confirmed). Spellings come in three forms:
#   "torch.a.b"           a name used (attribute access, an import or an except clause)
#   "torch.a.F(kw=)"      a call of torch.a.F that passes keyword kw
#   '"some text"'         a string literal in the code (torch's own wording that the code matches on)
TORCH_APIS: dict[str, tuple[tuple[int, int], str]] = {
    "torch.OutOfMemoryError": ((2, 4), "pytorch#121702 (torch._C.OutOfMemoryError, public); 2.3.0 wheel has "
                                       "only torch._C._OutOfMemoryError"),
    "torch.optim.SGD(fused=)": ((2, 4), "fused SGD on a CPU: pytorch#123629; 2.4.0 wheel's "
                                        "_get_fused_kernels_supported_devices lists 'cpu', 2.3.0's does not "
                                        "(the fused= argument itself is 2.3: absent from the 2.2.0 wheel)"),
    "torch.optim.Adam(fused=)": ((2, 4), "fused Adam on a CPU: pytorch#123074; same 2.4.0/2.3.0 wheel check"),
    "torch._fused_sgd_": ((2, 4), "CPU kernel from pytorch#123629 (2.4); the op is CUDA-only in 2.3.0 and "
                                  "absent from the 2.2.0 wheel"),
    '"Unsupported global"': ((2, 4), "weights_only refusal text: 2.4.0 wheel's _weights_only_unpickler says "
                                     "'Unsupported global: GLOBAL ...', 2.3.0's 'Unsupported class ...'"),
    "torch.amp.GradScaler": ((2, 3), "torch/amp/grad_scaler.py is in the 2.3.0 wheel, not the 2.2.0 one; "
                                     "pytorch#126527 then deprecated torch.cuda.amp.GradScaler for it"),
    "torch.compile": ((2, 0), "PyTorch 2.0 release"),
    "torch.mps.synchronize": ((2, 0), "torch.mps module, PyTorch 2.0 (pytorch#94417, #96668)"),
    "torch.cuda.OutOfMemoryError": ((1, 13), "pytorch#83146 (Aug 2022)"),
    "torch.load(weights_only=)": ((1, 13), "pytorch#86812 (Oct 2022)"),
    "torch.backends.mps": ((1, 12), "MPS backend, PyTorch 1.12"),
    "torch.autocast": ((1, 10), "device-generic torch.autocast, PyTorch 1.10"),
    "torch.aminmax": ((1, 10), "pytorch#62401 made torch._aminmax public (Aug 2021)"),
    "torch.distributed.run.config_from_args": ((1, 10), "torchrun (torch.distributed.run), 1.9-1.10"),
    "torch.distributed.launcher.api.elastic_launch": ((1, 10), "torchelastic moved into torch, 1.9-1.10"),
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError": ((1, 10), "as elastic_launch"),
    "torch.linalg.vector_norm": ((1, 9), "pytorch#50214, PyTorch 1.9 docs"),
    "torch.fx.symbolic_trace": ((1, 8), "torch.fx beta, PyTorch 1.8.1 docs"),
}


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def _floor(package: str) -> tuple[int, int]:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf'^\s*"{package}>=([0-9][0-9.]*)', text, re.M)
    assert found, f'pyproject.toml has no "{package}>=X" dependency'
    return _version(found.group(1))


def _show(version: tuple[int, int]) -> str:
    return ".".join(map(str, version))


class _Uses(ast.NodeVisitor):
    """What one module uses of torch: dotted names (aliases resolved), call keywords, string literals, and
    `fragile`: the names its except clauses and two-argument getattr calls need (missing: AttributeError)."""

    def __init__(self, tree: ast.Module) -> None:
        self.aliases: dict[str, str] = {}
        for node in ast.walk(tree):  # imports anywhere (lazy imports in functions too)
            if isinstance(node, ast.Import):
                for a in node.names:
                    self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        self.names: dict[str, int] = {}
        self.calls: dict[tuple[str, str], int] = {}
        self.strings: dict[str, int] = {}
        self.fragile: dict[str, int] = {}
        self.visit(tree)

    def dotted(self, node: ast.expr) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        name = ".".join([self.aliases[node.id], *reversed(parts)])
        return name if name.split(".")[0] in ("torch", "torchvision") else None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if (name := self.dotted(node)):
            self.names.setdefault(name, node.lineno)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if (name := self.dotted(node)):
            self.names.setdefault(name, node.lineno)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.name.split(".")[0] in ("torch", "torchvision"):
                self.names.setdefault(a.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level and node.module.split(".")[0] in ("torch", "torchvision"):
            for a in node.names:
                self.names.setdefault(f"{node.module}.{a.name}", node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        if (func := self.dotted(node.func)):
            for kw in node.keywords:
                if kw.arg:
                    self.calls.setdefault((func, kw.arg), node.lineno)
        if (isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant) and (owner := self.dotted(node.args[0]))):
            self.fragile.setdefault(f"{owner}.{node.args[1].value}", node.lineno)  # no default: may raise
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.strings.setdefault(node.value, node.lineno)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type] if node.type else []
        for kind in kinds:
            if (name := self.dotted(kind)):
                self.fragile.setdefault(name, kind.lineno)
        self.generic_visit(node)


@functools.cache
def _scan() -> dict[Path, _Uses]:
    return {path: _Uses(ast.parse(path.read_text(), str(path))) for path in SOURCES}


def _where_used(spelling: str, uses: _Uses) -> int | None:
    """The line of the first use of `spelling` in one module, or None."""
    if spelling.startswith('"'):
        text = spelling.strip('"')
        return next((line for s, line in uses.strings.items() if text in s), None)
    if spelling.endswith("=)"):
        func, keyword = spelling[:-2].split("(")
        return uses.calls.get((func, keyword))
    return next((line for name, line in uses.names.items() if name == spelling or name.startswith(spelling + ".")),
                None)


def _resolve(dotted: str):
    """The object a dotted torch name names in the installed torch (importing modules as needed)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


class _Custom:  # a Python object a weights-only load must refuse
    pass


def test_the_floor_covers_every_api_the_code_uses():
    floor = _floor("torch")
    scanned = _scan()
    too_new = []
    for spelling, (since, source) in TORCH_APIS.items():
        for path, uses in scanned.items():
            line = _where_used(spelling, uses)
            if line is not None and since > floor:
                too_new.append(f"{path.relative_to(ROOT)}:{line} uses {spelling}, new in torch {_show(since)} "
                               f"({source}), but pyproject.toml says torch>={_show(floor)}")
    assert not too_new, ("raise the torch floor in pyproject.toml (and torchvision's to match), or stop using:\n"
                         + "\n".join(too_new))


def test_the_floor_is_set_by_an_api_in_the_table():
    # The comment in pyproject.toml names what sets the floor: the table must say so too. A floor raised
    # for another reason (a bug fixed in torch) gets its own entry, the spelling of the code that needs it.
    floor = _floor("torch")
    scanned = _scan()
    used = [since for spelling, (since, _) in TORCH_APIS.items()
            if any(_where_used(spelling, uses) is not None for uses in scanned.values())]
    assert used, "no API of the table is used any more: the table or the scan is broken"
    assert max(used) == floor, (f"pyproject.toml says torch>={_show(floor)} but the newest API the code uses "
                                f"(per TORCH_APIS) is from torch {_show(max(used))}")


def test_torchvision_floor_is_the_one_built_for_the_torch_floor():
    # torchvision 0.(N+15) is built for torch 2.N (0.19.0's metadata: Requires-Dist torch==2.4.0).
    major, minor = _floor("torch")
    assert major == 2
    assert _floor("torchvision") == (0, minor + 15), (
        f"torch>={major}.{minor} pairs with torchvision>=0.{minor + 15}; pyproject.toml says "
        f"torchvision>={_show(_floor('torchvision'))}")


def test_every_except_and_bare_getattr_on_torch_names_an_api_in_the_table():
    # `except torch.X:` evaluates torch.X only when an exception arrives: on a torch without X that turns
    # the real error into an AttributeError. Each such name must be in the table, so the floor covers it.
    known = [s for s in TORCH_APIS if not s.startswith('"') and not s.endswith("=)")]
    missing = [f"{path.relative_to(ROOT)}:{line} relies on {name}"
               for path, uses in _scan().items() for name, line in uses.fragile.items()
               if not any(name == k or name.startswith(k + ".") for k in known)]
    assert not missing, ("add these to TORCH_APIS with the torch version that introduced them:\n"
                         + "\n".join(missing))


@pytest.mark.parametrize("spelling", list(TORCH_APIS))
def test_every_spelling_in_the_table_exists_in_the_installed_torch(spelling):
    if spelling == '"Unsupported global"':
        buffer = io.BytesIO()
        torch.save({"x": _Custom()}, buffer)
        buffer.seek(0)
        with pytest.raises(Exception, match="Unsupported global"):
            torch.load(buffer, weights_only=True)
    elif spelling.endswith("=)"):
        func, keyword = spelling[:-2].split("(")
        assert keyword in inspect.signature(_resolve(func)).parameters, f"{func} takes no {keyword}="
        if keyword == "fused":  # on a CPU, as the code uses it
            _resolve(func)([torch.zeros(2, requires_grad=True)], lr=0.1, fused=True)
    else:
        assert _resolve(spelling) is not None


def test_the_scan_sees_what_it_should():
    # The scanner itself: a lazy import, an alias, a keyword and an except clause in a small module.
    uses = _Uses(ast.parse(
        "def f(ps):\n"
        "    import torch.distributed as dist\n"
        "    from torch import nn\n"
        "    try:\n"
        "        nn.utils.clip_grad_norm_(ps, 1.0)\n"
        "        return torch.optim.SGD(ps, lr=1, fused=True), dist.all_reduce\n"
        "    except (torch.OutOfMemoryError, ValueError):\n"
        "        return getattr(torch.backends, 'mps')  # no default\n"
        "import torch\n"
        "x = 'torch.compile in a string is not a use'\n"))
    assert _where_used("torch.nn.utils", uses) == 5
    assert _where_used("torch.optim.SGD(fused=)", uses) == 6
    assert _where_used("torch.distributed.all_reduce", uses) == 6
    assert _where_used("torch.compile", uses) is None
    assert set(uses.fragile) == {"torch.OutOfMemoryError", "torch.backends.mps"}
