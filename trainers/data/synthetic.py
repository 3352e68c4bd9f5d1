"""Procedural handwritten-looking digits: 28x28 grayscale 0-9, no files, no download.

Each digit is a few pen strokes (polylines and elliptic arcs) in a unit box. Every sample picks one of
the digit's variants (a 7 with or without a bar, an open or closed 4, ...), wobbles the control points,
applies a random slant, rotation, scale and shift, and draws the strokes with Pillow at twice the size
and a random pen width; the 2x reduction anti-aliases the strokes. Noise and contrast changes are added
afterwards, vectorised over the whole batch.
"""

from __future__ import annotations

import math

import numpy as np

SIZE = 28
_SCALE = 2  # drawn at 56x56, reduced to 28x28
_STREAMS = {"train": 0, "test": 1}  # separate random streams, so test images are never train images
DRAWING = 1  # the generator's version: change it whenever a change to generate() changes the images


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int | None = None) -> list:
    """Points on an ellipse from angle a0 to a1 in degrees (0 = right, 90 = down: y grows downwards)."""
    n = n or max(4, int(abs(a1 - a0) / 20))
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in np.linspace(a0, a1, n)]


# Digit -> variants -> strokes -> points, in a unit box (x right, y down). Lines are two-point strokes.
_TEMPLATES: dict[int, list[list[list[tuple[float, float]]]]] = {
    0: [[_arc(0.5, 0.5, 0.28, 0.42, -90, 275)],
        [_arc(0.5, 0.5, 0.24, 0.40, -120, 250) + [(0.62, 0.12)]]],
    1: [[[(0.5, 0.08), (0.5, 0.92)]],
        [[(0.32, 0.26), (0.52, 0.08), (0.5, 0.92)]],
        [[(0.34, 0.24), (0.52, 0.08), (0.5, 0.92)], [(0.32, 0.92), (0.68, 0.92)]]],
    2: [[_arc(0.5, 0.32, 0.26, 0.23, 200, 370) + [(0.22, 0.9), (0.8, 0.9)]],
        [_arc(0.48, 0.3, 0.24, 0.22, 190, 380) + _arc(0.4, 0.85, 0.12, 0.07, -60, -200, 6) + [(0.8, 0.9)]]],
    3: [[_arc(0.48, 0.3, 0.24, 0.21, -160, 95) + _arc(0.48, 0.7, 0.28, 0.22, -95, 160)],
        [[(0.25, 0.1), (0.72, 0.1), (0.45, 0.45)] + _arc(0.48, 0.68, 0.28, 0.23, -80, 160)]],
    4: [[[(0.62, 0.08), (0.18, 0.64), (0.84, 0.64)], [(0.64, 0.3), (0.64, 0.93)]],
        [[(0.22, 0.08), (0.2, 0.55), (0.8, 0.55)], [(0.66, 0.1), (0.66, 0.93)]]],
    5: [[[(0.76, 0.1), (0.32, 0.1), (0.28, 0.46)] + _arc(0.48, 0.67, 0.27, 0.24, -125, 155)],
        [[(0.3, 0.1), (0.27, 0.46)] + _arc(0.48, 0.67, 0.27, 0.24, -125, 155), [(0.3, 0.1), (0.78, 0.1)]]],
    6: [[[(0.68, 0.08), (0.46, 0.24), (0.3, 0.48)] + _arc(0.5, 0.7, 0.22, 0.21, 180, 540)],
        [_arc(0.72, 0.62, 0.45, 0.54, -110, -180, 5) + _arc(0.5, 0.72, 0.22, 0.19, 180, 520)]],
    7: [[[(0.2, 0.1), (0.8, 0.1), (0.4, 0.92)]],
        [[(0.2, 0.1), (0.8, 0.1), (0.42, 0.92)], [(0.34, 0.52), (0.72, 0.5)]],
        [[(0.2, 0.2), (0.26, 0.1), (0.8, 0.1), (0.5, 0.92)]]],
    8: [[_arc(0.5, 0.29, 0.21, 0.19, 90, 450), _arc(0.5, 0.7, 0.26, 0.22, -90, 270)],
        [_arc(0.5, 0.29, 0.2, 0.19, 120, 400) + _arc(0.5, 0.7, 0.26, 0.22, -80, 260)]],
    9: [[_arc(0.48, 0.32, 0.23, 0.21, 0, 360), [(0.71, 0.3), (0.64, 0.92)]],
        [_arc(0.48, 0.32, 0.23, 0.21, 10, 370) + [(0.7, 0.5), (0.52, 0.92)]]],
}


