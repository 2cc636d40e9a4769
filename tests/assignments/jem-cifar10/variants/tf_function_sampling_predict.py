# %% [markdown]
# PA2. The WRN is a keras.Model subclass holding its blocks in a keras.Sequential; sampling_step
# is compiled with tf.function; accuracy from model.predict over the whole dataset; the buffer
# keeps parallel Python lists; ResBlockRE normalizes after each convolution.

# %%
import keras
import numpy as np
import tensorflow as tf


# %%
class ResBlock(keras.layers.Layer):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__()
        self.downsampling = downsampling
        self.match = in_channels == out_channels and not downsampling
        self.relu = keras.layers.LeakyReLU()
        self.first = keras.layers.Conv2D(out_channels, 3, padding="same")
        self.second = keras.layers.Conv2D(out_channels, 3, strides=2 if downsampling else 1, padding="same")
        self.side = None if self.match else keras.layers.Conv2D(out_channels, 1, strides=2 if downsampling else 1,
                                                                use_bias=False)

    def call(self, inputs):
        h = self.relu(inputs)
        h = self.first(h)
        h = self.relu(h)
        h = self.second(h)
        return h + (inputs if self.match else self.side(inputs))


# %%
class WideResNet(keras.Model):
    def __init__(self, num_classes=10, block=ResBlock):
        super().__init__()
        self.conv = keras.layers.Conv2D(16, 3, padding="same")
        self.body = keras.Sequential([block(16, 64), block(64, 64), block(64, 128, True),
                                      block(128, 128), block(128, 256, True), block(256, 256)])
        self.head = keras.Sequential([keras.layers.LeakyReLU(), keras.layers.GlobalAveragePooling2D(),
                                      keras.layers.Dense(num_classes)])

    def call(self, inputs, training=None):
        return self.head(self.body(self.conv(inputs), training=training))


def WRN(num_classes=10):
    model = WideResNet(num_classes)
    model(tf.zeros((1, 32, 32, 3)))
    return model


ANSWERS = {"Q2": int(sum(np.prod(w.shape) for w in WRN(10).trainable_weights))}


# %%
def part1_train_step(optim, model, data, label, sigma=0.03):
    label = tf.cast(label, tf.int64)
    with tf.GradientTape() as tape:
        x = data + tf.random.normal(tf.shape(data), stddev=sigma)
        logits = model(x, training=True)
        loss = tf.reduce_mean(keras.losses.categorical_crossentropy(tf.one_hot(label, 10), logits, from_logits=True))
    variables = model.trainable_variables
    optim.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return {"loss": loss}


# %%
def evaluate_accuracy(model, dataset):
    if isinstance(dataset, tf.data.Dataset):
        logits = model.predict(dataset.map(lambda x, y: x), verbose=0)
        labels = np.concatenate([np.asarray(y) for _, y in dataset])
    else:
        logits = np.concatenate([model.predict(x, verbose=0) for x, _ in dataset])
        labels = np.concatenate([np.asarray(y) for _, y in dataset])
    return float((logits.argmax(-1) == labels.reshape(-1)).mean())


# %%
class ResBlockRE(ResBlock):
    def __init__(self, in_channels, out_channels, downsampling=False):
        super().__init__(in_channels, out_channels, downsampling)
        self.bn1 = keras.layers.BatchNormalization()
        self.bn2 = keras.layers.BatchNormalization()

    def call(self, inputs, training=None):
        h = self.bn1(self.first(self.relu(inputs)), training=training)
        h = self.bn2(self.second(self.relu(h)), training=training)
        return h + (inputs if self.match else self.side(inputs))


def WRNRE(num_classes=10):
    model = WideResNet(num_classes, block=ResBlockRE)
    model(tf.zeros((1, 32, 32, 3)))
    return model


# %%
def energy(model, data, label=None):
    logits = model(data)
    if label is None:
        return -tf.reduce_logsumexp(logits, axis=-1)
    return -tf.gather(logits, tf.cast(label, tf.int32), axis=1, batch_dims=1)


@tf.function
def _sgld(model, x, label, step_size, noise_amp):
    with tf.GradientTape() as tape:
        tape.watch(x)
        e = tf.reduce_sum(energy(model, x, label))
    x = x - step_size * tape.gradient(e, x) + tf.random.normal(tf.shape(x), stddev=noise_amp)
    return tf.clip_by_value(x, 0.0, 1.0)


def sampling_step(model, data, label=None, step_size=1, noise_amp=0.01):
    return _sgld(model, tf.convert_to_tensor(data, tf.float32), label, float(step_size), float(noise_amp))


# %%
class SampleBuffer:
    def __init__(self, sample_shape, n_class, max_samples=10000):
        self.sample_shape = sample_shape
        self.n_class = n_class
        self.max_samples = max_samples
        self.xs, self.ys = [], []

    def __len__(self):
        return len(self.xs)

    def add_to_buffer(self, samples, labels):
        self.xs.extend(list(np.asarray(samples)))
        self.ys.extend(np.asarray(labels).reshape(-1).tolist())
        drop = len(self.xs) - self.max_samples
        if drop > 0:
            self.xs, self.ys = self.xs[drop:], self.ys[drop:]

    def sample_from_buffer(self, n_samples, p_new=0.05):
        out_x, out_y = [], []
        for _ in range(n_samples):
            if len(self.xs) == 0 or np.random.uniform() < p_new:
                out_x.append(np.random.uniform(0.0, 1.0, self.sample_shape).astype(np.float32))
                out_y.append(np.random.randint(self.n_class))
            else:
                j = np.random.randint(0, len(self.xs))
                out_x.append(self.xs[j])
                out_y.append(self.ys[j])
        return np.stack(out_x), np.array(out_y, dtype=np.int64)


# %%
def part2_train_step(optim, model, data, label, sb, sigma=0.03):
    label = tf.cast(label, tf.int64)
    x = data + tf.random.normal(tf.shape(data), stddev=sigma)
    x_buf, y_buf = sb.sample_from_buffer(int(x.shape[0]))
    for step in range(20):
        x_buf = sampling_step(model, x_buf, y_buf)
    sb.add_to_buffer(x_buf.numpy(), y_buf)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss_ce = tf.reduce_mean(keras.losses.categorical_crossentropy(tf.one_hot(label, 10), logits,
                                                                       from_logits=True))
        e_data = -tf.reduce_logsumexp(logits, axis=-1)
        e_samp = -tf.reduce_logsumexp(model(x_buf, training=True), axis=-1)
        loss = loss_ce + tf.reduce_mean(e_data) - tf.reduce_mean(e_samp)
    variables = model.trainable_variables
    optim.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return {"loss": loss, "ce": loss_ce}
