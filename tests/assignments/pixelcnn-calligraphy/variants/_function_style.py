# %% [markdown]
# # COMP4211 PA2 (2023): autoregressive image generation on Chinese calligraphy
#
# Binarized 32x32 glyphs, a PixelCNN-style model built from causal ("down" and
# "down-right" moved) convolutions and gated residual blocks.  TensorFlow 2.x with
# Keras 3 (the handout was written for TF 2.11 / Keras 2): layers use `keras.ops`,
# weights are stored as Keras-3 `.weights.h5` files (matched by attribute path).
#
# Data: `DATA_DIR/pa2/train`, `DATA_DIR/pa2/test` (JPGs); pretrained weights:
# `DATA_DIR/pixel_cnn_pretrained.weights.h5` (the course's `pixel_cnn_e5.h5`).
# `DATA_DIR` defaults to `data` (environment variable `PA2_DATA_DIR` overrides it).

# %%
import math
import os

import numpy as np
import tensorflow as tf
import keras
from keras import ops
from PIL import Image

DATA_DIR = os.environ.get("PA2_DATA_DIR", "data")
TRAIN_DIR = os.path.join(DATA_DIR, "pa2", "train")
TEST_DIR = os.path.join(DATA_DIR, "pa2", "test")
PRETRAINED_WEIGHTS = os.path.join(DATA_DIR, "pixel_cnn_pretrained.weights.h5")

IMG_SIZE = 32
N_FILTERS, N_RESNET, N_BLOCK, N_OUTPUT = 64, 6, 6, 10   # Table 1


# %% [markdown]
# ## Provided functions (4.2.3.1)

# %%
def down_move(x, step=1):
    """Shift features down along the height axis: zeros on top, drop the bottom rows."""
    h = x.shape[1]
    return ops.pad(x[:, : h - step, :, :], [[0, 0], [step, 0], [0, 0], [0, 0]])


def right_move(x, step=1):
    """Shift features right along the width axis: zeros on the left, drop the right columns."""
    w = x.shape[2]
    return ops.pad(x[:, :, : w - step, :], [[0, 0], [0, 0], [step, 0], [0, 0]])


def concat_elu(x):
    """ELU of [x, -x] concatenated on the channel axis (doubles the depth)."""
    return ops.elu(ops.concatenate([x, -x], axis=-1))


# %% [markdown]
# ## 4.1 Dataset and data generator [C1], [C2]

# %%
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class CalligraphyDataset(keras.utils.Sequence):
    """Batches (x, y) of binarized 32x32 grey glyphs, x == y, float32 (B, 32, 32, 1).

    subset=None uses every image of data_dir; subset="train"/"val" gives a fixed
    (seeded) 80:20 holdout split of it (val_fraction of the files go to "val").
    """

    def __init__(self, data_dir, batch_size=32, shuffle=False, subset=None,
                 val_fraction=0.2, seed=0, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.shuffle = shuffle
        files = sorted(f for f in os.listdir(data_dir) if f.lower().endswith(IMG_EXTENSIONS))
        if subset is not None:
            order = np.random.default_rng(seed).permutation(len(files))
            n_val = int(round(len(files) * val_fraction))
            keep = order[:n_val] if subset == "val" else order[n_val:]
            files = [files[i] for i in sorted(keep)]
        self.files = files
        self.indices = np.arange(len(self.files))
        self._rng = np.random.default_rng(seed)
        if self.shuffle:
            self._rng.shuffle(self.indices)
        # END SOLUTION

    def __len__(self):
        # BEGIN SOLUTION
        return math.ceil(len(self.files) / self.batch_size)
        # END SOLUTION

    def load_image(self, path):
        # BEGIN SOLUTION
        img = Image.open(path).convert("L").resize((IMG_SIZE, IMG_SIZE), Image.BILINEAR)
        x = np.asarray(img, dtype=np.float32) / 255.0
        return np.where(x < 0.33, 0.0, 1.0).astype(np.float32)[..., None]
        # END SOLUTION

    def __getitem__(self, idx):
        # BEGIN SOLUTION
        batch = self.indices[idx * self.batch_size:(idx + 1) * self.batch_size]
        x = np.stack([self.load_image(os.path.join(self.data_dir, self.files[i])) for i in batch])
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        return x, tf.identity(x)
        # END SOLUTION

    def on_epoch_end(self):
        # BEGIN SOLUTION
        # SKELETON: pass
        if self.shuffle:
            self._rng.shuffle(self.indices)
        # END SOLUTION


# %% [markdown]
# ## 4.2 Model backbone
# ### Down-right moved convolution [C3]

# %%
def _pair(v):
    return [int(v), int(v)] if isinstance(v, (int, np.integer)) else [int(v[0]), int(v[1])]


class DownRightMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.filter_size = _pair(filter_size)
        self.conv = keras.layers.Conv2D(
            num_filters, self.filter_size, strides=strides, padding=padding,
            activation=activation,
            kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.05))
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        fh, fw = self.filter_size
        x = ops.pad(x, [[0, 0], [fh - 1, 0], [fw - 1, 0], [0, 0]])
        return self.conv(x)
        # END SOLUTION


