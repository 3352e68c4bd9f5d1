"""Convolutional classifiers from seeds 000, 001 and 002."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class StridedCNN(nn.Module):
    """Three convolutions (stride 2, 2, then a 7x7 to 1x1) -> 64 -> 120 -> 10 (seed 000)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 7),
        )
        self.classifier = nn.Sequential(nn.Linear(64, 120), nn.ReLU(), nn.Linear(120, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


class PooledCNN(nn.Module):
    """Conv(1,10,5) MaxPool ReLU Conv(10,20,5) MaxPool ReLU -> 320 -> 10 (seed 001)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.pooling = nn.MaxPool2d(2)
        self.fc = nn.Linear(320, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.pooling(self.conv1(x)))
        x = F.relu(self.pooling(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class ResidualBlock(nn.Module):
    """ReLU(x + conv3x3(ReLU(conv3x3(x)))), channels kept (seed 001)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        return F.relu(x + self.conv2(y))


class ResNetSmall(nn.Module):
    """Conv(1,16,5) MaxPool ReLU RB(16) Conv(16,32,5) MaxPool ReLU RB(32) -> 512 -> 10 (seed 001)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5)
        self.mp = nn.MaxPool2d(2)
        self.rblock1 = ResidualBlock(16)
        self.rblock2 = ResidualBlock(32)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.rblock1(F.relu(self.mp(self.conv1(x))))
        x = self.rblock2(F.relu(self.mp(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


def lenet5(num_classes: int = 10) -> nn.Module:
    """LeNet-5 with sigmoid and average pooling, as in the d2l chapter (seed 002)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
        nn.AvgPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, num_classes),
    )


class CatDogCNN(nn.Module):
    """Five convolutions for 3x128x128 images, then 32 -> 16 -> 2 (the cats-vs-dogs seed 002).

    The seed ends in softmax; here the model returns logits and the loss applies log-softmax, which is
    the same objective without the double softmax.
    """

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()

        def block(cin: int, cout: int, k: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k), nn.ReLU(), nn.MaxPool2d(2))

        self.features = nn.Sequential(
            block(3, 6, 5), block(6, 16, 5), block(16, 32, 4), block(32, 32, 4),
            nn.Conv2d(32, 32, 5), nn.ReLU(),
        )
        self.classifier = nn.Sequential(nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))
