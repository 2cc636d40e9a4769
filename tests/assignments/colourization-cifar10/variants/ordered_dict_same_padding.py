"""Named layers (OrderedDict), padding="same", defaults in the signatures, tuple kernel sizes."""
from collections import OrderedDict

import torch
from torch import nn


class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel=3, num_filters=32, num_colours=24, num_in_channels=1):
        super().__init__()
        nf, nc = num_filters, num_colours

        def stage(name, c_in, c_out, resize):
            return nn.Sequential(OrderedDict([
                (f"{name}_conv", nn.Conv2d(c_in, c_out, (kernel, kernel), padding="same")),
                (f"{name}_resize", resize),
                (f"{name}_bn", nn.BatchNorm2d(c_out)),
                (f"{name}_relu", nn.ReLU(inplace=True)),
            ]))

        self.features = nn.Sequential(OrderedDict([
            ("down1", stage("down1", num_in_channels, nf, nn.MaxPool2d(kernel_size=2))),
            ("down2", stage("down2", nf, 2 * nf, nn.MaxPool2d(kernel_size=2))),
            ("up1", stage("up1", 2 * nf, nf, nn.Upsample(scale_factor=2))),
            ("up2", stage("up2", nf, nc, nn.Upsample(scale_factor=2))),
        ]))
        self.head = nn.Conv2d(nc, nc, (kernel, kernel), padding="same")

    def forward(self, x):
        return self.head(self.features(x))


class ConvTransposeNet(nn.Module):
    def __init__(self, kernel=3, num_filters=32, num_colours=24, num_in_channels=1):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.blocks = nn.ModuleDict({
            "down1": nn.Sequential(nn.Conv2d(num_in_channels, nf, (kernel, kernel), (2, 2), (1, 1)),
                                   nn.BatchNorm2d(nf), nn.ReLU()),
            "down2": nn.Sequential(nn.Conv2d(nf, 2 * nf, (kernel, kernel), (2, 2), (1, 1)),
                                   nn.BatchNorm2d(2 * nf), nn.ReLU()),
            "up1": nn.Sequential(nn.ConvTranspose2d(2 * nf, nf, (kernel, kernel), (2, 2), (1, 1), (1, 1)),
                                 nn.BatchNorm2d(nf), nn.ReLU()),
            "up2": nn.Sequential(nn.ConvTranspose2d(nf, nc, (kernel, kernel), (2, 2), (1, 1), (1, 1)),
                                 nn.BatchNorm2d(nc), nn.ReLU()),
            "head": nn.Conv2d(nc, nc, (kernel, kernel), padding="same"),
        })

    def forward(self, x):
        for name in ("down1", "down2", "up1", "up2", "head"):
            x = self.blocks[name](x)
        return x


class UNet(nn.Module):
    def __init__(self, kernel=3, num_filters=32, num_colours=24, num_in_channels=1):
        super().__init__()
        nf, nc = num_filters, num_colours
        self.down1 = nn.Sequential(nn.Conv2d(num_in_channels, nf, kernel, 2, 1), nn.BatchNorm2d(nf), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(nf, 2 * nf, kernel, 2, 1), nn.BatchNorm2d(2 * nf), nn.ReLU())
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * nf, nf, kernel, 2, 1, 1), nn.BatchNorm2d(nf), nn.ReLU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(2 * nf, nc, kernel, 2, 1, 1), nn.BatchNorm2d(nc), nn.ReLU())
        self.head = nn.Conv2d(nc + num_in_channels, nc, kernel, padding="same")

    @staticmethod
    def _skip(a, b):
        return torch.cat([a, b], dim=-3)      # channels of NCHW

    def forward(self, x):
        d1 = self.down1(x)
        u1 = self.up1(self.down2(d1))
        u2 = self.up2(self._skip(u1, d1))
        return self.head(self._skip(u2, x))


ANSWERS = {
    "4.3": {
        "weights": "9*(NIC*NF + 4*NF**2 + NF*NC + NC**2)",
        "outputs": "32*32*(NF + NC) + 16*16*(2*NF + NC) + 8*8*NF",
        "connections": "9*32*32*(NIC*NF + NC**2) + 9*16*16*(2*NF**2 + NF*NC) + 9*8*8*2*NF**2",
        "weights_2x": "9*(NIC*NF + 4*NF**2 + NF*NC + NC**2)",
        "outputs_2x": "64*64*(NF + NC) + 32*32*(2*NF + NC) + 16*16*NF",
        "connections_2x": "9*64*64*(NIC*NF + NC**2) + 9*32*32*(2*NF**2 + NF*NC) + 9*16*16*2*NF**2",
    },
    "5.4": {4: (1, 1, 0), 5: (2, 2, 1)},
}
