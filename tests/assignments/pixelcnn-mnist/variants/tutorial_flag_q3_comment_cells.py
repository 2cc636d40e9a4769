# %% [markdown]
# Exercise 4 (tutorial 12 without gates or dilation), written as a script
# %%
import os
import math
import numpy as np
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.data as data
import pytorch_lightning as pl
from torchvision.datasets import MNIST
from torchvision import transforms

DATASET_PATH = "../data"
CHECKPOINT_PATH = "../saved_models/ex4"
device = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
# %%
class MaskedConvolution(nn.Module):
    def __init__(self, c_in, c_out, mask, **kwargs):
        super().__init__()
        kernel_size = (mask.shape[0], mask.shape[1])
        dilation = kwargs.get("dilation", 1)
        padding = tuple(dilation * (k - 1) // 2 for k in kernel_size)
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=padding, **kwargs)
        self.register_buffer("mask", mask[None, None])

    def forward(self, x):
        return F.conv2d(x, self.conv.weight * self.mask, self.conv.bias, padding=self.conv.padding,
                        dilation=self.conv.dilation)


class VerticalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(kernel_size, kernel_size)
        mask[kernel_size // 2 + 1:, :] = 0
        if mask_center:
            mask[kernel_size // 2, :] = 0
        super().__init__(c_in, c_out, mask, **kwargs)


class HorizontalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(1, kernel_size)
        mask[0, kernel_size // 2 + 1:] = 0
        if mask_center:
            mask[0, kernel_size // 2] = 0
        super().__init__(c_in, c_out, mask, **kwargs)
# %%
class PlainStackLayer(nn.Module):
    """The tutorial's gated layer with the gate and the dilation taken out."""

    def __init__(self, c_in):
        super().__init__()
        self.conv_vert = VerticalStackConvolution(c_in, c_in)
        self.conv_horiz = HorizontalStackConvolution(c_in, c_in)
        self.conv_vert_to_horiz = nn.Conv2d(c_in, c_in, kernel_size=1)
        self.conv_horiz_1x1 = nn.Conv2d(c_in, c_in, kernel_size=1)

    def forward(self, v_stack, h_stack):
        v_feat = self.conv_vert(v_stack)
        v_out = F.elu(v_feat)
        h_feat = self.conv_horiz(h_stack) + self.conv_vert_to_horiz(v_feat)
        h_out = h_stack + self.conv_horiz_1x1(F.elu(h_feat))
        return v_out, h_out


class PixelCNN(pl.LightningModule):
    def __init__(self, c_in, c_hidden, see_current=False):
        super().__init__()
        self.save_hyperparameters()
        # question 2: see_current=True lets the first horizontal convolution see the pixel itself
        self.conv_vstack = VerticalStackConvolution(c_in, c_hidden, mask_center=True)
        self.conv_hstack = HorizontalStackConvolution(c_in, c_hidden, mask_center=not see_current)
        self.conv_layers = nn.ModuleList([PlainStackLayer(c_hidden) for _ in range(3)])
        self.conv_out = nn.Conv2d(c_hidden, c_in * 256, kernel_size=1)

    def forward(self, x):
        x = (x.float() / 255.0) * 2 - 1
        v_stack = self.conv_vstack(x)
        h_stack = self.conv_hstack(x)
        for layer in self.conv_layers:
            v_stack, h_stack = layer(v_stack, h_stack)
        out = self.conv_out(F.elu(h_stack))
        return out.reshape(out.shape[0], 256, out.shape[1] // 256, out.shape[2], out.shape[3])

    def calc_likelihood(self, x):
        pred = self.forward(x)
        nll = F.cross_entropy(pred, x, reduction="none")
        return (nll.mean(dim=[1, 2, 3]) * np.log2(np.exp(1))).mean()

    @torch.no_grad()
    def sample(self, img_shape, img=None):
        if img is None:
            img = torch.zeros(img_shape, dtype=torch.long).to(self.device) - 1
        for h in range(img_shape[2]):
            for w in range(img_shape[3]):
                for c in range(img_shape[1]):
                    if (img[:, c, h, w] != -1).all().item():
                        continue
                    pred = self.forward(img[:, :, :h + 1, :])
                    probs = F.softmax(pred[:, :, c, h, w], dim=-1)
                    img[:, c, h, w] = torch.multinomial(probs, num_samples=1).squeeze(dim=-1)
        return img

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=1e-3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.99)
        return [optimizer], [scheduler]

    def training_step(self, batch, batch_idx):
        loss = self.calc_likelihood(batch[0])
        self.log("train_bpd", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_bpd", self.calc_likelihood(batch[0]))

    def test_step(self, batch, batch_idx):
        self.log("test_bpd", self.calc_likelihood(batch[0]))
# %%
def train_model(**kwargs):
    trainer = pl.Trainer(default_root_dir=os.path.join(CHECKPOINT_PATH, "PixelCNN"), accelerator="auto",
                         devices=1, max_epochs=10)
    model = PixelCNN(**kwargs)
    trainer.fit(model, train_loader, val_loader)
    model = PixelCNN.load_from_checkpoint(trainer.checkpoint_callback.best_model_path)
    test_result = trainer.test(model, dataloaders=test_loader, verbose=False)
    return model, test_result
# %%
if __name__ == "__main__":
    model, res = train_model(c_in=1, c_hidden=32)
    model_nc, res_nc = train_model(c_in=1, c_hidden=32, see_current=True)
# %%
# 3a) marginal of the first pixel: one forward pass
with torch.no_grad():
    out = model(torch.zeros(1, 1, 28, 28, dtype=torch.long, device=device))
first_pixel = out[0, :, 0, 0, 0].softmax(dim=0).cpu().numpy()
# %%
# 3b) marginal of the middle pixel: sample the past pixel by pixel, average the predictions
S = 2
x = torch.zeros(S, 1, 28, 28, dtype=torch.long, device=device)
with torch.no_grad():
    for k in range(14 * 28 + 14):
        r, c = divmod(k, 28)
        p = model(x)[:, :, 0, r, c].softmax(dim=1)
        x[:, 0, r, c] = torch.multinomial(p, 1)[:, 0]
    middle_marginal = model(x)[:, :, 0, 14, 14].softmax(dim=1).mean(dim=0).cpu().numpy()
# %%
# 3c) the middle pixel given the pixels above and left of it
digit, _ = test_set[3]
with torch.no_grad():
    given_past = model(digit[None].to(device))[0, :, 0, 14, 14].softmax(dim=0).cpu().numpy()
# %%
# 3d) the middle pixel given the pixels below and right of it (importance sampling)
digit, _ = test_set[3]
S = 1
mid = 14 * 28 + 14
xs = digit[None].repeat(S, 1, 1, 1).to(device)
with torch.no_grad():
    for k in range(mid + 1):
        r, c = divmod(k, 28)
        xs[:, 0, r, c] = torch.multinomial(model(xs)[:, :, 0, r, c].softmax(dim=1), 1)[:, 0]
    scores = []
    for s in range(S):
        cand = xs[s:s + 1].repeat(256, 1, 1, 1)
        cand[:, 0, 14, 14] = torch.arange(256, device=device)
        lp = -F.cross_entropy(model(cand), cand, reduction="none").flatten(1)
        scores.append(lp[:, mid:].sum(dim=1))
below_right = torch.softmax(torch.cat(scores), dim=0).view(S, 256).sum(dim=0).cpu().numpy()
# %%
# 3e) the middle pixel given all other pixels: 256 candidate images
digit, _ = test_set[3]
cand = digit[None].repeat(256, 1, 1, 1).to(device)
cand[:, 0, 14, 14] = torch.arange(256, device=device)
with torch.no_grad():
    lp = -F.cross_entropy(model(cand), cand, reduction="none").flatten(1)
rest = torch.softmax(lp[:, 14 * 28 + 14:].sum(dim=1), dim=0).cpu().numpy()
# %%
# 3f) samples of the bottom half given the top half
digit, _ = test_set[3]
canvas = digit[None].repeat(2, 1, 1, 1).to(device)
with torch.no_grad():
    for r in range(14, 28):
        for c in range(28):
            p = model(canvas)[:, :, 0, r, c].softmax(dim=1)
            canvas[:, 0, r, c] = torch.multinomial(p, 1)[:, 0]
bottom_samples = canvas.cpu()
# %%
# 3g) samples of the top half given the bottom half: prior samples of the top, resampled by the
# likelihood of the given bottom half
digit, _ = test_set[3]
K = 3
tops = digit[None].repeat(K, 1, 1, 1).to(device)
with torch.no_grad():
    for r in range(14):
        for c in range(28):
            tops[:, 0, r, c] = torch.multinomial(model(tops)[:, :, 0, r, c].softmax(dim=1), 1)[:, 0]
    lik = -F.cross_entropy(model(tops), tops, reduction="none")[:, 0, 14:].sum(dim=(1, 2))
choice = torch.multinomial(torch.softmax(lik, dim=0), 2, replacement=True)
top_samples = tops[choice].cpu()
