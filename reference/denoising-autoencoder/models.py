"""COMP4680 assignment 6: a denoising auto-encoder for 64x64 Pokemon sprites.

Encoder: a two-layer perceptron, Linear -> BatchNorm1d -> ReLU, then Linear -> Tanh.
Decoder: five blocks of ConvTranspose2d then Conv2d, from z_dim x 1 x 1 up to 3 x 64 x 64.
"""
import torch
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.img_size = img_size
        # BEGIN SOLUTION
        # SKELETON: self.hidden_layer = None  # TODO: Linear -> BatchNorm1d -> ReLU, z_dim wide
        # SKELETON: self.output_layer = None  # TODO: Linear -> Tanh, z_dim wide
        n_in = 3 * img_size * img_size
        self.hidden_layer = nn.Sequential(nn.Linear(n_in, z_dim), nn.BatchNorm1d(z_dim), nn.ReLU())
        self.output_layer = nn.Sequential(nn.Linear(z_dim, z_dim), nn.Tanh())
        # END SOLUTION

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = self.hidden_layer(x)
        return self.output_layer(x)


class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.img_size = img_size
        # BEGIN SOLUTION
        # SKELETON: # TODO: layer1 .. layer5, each a ConvTranspose2d then a Conv2d (see the table)
        # SKELETON: self.layer1 = self.layer2 = self.layer3 = self.layer4 = self.layer5 = None

        def block(c_in, c_out, k_up, stride):
            return nn.Sequential(
                nn.ConvTranspose2d(c_in, c_out, k_up, stride=stride), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, stride=1, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())

        self.layer1 = block(z_dim, 128, 7, 1)
        self.layer2 = block(128, 64, 3, 2)
        self.layer3 = block(64, 64, 3, 2)
        self.layer4 = block(64, 32, 3, 2)
        self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, 2, stride=1), nn.ReLU(),
                                    nn.Conv2d(32, 3, 1, stride=1, padding=0), nn.Sigmoid())
        # END SOLUTION

    def forward(self, z):
        x = z.view(z.size(0), self.z_dim, 1, 1)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.layer5(x)


# Question 1: output sizes and a parameter count (computed by the layers themselves).
# BEGIN SOLUTION
# SKELETON: ANSWERS = {"1a": None, "1b": None, "1c": None, "1d": None}  # tuples, and an int for 1d


def _out(layer, shape):
    return tuple(layer.to("meta")(torch.zeros(shape, device="meta")).shape)


ANSWERS = {
    "1a": _out(nn.Conv2d(3, 16, 3, stride=1, padding=1), (32, 3, 64, 64)),
    "1b": _out(nn.ConvTranspose2d(128, 128, 3, stride=1, padding=0), (32, 128, 1, 1)),
    "1c": _out(nn.ConvTranspose2d(64, 32, 5, stride=2, padding=0), (32, 64, 31, 31)),
    "1d": sum(p.numel() for p in nn.Conv2d(3, 16, 3).parameters()),
}
# END SOLUTION
