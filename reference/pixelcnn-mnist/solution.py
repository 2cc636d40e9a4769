# %% [markdown]
# # Exercise 4: Auto-regressive models (PixelCNN on MNIST)
#
# Pixels are integers 0..255; the model outputs a 256-way softmax per pixel.
# Based on the UvA DL tutorial 12 code, without gated convolutions and without dilation.

# %%
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import lightning as pl

# %% [markdown]
# ## Question 1: PixelCNN with vertical / horizontal stacks (no gating, no dilation)
#
# * `MaskedConvolution`: a `Conv2d` whose weight is multiplied by the buffer `mask` in `forward`;
#   padding is chosen (taking dilation into account) so that the output keeps H x W.
# * `VerticalStackConvolution`: k x k kernel, rows below the centre masked out (and the centre
#   row too when `mask_center=True`): the output at row i sees only rows < i (first layer) or
#   features of rows <= i that themselves only saw rows < i.
# * `HorizontalStackConvolution`: 1 x k kernel, pixels right of the centre masked out (and the
#   centre when `mask_center=True`).
# * The horizontal stack receives the vertical stack's features through a 1x1 convolution in
#   every layer, so output (i, j) sees all pixels of rows i-n..i-1 in columns j-n..j+n
#   (including up-right) plus pixels (i, j-n..j-1): strictly causal, no blind spot.

# %%
class MaskedConvolution(nn.Module):
    def __init__(self, c_in, c_out, mask, **kwargs):
        """Conv2d whose kernel is multiplied by `mask` (shape kernel_h x kernel_w) in forward.
        kwargs go to nn.Conv2d (e.g. dilation); padding is set so the output keeps H x W."""
        super().__init__()
        # BEGIN SOLUTION
        kernel_size = tuple(mask.shape)
        dilation = kwargs.pop("dilation", 1)
        kwargs.pop("padding", None)
        padding = tuple(dilation * (k - 1) // 2 for k in kernel_size)
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=padding, dilation=dilation, **kwargs)
        self.register_buffer("mask", mask[None, None].float())
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        c = self.conv
        return F.conv2d(x, c.weight * self.mask, c.bias, c.stride, c.padding, c.dilation, c.groups)
        # END SOLUTION


class VerticalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        # BEGIN SOLUTION
        mask = torch.ones(kernel_size, kernel_size)
        mask[kernel_size // 2 + 1:, :] = 0      # rows below the centre
        if mask_center:
            mask[kernel_size // 2, :] = 0       # the centre row as well
        # END SOLUTION
        super().__init__(c_in, c_out, mask, **kwargs)


class HorizontalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        # BEGIN SOLUTION
        mask = torch.ones(1, kernel_size)
        mask[0, kernel_size // 2 + 1:] = 0      # pixels right of the centre
        if mask_center:
            mask[0, kernel_size // 2] = 0       # the centre pixel as well
        # END SOLUTION
        super().__init__(c_in, c_out, mask, **kwargs)


# %%
class StackLayer(nn.Module):
    """One non-gated layer: a vertical-stack conv, and a horizontal-stack conv to which the
    (new) vertical features are added through a 1x1 conv; residual connection on the
    horizontal stack."""

    def __init__(self, c_hidden, kernel_size=3):
        super().__init__()
        # BEGIN SOLUTION
        self.conv_vert = VerticalStackConvolution(c_hidden, c_hidden, kernel_size, mask_center=False)
        self.conv_horiz = HorizontalStackConvolution(c_hidden, c_hidden, kernel_size, mask_center=False)
        self.conv_vert_to_horiz = nn.Conv2d(c_hidden, c_hidden, 1)
        self.conv_horiz_1x1 = nn.Conv2d(c_hidden, c_hidden, 1)
        # END SOLUTION

    def forward(self, v_stack, h_stack):
        # BEGIN SOLUTION
        v_feat = self.conv_vert(F.elu(v_stack))
        h_feat = self.conv_horiz(F.elu(h_stack)) + self.conv_vert_to_horiz(F.elu(v_feat))
        h_out = h_stack + self.conv_horiz_1x1(F.elu(h_feat))
        return v_feat, h_out
        # END SOLUTION


class PixelCNN(pl.LightningModule):
    """PixelCNN: `n_layers` masked layers in total = 1 first layer (centre masked)
    + (n_layers - 1) `StackLayer`s; then conv_out(elu(h + v)) -> 256 * c_in logits.
    An output sees `n_layers` rows up and `n_layers` columns left/right (`self.reach`)."""

    # BEGIN SOLUTION
    # SKELETON: pass
    # mask_center of the first (vertical, horizontal) convolutions; NonCausalPixelCNN overrides.
    first_mask_center = (True, True)
    # END SOLUTION
    lr = 1e-3

    def __init__(self, c_in=1, c_hidden=64, n_layers=5):
        super().__init__()
        self.save_hyperparameters()
        # BEGIN SOLUTION
        mv, mh = self.first_mask_center
        self.conv_vstack = VerticalStackConvolution(c_in, c_hidden, mask_center=mv)
        self.conv_hstack = HorizontalStackConvolution(c_in, c_hidden, mask_center=mh)
        self.conv_layers = nn.ModuleList([StackLayer(c_hidden) for _ in range(n_layers - 1)])
        self.conv_out = nn.Conv2d(c_hidden, 256 * c_in, 1)
        self.reach = n_layers   # rows above / columns either side an output can see (kernel 3)
        # END SOLUTION

    def forward(self, x):
        """x: long (B,C,H,W) in 0..255 -> logits (B,256,C,H,W)."""
        # BEGIN SOLUTION
        x = (x.float() / 255.0) * 2 - 1
        v_stack = self.conv_vstack(x)
        h_stack = self.conv_hstack(x)
        for layer in self.conv_layers:
            v_stack, h_stack = layer(v_stack, h_stack)
        out = self.conv_out(F.elu(h_stack + v_stack))
        return out.reshape(out.shape[0], 256, out.shape[1] // 256, out.shape[2], out.shape[3])
        # END SOLUTION

    def calc_likelihood(self, x):
        """Mean negative log-likelihood in bits per dimension."""
        # BEGIN SOLUTION
        pred = self.forward(x)
        nll = F.cross_entropy(pred, x, reduction="none")
        bpd = nll.mean(dim=[1, 2, 3]) / math.log(2)
        return bpd.mean()
        # END SOLUTION

    @torch.no_grad()
    def sample(self, img_shape, img=None):
        """Fill the pixels equal to -1 in raster order (others are kept); returns the images."""
        # BEGIN SOLUTION
        if img is None:
            img = torch.full(img_shape, -1, dtype=torch.long, device=self.device)
        else:
            img = img.clone().to(self.device)
        for h in range(img_shape[2]):
            for w in range(img_shape[3]):
                for c in range(img_shape[1]):
                    todo = img[:, c, h, w] == -1
                    if not todo.any():
                        continue
                    pred = self.forward(img[:, :, :h + 1, :])   # causal: rows below unused
                    probs = F.softmax(pred[:, :, c, h, w], dim=-1)
                    new = torch.multinomial(probs, num_samples=1).squeeze(-1)
                    img[:, c, h, w] = torch.where(todo, new, img[:, c, h, w])
        return img
        # END SOLUTION

    def configure_optimizers(self):
        # BEGIN SOLUTION
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        return opt
        # END SOLUTION

    def training_step(self, batch, batch_idx):
        # BEGIN SOLUTION
        loss = self.calc_likelihood(batch[0])
        self.log("train_bpd", loss)
        return loss
        # END SOLUTION

    def validation_step(self, batch, batch_idx):
        # BEGIN SOLUTION
        self.log("val_bpd", self.calc_likelihood(batch[0]))
        # END SOLUTION

    def test_step(self, batch, batch_idx):
        # BEGIN SOLUTION
        self.log("test_bpd", self.calc_likelihood(batch[0]))
        # END SOLUTION


# %% [markdown]
# ## Question 2: a non-causal PixelCNN
#
# BEGIN SOLUTION
# SKELETON: # (Your explanation: what changes, and what happens to the training curves and the samples.)
# Only change: the first horizontal-stack convolution does not mask its centre, so the
# prediction of pixel i sees input pixel i (and still only earlier pixels otherwise). The model
# learns to copy its input: the training bpd collapses towards 0, but samples are garbage
# because at sampling time pixel i is unknown (-1) when it is predicted.
# END SOLUTION

# %%
class NonCausalPixelCNN(PixelCNN):
    # BEGIN SOLUTION
    # SKELETON: pass
    first_mask_center = (True, False)
    # END SOLUTION


# %% [markdown]
# ## Question 3: distributions and conditional samples
#
# Pixels are in raster order; "the middle pixel" is (14, 14).
#
# For each of a)-g): is it easy or hard? Implement the easy ones exactly; for the hard ones
# propose and implement an approximation. The grader calls each function with a trained
# PixelCNN (and sample counts of its own).
#
# BEGIN SOLUTION
# SKELETON: # (Your answers: easy or hard, and why; for the hard ones, your approximation.)
# * a) marginal of the first pixel: **easy** (it has no context: one forward pass).
# * b) marginal of the middle pixel: **hard** (sum over all 256^406 pasts) -> Monte Carlo over
#   ancestral samples of the pixels before it, averaging the model's predicted distribution.
# * c) middle pixel given the pixels above / left: **easy** (exactly the model's conditional).
# * d) middle pixel given the pixels below / right (all pixels after it in raster order):
#   **hard** (the past is unknown) -> self-normalised importance sampling with pasts drawn
#   from the model.
# * e) middle pixel given all other pixels: **easy-ish** (exact): for each of the 256 values v,
#   p(v | rest) is proportional to p(v | past) * prod_{k after} p(x_k | x_<k with v).
# * f) bottom half given the top half: **easy** (ancestral sampling of rows 14..27).
# * g) top half given the bottom half: **hard** -> MCMC (Metropolis-Hastings with block
#   proposals drawn from the model's own conditionals).
#
# Speed-up used throughout: the logits at (h, w) depend only on the input window rows
# h-n..h, columns w-n..w+n (n = `model.reach` = n_layers), so they are computed on that crop
# (exactly equal to the full forward pass; without `reach` the full image is used).
# END SOLUTION

# %%
MID = (14, 14)


# BEGIN SOLUTION
# SKELETON: pass
def _reach(model):
    return getattr(model, "reach", None)


def _logits_at(model, x, h, w):
    """Logits (B,256) of pixel (h, w) of the long images x (B,1,H,W), from a crop."""
    R = _reach(model)
    if R is None:
        return model(x[:, :, :h + 1, :])[:, :, 0, h, w]
    r0, c0, c1 = max(0, h - R), max(0, w - R), min(x.shape[3], w + R + 1)
    return model(x[:, :, r0:h + 1, c0:c1])[:, :, 0, h - r0, w - c0]


def _has_stacks(model):
    """True for the reference architecture (enables the cached fast path)."""
    return (getattr(model, "reach", None) is not None and hasattr(model, "conv_vstack")
            and hasattr(model, "conv_layers") and hasattr(model, "conv_out")
            and getattr(model.hparams, "c_in", 1) == 1)


def _scale(x):
    return (x.float() / 255.0) * 2 - 1


def _v_features(model, x, h):
    """Vertical-stack features of row h of every layer, [v_0, ..., v_{L-1}] each (B,c,1,W).
    They depend only on rows < h, so they are computed once per row (rows h-reach..h)."""
    r0 = max(0, h - model.reach)
    v = model.conv_vstack(_scale(x[:, :, r0:h + 1]))
    vs = [v[:, :, -1:]]
    for layer in model.conv_layers:
        # the top row is only needed by earlier layers (it would be wrong after the next
        # conv anyway: zero padding instead of real rows), drop it to save work
        v = layer.conv_vert(F.elu(v[:, :, 1:] if v.shape[2] > 1 and r0 > 0 else v))
        vs.append(v[:, :, -1:])
    return vs


def _h_logits(model, x, vs, h, w):
    """Logits (B,256) of pixel (h, w) from the cached vertical features of row h and the
    horizontal stack on row h, columns w-reach..w (identical to the full forward pass)."""
    c0 = max(0, w - model.reach)
    hh = model.conv_hstack(_scale(x[:, :, h:h + 1, c0:w + 1]))
    for layer, vf in zip(model.conv_layers, vs[1:]):
        h_feat = layer.conv_horiz(F.elu(hh)) + layer.conv_vert_to_horiz(F.elu(vf[..., c0:w + 1]))
        hh = hh + layer.conv_horiz_1x1(F.elu(h_feat))
    return model.conv_out(F.elu(hh[..., -1:] + vs[-1][..., w:w + 1]))[:, :, 0, 0]


def _sample_positions(model, x, positions):
    """Ancestral sampling: (re)sample x[:, 0, h, w] for (h, w) in `positions` (raster order),
    each from the model's conditional given the current values of the earlier pixels. In place.
    For the reference architecture the vertical stack is computed once per row (fast path)."""
    fast = _has_stacks(model)
    row, vs = None, None
    for h, w in positions:
        if fast:
            if h != row:
                row, vs = h, _v_features(model, x, h)
            logits = _h_logits(model, x, vs, h, w)
        else:
            logits = _logits_at(model, x, h, w)
        probs = F.softmax(logits.float(), dim=-1)
        x[:, 0, h, w] = torch.multinomial(probs, 1).squeeze(-1)
    return x


def _raster(h0, w0, h1, w1, W=28):
    """Positions from (h0, w0) inclusive to (h1, w1) exclusive, in raster order."""
    return [divmod(k, W) for k in range(h0 * W + w0, h1 * W + w1)]


def _pixel_logp(model, x):
    """log p(x_k | x_<k) for every pixel: (B,1,H,W)."""
    return -F.cross_entropy(model(x).float(), x, reduction="none")


def _after_mid_logp(model, x, mid=MID):
    """Sum over the pixels after `mid` (raster order) of log p(x_k | x_<k): (B,)."""
    lp = _pixel_logp(model, x)[:, 0]
    H, W = lp.shape[1:]
    after = (torch.arange(H * W, device=x.device) > mid[0] * W + mid[1]).view(H, W)
    return (lp * after).sum(dim=(1, 2))


def _mid_scores(model, x, values, mid=MID, chunk=64, include_mid=True):
    """For each image b of x (B,1,H,W) and each candidate value v in `values` (V,), the log of
    p(x_mid = v | past) * prod_{k after mid, within reach} p(x_k | x_<k with x_mid = v)
    (without the first factor if include_mid=False).
    Pixels after mid outside the reach do not depend on v (constant, dropped). -> (B, V).
    Exact: uses the crop that contains every pixel whose prediction depends on x_mid."""
    B, _, H, W = x.shape
    i, j = mid
    R = _reach(model)
    if R is None:
        r0, r1, c0, c1 = 0, H, 0, W
    else:
        r0, r1, c0, c1 = max(0, i - R), min(H, i + R + 1), max(0, j - 2 * R), min(W, j + 2 * R + 1)
    crop = x[:, :, r0:r1, c0:c1]
    h, w = crop.shape[2:]
    # output pixels that count: mid and everything after it within the reach window
    k = torch.arange(h * w, device=x.device).view(h, w)
    rows = torch.arange(h, device=x.device)[:, None] + r0
    cols = torch.arange(w, device=x.device)[None, :] + c0
    sel = k >= (i - r0) * w + (j - c0) + (0 if include_mid else 1)
    if R is not None:
        sel &= (rows <= i + R) & ((cols - j).abs() <= R)
    values = values.to(x.device)
    V = len(values)
    xs = crop.repeat_interleave(V, dim=0)                      # (B*V,1,h,w), image-major
    xs[:, 0, i - r0, j - c0] = values.repeat(B)
    out = torch.cat([(_pixel_logp(model, xs[s:s + chunk])[:, 0] * sel).sum(dim=(1, 2))
                     for s in range(0, B * V, chunk)])
    return out.view(B, V)

# END SOLUTION


# %%
@torch.no_grad()
def marginal_first_pixel(model):
    """p(x_(0,0)): a tensor (256,) that sums to 1."""
    # BEGIN SOLUTION
    # Exact: pixel (0, 0) has no context, so p(x_00) is the model's prediction there.
    x = torch.zeros(1, 1, 28, 28, dtype=torch.long, device=model.device)
    return F.softmax(model(x)[0, :, 0, 0, 0].float(), dim=0)
    # END SOLUTION


@torch.no_grad()
def marginal_middle_pixel(model, n_samples=64):
    """p(x_(14,14)): a tensor (256,) that sums to 1."""
    # BEGIN SOLUTION
    # Approximation (Monte Carlo, Rao-Blackwellised): draw `n_samples` pasts (all pixels
    # before (14, 14) in raster order) by ancestral sampling from the model, and average the
    # model's predicted distribution of pixel (14, 14) given each sampled past:
    # p(x_mid) = E_past[p(x_mid | past)] ~ 1/S sum_s p(x_mid | past_s).
    x = torch.zeros(n_samples, 1, 28, 28, dtype=torch.long, device=model.device)
    _sample_positions(model, x, _raster(0, 0, *MID))
    probs = F.softmax(_logits_at(model, x, *MID).float(), dim=-1)
    return probs.mean(0)
    # END SOLUTION


@torch.no_grad()
def conditional_middle_given_above_left(model, img):
    """p(x_(14,14) | the pixels above and to the left of it): a tensor (256,)."""
    # BEGIN SOLUTION
    # Exact: the model's own conditional p(x_mid | all pixels before it), one forward pass.
    x = img.to(model.device).long()
    return F.softmax(model(x)[0, :, 0, MID[0], MID[1]].float(), dim=0)
    # END SOLUTION


@torch.no_grad()
def conditional_middle_given_below_right(model, img, n_samples=64, n_grid=12):
    """p(x_(14,14) | the pixels below and to the right of it): a tensor (256,)."""
    # BEGIN SOLUTION
    # Approximation (self-normalised importance sampling; "below and to the right" = every
    # pixel after (14, 14) in raster order: row 14 right of it and rows 15..27).
    # p(v | after) is proportional to E_past[p(v | past) p(after | past, v)], past ~ p(past).
    # Draw S = `n_samples` pasts by ancestral sampling from the model (the proposal is the
    # prior, so the weights are likelihoods); for each past s and each v compute
    # log p(v | past_s) (exact, 256 values) + log p(after | past_s, v): its v-independent part
    # (pixels out of the reach of (14, 14)) from one full forward pass, its v-dependent part
    # (pixels within the reach) evaluated at `n_grid` evenly spaced values of v (0, 23, ..., 255) and linearly
    # interpolated in between (cost), then p(v | after) ~ sum_s exp(...) / normaliser.
    # Consistent as S grows (up to the interpolation); with few samples the weights are
    # dominated by the pasts that best explain the given pixels.
    dev = model.device
    x = img.to(dev).long().repeat(n_samples, 1, 1, 1)
    x_past = x.clone()
    _sample_positions(model, x_past, _raster(0, 0, *MID))
    before = torch.arange(28 * 28, device=dev).view(1, 1, 28, 28) < MID[0] * 28 + MID[1]
    x = torch.where(before, x_past, x)            # sampled past, given pixels after mid
    # log p(v | past_s), exact for all 256 values
    logp_mid = F.log_softmax(_logits_at(model, x, *MID).float(), dim=-1)          # (S, 256)
    # log p(affected pixels after mid | past_s, v) on a grid of v, linearly interpolated
    grid = torch.linspace(0, 255, n_grid, device=dev).round().long()
    lg = _mid_scores(model, x, grid, include_mid=False)                           # (S, G)
    v = torch.arange(256, device=dev)
    k = (torch.searchsorted(grid, v, right=True) - 1).clamp(0, n_grid - 2)
    t = (v - grid[k]).float() / (grid[k + 1] - grid[k]).float()
    l_after = (1 - t) * lg[:, k] + t * lg[:, k + 1]                               # (S, 256)
    # v-independent part: the pixels after mid outside the reach window, per past sample
    x0 = x.clone()
    x0[:, 0, MID[0], MID[1]] = 0
    lp = _pixel_logp(model, x0)[:, 0]
    H, W = lp.shape[1:]
    kk = torch.arange(H * W, device=dev).view(H, W)
    rows, cols = torch.arange(H, device=dev)[:, None], torch.arange(W, device=dev)[None, :]
    R = _reach(model)
    if R is None:
        inside = torch.ones(H, W, dtype=torch.bool, device=dev)
    else:
        inside = (rows <= MID[0] + R) & ((cols - MID[1]).abs() <= R)
    outside = (kk > MID[0] * W + MID[1]) & ~inside
    const = (lp * outside).sum(dim=(1, 2))                                        # (S,)
    logw = logp_mid + l_after + const[:, None]
    return torch.softmax(logw.flatten(), 0).view(n_samples, 256).sum(0)
    # END SOLUTION


@torch.no_grad()
def conditional_middle_given_rest(model, img):
    """p(x_(14,14) | every other pixel of img): a tensor (256,)."""
    # BEGIN SOLUTION
    # Exact: p(v | rest) is proportional to p(v | past) * prod_{k after} p(x_k | x_<k, v).
    # All 256 values are scored in batches; only pixels within the model's reach of (14, 14)
    # depend on v, so the product is taken over those (the rest cancels in the normalisation).
    x = img.to(model.device).long()
    scores = _mid_scores(model, x, torch.arange(256, device=model.device))[0]
    return torch.softmax(scores, 0)
    # END SOLUTION


@torch.no_grad()
def sample_bottom_given_top(model, img, n=4):
    """n samples (n,1,28,28) of rows 14..27 given rows 0..13 of img (kept)."""
    # BEGIN SOLUTION
    # Exact: ancestral sampling of rows 14..27 given rows 0..13 of img.
    x = img.to(model.device).long().repeat(n, 1, 1, 1)
    x[:, :, 14:] = -1
    return _sample_positions(model, x, _raster(14, 0, 28, 0))
    # END SOLUTION


@torch.no_grad()
def sample_top_given_bottom(model, img, n=4, n_steps=16, block_rows=3):
    """n samples (n,1,28,28) of rows 0..13 given rows 14..27 of img (kept)."""
    # BEGIN SOLUTION
    # Approximation (MCMC): target p(top | bottom) ~ p(top) p(bottom | top).
    # Start each of the n chains from an unconditional ancestral sample of rows 0..13. Then, for
    # `n_steps` Metropolis-Hastings steps: pick a block of `block_rows` rows inside 0..13 at
    # random, propose new values for it by ancestral sampling from the model given the rows
    # above it, and accept with probability min(1, p(after' | new block) / p(after | old block)),
    # the product of the model's conditionals of every pixel after the block (the rest of the
    # top half and the whole bottom half); the prior terms cancel with the proposal. A finite
    # chain only approximates the posterior. Rows 14..27 always equal img.
    dev = model.device
    x = img.to(dev).long().repeat(n, 1, 1, 1)
    x[:, :, :14] = -1
    _sample_positions(model, x, _raster(0, 0, 14, 0))

    def logp_after(z, r1):
        lp = _pixel_logp(model, z)[:, 0]
        return lp[:, r1:].sum(dim=(1, 2))

    for _ in range(n_steps):
        r0 = int(torch.randint(0, 14 - block_rows + 1, (1,)))
        r1 = r0 + block_rows
        prop = _sample_positions(model, x.clone(), _raster(r0, 0, r1, 0))
        both = logp_after(torch.cat([x, prop]), r1)
        log_ratio = both[n:] - both[:n]
        accept = torch.rand(n, device=dev).log() < log_ratio
        x[accept] = prop[accept]
    return x
    # END SOLUTION


# %% tags=["train"]
if __name__ == "__main__":
    import os
    import sys
    sys.path.insert(0, os.getcwd())   # run from reference/pixelcnn-mnist/
    from train import train_model
    model, metrics = train_model(epochs=2, out_dir=".")
    print(metrics)
