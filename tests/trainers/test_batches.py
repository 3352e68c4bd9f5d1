"""The tensor-resident fast path is the same run as the tutorials' straightforward path: for a seed, the
same samples, in the same order, normalised to the same values."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from trainers.data.batches import LoaderBatches, TensorBatches
from trainers.data.registry import load


class PILDigits(Dataset):
    """What torchvision.datasets.MNIST does per item: a PIL image through the transform."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.x[i, 0].numpy(), mode="L")), int(self.y[i])


@pytest.fixture(scope="module")
def digits():
    return load("synthetic-digits", input_shape=(1, 28, 28), extra={"train_size": 1000, "test_size": 10})


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("batch_size", [64, 333])  # 333: a ragged last batch
def test_fast_path_matches_torchvision_transforms_and_dataloader(digits, normalize, batch_size):
    mean, std = digits.mean, digits.std
    steps = [transforms.ToTensor()] + ([transforms.Normalize(mean, std)] if normalize else [])
    slow = DataLoader(PILDigits(digits.train_x, digits.train_y, transforms.Compose(steps)),
                      batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(7))
    fast = TensorBatches(digits.train_x, digits.train_y, batch_size, device=torch.device("cpu"), mean=mean,
                         std=std, normalize=normalize, shuffle=True, generator=torch.Generator().manual_seed(7))
    for _epoch in range(2):  # the second epoch draws a new order from the same generator on both paths
        slow_batches, fast_batches = list(slow), list(fast)
        assert len(slow_batches) == len(fast_batches) == len(fast)
        for (xs, ys), (xf, yf) in zip(slow_batches, fast_batches):
            assert torch.equal(ys, yf)
            assert torch.equal(xs, xf)  # bit for bit, not merely close


def test_fast_path_without_shuffle_keeps_file_order(digits):
    fast = TensorBatches(digits.train_x, digits.train_y, 100, device=torch.device("cpu"), mean=digits.mean,
                         std=digits.std, normalize=False, shuffle=False)
    labels = torch.cat([y for _, y in fast])
    assert torch.equal(labels, digits.train_y)


def test_per_batch_normalisation_when_the_float_copy_does_not_fit(digits, monkeypatch):
    import trainers.data.batches as batches

    kwargs = dict(device=torch.device("cpu"), mean=digits.mean, std=digits.std, normalize=True, shuffle=True)
    whole = list(TensorBatches(digits.train_x, digits.train_y, 64, generator=torch.Generator().manual_seed(1), **kwargs))
    monkeypatch.setattr(batches, "FLOAT_BUDGET", 0)
    per_batch = TensorBatches(digits.train_x, digits.train_y, 64, generator=torch.Generator().manual_seed(1), **kwargs)
    assert per_batch.x.dtype == torch.uint8  # kept compact
    for (a, ya), (b, yb) in zip(whole, per_batch):
        assert torch.equal(a, b) and torch.equal(ya, yb)


def test_dataloader_path_matches_the_fast_path(digits):
    class Items(Dataset):
        def __len__(self):
            return len(digits.train_y)

        def __getitem__(self, i):
            return digits.train_x[i], int(digits.train_y[i])

    kwargs = dict(device=torch.device("cpu"), mean=digits.mean, std=digits.std, normalize=True, shuffle=True)
    fast = TensorBatches(digits.train_x, digits.train_y, 50, generator=torch.Generator().manual_seed(3), **kwargs)
    loader = LoaderBatches(Items(), 50, generator=torch.Generator().manual_seed(3), workers=0, **kwargs)
    for (a, ya), (b, yb) in zip(fast, loader):
        assert torch.equal(a, b) and torch.equal(ya, yb)


def test_limit_cuts_the_epoch(digits):
    fast = TensorBatches(digits.train_x, digits.train_y, 10, device=torch.device("cpu"), mean=digits.mean,
                         std=digits.std, normalize=False, shuffle=False, limit=3)
    assert len(fast) == 3 and len(list(fast)) == 3
    assert np.isclose(next(iter(fast))[0].max().item(), digits.train_x[:10].max().item() / 255)
