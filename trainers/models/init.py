"""Initialising a model's parameters as the d2l chapters do: the whole model by one rule (--init), and layer
by layer (--layer-init NAME=HOW), and freezing layers (--freeze). Used by a run, the cost estimate and
inspect alike, so the three always start from the same weights."""

from __future__ import annotations

import torch

from ..config import parse_layer_init
from ..errors import ConfigError

INITS = {
    "normal": lambda w: torch.nn.init.normal_(w, mean=0.0, std=0.01),
    "xavier": torch.nn.init.xavier_uniform_,
    "kaiming": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "constant": lambda w: torch.nn.init.constant_(w, 1.0),
}


def init_parameters(model: torch.nn.Module, how: str) -> None:
    """The d2l chapter's initialisations: weights (2-D and up) by `how`, biases to zero."""
    if how == "default":
        return
    fill = INITS[how]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fill(p)
            elif name.endswith("bias"):
                p.zero_()


def apply_layer_settings(model: torch.nn.Module, layer_init: list, freeze: list) -> None:
    """Per-layer choices, as the d2l notes make them one block at a time: an initialisation for the named
    layer's parameters (weights by the rule, biases to zero; "zeros" and "constant:V" set the weights to
    that, biases to zero), and frozen layers whose parameters are not trained."""
    modules = dict(model.named_modules())
    with_params = [n for n, m in modules.items() if n and any(True for _ in m.parameters(recurse=False))]

    def module(name: str) -> torch.nn.Module:
        if name not in modules or not name:
            shown = ", ".join(with_params[:12]) + (", ..." if len(with_params) > 12 else "")
            raise ConfigError(f"the model has no layer named {name!r}; its layers with parameters: {shown}.")
        return modules[name]

    with torch.no_grad():
        for item in layer_init:
            name, how, value = parse_layer_init(item)
            layer = module(name)
            if how == "default":
                continue
            for pname, p in layer.named_parameters():
                weight = p.dim() >= 2 or not pname.endswith("bias")
                if not weight:
                    p.zero_()
                elif how == "zeros":
                    p.zero_()
                elif how == "constant":
                    p.fill_(value)
                elif p.dim() >= 2:
                    INITS[how](p)
                else:  # a 1-D weight (a hand-written layer's vector): normal is the one rule that fits
                    torch.nn.init.normal_(p, mean=0.0, std=0.01)
    for name in freeze:
        for p in module(name.strip()).parameters():
            p.requires_grad_(False)
