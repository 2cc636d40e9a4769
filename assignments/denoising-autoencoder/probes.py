"""Grading helpers for the denoising auto-encoder, run inside the student's kernel.

The grader trains the student's Encoder + Decoder itself for a short seeded budget on the
sprite fixture (noise + L1 loss, as the handout's asgn6.py), so 3a-3c are judged on a
loss curve the student cannot fake. The reference's training script uses the same code."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.frameworks.torch import checked     # values out of student code: plain tensors only


def load_sprites(folder: Path, img_size: int = 64) -> np.ndarray:
    """A folder of sprite PNGs -> float32 (N, 3, S, S) in [0, 1], alpha composited on white."""
    from PIL import Image
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise FileNotFoundError(f"no images in {folder}")
    out = []
    for f in files:
        im = Image.open(f).convert("RGBA").resize((img_size, img_size), Image.BILINEAR)
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        bg.alpha_composite(im)
        out.append(np.asarray(bg.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0)
    return np.ascontiguousarray(np.stack(out))


def noisy(x, std, generator):
    """The corruption: additive Gaussian noise, clipped back to the image range."""
    import torch
    return (x + std * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0.0, 1.0)


def train(encoder, decoder, images: np.ndarray, steps: int, batch_size: int, lr: float, noise_std: float,
          seed: int, device, log_every: int = 1):
    """Adam on L1(decoder(encoder(noisy x)), x); returns the loss at every step."""
    import torch
    g = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(images)
    encoder.train(), decoder.train()
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=lr)
    losses = []
    for step in range(steps):
        idx = torch.randint(0, len(data), (batch_size,), generator=g)
        x = data[idx]
        x_noisy = noisy(x, noise_std, g)
        x, x_noisy = x.to(device), x_noisy.to(device)
        out = checked(decoder(encoder(x_noisy)), "the Decoder's output")
        loss = torch.nn.functional.l1_loss(out, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % log_every == 0:
            losses.append(float(loss.detach().cpu()))
    return losses


def train_denoiser(ctx, steps=60, batch_size=16, z_dim=64, lr=1e-3, noise_std=0.2):
    """The student's Encoder + Decoder, trained by the grader (the probe's `fallback` puts the
    reference's in for one that fails to run)."""
    images = load_sprites(ctx.data_dir / "sprites")
    ctx.fw.seed(ctx.seed)
    enc = ctx.build("Encoder", {"z_dim": z_dim})
    dec = ctx.build("Decoder", {"z_dim": z_dim})
    return {"losses": train(enc, dec, images, steps, batch_size, lr, noise_std, ctx.seed, ctx.fw.device())}


def decoder_gradients(ctx, z_dim=128, batch_size=4, layers=("layer1", "layer2", "layer3", "layer4", "layer5")):
    """Whether the Decoder can be trained: a loss on its output reaches the weights of each of
    the contract's layers (no detach, no numpy round trip, no torch.no_grad in forward). The
    training items cannot see a broken graph (the reference's Decoder stands in for one whose
    run fails), so 2b charges it, once."""
    import torch
    ctx.fw.seed(ctx.seed)
    dec = ctx.build("Decoder", {"z_dim": z_dim})
    dec.train()
    z = torch.randn(batch_size, z_dim, generator=torch.Generator().manual_seed(ctx.seed)).to(ctx.fw.device())
    out = checked(dec(z), "the Decoder's output")
    out.float().abs().mean().backward()
    cut = []
    for name in layers:
        params = list(ctx.fw.submodule(dec, name).parameters())
        if not any(p.grad is not None for p in params):
            cut.append(name)
    return {"layers the loss does not reach": cut}
