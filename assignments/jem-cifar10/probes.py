"""Grading helpers for jem-cifar10, run inside the student's kernel.

Each helper returns plain data (numbers, lists, numpy arrays) that a check's judge
compares with the same helper run on the reference solution. No helper sees an expected
value. To keep grading fast on a CPU, and so that one bug costs once:

- the functions of Part 1 and Part 2 (C3, C4, C6, C7, C9) are run on a small fixed
  classifier built here (`tiny_model`: two strided convolutions, 10 logits) with
  deterministic weights, not on the student's WRN;
- C2 builds the student's `WRN` with the reference's `ResBlock` standing in;
- C7 uses the reference's `energy`; C9 the reference's `energy` and a recording wrapper
  around the reference's `sampling_step` (noise switched off, so the run is
  deterministic), and a controlled replay buffer instead of the student's SampleBuffer.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

N_CLASSES = 10


# ----------------------------------------------------------------------------- common

def _keras():
    import keras
    import tensorflow as tf
    return tf, keras


def to_np(x) -> np.ndarray:
    if hasattr(x, "numpy"):
        x = x.numpy()
    return np.asarray(x)


def scalar(x) -> float:
    a = to_np(x).astype(np.float64)
    if a.size != 1:
        raise ValueError(f"expected a scalar loss, got an array of shape {tuple(a.shape)}")
    return float(a.reshape(()))


def fill_weights(model, seed: int, scale: float = 1.0) -> None:
    """Deterministic weights, independent of the framework's initialisers: He-scaled normal
    kernels, small normal biases, in the order the model lists its weights."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        shape = tuple(int(s) for s in v.shape)
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            w = rng.normal(0.0, scale * np.sqrt(2.0 / fan_in), shape)
        else:
            w = rng.normal(0.0, 0.1 * scale, shape)
        v.assign(w.astype(np.float32))


def tiny_model(seed: int = 0, width: int = 8, scale: float = 1.0):
    """A small fixed classifier on (B,32,32,3) images with 10 logits (built by the grader)."""
    tf, keras = _keras()
    model = keras.Sequential([
        keras.Input(shape=(32, 32, 3)),
        keras.layers.Conv2D(width, 3, strides=2, padding="same"),
        keras.layers.LeakyReLU(),
        keras.layers.Conv2D(2 * width, 3, strides=2, padding="same"),
        keras.layers.LeakyReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(N_CLASSES),
    ], name="grader_tiny")
    fill_weights(model, seed, scale)
    return model


def fixture_images(ctx, n: int, offset: int = 0):
    """n images float32 (n,32,32,3) in [0,1] and labels int64 from the shipped test batch."""
    from grader.datasets.cifar import read_batch
    x, y = read_batch(str(Path(ctx.data_dir) / "cifar-10-batches-py" / "test_batch"))
    x = x[offset:offset + n].astype(np.float32) / 255.0
    return np.ascontiguousarray(x), np.asarray(y[offset:offset + n], dtype=np.int64)


def weights_of(model) -> list[np.ndarray]:
    return [to_np(v).astype(np.float64) for v in model.trainable_variables]


def delta(before, model) -> np.ndarray:
    after = weights_of(model)
    return np.concatenate([(a - b).ravel() for a, b in zip(after, before)]).astype(np.float32)


def sublayers(layer) -> list:
    return list(layer._flatten_layers(include_self=False, recursive=True))


def _seed(ctx, offset: int = 0):
    ctx.fw.seed(ctx.seed + offset)


# ----------------------------------------------------------------------------- C1, C2

def _tag(cin, cout, down) -> str:
    return f"{cin}_{cout}" + ("_down" if down else "")


