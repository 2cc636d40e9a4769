# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Programming Assignment 2: WRN classifier and Joint Energy-based Model (JEM) on CIFAR-10
#
# BEGIN SOLUTION
# SKELETON: # Starter notebook (HKUST COMP4211, Spring 2025, PA2). TensorFlow / Keras 3.
# Reference solution (HKUST COMP4211, Spring 2025, PA2). TensorFlow / Keras 3.
# END SOLUTION
# Data passed to every function: images float32 (B, 32, 32, 3) in [0, 1], labels int (B,).

# %%
import os
import pickle

import numpy as np
import tensorflow as tf
import keras
import matplotlib.pyplot as plt

CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck"]
NUM_CLASSES = 10
BATCH_SIZE = 64
EPOCHS_1 = 20        # [Q4]/[Q6]: at least 20 epochs
EPOCHS_2 = 2         # [Q9]: at least 2 epochs
LEARNING_RATE = 1e-4


# %% [markdown]
# ## Data
#
# CIFAR-10 "python version" batches (`cifar-10-batches-py/data_batch_1..5`, `test_batch`).
# `DATA_DIR` defaults to the small CIFAR-format fixture shipped with the project
# (`assignments/jem-cifar10/data`); set the environment variable `CIFAR10_DIR` (or pass
# `--data` to `train.py`) to use the real data set. Nothing is downloaded.

# %%
def _default_data_dir():
    here = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
    for base in (os.getcwd(), here, os.path.join(here, "..", "..")):
        d = os.path.join(base, "assignments", "jem-cifar10", "data")
        if os.path.isdir(d):
            return os.path.abspath(d)
    return os.path.join("assignments", "jem-cifar10", "data")


DATA_DIR = os.environ.get("CIFAR10_DIR") or _default_data_dir()


def _read_batch(path):
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(d[b"labels"], dtype=np.int64)


def load_cifar10(data_dir=None):
    """(train_x, train_y, test_x, test_y): images float32 (N,32,32,3) in [0,1], labels int64.

    `data_dir` is a `cifar-10-batches-py` folder or its parent; every `data_batch_<i>`
    present is read."""
    d = data_dir or DATA_DIR
    if not os.path.exists(os.path.join(d, "test_batch")):
        d = os.path.join(d, "cifar-10-batches-py")
    names = sorted((n for n in os.listdir(d) if n.startswith("data_batch_")),
                   key=lambda n: int(n.rsplit("_", 1)[1]))
    parts = [_read_batch(os.path.join(d, n)) for n in names]
    test_x, test_y = _read_batch(os.path.join(d, "test_batch"))
    train_x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    train_y = np.concatenate([p[1] for p in parts])
    return train_x, train_y, test_x.astype(np.float32) / 255.0, test_y


class Batches:
    """Re-iterable batches of (images float32 (B,32,32,3), labels int64 (B,)).

    With `shuffle=True` each pass uses a new permutation from a seeded generator."""

    def __init__(self, x, y, batch_size=BATCH_SIZE, shuffle=False, seed=0, drop_remainder=False):
        self.x, self.y = np.asarray(x, np.float32), np.asarray(y, np.int64)
        self.batch_size, self.shuffle, self.drop = batch_size, shuffle, drop_remainder
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        n = len(self.x) // self.batch_size
        return n if self.drop or len(self.x) % self.batch_size == 0 else n + 1

    def __iter__(self):
        idx = self.rng.permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for i in range(len(self)):
            j = idx[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.x[j], self.y[j]


def make_datasets(data_dir=None, batch_size=BATCH_SIZE, seed=0):
    """(train_batches, test_batches) as `Batches` iterables."""
    train_x, train_y, test_x, test_y = load_cifar10(data_dir)
    return (Batches(train_x, train_y, batch_size, shuffle=True, seed=seed),
            Batches(test_x, test_y, batch_size, shuffle=False))


# %% tags=["report"]
# [Q1] samples from the training set, 3 per class
def show_samples(batches, per_class=3, class_names=CLASS_NAMES):
    x, y = batches.x, batches.y
    fig, axes = plt.subplots(per_class, NUM_CLASSES, figsize=(NUM_CLASSES * 1.2, per_class * 1.4))
    for c in range(NUM_CLASSES):
        idx = np.where(y == c)[0][:per_class]
        for r in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(idx):
                ax.imshow(x[idx[r]])
                ax.set_title(class_names[c], fontsize=7)
    plt.tight_layout()
    plt.show()


# %% [markdown]
# ## Part 1: classification with WRN-16-4
#
# ### [C1] ResNet block
# LeakyReLU -> Conv3x3 -> LeakyReLU -> Conv3x3 (stride 2 on the second conv when
# downsampling); the skip is the identity when the shapes match, else a 1x1 convolution
# without bias with the same stride. No normalization.

# %%
class ResBlock(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.downsampling = downsampling
        # BEGIN SOLUTION
        stride = 2 if downsampling else 1
        self.act1 = keras.layers.LeakyReLU()
        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same")
        self.act2 = keras.layers.LeakyReLU()
        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")
        if downsampling or in_channels != out_channels:
            self.skip = keras.layers.Conv2D(out_channels, 1, strides=stride, padding="same",
                                            use_bias=False)
        else:
            self.skip = None
        # END SOLUTION

    def call(self, x):
        # BEGIN SOLUTION
        h = self.conv1(self.act1(x))
        h = self.conv2(self.act2(h))
        s = x if self.skip is None else self.skip(x)
        return h + s
        # END SOLUTION


# %% [markdown]
# ### [C2] WRN-16-4 (Table 1)

# %%
def WRN(num_classes=10):
    # BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same"),
        ResBlock(16, 64),
        ResBlock(64, 64),
        ResBlock(64, 128, downsampling=True),
        ResBlock(128, 128),
        ResBlock(128, 256, downsampling=True),
        ResBlock(256, 256),
        keras.layers.LeakyReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ], name="wrn_16_4")
    # END SOLUTION


