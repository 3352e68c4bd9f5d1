"""Which models fit which datasets, decided from metadata alone (no torch), for the picker and the CLI."""

from __future__ import annotations

from .data.registry import DATASETS
from .models import MODELS, is_user_model


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def check_pair(model: str, dataset: str) -> str | None:
    """None when the pair can train; otherwise one sentence saying what does fit."""
    if dataset not in DATASETS:
        return f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}."
    if is_user_model(model):
        return None  # known only once the file is loaded; the loop checks it with a trial forward pass
    if model not in MODELS:
        return f"unknown model {model!r}; choose one of: {', '.join(MODELS)} (or path/to/file.py:ClassName)."
    spec, info = MODELS[model], DATASETS[dataset]
    if info.shape is None or spec.input_shape is None:
        return None  # image folders are resized and converted to the model's input
    if tuple(spec.input_shape) != tuple(info.shape):
        fits = [n for n, s in MODELS.items() if s.input_shape == tuple(info.shape)]
        return (f"{model} expects {_shape(spec.input_shape)} images but {dataset} has {_shape(info.shape)}; "
                f"use {'image-folder' if spec.input_shape[0] == 3 else 'a 1x28x28 dataset'} for {model}, "
                f"or one of {', '.join(fits)} for {dataset}.")
    return None  # classifiers are built for the dataset's class count


def compatible_datasets(model: str) -> list[str]:
    return [d for d in DATASETS if check_pair(model, d) is None]
