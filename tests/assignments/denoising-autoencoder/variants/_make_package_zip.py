"""Writes two variants: package_not_imported.zip, a zip whose notebook imports nothing of the
student's package (the grader must find Encoder, Decoder and ANSWERS in the package's modules);
and package_self_imports.zip, a package alone whose modules import each other by the
package's own name (`from asgn6.config import Z_DIM`), its models.py the entry.

    .venv/bin/python tests/assignments/denoising-autoencoder/variants/_make_package_zip.py
"""
import io
import zipfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

FILES = {
    "u1234567_asgn6/mypkg/__init__.py": '"""Assignment 6 package (see report.ipynb)."""\n',
    "u1234567_asgn6/mypkg/answers.py": '''ANSWERS = dict()
ANSWERS["1a"] = (32, 16, 64, 64)
ANSWERS["1b"] = (32, 128, 3, 3)
ANSWERS["1c"] = (32, 32, 65, 65)
ANSWERS["1d"] = 3 * 16 * 9 + 16
''',
    "u1234567_asgn6/mypkg/encoder.py": '''import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, z_dim: int = 64, img_size: int = 64) -> None:
        super().__init__()
        self.hidden_layer = nn.Sequential(nn.Linear(3 * img_size ** 2, z_dim), nn.BatchNorm1d(z_dim),
                                          nn.ReLU(inplace=True))
        self.output_layer = nn.Sequential(nn.Linear(z_dim, z_dim), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous().view(len(x), -1)
        return self.output_layer(self.hidden_layer(x))
''',
    "u1234567_asgn6/mypkg/decoder.py": '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Decoder(nn.Module):
    """LeakyReLU between the convolutions, BatchNorm after each; a tanh rescaled to [0, 1] at the end."""

    def __init__(self, z_dim: int = 64, img_size: int = 64) -> None:
        super().__init__()
        spec = [(z_dim, 128, 7, 1), (128, 64, 3, 2), (64, 64, 3, 2), (64, 32, 3, 2)]
        for i, (c_in, c_out, k, s) in enumerate(spec, start=1):
            setattr(self, f"layer{i}", nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, k, s, bias=True), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1),
                nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1)))
        self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, 2, 1), nn.LeakyReLU(0.1), nn.Conv2d(32, 3, 1, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.reshape(z.size(0), -1, 1, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return (torch.tanh(self.layer5(x)) + 1) / 2
''',
}


def notebook() -> str:
    nb = new_notebook(cells=[
        new_markdown_cell("# Assignment 6 report\nThe code is in `mypkg/` (run `python -m mypkg.train`)."),
        new_code_cell("import numpy as np\nimport matplotlib.pyplot as plt"),
        new_code_cell("losses = np.loadtxt('loss.txt')\nplt.plot(losses)"),
        new_markdown_cell("### 3c. Has training converged?\n\nYes, the loss is flat for the last 100 epochs."),
    ])
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"          # a deterministic archive
    return nbformat.writes(nb)


SELF_IMPORTING = {
    "asgn6/__init__.py": '"""Assignment 6: run `python -m asgn6.models`."""\n',
    "asgn6/config.py": "Z_DIM = 64\nIMG_SIZE = 64\n",
    "asgn6/encoder.py": FILES["u1234567_asgn6/mypkg/encoder.py"].replace(
        "import torch.nn as nn\n", "import torch.nn as nn\n\nfrom asgn6.config import IMG_SIZE, Z_DIM\n").replace(
        "z_dim: int = 64, img_size: int = 64", "z_dim: int = Z_DIM, img_size: int = IMG_SIZE"),
    "asgn6/decoder.py": FILES["u1234567_asgn6/mypkg/decoder.py"].replace(
        "import torch.nn.functional as F\n", "import torch.nn.functional as F\n\nfrom asgn6.config import IMG_SIZE, Z_DIM\n").replace(
        "z_dim: int = 64, img_size: int = 64", "z_dim: int = Z_DIM, img_size: int = IMG_SIZE"),
    "asgn6/answers.py": FILES["u1234567_asgn6/mypkg/answers.py"],
    "asgn6/models.py": "from asgn6.answers import ANSWERS\nfrom asgn6.decoder import Decoder\nfrom asgn6.encoder import Encoder\n"
                       "\n__all__ = [\"ANSWERS\", \"Decoder\", \"Encoder\"]\n",
}


def _zip(files: dict, out: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2018, 10, 28, 23, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text)
    out.write_bytes(buf.getvalue())


def main() -> None:
    here = Path(__file__).resolve().parent
    _zip({**FILES, "u1234567_asgn6/report.ipynb": notebook()}, here / "package_not_imported.zip")
    _zip(SELF_IMPORTING, here / "package_self_imports.zip")


if __name__ == "__main__":
    main()
