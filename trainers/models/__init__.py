"""The model zoo. `MODELS` maps names to specs; `get_spec()` also accepts `path/to/file.py:Name`.

A run folder is data, never code: `trusted_model()` decides which model a command may rebuild for a folder
or checkpoint that someone else may have written."""

from __future__ import annotations

from pathlib import Path

from .registry import MODELS, ModelSpec, is_user_model

__all__ = ["MODELS", "ModelSpec", "get_spec", "is_user_model", "resume_command", "trusted_model"]


def get_spec(name: str, sha256: str | None = None) -> ModelSpec:
    """The spec for a registered name or a user's `file.py:Name` (run only if its bytes have `sha256`, when
    given: a resumed run's file must be the one it trained with); raises ConfigError / ModelLoadError."""
    if is_user_model(name):
        from .user import load_user_spec

        return load_user_spec(name, sha256)
    if name not in MODELS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)} (or path/to/file.py:ClassName).")
    return MODELS[name]


def resume_command(name: str, model) -> str:
    """The command that continues a run: a run of a user's file names the file, since a resume runs it only
    when its user names it (trusted_model)."""
    named = f" --model {model}" if isinstance(model, str) and is_user_model(model) else ""
    return f"workbench train --resume {name}{named}"


def trusted_model(saved, saved_sha256, given: str | None, source: str) -> str:
    """The model a command may build for `source` (a run or checkpoint, named in the sentence), which says
    its model is `saved` (with `saved_sha256`, the digest recorded when it trained). A zoo name is looked up
    in the registry, and nothing else; a user's file runs only when this command's user names it (`given`,
    `--model FILE:Name`) and its bytes still have the recorded SHA-256. Returns the name to build; raises
    UntrustedCode (or ConfigError, ModelLoadError) with one sentence otherwise. Reads the file, runs nothing."""
    from ..errors import ConfigError, UntrustedCode

    if not isinstance(saved, str) or not saved:
        raise ConfigError(f"{source} names no model; give --model with the model it was trained with.")
    if saved in MODELS:
        if given and given != saved:
            raise ConfigError(f"{source} holds a {saved} model, not {given}.")
        return saved
    if not is_user_model(saved):
        raise UntrustedCode(f"{source} names the model {saved[:120]!r}, which is neither one of the workbench's "
                            f"models nor a file.py:Name, so nothing was run.")
    path, attr = saved.rsplit(":", 1)
    digest = f"SHA-256 {saved_sha256[:16]}…" if isinstance(saved_sha256, str) and saved_sha256 else "no SHA-256 recorded"
    if not given or not is_user_model(given):
        raise UntrustedCode(f"{source} was trained with the model file {path} ({attr}, {digest}); a run folder never "
                            f"chooses code to run, so name it yourself to allow it: --model {saved}")
    given_path, given_attr = given.rsplit(":", 1)
    if given_attr != attr:
        raise UntrustedCode(f"{source} was trained with {attr} from {path}, not {given_attr}; --model {given_path}:{attr} "
                            f"names it.")
    from .user import file_sha256

    file = Path(given_path).expanduser()
    if not file.is_file():
        from ..errors import ModelLoadError

        raise ModelLoadError(f"model file {file} does not exist.")
    actual = file_sha256(file)
    if isinstance(saved_sha256, str) and saved_sha256 and actual != saved_sha256:
        raise UntrustedCode(f"{file} has SHA-256 {actual[:16]}…, not the {saved_sha256[:16]}… that {source} recorded "
                            f"when it trained: the file changed since, or is another one, so it was not run.")
    return given
