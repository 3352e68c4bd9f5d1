"""Multi-layer perceptrons from seeds 000, 001, 003 and 004."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ScratchLinear(nn.Module):
    """The hand-written layer of seed 000: weight (in, out) and bias as nn.Parameter, y = x @ W + b."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_features, out_features))
        self.bias = nn.Parameter(torch.randn(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mm(self.weight) + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[0]}, out_features={self.weight.shape[1]}"


class MLPScratch(nn.Module):
    """784 -> 256 -> ReLU -> 10 built from ScratchLinear (seed 000)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = ScratchLinear(784, 256)
        self.relu = nn.ReLU()
        self.fc2 = ScratchLinear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 784)
        return self.fc2(self.relu(self.fc1(x)))


class MLP(nn.Module):
    """The same 784-256-10 network with nn.Linear (seed 000)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 784)
        return self.fc2(self.relu(self.fc1(x)))


def mlp_deep(num_classes: int = 10) -> nn.Module:
    """784-512-256-128-64-10 with ReLU (seed 001)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512), nn.ReLU(),
        nn.Linear(512, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(),
        nn.Linear(64, num_classes),
    )


class NeuralNetwork(nn.Module):
    """Flatten -> 784-512-512-10 with ReLU, as the Fashion-MNIST tutorial prints it (seed 003)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(),
            nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_relu_stack(self.flatten(x))


class MnistNet(nn.Module):
    """784-28-10 ending in log_softmax, trained with NLL loss (seed 004)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 28)
        self.fc2 = nn.Linear(28, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 784)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)


class TiedMLP(nn.Module):
    """d2l's tied parameters (seed 002): one hidden Linear used twice, so both uses share one tensor and
    its gradient is the sum of both. 784-256, shared 256-256 twice, 256-10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        shared = nn.Linear(256, 256)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 256), nn.ReLU(),
            shared, nn.ReLU(),
            shared, nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
