# %% [markdown]
# # CSC413 2023 A2 (programming part): image colourization as classification
#
# Grey CIFAR-10 horse images -> one of 24 palette colours per pixel (pixel-wise
# cross-entropy).
# BEGIN SOLUTION
# SKELETON: # Questions 4.1, 4.3, 5.1, 5.4 and 6.1 are yours to write; the training runs
# SKELETON: # (4.2, 5.2, 6.2) are in the cells tagged `train`.
# Reference solution for Questions 4.1, 4.3, 5.1, 5.4 and 6.1; the
# training runs (4.2, 5.2, 6.2) are in the cells tagged `train`.
# END SOLUTION

# %%
import os
import pickle

import numpy as np
import torch
import torch.nn as nn

HORSE = 7            # CIFAR-10 label of the horse class
MAX_PIXEL = 255.0    # uint8 -> [0, 1]


def find_data_dir():
    """The shipped data folder (fixture + colours.npy); $COLOURIZATION_DATA overrides."""
    candidates = [os.environ.get("COLOURIZATION_DATA", ""), "data",
                  os.path.join("assignments", "colourization-cifar10", "data")]
    if "__file__" in globals():
        here = os.path.dirname(os.path.abspath(__file__))
        candidates.append(os.path.join(here, "..", "..", "assignments", "colourization-cifar10", "data"))
    for c in candidates:
        if c and os.path.exists(os.path.join(c, "colours.npy")):
            return c
    return "data"


# %% [markdown]
# ## Helper code (given): data loading and preprocessing
#
# CIFAR-10 python batches; keep the horse class; grey input = mean of RGB in [0, 1];
# colour target = index of the nearest of the 24 k-means colours (RGB distance).

# %%
def load_cifar_batch(path):
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    data = d[b"data"] if b"data" in d else d["data"]
    labels = d[b"labels"] if b"labels" in d else d["labels"]
    return (np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32),
            np.asarray(labels, dtype=np.int64))


def load_cifar10(data_dir):
    root = os.path.join(data_dir, "cifar-10-batches-py")
    if not os.path.isdir(root):
        root = data_dir
    paths = [os.path.join(root, f"data_batch_{i}") for i in range(1, 6)]
    xs, ys = zip(*(load_cifar_batch(p) for p in paths if os.path.exists(p)))
    x_test, y_test = load_cifar_batch(os.path.join(root, "test_batch"))
    return (np.concatenate(xs), np.concatenate(ys)), (x_test, y_test)


def process(xs, ys, label=HORSE):
    """uint8 (N,3,32,32) images of one class -> (rgb float32 in [0,1], grey (N,1,32,32))."""
    rgb = xs[ys == label].astype(np.float32) / MAX_PIXEL
    grey = rgb.mean(axis=1, keepdims=True)
    return rgb, grey


def get_rgb_cat(rgb, colours, chunk=256):
    """Index of the nearest palette colour per pixel: int64 (N,1,H,W)."""
    colours = np.asarray(colours, dtype=np.float32)
    out = np.empty((rgb.shape[0], 1) + rgb.shape[2:], dtype=np.int64)
    for i in range(0, len(rgb), chunk):
        d = ((rgb[i:i + chunk, None] - colours[None, :, :, None, None]) ** 2).sum(axis=2)
        out[i:i + chunk, 0] = d.argmin(axis=1)
    return out


def get_cat_rgb(cats, colours):
    """Colour indices (N,1,H,W) -> RGB images (N,3,H,W) for display."""
    return np.asarray(colours)[cats[:, 0]].transpose(0, 3, 1, 2)


def load_colourization_data(data_dir=None):
    """-> (train_grey, train_cat), (val_grey, val_cat), colours"""
    data_dir = data_dir or find_data_dir()
    colours = np.load(os.path.join(data_dir, "colours.npy")).astype(np.float32)
    (x_train, y_train), (x_test, y_test) = load_cifar10(data_dir)
    train_rgb, train_grey = process(x_train, y_train)
    test_rgb, test_grey = process(x_test, y_test)
    return ((train_grey, get_rgb_cat(train_rgb, colours)),
            (test_grey, get_rgb_cat(test_rgb, colours)), colours)


