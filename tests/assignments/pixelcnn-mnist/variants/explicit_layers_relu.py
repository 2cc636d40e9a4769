# Exercise 4 (Rosenbaum 2024) - my solution
# PixelCNN with vertical/horizontal stacks: layers kept as numbered attributes, ReLU, no
# residual connections, masks kept as plain tensors.

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F
import pytorch_lightning as pl


# ----------------------------------------------------------------------------------------
# Question 1
# ----------------------------------------------------------------------------------------
class MaskedConvolution(nn.Module):
    def __init__(self, c_in, c_out, mask, **kwargs):
        super().__init__()
        self.mask = mask.clone()          # not a buffer: moved to the input's device in forward
        pad = (mask.shape[0] // 2, mask.shape[1] // 2)
        self.conv = nn.Conv2d(c_in, c_out, tuple(mask.shape), padding=pad, **kwargs)

    def forward(self, x):
        weight = self.conv.weight * self.mask.to(x.device)
        return F.conv2d(x, weight, self.conv.bias, padding=self.conv.padding)


class VerticalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(kernel_size, kernel_size)
        centre = kernel_size // 2
        for r in range(kernel_size):
            if r > centre or (r == centre and mask_center):
                mask[r, :] = 0.0
        super().__init__(c_in, c_out, mask, **kwargs)


class HorizontalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        mask = torch.ones(1, kernel_size)
        centre = kernel_size // 2
        for c in range(kernel_size):
            if c > centre or (c == centre and mask_center):
                mask[0, c] = 0.0
        super().__init__(c_in, c_out, mask, **kwargs)


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.vconv = VerticalStackConvolution(c, c, 3)
        self.hconv = HorizontalStackConvolution(c, c, 3)
        self.link = nn.Conv2d(c, c, kernel_size=1)

    def forward(self, v, h):
        v = F.relu(self.vconv(v))
        h = F.relu(self.hconv(h) + self.link(v))
        return v, h


class PixelCNN(pl.LightningModule):
    def __init__(self, c_in, c_hidden, n_layers):
        super().__init__()
        self.n_layers = n_layers
        self.first_v = VerticalStackConvolution(c_in, c_hidden, 3, mask_center=True)
        self.first_h = HorizontalStackConvolution(c_in, c_hidden, 3, mask_center=True)
        for i in range(1, n_layers):                 # n_layers counts the first layer
            setattr(self, f"layer{i}", Layer(c_hidden))
        self.out = nn.Conv2d(c_hidden, 256 * c_in, 1)
        self.c_in = c_in

    def forward(self, x):
        x = x.float() / 255.0
        v = F.relu(self.first_v(x))
        h = F.relu(self.first_h(x))
        for i in range(1, self.n_layers):
            v, h = getattr(self, f"layer{i}")(v, h)
        logits = self.out(h)
        return logits.view(x.shape[0], 256, self.c_in, x.shape[2], x.shape[3])

    def calc_likelihood(self, x):
        logp = F.log_softmax(self.forward(x), dim=1)
        picked = logp.gather(1, x.unsqueeze(1)).squeeze(1)
        return -picked.mean() / math.log(2.0)

    @torch.no_grad()
    def sample(self, img_shape, img=None):
        if img is None:
            img = torch.full(img_shape, -1, dtype=torch.long)
        img = img.to(self.device)
        for r in range(img_shape[2]):
            for c in range(img_shape[3]):
                for ch in range(img_shape[1]):
                    missing = img[:, ch, r, c] == -1
                    if missing.any():
                        logits = self.forward(img)[:, :, ch, r, c]
                        new = torch.distributions.Categorical(logits=logits).sample()
                        img[:, ch, r, c] = torch.where(missing, new, img[:, ch, r, c])
        return img

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=2e-3)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.calc_likelihood(x)
        self.log_dict({"train_bpd": loss, "train_loss": loss})
        return {"loss": loss}

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log_dict({"val_bpd": self.calc_likelihood(x)})

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log_dict({"test_bpd": self.calc_likelihood(x)})


