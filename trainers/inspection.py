"""Looking inside a model: the printed tree, every named parameter, totals, shared tensors, and each
layer's output shape for a given input."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ModelLoadError
from .events import ParamInfo


@dataclass(frozen=True)
class LayerShape:
    name: str  # module path, e.g. "features.0"
    kind: str  # class name, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch dimension
    params: int  # parameters owned directly by this module


@dataclass(frozen=True)
class ModelReport:
    model: str
    summary: str
    parameters: list[ParamInfo]
    total: int  # unique parameters (a shared tensor counts once)
    trainable: int
    layers: list[LayerShape]
    input_shape: tuple[int, ...]


def parameter_table(model: nn.Module, first: int = 2) -> list[ParamInfo]:
    seen: dict[int, str] = {}
    rows = []
    for name, p in model.named_parameters(remove_duplicate=False):
        data = p.detach().float().reshape(-1)
        shared = seen.get(id(p))
        seen.setdefault(id(p), name)
        rows.append(ParamInfo(
            name=name, shape=tuple(p.shape), count=p.numel(), trainable=p.requires_grad,
            mean=float(data.mean()) if data.numel() else 0.0,
            std=float(data.std()) if data.numel() > 1 else 0.0,
            first=tuple(data[:first].tolist()), shared_with=shared,
        ))
    return rows


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(all, trainable), counting each tensor once even when two layers share it."""
    unique = {id(p): p for p in model.parameters()}.values()
    return sum(p.numel() for p in unique), sum(p.numel() for p in unique if p.requires_grad)


def layer_shapes(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerShape]:
    """Run one sample through the model and record every leaf module's output shape, in call order."""
    rows: list[LayerShape] = []
    names = {id(m): n for n, m in model.named_modules()}

    def hook(module, _inputs, output):
        if isinstance(output, torch.Tensor):
            rows.append(LayerShape(names.get(id(module), "?"), type(module).__name__, tuple(output.shape[1:]),
                                   sum(p.numel() for p in module.parameters(recurse=False))))

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children()) and m is not model]
    was_training = model.training
    try:
        model.eval()
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.no_grad():
            out = model(torch.zeros(1, *input_shape, device=device))
        if not rows and isinstance(out, torch.Tensor):  # a model with no sub-modules
            rows.append(LayerShape("(model)", type(model).__name__, tuple(out.shape[1:]), 0))
    except Exception as err:
        shape = "x".join(map(str, input_shape))
        raise ModelLoadError(f"the model failed on a {shape} input: {type(err).__name__}: {err}") from err
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return rows


def inspect_model(model: nn.Module, input_shape: tuple[int, ...], name: str = "") -> ModelReport:
    total, trainable = count_parameters(model)
    return ModelReport(model=name or type(model).__name__, summary=str(model), parameters=parameter_table(model),
                       total=total, trainable=trainable, layers=layer_shapes(model, input_shape),
                       input_shape=tuple(input_shape))


def parameter_count(model: str) -> int:
    """A registered model's parameter count: one build, no forward pass (for lists)."""
    from .models import get_spec

    return count_parameters(get_spec(model).build())[0]


def report(model: str, dataset: str | None = None, data_dir: str | None = None) -> ModelReport:
    """Inspect a registered (or user) model, for the dataset's input when one is given."""
    from .compat import check_pair
    from .data import DATASETS
    from .errors import ConfigError
    from .models import get_spec

    spec = get_spec(model)
    input_shape = spec.input_shape
    if dataset is not None:
        reason = check_pair(model, dataset)
        if reason:
            raise ConfigError(reason)
        input_shape = DATASETS[dataset].shape or input_shape
    if input_shape is None:
        input_shape = (1, 28, 28)
    torch.manual_seed(0)
    net = spec.build()
    return inspect_model(net, input_shape, name=model)
