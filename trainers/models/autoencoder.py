"""The convolutional autoencoder of seed 000."""

from __future__ import annotations

import torch
from torch import nn


class ConvAutoencoder(nn.Module):
    """1x28x28 -> 32x1x1 code -> 1x28x28 in [0, 1]; trained with MSE against its input."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 7),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 32, 7), nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
