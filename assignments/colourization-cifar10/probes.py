"""Grading helpers for colourization-cifar10, run inside the student's kernel.

The grader trains each of the student's models itself, briefly and seeded, with the
handout's loop (Adam, pixel-wise cross-entropy over the 24 colours, mini-batches in a
fixed shuffled order, validation loss and pixel accuracy after every epoch) on the shipped
CIFAR-format fixture, so the training items are judged on curves the student cannot fake.
Data: the project's CIFAR reader (grader/datasets/cifar.py) through the handout's
preprocessing (cifar.py beside this file: horses, grey = mean of RGB, nearest-palette-colour
targets)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from grader.frameworks.torch import checked     # values out of student code: plain tensors only


def _preprocessing(ctx):
    """cifar.py, beside this file: the handout's preprocessing."""
    name = "grader_colourization_cifar"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent / "cifar.py"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        sys.modules[name] = mod
    return sys.modules[name]


def load_data(ctx, max_train=None, max_val=None):
    """-> (train_grey, train_cat), (val_grey, val_cat), colours (numpy, as the handout's)."""
    prep = _preprocessing(ctx)
    (tg, tc), (vg, vc), colours = prep.prepare(str(ctx.data_dir), palette_dir=str(ctx.data_dir))
    return (tg[:max_train], tc[:max_train]), (vg[:max_val], vc[:max_val]), colours


def validate(model, grey, cats, batch_size, device):
    """Mean validation loss over batches and pixel accuracy in %, as the starter's."""
    import torch
    criterion = torch.nn.CrossEntropyLoss()
    model.eval()
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for i in range(0, len(grey), batch_size):
            xs = torch.as_tensor(grey[i:i + batch_size]).to(device)
            ys = torch.as_tensor(cats[i:i + batch_size]).to(device)
            out = checked(model(xs), "the model's output")
            losses.append(float(criterion(out, ys[:, 0])))
            correct += int((out.argmax(dim=1, keepdim=True) == ys).sum())
            total += ys.numel()
    return float(np.mean(losses)), 100.0 * correct / total


def train(model, train_data, val_data, epochs, batch_size, lr, seed, device):
    """The handout's loop: returns per-epoch curves, with the untrained model's
    validation loss first (epoch 0), so "the loss falls" has a starting point."""
    import torch
    np.random.seed(seed)
    torch.manual_seed(seed)
    grey, cats = train_data
    order = np.random.permutation(len(grey))
    grey, cats = grey[order], cats[order]
    criterion = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    v, a = validate(model, *val_data, batch_size, device)
    hist = {"losses": [v], "val_acc": [a], "train_losses": []}
    for _ in range(epochs):
        model.train()
        batch_losses = []
        for i in range(0, len(grey), batch_size):
            xs = torch.as_tensor(grey[i:i + batch_size]).to(device)
            ys = torch.as_tensor(cats[i:i + batch_size]).to(device)
            opt.zero_grad()
            loss = criterion(checked(model(xs), "the model's output"), ys[:, 0])
            loss.backward()
            opt.step()
            batch_losses.append(float(loss.detach()))
        hist["train_losses"].append(float(np.mean(batch_losses)))
        v, a = validate(model, *val_data, batch_size, device)
        hist["losses"].append(v)
        hist["val_acc"].append(a)
    return hist


def train_colourizer(ctx, target, epochs=3, batch_size=25, lr=3e-3, kernel=3, num_filters=16,
                     max_train=None, max_val=None):
    """The student's `target` model (kernel, num_filters, num_colours, num_in_channels),
    trained briefly. `losses` is the validation loss per epoch (epoch 0 = untrained)."""
    train_data, val_data, colours = load_data(ctx, max_train, max_val)
    ctx.fw.seed(ctx.seed)
    model = ctx.build(target, {"kernel": kernel, "num_filters": num_filters,
                                                  "num_colours": len(colours), "num_in_channels": 1})
    hist = train(model, train_data, val_data, epochs, batch_size, lr, ctx.seed, ctx.fw.device())
    hist["model"] = target
    return hist
