"""Read and write CIFAR-10 "python version" batches (``cifar-10-batches-py``).

Numpy only: no torch / tensorflow imports here.

Format (as distributed by Alex Krizhevsky): each ``data_batch_<i>`` (i = 1..5) and
``test_batch`` is a pickled dict with byte-string keys

* ``b'data'``   -- uint8 array (N, 3072); each row is the 1024 red, then 1024 green,
  then 1024 blue values of a 32x32 image, each plane row-major;
* ``b'labels'`` -- list of N ints in 0..9;
* ``b'batch_label'`` -- bytes, and ``b'filenames'`` -- list of bytes.

``batches.meta`` is a pickled dict with ``b'label_names'`` (list of bytes),
``b'num_cases_per_batch'`` and ``b'num_vis'``.

Images in this module's API are uint8 (N, 32, 32, 3) (HWC, RGB); labels int64 (N,).
"""
from __future__ import annotations

import os
import pickle

import numpy as np

__all__ = [
    "CIFAR10_LABEL_NAMES",
    "images_to_rows",
    "rows_to_images",
    "read_batch",
    "write_batch",
    "read_meta",
    "find_batches_dir",
    "load_cifar",
    "write_cifar",
]

CIFAR10_LABEL_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

_SUBDIR = "cifar-10-batches-py"


def images_to_rows(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 32, 32, 3) -> uint8 (N, 3072) in CIFAR plane order (R plane, G, B)."""
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise ValueError(f"expected images (N, 32, 32, 3), got {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2).reshape(len(x), 3072))


def rows_to_images(rows: np.ndarray) -> np.ndarray:
    """uint8 (N, 3072) in CIFAR plane order -> uint8 (N, 32, 32, 3)."""
    rows = np.asarray(rows, dtype=np.uint8)
    return np.ascontiguousarray(rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def read_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch file -> (images uint8 (N,32,32,3), labels int64 (N,))."""
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    data = d[b"data"] if b"data" in d else d["data"]
    labels = d[b"labels"] if b"labels" in d else d["labels"]
    x = rows_to_images(np.asarray(data, dtype=np.uint8))
    y = np.asarray(labels, dtype=np.int64)
    if len(x) != len(y):
        raise ValueError(f"{path}: {len(x)} images but {len(y)} labels")
    return x, y


def write_batch(path: str, x: np.ndarray, y, batch_label: str = "") -> None:
    """Write one batch file in the real CIFAR-10 python format (pickle protocol 4; readable with pickle.load(f, encoding="bytes"))."""
    rows = images_to_rows(x)
    labels = [int(v) for v in np.asarray(y).reshape(-1)]
    if len(labels) != len(rows):
        raise ValueError(f"{len(rows)} images but {len(labels)} labels")
    stem = batch_label.split()[-1] if batch_label else "img"
    d = {
        b"batch_label": batch_label.encode("ascii"),
        b"labels": labels,
        b"data": rows,
        b"filenames": [f"{stem}_{i:05d}.png".encode("ascii") for i in range(len(rows))],
    }
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=4)


def read_meta(directory: str) -> list[str]:
    """Label names from ``batches.meta`` (falls back to the CIFAR-10 names)."""
    path = os.path.join(find_batches_dir(directory), "batches.meta")
    if not os.path.exists(path):
        return list(CIFAR10_LABEL_NAMES)
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    names = d.get(b"label_names", d.get("label_names", CIFAR10_LABEL_NAMES))
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def find_batches_dir(directory: str) -> str:
    """``directory`` itself if it holds the batch files, else its ``cifar-10-batches-py``."""
    if os.path.exists(os.path.join(directory, "test_batch")):
        return directory
    sub = os.path.join(directory, _SUBDIR)
    if os.path.exists(os.path.join(sub, "test_batch")):
        return sub
    raise FileNotFoundError(
        f"no CIFAR-10 python batches (test_batch) in {directory!r} or {sub!r}")


def load_cifar(directory: str):
    """Load CIFAR-10 python batches.

    ``directory`` may be the ``cifar-10-batches-py`` folder or its parent. Reads every
    ``data_batch_<i>`` present (i = 1, 2, ... in order; at least one is required) and
    ``test_batch``. Returns ``(train_x, train_y, test_x, test_y)`` with images uint8
    (N, 32, 32, 3) and labels int64 (N,).
    """
    d = find_batches_dir(directory)
    names = sorted(
        (n for n in os.listdir(d)
         if n.startswith("data_batch_") and n[len("data_batch_"):].isdigit()),
        key=lambda n: int(n[len("data_batch_"):]))
    if not names:
        raise FileNotFoundError(f"no data_batch_* files in {d!r}")
    parts = [read_batch(os.path.join(d, n)) for n in names]
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    test_x, test_y = read_batch(os.path.join(d, "test_batch"))
    return train_x, train_y, test_x, test_y


def write_cifar(directory: str, train_x, train_y, test_x, test_y,
                n_train_batches: int = 5, label_names=None) -> str:
    """Write a dataset in the CIFAR-10 python layout under ``directory``.

    If ``directory`` is not already named ``cifar-10-batches-py`` the files go into
    ``directory/cifar-10-batches-py``. The training set is split into
    ``n_train_batches`` near-equal consecutive batches ``data_batch_1..n``.
    Returns the folder written.
    """
    if os.path.basename(os.path.normpath(directory)) != _SUBDIR:
        directory = os.path.join(directory, _SUBDIR)
    os.makedirs(directory, exist_ok=True)
    train_x = np.asarray(train_x)
    train_y = np.asarray(train_y)
    if len(train_x) < n_train_batches:
        raise ValueError("fewer training images than batches")
    bounds = np.linspace(0, len(train_x), n_train_batches + 1).round().astype(int)
    for i in range(n_train_batches):
        a, b = bounds[i], bounds[i + 1]
        write_batch(os.path.join(directory, f"data_batch_{i + 1}"), train_x[a:b],
                    train_y[a:b], batch_label=f"training batch {i + 1} of {n_train_batches}")
    write_batch(os.path.join(directory, "test_batch"), np.asarray(test_x), test_y,
                batch_label="testing batch 1 of 1")
    names = list(label_names) if label_names is not None else list(CIFAR10_LABEL_NAMES)
    meta = {
        b"num_cases_per_batch": int(bounds[1] - bounds[0]),
        b"label_names": [n.encode("ascii") for n in names],
        b"num_vis": 3072,
    }
    with open(os.path.join(directory, "batches.meta"), "wb") as f:
        pickle.dump(meta, f, protocol=4)
    return directory