# ----------------------------------------------------------------------------------------
# Question 2: the first horizontal convolution does not mask its centre
# ----------------------------------------------------------------------------------------
class NonCausalPixelCNN(PixelCNN):
    def __init__(self, c_in, c_hidden, n_layers):
        super().__init__(c_in, c_hidden, n_layers)
        self.first_h = HorizontalStackConvolution(c_in, c_hidden, 3, mask_center=False)


# ----------------------------------------------------------------------------------------
# Question 3
# a) easy  b) hard: Monte Carlo (histogram of sampled middle pixels)  c) easy
# d) hard: importance sampling  e) easy (256 candidates)  f) easy  g) hard: MCMC
# ----------------------------------------------------------------------------------------
def pixel_log_probs(model, x):
    """log p(x_k | x_<k) for every pixel, (B, 28, 28)"""
    return F.log_softmax(model(x), dim=1).gather(1, x.unsqueeze(1))[:, 0, 0]


@torch.no_grad()
def marginal_first_pixel(model):
    blank = torch.zeros((1, 1, 28, 28), dtype=torch.long, device=model.device)
    return torch.softmax(model(blank)[0, :, 0, 0, 0], dim=0).cpu()


@torch.no_grad()
def marginal_middle_pixel(model, n_samples=64):
    # draw n_samples images up to the middle pixel (inclusive) and count its values
    img = torch.full((n_samples, 1, 28, 28), -1, dtype=torch.long)
    img[:, :, 14, 15:] = 0
    img[:, :, 15:, :] = 0
    samples = model.sample(img.shape, img)
    counts = torch.zeros(256)
    for v in samples[:, 0, 14, 14].tolist():
        counts[v] += 1
    return counts / counts.sum()


@torch.no_grad()
def conditional_middle_given_above_left(model, img):
    logits = model(img.to(model.device))[0, :, 0, 14, 14]
    return torch.softmax(logits, dim=0).cpu()


@torch.no_grad()
def conditional_middle_given_below_right(model, img, n_samples=64):
    img = img.to(model.device)
    weights = torch.zeros(n_samples, 256)
    for s in range(n_samples):
        x = img.clone()
        x[0, 0, :14] = -1
        x[0, 0, 14, :14] = -1
        x = model.sample(x.shape, x)
        for start in range(0, 256, 64):
            cand = x.repeat(64, 1, 1, 1)
            cand[:, 0, 14, 14] = torch.arange(start, start + 64, device=x.device)
            lp = pixel_log_probs(model, cand)
            tot = lp[:, 14, 14:].sum(dim=1) + lp[:, 15:].sum(dim=(1, 2))
            weights[s, start:start + 64] = tot.cpu()
    return torch.softmax(weights.flatten(), 0).view(n_samples, 256).sum(0)


@torch.no_grad()
def conditional_middle_given_rest(model, img):
    img = img.to(model.device)
    cand = img.repeat(256, 1, 1, 1)
    cand[:, 0, 14, 14] = torch.arange(256, device=img.device)
    lp = pixel_log_probs(model, cand)
    score = lp[:, 14, 14:].sum(dim=1) + lp[:, 15:].sum(dim=(1, 2))
    return torch.softmax(score, 0).cpu()


@torch.no_grad()
def sample_bottom_given_top(model, img, n=4):
    x = img.repeat(n, 1, 1, 1)
    x[:, :, 14:] = -1
    return model.sample(x.shape, x).cpu()


@torch.no_grad()
def sample_top_given_bottom(model, img, n=4, n_steps=16):
    # Metropolis within Gibbs on single rows of the top half: propose row r from the model
    # given the rows above it, accept with p(rest | new row) / p(rest | old row)
    x = img.repeat(n, 1, 1, 1).to(model.device)
    x[:, :, :14] = -1
    x = model.sample(x.shape, x)
    for _ in range(n_steps):
        r = random.randrange(14)
        prop = x.clone()
        prop[:, :, r] = -1
        prop = model.sample(prop.shape, prop)
        old = pixel_log_probs(model, x)[:, r + 1:].sum(dim=(1, 2))
        new = pixel_log_probs(model, prop)[:, r + 1:].sum(dim=(1, 2))
        ok = torch.rand(n, device=x.device).log() < new - old
        x[ok] = prop[ok]
    return x.cpu()


if __name__ == "__main__":
    model = PixelCNN(1, 64, 5)
    trainer = pl.Trainer(max_epochs=2)
