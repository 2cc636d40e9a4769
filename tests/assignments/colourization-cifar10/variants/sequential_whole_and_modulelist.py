import torch
import torch.nn as nn


class PoolUpsampleNet(nn.Module):
    """The whole network as one nn.Sequential."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        p = kernel // 2
        NF, NC, NIC = num_filters, num_colours, num_in_channels
        self.model = nn.Sequential(
            nn.Conv2d(NIC, NF, kernel, padding=p), nn.MaxPool2d(2), nn.BatchNorm2d(NF), nn.ReLU(),
            nn.Conv2d(NF, 2 * NF, kernel, padding=p), nn.MaxPool2d(2), nn.BatchNorm2d(2 * NF), nn.ReLU(),
            nn.Conv2d(2 * NF, NF, kernel, padding=p), nn.Upsample(scale_factor=2), nn.BatchNorm2d(NF), nn.ReLU(),
            nn.Conv2d(NF, NC, kernel, padding=p), nn.Upsample(scale_factor=2), nn.BatchNorm2d(NC), nn.ReLU(),
            nn.Conv2d(NC, NC, kernel, padding=p),
        )

    def forward(self, x):
        return self.model(x)


class ConvTransposeNet(nn.Module):
    """One nn.Sequential, built in a loop."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        NF, NC, NIC = num_filters, num_colours, num_in_channels
        layers = []
        for c_in, c_out in ((NIC, NF), (NF, 2 * NF)):
            layers += [nn.Conv2d(c_in, c_out, kernel, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        for c_in, c_out in ((2 * NF, NF), (NF, NC)):
            layers += [nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=1, output_padding=1, dilation=1),
                       nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.Conv2d(NC, NC, kernel, padding=kernel // 2))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class UNet(nn.Module):
    """Encoder and decoder blocks in ModuleLists; the skips collected on the way down."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        NF, NC, NIC = num_filters, num_colours, num_in_channels
        self.down = nn.ModuleList([
            nn.Sequential(nn.Conv2d(NIC, NF, kernel, stride=2, padding=1), nn.BatchNorm2d(NF), nn.ReLU()),
            nn.Sequential(nn.Conv2d(NF, 2 * NF, kernel, stride=2, padding=1), nn.BatchNorm2d(2 * NF), nn.ReLU()),
        ])
        self.up = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(2 * NF, NF, kernel, stride=2, padding=1, output_padding=1),
                          nn.BatchNorm2d(NF), nn.ReLU()),
            nn.Sequential(nn.ConvTranspose2d(2 * NF, NC, kernel, stride=2, padding=1, output_padding=1),
                          nn.BatchNorm2d(NC), nn.ReLU()),
        ])
        self.final = nn.Conv2d(NC + NIC, NC, kernel, padding=kernel // 2)

    def forward(self, x):
        skips = [x]
        h = x
        for block in self.down:
            h = block(h)
            skips.append(h)
        h = self.up[0](h)
        h = self.up[1](torch.cat([h, skips[1]], dim=1))
        return self.final(torch.cat([h, skips[0]], dim=1))


ANSWERS = {
    "4.3": {
        "weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",
        "outputs": "NF*(1024 + 512 + 64) + NC*(256 + 1024)",
        "connections": "9*(1024*NIC*NF + 512*NF*NF + 128*NF*NF + 256*NF*NC + 1024*NC*NC)",
        "weights_2x": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",
        "outputs_2x": "4*(NF*(1024 + 512 + 64) + NC*(256 + 1024))",
        "connections_2x": "36*(1024*NIC*NF + 512*NF*NF + 128*NF*NF + 256*NF*NC + 1024*NC*NC)",
    },
    "5.4": {4: [1, 1, 0], 5: [2, 2, 1]},
}
