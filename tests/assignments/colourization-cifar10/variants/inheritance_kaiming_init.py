# %% [markdown]
# CSC413 A2. Blocks from a helper, He (Kaiming) initialisation of every convolution, and a
# UNet that inherits ConvTransposeNet and replaces the two layers the skips change.

# %%
import torch
import torch.nn as nn


def init_weights(module):
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def down_block(c_in, c_out, kernel, mode):
    """conv + (pool) + BN + ReLU; `mode` is "pool" or "stride"."""
    if mode == "pool":
        return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), nn.MaxPool2d(2, 2),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def up_block(c_in, c_out, kernel, mode):
    if mode == "upsample":
        return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
                             nn.Upsample(scale_factor=2.0, mode="nearest"),
                             nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, kernel, stride=2, padding=(kernel - 1) // 2,
                                            output_padding=1, dilation=1),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super(PoolUpsampleNet, self).__init__()
        self.encoder = nn.Sequential(down_block(num_in_channels, num_filters, kernel, "pool"),
                                     down_block(num_filters, 2 * num_filters, kernel, "pool"))
        self.decoder = nn.Sequential(up_block(2 * num_filters, num_filters, kernel, "upsample"),
                                     up_block(num_filters, num_colours, kernel, "upsample"))
        self.classifier = nn.Conv2d(num_colours, num_colours, kernel, padding=kernel // 2)
        init_weights(self)

    def forward(self, x):
        return self.classifier(self.decoder(self.encoder(x)))


class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super(ConvTransposeNet, self).__init__()
        self.down1 = down_block(num_in_channels, num_filters, kernel, "stride")
        self.down2 = down_block(num_filters, 2 * num_filters, kernel, "stride")
        self.up1 = up_block(2 * num_filters, num_filters, kernel, "transpose")
        self.up2 = up_block(num_filters, num_colours, kernel, "transpose")
        self.classifier = nn.Conv2d(num_colours, num_colours, kernel, padding=kernel // 2)
        init_weights(self)

    def forward(self, x):
        return self.classifier(self.up2(self.up1(self.down2(self.down1(x)))))


class UNet(ConvTransposeNet):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__(kernel, num_filters, num_colours, num_in_channels)
        # the skips widen the inputs of the second transposed conv and of the classifier
        self.up2 = up_block(2 * num_filters, num_colours, kernel, "transpose")
        self.classifier = nn.Conv2d(num_colours + num_in_channels, num_colours, kernel, padding=kernel // 2)
        init_weights(self)

    def forward(self, x):
        d1 = self.down1(x)
        u1 = self.up1(self.down2(d1))
        u2 = self.up2(torch.cat([u1, d1], dim=1))
        return self.classifier(torch.cat([u2, x], dim=1))


# %%
# 4.3 counted with BatchNorm2d too (the handout accepts it): gamma + beta per channel, and the
# BatchNorm outputs (after pooling / upsampling) with one connection each
_w = "9*NIC*NF + 18*NF**2 + 18*NF**2 + 9*NF*NC + 9*NC**2 + 2*NF + 4*NF + 2*NF + 2*NC"
_o = "(1024*NF + 256*NF) + (512*NF + 128*NF) + (64*NF + 256*NF) + (256*NC + 1024*NC) + 1024*NC"
_c = ("9216*NIC*NF + 256*NF + 4608*NF**2 + 128*NF + 1152*NF**2 + 256*NF + 2304*NF*NC + 1024*NC"
      " + 9216*NC**2")
ANSWERS = {
    "4.3": {"weights": _w, "outputs": _o, "connections": _c,
            "weights_2x": _w, "outputs_2x": f"4*({_o})", "connections_2x": f"4*({_c})"},
    "5.4": {4: (1, 1, 0), 5: (2, 2, 1)},
}
