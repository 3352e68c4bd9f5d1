"""The README's pictures, made again from real runs: SVG screenshots of the app (Textual's own
save_screenshot) on runs this script trains, on generated digits, in a few minutes on two cores.

    .venv/bin/python tools/readme_pictures.py [--out docs/pictures]

It trains an mlp-deep classifier (5 epochs) and an autoencoder (3 epochs) into a scratch runs home, then
draws at 100x30: the picker with its cost panel, the classifier's charts, its test images with their
predictions, its confusion matrix, and the autoencoder's reconstructions. The xterm pictures (real Sixel
pixels, the compare view) come from tools/screenshot.py."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIZE = (100, 30)


def train(out: Path, **settings) -> Path:
    from trainers.backends import claim, train_here
    from trainers.config import RunConfig

    config, lock = claim(RunConfig(out=str(out), dataset="synthetic-digits", device="cpu", **settings))
    for event in train_here(config, lock=lock):
        if type(event).__name__ == "RunFailed":
            raise SystemExit(f"readme_pictures: {out.name} failed: {event.reason}")
    return out


async def shoot(app, keys: list[str], path: Path) -> None:
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):
            await pilot.pause(0.2)
        for key in keys:
            await pilot.press(key)
            for _ in range(10):
                await pilot.pause(0.2)
        app.save_screenshot(filename=path.name, path=str(path.parent))
    print(f"saved {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "pictures"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_RUNS"] = str(Path(tmp) / "runs")
        os.environ["WORKBENCH_PIXELS"] = "0"
        from trainers.config import RunConfig
        from workbench.app import WorkbenchApp

        classifier = train(Path(tmp) / "runs" / "mlp-deep-synthetic-digits", model="mlp-deep", epochs=5)
        autoencoder = train(Path(tmp) / "runs" / "autoencoder-synthetic-digits", model="autoencoder", epochs=3)
        shots = [
            (WorkbenchApp(RunConfig(model="mlp-deep", dataset="synthetic-digits")), [], "picker.svg"),
            (WorkbenchApp(attach=str(classifier)), ["1"], "run-charts.svg"),
            (WorkbenchApp(attach=str(classifier)), ["3"], "run-images.svg"),
            (WorkbenchApp(attach=str(classifier)), ["7"], "run-errors.svg"),
            (WorkbenchApp(attach=str(autoencoder)), ["3"], "reconstructions.svg"),
        ]
        for app, keys, name in shots:
            asyncio.run(shoot(app, keys, out / name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