def count_trainable_params(model):
    return int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))


# %% [markdown]
# ### [Q2] number of trainable parameters

# %%
# BEGIN SOLUTION
# SKELETON: ANSWERS = {"Q2": None}
ANSWERS = {"Q2": count_trainable_params(WRN(10))}
# END SOLUTION

# %% [markdown]
# ### [C3] training step

# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    # BEGIN SOLUTION
    data = tf.convert_to_tensor(data, tf.float32)
    label = tf.cast(tf.reshape(label, [-1]), tf.int32)
    x = data + tf.random.normal(tf.shape(data), stddev=sigma)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        y = tf.one_hot(label, tf.shape(logits)[-1])
        loss = tf.reduce_mean(
            keras.losses.categorical_crossentropy(y, logits, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss}
    # END SOLUTION


# %% [markdown]
# ### Training loop (given)

# %%
def train_loop(model, optim, train_step, train_batches, epochs=1, test_batches=None,
               sb=None, max_steps=None, log=print):
    """Given loop for both parts (`train_loop_1` / `train_loop_2` in the handout).

    `sb` is passed to `train_step` when given (Part 2). `max_steps` caps the steps per
    epoch (for short runs). Returns the list of mean losses per epoch."""
    history = []
    for epoch in range(epochs):
        total, n = 0.0, 0
        for step, (x, y) in enumerate(train_batches):
            if max_steps is not None and step >= max_steps:
                break
            out = train_step(optim, model, x, y) if sb is None else train_step(optim, model, x, y, sb)
            loss = float(out["loss"])
            if not np.isfinite(loss):
                raise FloatingPointError(f"loss diverged at epoch {epoch + 1} step {step}: {loss}")
            total, n = total + loss, n + 1
        history.append(total / max(n, 1))
        msg = f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}"
        if test_batches is not None:
            msg += f", test accuracy {evaluate_accuracy(model, test_batches):.4f}"
        log(msg)
    return history


# %% [markdown]
# ### [C4] accuracy

# %%
def evaluate_accuracy(model, dataset):
    # BEGIN SOLUTION
    correct, total = 0, 0
    for images, labels in dataset:
        logits = model(tf.convert_to_tensor(images, tf.float32), training=False)
        pred = np.argmax(np.asarray(logits), axis=-1)
        labels = np.asarray(labels).reshape(-1)
        correct += int(np.sum(pred == labels))
        total += len(labels)
    return float(correct / total) if total else 0.0
    # END SOLUTION


# %% tags=["train"]
# [Q4]/[Q5] train WRN-16-4 for EPOCHS_1 epochs and evaluate it
keras.utils.set_random_seed(0)
train_batches, test_batches = make_datasets(DATA_DIR)
model1 = WRN(NUM_CLASSES)
optim1 = keras.optimizers.Adam(LEARNING_RATE)
history1 = train_loop(model1, optim1, part1_train_step, train_batches, EPOCHS_1)
print("Part 1 test accuracy:", evaluate_accuracy(model1, test_batches))

# %% [markdown]
# ### [C5] regularization: Dropout between the two convolutions (WRN paper, Sec. 2.4)

# %%
class ResBlockRE(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False, dropout_rate=0.3, **kwargs):
        super().__init__(**kwargs)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.downsampling = downsampling
        # BEGIN SOLUTION
        stride = 2 if downsampling else 1
        self.act1 = keras.layers.LeakyReLU()
        self.conv1 = keras.layers.Conv2D(out_channels, 3, padding="same")
        self.act2 = keras.layers.LeakyReLU()
        self.dropout = keras.layers.Dropout(dropout_rate)
        self.conv2 = keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")
        if downsampling or in_channels != out_channels:
            self.skip = keras.layers.Conv2D(out_channels, 1, strides=stride, padding="same",
                                            use_bias=False)
        else:
            self.skip = None
        # END SOLUTION

    def call(self, x, training=None):
        # BEGIN SOLUTION
        h = self.conv1(self.act1(x))
        h = self.conv2(self.dropout(self.act2(h), training=training))
        s = x if self.skip is None else self.skip(x)
        return h + s
        # END SOLUTION


