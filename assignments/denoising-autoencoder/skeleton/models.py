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
        self.hidden_layer = None  # TODO: Linear -> BatchNorm1d -> ReLU, z_dim wide
        self.output_layer = None  # TODO: Linear -> Tanh, z_dim wide

    def forward(self, x):
        x = x.view(x.size(0), -1)
        x = self.hidden_layer(x)
        return self.output_layer(x)


class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.img_size = img_size
        # TODO: layer1 .. layer5, each a ConvTranspose2d then a Conv2d (see the table)
        self.layer1 = self.layer2 = self.layer3 = self.layer4 = self.layer5 = None

    def forward(self, z):
        x = z.view(z.size(0), self.z_dim, 1, 1)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        return self.layer5(x)


# Question 1: output sizes and a parameter count (computed by the layers themselves).
ANSWERS = {"1a": None, "1b": None, "1c": None, "1d": None}  # tuples, and an int for 1d
