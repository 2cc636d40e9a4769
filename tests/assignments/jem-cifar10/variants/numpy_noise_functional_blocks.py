# %% [markdown]
# COMP4211 PA2 submission. Numpy noise; blocks combined with keras.layers.Add; the WRN built
# with the Functional API from a helper; np.random.binomial decides the new buffer samples.

# %%
import keras
import numpy as np
import tensorflow as tf
from keras import layers


# %%
class ResBlock(layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False, **kwargs):
        super().__init__(**kwargs)
        st = 2 if downsampling else 1
        self.act_a = layers.LeakyReLU(negative_slope=0.3)
        self.conv_a = layers.Conv2D(filters=out_channels, kernel_size=3, strides=1, padding="same")
        self.act_b = layers.LeakyReLU(negative_slope=0.3)
        self.conv_b = layers.Conv2D(filters=out_channels, kernel_size=3, strides=st, padding="same")
        self.project = (in_channels != out_channels) or downsampling
        if self.project:
            self.conv_s = layers.Conv2D(filters=out_channels, kernel_size=1, strides=st, use_bias=False)
        self.add = layers.Add()

    def call(self, x):
        f = self.conv_b(self.act_b(self.conv_a(self.act_a(x))))
        s = self.conv_s(x) if self.project else x
        return self.add([f, s])


# %%
def _stage(x, cin, cout, down, block=ResBlock):
    x = block(cin, cout, downsampling=down)(x)
    return block(cout, cout)(x)


def WRN(num_classes=10):
    inp = keras.Input(shape=(32, 32, 3))
    h = layers.Conv2D(16, 3, padding="same")(inp)
    h = _stage(h, 16, 64, False)
    h = _stage(h, 64, 128, True)
    h = _stage(h, 128, 256, True)
    h = layers.LeakyReLU(negative_slope=0.3)(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, layers.Dense(num_classes)(h))


ANSWERS = dict(Q2=WRN().count_params())


# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    noise = np.random.normal(0.0, sigma, size=data.shape).astype(np.float32)
    noisy = data + noise
    y = tf.one_hot(tf.cast(label, tf.int32), depth=10)
    with tf.GradientTape() as tape:
        logits = model(noisy, training=True)
        per_sample = tf.nn.softmax_cross_entropy_with_logits(y, logits)
        loss = tf.reduce_sum(per_sample) / tf.cast(tf.shape(per_sample)[0], tf.float32)
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss.numpy()}


# %%
def evaluate_accuracy(model, dataset):
    hits = []
    for images, labels in dataset:
        preds = np.argmax(model(images).numpy(), axis=-1)
        hits.extend((preds == np.asarray(labels).reshape(-1)).tolist())
    return float(np.mean(hits))


# %%
class ResBlockRE(ResBlock):
    def __init__(self, in_channels, out_channels, downsampling=False, rate=0.3, **kwargs):
        super().__init__(in_channels, out_channels, downsampling, **kwargs)
        self.dropout = layers.Dropout(rate)

    def call(self, x, training=False):
        f = self.conv_a(self.act_a(x))
        f = self.dropout(f, training=training)
        f = self.conv_b(self.act_b(f))
        s = self.conv_s(x) if self.project else x
        return self.add([f, s])


def WRNRE(num_classes=10):
    inp = keras.Input(shape=(32, 32, 3))
    h = layers.Conv2D(16, 3, padding="same")(inp)
    h = _stage(h, 16, 64, False, ResBlockRE)
    h = _stage(h, 64, 128, True, ResBlockRE)
    h = _stage(h, 128, 256, True, ResBlockRE)
    h = layers.LeakyReLU(negative_slope=0.3)(h)
    h = layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, layers.Dense(num_classes)(h))


# %%
def energy(model, data, label=None):
    out = model(data)
    if label is None:
        return -tf.math.reduce_logsumexp(out, axis=1)
    label = np.asarray(label).astype(np.int64).reshape(-1)
    return -tf.gather_nd(out, np.stack([np.arange(len(label)), label], axis=1))


# %%
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    data = tf.constant(np.asarray(data, dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(data)
        e = tf.reduce_sum(energy(model, data, label))
    g = tape.gradient(e, data).numpy()
    out = data.numpy() - step_size * g + np.random.normal(0.0, noise_amp, size=g.shape)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


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
        samples = samples.numpy() if hasattr(samples, "numpy") else np.asarray(samples)
        labels = labels.numpy() if hasattr(labels, "numpy") else np.asarray(labels)
        self.buffer += list(zip(samples, labels.reshape(-1)))
        if len(self.buffer) > self.max_samples:
            self.buffer = self.buffer[len(self.buffer) - self.max_samples:]

    def sample_from_buffer(self, n_samples, p_new=0.05):
        n_new = n_samples if not self.buffer else np.random.binomial(1, p_new, size=n_samples)
        new = np.ones(n_samples, bool) if not self.buffer else n_new.astype(bool)
        images = np.empty((n_samples, *self.sample_shape), np.float32)
        labels = np.empty(n_samples, np.int64)
        for i in range(n_samples):
            if new[i]:
                images[i] = np.random.uniform(0, 1, self.sample_shape)
                labels[i] = np.random.randint(0, self.n_class)
            else:
                img, lab = self.buffer[np.random.randint(len(self.buffer))]
                images[i], labels[i] = img, lab
        return images, labels


# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    noisy = data + np.random.normal(0.0, sigma, size=data.shape).astype(np.float32)
    y = tf.one_hot(tf.cast(label, tf.int32), depth=10)
    xs, ys = sb.sample_from_buffer(noisy.shape[0])
    for _ in range(20):
        xs = sampling_step(model, xs, ys)
    sb.add_to_buffer(xs, ys)
    with tf.GradientTape() as tape:
        logits = model(noisy, training=True)
        ce = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, logits))
        loss = ce + tf.reduce_mean(energy(model, noisy)) - tf.reduce_mean(energy(model, xs))
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": float(loss)}
