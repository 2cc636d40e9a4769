# %% [markdown]
# # Programming assignment 2
# pathlib for the files (unsorted), keras load_img then tf.image.resize(method="area"),
# a pathlib.Path kept as data_dir; ops.split and a keras Add layer in the gated block; a while
# loop over the blocks; generation with numpy's RandomState around a tf.function; evaluate_bce
# through keras.metrics.BinaryCrossentropy; the two moved convolutions built from one helper.

# %%
import math
import os
import pathlib

import numpy as np
import tensorflow as tf
import keras
from keras import layers, ops

DATA_DIR = os.environ.get("PA2_DATA_DIR", "data")
TRAIN_DIR = os.path.join(DATA_DIR, "pa2", "train")
TEST_DIR = os.path.join(DATA_DIR, "pa2", "test")
PRETRAINED_WEIGHTS = os.path.join(DATA_DIR, "pixel_cnn_pretrained.weights.h5")

IMG_SIZE = 32
N_FILTERS, N_RESNET, N_BLOCK, N_OUTPUT = 64, 6, 6, 10


# %%
def down_move(x, step=1):
    h = x.shape[1]
    return ops.pad(x[:, : h - step, :, :], [[0, 0], [step, 0], [0, 0], [0, 0]])


def right_move(x, step=1):
    w = x.shape[2]
    return ops.pad(x[:, :, : w - step, :], [[0, 0], [0, 0], [step, 0], [0, 0]])


def concat_elu(x):
    return ops.elu(ops.concatenate([x, -x], axis=-1))


# %%
class CalligraphyDataset(tf.keras.utils.Sequence):
    def __init__(self, data_dir, batch_size=32, shuffle=False, subset=None,
                 val_fraction=0.2, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.data_dir = pathlib.Path(data_dir)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.paths = list(self.data_dir.glob("*.jpg"))
        if subset is not None:
            rs = np.random.RandomState(seed)
            rs.shuffle(self.paths)
            split = int(round(len(self.paths) * (1 - val_fraction)))
            self.paths = self.paths[split:] if subset == "val" else self.paths[:split]

    def __len__(self):
        return math.ceil(len(self.paths) / self.batch_size)

    def __getitem__(self, idx):
        xs = []
        for p in self.paths[idx * self.batch_size:(idx + 1) * self.batch_size]:
            img = keras.utils.img_to_array(keras.utils.load_img(str(p), color_mode="grayscale"))
            img = tf.image.resize(img, (IMG_SIZE, IMG_SIZE), method="area") / 255.0
            xs.append(tf.cast(img >= 0.33, tf.float32))
        x = tf.stack(xs)
        return x, tf.identity(x)

    def on_epoch_end(self):
        if self.shuffle:
            np.random.shuffle(self.paths)


# %%
def _causal_conv(num_filters, filter_size, strides, padding, activation):
    return layers.Conv2D(num_filters, kernel_size=tuple(filter_size), strides=strides, padding=padding,
                         activation=activation,
                         kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.05))


class DownRightMovedConv2d(layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filter_size = filter_size
        self.conv = _causal_conv(num_filters, filter_size, strides, padding, activation)

    def call(self, x):
        top, left = self.filter_size[0] - 1, self.filter_size[1] - 1
        x = ops.pad(x, [[0, 0], [top, 0], [left, 0], [0, 0]], mode="constant")
        return self.conv(x)


class DownMovedConv2d(layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filter_size = filter_size
        self.conv = _causal_conv(num_filters, filter_size, strides, padding, activation)

    def call(self, x):
        top, side = self.filter_size[0] - 1, (self.filter_size[1] - 1) // 2
        x = ops.pad(x, [[0, 0], [top, 0], [side, side], [0, 0]], mode="constant")
        return self.conv(x)


# %%
class TensorDense(layers.Layer):
    def __init__(self, num_units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.num_units = num_units
        self.dense = layers.Dense(units=num_units, activation=activation,
                                  kernel_initializer=keras.initializers.RandomNormal(mean=0.0, stddev=0.05))

    def call(self, x):
        _, h, w, c = x.shape
        y = self.dense(ops.reshape(x, (-1, c)))
        return ops.reshape(y, (-1, h, w, self.num_units))


# %%
class GatedResnet(layers.Layer):
    def __init__(self, num_filters, activation=concat_elu, **kwargs):
        super().__init__(**kwargs)
        self.nnLayer_1 = DownRightMovedConv2d(num_filters=num_filters)
        self.nnLayer_2 = DownRightMovedConv2d(num_filters=num_filters * 2)
        self.nonlinearity = activation
        self.residual = layers.Add()

    def call(self, x):
        y = self.nnLayer_1(self.nonlinearity(x))
        y = self.nnLayer_2(self.nonlinearity(y))
        f, g = ops.split(y, indices_or_sections=2, axis=3)
        return self.residual([x, ops.multiply(f, keras.activations.sigmoid(g))])


# %%
class AutoregressiveModel(layers.Layer):
    def __init__(self, n_filters, n_resnet, n_block, n_output, **kwargs):
        super().__init__(**kwargs)
        self.n_filters = n_filters
        self.n_resnet = n_resnet
        self.n_block = n_block
        self.n_output = n_output
        self.down_moved_conv2d = DownMovedConv2d(num_filters=self.n_filters, filter_size=[1, 3])
        self.down_right_moved_conv2d = DownRightMovedConv2d(num_filters=self.n_filters, filter_size=[2, 1])
        self.out_dense = TensorDense(num_units=self.n_output)
        self.ul_list_gated_resnet = []
        self.ul_list_dense_layer = []
        b = 0
        while b < self.n_block:
            r = 0
            while r < self.n_resnet:
                self.ul_list_gated_resnet.append(GatedResnet(self.n_filters))
                r += 1
            self.ul_list_dense_layer.append(TensorDense(self.n_filters))
            b += 1

    def call(self, x):
        v = down_move(self.down_moved_conv2d(x))
        h = right_move(self.down_right_moved_conv2d(x))
        ul = ops.add(v, h)
        k = 0
        while k < self.n_block * self.n_resnet:
            ul = self.ul_list_gated_resnet[k](ul)
            k += 1
            if k % self.n_resnet == 0:
                ul = self.ul_list_dense_layer[k // self.n_resnet - 1](ul)
        return self.out_dense(keras.activations.elu(ul))


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
    rs = np.random.RandomState(seed)

    @tf.function
    def step(t):
        return model(t, training=False)

    x = np.zeros((n_images, IMG_SIZE, IMG_SIZE, 1), dtype="float32")
    for pos in range(IMG_SIZE * IMG_SIZE):
        i, j = divmod(pos, IMG_SIZE)
        p = step(tf.convert_to_tensor(x)).numpy()[:, i, j, 0]
        u = rs.rand(n_images)
        x[:, i, j, 0] = np.where(u < p, 1.0, 0.0)
    return x


# %%
def evaluate_bce(model, dataset):
    metric = keras.metrics.BinaryCrossentropy()
    for k in range(len(dataset)):
        x, y = dataset[k]
        metric.update_state(y, model(x, training=False))
    return float(metric.result())


# %%
def make_optimizer():
    return keras.optimizers.Adam(learning_rate=0.0001, beta_1=0.95, beta_2=0.9995, epsilon=0.000001,
                                 use_ema=True, ema_momentum=0.9995)


def train(model, train_ds, val_ds, epochs):
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x=train_ds, validation_data=val_ds, epochs=epochs, verbose=2)
    print("best val loss:", min(history.history["val_loss"]))
    return history


# %%
ANSWERS = {}
ANSWERS["Q4"] = 98496
