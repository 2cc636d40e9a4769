"""CIFAR-10 python-batch loader and the handout's colourization preprocessing.

Real data: the directory ``cifar-10-batches-py`` from the CIFAR-10 "python version"
archive (``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``); each batch
is a pickled dict with ``b'data'`` (uint8, N x 3072, channel-major RGB) and ``b'labels'``.
The shipped fixture (``make_fixture.py``) uses exactly the same layout and format.

Preprocessing, as in the handout's starter code (CSC413 2023 A2, programming part):
  * keep the horse class (label 7) only;
  * scale to [0, 1] (we divide by 255);
  * grey input = mean over the RGB channels, float32 (N, 1, 32, 32);
  * colour target = index of the nearest palette colour (squared distance in RGB),
    int64 (N, 1, 32, 32); the palette is ``data/colours.npy`` (24 x 3, float32 in [0, 1]).

Only numpy and the standard library are used, so the grader can import this anywhere.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

HORSE = 7
MAX_PIXEL = 255.0
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "assignments",
                                             "colourization-cifar10", "data"))


def _get(d, key):
    """Dict lookup accepting both bytes keys (encoding='bytes') and str keys."""
    if key.encode() in d:
        return d[key.encode()]
    return d[key]


def batches_dir(data_dir: str) -> str:
    """Accept either the ``cifar-10-batches-py`` folder itself or its parent."""
    sub = os.path.join(data_dir, "cifar-10-batches-py")
    if os.path.isdir(sub):
        return sub
    if os.path.exists(os.path.join(data_dir, "test_batch")):
        return data_dir
    raise FileNotFoundError(f"no CIFAR-10 python batches under {data_dir!r}")


def load_batch(path: str):
    """One pickled batch -> (images uint8 (N,3,32,32), labels int64 (N,))."""
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    data = np.asarray(_get(d, "data"), dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(_get(d, "labels"), dtype=np.int64)
    assert len(data) == len(labels), path
    return data, labels


def load_cifar10(data_dir: str = DEFAULT_DATA):
    """All training batches present (data_batch_1..5) and the test batch."""
    root = batches_dir(data_dir)
    train = [os.path.join(root, f"data_batch_{i}") for i in range(1, 6)]
    train = [p for p in train if os.path.exists(p)]
    if not train:
        raise FileNotFoundError(f"no data_batch_* in {root!r}")
    xs, ys = zip(*(load_batch(p) for p in train))
    x_test, y_test = load_batch(os.path.join(root, "test_batch"))
    return (np.concatenate(xs), np.concatenate(ys)), (x_test, y_test)


def load_horses(data_dir: str = DEFAULT_DATA, label: int = HORSE):
    """(train, test) images of one class (horse by default), uint8 (N,3,32,32)."""
    (x_train, y_train), (x_test, y_test) = load_cifar10(data_dir)
    return x_train[y_train == label], x_test[y_test == label]


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
