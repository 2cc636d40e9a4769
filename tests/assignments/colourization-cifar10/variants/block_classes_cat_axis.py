import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    """conv -> [resize] -> BatchNorm -> ReLU (functional)"""

    def __init__(self, c_in, c_out, kernel, resize=None, stride=1, transpose=False):
        super().__init__()
        if transpose:
            self.conv = nn.ConvTranspose2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2,
                                           output_padding=1)
        else:
            self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2)
        self.resize = resize if resize is not None else nn.Identity()
        self.norm = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.norm(self.resize(self.conv(x))))


class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.layers = nn.Sequential(
            ConvBlock(num_in_channels, num_filters, kernel, nn.MaxPool2d(2)),
            ConvBlock(num_filters, num_filters * 2, kernel, nn.MaxPool2d(2)),
            ConvBlock(num_filters * 2, num_filters, kernel, nn.Upsample(scale_factor=2)),
            ConvBlock(num_filters, num_colours, kernel, nn.Upsample(scale_factor=2)),
            nn.Conv2d(num_colours, num_colours, kernel, padding=kernel // 2),
        )

    def forward(self, x):
        return self.layers(x)


class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.layers = nn.Sequential(
            ConvBlock(num_in_channels, num_filters, kernel, stride=2),
            ConvBlock(num_filters, num_filters * 2, kernel, stride=2),
            ConvBlock(num_filters * 2, num_filters, kernel, stride=2, transpose=True),
            ConvBlock(num_filters, num_colours, kernel, stride=2, transpose=True),
            nn.Conv2d(num_colours, num_colours, kernel, padding=kernel // 2),
        )

    def forward(self, x):
        return self.layers(x)


class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        self.block1 = ConvBlock(num_in_channels, num_filters, kernel, stride=2)
        self.block2 = ConvBlock(num_filters, num_filters * 2, kernel, stride=2)
        self.block3 = ConvBlock(num_filters * 2, num_filters, kernel, stride=2, transpose=True)
        self.block4 = ConvBlock(num_filters * 2, num_colours, kernel, stride=2, transpose=True)
        self.final = nn.Conv2d(num_colours + num_in_channels, num_colours, kernel, padding=kernel // 2)

    def forward(self, x):
        out1 = self.block1(x)
        out3 = self.block3(self.block2(out1))
        out4 = self.block4(torch.cat([out3, out1], axis=1))
        return self.final(torch.cat([out4, x], axis=1))


NIC, NF, NC = "NIC", "NF", "NC"
ANSWERS = {
    "4.3": {
        "weights": f"9*{NIC}*{NF} + 18*{NF}**2 + 18*{NF}**2 + 9*{NF}*{NC} + 9*{NC}**2",
        "outputs": f"1024*{NF} + 512*{NF} + 64*{NF} + 256*{NC} + 1024*{NC}",
        "connections": f"9216*{NIC}*{NF} + 4608*{NF}**2 + 1152*{NF}**2 + 2304*{NF}*{NC} + 9216*{NC}**2",
        "weights_2x": f"9*{NIC}*{NF} + 18*{NF}**2 + 18*{NF}**2 + 9*{NF}*{NC} + 9*{NC}**2",
        "outputs_2x": f"4096*{NF} + 2048*{NF} + 256*{NF} + 1024*{NC} + 4096*{NC}",
        "connections_2x": f"36864*{NIC}*{NF} + 18432*{NF}**2 + 4608*{NF}**2 + 9216*{NF}*{NC} + 36864*{NC}**2",
    },
    "5.4": {4: (1, 1, 0), 5: (2, 2, 1)},
}
