"""Writes the two buggy demo submissions of colourization-cifar10 into
assignments/colourization-cifar10/examples/.

    python reference/colourization-cifar10/make_examples.py

- `colab-unet-without-skips.ipynb`: a Colab-style notebook (a google.colab cell first, the
  training cell untagged, so the grader's AST filter has to skip it) whose UNet has no skip
  connections (6.1); its 4.3 answers count BatchNorm2d, which the handout accepts; written
  answers for 4.2, 5.3 and 6.3 in markdown cells after headings naming the items.
- `convt-output-padding-0.ipynb`: ConvTransposeNet's transposed convolutions without
  output_padding (5.1: 8x8 -> 15x15 -> 29x29) and a wrong 5.4 answer for kernel 5.
Deterministic."""
import os
import sys

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, ROOT)
from grader.notebooks import as_colab, notebook_from_py, notebook_text  # noqa: E402 - the public authoring API

OUT = os.path.join(ROOT, "assignments", "colourization-cifar10", "examples")

# UNet without skips: upconv2 takes upconv1's output only, finalconv upconv2's only
NO_SKIPS = [
    ("nn.ConvTranspose2d(2 * NF, NC, kernel_size=kernel", "nn.ConvTranspose2d(NF, NC, kernel_size=kernel"),
    ("nn.Conv2d(NC + NIC, NC, kernel_size=kernel", "nn.Conv2d(NC, NC, kernel_size=kernel"),
    ("out4 = self.upconv2(torch.cat([out3, out1], dim=1))\n        return self.finalconv(torch.cat([out4, x], dim=1))",
     "out4 = self.upconv2(out3)\n        return self.finalconv(out4)"),
]
# 4.3 with BatchNorm2d counted (gamma and beta; BN outputs with one connection each): accepted
BN_COUNTED = [
    ('"weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",',
     '"weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2 + 2*(4*NF + NC)",'),
    ('"outputs": "1600*NF + 1280*NC",', '"outputs": "2240*NF + 2304*NC",'),
    ('"weights_2x": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",',
     '"weights_2x": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2 + 8*NF + 2*NC",'),
    ('"outputs_2x": "4*(1600*NF + 1280*NC)",', '"outputs_2x": "8960*NF + 9216*NC",'),
]
NO_OUTPUT_PADDING = [
    ("output_padding = 2 * convt_padding - kernel + 2   # 1 for kernel 3", "output_padding = 0"),
    ('"5.4": {4: (1, 1, 0), 5: (2, 2, 1)},', '"5.4": {4: (1, 1, 0), 5: (2, 2, 0)},'),
]

ANSWERS_MD = {
    "4.2": "The colours are blurry and mostly brown/green; the sky is right but the horse is "
           "often the colour of the grass: the model is small and trained briefly.",
    "5.3": "ConvTransposeNet's validation loss is a little higher here; learned upsampling "
           "has more freedom but needs more steps.",
    "6.3": "I removed the skips by mistake, so the result is like ConvTransposeNet. Skips "
           "help because the grey input carries fine detail and gradients flow more easily.",
}


def mutate(text, pairs):
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def notebook(text, colab=False, answers=None):
    nb = notebook_from_py(text)
    if colab:
        as_colab(nb)
    for item, text_ in (answers or {}).items():
        nb.cells.append(nbformat.v4.new_markdown_cell(f"### {item}\n\n{text_}"))
    return notebook_text(nb)


def main():
    src = open(os.path.join(HERE, "solution.py")).read()
    os.makedirs(OUT, exist_ok=True)
    a = mutate(src, NO_SKIPS + BN_COUNTED)
    with open(os.path.join(OUT, "colab-unet-without-skips.ipynb"), "w") as f:
        f.write(notebook(a, colab=True, answers=ANSWERS_MD))
    b = mutate(src, NO_OUTPUT_PADDING)
    with open(os.path.join(OUT, "convt-output-padding-0.ipynb"), "w") as f:
        f.write(notebook(b))
    print("wrote", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