def resblock_layout(ctx, configs, hw: int = 8, batch: int = 2):
    """For each (in, out, downsampling) config: the output shape and the Conv2D layers inside
    the block, found by type, not by attribute name:
    `skip_<cfg>`: the 1x1 convolutions as [kh, kw, in, out, stride_h, stride_w, bias];
    `n3x3_<cfg>`: how many 3x3 convolutions there are;
    `strided_<cfg>`: the 3x3 convolutions with a stride > 1 as [kh, kw, in, out, sh, sw]
    (the second conv reads out_channels, the first in_channels)."""
    tf, keras = _keras()
    ResBlock = ctx.get("ResBlock")
    out = {}
    for cin, cout, down in configs:
        block = ResBlock(cin, cout, downsampling=down)
        x = np.random.default_rng(ctx.seed).normal(size=(batch, hw, hw, cin)).astype(np.float32)
        y = block(tf.constant(x))
        convs = []
        for layer in sublayers(block):
            if isinstance(layer, keras.layers.Conv2D):
                k = [int(s) for s in layer.kernel.shape]
                convs.append({"kernel": k, "strides": [int(s) for s in layer.strides],
                              "bias": bool(layer.use_bias)})
        t = _tag(cin, cout, down)
        out[f"output_{t}"] = [int(s) for s in to_np(y).shape]
        out[f"skip_{t}"] = [[*c["kernel"], *c["strides"], c["bias"]] for c in convs if c["kernel"][:2] == [1, 1]]
        out[f"n3x3_{t}"] = sum(c["kernel"][:2] == [3, 3] for c in convs)
        out[f"strided_{t}"] = [[*c["kernel"], *c["strides"]] for c in convs
                               if c["kernel"][:2] == [3, 3] and max(c["strides"]) > 1]
    return out


def resblock_outputs(ctx, configs, hw: int = 8, batch: int = 2):
    """`out_<cfg>`: the student's block's output under the reference block's weights, on a
    fixed input. The reference's weights (deterministic, non-zero biases) are copied by
    shape: the k-th weight of a shape goes to the student's k-th weight of that shape, in
    creation order, so where the skip convolution is created does not matter. None when the
    blocks' weight shapes differ."""
    tf, keras = _keras()
    ResBlock = ctx.get("ResBlock")
    RefBlock = ctx.ref("ResBlock")
    out = {}
    for cin, cout, down in configs:
        x = tf.constant(np.random.default_rng(ctx.seed + 1).uniform(-1, 1, (batch, hw, hw, cin)).astype(np.float32))
        ref = RefBlock(cin, cout, downsampling=down)
        ref(x)
        fill_weights(ref, ctx.seed + 2)
        block = ResBlock(cin, cout, downsampling=down)
        block(x)
        src, dst = {}, {}
        for v in ref.weights:
            src.setdefault(tuple(int(d) for d in v.shape), []).append(to_np(v))
        for v in block.weights:
            dst.setdefault(tuple(int(d) for d in v.shape), []).append(v)
        key = f"out_{_tag(cin, cout, down)}"
        if {k: len(v) for k, v in src.items()} != {k: len(v) for k, v in dst.items()}:
            out[key] = None
            continue
        for shape, vs in dst.items():
            for v, a in zip(vs, src[shape]):
                v.assign(a)
        out[key] = to_np(block(x)).astype(np.float32)
    return out


def wrn_summary(ctx, num_classes: int = 10, batch: int = 2):
    """The student's WRN with the reference's ResBlock standing in: trainable parameters,
    output shape, and the logits under the reference WRN's weights (transferred by the
    adapter: by attribute path, else in creation order with matching shapes; None when
    they cannot be paired)."""
    tf, keras = _keras()
    x = tf.constant(np.random.default_rng(ctx.seed).uniform(0, 1, (batch, 32, 32, 3)).astype(np.float32))
    with ctx.standing_in({"ResBlock": ctx.ref("ResBlock")}):
        model = ctx.get("WRN")(num_classes)
        y = model(x)
        ref = ctx.ref("WRN")(num_classes)
        ref(x)
        fill_weights(ref, ctx.seed + 5)
        try:
            ctx.fw.transfer_weights(ref, model)
            logits = to_np(model(x)).astype(np.float32)
        except ValueError:
            logits = None
    params = int(sum(int(np.prod(v.shape)) for v in model.trainable_weights))
    return {"params": params, "output": [int(s) for s in to_np(y).shape], "logits": logits}


# ----------------------------------------------------------------------------- C3, C4

