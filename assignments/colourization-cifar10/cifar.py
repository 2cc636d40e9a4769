"""The handout's colourization preprocessing on top of the project's CIFAR reader.

Reading and writing CIFAR-10 python batches (``cifar-10-batches-py``: ``data_batch_1`` ..
``data_batch_5``, ``test_batch``, ``batches.meta``) is ``grader/datasets/cifar.py``; the
shipped fixture (``make_fixture.py``) is written with it in exactly the real format.

Preprocessing, as in the handout's starter code (CSC413 2023 A2, programming part):
  * keep the horse class (label 7) only;
  * scale to [0, 1] (we divide by 255);
  * grey input = mean over the RGB channels, float32 (N, 1, 32, 32);
  * colour target = index of the nearest palette colour (squared distance in RGB),
    int64 (N, 1, 32, 32); the palette is ``data/colours.npy`` (24 x 3, float32 in [0, 1]).

Only numpy, the standard library and the project's CIFAR reader are used, so the grader's
probes (probes.py, beside this file) and the reference's scripts import the same code.
"""
from __future__ import annotations

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    from grader.datasets.cifar import CIFAR10_LABEL_NAMES, load_cifar
except ImportError:  # imported by a script of the repository without the package installed
    sys.path.insert(0, os.path.normpath(os.path.join(HERE, "..", "..")))
    from grader.datasets.cifar import CIFAR10_LABEL_NAMES, load_cifar

HORSE = 7
MAX_PIXEL = 255.0
LABEL_NAMES = list(CIFAR10_LABEL_NAMES)
DEFAULT_DATA = os.path.join(HERE, "data")


def load_horses(data_dir: str = DEFAULT_DATA, label: int = HORSE):
    """(train, test) images of one class (horse by default), uint8 (N,3,32,32).

    Reading is the project's one CIFAR reader (grader/datasets/cifar.py, NHWC);
    the models take channels first."""
    x_train, y_train, x_test, y_test = load_cifar(data_dir)
    chw = lambda x: np.ascontiguousarray(x.transpose(0, 3, 1, 2))  # noqa: E731
    return chw(x_train[y_train == label]), chw(x_test[y_test == label])


def to_float(rgb_uint8: np.ndarray) -> np.ndarray:
    return rgb_uint8.astype(np.float32) / MAX_PIXEL


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """Grey = mean of R, G, B; uint8 input is scaled to [0, 1] first. -> float32 (N,1,H,W)."""
    if rgb.dtype == np.uint8:
        rgb = to_float(rgb)
    return rgb.mean(axis=1, keepdims=True).astype(np.float32)


def nearest_colour(rgb: np.ndarray, colours: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Index of the nearest palette colour per pixel (squared RGB distance).

    rgb: (N,3,H,W) uint8 or float in [0,1]; colours: (K,3) float in [0,1].
    Returns int64 (N,1,H,W).
    """
    if rgb.dtype == np.uint8:
        rgb = to_float(rgb)
    colours = np.asarray(colours, dtype=np.float32)
    out = np.empty((rgb.shape[0], 1) + rgb.shape[2:], dtype=np.int64)
    for i in range(0, len(rgb), chunk):
        x = rgb[i:i + chunk].astype(np.float32)                 # (n,3,H,W)
        d = ((x[:, None] - colours[None, :, :, None, None]) ** 2).sum(axis=2)  # (n,K,H,W)
        out[i:i + chunk, 0] = d.argmin(axis=1)
    return out


def load_colours(data_dir: str = DEFAULT_DATA) -> np.ndarray:
    return np.load(os.path.join(data_dir, "colours.npy")).astype(np.float32)


def prepare(data_dir: str = DEFAULT_DATA, colours: np.ndarray | None = None,
            palette_dir: str = DEFAULT_DATA):
    """Horse class -> ((train_grey, train_cat), (test_grey, test_cat), colours)."""
    if colours is None:
        colours = load_colours(palette_dir)
    train, test = load_horses(data_dir)
    return ((to_grey(train), nearest_colour(train, colours)),
            (to_grey(test), nearest_colour(test, colours)), colours)
