"""Compute the 24-colour palette by k-means over horse pixels.

    python make_palette.py                    # fixture -> assignments/.../data/colours.npy
    python make_palette.py --data DIR --out colours_real.npy   # real CIFAR-10 batches

The handout provides "a subset of 24 output colours, selected using k-means clustering"
over the horse class; this script reproduces that step with plain numpy:

  * pixels: every RGB pixel of the training-set horse images (label 7), scaled to [0, 1]
    (divided by 255); at most ``--max-pixels`` (200,000) of them, drawn without
    replacement with ``numpy.random.default_rng(seed)``;
  * k-means++ initialisation, then Lloyd iterations (squared Euclidean distance in RGB,
    as in the handout) until no assignment changes or ``--iters`` (100) is reached; an
    empty cluster is re-seeded with the pixel farthest from its centre;
  * centres are sorted by brightness (mean of R, G, B, ascending) so the class indices
    are deterministic; saved as float32 array (24, 3) with values in [0, 1].
"""
from __future__ import annotations

import argparse
import os

import numpy as np

import _paths  # noqa: F401 - the assignment's cifar.py on sys.path
from cifar import DEFAULT_DATA, load_horses, to_float


def _sqdist(x, c):
    return (x * x).sum(1)[:, None] - 2 * x @ c.T + (c * c).sum(1)[None, :]


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 100):
    """x: (N, 3) float64. Returns (centres (k,3), inertia, iterations run)."""
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):                                   # k-means++
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    assign = None
    for it in range(1, iters + 1):
        d = _sqdist(x, c)
        new = d.argmin(1)
        if assign is not None and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = x[assign == j]
            if len(members):
                c[j] = members.mean(0)
            else:                                           # re-seed an empty cluster
                far = d[np.arange(len(x)), assign].argmax()
                c[j] = x[far]
    inertia = float(np.min(_sqdist(x, c), 1).clip(0).sum())
    return c, inertia, it


def make_palette(data_dir=DEFAULT_DATA, k=24, seed=0, max_pixels=200_000, iters=100):
    train, _ = load_horses(data_dir)
    px = to_float(train).transpose(0, 2, 3, 1).reshape(-1, 3).astype(np.float64)
    rng = np.random.default_rng(seed)
    if len(px) > max_pixels:
        px = px[rng.choice(len(px), max_pixels, replace=False)]
    c, inertia, it = kmeans(px, k, seed=seed, iters=iters)
    c = c[np.argsort(c.mean(1), kind="stable")]
    return np.clip(c, 0, 1).astype(np.float32), inertia / len(px), it, len(px)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="CIFAR-10 python batches (default: fixture)")
    ap.add_argument("--out", default=os.path.join(DEFAULT_DATA, "colours.npy"))
    ap.add_argument("--k", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-pixels", type=int, default=200_000)
    ap.add_argument("--iters", type=int, default=100)
    args = ap.parse_args(argv)
    colours, mse, it, n = make_palette(args.data, args.k, args.seed, args.max_pixels, args.iters)
    np.save(args.out, colours)
    print(f"k-means on {n} horse pixels: {it} iterations, mean squared distance {mse:.5f}")
    print(f"wrote {colours.shape} {colours.dtype} palette to {args.out}")
    print(np.round(colours * 255).astype(int))


if __name__ == "__main__":
    main()
