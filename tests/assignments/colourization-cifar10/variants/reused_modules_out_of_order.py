"""One ReLU, one MaxPool2d and one Upsample module reused by every block; my own attribute
names; layers created in another order than they run (the final conv first)."""
import torch
import torch.nn as nn


class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        padding = kernel // 2
        self.out = nn.Conv2d(num_colours, num_colours, kernel, padding=padding)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2)
        self.dec2 = nn.Conv2d(num_filters, num_colours, kernel, padding=padding)
        self.dec1 = nn.Conv2d(2 * num_filters, num_filters, kernel, padding=padding)
        self.enc2 = nn.Conv2d(num_filters, 2 * num_filters, kernel, padding=padding)
        self.enc1 = nn.Conv2d(num_in_channels, num_filters, kernel, padding=padding)
        self.bn_e1 = nn.BatchNorm2d(num_filters)
        self.bn_e2 = nn.BatchNorm2d(2 * num_filters)
        self.bn_d1 = nn.BatchNorm2d(num_filters)
        self.bn_d2 = nn.BatchNorm2d(num_colours)

    def forward(self, x):
        x = self.relu(self.bn_e1(self.pool(self.enc1(x))))
        x = self.relu(self.bn_e2(self.pool(self.enc2(x))))
        x = self.relu(self.bn_d1(self.up(self.dec1(x))))
        x = self.relu(self.bn_d2(self.up(self.dec2(x))))
        return self.out(x)


class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride = 2
        padding = kernel // 2
        self.out = nn.Conv2d(num_colours, num_colours, kernel, padding=padding)
        self.relu = nn.ReLU(inplace=True)
        self.dec2 = nn.ConvTranspose2d(num_filters, num_colours, kernel, stride=stride, padding=1, output_padding=1)
        self.dec1 = nn.ConvTranspose2d(2 * num_filters, num_filters, kernel, stride=stride, padding=1,
                                       output_padding=1)
        self.enc2 = nn.Conv2d(num_filters, 2 * num_filters, kernel, stride=stride, padding=1)
        self.enc1 = nn.Conv2d(num_in_channels, num_filters, kernel, stride=stride, padding=1)
        self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in
                                  (num_filters, 2 * num_filters, num_filters, num_colours)])

    def forward(self, x):
        x = self.relu(self.bns[0](self.enc1(x)))
        x = self.relu(self.bns[1](self.enc2(x)))
        x = self.relu(self.bns[2](self.dec1(x)))
        x = self.relu(self.bns[3](self.dec2(x)))
        return self.out(x)


class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        stride = 2
        padding = kernel // 2
        self.out = nn.Conv2d(num_colours + num_in_channels, num_colours, kernel, padding=padding)
        self.relu = nn.ReLU()
        self.dec2 = nn.ConvTranspose2d(2 * num_filters, num_colours, kernel, stride=stride, padding=1,
                                       output_padding=1)
        self.dec1 = nn.ConvTranspose2d(2 * num_filters, num_filters, kernel, stride=stride, padding=1,
                                       output_padding=1)
        self.enc2 = nn.Conv2d(num_filters, 2 * num_filters, kernel, stride=stride, padding=1)
        self.enc1 = nn.Conv2d(num_in_channels, num_filters, kernel, stride=stride, padding=1)
        self.bn1, self.bn2 = nn.BatchNorm2d(num_filters), nn.BatchNorm2d(2 * num_filters)
        self.bn3, self.bn4 = nn.BatchNorm2d(num_filters), nn.BatchNorm2d(num_colours)

    def forward(self, x):
        e1 = self.relu(self.bn1(self.enc1(x)))
        e2 = self.relu(self.bn2(self.enc2(e1)))
        d1 = self.relu(self.bn3(self.dec1(e2)))
        d2 = self.relu(self.bn4(self.dec2(torch.cat((d1, e1), 1))))
        return self.out(torch.cat((d2, x), 1))


# 4.3 (kernel 3, 32x32 input): per conv k*k*Cin*Cout weights, Cout*H*W outputs
ANSWERS = {
    "4.3": {
        "weights": "9*NIC*NF + 9*NF*2*NF + 9*2*NF*NF + 9*NF*NC + 9*NC*NC",
        "outputs": "32*32*NF + 16*16*2*NF + 8*8*NF + 16*16*NC + 32*32*NC",
        "connections": "9*NIC*32*32*NF + 9*NF*16*16*2*NF + 9*2*NF*8*8*NF + 9*NF*16*16*NC + 9*NC*32*32*NC",
        "weights_2x": "9*NIC*NF + 9*NF*2*NF + 9*2*NF*NF + 9*NF*NC + 9*NC*NC",
        "outputs_2x": "64*64*NF + 32*32*2*NF + 16*16*NF + 32*32*NC + 64*64*NC",
        "connections_2x": "9*NIC*64*64*NF + 9*NF*32*32*2*NF + 9*2*NF*16*16*NF + 9*NF*32*32*NC + 9*NC*64*64*NC",
    },
    "5.4": {4: (1, 1, 0), 5: (2, 2, 1)},
}
