"""The model zoo: names, what each is, where it comes from, what it expects. Importing this module does
not import torch; `build()` does."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

SEED_000 = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-5, "batch_size": 32, "normalize": False}
SEED_001 = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.5, "batch_size": 64, "epochs": 10, "normalize": True}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    seed: str  # which tutorial it comes from ("000".."004", or "user")
    task: str  # "classify" or "reconstruct"
    input_shape: tuple[int, int, int] | None  # (C, H, W); None: takes the dataset's (user models)
    loss: str  # "cross_entropy" (logits), "nll" (log-probabilities) or "mse" (reconstruction)
    builder: str | Callable[..., Any]  # "module:attr" (imported on build) or a callable
    num_classes: int | None = 10  # outputs of a classifier; None for reconstruction
    defaults: dict = field(default_factory=dict)  # the seed's own hyperparameters
    sha256: str | None = None  # a user's file: the SHA-256 of the bytes that were run

    def build(self, num_classes: int | None = None):
        """Instantiate the network (imports torch). A classifier may be built for another class count."""
        factory = self.builder
        if isinstance(factory, str):
            module_name, attr = factory.split(":")
            factory = getattr(importlib.import_module(module_name), attr)
        if self.task == "classify" and self.seed != "user":
            return factory(num_classes=num_classes or self.num_classes)
        return factory()


def _spec(name, description, seed, task, shape, loss, builder, num_classes=10, **defaults) -> ModelSpec:
    return ModelSpec(name, description, seed, task, shape, loss, builder, num_classes, defaults)


_M = "trainers.models."
MNIST_SHAPE = (1, 28, 28)

MODELS: dict[str, ModelSpec] = {s.name: s for s in [
    _spec("mlp-scratch", "784-256-10 MLP from a hand-written Linear layer (nn.Parameter weight, bias)", "000",
          "classify", MNIST_SHAPE, "cross_entropy", _M + "mlp:MLPScratch", epochs=5, **SEED_000),
    _spec("mlp", "784-256-10 MLP with nn.Linear", "000", "classify", MNIST_SHAPE, "cross_entropy",
          _M + "mlp:MLP", epochs=5, **SEED_000),
    _spec("mlp-deep", "784-512-256-128-64-10 MLP with ReLU", "001", "classify", MNIST_SHAPE, "cross_entropy",
          _M + "mlp:mlp_deep", **SEED_001),
    _spec("mlp-wide", "Flatten, 784-512-512-10 MLP (the Fashion-MNIST NeuralNetwork)", "003", "classify",
          MNIST_SHAPE, "cross_entropy", _M + "mlp:NeuralNetwork",
          optimizer="adam", lr=1e-3, batch_size=64, epochs=5, normalize=False),
    _spec("mnistnet", "784-28-10 MLP ending in log_softmax, NLL loss", "004", "classify", MNIST_SHAPE, "nll",
          _M + "mlp:MnistNet", optimizer="adam", lr=1e-3, batch_size=64, epochs=5, normalize=True),
    _spec("cnn-strided", "three stride-2 convolutions to 64 features, then 64-120-10", "000", "classify",
          MNIST_SHAPE, "cross_entropy", _M + "cnn:StridedCNN", epochs=5, **SEED_000),
    _spec("cnn-pool", "conv 1-10-20 (5x5) with max pooling, 320-10", "001", "classify", MNIST_SHAPE,
          "cross_entropy", _M + "cnn:PooledCNN", **SEED_001),
    _spec("resnet-small", "two convolutions each followed by a residual block, 512-10", "001", "classify",
          MNIST_SHAPE, "cross_entropy", _M + "cnn:ResNetSmall", **SEED_001),
    _spec("lenet5", "LeNet-5: sigmoid and average pooling, 400-120-84-10 (d2l)", "002", "classify",
          MNIST_SHAPE, "cross_entropy", _M + "cnn:lenet5",
          optimizer="sgd", lr=0.9, momentum=0.0, batch_size=256, epochs=10, init="xavier", normalize=False),
    _spec("mlp-tied", "784-256 MLP whose hidden 256-256 layer is used twice (tied parameters, d2l)", "002",
          "classify", MNIST_SHAPE, "cross_entropy", _M + "mlp:TiedMLP",
          optimizer="adam", lr=1e-3, batch_size=64, epochs=5, normalize=False),
    _spec("autoencoder", "convolutional autoencoder: 28x28 -> 32 code -> 28x28, Sigmoid output", "000",
          "reconstruct", MNIST_SHAPE, "mse", _M + "autoencoder:ConvAutoencoder", None, epochs=10, **SEED_000),
    _spec("catdog-cnn", "five convolutions with max pooling for 3x128x128 images, 32-16-2", "002", "classify",
          (3, 128, 128), "cross_entropy", _M + "cnn:CatDogCNN", 2,
          optimizer="adam", lr=1e-3, batch_size=128, epochs=30, normalize=False),
]}


def is_user_model(name: str) -> bool:
    return ":" in name and name.split(":", 1)[0].endswith(".py")
