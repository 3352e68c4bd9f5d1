"""The model zoo. `MODELS` maps names to specs; `get_spec()` also accepts `path/to/file.py:Name`."""

from .registry import MODELS, ModelSpec, is_user_model

__all__ = ["MODELS", "ModelSpec", "get_spec", "is_user_model"]


def get_spec(name: str) -> ModelSpec:
    """The spec for a registered name or a user's `file.py:Name`; raises ConfigError / ModelLoadError."""
    if is_user_model(name):
        from .user import load_user_spec

        return load_user_spec(name)
    if name not in MODELS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)} (or path/to/file.py:ClassName).")
    return MODELS[name]
