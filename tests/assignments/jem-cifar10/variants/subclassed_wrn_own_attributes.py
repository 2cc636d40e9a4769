# %% [markdown]
# PA2 (COMP4211). A subclassed WRN that keeps num_classes; my train steps read it.
# ResBlock: skip created first, other attribute names, keras.ops activations, shapes read
# with get_shape(). Functions hand back numpy where that is easier.

# %%
import random

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops


# %%
class ResBlock(layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__()
        self.stride = 2 if downsampling else 1
        self.shortcut = None
        if in_channels != out_channels or downsampling:
            self.shortcut = layers.Conv2D(out_channels, kernel_size=1, strides=self.stride, padding="valid",
                                          use_bias=False)
        self.c1 = layers.Conv2D(out_channels, 3, padding="same")
        self.c2 = layers.Conv2D(out_channels, 3, strides=self.stride, padding="same")
        self.out_channels = out_channels

    def call(self, x):
        assert x.get_shape()[-1] is not None
        y = self.c1(ops.leaky_relu(x, negative_slope=0.3))
        y = self.c2(ops.leaky_relu(y, negative_slope=0.3))
        if self.shortcut is None:
            return x + y
        return self.shortcut(x) + y


# %%
class WRN(keras.Model):
    def __init__(self, num_classes=10):
        super().__init__()
        self.num_classes = num_classes
        self.stem = layers.Conv2D(16, 3, padding="same")
        self.blocks = [ResBlock(16, 64), ResBlock(64, 64), ResBlock(64, 128, True),
                       ResBlock(128, 128), ResBlock(128, 256, True), ResBlock(256, 256)]
        self.act = layers.LeakyReLU()
        self.pool = layers.GlobalAveragePooling2D()
        self.fc = layers.Dense(num_classes)

    def call(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.fc(self.pool(self.act(x)))


def count_trainable_params(model):
    model(tf.zeros((1, 32, 32, 3)))          # a subclassed model has its weights after a first call
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


ANSWERS = {"Q2": count_trainable_params(WRN(10))}
print("trainable parameters:", ANSWERS["Q2"])


# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    label = tf.cast(label, tf.int64)
    onehot = tf.one_hot(label, model.num_classes)
    data = data + tf.random.normal(tf.shape(data), stddev=sigma)
    with tf.GradientTape() as tape:
        out = model(data, training=True)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=out))
    optim.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
    return {"loss": float(loss)}


# %%
def evaluate_accuracy(model, dataset):
    right, seen = 0.0, 0.0
    for x, y in dataset:
        p = tf.argmax(model(x), axis=-1)
        right += tf.reduce_sum(tf.cast(p == tf.cast(y, p.dtype), tf.float32)).numpy()
        seen += int(tf.size(y))
    return np.float64(right / seen)


# %%
class ResBlockRE(layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False, p=0.3):
        super().__init__()
        stride = 2 if downsampling else 1
        self.shortcut = None
        if in_channels != out_channels or downsampling:
            self.shortcut = layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)
        self.c1 = layers.Conv2D(out_channels, 3, padding="same")
        self.c2 = layers.Conv2D(out_channels, 3, strides=stride, padding="same")
        self.drop = layers.Dropout(p)

    def call(self, x, training=False):
        y = self.c1(ops.leaky_relu(x, negative_slope=0.3))
        y = self.drop(y, training=training)
        y = self.c2(ops.leaky_relu(y, negative_slope=0.3))
        return y + (x if self.shortcut is None else self.shortcut(x))


class WRNRE(WRN):
    def __init__(self, num_classes=10):
        super().__init__(num_classes)
        self.blocks = [ResBlockRE(16, 64), ResBlockRE(64, 64), ResBlockRE(64, 128, True),
                       ResBlockRE(128, 128), ResBlockRE(128, 256, True), ResBlockRE(256, 256)]

    def call(self, x, training=False):
        x = self.stem(x)
        for b in self.blocks:
            x = b(x, training=training)
        return self.fc(self.pool(self.act(x)))


# %%
def energy(model, data, label=None):
    f = model(data)
    if label is None:
        return -ops.logsumexp(f, axis=-1)
    label = ops.cast(ops.reshape(label, (-1, 1)), "int32")
    return -ops.take_along_axis(f, label, axis=-1)[:, 0]


def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    x = tf.Variable(tf.cast(data, tf.float32))
    with tf.GradientTape() as tape:
        e = ops.sum(energy(model, x, label))
    g = tape.gradient(e, x)
    x_new = x - step_size * g + tf.random.normal(x.shape, stddev=noise_amp)
    return np.clip(x_new.numpy(), 0.0, 1.0)


# %%
class SampleBuffer:
    def __init__(self, sample_shape, n_class, max_samples=10000):
        self.sample_shape = sample_shape
        self.n_class = n_class
        self.max_samples = max_samples
        self.buffer = []

    def __len__(self):
        return len(self.buffer)

    def add_to_buffer(self, samples, labels):
        for img, lab in zip(np.asarray(samples), np.asarray(labels)):
            self.buffer.append((img, lab))
        while len(self.buffer) > self.max_samples:
            self.buffer.pop(0)

    def sample_from_buffer(self, n_samples, p_new=0.05):
        if not self.buffer:
            return (np.random.uniform(size=(n_samples, *self.sample_shape)).astype("float32"),
                    np.random.randint(self.n_class, size=n_samples))
        picks = random.choices(self.buffer, k=n_samples)
        images, labels = [], []
        for img, lab in picks:
            if np.random.random() < p_new:
                images.append(np.random.uniform(size=self.sample_shape).astype("float32"))
                labels.append(np.random.randint(self.n_class))
            else:
                images.append(img)
                labels.append(lab)
        return np.array(images, dtype="float32"), np.array(labels)


# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    onehot = tf.one_hot(tf.cast(label, tf.int64), model.num_classes)
    data = data + tf.random.normal(tf.shape(data), stddev=sigma)
    xs, ys = sb.sample_from_buffer(len(data))
    for _ in range(20):
        xs = sampling_step(model, xs, ys)
    sb.add_to_buffer(xs, ys)
    with tf.GradientTape() as tape:
        logits = model(data, training=True)
        ce = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=onehot, logits=logits))
        e_x = energy(model, data)
        e_xs = energy(model, xs)
        loss = ce + tf.reduce_mean(e_x) - tf.reduce_mean(e_xs)
    grads = tape.gradient(loss, model.trainable_weights)
    optim.apply_gradients(zip(grads, model.trainable_weights))
    return {"loss": loss.numpy()}
