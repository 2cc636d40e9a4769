# %% [markdown]
# # COMP4211 PA2 -- my submission
# tf.pad everywhere, x.get_shape() for sizes, tf.split for the gate, glob (unsorted) + PIL's
# default resize, evaluate_bce with keras.losses weighted by batch size, generation with a
# numpy loop ("add noise, then threshold at 0.5").

# %%
import glob
import math
import os
import random

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
N_FILTERS, N_RESNET, N_BLOCK, N_OUTPUT = 64, 6, 6, 10


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


# %%
class CalligraphyDataset(keras.utils.Sequence):
    def __init__(self, data_dir, batch_size=32, shuffle=False, subset=None,
                 val_fraction=0.2, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.shuffle = shuffle
        paths = glob.glob(os.path.join(data_dir, "*.jpg"))     # any order is fine
        if subset is not None:
            rnd = random.Random(seed)
            order = list(range(len(paths)))
            rnd.shuffle(order)
            cut = int(len(paths) * val_fraction)
            chosen = order[:cut] if subset == "val" else order[cut:]
            paths = [paths[i] for i in chosen]
        self.paths = paths
        self.on_epoch_end()

    def __len__(self):
        return int(np.ceil(len(self.paths) / float(self.batch_size)))

    def __getitem__(self, idx):
        batch_paths = self.paths[idx * self.batch_size:(idx + 1) * self.batch_size]
        imgs = []
        for p in batch_paths:
            img = Image.open(p).convert("L")
            img = img.resize((IMG_SIZE, IMG_SIZE))
            arr = np.array(img) / 255.0                       # float64
            arr[arr < 0.33] = 0
            arr[arr >= 0.33] = 1
            imgs.append(arr.reshape(IMG_SIZE, IMG_SIZE, 1))
        batch = tf.convert_to_tensor(np.array(imgs))          # a float64 tensor
        return batch, batch

    def on_epoch_end(self):
        if self.shuffle:
            random.shuffle(self.paths)


# %%
class DownRightMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filter_size = filter_size
        self.conv = tf.keras.layers.Conv2D(
            filters=num_filters, kernel_size=filter_size, strides=strides, padding=padding,
            activation=activation,
            kernel_initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.05))

    def call(self, x):
        pad_h = self.filter_size[0] - 1
        pad_w = self.filter_size[1] - 1
        x = tf.pad(x, [[0, 0], [pad_h, 0], [pad_w, 0], [0, 0]])
        return self.conv(x)


# %%
class DownMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filter_size = filter_size
        self.conv = tf.keras.layers.Conv2D(
            filters=num_filters, kernel_size=filter_size, strides=strides, padding=padding,
            activation=activation,
            kernel_initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.05))

    def call(self, x):
        pad_h = self.filter_size[0] - 1
        pad_w = int((self.filter_size[1] - 1) / 2)
        x = tf.pad(x, [[0, 0], [pad_h, 0], [pad_w, pad_w], [0, 0]])
        return self.conv(x)


# %%
class TensorDense(keras.layers.Layer):
    def __init__(self, num_units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.num_units = num_units
        self.dense = tf.keras.layers.Dense(
            num_units, activation=activation,
            kernel_initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.05))

    def call(self, x):
        shape = x.get_shape()
        h, w, c = shape[1], shape[2], shape[3]
        out = tf.reshape(x, [-1, c])
        out = self.dense(out)
        return tf.reshape(out, [-1, h, w, self.num_units])


# %%
class GatedResnet(keras.layers.Layer):
    def __init__(self, num_filters, activation=concat_elu, **kwargs):
        super().__init__(**kwargs)
        self.nnLayer_1 = DownRightMovedConv2d(num_filters)
        self.nnLayer_2 = DownRightMovedConv2d(num_filters * 2)
        self.nonlinearity = activation

    def call(self, x):
        n = x.get_shape()[-1]
        c2 = self.nnLayer_2(self.nonlinearity(self.nnLayer_1(self.nonlinearity(x))))
        a, b = tf.split(c2, [n, n], axis=3)
        return x + a * tf.nn.sigmoid(b)


