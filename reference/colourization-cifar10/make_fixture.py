"""Write a small synthetic CIFAR-10-format data set (the shipped fixture).

    python make_fixture.py [--out DIR] [--seed 0]

Default output: assignments/colourization-cifar10/data/cifar-10-batches-py/ with
``data_batch_1`` (400 horses + 20 of each other class = 580 images), ``test_batch``
(100 horses + 10 of each other class = 190 images) and ``batches.meta``, in the real
CIFAR-10 python format, written by the project's one CIFAR writer
(``grader.datasets.cifar.write_cifar``; pickle protocol 4, loads with
``pickle.load(f, encoding='bytes')`` like the real Python-2 pickles).
About 2.3 MB in all.

Horses (label 7) are procedural 32x32 scenes: a blue sky (vertical gradient, sometimes
hazy/overcast) over textured green (sometimes dry, yellowish) grass with a slightly tilted
horizon, optional dark-green trees on the horizon, and a horse made of an elliptic body,
four legs, a neck, a head and a dark mane/tail; coats are chestnut, bay, dark brown, black,
grey or white, facing left or right.  Colour is therefore largely predictable from the grey
structure (bright smooth top = sky, textured bottom = grass, the compact blob = horse), so
a small CNN learns something in a few epochs.  The other nine classes are simple
coloured shapes on plain backgrounds; they only make all ten labels present.
Everything is drawn with numpy from one seeded generator, so the files are reproducible.
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import _paths  # noqa: F401 - the assignment's cifar.py on sys.path
from cifar import DEFAULT_DATA, HORSE, LABEL_NAMES
from grader.datasets.cifar import write_cifar  # on sys.path via cifar (the project's one CIFAR writer)

N_TRAIN_HORSES, N_TEST_HORSES = 400, 100
N_TRAIN_OTHER, N_TEST_OTHER = 20, 10     # per non-horse class

YY, XX = np.mgrid[0:32, 0:32].astype(np.float32)

COATS = {  # name: (RGB, weight)
    "chestnut": ((150, 80, 40), 3), "bay": ((110, 60, 30), 3), "dark": ((70, 42, 25), 2),
    "black": ((35, 30, 30), 1), "grey": ((150, 148, 145), 1), "white": ((225, 220, 210), 1),
}


def _jitter(rng, rgb, amount=15):
    return np.clip(np.asarray(rgb, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _paint(img, mask, rgb):
    img[:, mask] = np.asarray(rgb, np.float32)[:, None]


def horse_image(rng: np.random.Generator) -> np.ndarray:
    img = np.empty((3, 32, 32), np.float32)
    # --- background: sky over grass, slightly tilted horizon
    horizon = rng.uniform(11, 20) + rng.uniform(-0.15, 0.15) * (XX - 16)
    sky_mask = YY < horizon
    overcast = rng.random() < 0.2
    top = _jitter(rng, (175, 185, 195) if overcast else (80, 140, 215), 20)
    bottom = _jitter(rng, (205, 210, 215) if overcast else (170, 200, 235), 15)
    t = np.clip(YY / np.maximum(horizon, 1.0), 0, 1)
    sky = top[:, None, None] * (1 - t) + bottom[:, None, None] * t
    dry = rng.random() < 0.2
    grass_rgb = _jitter(rng, (165, 150, 80) if dry else (70, 135, 50), 15)
    depth = np.clip((YY - horizon) / 16, 0, 1)          # darker towards the viewer
    grass = grass_rgb[:, None, None] * (1.05 - 0.3 * depth)
    grass = grass * (1 + 0.12 * rng.standard_normal((1, 32, 32)))  # texture
    img[:] = np.where(sky_mask[None], sky, grass)
    # trees on the horizon
    for _ in range(rng.integers(0, 3)):
        cx, r = rng.uniform(0, 32), rng.uniform(2, 4.5)
        cy = horizon - r * 0.5
        m = ((XX - cx) ** 2 + ((YY - cy) * 1.2) ** 2) < r * r
        _paint(img, m, _jitter(rng, (35, 75, 35), 10))
    # --- horse
    names = list(COATS)
    w = np.array([COATS[n][1] for n in names], np.float64)
    coat = _jitter(rng, COATS[names[rng.choice(len(names), p=w / w.sum())]][0], 12)
    mane = coat * 0.45 if coat.mean() > 60 else coat * 0.6 + 10
    scale = rng.uniform(0.8, 1.2)
    rx, ry = 7.5 * scale, 4.0 * scale
    cx = rng.uniform(11, 21)
    cy = np.clip(horizon.mean() + rng.uniform(-1, 4), 10, 21)
    d = 1 if rng.random() < 0.5 else -1                 # facing right (+1) or left
    leg_len = rng.uniform(5, 7) * scale
    body = (((XX - cx) / rx) ** 2 + ((YY - cy) / ry) ** 2) < 1
    legs = np.zeros_like(body)
    for off in (-0.75, -0.45, 0.45, 0.75):
        lx = cx + off * rx + rng.uniform(-0.7, 0.7)
        legs |= (np.abs(XX - lx) < 0.9 * scale) & (YY > cy) & (YY < cy + ry * 0.6 + leg_len)
    # neck: a thick segment from the front of the body up and forward
    nx0, ny0 = cx + d * 0.7 * rx, cy - 0.3 * ry
    nx1, ny1 = nx0 + d * 2.5 * scale, ny0 - 5.5 * scale
    seg = np.stack([nx1 - nx0, ny1 - ny0]); L2 = float((seg ** 2).sum())
    tproj = np.clip(((XX - nx0) * seg[0] + (YY - ny0) * seg[1]) / L2, 0, 1)
    neck = ((XX - nx0 - tproj * seg[0]) ** 2 + (YY - ny0 - tproj * seg[1]) ** 2) < (1.6 * scale) ** 2
    hx, hy = nx1 + d * 1.8 * scale, ny1 + 0.8 * scale
    head = (((XX - hx) / (2.6 * scale)) ** 2 + ((YY - hy) / (1.3 * scale)) ** 2) < 1
    mane_m = neck & (((XX - nx0) * seg[1] - (YY - ny0) * seg[0]) * d > 0.6 * np.sqrt(L2) * scale)
    tail = (np.abs(XX - (cx - d * (rx + 0.8))) < 0.8 * scale) & (YY > cy - ry * 0.5) & (YY < cy + ry + 2)
    shade = 1 - 0.18 * np.clip((YY - (cy - ry)) / (2 * ry), 0, 1)     # lighter back, darker belly
    horse = body | legs | neck | head
    img[:, horse] = (coat[:, None, None] * shade[None])[:, horse]
    _paint(img, mane_m | tail, mane)
    # --- sensor noise, optional flip
    img += rng.normal(0, 4, img.shape)
    if rng.random() < 0.5:
        img = img[:, :, ::-1]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def other_image(rng: np.random.Generator, label: int) -> np.ndarray:
    """Non-horse classes: a class-tinted shape on a plain background (label presence only)."""
    hue = np.array([[200, 200, 230], [200, 40, 40], [120, 90, 160], [200, 150, 90], [150, 110, 60],
                    [180, 160, 120], [60, 140, 60], [0, 0, 0], [60, 90, 170], [220, 200, 40]],
                   np.float32)[label]
    bg = _jitter(rng, rng.uniform(40, 220, 3), 0)
    img = np.broadcast_to(bg[:, None, None], (3, 32, 32)).copy()
    cx, cy, r = rng.uniform(8, 24), rng.uniform(8, 24), rng.uniform(4, 10)
    m = (np.abs(XX - cx) < r) & (np.abs(YY - cy) < r * 0.6) if label % 2 else \
        ((XX - cx) ** 2 + (YY - cy) ** 2) < r * r
    _paint(img, m, _jitter(rng, hue, 25))
    img += rng.normal(0, 4, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def make_split(rng, n_horses, n_other):
    """-> images uint8 (N, 32, 32, 3) (HWC, as grader.datasets.cifar takes them), labels int64 (N,)."""
    labels = [HORSE] * n_horses + [c for c in range(10) if c != HORSE for _ in range(n_other)]
    labels = np.array(labels)[rng.permutation(len(labels))]
    imgs = np.stack([horse_image(rng) if y == HORSE else other_image(rng, int(y)) for y in labels])
    return np.ascontiguousarray(imgs.transpose(0, 2, 3, 1)), labels.astype(np.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(DEFAULT_DATA, "cifar-10-batches-py"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    trx, try_ = make_split(rng, N_TRAIN_HORSES, N_TRAIN_OTHER)
    tex, tey = make_split(rng, N_TEST_HORSES, N_TEST_OTHER)
    out = write_cifar(args.out, trx, try_, tex, tey, n_train_batches=1, label_names=LABEL_NAMES)
    print(f"wrote {len(try_)} train / {len(tey)} test images "
          f"({int((try_ == HORSE).sum())} / {int((tey == HORSE).sum())} horses) to {out}")


if __name__ == "__main__":
    main()
