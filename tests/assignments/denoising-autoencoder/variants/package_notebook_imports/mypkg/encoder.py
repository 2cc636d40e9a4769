import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__()
        # the flatten is the first step of the hidden layer
        self.hidden_layer = nn.Sequential(nn.Flatten(), nn.Linear(3 * img_size * img_size, z_dim),
                                          nn.BatchNorm1d(z_dim), nn.ReLU())
        self.output_layer = nn.Sequential(nn.Linear(z_dim, z_dim), nn.Tanh())

    def forward(self, x):
        return self.output_layer(self.hidden_layer(x))