def part1_step(ctx, batch: int = 8, lr: float = 0.1, sigma_noise: float = 0.5):
    """`part1_train_step` with SGD on the tiny model: the loss with sigma 0, the weights'
    change, and whether sigma adds noise (two calls with sigma > 0 from equal weights)."""
    tf, keras = _keras()
    step = ctx.get("part1_train_step")
    x, y = fixture_images(ctx, batch)
    _seed(ctx)
    model = tiny_model(ctx.seed)
    before = weights_of(model)
    out = step(keras.optimizers.SGD(lr), model, x, y, sigma=0.0)
    if not isinstance(out, dict) or "loss" not in out:
        raise TypeError("part1_train_step must return a dict with the key 'loss'")
    loss = scalar(out["loss"])
    moved = delta(before, model)
    noisy = []
    for _ in range(2):
        m = tiny_model(ctx.seed)
        noisy.append(scalar(step(keras.optimizers.SGD(0.0), m, x, y, sigma=sigma_noise)["loss"]))
    return {"loss": loss, "delta": moved, "noisy": noisy,
            "noisy_differs": bool(abs(noisy[0] - noisy[1]) > 1e-6 and abs(noisy[0] - loss) > 1e-6)}


def accuracy(ctx, sizes=(8, 8, 5)):
    """`evaluate_accuracy` of the tiny model on a tf.data pipeline of batches of unequal size
    (sizes[0] each, the last one shorter), labels set so that a known share of the
    predictions is right."""
    tf, keras = _keras()
    n = sum(sizes)
    x, _ = fixture_images(ctx, n, offset=16)
    model = tiny_model(ctx.seed)
    pred = np.argmax(to_np(model(tf.constant(x))), axis=-1)
    wrong = np.random.default_rng(ctx.seed).permutation(n)[: n * 2 // 5]
    y = pred.copy()
    y[wrong] = (y[wrong] + 1 + np.arange(len(wrong)) % 9) % N_CLASSES
    # a tf.data pipeline, as the handout's notebook passes; batches of 8, 8, 5
    batches = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int64))).batch(sizes[0])
    acc = ctx.get("evaluate_accuracy")(model, batches)
    return {"accuracy": scalar(acc)}


# ----------------------------------------------------------------------------- C5

REGULARIZERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                "AlphaDropout", "BatchNormalization", "GroupNormalization", "LayerNormalization")


def regularized(ctx, configs, batch: int = 2, hw: int = 8):
    """ResBlockRE for each config and WRNRE(10): `reg_<cfg>` / `reg_wrn`: whether a Dropout or
    normalization layer is inside; `out_<cfg>` / `out_wrn`: output shapes (inference mode)."""
    tf, keras = _keras()
    out = {}
    RE = ctx.get("ResBlockRE")
    for cin, cout, down in configs:
        block = RE(cin, cout, downsampling=down)
        x = tf.constant(np.random.default_rng(ctx.seed).uniform(0, 1, (batch, hw, hw, cin)).astype(np.float32))
        y = block(x, training=False)
        t = _tag(cin, cout, down)
        out[f"out_{t}"] = [int(s) for s in to_np(y).shape]
        out[f"reg_{t}"] = any(type(l).__name__ in REGULARIZERS for l in sublayers(block))
    model = ctx.get("WRNRE")(10)
    x = tf.constant(np.random.default_rng(ctx.seed).uniform(0, 1, (batch, 32, 32, 3)).astype(np.float32))
    y = model(x, training=False)
    out["out_wrn"] = [int(s) for s in to_np(y).shape]
    out["reg_wrn"] = any(type(l).__name__ in REGULARIZERS for l in sublayers(model))
    return out


# ----------------------------------------------------------------------------- C6, C7

def energies(ctx, batch: int = 6):
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch, offset=40)
    model = tiny_model(ctx.seed)
    energy = ctx.get("energy")
    e_u = to_np(energy(model, tf.constant(x))).astype(np.float32)
    e_c = to_np(energy(model, tf.constant(x), tf.constant(y))).astype(np.float32)
    return {"unconditional": e_u, "conditional": e_c}


def sampling_noiseless(ctx, batch: int = 4, scale: float = 4.0):
    """`sampling_step` with noise_amp 0 (reference `energy`), with and without labels, with
    the default step size and with another; the model's input gradients are scaled up so
    that some pixels are clipped."""
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch, offset=60)
    model = tiny_model(ctx.seed, scale=scale)
    out = {}
    with ctx.standing_in({"energy": ctx.ref("energy")}):
        step = ctx.get("sampling_step")
        out["unconditional"] = to_np(step(model, tf.constant(x), noise_amp=0.0)).astype(np.float32)
        out["conditional"] = to_np(step(model, tf.constant(x), tf.constant(y), noise_amp=0.0)).astype(np.float32)
        out["step_0_25"] = to_np(step(model, tf.constant(x), tf.constant(y), step_size=0.25,
                                      noise_amp=0.0)).astype(np.float32)
    return out