# %% [markdown]
# ## Helper code (given): training loop
#
# Adam, pixel-wise cross-entropy over the colour classes, mini-batches of 100 in a fixed
# (seeded, shuffled once) order; per epoch: mean training loss over the batches, then
# validation loss (mean over batches) and pixel accuracy in percent, as in the starter.

# %%
def compute_loss(criterion, outputs, labels):
    """outputs (B,NC,H,W) logits, labels (B,1,H,W) colour indices."""
    return criterion(outputs, labels[:, 0])


def get_batch(x, y, batch_size):
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size], y[i:i + batch_size]


def run_validation_step(model, criterion, grey, cats, batch_size):
    model.eval()
    losses, correct, total = [], 0, 0
    with torch.no_grad():
        for xs, ys in get_batch(grey, cats, batch_size):
            xs, ys = torch.as_tensor(xs), torch.as_tensor(ys)
            outputs = model(xs)
            losses.append(compute_loss(criterion, outputs, ys).item())
            predicted = outputs.argmax(dim=1, keepdim=True)
            correct += (predicted == ys).sum().item()
            total += ys.numel()
    return float(np.mean(losses)), 100.0 * correct / total


def train(model, train_data, val_data, epochs, batch_size=100, lr=1e-3, seed=0, verbose=True):
    """Train `model` on (grey, cat) arrays; returns {'train_loss', 'val_loss', 'val_acc'}."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    train_grey, train_cat = train_data
    val_grey, val_cat = val_data
    order = np.random.permutation(len(train_grey))
    train_grey, train_cat = train_grey[order], train_cat[order]
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = {"train_loss": [], "val_loss": [], "val_acc": []}
    for epoch in range(epochs):
        model.train()
        losses = []
        for xs, ys in get_batch(train_grey, train_cat, batch_size):
            xs, ys = torch.as_tensor(xs), torch.as_tensor(ys)
            optimizer.zero_grad()
            loss = compute_loss(criterion, model(xs), ys)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        history["train_loss"].append(float(np.mean(losses)))
        val_loss, val_acc = run_validation_step(model, criterion, val_grey, val_cat, batch_size)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if verbose:
            print(f"epoch {epoch + 1:3d}/{epochs}: train loss {history['train_loss'][-1]:.4f}, "
                  f"val loss {val_loss:.4f}, val acc {val_acc:.1f}%")
    return history


# %% [markdown]
# ## 4.1 PoolUpsampleNet (Figure 1a)
#
# [BS,NIC,32,32] -> Conv2d, MaxPool2d, BatchNorm2d, ReLU -> [BS,NF,16,16]
# -> Conv2d, MaxPool2d, BatchNorm2d, ReLU -> [BS,2NF,8,8]
# -> Conv2d, Upsample, BatchNorm2d, ReLU -> [BS,NF,16,16]
# -> Conv2d, Upsample, BatchNorm2d, ReLU -> [BS,NC,32,32]
# -> Conv2d -> [BS,NC,32,32]

# %%
class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()

        # Useful parameters
        padding = kernel // 2

        # BEGIN SOLUTION
        NIC, NF, NC = num_in_channels, num_filters, num_colours
        self.conv1 = nn.Sequential(
            nn.Conv2d(NIC, NF, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(kernel_size=2),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(NF, 2 * NF, kernel_size=kernel, padding=padding),
            nn.MaxPool2d(kernel_size=2),
            nn.BatchNorm2d(2 * NF),
            nn.ReLU(),
        )
        self.upconv1 = nn.Sequential(
            nn.Conv2d(2 * NF, NF, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.upconv2 = nn.Sequential(
            nn.Conv2d(NF, NC, kernel_size=kernel, padding=padding),
            nn.Upsample(scale_factor=2),
            nn.BatchNorm2d(NC),
            nn.ReLU(),
        )
        self.finalconv = nn.Conv2d(NC, NC, kernel_size=kernel, padding=padding)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        out1 = self.conv1(x)
        out2 = self.conv2(out1)
        out3 = self.upconv1(out2)
        out4 = self.upconv2(out3)
        return self.finalconv(out4)
        # END SOLUTION


# %% [markdown]
# ## 4.3 Weights, outputs and connections of PoolUpsampleNet
#
# Five convolutions, kernel k = 3, input 32x32, padding 1 (biases and BatchNorm ignored).
# Outputs are the convolutions' own output activations (before pooling/upsampling);
# connections = (k*k*C_in weights per output) x outputs.
#
# BEGIN SOLUTION
# SKELETON: # Write your counts in `ANSWERS["4.3"]` below, as expressions in NIC, NF and NC.
# | layer | C_in -> C_out | conv output | weights | outputs | connections |
# |---|---|---|---|---|---|
# | conv1 | NIC -> NF | 32x32 | 9 NIC NF | 1024 NF | 9216 NIC NF |
# | conv2 | NF -> 2NF | 16x16 | 18 NF^2 | 512 NF | 4608 NF^2 |
# | upconv1 | 2NF -> NF | 8x8 | 18 NF^2 | 64 NF | 1152 NF^2 |
# | upconv2 | NF -> NC | 16x16 | 9 NF NC | 256 NC | 2304 NF NC |
# | finalconv | NC -> NC | 32x32 | 9 NC^2 | 1024 NC | 9216 NC^2 |
#
# Doubling width and height leaves the weights unchanged and multiplies every feature map
# area, hence outputs and connections, by 4.
# END SOLUTION
#
# ## 5.4 Paddings for kernel 4 and 5 (keeping the shapes of Figure 1b)
#
# BEGIN SOLUTION
# SKELETON: # Write the paddings in `ANSWERS["5.4"]` below.
# Conv2d (stride 2): out = floor((in + 2p - k) / 2) + 1 must be in/2 (in even):
# k=4 -> p=1, k=5 -> p=2 (in general p = (k-1)//2).
# ConvTranspose2d (stride 2, dilation 1): out = 2(in-1) - 2p + (k-1) + op + 1 = 2 in
# needs 2p - op = k - 2 with 0 <= op < 2: k=4 -> p=1, op=0; k=5 -> p=2, op=1.
# END SOLUTION

# %%
# BEGIN SOLUTION
# SKELETON: ANSWERS = {
# SKELETON:     "4.3": {"weights": None, "outputs": None, "connections": None,
# SKELETON:             "weights_2x": None, "outputs_2x": None, "connections_2x": None},
# SKELETON:     "5.4": {4: None, 5: None},
# SKELETON: }
ANSWERS = {
    "4.3": {
        "weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",
        "outputs": "1600*NF + 1280*NC",
        "connections": "9216*NIC*NF + 5760*NF**2 + 2304*NF*NC + 9216*NC**2",
        "weights_2x": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",
        "outputs_2x": "4*(1600*NF + 1280*NC)",
        "connections_2x": "4*(9216*NIC*NF + 5760*NF**2 + 2304*NF*NC + 9216*NC**2)",
    },
    # kernel: (Conv2d padding, ConvTranspose2d padding, ConvTranspose2d output_padding)
    "5.4": {4: (1, 1, 0), 5: (2, 2, 1)},
}
# END SOLUTION


# %% [markdown]
# ## 5.1 ConvTransposeNet (Figure 1b)
#
# [BS,NIC,32,32] -> Conv2d (stride 2), BatchNorm2d, ReLU -> [BS,NF,16,16]
# -> Conv2d (stride 2), BatchNorm2d, ReLU -> [BS,2NF,8,8]
# -> ConvTranspose2d (stride 2), BatchNorm2d, ReLU -> [BS,NF,16,16]
# -> ConvTranspose2d (stride 2), BatchNorm2d, ReLU -> [BS,NC,32,32]
# -> Conv2d -> [BS,NC,32,32]
# With kernel 3 the strided convolutions use padding 1 and the transposed ones padding 1,
# output_padding 1, as the handout says.

# %%
class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()

        # Useful parameters
        stride = 2
        padding = kernel // 2

        # BEGIN SOLUTION
        NIC, NF, NC = num_in_channels, num_filters, num_colours
        conv_padding = (kernel - 1) // 2                  # 1 for kernel 3
        convt_padding = (kernel - 1) // 2                 # 1 for kernel 3
        output_padding = 2 * convt_padding - kernel + 2   # 1 for kernel 3
        self.conv1 = nn.Sequential(
            nn.Conv2d(NIC, NF, kernel_size=kernel, stride=stride, padding=conv_padding),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(NF, 2 * NF, kernel_size=kernel, stride=stride, padding=conv_padding),
            nn.BatchNorm2d(2 * NF),
            nn.ReLU(),
        )
        self.upconv1 = nn.Sequential(
            nn.ConvTranspose2d(2 * NF, NF, kernel_size=kernel, stride=stride, dilation=1,
                               padding=convt_padding, output_padding=output_padding),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.upconv2 = nn.Sequential(
            nn.ConvTranspose2d(NF, NC, kernel_size=kernel, stride=stride, dilation=1,
                               padding=convt_padding, output_padding=output_padding),
            nn.BatchNorm2d(NC),
            nn.ReLU(),
        )
        self.finalconv = nn.Conv2d(NC, NC, kernel_size=kernel, padding=padding)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        out1 = self.conv1(x)
        out2 = self.conv2(out1)
        out3 = self.upconv1(out2)
        out4 = self.upconv2(out3)
        return self.finalconv(out4)
        # END SOLUTION


# %% [markdown]
# ## 6.1 UNet (Figure 1c)
#
# As ConvTransposeNet, plus skip connections: the second transposed convolution takes
# cat(output of the first transposed-conv block, output of the first conv block)
# (2NF channels); the final convolution takes cat(output of the second transposed-conv
# block, the grey input) (NC + NIC channels).

# %%
class UNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()

        # Useful parameters
        stride = 2
        padding = kernel // 2

        # BEGIN SOLUTION
        NIC, NF, NC = num_in_channels, num_filters, num_colours
        conv_padding = (kernel - 1) // 2
        convt_padding = (kernel - 1) // 2
        output_padding = 2 * convt_padding - kernel + 2
        self.conv1 = nn.Sequential(
            nn.Conv2d(NIC, NF, kernel_size=kernel, stride=stride, padding=conv_padding),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(NF, 2 * NF, kernel_size=kernel, stride=stride, padding=conv_padding),
            nn.BatchNorm2d(2 * NF),
            nn.ReLU(),
        )
        self.upconv1 = nn.Sequential(
            nn.ConvTranspose2d(2 * NF, NF, kernel_size=kernel, stride=stride, dilation=1,
                               padding=convt_padding, output_padding=output_padding),
            nn.BatchNorm2d(NF),
            nn.ReLU(),
        )
        self.upconv2 = nn.Sequential(
            nn.ConvTranspose2d(2 * NF, NC, kernel_size=kernel, stride=stride, dilation=1,
                               padding=convt_padding, output_padding=output_padding),
            nn.BatchNorm2d(NC),
            nn.ReLU(),
        )
        self.finalconv = nn.Conv2d(NC + NIC, NC, kernel_size=kernel, padding=padding)
        # END SOLUTION

    def forward(self, x):
        # BEGIN SOLUTION
        out1 = self.conv1(x)
        out2 = self.conv2(out1)
        out3 = self.upconv1(out2)
        out4 = self.upconv2(torch.cat([out3, out1], dim=1))
        return self.finalconv(torch.cat([out4, x], dim=1))
        # END SOLUTION


# %% [markdown]
# ## 4.2, 5.2, 6.2 Training runs
#
# Starter settings: kernel 3, 32 filters, 24 colours, Adam lr 0.001, batch 100,
# 25 epochs, seed 0 (the model is built right after seeding).

# %% tags=["train", "answer-4.2", "answer-5.2", "answer-6.2"]
EPOCHS = 25
train_data, val_data, colours = load_colourization_data()
histories = {}
for cls in (PoolUpsampleNet, ConvTransposeNet, UNet):
    torch.manual_seed(0)
    model = cls(3, 32, len(colours), 1)
    histories[cls.__name__] = train(model, train_data, val_data, EPOCHS, batch_size=100, lr=1e-3, seed=0)

# %% tags=["report", "answer-4.2", "answer-5.2", "answer-6.2"]
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for name, h in histories.items():
    epochs = range(1, len(h["train_loss"]) + 1)
    axes[0].plot(epochs, h["train_loss"], label=name)
    axes[1].plot(epochs, h["val_loss"], label=name)
    axes[2].plot(epochs, h["val_acc"], label=name)
for ax, title in zip(axes, ["train loss", "validation loss", "validation accuracy (%)"]):
    ax.set_title(title)
    ax.set_xlabel("epoch")
    ax.legend()
plt.tight_layout()
plt.show()