def _prepare() -> dict[int, list[tuple]]:
    """Per digit and variant: all points (P, 2), each stroke's slice, a (P, 2S) matrix that spreads a
    random offset of each stroke's two ends along the stroke (the wobble), and where to put round dabs."""
    out: dict[int, list[tuple]] = {}
    for digit, variants in _TEMPLATES.items():
        out[digit] = []
        for strokes in variants:
            arrays = [np.asarray(s, dtype=np.float64) for s in strokes]
            interp = np.zeros((sum(len(a) for a in arrays), 2 * len(arrays)))
            slices, dabs, start = [], [], 0
            for k, a in enumerate(arrays):
                t = np.linspace(0, 1, len(a))
                interp[start:start + len(a), 2 * k] = 1 - t
                interp[start:start + len(a), 2 * k + 1] = t
                slices.append(slice(start, start + len(a)))
                # A thick polyline is notched at sharp turns (and square at its ends); a round dab of
                # ink there is much cheaper than Pillow's joint="curve".
                d = np.diff(a, axis=0)
                turn = np.abs((np.diff(np.arctan2(d[:, 1], d[:, 0])) + np.pi) % (2 * np.pi) - np.pi)
                dabs += [start, start + len(a) - 1] + [start + 1 + int(j) for j in np.flatnonzero(turn > 0.5)]
                start += len(a)
            out[digit].append((np.concatenate(arrays), slices, interp, sorted(set(dabs))))
    return out


_VARIANTS = _prepare()


def generate(n: int, seed: int = 0, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """`n` digits as uint8 (n, 1, 28, 28) images and int64 (n,) labels, balanced over 0-9 and shuffled.

    The same (n, seed, split) always gives the same arrays; "train" and "test" use independent streams.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng([seed, _STREAMS[split]])
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    big = SIZE * _SCALE

    # Per-sample pen and geometry: unit box -> pixels via scale, slant (x moves with height), rotation.
    angle = np.radians(rng.normal(0, 8, n))
    slant = rng.normal(0.12, 0.16, n)
    sx = rng.uniform(0.62, 0.9, n) * big
    sy = rng.uniform(0.62, 0.9, n) * big
    cos, sin = np.cos(angle), np.sin(angle)
    mat = np.empty((n, 2, 2))  # rotation @ [[sx, -slant*sy], [0, sy]], transposed for row vectors
    mat[:, 0, 0], mat[:, 1, 0] = cos * sx, -cos * slant * sy - sin * sy
    mat[:, 0, 1], mat[:, 1, 1] = sin * sx, -sin * slant * sy + cos * sy
    offset = big / 2 + rng.normal(0, 0.06, (n, 2)) * big
    width = np.rint(rng.uniform(2.2, 6.0, n)).astype(int)
    wobble = rng.uniform(0.01, 0.04, n)
    choice = rng.integers(0, 6, n)

    # Transform every sample's points in batches of the same digit variant, then only draw per sample.
    points: list = [None] * n
    for digit, variants in _VARIANTS.items():
        for v, (pts, slices, interp, dabs) in enumerate(variants):
            idx = np.flatnonzero((labels == digit) & (choice % len(variants) == v))
            if not len(idx):
                continue
            w = wobble[idx, None, None]
            ends = rng.normal(0, 1, (len(idx), interp.shape[1], 2)) * w
            p = pts + interp @ ends + rng.normal(0, 1, (len(idx),) + pts.shape) * (w / 3)
            p = (p - 0.5) @ mat[idx] + offset[idx, None, :]
            for j, i in enumerate(idx):
                points[i] = (p[j].tolist(), slices, dabs)

    img = Image.new("L", (big, big))
    draw = ImageDraw.Draw(img)
    out = bytearray()
    for i in range(n):
        pts, slices, dabs = points[i]
        w = int(width[i])
        r = w / 2 - 0.5
        img.paste(0, (0, 0, big, big))
        for s in slices:
            draw.line(pts[s], fill=255, width=w)
        for k in dabs:
            x, y = pts[k]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        out += img.reduce(_SCALE).tobytes()
    images = np.frombuffer(out, dtype=np.uint8).reshape(n, SIZE, SIZE)

    # Ink intensity, background level, pixel noise and the odd speckle, for the whole batch at once.
    x = images.astype(np.float32)
    x *= rng.uniform(0.55, 1.0, (n, 1, 1)).astype(np.float32)
    x += rng.uniform(0, 30, (n, 1, 1)).astype(np.float32)
    noise_level = rng.uniform(4, 24, (n, 1, 1)).astype(np.float32)
    x += rng.normal(0, 1, (n, SIZE, SIZE)).astype(np.float32) * noise_level
    speckle = rng.random((n, SIZE, SIZE), dtype=np.float32) < 0.01
    x[speckle] = rng.uniform(80, 255, int(speckle.sum())).astype(np.float32)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)[:, None], labels

