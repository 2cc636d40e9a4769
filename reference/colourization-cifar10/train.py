"""Train PoolUpsampleNet, ConvTransposeNet and UNet with the handout's settings.

    python train.py                       # shipped fixture, 25 epochs
    python train.py --data DIR            # real CIFAR-10 python batches (cifar-10-batches-py)
    python train.py --epochs 5 --threads 2

Each model: torch.manual_seed(seed) right before construction, then solution.train(...)
(Adam lr 1e-3, batch 100, pixel-wise cross-entropy over the 24 palette colours, training
order shuffled once with the same seed).  Kernel 3, 32 filters, grey input (1 channel).
Writes a markdown table of final validation loss / accuracy to results.md (``--out``)
and the curves to curves.png (``--curves``).  The palette is the shipped
assignments/colourization-cifar10/data/colours.npy unless ``--colours`` is given (for real
data, make one with ``make_palette.py --data DIR --out ...``).
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

import _paths  # noqa: F401 - the assignment's cifar.py on sys.path
import cifar
from solution_loader import HERE, load_solution


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=cifar.DEFAULT_DATA)
    ap.add_argument("--colours", default=os.path.join(cifar.DEFAULT_DATA, "colours.npy"))
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kernel", type=int, default=3)
    ap.add_argument("--num-filters", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--curves", default=os.path.join(HERE, "curves.png"))
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    S = load_solution()
    colours = np.load(args.colours).astype(np.float32)
    train_data, val_data, _ = cifar.prepare(args.data, colours=colours)
    print(f"data: {args.data}: {len(train_data[0])} train / {len(val_data[0])} val horse images, "
          f"{len(colours)} colours")

    histories, rows = {}, []
    for cls in (S.PoolUpsampleNet, S.ConvTransposeNet, S.UNet):
        torch.manual_seed(args.seed)
        model = cls(args.kernel, args.num_filters, len(colours), 1)
        t0 = time.time()
        print(f"== {cls.__name__}")
        h = S.train(model, train_data, val_data, args.epochs, batch_size=args.batch_size,
                    lr=args.lr, seed=args.seed)
        histories[cls.__name__] = h
        rows.append((cls.__name__, sum(p.numel() for p in model.parameters()),
                     h["train_loss"][-1], h["val_loss"][-1], h["val_acc"][-1], time.time() - t0))

    src = "shipped fixture" if os.path.abspath(args.data) == os.path.abspath(cifar.DEFAULT_DATA) else args.data
    lines = [
        f"Data: {src} ({len(train_data[0])} train / {len(val_data[0])} validation horse images); "
        f"kernel {args.kernel}, {args.num_filters} filters, {len(colours)} colours, Adam lr {args.lr}, "
        f"batch {args.batch_size}, {args.epochs} epochs, seed {args.seed}, "
        f"torch {torch.__version__}, CPU, {args.threads} threads.",
        "",
        "| model | parameters | final train loss | final val loss | final val acc (%) | time (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ] + [f"| {n} | {p} | {tl:.4f} | {vl:.4f} | {va:.2f} | {t:.0f} |" for n, p, tl, vl, va, t in rows]
    table = "\n".join(lines)
    print(table)
    with open(args.out, "w") as f:
        f.write("# colourization-cifar10: reference training results\n\n"
                "Written by `train.py`.\n\n" + table + "\n")
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump({"args": vars(args), "histories": histories}, f, indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for name, h in histories.items():
        ep = range(1, len(h["train_loss"]) + 1)
        axes[0].plot(ep, h["train_loss"], label=name)
        axes[1].plot(ep, h["val_loss"], label=name)
        axes[2].plot(ep, h["val_acc"], label=name)
    for ax, title in zip(axes, ["train loss", "validation loss", "validation accuracy (%)"]):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.curves, dpi=100)
    print(f"wrote {args.out} and {args.curves}")


if __name__ == "__main__":
    main()
