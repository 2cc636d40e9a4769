import torch.nn as nn


def up_block(c_in, c_out, kernel, stride, act=nn.ELU):
    """ConvTranspose2d (upsampling) then a 3x3 Conv2d (smoothing), each followed by BN + act."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, kernel_size=kernel, stride=stride),
        nn.BatchNorm2d(c_out),
        act(),
        nn.Conv2d(c_out, c_out, kernel_size=3, stride=1, padding=1),
        nn.BatchNorm2d(c_out),
        act(),
    )
