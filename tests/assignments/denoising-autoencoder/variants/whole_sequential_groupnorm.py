"""The whole decoder is one nn.Sequential (Unflatten first); layer1..layer5 name its blocks.
GroupNorm and ELU in the decoder. Required arguments without defaults (Encoder), and a
Decoder that takes no img_size."""
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, z_dim, img_size):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Sequential(nn.Linear(3 * img_size * img_size, z_dim), nn.BatchNorm1d(z_dim), nn.ReLU()),
            nn.Sequential(nn.Linear(z_dim, z_dim), nn.Tanh()),
        )
        self.hidden_layer = self.net[1]
        self.output_layer = self.net[2]

    def forward(self, x):
        return self.net(x)


def block(c_in, c_out, k, s):
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, k, s), nn.GroupNorm(8, c_out), nn.ELU(),
        nn.Conv2d(c_out, c_out, 3, 1, 1), nn.GroupNorm(8, c_out), nn.ELU(),
    )


class Decoder(nn.Module):
    def __init__(self, z_dim=64):
        super().__init__()
        self.z_dim = z_dim
        self.main = nn.Sequential(
            nn.Unflatten(1, (z_dim, 1, 1)),
            block(z_dim, 128, 7, 1),
            block(128, 64, 3, 2),
            block(64, 64, 3, 2),
            block(64, 32, 3, 2),
            nn.Sequential(nn.ConvTranspose2d(32, 32, 2, 1), nn.ELU(), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid()),
        )
        self.layer1, self.layer2, self.layer3, self.layer4, self.layer5 = self.main[1:]

    def forward(self, z):
        return self.main(z)


ANSWERS = {"1a": (32, 16, 64, 64), "1b": (32, 128, 3, 3), "1c": (32, 32, 65, 65), "1d": 448}
