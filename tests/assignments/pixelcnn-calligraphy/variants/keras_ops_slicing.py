# %% [markdown]
# # PA2 -- autoregressive calligraphy
# keras.ops throughout (ops.pad, ops.shape, ops.reshape), the gate by slicing, the two layer
# lists filled by two loops, data read with tf.io + tf.image.resize (bilinear) from an
# unsorted os.listdir, generation with TensorFlow ops (tf.random.set_seed, scatter updates),
# evaluate_bce written out with tf ops.

# %%
import math
import os

import numpy as np
import tensorflow as tf
import keras
from keras import ops

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
    def __init__(self, data_dir, batch_size=32, shuffle=False, subset=None,
                 val_fraction=0.2, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = batch_size
        self.data_dir = data_dir
        self.shuffle = shuffle
        names = [n for n in os.listdir(data_dir) if n.endswith(".jpg")]
        if subset:
            rng = np.random.RandomState(seed)
            perm = rng.permutation(len(names))
            n_val = math.floor(val_fraction * len(names))
            names = [names[i] for i in (perm[:n_val] if subset == "val" else perm[n_val:])]
        self.names = names
        self.order = np.arange(len(names))

    def __len__(self):
        return math.ceil(len(self.names) / self.batch_size)

    def _load(self, name):
        raw = tf.io.read_file(os.path.join(self.data_dir, name))
        img = tf.io.decode_jpeg(raw, channels=1)                 # grey
        img = tf.image.resize(img, [IMG_SIZE, IMG_SIZE])         # bilinear, float32 0..255
        img = img / 255.0
        return tf.where(img < 0.33, 0.0, 1.0)

    def __getitem__(self, idx):
        ids = self.order[idx * self.batch_size: (idx + 1) * self.batch_size]
        x = tf.stack([self._load(self.names[i]) for i in ids])
        return x, x

    def on_epoch_end(self):
        if self.shuffle:
            np.random.shuffle(self.order)


# %%
class DownRightMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filter_size, int):
            filter_size = [filter_size, filter_size]
        self.filter_size = list(filter_size)
        self.conv = keras.layers.Conv2D(num_filters, self.filter_size, strides, padding,
                                        activation=activation,
                                        kernel_initializer=keras.initializers.RandomNormal(0.0, 0.05))

    def call(self, x):
        fh, fw = self.filter_size
        return self.conv(ops.pad(x, ((0, 0), (fh - 1, 0), (fw - 1, 0), (0, 0))))


# %%
class DownMovedConv2d(keras.layers.Layer):
    def __init__(self, num_filters, filter_size=[2, 2], strides=[1, 1], padding='valid',
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(filter_size, int):
            filter_size = [filter_size, filter_size]
        self.filter_size = list(filter_size)
        self.conv = keras.layers.Conv2D(num_filters, self.filter_size, strides, padding,
                                        activation=activation,
                                        kernel_initializer=keras.initializers.RandomNormal(0.0, 0.05))

    def call(self, x):
        fh, fw = self.filter_size
        side = (fw - 1) // 2
        return self.conv(ops.pad(x, ((0, 0), (fh - 1, 0), (side, side), (0, 0))))


# %%
class TensorDense(keras.layers.Layer):
    def __init__(self, num_units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.num_units = num_units
        self.dense = keras.layers.Dense(num_units, activation=activation,
                                        kernel_initializer=keras.initializers.RandomNormal(0.0, 0.05))

    def call(self, x):
        b, h, w, c = ops.shape(x)
        flat = ops.reshape(x, (b * h * w, c))
        return ops.reshape(self.dense(flat), (b, h, w, self.num_units))


# %%
class GatedResnet(keras.layers.Layer):
    def __init__(self, num_filters, activation=concat_elu, **kwargs):
        super().__init__(**kwargs)
        self.num_filters = num_filters
        self.nnLayer_1 = DownRightMovedConv2d(num_filters)
        self.nnLayer_2 = DownRightMovedConv2d(num_filters * 2)
        self.nonlinearity = activation

    def call(self, x):
        h = self.nonlinearity(x)
        h = self.nnLayer_1(h)
        h = self.nonlinearity(h)
        h = self.nnLayer_2(h)
        c = h.shape[-1] // 2
        feature, gate = h[..., :c], h[..., c:]
        return x + feature * ops.sigmoid(gate)


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
        for _ in range(self.n_block * self.n_resnet):          # two loops
            self.ul_list_gated_resnet.append(GatedResnet(self.n_filters))
        for _ in range(self.n_block):
            self.ul_list_dense_layer.append(TensorDense(self.n_filters))

    def call(self, x):
        ul = down_move(self.down_moved_conv2d(x)) + right_move(self.down_right_moved_conv2d(x))
        for block in range(self.n_block):
            for r in range(self.n_resnet):
                ul = self.ul_list_gated_resnet[block * self.n_resnet + r](ul)
            ul = self.ul_list_dense_layer[block](ul)
        return self.out_dense(ops.elu(ul))


# %%
def build_model():
    inputs = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 1))
    backbone = AutoregressiveModel(n_filters=N_FILTERS, n_resnet=N_RESNET, n_block=N_BLOCK, n_output=N_OUTPUT)
    x = backbone(inputs)
    x = keras.layers.Conv2D(1, 1)(x)
    outputs = keras.layers.Activation("sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=make_optimizer(), loss="binary_crossentropy")
    return model


# %%
def generate_images(model, n_images=10, seed=None):
    if seed is not None:
        tf.random.set_seed(seed)
    imgs = tf.zeros((n_images, IMG_SIZE, IMG_SIZE, 1))
    batch = tf.range(n_images)
    for i in range(IMG_SIZE):
        for j in range(IMG_SIZE):
            p = model(imgs, training=False)[:, i, j, 0]
            u = tf.random.uniform([n_images])
            pixel = tf.cast(u < p, tf.float32)
            idx = tf.stack([batch, tf.fill([n_images], i), tf.fill([n_images], j), tf.zeros([n_images], tf.int32)], axis=1)
            imgs = tf.tensor_scatter_nd_update(imgs, idx, pixel)
    return imgs.numpy()


# %%
def evaluate_bce(model, dataset):
    eps = 1e-7
    loss_sum = tf.constant(0.0, tf.float64)
    n = 0
    for x, y in dataset:
        p = tf.clip_by_value(tf.cast(model(x), tf.float64), eps, 1 - eps)
        y = tf.cast(y, tf.float64)
        loss_sum += -tf.reduce_sum(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))
        n += int(tf.size(y))
    return float(loss_sum / n)


# %%
def make_optimizer():
    return keras.optimizers.Adam(learning_rate=1e-4, beta_1=0.95, beta_2=0.9995, epsilon=1e-6,
                                 use_ema=True, ema_momentum=0.9995)


def train(model, train_ds, val_ds, epochs):
    model.compile(optimizer=make_optimizer(), loss=keras.losses.BinaryCrossentropy())
    return model.fit(train_ds, epochs=epochs, validation_data=val_ds, verbose=2)


# %%
ANSWERS = {"Q4": 2 * 2 * 128 * 64 + 64 + 2 * 2 * 128 * 128 + 128}

# %% tags=["train"]
train_ds = CalligraphyDataset(TRAIN_DIR, shuffle=True, subset="train")
val_ds = CalligraphyDataset(TRAIN_DIR, subset="val")
test_ds = CalligraphyDataset(TEST_DIR)
model = build_model()
model.load_weights(PRETRAINED_WEIGHTS)
history = train(model, train_ds, val_ds, 10)
