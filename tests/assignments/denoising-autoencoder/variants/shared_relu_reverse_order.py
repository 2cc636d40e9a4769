from collections import OrderedDict

from torch import nn


class Encoder(nn.Module):
    """Layers created output first; one Flatten module; named sub-layers."""

    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.output_layer = nn.Sequential(OrderedDict([
            ("fc2", nn.Linear(z_dim, z_dim)),
            ("tanh", nn.Tanh()),
        ]))
        self.hidden_layer = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(3 * img_size * img_size, z_dim)),
            ("bn1", nn.BatchNorm1d(z_dim)),
            ("relu1", nn.ReLU()),
        ]))
        self.flatten = nn.Flatten()

    def forward(self, x):
        return self.output_layer(self.hidden_layer(self.flatten(x)))


class Decoder(nn.Module):
    """One ReLU module shared by every layer; the layers created from the last to the first."""

    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.relu = nn.ReLU()
        self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, (2, 2), (1, 1)), nn.BatchNorm2d(32), self.relu,
                                    nn.Conv2d(32, 3, (1, 1), (1, 1), (0, 0)), nn.Sigmoid())
        self.layer4 = nn.Sequential(nn.ConvTranspose2d(64, 32, 3, 2), nn.BatchNorm2d(32), self.relu,
                                    nn.Conv2d(32, 32, 3, 1, padding="same"), nn.BatchNorm2d(32), self.relu)
        self.layer3 = nn.Sequential(nn.ConvTranspose2d(64, 64, 3, 2), nn.BatchNorm2d(64), self.relu,
                                    nn.Conv2d(64, 64, 3, 1, padding="same"), nn.BatchNorm2d(64), self.relu)
        self.layer2 = nn.Sequential(nn.ConvTranspose2d(128, 64, 3, 2), nn.BatchNorm2d(64), self.relu,
                                    nn.Conv2d(64, 64, 3, 1, padding="same"), nn.BatchNorm2d(64), self.relu)
        self.layer1 = nn.Sequential(nn.ConvTranspose2d(z_dim, 128, 7, 1), nn.BatchNorm2d(128), self.relu,
                                    nn.Conv2d(128, 128, 3, 1, padding="same"), nn.BatchNorm2d(128), self.relu)

    def forward(self, z):
        h = z.unsqueeze(-1).unsqueeze(-1)
        for i in range(1, 6):
            h = getattr(self, f"layer{i}")(h)
        return h


def _conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _convt_out(n, k, s, p):
    return (n - 1) * s - 2 * p + k


ANSWERS = {
    "1a": (32, 16, _conv_out(64, 3, 1, 1), _conv_out(64, 3, 1, 1)),
    "1b": (32, 128, _convt_out(1, 3, 1, 0), _convt_out(1, 3, 1, 0)),
    "1c": (32, 32, _convt_out(31, 5, 2, 0), _convt_out(31, 5, 2, 0)),
    "1d": 16 * (3 * 3 * 3 + 1),
}