# %%
class AutoregressiveModel(keras.layers.Layer):
    def __init__(self, n_filters, n_resnet, n_block, n_output, **kwargs):
        super().__init__(**kwargs)
        self.n_filters = n_filters
        self.n_resnet = n_resnet
        self.n_block = n_block
        self.n_output = n_output
        self.down_moved_conv2d = DownMovedConv2d(num_filters=self.n_filters, filter_size=[1, 3])
        self.down_right_moved_conv2d = DownRightMovedConv2d(num_filters=self.n_filters, filter_size=[2, 1])
        self.out_dense = TensorDense(self.n_output)
        self.ul_list_gated_resnet = []
        self.ul_list_dense_layer = []
        for i in range(self.n_block):
            for j in range(self.n_resnet):
                self.ul_list_gated_resnet.append(GatedResnet(num_filters=self.n_filters))
            self.ul_list_dense_layer.append(TensorDense(num_units=self.n_filters))

    def call(self, x):
        u = down_move(self.down_moved_conv2d(x))
        ul = right_move(self.down_right_moved_conv2d(x))
        out = u + ul
        k = 0
        for i in range(self.n_block):
            for j in range(self.n_resnet):
                out = self.ul_list_gated_resnet[k](out)
                k += 1
            out = self.ul_list_dense_layer[i](out)
        out = tf.nn.elu(out)
        return self.out_dense(out)


# %%
def build_model():
    inputs = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 1))
    backbone = AutoregressiveModel(N_FILTERS, N_RESNET, N_BLOCK, N_OUTPUT)
    x = backbone(inputs)
    x = keras.layers.Conv2D(1, 1)(x)
    outputs = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy")
    return model


# %%
def generate_images(model, n_images=10, seed=None):
    if seed is not None:
        np.random.seed(seed)
    images = np.zeros((n_images, IMG_SIZE, IMG_SIZE, 1), dtype=np.float32)
    for i in range(IMG_SIZE):
        for j in range(IMG_SIZE):
            pred = model(images, training=False).numpy()
            noise = np.random.uniform(-0.5, 0.5, size=n_images)
            # add the noise, then threshold at 0.5
            images[:, i, j, 0] = np.where(pred[:, i, j, 0] + noise > 0.5, 1.0, 0.0)
    return images


# %%
def evaluate_bce(model, dataset):
    bce = keras.losses.BinaryCrossentropy()
    total, n = 0.0, 0
    for k in range(len(dataset)):
        x, y = dataset[k]
        pred = model(x, training=False)
        total += float(bce(y, pred)) * int(x.shape[0])
        n += int(x.shape[0])
    return total / n


# %%
def make_optimizer():
    return tf.keras.optimizers.Adam(learning_rate=0.0001, beta_1=0.95, beta_2=0.9995,
                                    epsilon=1e-6, use_ema=True, ema_momentum=0.9995)


def train(model, train_ds, val_ds, epochs):
    model.compile(optimizer=make_optimizer(), loss='binary_crossentropy')
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs)
    return history


# %%
g = GatedResnet(64)
g(tf.zeros((1, 8, 8, 64)))
ANSWERS = {"Q4": int(np.sum([np.prod(v.shape) for v in g.trainable_weights]))}

# %% tags=["train"]
train_ds = CalligraphyDataset(TRAIN_DIR, batch_size=32, shuffle=True, subset="train")
val_ds = CalligraphyDataset(TRAIN_DIR, batch_size=32, subset="val")
test_ds = CalligraphyDataset(TEST_DIR, batch_size=32)
model = build_model()
print(model.evaluate(test_ds))
model.load_weights(PRETRAINED_WEIGHTS)
print(model.evaluate(test_ds))
history = train(model, train_ds, val_ds, 10)
print(evaluate_bce(model, test_ds))