# %% [markdown]
# ### Down moved convolution [C4]

# %%
class DownMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.filter_size = _pair(filter_size)
        self.conv = keras.layers.Conv2D(
            num_filters, self.filter_size, strides=strides, padding=padding,
            activation=activation,
            kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.05))
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        fh, fw = self.filter_size
        pw = (fw - 1) // 2
        x = ops.pad(x, [[0, 0], [fh - 1, 0], [pw, pw], [0, 0]])
        return self.conv(x)
        # END SOLUTION


# %% [markdown]
# ### TensorDense [C5]

# %%
class TensorDense(keras.layers.Layer):
    def __init__(self, num_units, activation=None, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.num_units = num_units
        self.dense = keras.layers.Dense(
            num_units, activation=activation,
            kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.05))
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        b, h, w, c = ops.shape(x)
        y = self.dense(ops.reshape(x, (-1, c)))          # (B*H*W, C) -> (B*H*W, units)
        return ops.reshape(y, (-1, h, w, self.num_units))
        # END SOLUTION


# %% [markdown]
# ### Gated residual block [C6]

# %%
class GatedResnet(keras.layers.Layer):
    def __init__(self, num_filters, activation=concat_elu, **kwargs):
        super().__init__(**kwargs)
        # BEGIN SOLUTION
        self.nnLayer_1 = DownRightMovedConv2d(num_filters)
        self.nnLayer_2 = DownRightMovedConv2d(num_filters * 2)
        self.nonlinearity = activation
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        h = self.nnLayer_1(self.nonlinearity(x))
        h = self.nnLayer_2(self.nonlinearity(h))
        f, g = ops.split(h, 2, axis=-1)
        return x + f * ops.sigmoid(g)
        # END SOLUTION


# %% [markdown]
# ### Putting it all together [C7]

# %%
class AutoregressiveModel(keras.layers.Layer):
    def __init__(self, n_filters, n_resnet, n_block, n_output, **kwargs):
        super().__init__(**kwargs)
        self.n_filters = n_filters
        self.n_resnet = n_resnet
        self.n_block = n_block
        self.n_output = n_output
        # BEGIN SOLUTION
        self.down_moved_conv2d = DownMovedConv2d(self.n_filters, filter_size=[1, 3])
        self.down_right_moved_conv2d = DownRightMovedConv2d(self.n_filters, filter_size=[2, 1])
        self.out_dense = TensorDense(self.n_output)
        self.ul_list_gated_resnet = []
        self.ul_list_dense_layer = []
        for _ in range(self.n_block):
            for _ in range(self.n_resnet):
                self.ul_list_gated_resnet.append(GatedResnet(self.n_filters))
            self.ul_list_dense_layer.append(TensorDense(self.n_filters))
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        ul = (down_move(self.down_moved_conv2d(x))
              + right_move(self.down_right_moved_conv2d(x)))
        for b in range(self.n_block):
            for r in range(self.n_resnet):
                ul = self.ul_list_gated_resnet[b * self.n_resnet + r](ul)
            ul = self.ul_list_dense_layer[b](ul)
        return self.out_dense(ops.elu(ul))
        # END SOLUTION


