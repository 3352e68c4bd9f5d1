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


def build(model: str, dataset: str | None = None, init: str = "default", layer_init: list | None = None,
          freeze: list | None = None) -> tuple[nn.Module, tuple[int, ...]]:
    """The model as a run would start it (`init`, then the per-layer choices), and its input shape for the
    dataset when one is given."""
    from .compat import check_pair
    from .data.registry import DATASETS
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
    if init != "default" or layer_init or freeze:
        from .models.init import apply_layer_settings, init_parameters

        init_parameters(net, init)
        apply_layer_settings(net, list(layer_init or []), list(freeze or []))
    return net, tuple(input_shape)


def report(model: str, dataset: str | None = None, data_dir: str | None = None, init: str = "default",
           layer_init: list | None = None, freeze: list | None = None) -> ModelReport:
    """Inspect a registered (or user) model, for the dataset's input when one is given, initialised as a
    run would start it."""
    net, input_shape = build(model, dataset, init, layer_init, freeze)
    return inspect_model(net, input_shape, name=model)


# ------------------------------------------------------------------- parameters and tensors in files


def save_params(net: nn.Module, path) -> None:
    """`torch.save(net.state_dict(), path)`, as the notes do, written atomically."""
    import os
    from pathlib import Path

    from .errors import WorkbenchError

    path = Path(path).expanduser()
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise WorkbenchError(f"could not write {path}: {err.strerror or err}.") from None


def load_file(path):
    """Tensors saved with torch.save (a tensor, a list or dict of them, a state_dict), loaded the safe way:
    weights_only, so no code in the file runs."""
    from pathlib import Path

    from .errors import CheckpointError

    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"no file at {path}.")
    from .checkpoint import load_weights_only

    return load_weights_only(path, "file")


def load_params(net: nn.Module, path, model: str) -> None:
    """Load a saved state_dict into `net`, refusing one made for another model in one sentence."""
    from .errors import CheckpointError

    state = load_file(path)
    if isinstance(state, dict) and state.get("format") == "workbench-checkpoint":
        state = state.get("model_state")  # a run's checkpoint holds the parameters too
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a model's parameters (a state_dict of named tensors).")
    mine = net.state_dict()
    missing, extra = [k for k in mine if k not in state], [k for k in state if k not in mine]
    if missing or extra:
        raise CheckpointError(f"{path} does not fit {model}: {model} has {', '.join(missing[:3]) or 'no other names'}"
                              f"{' ...' if len(missing) > 3 else ''} where the file has "
                              f"{', '.join(extra[:3]) or 'none'}{' ...' if len(extra) > 3 else ''}.")
    wrong = [k for k in mine if tuple(mine[k].shape) != tuple(state[k].shape)]
    if wrong:
        k = wrong[0]
        raise CheckpointError(f"{path} does not fit {model}: {k} is {tuple(state[k].shape)} in the file but "
                              f"{tuple(mine[k].shape)} in the model.")
    net.load_state_dict(state)
