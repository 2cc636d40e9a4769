"""Exercise 4 - PixelCNN (no gating, no dilation).

The depth is fixed (N_LAYERS below), so PixelCNN takes only c_in and c_hidden. The masks are
applied to the weights by a forward pre-hook. Question 3's sample counts are fixed inside
each function.
"""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import lightning.pytorch as pl

N_LAYERS = 4          # masked layers after the first one


class MaskedConvolution(nn.Conv2d):
    def __init__(self, c_in, c_out, mask, **kwargs):
        kwargs.setdefault("padding", (mask.shape[0] // 2, mask.shape[1] // 2))
        super().__init__(c_in, c_out, tuple(mask.shape), **kwargs)
        self.register_buffer("mask", mask.view(1, 1, *mask.shape).float())
        self.register_forward_pre_hook(apply_mask)


def apply_mask(module, inputs):
    """forward pre-hook: zero the masked weights before every forward pass"""
    with torch.no_grad():
        module.weight.mul_(module.mask)


class VerticalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(kernel_size, kernel_size)
        mask[kernel_size // 2 + (0 if mask_center else 1):] = 0
        super().__init__(c_in, c_out, mask, **kwargs)


class HorizontalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(1, kernel_size)
        mask[0, kernel_size // 2 + (0 if mask_center else 1):] = 0
        super().__init__(c_in, c_out, mask, **kwargs)


class StackLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vert = VerticalStackConvolution(c, c)
        self.horiz = HorizontalStackConvolution(c, c)
        self.v_to_h = nn.Conv2d(c, c, 1)
        self.h_res = nn.Conv2d(c, c, 1)

    def forward(self, v, h):
        v2 = F.elu(self.vert(v))
        h2 = F.elu(self.horiz(h) + self.v_to_h(v2))
        return v2, h + self.h_res(h2)


class PixelCNN(pl.LightningModule):
    def __init__(self, c_in=1, c_hidden=64):
        super().__init__()
        self.c_in = c_in
        self.start_v = VerticalStackConvolution(c_in, c_hidden, mask_center=True)
        self.start_h = HorizontalStackConvolution(c_in, c_hidden, mask_center=True)
        self.stack = nn.ModuleList([StackLayer(c_hidden) for _ in range(N_LAYERS)])
        self.to_logits = nn.Conv2d(c_hidden, 256 * c_in, 1)

    def forward(self, x):
        x = x.float() * (2 / 255) - 1
        v, h = self.start_v(x), self.start_h(x)
        for layer in self.stack:
            v, h = layer(v, h)
        out = self.to_logits(F.elu(h + v))
        n, _, hh, ww = out.shape
        return out.view(n, 256, self.c_in, hh, ww)

    def calc_likelihood(self, x):
        logits = self(x).permute(0, 2, 3, 4, 1)               # (B, C, H, W, 256)
        dist = torch.distributions.Categorical(logits=logits)
        return -dist.log_prob(x).mean() / math.log(2)

    @torch.no_grad()
    def sample(self, img_shape, img=None):
        out = torch.full(img_shape, -1, dtype=torch.long, device=self.device) if img is None \
            else img.clone().to(self.device)
        _, C, H, W = img_shape
        for k in range(H * W):
            i, j = divmod(k, W)
            for c in range(C):
                need = out[:, c, i, j] == -1
                if need.any():
                    logits = self(out[:, :, : i + 1, :])[:, :, c, i, j]
                    draw = torch.distributions.Categorical(logits=logits).sample()
                    out[need, c, i, j] = draw[need]
        return out

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=1e-3)
        return {"optimizer": opt}

    def training_step(self, batch, batch_idx):
        x, _ = batch
        bpd = self.calc_likelihood(x)
        self.log("train_bpd", bpd)
        return bpd

    def validation_step(self, batch, batch_idx):
        self.log("val_bpd", self.calc_likelihood(batch[0]))

    def test_step(self, batch, batch_idx):
        self.log("test_bpd", self.calc_likelihood(batch[0]))


class NonCausalPixelCNN(PixelCNN):
    """Both first convolutions keep their centre: the prediction of pixel i sees pixel i."""

    def __init__(self, c_in=1, c_hidden=64):
        super().__init__(c_in, c_hidden)
        self.start_v = VerticalStackConvolution(c_in, c_hidden, mask_center=False)
        self.start_h = HorizontalStackConvolution(c_in, c_hidden, mask_center=False)


# ---- Question 3 ------------------------------------------------------------------------------
H = W = 28
MID = (14, 14)


def log_probs(model, x):
    """log p(x_ij | pixels before) for every pixel of x (B,1,28,28) -> (B,28,28)"""
    lp = F.log_softmax(model(x), dim=1)
    return lp.gather(1, x.unsqueeze(1)).squeeze(1).squeeze(1)


@torch.no_grad()
def marginal_first_pixel(model):
    x = torch.zeros(1, 1, H, W, dtype=torch.long, device=model.device)
    return F.softmax(model(x)[0, :, 0, 0, 0], 0)


@torch.no_grad()
def marginal_middle_pixel(model):
    n = 6                                   # number of sampled pasts
    img = torch.full((n, 1, H, W), -1, dtype=torch.long, device=model.device)
    img[:, :, 14, 14:] = 0
    img[:, :, 15:] = 0
    img = model.sample(img.shape, img)
    return F.softmax(model(img)[:, :, 0, 14, 14], 1).mean(0)


@torch.no_grad()
def conditional_middle_given_above_left(model, img):
    return F.softmax(model(img.to(model.device))[0, :, 0, 14, 14], 0)


@torch.no_grad()
def conditional_middle_given_below_right(model, img):
    """Very rough: the unknown pixels before the middle one are set to the background (0), then
    p(v | after) ~ p(v | background) * p(after | background, v), exactly over the 256 values."""
    x = img.to(model.device).clone()
    x[0, 0, :14] = 0
    x[0, 0, 14, :14] = 0
    cand = x.repeat(256, 1, 1, 1)
    cand[:, 0, 14, 14] = torch.arange(256, device=x.device)
    lp = log_probs(model, cand).flatten(1)
    return torch.softmax(lp[:, 14 * W + 14:].sum(1), 0)


@torch.no_grad()
def conditional_middle_given_rest(model, img):
    x = img.to(model.device)
    cand = x.repeat(256, 1, 1, 1)
    cand[:, 0, 14, 14] = torch.arange(256, device=x.device)
    lp = log_probs(model, cand).flatten(1)
    return torch.softmax(lp[:, 14 * W + 14:].sum(1), 0)


@torch.no_grad()
def sample_bottom_given_top(model, img, n=4):
    x = img.to(model.device).repeat(n, 1, 1, 1)
    x[:, :, 14:] = -1
    return model.sample(x.shape, x)


@torch.no_grad()
def sample_top_given_bottom(model, img, n=4):
    """Draw 4n top halves from the model and keep the n that explain the bottom best."""
    k = 4 * n
    x = img.to(model.device).repeat(k, 1, 1, 1)
    x[:, :, :14] = -1
    x = model.sample(x.shape, x)
    score = log_probs(model, x)[:, 14:].sum(dim=(1, 2))
    return x[score.topk(n).indices]
