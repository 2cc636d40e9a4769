"""The handout's asgn6.py, ported: trains Encoder + Decoder as a denoising auto-encoder.

    python reference/denoising-autoencoder/train.py                 # the bundled sprite fixture
    python reference/denoising-autoencoder/train.py --data DIR      # a real folder of sprite PNGs

Writes loss.txt (the loss at every iteration), samples/sample-*.png (clean | noisy |
denoised) and samples/novel-*.png (decoded random codes) every --save-interval iterations.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "assignments" / "denoising-autoencoder")]

import probes  # noqa: E402  (the grader's own training helpers: same data path, noise and loss)
from models import Decoder, Encoder  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "assignments" / "denoising-autoencoder" / "data" / "sprites")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--z-dim", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--noise-std", type=float, default=0.2)
    ap.add_argument("--save-interval", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(a.seed)
    images = probes.load_sprites(a.data)
    enc, dec = Encoder(a.z_dim).to(device), Decoder(a.z_dim).to(device)
    steps_per_epoch = max(1, len(images) // a.batch_size)
    (a.out / "samples").mkdir(parents=True, exist_ok=True)
    losses = []
    g = torch.Generator().manual_seed(a.seed)
    for epoch in range(a.epochs):
        losses += probes.train(enc, dec, images, steps_per_epoch, a.batch_size, a.lr, a.noise_std,
                               a.seed + epoch, device)
        if (epoch + 1) % max(1, a.save_interval // steps_per_epoch) == 0 or epoch == a.epochs - 1:
            enc.eval(), dec.eval()
            with torch.no_grad():
                x = torch.from_numpy(images[: min(8, len(images))])
                xn = probes.noisy(x, a.noise_std, g)
                y = dec(enc(xn.to(device))).cpu()
                save_image(torch.cat([x, xn, y]), a.out / "samples" / f"sample-{len(losses):06d}.png", nrow=len(x))
                z = torch.rand(8, a.z_dim, device=device) * 2 - 1
                save_image(dec(z).cpu(), a.out / "samples" / f"novel-{len(losses):06d}.png", nrow=8)
            print(f"epoch {epoch + 1}: loss {np.mean(losses[-steps_per_epoch:]):.4f}")
    (a.out / "loss.txt").write_text("\n".join(f"{v:.6f}" for v in losses) + "\n")


if __name__ == "__main__":
    main()