def WRNRE(num_classes=10):
    # BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same"),
        ResBlockRE(16, 64),
        ResBlockRE(64, 64),
        ResBlockRE(64, 128, downsampling=True),
        ResBlockRE(128, 128),
        ResBlockRE(128, 256, downsampling=True),
        ResBlockRE(256, 256),
        keras.layers.LeakyReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ], name="wrn_16_4_re")
    # END SOLUTION


# %% tags=["train"]
# [Q6] the regularized model, same training
keras.utils.set_random_seed(0)
model1re = WRNRE(NUM_CLASSES)
optim1re = keras.optimizers.Adam(LEARNING_RATE)
history1re = train_loop(model1re, optim1re, part1_train_step, train_batches, EPOCHS_1)
print("Part 1 (regularized) test accuracy:", evaluate_accuracy(model1re, test_batches))

# %% [markdown]
# ## Part 2: Joint Energy-based Model
#
# ### [C6] energy: E(x, y) = -f(x)[y];  E(x) = -logsumexp_y f(x)[y]

# %%
def energy(model, data, label=None):
    # BEGIN SOLUTION
    logits = model(data)
    if label is None:
        return -tf.reduce_logsumexp(logits, axis=-1)
    label = tf.cast(tf.reshape(label, [-1]), tf.int32)
    return -tf.gather(logits, label, axis=1, batch_dims=1)
    # END SOLUTION


# %% [markdown]
# ### [C7] one SGLD step: x - step_size * dE/dx + N(0, noise_amp^2), clipped to [0, 1]

# %%
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    data = tf.convert_to_tensor(data, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(data)
        # BEGIN SOLUTION
        e = tf.reduce_sum(energy(model, data, label))
    grad = tape.gradient(e, data)
    data = data - step_size * grad + tf.random.normal(tf.shape(data), stddev=noise_amp)
    # END SOLUTION
    return tf.clip_by_value(data, 0.0, 1.0)


# %% [markdown]
# ### [C8] replay buffer

# %%
class SampleBuffer:
    def __init__(self, sample_shape, n_class, max_samples=10000):
        self.sample_shape = tuple(sample_shape)
        self.n_class = n_class
        self.max_samples = max_samples
        self.buffer = []          # list of (image float32 sample_shape, label int), oldest first

    def __len__(self):
        return len(self.buffer)

    def add_to_buffer(self, samples, labels):
        # BEGIN SOLUTION
        samples = np.asarray(samples, dtype=np.float32)
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        self.buffer.extend(zip(samples, labels))
        excess = len(self.buffer) - self.max_samples
        if excess > 0:
            del self.buffer[:excess]          # FIFO: the oldest go first
        # END SOLUTION

    def sample_from_buffer(self, n_samples, p_new=0.05):
        # BEGIN SOLUTION
        new_x = np.random.uniform(0.0, 1.0, size=(n_samples,) + self.sample_shape).astype(np.float32)
        new_y = np.random.randint(0, self.n_class, size=n_samples).astype(np.int64)
        if not self.buffer:
            return new_x, new_y
        is_new = np.random.uniform(size=n_samples) < p_new
        idx = np.random.randint(0, len(self.buffer), size=n_samples)
        images = np.stack([new_x[i] if is_new[i] else self.buffer[idx[i]][0]
                           for i in range(n_samples)]).astype(np.float32)
        labels = np.where(is_new, new_y, [self.buffer[j][1] for j in idx]).astype(np.int64)
        return images, labels
        # END SOLUTION


# %% [markdown]
# ### [C9] JEM training step

# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    # BEGIN SOLUTION
    data = tf.convert_to_tensor(data, tf.float32)
    label = tf.cast(tf.reshape(label, [-1]), tf.int32)
    x = data + tf.random.normal(tf.shape(data), stddev=sigma)
    x_s, y_s = sb.sample_from_buffer(int(data.shape[0]))
    x_s = tf.convert_to_tensor(x_s, tf.float32)
    for _ in range(20):
        x_s = sampling_step(model, x_s, y_s)
    sb.add_to_buffer(x_s.numpy(), y_s)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        logits_s = model(x_s, training=True)
        y = tf.one_hot(label, tf.shape(logits)[-1])
        ce = tf.reduce_mean(keras.losses.categorical_crossentropy(y, logits, from_logits=True))
        e_real = -tf.reduce_logsumexp(logits, axis=-1)      # E(x), unconditional
        e_fake = -tf.reduce_logsumexp(logits_s, axis=-1)    # E(x'_+), unconditional
        loss = ce + tf.reduce_mean(e_real) - tf.reduce_mean(e_fake)
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss, "ce": ce}
    # END SOLUTION


# %% tags=["train"]
# [Q9]/[Q10] JEM training from a fresh model (do not reuse Part 1's weights)
keras.utils.set_random_seed(0)
model2 = WRN(NUM_CLASSES)
optim2 = keras.optimizers.Adam(LEARNING_RATE)
sb = SampleBuffer((32, 32, 3), NUM_CLASSES, max_samples=10000)
history2 = train_loop(model2, optim2, part2_train_step, train_batches, EPOCHS_2, sb=sb)
print("Part 2 (JEM) test accuracy:", evaluate_accuracy(model2, test_batches))
