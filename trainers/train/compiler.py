"""torch's compiler, `torch._dynamo` (1.3 s of imports on these 2 cores), loaded only where it is used.

Building any `torch.optim` optimizer imports torch._dynamo, for two things that do nothing in a process
that never compiles: marking the optimizer's own methods as not to be compiled
(`torch._compile._disable_dynamo` calls `torch._dynamo.disable(fn)` on their first call) and calling
`torch._dynamo.graph_break()` around each `step`. A run that does not `--compile` paid a third of its start
for them (an lr-find, every trainer a sweep or the app starts).

`defer()` puts a stand-in in `sys.modules["torch._dynamo"]` that answers those two calls as the real ones do
outside a compiled frame (`disable(fn)` is `fn`; `graph_break()` returns None). Any other use of the module
(torch.compile, a torchvision import, DDP) loads the real one then and there, and the methods the stand-in
passed through are marked again by the real `disable` on their next call; nothing stays unmarked.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

NAME = "torch._dynamo"
_LOADING = threading.RLock()  # one thread imports the real module, others wait; its own import may reenter


class _Standin(types.ModuleType):
    def __init__(self) -> None:
        super().__init__(NAME, "Stands for torch._dynamo until something other than an optimizer needs it.")
        self.passed: list = []  # the functions disable() gave back unwrapped

    def disable(self, fn=None, recursive=True, *, reason=None, wrapping=True):
        if fn is None:
            return lambda f: self.disable(f, recursive, reason=reason, wrapping=wrapping)
        self.passed.append(fn)
        return fn

    def graph_break(self, msg: str = "") -> None:
        return None

    def __getattr__(self, name: str):
        return getattr(_load_real(), name)


def defer() -> bool:
    """Put the stand-in in place unless torch._dynamo is loaded already; True when it is (now) in place."""
    current = sys.modules.get(NAME)
    if isinstance(current, _Standin):
        return True
    if current is not None:
        return False
    import torch

    standin = _Standin()
    sys.modules[NAME] = standin
    torch._dynamo = standin
    return True


def deferred() -> bool:
    """Whether torch._dynamo is still the stand-in (never loaded for real in this process)."""
    return isinstance(sys.modules.get(NAME), _Standin)


def _load_real() -> types.ModuleType:
    with _LOADING:
        return _swap()


def _swap() -> types.ModuleType:
    standin = sys.modules.get(NAME)
    if not isinstance(standin, _Standin):
        return standin if standin is not None else importlib.import_module(NAME)
    del sys.modules[NAME]
    try:
        real = importlib.import_module(NAME)  # the import sets torch._dynamo to it
    except BaseException:
        sys.modules[NAME] = standin
        raise
    for fn in standin.passed:  # _disable_dynamo cached fn itself as its disabled form: let the real one mark it
        if getattr(fn, "__dynamo_disable", None) is fn:
            del fn.__dynamo_disable
    standin.passed.clear()
    return real
