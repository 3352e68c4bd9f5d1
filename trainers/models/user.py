"""A user's own model: `path/to/file.py:Name`, where Name is an nn.Module subclass or a function returning one.

The file is executed only because the user named it; errors become one readable sentence. The bytes that
run are the bytes hashed: a run records their SHA-256 (`RunConfig.model_sha256`), and a command that rebuilds
a run's model from its folder runs a file only when its user names it and the digest still matches
(`trainers.models.trusted_model`).
"""

from __future__ import annotations

import hashlib
import sys
import types
from pathlib import Path

from ..errors import ModelLoadError
from .registry import ModelSpec


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(ref: str) -> tuple[Path, str, bytes]:
    path_text, attr = ref.rsplit(":", 1)
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file {path} does not exist.")
    try:
        return path, attr, path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"model file {path} cannot be read: {err.strerror or err}.") from None


def _load_object(ref: str, expected: str | None = None) -> tuple[object, str]:
    """(the named object, the SHA-256 of the bytes that were run); with `expected`, other bytes are not run."""
    path, attr, source = _read(ref)
    digest = hashlib.sha256(source).hexdigest()
    if expected and digest != expected:
        raise ModelLoadError(f"{path} has SHA-256 {digest[:16]}…, not the {expected[:16]}… recorded when this run "
                             f"started: the file changed since, so it was not run.")
    module_name = "workbench_user_" + hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up here
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 - the user named this file
    except KeyboardInterrupt:
        sys.modules.pop(module_name, None)
        raise
    except BaseException as err:  # the user's code, SystemExit included: any error is theirs to read
        sys.modules.pop(module_name, None)
        raise ModelLoadError(f"{path} failed to load: {type(err).__name__}: {err}") from err
    if not hasattr(module, attr):
        raise ModelLoadError(f"{path} has no {attr!r}; it defines: "
                             f"{', '.join(n for n in vars(module) if not n.startswith('_')) or 'nothing'}.")
    return getattr(module, attr), digest


def load_user_spec(ref: str, sha256: str | None = None) -> ModelSpec:
    obj, digest = _load_object(ref, sha256)
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

    # Task, input and classes are found by a trial forward pass on the dataset (trainers.train.loop).
    return ModelSpec(name=ref, description=f"your model from {ref.rsplit(':', 1)[0]}", seed="user",
                     task="classify", input_shape=None, loss="cross_entropy", builder=build, num_classes=None,
                     sha256=digest)
