# %% [markdown]
# PA2. ResBlock branch built as a keras.Sequential inside the layer; a WRN Sequential with
# no Input layer (built on first call); sparse cross-entropy (the same as one-hot CE);
# a preallocated ring buffer; accuracy with keras.metrics.Accuracy.

# %%
import keras
import numpy as np
import tensorflow as tf


# %%
class ResBlock(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__()
        strides = (2, 2) if downsampling else (1, 1)
        self.f = keras.Sequential([
            keras.layers.LeakyReLU(negative_slope=0.3),
            keras.layers.Conv2D(out_channels, (3, 3), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.3),
            keras.layers.Conv2D(out_channels, (3, 3), strides=strides, padding="same"),
        ])
        if downsampling or in_channels != out_channels:
            self.skip = keras.Sequential([keras.layers.Conv2D(out_channels, (1, 1), strides=strides, use_bias=False)])
        else:
            self.skip = keras.layers.Identity()

    def call(self, x):
        return keras.layers.add([self.f(x), self.skip(x)])


# %%
def WRN(num_classes=10):
    return keras.Sequential([
        keras.layers.Conv2D(16, 3, padding="same"),
        ResBlock(16, 64, downsampling=False),
        ResBlock(64, 64, downsampling=False),
        ResBlock(64, 128, downsampling=True),
        ResBlock(128, 128, downsampling=False),
        ResBlock(128, 256, downsampling=True),
        ResBlock(256, 256, downsampling=False),
        keras.layers.LeakyReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ])


_m = WRN(10)
_m.build((None, 32, 32, 3))
ANSWERS = {"Q2": _m.count_params()}


# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    x = data + sigma * tf.random.normal(tf.shape(data))
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(label, logits, from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss}


# %%
def evaluate_accuracy(model, dataset):
    acc = keras.metrics.Accuracy()
    for x, y in dataset:
        acc.update_state(tf.reshape(y, [-1]), tf.argmax(model(x, training=False), axis=1))
    return acc.result().numpy()


# %%
class ResBlockRE(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False, dropout=0.3):
        super().__init__()
        strides = (2, 2) if downsampling else (1, 1)
        self.f = keras.Sequential([
            keras.layers.LeakyReLU(negative_slope=0.3),
            keras.layers.Conv2D(out_channels, (3, 3), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.3),
            keras.layers.Dropout(dropout),
            keras.layers.Conv2D(out_channels, (3, 3), strides=strides, padding="same"),
        ])
        if downsampling or in_channels != out_channels:
            self.skip = keras.layers.Conv2D(out_channels, (1, 1), strides=strides, use_bias=False)
        else:
            self.skip = keras.layers.Identity()

    def call(self, x):
        return self.f(x) + self.skip(x)


def WRNRE(num_classes=10):
    return keras.Sequential([
        keras.layers.Conv2D(16, 3, padding="same"),
        ResBlockRE(16, 64), ResBlockRE(64, 64), ResBlockRE(64, 128, True),
        ResBlockRE(128, 128), ResBlockRE(128, 256, True), ResBlockRE(256, 256),
        keras.layers.LeakyReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ])


# %%
def energy(model, data, label=None):
    logits = model(data)
    if label is not None:
        return -tf.gather(logits, tf.cast(label, tf.int64), batch_dims=1)
    return -tf.reduce_logsumexp(logits, axis=-1)


# %%
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    x = tf.cast(data, tf.float32)
    with tf.GradientTape() as g:
        g.watch(x)
        total = tf.reduce_sum(energy(model, x, label))
    x = x - step_size * g.gradient(total, x)
    x = x + keras.random.normal(tf.shape(x), stddev=noise_amp)
    return tf.clip_by_value(x, 0, 1)


# %%
class SampleBuffer:
    """Ring buffer: `pos` is where the next sample goes; `full` once it wrapped around."""

    def __init__(self, sample_shape, n_class, max_samples=10000):
        self.sample_shape = tuple(sample_shape)
        self.n_class = n_class
        self.max_samples = max_samples
        self.x = np.zeros((max_samples,) + self.sample_shape, np.float32)
        self.y = np.zeros(max_samples, np.int64)
        self.pos = 0
        self.count = 0

    def __len__(self):
        return self.count

    def add_to_buffer(self, samples, labels):
        samples = np.asarray(samples, np.float32)[-self.max_samples:]
        labels = np.asarray(labels).reshape(-1)[-self.max_samples:]
        for s, l in zip(samples, labels):
            self.x[self.pos] = s
            self.y[self.pos] = l
            self.pos = (self.pos + 1) % self.max_samples
            self.count = min(self.count + 1, self.max_samples)

    def sample_from_buffer(self, n_samples, p_new=0.05):
        images = np.random.rand(n_samples, *self.sample_shape).astype(np.float32)
        labels = np.random.randint(0, self.n_class, n_samples)
        if self.count == 0:
            return images, labels
        for i in range(n_samples):
            if np.random.rand() >= p_new:
                j = np.random.randint(self.count)
                images[i], labels[i] = self.x[j], self.y[j]
        return images, labels


# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    x = data + sigma * tf.random.normal(tf.shape(data))
    x_prime, y_prime = sb.sample_from_buffer(int(tf.shape(data)[0]))
    for _ in range(20):
        x_prime = sampling_step(model, x_prime, y_prime)
    sb.add_to_buffer(x_prime.numpy(), y_prime)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        ce = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(label, logits, from_logits=True))
        loss = ce + tf.reduce_mean(energy(model, x)) - tf.reduce_mean(energy(model, x_prime))
    optim.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return {"loss": loss, "ce": ce}
