"""Generate the sprite fixture: small procedural 'creatures' as 64x64 RGBA PNGs on a
transparent background, the format of the course's Pokemon sprite folder.

    python reference/denoising-autoencoder/make_sprites.py [--n 128] [--out DIR] [--seed 0]
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[2] / "assignments" / "denoising-autoencoder" / "data" / "sprites"


def sprite(rng: random.Random) -> Image.Image:
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    hue = tuple(rng.randint(40, 230) for _ in range(3))
    dark = tuple(max(0, c - 70) for c in hue) + (255,)
    cx, cy = 32 + rng.randint(-5, 5), 36 + rng.randint(-4, 4)
    w, h = rng.randint(14, 22), rng.randint(12, 20)
    # feet or tail
    for sx in (-1, 1):
        d.ellipse([cx + sx * w // 2 - 5, cy + h - 6, cx + sx * w // 2 + 5, cy + h + 2], fill=dark)
    if rng.random() < 0.5:
        d.polygon([(cx + w, cy), (cx + w + rng.randint(8, 14), cy - rng.randint(6, 14)), (cx + w - 2, cy + 6)], fill=dark)
    d.ellipse([cx - w, cy - h, cx + w, cy + h], fill=hue + (255,), outline=dark, width=2)
    # head with ears or horns
    hy, hr = cy - h - rng.randint(2, 6), rng.randint(9, 13)
    for sx in (-1, 1):
        d.polygon([(cx + sx * hr // 2, hy - hr + 3), (cx + sx * (hr // 2 + 5), hy - hr - rng.randint(6, 11)),
                   (cx + sx * (hr // 2 + 7), hy - hr + 6)], fill=dark)
    d.ellipse([cx - hr, hy - hr, cx + hr, hy + hr], fill=hue + (255,), outline=dark, width=2)
    for sx in (-1, 1):
        ex = cx + sx * hr // 2
        d.ellipse([ex - 3, hy - 3, ex + 3, hy + 3], fill=(255, 255, 255, 255))
        d.ellipse([ex - 1, hy - 2, ex + 2, hy + 2], fill=(0, 0, 0, 255))
    # belly patch
    belly = tuple(min(255, c + 60) for c in hue) + (255,)
    d.ellipse([cx - w // 2, cy - h // 3, cx + w // 2, cy + h - 3], fill=belly)
    return img


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    a.out.mkdir(parents=True, exist_ok=True)
    for i in range(a.n):
        sprite(rng).save(a.out / f"{i:03d}.png", optimize=True)
    print(f"wrote {a.n} sprites to {a.out}")


if __name__ == "__main__":
    main()
