# %% [markdown]
# # COMP4211 PA2 - WRN and JEM
# Layers kept in Python lists, `tf.nn.leaky_relu(x, 0.3)` instead of layer objects, a
# Sequential WRN built in a loop, BatchNorm in ResBlockRE, a numpy-array replay buffer,
# Keras metrics for the accuracy, and part 2 using my own energy().

# %%
import numpy as np
import tensorflow as tf
from tensorflow import keras

NUM_CLASSES = 10

# %%
class ResBlock(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__()
        stride = 2 if downsampling else 1
        self.convs = [keras.layers.Conv2D(out_channels, 3, padding="same"),
                      keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")]
        self.need_proj = downsampling or in_channels != out_channels
        if self.need_proj:
            self.proj = keras.layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)

    def call(self, x):
        h = x
        for conv in self.convs:
            h = conv(tf.nn.leaky_relu(h, 0.3))
        skip = self.proj(x) if self.need_proj else x
        return h + skip


# %%
def WRN(num_classes=10):
    model = keras.Sequential()
    model.add(keras.layers.InputLayer(shape=(32, 32, 3)))
    model.add(keras.layers.Conv2D(16, (3, 3), padding="same"))
    cfg = [(16, 64, False), (64, 64, False), (64, 128, True), (128, 128, False), (128, 256, True), (256, 256, False)]
    for cin, cout, down in cfg:
        model.add(ResBlock(cin, cout, down))
    model.add(keras.layers.LeakyReLU(negative_slope=0.3))
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(num_classes))
    return model


model = WRN(NUM_CLASSES)
model.summary()
ANSWERS = {"Q2": int(np.sum([np.prod(w.shape) for w in model.trainable_weights]))}


# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    y = tf.one_hot(label, depth=10)
    x = data + tf.random.normal(shape=data.shape, mean=0.0, stddev=sigma)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)(y, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss}


# %%
def evaluate_accuracy(model, dataset):
    metric = keras.metrics.SparseCategoricalAccuracy()
    for images, labels in dataset:
        metric.update_state(labels, model(images, training=False))
    return float(metric.result())


# %%
class ResBlockRE(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__()
        stride = 2 if downsampling else 1
        self.convs = [keras.layers.Conv2D(out_channels, 3, padding="same"),
                      keras.layers.Conv2D(out_channels, 3, strides=stride, padding="same")]
        self.norms = [keras.layers.BatchNormalization(), keras.layers.BatchNormalization()]
        self.need_proj = downsampling or in_channels != out_channels
        if self.need_proj:
            self.proj = keras.layers.Conv2D(out_channels, 1, strides=stride, use_bias=False)

    def call(self, x, training=False):
        h = x
        for norm, conv in zip(self.norms, self.convs):
            h = conv(tf.nn.leaky_relu(norm(h, training=training), 0.3))
        skip = self.proj(x) if self.need_proj else x
        return h + skip


def WRNRE(num_classes=10):
    model = keras.Sequential()
    model.add(keras.layers.InputLayer(shape=(32, 32, 3)))
    model.add(keras.layers.Conv2D(16, (3, 3), padding="same"))
    cfg = [(16, 64, False), (64, 64, False), (64, 128, True), (128, 128, False), (128, 256, True), (256, 256, False)]
    for cin, cout, down in cfg:
        model.add(ResBlockRE(cin, cout, down))
    model.add(keras.layers.LeakyReLU(negative_slope=0.3))
    model.add(keras.layers.GlobalAveragePooling2D())
    model.add(keras.layers.Dense(num_classes))
    return model


# %%
def energy(model, data, label=None):
    logits = model(data)
    if label is None:
        return -tf.reduce_logsumexp(logits, axis=1)
    return -tf.reduce_sum(logits * tf.one_hot(label, logits.shape[1]), axis=1)


# %%
def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    data = tf.convert_to_tensor(data, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(data)
        e = tf.reduce_sum(energy(model, data, label))
    grad = tape.gradient(e, data)
    data = data - step_size * grad
    data = data + noise_amp * tf.random.normal(data.shape)
    return tf.clip_by_value(data, 0.0, 1.0)


# %%
class SampleBuffer:
    def __init__(self, sample_shape, n_class, max_samples=10000):
        self.sample_shape = tuple(sample_shape)
        self.n_class = n_class
        self.max_samples = max_samples
        self.images = np.zeros((0,) + self.sample_shape, dtype=np.float32)
        self.labels = np.zeros((0,), dtype=np.int32)

    def __len__(self):
        return len(self.images)

    def add_to_buffer(self, samples, labels):
        samples = np.asarray(samples, dtype=np.float32)
        labels = np.asarray(labels).astype(np.int32).reshape(-1)
        self.images = np.concatenate([self.images, samples], axis=0)
        self.labels = np.concatenate([self.labels, labels], axis=0)
        if len(self.images) > self.max_samples:
            self.images = self.images[-self.max_samples:]
            self.labels = self.labels[-self.max_samples:]

    def sample_from_buffer(self, n_samples, p_new=0.05):
        new_x = np.random.uniform(0, 1, size=(n_samples,) + self.sample_shape).astype(np.float32)
        new_y = np.random.randint(0, self.n_class, size=n_samples)
        if len(self.images) == 0:
            return new_x, new_y
        idx = np.random.choice(len(self.images), size=n_samples, replace=True)
        use_new = np.random.rand(n_samples) < p_new
        x = np.where(use_new[:, None, None, None], new_x, self.images[idx])
        y = np.where(use_new, new_y, self.labels[idx])
        return x, y


# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    y = tf.one_hot(label, depth=10)
    x = data + tf.random.normal(shape=data.shape, stddev=sigma)
    x_fake, y_fake = sb.sample_from_buffer(data.shape[0])
    for t in range(20):
        x_fake = sampling_step(model, x_fake, y_fake)
    sb.add_to_buffer(x_fake, y_fake)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        ce = keras.losses.CategoricalCrossentropy(from_logits=True)(y, logits)
        loss = ce + tf.reduce_mean(energy(model, x)) - tf.reduce_mean(energy(model, x_fake))
    grads = tape.gradient(loss, model.trainable_variables)
    optim.apply_gradients(zip(grads, model.trainable_variables))
    return {"loss": loss, "ce": ce}
