import torch.nn as nn

from .blocks import up_block


class Decoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        self.z_dim = z_dim
        self.layer1 = up_block(z_dim, 128, 7, 1)
        self.layer2 = up_block(128, 64, 3, 2)
        self.layer3 = up_block(64, 64, 3, 2)
        self.layer4 = up_block(64, 32, 3, 2)
        self.layer5 = nn.Sequential(nn.ConvTranspose2d(32, 32, 2, 1), nn.ELU(), nn.Conv2d(32, 3, 1), nn.Sigmoid())

    def forward(self, z):
        x = z.view(-1, self.z_dim, 1, 1)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = layer(x)
        return x