# %% [markdown]
# ## 4.3 The full model and the pretrained weights [C8]
#
# AutoregressiveModel, then a 1x1 Conv2D to one channel and a sigmoid (given in the
# handout).  `build_model()` returns it compiled with binary cross-entropy, so that
# `model.evaluate()` works; `model.load_weights(PRETRAINED_WEIGHTS)` loads the weights.

# %%
def build_model():
    inputs = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 1))
    # BEGIN SOLUTION
    # SKELETON: backbone = None  # the AutoregressiveModel with the sizes of Table 1
    backbone = AutoregressiveModel(N_FILTERS, N_RESNET, N_BLOCK, N_OUTPUT)
    # END SOLUTION
    x = backbone(inputs)
    x = keras.layers.Conv2D(1, 1)(x)
    outputs = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy")
    return model


# %% [markdown]
# ## 4.4 Evaluation
# ### Generation [C9]: pixel by pixel in raster order, noise + threshold

# %%
def generate_images(model, n_images=10, seed=None):
    # BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    x = np.zeros((n_images, IMG_SIZE, IMG_SIZE, 1), dtype=np.float32)
    predict = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
    for i in range(IMG_SIZE):
        for j in range(IMG_SIZE):
            p = predict(tf.constant(x))[:, i, j, 0].numpy()
            u = rng.uniform(size=n_images)
            x[:, i, j, 0] = (u < p).astype(np.float32)   # 1 with probability p
    return x
    # END SOLUTION


# %% [markdown]
# ### Test binary cross-entropy [C10]

# %%
def evaluate_bce(model, dataset):
    # BEGIN SOLUTION
    eps = 1e-7                      # as keras.losses.binary_crossentropy
    total, count = 0.0, 0
    for k in range(len(dataset)):
        x, y = dataset[k]
        p = np.clip(np.asarray(model(x, training=False), dtype=np.float64), eps, 1 - eps)
        y = np.asarray(y, dtype=np.float64)
        total += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
        count += y.size
    return total / count
    # END SOLUTION


# %% [markdown]
# ## 4.5 Rundown [C11]

# %%
def make_optimizer():
    # BEGIN SOLUTION
    return keras.optimizers.Adam(learning_rate=1e-4, beta_1=0.95, beta_2=0.9995, epsilon=1e-6,
                                 use_ema=True, ema_momentum=0.9995)
    # END SOLUTION


def train(model, train_ds, val_ds, epochs):
    # BEGIN SOLUTION
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy")
    return model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=2)
    # END SOLUTION


# %% [markdown]
# ## Written answers (numeric items)

# %%
# BEGIN SOLUTION
# SKELETON: ANSWERS = {"Q4": None}
def count_gated_resnet_params(num_filters):
    layer = GatedResnet(num_filters)
    layer(np.zeros((1, 4, 4, num_filters), dtype=np.float32))   # builds the sublayers
    return int(sum(int(np.prod(v.shape)) for v in layer.trainable_weights))


ANSWERS = {"Q4": count_gated_resnet_params(N_FILTERS)}   # 2*2*128*64+64 + 2*2*128*128+128
# END SOLUTION

# %% tags=["train"]
train_ds = CalligraphyDataset(TRAIN_DIR, batch_size=32, shuffle=True, subset="train")
val_ds = CalligraphyDataset(TRAIN_DIR, batch_size=32, subset="val")
test_ds = CalligraphyDataset(TEST_DIR, batch_size=32)

model = build_model()
model.summary()
print("test loss before loading:", model.evaluate(test_ds, verbose=0))
model.load_weights(PRETRAINED_WEIGHTS)
print("test loss after loading: ", model.evaluate(test_ds, verbose=0))

history = train(model, train_ds, val_ds, epochs=10)
test_bce = evaluate_bce(model, test_ds)
print("test BCE after training:", test_bce)
generated = generate_images(model, n_images=10, seed=0)

# %% tags=["report"]
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 3))
axes[0].plot(history.history["loss"], label="train")
axes[0].plot(history.history["val_loss"], label="val")
axes[0].set_xlabel("epoch"); axes[0].set_ylabel("BCE"); axes[0].legend()
axes[1].imshow(np.concatenate(list(generated[..., 0]), axis=1), cmap="gray")
axes[1].set_axis_off(); axes[1].set_title("generated")
plt.show()
