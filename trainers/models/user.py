"""A user's own model: `path/to/file.py:Name`, where Name is an nn.Module subclass or a function returning one.

The file is executed only because the user named it; errors become one readable sentence.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

from ..errors import ModelLoadError
from .registry import ModelSpec


def _load_object(ref: str):
    path_text, attr = ref.rsplit(":", 1)
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist.")
    module_name = "workbench_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    try:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        sys.modules.pop(module_name, None)
        raise
    except BaseException as err:  # the user's code, SystemExit included: any error is theirs to read
        sys.modules.pop(module_name, None)
        raise ModelLoadError(f"{path} failed to load: {type(err).__name__}: {err}") from err
    if not hasattr(module, attr):
        raise ModelLoadError(f"{path} has no {attr!r}; it defines: "
                             f"{', '.join(n for n in vars(module) if not n.startswith('_')) or 'nothing'}.")
    return getattr(module, attr)


def load_user_spec(ref: str) -> ModelSpec:
    obj = _load_object(ref)
    if not callable(obj):
        raise ModelLoadError(f"{ref} is not a class or function.")

    def build():
        import torch

        try:
            model = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as err:
            raise ModelLoadError(f"{ref}() raised {type(err).__name__}: {err}") from err
        if not isinstance(model, torch.nn.Module):
            raise ModelLoadError(f"{ref}() returned {type(model).__name__}, not a torch.nn.Module.")
        return model

    # Task, input and classes are found by a trial forward pass on the dataset (trainers.loop).
    return ModelSpec(name=ref, description=f"your model from {ref.rsplit(':', 1)[0]}", seed="user",
                     task="classify", input_shape=None, loss="cross_entropy", builder=build, num_classes=None)
