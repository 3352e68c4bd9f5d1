import pytest

from trainers import RunConfig

TINY = {"train_size": 256, "test_size": 64}


@pytest.fixture(autouse=True)
def _isolated_data(tmp_path_factory, monkeypatch):
    # Tests never read the user's data directory or write runs into the checkout.
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("WORKBENCH_RUNS", str(tmp_path_factory.getbasetemp() / "runs"))


def tiny_config(**overrides) -> RunConfig:
    """A run of a few small batches on generated digits: seconds, no files, no network."""
    base = dict(model="mlp", dataset="synthetic-digits", epochs=1, batch_size=32, limit_batches=3,
                limit_test_batches=1, log_every=1, extra=dict(TINY), device="cpu")
    base.update(overrides)
    return RunConfig(**base)
