"""Generate the shipped CIFAR-format fixture for jem-cifar10 (procedural, seeded).

Ten classes, each a distinct shape/texture drawn with a class-typical hue (jittered),
at a random position and size, on a random dim background, with Gaussian pixel noise.
A small network learns them in a few epochs; nothing is downloaded.

    python reference/jem-cifar10/make_fixture.py            # writes the default fixture
    python reference/jem-cifar10/make_fixture.py --out DIR --train 1000 --test 200 --seed 0

Output: DIR/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}, the real
CIFAR-10 python format (see grader/datasets/cifar.py).
"""
import argparse
import colorsys
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, ROOT)
from grader.datasets.cifar import write_cifar  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "assignments", "jem-cifar10", "data")
LABEL_NAMES = ["disc", "square", "hstripes", "vstripes", "triangle",
               "cross", "ring", "checker", "diagonal", "xshape"]
# class-typical hue (0..1); the hue is jittered so shape, not only colour, matters
HUES = [0.00, 0.08, 0.16, 0.30, 0.45, 0.55, 0.65, 0.75, 0.85, 0.93]


def _mask(cls, rng, yy, xx):
    """Boolean (32,32) foreground mask of class ``cls`` at a random place and size."""
    r = rng.uniform(6, 11)                    # half-size
    cy, cx = rng.uniform(r, 32 - r, size=2)   # centre, keeps the shape mostly inside
    dy, dx = yy - cy, xx - cx
    inside = (np.abs(dy) <= r) & (np.abs(dx) <= r)
    period = rng.uniform(3.0, 5.0)
    phase = rng.uniform(0, period)
    t = max(1.5, r / 3.5)                     # stroke half-width
    if cls == 0:                              # filled disc
        return dy ** 2 + dx ** 2 <= r ** 2
    if cls == 1:                              # filled square
        return inside
    if cls == 2:                              # horizontal stripes in a box
        return inside & (((yy + phase) % period) < period / 2)
    if cls == 3:                              # vertical stripes in a box
        return inside & (((xx + phase) % period) < period / 2)
    if cls == 4:                              # upward triangle
        return (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    if cls == 5:                              # plus / cross
        return inside & ((np.abs(dy) <= t) | (np.abs(dx) <= t))
    if cls == 6:                              # ring
        d = np.sqrt(dy ** 2 + dx ** 2)
        return (d <= r) & (d >= r - 2 * t)
    if cls == 7:                              # checkerboard in a box
        s = period / 2
        return inside & (((np.floor((yy + phase) / s) + np.floor((xx + phase) / s)) % 2) == 0)
    if cls == 8:                              # diagonal stripes, whole image
        return ((yy + xx + phase) % (period * 1.4)) < period * 0.7
    if cls == 9:                              # X shape
        return inside & ((np.abs(dy - dx) <= t) | (np.abs(dy + dx) <= t))
    raise ValueError(cls)


def make_images(n, seed):
    """n images uint8 (n,32,32,3) and balanced labels int64 (n,), shuffled."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    out = np.empty((n, 32, 32, 3), np.uint8)
    for i, c in enumerate(labels):
        h = (HUES[c] + rng.normal(0, 0.03)) % 1.0
        fg = np.array(colorsys.hsv_to_rgb(h, rng.uniform(0.55, 1.0), rng.uniform(0.7, 1.0)))
        bg = rng.uniform(0.0, 0.35, size=3)
        # smooth background gradient, so images are not flat
        g = rng.normal(0, 0.08, size=3)
        bgimg = bg + g * ((xx if rng.random() < 0.5 else yy) / 31.0 - 0.5)[..., None]
        m = _mask(int(c), rng, yy, xx)[..., None]
        img = np.where(m, fg, bgimg)
        img = img + rng.normal(0, 0.06, size=img.shape)
        out[i] = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return out, labels.astype(np.int64)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--train", type=int, default=1000)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    trx, tr_y = make_images(a.train, a.seed)
    tex, te_y = make_images(a.test, a.seed + 1)
    d = write_cifar(a.out, trx, tr_y, tex, te_y, n_train_batches=5, label_names=LABEL_NAMES)
    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    print(f"wrote {d}: {a.train} train + {a.test} test, {size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