def sampling_noise(ctx, noise_amp: float = 0.05, batch: int = 4, margin: float = 6.0, repeats: int = 2):
    """Residuals of `sampling_step` with noise: output minus the same call's noise-free
    output, at the pixels whose noise-free value lies at least `margin` noise_amps inside
    [0, 1] (so clipping cannot touch them)."""
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch, offset=80)
    x = 0.25 + 0.5 * x                               # away from the clipping bounds
    model = tiny_model(ctx.seed, scale=0.2)          # small input gradients
    res = []
    with ctx.standing_in({"energy": ctx.ref("energy")}):
        step = ctx.get("sampling_step")
        base = to_np(step(model, tf.constant(x), tf.constant(y), noise_amp=0.0)).astype(np.float64)
        keep = (base > margin * noise_amp) & (base < 1 - margin * noise_amp)
        for r in range(repeats):
            _seed(ctx, 100 + r)
            noisy = to_np(step(model, tf.constant(x), tf.constant(y), noise_amp=noise_amp)).astype(np.float64)
            res.append((noisy - base)[keep])
    return {"residual": np.concatenate(res).astype(np.float64), "kept": float(keep.mean())}


# ----------------------------------------------------------------------------- C8

def _ids_of(images):
    """Buffer images made by `_tagged` are constant; their value encodes an id."""
    a = to_np(images).astype(np.float64)
    flat = a.reshape(len(a), -1)
    const = np.ptp(flat, axis=1) < 1e-6
    ids = np.where(const, np.round(flat[:, 0] * 64.0).astype(np.int64) - 1, -1)
    return ids, const


def _tagged(ids, shape):
    ids = np.asarray(ids)
    x = np.ones((len(ids),) + tuple(shape), np.float32) * ((ids + 1) / 64.0).astype(np.float32).reshape((-1,) + (1,) * len(shape))
    return x, (ids % N_CLASSES).astype(np.int64)


def buffer_fifo(ctx, shape=(4, 4, 3), cap: int = 5, draws: int = 300):
    """Which samples the student's SampleBuffer holds (seen through sample_from_buffer with
    p_new=0) after adds that overflow the cap, and what it returns when empty."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    out = {}

    def seen(sb, key):
        x, y = sb.sample_from_buffer(draws, p_new=0.0)
        ids, const = _ids_of(x)
        y = to_np(y).reshape(-1).astype(np.int64)
        out[key] = sorted(set(int(i) for i in ids))
        out[key + "_labels_match"] = bool(np.all(const) and np.array_equal(y, ids % N_CLASSES))

    _seed(ctx)
    sb = SB(shape, N_CLASSES, max_samples=cap)
    sb.add_to_buffer(*_tagged(range(0, 3), shape))
    seen(sb, "under_cap")
    sb.add_to_buffer(*_tagged(range(3, 7), shape))
    seen(sb, "over_cap")
    sb.add_to_buffer(*_tagged(range(10, 18), shape))
    seen(sb, "big_add")

    empty = SB(shape, N_CLASSES, max_samples=cap)
    x, y = empty.sample_from_buffer(64, p_new=0.0)
    x, y = to_np(x).astype(np.float64), to_np(y).reshape(-1)
    out.update({
        "empty_shape": [int(s) for s in x.shape], "empty_labels": int(len(y)),
        "empty_in_range": bool(x.size and x.min() >= 0 and x.max() <= 1),
        "empty_varied": bool(x.size and np.std(x) > 0.2),
        "empty_label_ints": bool(np.all(np.asarray(y) == np.round(np.asarray(y, np.float64)))),
        "empty_labels_in_range": bool(len(y) and np.min(y) >= 0 and np.max(y) <= N_CLASSES - 1),
        "empty_label_classes": int(len(set(np.asarray(y, np.int64).tolist())))})
    return out


def buffer_pnew(ctx, shape=(4, 4, 3), size: int = 8, n: int = 20, calls: int = 60, p_new: float = 0.3,
                uniform_draws: int = 800):
    """Draw statistics of the student's sample_from_buffer: per call, how many of the n
    positions are new (a random image rather than a buffered, constant one); and which
    buffered samples come back with p_new=0 (uniform with replacement)."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    _seed(ctx, 7)
    sb = SB(shape, N_CLASSES, max_samples=100)
    sb.add_to_buffer(*_tagged(range(size), shape))
    per_call, new_labels = [], []
    for _ in range(calls):
        x, y = sb.sample_from_buffer(n, p_new=p_new)
        ids, const = _ids_of(x)
        y = to_np(y).reshape(-1).astype(np.int64)
        per_call.append(int(np.sum(~const)))
        new_labels += y[~const].tolist()
    x, _ = sb.sample_from_buffer(uniform_draws, p_new=0.0)
    ids, const = _ids_of(x)
    counts = [int(np.sum(ids == i)) for i in range(size)]
    return {"new_per_call": per_call, "n": n, "buffer_counts": counts, "not_buffered": int(np.sum(~const)),
            "new_label_counts": [int(np.sum(np.asarray(new_labels) == c)) for c in range(N_CLASSES)]}


