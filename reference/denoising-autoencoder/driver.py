# %% [markdown]
# # Assignment 6: a denoising auto-encoder for Pokemon sprites
#
# Write your Encoder and Decoder in `models.py` (next to this notebook), and your answers to
# question 1 in its `ANSWERS` dict. This notebook checks the layer sizes, trains the model and
# collects your comments for question 3. Cells tagged `train` or `report` are not run by the
# grader: it trains your models itself for a short, seeded budget.

# %%
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models import ANSWERS, Decoder, Encoder

DATA = Path(os.environ.get("SPRITES", "data/sprites"))
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# %% tags=["report"]
# check_models.py: the layer sizes for a batch of 32 and z_dim 128
enc, dec = Encoder(z_dim=128), Decoder(z_dim=128)
x = torch.randn(32, 3, 64, 64)
z = enc(x)
assert z.shape == (32, 128), z.shape
h = z.view(32, 128, 1, 1)
for name, want in [("layer1", (32, 128, 7, 7)), ("layer2", (32, 64, 15, 15)), ("layer3", (32, 64, 31, 31)),
                   ("layer4", (32, 32, 63, 63)), ("layer5", (32, 3, 64, 64))]:
    h = getattr(dec, name)(h)
    assert tuple(h.shape) == want, (name, tuple(h.shape), want)
print("all layer sizes are right")


# %%
def load_sprites(folder, size=64):
    """A folder of PNG sprites -> float32 (N, 3, 64, 64) in [0, 1] on a white background."""
    out = []
    for f in sorted(Path(folder).glob("*.png")):
        im = Image.open(f).convert("RGBA").resize((size, size))
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        bg.alpha_composite(im)
        out.append(np.asarray(bg.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0)
    return torch.from_numpy(np.ascontiguousarray(np.stack(out)))


# %% tags=["train"]
# 3(b): train (asgn6.py). 500 epochs take hours on a CPU; lower EPOCHS to try things out.
EPOCHS, BATCH, Z_DIM, NOISE = 500, 32, 64, 0.2
images = load_sprites(DATA)
enc, dec = Encoder(Z_DIM).to(device), Decoder(Z_DIM).to(device)
opt = torch.optim.Adam(list(enc.parameters()) + list(dec.parameters()), lr=1e-3)
losses = []
for epoch in range(EPOCHS):
    for idx in torch.randperm(len(images)).split(BATCH):
        x = images[idx].to(device)
        x_noisy = (x + NOISE * torch.randn_like(x)).clamp(0, 1)
        loss = F.l1_loss(dec(enc(x_noisy)), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
np.savetxt("loss.txt", losses)

# %% tags=["report", "answer-3c"]
# 3(c): the loss curve
import matplotlib.pyplot as plt

plt.plot(np.loadtxt("loss.txt"))
plt.xlabel("iteration")
plt.ylabel("L1 loss")
plt.show()

# %% [markdown] tags=["answer-3c"]
# ### 3c. Has training converged?
#
# YOUR ANSWER HERE

# %% [markdown] tags=["answer-3d"]
# ### 3d. The denoised sample images as training progresses
#
# YOUR ANSWER HERE

# %% [markdown] tags=["answer-3e"]
# ### 3e. The novel images generated from random codes
#
# YOUR ANSWER HERE

# %% [markdown] tags=["answer-3f"]
# ### 3f. Your own experiments
#
# YOUR ANSWER HERE
