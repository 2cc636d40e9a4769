"""Render a stand-in for the PA2 "Chinese Calligraphy" data set from free brush fonts.

Real Chinese characters drawn with the Debian font packages
  fonts-kouzan-mouhitsu (public domain; Kaisho, Gyosho and Sousyo brush styles) and
  fonts-arphic-ukai     (Arphic Public License; AR PL UKai, a Kai brush-script font),
as grey JPGs (black ink on off-white paper, like scanned calligraphy), one glyph per image,
square, side 48..96 px, random small scale / offset / rotation / ink blur, seeded.
Layout: OUT/train/*.jpg and OUT/test/*.jpg (the same layout as the course's pa2/).

    apt-get install -y fonts-kouzan-mouhitsu fonts-arphic-ukai
    python reference/pixelcnn-calligraphy/render_glyphs.py            # shipped fixture
    python reference/pixelcnn-calligraphy/render_glyphs.py --out /tmp/pa2 --n-train 4000 --n-test 800

Nothing is downloaded.  The same seed, fonts and Pillow version give the same files.
"""
import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONTS = {
    "kaisho": "/usr/share/fonts/truetype/kouzan-mouhitsu/kouzan-mouhitsu.ttf",
    "gyosho": "/usr/share/fonts/truetype/kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf",
    "sousyo": "/usr/share/fonts/truetype/kouzan-mouhitsu/KouzanBrushFontSousyo.ttf",
    "ukai": "/usr/share/fonts/truetype/arphic/ukai.ttc",  # face 0: AR PL UKai CN
}

# 373 common characters (taken in order from a list of the ~500 most frequent modern
# Chinese characters, keeping those that all four fonts above draw a non-empty glyph for).
CHARS = "的一是不了人我在有他中大来上国个到子和地出道也年得就那要下以生会自着去之家学可里后小心多天而能好都然没日于起成事只作当想看文无手十用主行方又如前所本面公同三已老从知民分将外但身些与高意把法此回二理美点月明其声全工己儿者向情部正名定女力机等几很最新什打便位因重被走四第相次政海口使教西再平真听世气信北少并内加化由却代入先山五太水万市眼体才比住九笑性通目立命活神数件安表原白路期叫死常提感金何更反合放做系或司利受光王果界及今京制解各任至清物台象共干接它八特望直服毛林建南度色字交算百吃科怎元社六功指思非流青管夫跟花快条院言往展近留治决周保武半候七必城父完革深区即求品士量空甚技程告江英基派式李息写令黄收党倒未持取始版双越史商千片容研像找友孩站广改形委早房音火首据影失拿网香似斯石若兵弟校志争究包造落喜坐集宝府拉且随格尽布微怕母局根曾准段切克精官示冷域"

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "assignments" / "pixelcnn-calligraphy" / "data" / "pa2"


def render_one(rng, char, key):
    font_path = FONTS[key]
    side = int(rng.integers(48, 97))                    # image size 48..96 px
    scale = rng.uniform(0.68, 0.92)                     # glyph size / image size
    font = ImageFont.truetype(font_path, max(8, int(round(side * scale * 1.4))))
    # draw large on a transparent layer, crop to the ink, fit into the square
    big = Image.new("L", (font.size * 2, font.size * 2), 0)
    ImageDraw.Draw(big).text((font.size // 2, font.size // 2), char, fill=255, font=font)
    box = big.getbbox()
    if box is None:
        raise ValueError(f"font {font_path} has no glyph for {char!r}")
    glyph = big.crop(box)
    glyph = glyph.rotate(float(rng.uniform(-4, 4)), resample=Image.BILINEAR, expand=True)
    target = side * scale
    f = target / max(glyph.size)
    glyph = glyph.resize((max(1, round(glyph.size[0] * f)), max(1, round(glyph.size[1] * f))),
                         Image.LANCZOS)
    max_off = 0.07 * side
    x0 = (side - glyph.size[0]) / 2 + rng.uniform(-max_off, max_off)
    y0 = (side - glyph.size[1]) / 2 + rng.uniform(-max_off, max_off)
    x0 = int(round(min(max(x0, 0), side - glyph.size[0])))
    y0 = int(round(min(max(y0, 0), side - glyph.size[1])))
    mask = Image.new("L", (side, side), 0)
    mask.paste(glyph, (x0, y0))
    # thicken the strokes (brush weight) so they survive the course's 32x32 resize
    weight = int(rng.integers(1, 3)) if key in ("kaisho", "ukai") else int(rng.integers(2, 4))
    k = 2 * round(weight * side / 64) + 1
    if k > 1:
        mask = mask.filter(ImageFilter.MaxFilter(k))
    mask = mask.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.6))))
    paper = rng.uniform(225, 250)
    ink = rng.uniform(5, 45)
    m = np.asarray(mask, dtype=np.float32) / 255.0
    img = paper * (1 - m) + ink * m + rng.normal(0, 4.0, size=m.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L")


def render_split(out_dir, n, rng, split):
    out_dir.mkdir(parents=True, exist_ok=True)
    keys = list(FONTS)
    for i in range(n):
        char = CHARS[int(rng.integers(len(CHARS)))]
        key = keys[int(rng.integers(len(keys)))]
        img = render_one(rng, char, key)
        img.save(out_dir / f"{split}_{i:05d}_u{ord(char):04x}_{key}.jpg", quality=90)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT), help="folder that gets train/ and test/")
    ap.add_argument("--n-train", type=int, default=320)
    ap.add_argument("--n-test", type=int, default=64)
    ap.add_argument("--seed", type=int, default=4211)
    args = ap.parse_args(argv)
    missing = [p for p in FONTS.values() if not os.path.exists(p)]
    if missing:
        raise SystemExit(f"missing fonts {missing}: apt-get install -y fonts-kouzan-mouhitsu fonts-arphic-ukai")
    out = Path(args.out)
    rng = np.random.default_rng(args.seed)
    render_split(out / "train", args.n_train, rng, "train")
    render_split(out / "test", args.n_test, rng, "test")
    size = sum(p.stat().st_size for p in out.rglob("*.jpg"))
    print(f"wrote {args.n_train} train + {args.n_test} test JPGs to {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