# ----------------------------------------------------------------------------- C9

class ControlledBuffer:
    """Stands in for SampleBuffer in C9: fixed samples, records what it is asked and given."""

    def __init__(self, images, labels, n_class=N_CLASSES):
        self.sample_shape = tuple(images.shape[1:])
        self.n_class = n_class
        self.max_samples = 10000
        self.buffer = []
        self._x, self._y = images, labels
        self.sampled, self.added = [], []

    def __len__(self):
        return len(self._x)

    def sample_from_buffer(self, n_samples, p_new=0.05):
        self.sampled.append({"n": int(n_samples), "p_new": float(p_new)})
        n = int(n_samples)
        return self._x[:n].copy(), self._y[:n].copy()

    def add_to_buffer(self, samples, labels):
        self.added.append((to_np(samples).astype(np.float32), to_np(labels).reshape(-1).astype(np.int64)))


def part2_step(ctx, batch: int = 4, lr: float = 0.05):
    """`part2_train_step` on the tiny model with sigma 0, a controlled buffer, the reference's
    `energy`, and the reference's `sampling_step` (noise off) wrapped to count its calls and
    record their arguments. Returns the loss, the weights' change, what was sampled and
    pushed back, and the sampling calls."""
    tf, keras = _keras()
    import inspect
    x, y = fixture_images(ctx, batch, offset=100)
    rng = np.random.default_rng(ctx.seed + 3)
    bx = rng.uniform(0, 1, (batch,) + x.shape[1:]).astype(np.float32)
    by = rng.integers(0, N_CLASSES, batch).astype(np.int64)
    sb = ControlledBuffer(bx, by)
    calls = []
    ref_step = ctx.ref("sampling_step")
    sig = inspect.signature(ref_step)

    def recording_step(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        calls.append({"step_size": float(a["step_size"]), "noise_amp": float(a["noise_amp"]),
                      "label": a["label"] is not None})
        kw = dict(a)
        kw["noise_amp"] = 0.0
        return ref_step(**kw)

    _seed(ctx)
    model = tiny_model(ctx.seed, scale=1.0)
    before = weights_of(model)
    with ctx.standing_in({"energy": ctx.ref("energy"), "sampling_step": recording_step}):
        out = ctx.get("part2_train_step")(keras.optimizers.SGD(lr), model, x, y, sb, sigma=0.0)
    if not isinstance(out, dict) or "loss" not in out:
        raise TypeError("part2_train_step must return a dict with the key 'loss'")
    added_x = np.concatenate([a[0] for a in sb.added]) if sb.added else np.zeros((0,), np.float32)
    added_y = np.concatenate([a[1] for a in sb.added]) if sb.added else np.zeros((0,), np.int64)
    return {"loss": scalar(out["loss"]), "delta": delta(before, model),
            "sampled": sb.sampled, "calls": len(calls),
            "call_args": sorted({(c["step_size"], c["noise_amp"], c["label"]) for c in calls}),
            "added_x": added_x, "added_y": added_y}
