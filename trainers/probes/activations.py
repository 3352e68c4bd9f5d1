"""One image through the network: every leaf layer's output for a few fixed test images.

Forward hooks on the leaf modules (those without children) record each call in order, so a module used
twice (tied weights) appears twice and functional ops (F.relu) are folded into the next module's input,
not shown. Outputs with spatial maps (C, H, W) keep their first MAPS channels as uint8 images, each
scaled by its own min and max (the raw range is kept beside it), at most MAP_SIDE pixels a side.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..events import Activations, LayerActivation

IMAGES = 4  # test images walked through the network (the first of the Predictions ones)
MAPS = 6  # channels kept as images per layer
MAP_SIDE = 32  # larger maps are area-averaged down to this many pixels a side: a terminal shows no more,
# and the log keeps every epoch's maps
NONLINEAR = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
             nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign)


def _scaled_maps(out: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uint8 maps, raw lows, raw highs) of the first k channels of (N, C, H, W), each map to 0..255."""
    maps = out[:, :k].float()
    low = maps.amin(dim=(2, 3), keepdim=True)
    high = maps.amax(dim=(2, 3), keepdim=True)
    # a constant map (a dead ReLU channel) is drawn black rather than divided by zero
    scaled = (maps - low) / (high - low).clamp_min(1e-12)
    h, w = scaled.shape[2:]
    if max(h, w) > MAP_SIDE:
        r = MAP_SIDE / max(h, w)
        scaled = F.interpolate(scaled, size=(max(1, round(h * r)), max(1, round(w * r))), mode="area")
    image = (scaled * 255).round().clamp(0, 255).to(torch.uint8)
    return image.cpu().numpy(), low.flatten(1).cpu().numpy().astype(np.float32), \
        high.flatten(1).cpu().numpy().astype(np.float32)


def walk(model: nn.Module, x: torch.Tensor) -> list[tuple[str, str, torch.Tensor]]:
    """(name, type, output) of every leaf module call while `model(x)` runs, in call order (eval, no grad)."""
    calls: list[tuple[str, str, torch.Tensor]] = []
    seen: dict[str, int] = {}
    handles = []

    def hook_for(name: str):
        def hook(module, _inputs, output):
            if isinstance(output, torch.Tensor):
                seen[name] = seen.get(name, 0) + 1
                label = name if seen[name] == 1 else f"{name}#{seen[name]}"
                calls.append((label, type(module).__name__, output.detach()))
        return hook

    leaves = [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]
    if not leaves:  # a model that is one module: its own output is the one layer
        leaves = [(type(model).__name__, model)]
    was_training = model.training
    try:
        for name, module in leaves:
            handles.append(module.register_forward_hook(hook_for(name)))
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return calls


def activations(model: nn.Module, epoch: int, x: torch.Tensor, images_uint8: torch.Tensor, labels,
                classes: tuple[str, ...]) -> Activations:
    """The Activations event of `x` (float, on the model's device; `images_uint8` the same images)."""
    modules = dict(model.named_modules())
    layers: list[LayerActivation] = []
    previous: LayerActivation | None = None
    for name, kind, out in walk(model, x):
        flat = out.float().reshape(out.shape[0], -1)
        maps = low_k = high_k = None
        if out.dim() == 4 and out.shape[2] * out.shape[3] > 1:
            maps, low_k, high_k = _scaled_maps(out, MAPS)
        module = modules.get(name.split("#")[0])
        follows = None
        if (isinstance(module, NONLINEAR) and previous is not None and previous.maps is not None
                and maps is not None and tuple(previous.shape) == tuple(out.shape[1:])):
            follows = previous.name
        stats = torch.stack([flat.amin(1), flat.amax(1), flat.mean(1)]).cpu().tolist()  # one read for all three
        layer = LayerActivation(name=name, kind=kind, shape=tuple(out.shape[1:]), low=tuple(stats[0]),
                                high=tuple(stats[1]), mean=tuple(stats[2]), maps=maps, map_low=low_k,
                                map_high=high_k, follows=follows)
        layers.append(layer)
        previous = layer
    return Activations(epoch=epoch, images=images_uint8.cpu().numpy(), labels=tuple(int(v) for v in labels),
                       classes=tuple(classes), layers=tuple(layers))
