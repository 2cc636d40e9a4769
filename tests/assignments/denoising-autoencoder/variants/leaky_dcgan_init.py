"""models.py in the DCGAN tutorial's style: LeakyReLU(0.2) and BatchNorm2d in the decoder,
weights initialised N(0, 0.02) by an `apply` hook, reshape instead of view."""
import torch.nn as nn


def weights_init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super(Encoder, self).__init__()
        self.z_dim = z_dim
        self.img_size = img_size
        self.hidden_layer = nn.Sequential(
            nn.Linear(3 * img_size * img_size, z_dim),
            nn.BatchNorm1d(z_dim),
            nn.ReLU(True),
        )
        self.output_layer = nn.Sequential(
            nn.Linear(z_dim, z_dim),
            nn.Tanh(),
        )
        self.apply(weights_init)

    def forward(self, x):
        x = x.reshape(x.shape[0], -1)
        x = self.hidden_layer(x)
        x = self.output_layer(x)
        return x


class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super(Decoder, self).__init__()
        self.z_dim = z_dim
        self.img_size = img_size
        self.layer1 = nn.Sequential(
            nn.ConvTranspose2d(z_dim, 128, kernel_size=7, stride=1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(128, 128, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(128),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.layer2 = nn.Sequential(
            nn.ConvTranspose2d(128, 64, kernel_size=3, stride=2),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.layer3 = nn.Sequential(
            nn.ConvTranspose2d(64, 64, kernel_size=3, stride=2),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(64),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.layer4 = nn.Sequential(
            nn.ConvTranspose2d(64, 32, kernel_size=3, stride=2),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.layer5 = nn.Sequential(
            nn.ConvTranspose2d(32, 32, kernel_size=2, stride=1),
            nn.BatchNorm2d(32),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(32, 3, kernel_size=1, stride=1, padding=0),
            nn.Sigmoid(),
        )
        self.apply(weights_init)

    def forward(self, z):
        x = z.reshape(-1, self.z_dim, 1, 1)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.layer5(x)
        return x


# Question 1, worked out by hand with the formulas from the docs
ANSWERS = {
    "1a": (32, 16, 64, 64),     # (64 + 2*1 - 3)/1 + 1 = 64
    "1b": (32, 128, 3, 3),      # (1 - 1)*1 - 0 + 3 = 3
    "1c": (32, 32, 65, 65),     # (31 - 1)*2 - 0 + 5 = 65
    "1d": 3 * 3 * 3 * 16 + 16,  # weights + biases = 448
}
