# %% [markdown]
# # Exercise 4 - autoregressive models
# Adapted from the tutorial 12 notebook: gated convolutions and dilation removed, four plain
# masked layers with vertical and horizontal stacks.

# %%
import os
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import pytorch_lightning as pl

device = torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")
CHECKPOINT_PATH = "saved_models/ex4"

# %%
class MaskedConvolution(nn.Module):
    def __init__(self, c_in, c_out, mask, **kwargs):
        super().__init__()
        kernel_size = (mask.shape[0], mask.shape[1])
        dilation = 1 if "dilation" not in kwargs else kwargs["dilation"]
        padding = tuple(dilation * (kernel_size[i] - 1) // 2 for i in range(2))
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=padding, **kwargs)
        self.register_buffer("mask", mask[None, None])

    def forward(self, x):
        self.conv.weight.data *= self.mask  # zero the masked weights before every use
        return self.conv(x)


class VerticalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        # the rows below the centre are hidden; with mask_center the centre row too
        mask = torch.ones(kernel_size, kernel_size)
        mask[kernel_size // 2 + 1:, :] = 0
        if mask_center:
            mask[kernel_size // 2, :] = 0
        super().__init__(c_in, c_out, mask, **kwargs)


class HorizontalStackConvolution(MaskedConvolution):
    def __init__(self, c_in, c_out, kernel_size=3, mask_center=False, **kwargs):
        # one row; pixels to the right of the centre hidden, and the centre with mask_center
        mask = torch.ones(1, kernel_size)
        mask[0, kernel_size // 2 + 1:] = 0
        if mask_center:
            mask[0, kernel_size // 2] = 0
        super().__init__(c_in, c_out, mask, **kwargs)


# %%
class MaskedConv(nn.Module):
    """The gated layer of the tutorial without the gate: ELU instead of tanh * sigmoid."""

    def __init__(self, c_in, **kwargs):
        super().__init__()
        self.conv_vert = VerticalStackConvolution(c_in, c_out=c_in, **kwargs)
        self.conv_horiz = HorizontalStackConvolution(c_in, c_out=c_in, **kwargs)
        self.conv_vert_to_horiz = nn.Conv2d(c_in, c_in, kernel_size=1, padding=0)
        self.conv_horiz_1x1 = nn.Conv2d(c_in, c_in, kernel_size=1, padding=0)

    def forward(self, v_stack, h_stack):
        v_stack_feat = self.conv_vert(v_stack)
        v_stack_out = F.elu(v_stack_feat)

        h_stack_feat = self.conv_horiz(h_stack)
        h_stack_feat = h_stack_feat + self.conv_vert_to_horiz(v_stack_feat)
        h_stack_feat = F.elu(h_stack_feat)
        h_stack_out = self.conv_horiz_1x1(h_stack_feat)
        h_stack_out = h_stack_out + h_stack
        return v_stack_out, h_stack_out


class PixelCNN(pl.LightningModule):
    def __init__(self, c_in, c_hidden):
        super().__init__()
        self.save_hyperparameters()
        self.conv_vstack = VerticalStackConvolution(c_in, c_hidden, mask_center=True)
        self.conv_hstack = HorizontalStackConvolution(c_in, c_hidden, mask_center=True)
        # four layers, no dilation
        self.conv_layers = nn.ModuleList([
            MaskedConv(c_hidden),
            MaskedConv(c_hidden),
            MaskedConv(c_hidden),
            MaskedConv(c_hidden),
        ])
        self.conv_out = nn.Conv2d(c_hidden, c_in * 256, kernel_size=1, padding=0)

    def forward(self, x):
        # Scale input from 0 to 255 back to -1 to 1
        x = (x.float() / 255.0) * 2 - 1
        v_stack = self.conv_vstack(x)
        h_stack = self.conv_hstack(x)
        for layer in self.conv_layers:
            v_stack, h_stack = layer(v_stack, h_stack)
        out = self.conv_out(F.elu(h_stack))
        # Output dimensions: [Batch, Classes, Channels, Height, Width]
        out = out.reshape(out.shape[0], 256, out.shape[1] // 256, out.shape[2], out.shape[3])
        return out

    def calc_likelihood(self, x):
        pred = self.forward(x)
        nll = F.cross_entropy(pred, x, reduction="none")
        bpd = nll.mean(dim=[1, 2, 3]) * np.log2(np.exp(1))
        return bpd.mean()

    @torch.no_grad()
    def sample(self, img_shape, img=None):
        if img is None:
            img = torch.zeros(img_shape, dtype=torch.long).to(device) - 1
        for h in range(img_shape[2]):
            for w in range(img_shape[3]):
                for c in range(img_shape[1]):
                    if (img[:, c, h, w] != -1).all().item():
                        continue
                    pred = self.forward(img[:, :, : h + 1, :])
                    probs = F.softmax(pred[:, :, c, h, w], dim=-1)
                    img[:, c, h, w] = torch.multinomial(probs, num_samples=1).squeeze(dim=-1)
        return img

    def configure_optimizers(self):
        optimizer = optim.Adam(self.parameters(), lr=1e-3)
        scheduler = optim.lr_scheduler.StepLR(optimizer, 1, gamma=0.99)
        return [optimizer], [scheduler]

    def training_step(self, batch, batch_idx):
        loss = self.calc_likelihood(batch[0])
        self.log("train_bpd", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        loss = self.calc_likelihood(batch[0])
        self.log("val_bpd", loss)

    def test_step(self, batch, batch_idx):
        loss = self.calc_likelihood(batch[0])
        self.log("test_bpd", loss)


# %% [markdown]
# ## 2. Not causal: the first horizontal convolution sees its own pixel.

# %%
class NonCausalPixelCNN(PixelCNN):
    def __init__(self, c_in, c_hidden):
        super().__init__(c_in, c_hidden)
        self.conv_hstack = HorizontalStackConvolution(c_in, c_hidden, mask_center=False)


# %% [markdown]
# ## 3. Distributions
# a) easy, c) easy, e) easy with 256 forward passes, f) easy (sampling), b) d) g) hard.

# %%
@torch.no_grad()
def marginal_first_pixel(model):
    img = torch.zeros(1, 1, 28, 28).long().to(device)
    pred = model(img.to(model.device))
    return F.softmax(pred[0, :, 0, 0, 0], dim=0)


@torch.no_grad()
def marginal_middle_pixel(model, n_samples=64):
    # sample everything before the middle pixel, then average the predicted distributions
    img = torch.zeros(n_samples, 1, 28, 28).long() - 1
    img[:, :, 14, 14:] = 0
    img[:, :, 15:, :] = 0
    img = model.sample(img.shape, img.to(model.device))
    pred = model(img)
    probs = F.softmax(pred[:, :, 0, 14, 14], dim=1)
    return probs.mean(dim=0)


@torch.no_grad()
def conditional_middle_given_above_left(model, img):
    pred = model(img.to(model.device))
    return F.softmax(pred[0, :, 0, 14, 14], dim=0)


@torch.no_grad()
def conditional_middle_given_below_right(model, img, n_samples=64):
    # importance sampling: pasts from the model, weighted by how well they explain the rest
    img = img.to(model.device)
    log_weights = []
    for i in range(n_samples):
        x = img.clone()
        x[:, :, :14, :] = -1
        x[:, :, 14, :14] = -1
        x = model.sample(x.shape, x)
        cands = x.repeat(256, 1, 1, 1)
        cands[:, 0, 14, 14] = torch.arange(256, device=x.device)
        logp = -F.cross_entropy(model(cands), cands, reduction="none")[:, 0]
        flat = logp.reshape(256, -1)
        log_weights.append(flat[:, 14 * 28 + 14:].sum(dim=1))   # the middle pixel and everything after it
    log_weights = torch.stack(log_weights)
    return torch.softmax(log_weights.flatten(), dim=0).reshape(n_samples, 256).sum(dim=0)


@torch.no_grad()
def conditional_middle_given_rest(model, img):
    img = img.to(model.device)
    scores = []
    for v in range(256):
        x = img.clone()
        x[0, 0, 14, 14] = v
        logp = -F.cross_entropy(model(x), x, reduction="none").reshape(-1)
        scores.append(logp[14 * 28 + 14:].sum())
    return torch.softmax(torch.stack(scores), dim=0)


@torch.no_grad()
def sample_bottom_given_top(model, img, n=4):
    x = img.repeat(n, 1, 1, 1).to(model.device)
    x[:, :, 14:, :] = -1
    return model.sample(x.shape, x)


@torch.no_grad()
def sample_top_given_bottom(model, img, n=4, n_steps=16):
    # Metropolis-Hastings: start from samples of the top, propose to resample the rows from a
    # random row to row 13, accept with the likelihood ratio of the bottom half
    x = img.repeat(n, 1, 1, 1).to(model.device)
    x[:, :, :14, :] = -1
    x = model.sample(x.shape, x)

    def bottom_loglik(z):
        logp = -F.cross_entropy(model(z), z, reduction="none")
        return logp[:, 0, 14:, :].sum(dim=(1, 2))

    current = bottom_loglik(x)
    for step in range(n_steps):
        r = np.random.randint(0, 14)
        prop = x.clone()
        prop[:, :, r:14, :] = -1
        prop = model.sample(prop.shape, prop)
        new = bottom_loglik(prop)
        accept = torch.rand(n, device=x.device) < torch.exp(new - current)
        x[accept] = prop[accept]
        current[accept] = new[accept]
    return x


# %% [markdown]
# ## Training (not run by the grader)

# %%
if __name__ == "__main__":
    from torchvision.datasets import MNIST
    trainer = pl.Trainer(default_root_dir=os.path.join(CHECKPOINT_PATH, "PixelCNN"), max_epochs=5)
    model = PixelCNN(c_in=1, c_hidden=64)
    trainer.fit(model)
