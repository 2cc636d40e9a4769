# %% [markdown]
# # PA2 submission
# TensorDense through tf.tensordot on the Dense layer's own kernel, DownMovedConv2d as a
# subclass of DownRightMovedConv2d, tf.split by sizes, one loop through iterators in call,
# PIL with a LANCZOS resize on sorted os.listdir, generation with a tf.random.Generator,
# evaluate_bce from keras' per-pixel binary_crossentropy, and train() using the optimizer the
# model was compiled with.

# %%
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
class CalligraphyDataset(keras.utils.Sequence):
    """x == y, float32 0/1 images."""

    def __init__(self, data_dir, batch_size=32, shuffle=False, subset=None,
                 val_fraction=0.2, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.data_dir = data_dir
        self.batch_size = batch_size
        self.shuffle = shuffle
        files = sorted(os.listdir(data_dir))
        if subset in ("train", "val"):
            n_val = int(len(files) * val_fraction)
            perm = np.random.RandomState(seed).permutation(len(files))
            pick = perm[:n_val] if subset == "val" else perm[n_val:]
            files = [files[i] for i in pick]
        self.files = files

    def __len__(self):
        n = len(self.files) // self.batch_size
        if len(self.files) % self.batch_size:
            n += 1
        return n

    def __getitem__(self, idx):
        names = self.files[idx * self.batch_size:(idx + 1) * self.batch_size]
        out = np.empty((len(names), IMG_SIZE, IMG_SIZE, 1), np.float32)
        for k, name in enumerate(names):
            with Image.open(os.path.join(self.data_dir, name)) as im:
                im = im.convert("L").resize((IMG_SIZE, IMG_SIZE), Image.LANCZOS)
                a = np.asarray(im, np.float32) / 255.0
            out[k, :, :, 0] = (a >= 0.33)
        return tf.constant(out), tf.constant(out)

    def on_epoch_end(self):
        if self.shuffle:
            np.random.shuffle(self.files)


# %%
class DownRightMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.filter_size = [filter_size, filter_size] if isinstance(filter_size, int) else list(filter_size)
        self.conv = keras.layers.Conv2D(
            num_filters, self.filter_size, strides=strides, padding=padding, activation=activation,
            kernel_initializer=tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.05))

    def paddings(self):
        fh, fw = self.filter_size
        return [[0, 0], [fh - 1, 0], [fw - 1, 0], [0, 0]]

    def call(self, x):
        return self.conv(tf.pad(x, tf.constant(self.paddings())))


# %%
class DownMovedConv2d(DownRightMovedConv2d):
    def paddings(self):
        fh, fw = self.filter_size
        return [[0, 0], [fh - 1, 0], [(fw - 1) // 2, (fw - 1) // 2], [0, 0]]


# %%
class TensorDense(keras.layers.Layer):
    def __init__(self, num_units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.num_units = num_units
        self.activation = keras.activations.get(activation)
        self.dense = keras.layers.Dense(num_units, kernel_initializer=tf.keras.initializers.RandomNormal(0.0, 0.05))

    def build(self, input_shape):
        self.dense.build((None, input_shape[-1]))
        self.built = True

    def call(self, x):
        # (B, H, W, C) . (C, units) over C: the same as reshaping to (B*H*W, C) and back
        y = tf.tensordot(x, self.dense.kernel, axes=[[3], [0]]) + self.dense.bias
        return self.activation(y)


# %%
class GatedResnet(keras.layers.Layer):
    def __init__(self, num_filters, activation=concat_elu, **kwargs):
        super().__init__(**kwargs)
        self.filters = num_filters
        self.nnLayer_1 = DownRightMovedConv2d(num_filters)
        self.nnLayer_2 = DownRightMovedConv2d(num_filters * 2)
        self.nonlinearity = activation

    def call(self, x):
        c = self.nnLayer_2(self.nonlinearity(self.nnLayer_1(self.nonlinearity(x))))
        f, g = tf.split(c, num_or_size_splits=[self.filters, self.filters], axis=-1)
        return tf.add(x, tf.multiply(f, tf.math.sigmoid(g)))


# %%
class AutoregressiveModel(keras.layers.Layer):
    def __init__(self, n_filters, n_resnet, n_block, n_output, **kwargs):
        super().__init__(**kwargs)
        self.n_filters = n_filters
        self.n_resnet = n_resnet
        self.n_block = n_block
        self.n_output = n_output
        self.down_moved_conv2d = DownMovedConv2d(self.n_filters, filter_size=[1, 3])
        self.down_right_moved_conv2d = DownRightMovedConv2d(self.n_filters, filter_size=[2, 1])
        self.out_dense = TensorDense(self.n_output)
        self.ul_list_gated_resnet = []
        self.ul_list_dense_layer = []
        for _ in range(self.n_block):
            self.ul_list_gated_resnet += [GatedResnet(self.n_filters) for _ in range(self.n_resnet)]
            self.ul_list_dense_layer += [TensorDense(self.n_filters)]

    def call(self, x):
        a = self.down_moved_conv2d(x)
        b = self.down_right_moved_conv2d(x)
        h = tf.add(down_move(a), right_move(b))
        resnets = iter(self.ul_list_gated_resnet)
        for dense in self.ul_list_dense_layer:
            for _ in range(self.n_resnet):
                h = next(resnets)(h)
            h = dense(h)
        return self.out_dense(tf.nn.elu(h))


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
    gen = tf.random.Generator.from_seed(seed) if seed is not None else tf.random.Generator.from_non_deterministic_state()
    out = np.zeros((n_images, IMG_SIZE, IMG_SIZE, 1), np.float32)
    for i in range(IMG_SIZE):
        for j in range(IMG_SIZE):
            p = model(tf.constant(out), training=False)[:, i, j, 0]
            noise = gen.uniform([n_images])
            out[:, i, j, 0] = tf.cast(noise < p, tf.float32).numpy()
    return out


# %%
def evaluate_bce(model, dataset):
    per_pixel = []
    for i in range(len(dataset)):
        x, y = dataset[i]
        per_pixel.append(tf.reshape(keras.losses.binary_crossentropy(y, model(x)), [-1]))
    return float(tf.reduce_mean(tf.concat(per_pixel, axis=0)))


# %%
def make_optimizer():
    return keras.optimizers.Adam(
        learning_rate=1e-4, beta_1=0.95, beta_2=0.9995, epsilon=1e-6, use_ema=True, ema_momentum=0.9995)


def train(model, train_ds, val_ds, epochs):
    # build_model() already compiled the model with make_optimizer()
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=1)
    return history


# %%
ANSWERS = {"Q4": 2*2*128*64 + 64 + 2*2*128*128 + 128}
