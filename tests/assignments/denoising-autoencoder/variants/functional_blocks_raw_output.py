# Assignment 6 -- models.py
# Blocks as small modules of my own, functional activations (F.relu) in their forward,
# no activation at all inside layer5 and no output squashing: the decoder outputs raw values.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Dense(nn.Module):
    """Linear -> BatchNorm1d -> ReLU"""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.bn = nn.BatchNorm1d(n_out)

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))


class DenseTanh(nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)

    def forward(self, x):
        return torch.tanh(self.fc(x))


class UpBlock(nn.Module):
    """ConvTranspose2d -> BN -> ReLU -> Conv2d -> BN -> ReLU"""

    def __init__(self, c_in, c_out, k, s):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, k, s)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(self.bn1(self.deconv(x)))
        return F.relu(self.bn2(self.conv(x)))


class LastBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(32, 32, 2, 1)
        self.conv = nn.Conv2d(32, 3, 1, 1, 0)

    def forward(self, x):
        return self.conv(self.deconv(x))


class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.hidden_layer = Dense(3 * img_size ** 2, z_dim)
        self.output_layer = DenseTanh(z_dim, z_dim)

    def forward(self, x):
        h = self.hidden_layer(torch.flatten(x, start_dim=1))
        return self.output_layer(h)


class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.layer1 = UpBlock(z_dim, 128, 7, 1)
        self.layer2 = UpBlock(128, 64, 3, 2)
        self.layer3 = UpBlock(64, 64, 3, 2)
        self.layer4 = UpBlock(64, 32, 3, 2)
        self.layer5 = LastBlock()

    def forward(self, z):
        h = z[:, :, None, None]
        for layer in [self.layer1, self.layer2, self.layer3, self.layer4, self.layer5]:
            h = layer(h)
        return h


ANSWERS = {}
ANSWERS["1a"] = [32, 16, 64, 64]
ANSWERS["1b"] = [32, 128, 3, 3]
ANSWERS["1c"] = [32, 32, 65, 65]
ANSWERS["1d"] = 448
