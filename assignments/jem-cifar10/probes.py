"""Grading helpers for jem-cifar10, run inside the student's kernel.

Each helper returns raw measurements (numbers, lists, numpy arrays), never a verdict: the
judges (assignment.toml) own every tolerance and recompute the contract's formulas.

- Functions that receive a model (C3, C4, C6, C7, C9) get the student's own `WRN(10)` (the
  contract: a function is given the student's model whenever it builds and runs); the probes
  declare `fallback = ["WRN"]`, so the reference's WRN stands in only when the student's fails,
  and the feedback says so. The expected value therefore cannot come from the reference's run:
  the helper records what the student's function returned next to what the grader measured with
  its own code on the same model (the inputs the model actually received, through a recording
  wrapper around the model's `call`; logits and gradients at the weights before the call; the
  parameters' change under SGD), and the `formula` judge evaluates the contract's formula.
- Inputs are what the course's pipeline passes: framework tensors (`ctx.tensor`) and int32
  labels (`ctx.labels`); the runner retries once with numpy / int64 and notes it.
- One bug costs once: C2 compares the student's WRN built from the reference's ResBlock with the
  reference's run (a block that computes something else is C1's); C7 and C9 use the
  reference's `energy` (a wrong energy is C6's); C9 gives the student's step a recording
  stand-in for `sampling_step` (the grader's, judged on what it handed back) and a controlled
  replay buffer as its argument `sb`, so its checks depend on neither C7's nor C8's correctness.
- The reference's models are never built here: where a check compares with the reference's
  outputs, the judge takes them from the reference's own run of the same probe (`ref.<key>` in
  the toml), under weights that depend only on each tensor's shape (C1) or that the grader pairs
  with the reference's (`ctx.reference_weights`, C2). Values out of student code go through the
  adapter (`fw.to_numpy`: exactly a tensor, an array or a number).
- Each behaviour of the SampleBuffer (C8) is observed by a probe of its own, through
  `sample_from_buffer` calls that any contract-valid storage answers (single draws to see what
  the buffer holds, so a buffer drawing without replacement only loses the with-replacement test).
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from grader.frameworks import keras as fw

N_CLASSES = 10


# ----------------------------------------------------------------------------- common

def _keras():
    import keras
    import tensorflow as tf
    return tf, keras


to_np = fw.to_numpy          # values out of student code: plain tensors, arrays or numbers only


def scalar(x) -> float:
    a = to_np(x).astype(np.float64)
    if a.size != 1:
        raise ValueError(f"expected a scalar, got an array of shape {tuple(a.shape)}")
    return float(a.reshape(()))


def returned_loss(out, what: str) -> float:
    if not isinstance(out, dict) or "loss" not in out:
        raise TypeError(f"{what} must return a dict with the key 'loss'")
    return scalar(out["loss"])


def fill_weights(model, seed: int, scale: float = 1.0) -> None:
    """Deterministic He-scaled weights (the adapter's, by each variable's path and shape),
    independent of the framework's initialisers: logits of order 10 on the fixture images."""
    fw.fill_weights(model, seed, scale, he=True)


def fixture_images(ctx, n: int, offset: int = 0):
    """n images float32 (n,32,32,3) in [0,1] and their labels (int64) from the shipped test batch."""
    from grader.datasets.cifar import read_batch
    x, y = read_batch(str(Path(ctx.data_dir) / "cifar-10-batches-py" / "test_batch"))
    x = x[offset:offset + n].astype(np.float32) / 255.0
    return np.ascontiguousarray(x), np.asarray(y[offset:offset + n], dtype=np.int64)


def inner(x, low: float = 0.25, high: float = 0.75):
    """Images squeezed into [low, high] (still valid images): N(0, sigma^2) noise added to them is
    not clipped, whether or not the student clips to [0, 1]."""
    return (low + (high - low) * x).astype(np.float32)


def weights_of(model) -> list[np.ndarray]:
    return [to_np(v).copy() for v in model.trainable_variables]


def restore(model, values) -> None:
    for v, a in zip(model.trainable_variables, values):
        v.assign(a)


def sublayers(layer) -> list:
    return list(layer._flatten_layers(include_self=False, recursive=True))


def _seed(ctx, offset: int = 0):
    ctx.fw.seed(ctx.seed + offset)


def float32(ctx) -> None:
    """The grader's comparisons are of float32 computations: TensorFloat-32 (on by default on
    Ampere and later GPUs, ~1e-3 relative error in convolutions and matrix products) is switched
    off for the probing session, so that the tolerances calibrated on the CPU hold on a GPU."""
    tf, _ = _keras()
    tf.config.experimental.enable_tensor_float_32_execution(False)


def student_wrn(ctx, num_classes: int = N_CLASSES):
    """The student's WRN(10) (the reference's when the probe's fallback stands it in), built,
    with the weights it was built with. Built once per grading session and definition (a WRN
    takes ~0.2 s to build): later probes get the same model back with its initial weights
    restored (a probe's optimizer step or seeded weights do not carry over). A model built
    from the reference's WRN or ResBlock (a fallback, a stand-in) is not kept: nothing of the
    reference outlives its probe."""
    float32(ctx)
    try:
        block = ctx.get("ResBlock")
    except Exception:  # noqa: BLE001 - a WRN may be graded without a ResBlock of that name
        block = None
    key = (ctx.get("WRN"), block, num_classes)
    keep = not {"WRN", "ResBlock"} & {*ctx.stood_in, *ctx.o.stand_in}
    cache = ctx.plan.setdefault("_loaded", {}).setdefault("jem_wrn", [])
    for k, model, initial in cache if keep else []:
        if len(k) == len(key) and all(p is q for p, q in zip(k, key)):
            for v, a in zip(model.weights, initial):
                v.assign(a)
            return model
    model = ctx.build("WRN", {"num_classes": num_classes})
    model(ctx.tensor(np.zeros((1, 32, 32, 3), np.float32)))
    if keep:
        cache.append((key, model, [to_np(v).copy() for v in model.weights]))
    return model


class Tape:
    """What the model receives: a wrapper around the model's `call` (on the instance, for the
    probe's duration) keeps each input. Inside a tf.function the input is symbolic: a stateful
    numpy_function placed in the graph keeps its value each time the graph runs."""

    def __init__(self):
        self.inputs: list[np.ndarray] = []
        self.paused = 0

    def keep(self, value, sink=None):
        tf, _ = _keras()
        sink = self.inputs if sink is None else sink
        if tf.is_tensor(value) and not tf.executing_eagerly() and not hasattr(value, "numpy"):
            def put(a):
                sink.append(np.array(a))
                return np.int32(0)
            tf.numpy_function(put, [value], tf.int32, stateful=True)
        else:
            sink.append(np.array(to_np(value)))

    @contextlib.contextmanager
    def pause(self):
        self.paused += 1
        try:
            yield
        finally:
            self.paused -= 1


@contextlib.contextmanager
def recording(model):
    tape = Tape()
    had = "call" in vars(model)
    original = model.call

    def call(*args, **kwargs):
        if not tape.paused:
            x = args[0] if args else kwargs.get("inputs", next(iter(kwargs.values()), None))
            if x is not None:
                tape.keep(x)
        return original(*args, **kwargs)

    model.call = call
    try:
        yield tape
    finally:
        if had:
            model.call = original
        else:
            try:
                del model.call
            except AttributeError:
                model.call = original


def rows(arrays, shape) -> np.ndarray:
    """The recorded inputs as one stack of images of `shape` (inputs of another shape skipped)."""
    keep = [a.reshape((-1,) + tuple(shape)).astype(np.float32) for a in arrays
            if a.ndim == len(shape) + 1 and tuple(a.shape[1:]) == tuple(shape)]
    return np.concatenate(keep) if keep else np.zeros((0,) + tuple(shape), np.float32)


def update_residual(model, before, after, grads, lr: float) -> tuple[float, float]:
    """(||delta + lr * g||, ||lr * g||): the weights' change against one SGD step down the
    grader's gradient of the contract's loss."""
    res, scale = 0.0, 0.0
    for b, a, g in zip(before, after, grads):
        g = np.zeros(b.shape) if g is None else to_np(g).astype(np.float64)
        d = a.astype(np.float64) - b.astype(np.float64)
        res += float(np.sum((d + lr * g) ** 2))
        scale += float(np.sum((lr * g) ** 2))
    return float(np.sqrt(res)), float(np.sqrt(scale))


def _ce(tf, logits, labels):
    return tf.reduce_logsumexp(logits, axis=-1) - tf.gather(logits, labels, axis=1, batch_dims=1)


# ----------------------------------------------------------------------------- C1, C2

def _tag(cin, cout, down) -> str:
    return f"{cin}_{cout}" + ("_down" if down else "")


def _build_block(ctx, name, cin, cout, down):
    return ctx.build(name, {"in_channels": cin, "out_channels": cout, "downsampling": down})


def convs_that_ran(block, x) -> tuple[object, list[dict]]:
    """The Conv2D layers inside `block` that one call on x runs, in the order they run (found by
    type, not attribute name: lists, Sequential, shared layers all count). The block is called
    once before (it builds its layers then, and Keras traces a layer's `call` while building it)."""
    tf, keras = _keras()
    block(x)
    ran, patched = [], []
    for layer in sublayers(block):
        if isinstance(layer, keras.layers.Conv2D) and "call" not in vars(layer):
            original = layer.call

            def call(*a, _layer=layer, _orig=original, **k):
                ran.append(_layer)
                return _orig(*a, **k)

            layer.call = call
            patched.append(layer)
    try:
        y = block(x)
    finally:
        for layer in patched:
            del layer.call
    out = []
    for layer in ran:
        k = [int(s) for s in layer.kernel.shape]
        out.append({"kernel": k, "strides": [int(s) for s in layer.strides], "bias": bool(layer.use_bias)})
    return y, out


def resblock_layout(ctx, configs, hw: int = 8, batch: int = 2):
    """For each (in, out, downsampling): the Conv2D layers one forward pass runs:
    `skip_<cfg>`: the 1x1 ones as [kh, kw, in, out, stride_h, stride_w, bias];
    `n3x3_<cfg>`: how many 3x3 ones; `strided_<cfg>`: the 3x3 ones with a stride > 1 as
    [kh, kw, in, out, sh, sw] (the second convolution reads out_channels, the first in_channels)."""
    out = {}
    for cin, cout, down in configs:
        block = _build_block(ctx, "ResBlock", cin, cout, down)
        x = ctx.tensor(np.random.default_rng(ctx.seed).normal(size=(batch, hw, hw, cin)).astype(np.float32))
        y, convs = convs_that_ran(block, x)
        t = _tag(cin, cout, down)
        out[f"output_{t}"] = [int(s) for s in to_np(y).shape]
        out[f"skip_{t}"] = [[*c["kernel"], *c["strides"], c["bias"]] for c in convs if c["kernel"][:2] == [1, 1]]
        out[f"n3x3_{t}"] = sum(c["kernel"][:2] == [3, 3] for c in convs)
        out[f"strided_{t}"] = [[*c["kernel"], *c["strides"]] for c in convs
                               if c["kernel"][:2] == [3, 3] and max(c["strides"]) > 1]
    return out


def fill_by_shape(model, seed: int) -> None:
    """Deterministic weights that depend only on each tensor's shape (He-scaled kernels, small
    biases): two tensors of one shape get the same values, so the student's block gets exactly
    the weights the reference's block had in its run, whatever the creation order or names."""
    import zlib
    for v in model.weights:
        shape = tuple(int(d) for d in v.shape)
        rng = np.random.default_rng([seed, zlib.crc32(repr(shape).encode())])
        scale = np.sqrt(2.0 / int(np.prod(shape[:-1]))) if len(shape) >= 2 else 0.1
        v.assign(rng.normal(0.0, scale, shape).astype(np.float32))


def resblock_outputs(ctx, configs, hw: int = 8, batch: int = 2):
    """`out_<cfg>`: the student's block's output on a fixed input under weights that depend
    only on each tensor's shape (fill_by_shape): the reference's block had the same weights in
    the reference's run of this probe, which the judge compares with (`ref.out_<cfg>`). An
    extra, unused layer gets weights too and changes nothing."""
    float32(ctx)
    out = {}
    for cin, cout, down in configs:
        x = ctx.tensor(np.random.default_rng(ctx.seed + 1).uniform(-1, 1, (batch, hw, hw, cin)).astype(np.float32))
        block = _build_block(ctx, "ResBlock", cin, cout, down)
        block(x)
        fill_by_shape(block, ctx.seed + 2)
        out[f"out_{_tag(cin, cout, down)}"] = to_np(block(x)).astype(np.float32)
    return out


def wrn_summary(ctx, num_classes: int = 10, batch: int = 2):
    """The student's WRN built from the reference's ResBlock (the probe stands it in: a block
    that computes something else is charged to C1 only), against the reference's run of this
    probe: the trainable parameters that take part in a forward pass, the output shape, and the
    logits under the reference's seeded weights (paired by the grader: by attribute path or
    creation order, else through the traced computation; None when they cannot be paired)."""
    from grader.probe.context import MissingDefinition
    x = ctx.tensor(np.random.default_rng(ctx.seed).uniform(0, 1, (batch, 32, 32, 3)).astype(np.float32))
    model = student_wrn(ctx, num_classes)
    params = ctx.fw.param_count(model, [x], by="gradient")     # those that take part in the computation
    fill_weights(model, ctx.seed + 5)
    try:
        ctx.reference_weights(model, [x], "name-then-trace")
        logits = to_np(model(x)).astype(np.float32)
    except MissingDefinition:
        logits = None                 # no pairing with the reference's model
    output = logits if logits is not None else to_np(model(x))
    return {"params": params, "output": [int(s) for s in output.shape], "logits": logits}


# ----------------------------------------------------------------------------- C3, C4

def part1_step(ctx, batch: int = 2, lr: float = 0.1, sigma: float = 0.05):
    """One `part1_train_step(SGD(lr), WRN, x, y, sigma)` on the student's own WRN. Measured: the
    returned loss; the input the model received (its difference from x is the noise); the
    grader's logits of that input at the weights before the step; the weights' change against
    SGD down the grader's gradient of mean CE(one_hot(y), logits)."""
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch)
    x = inner(x)
    labels = ctx.labels(y)
    model = student_wrn(ctx)
    before = weights_of(model)
    _seed(ctx, 11)
    with recording(model) as tape:
        out = ctx.call("part1_train_step", keras.optimizers.SGD(lr), model, ctx.tensor(x), ctx.tensor(labels), sigma)
    loss = returned_loss(out, "part1_train_step")
    after = weights_of(model)
    fed = rows(tape.inputs, x.shape[1:])
    m = {"loss": loss, "labels": y.astype(np.int64), "model_calls": len(tape.inputs), "logits": None,
         "input_noise": None, "update_residual": None, "update_scale": None}
    if len(fed) < batch:
        return m
    fed = fed[:batch]
    restore(model, before)
    with tf.GradientTape() as g:
        logits = model(tf.constant(fed), training=False)
        ce = tf.reduce_mean(_ce(tf, tf.cast(logits, tf.float32), tf.constant(y.astype(np.int32))))
    grads = g.gradient(ce, model.trainable_variables)
    res, scale = update_residual(model, before, after, grads, lr)
    m.update(logits=to_np(logits).astype(np.float64), input_noise=(fed.astype(np.float64) - x).reshape(-1),
             update_residual=res, update_scale=scale)
    return m


def accuracy(ctx, sizes=(4, 4, 3), right_share: float = 0.6, margin: float = 1e-3):
    """`evaluate_accuracy` of the student's WRN on batches of unequal size (a tf.data pipeline, as
    the course's notebook passes; a list of numpy batches on the retry). The grader computes the
    logits itself and sets the labels so that about `right_share` of the predictions are right,
    each right one with a clear margin and each wrong label neither of the two top classes."""
    tf, keras = _keras()
    n = sum(sizes)
    x, _ = fixture_images(ctx, n, offset=16)
    model = student_wrn(ctx)
    fill_weights(model, ctx.seed + 5)
    logits = to_np(model(tf.constant(x), training=False)).astype(np.float64)
    order = np.argsort(-logits, axis=1)
    gap = logits[np.arange(n), order[:, 0]] - logits[np.arange(n), order[:, 1]]
    rng = np.random.default_rng(ctx.seed)
    right = np.zeros(n, bool)
    cand = rng.permutation(np.flatnonzero(gap > margin))
    right[cand[: int(round(right_share * n))]] = True
    other = order[np.arange(n), 2 + rng.integers(0, N_CLASSES - 2, n)]
    y = np.where(right, order[:, 0], other).astype(np.int64)
    labels = ctx.labels(y)
    if ctx.alternate:
        data = [(x[k:k + sizes[0]], labels[k:k + sizes[0]]) for k in range(0, n, sizes[0])]
    else:
        data = tf.data.Dataset.from_tensor_slices((x, labels)).batch(sizes[0])
    acc = ctx.call("evaluate_accuracy", model, data)
    return {"accuracy": scalar(acc), "logits": logits, "labels": y}


# ----------------------------------------------------------------------------- C5

def _regularization(layer, xa, xb):
    """Sample 0 of two batches that share it (xa, xb: the other samples differ), in training
    mode and in inference mode: `train`: how much its output changes in training mode (Dropout:
    a new mask each call; BatchNorm: the other samples' statistics); `infer`: how much it changes
    in inference mode (it must not); `scale`: the output's largest magnitude."""
    t1 = to_np(layer(xa, training=True)).astype(np.float64)
    tb = to_np(layer(xb, training=True)).astype(np.float64)
    i1 = to_np(layer(xa, training=False)).astype(np.float64)
    ib = to_np(layer(xb, training=False)).astype(np.float64)
    return {"train": float(np.abs(t1[0] - tb[0]).max()), "infer": float(np.abs(i1[0] - ib[0]).max()),
            "scale": float(np.abs(i1).max()), "shape": [int(s) for s in i1.shape]}


def _pair_batches(ctx, batch, shape, low, high):
    rng = np.random.default_rng(ctx.seed + 21)
    xa = rng.uniform(low, high, (batch,) + tuple(shape)).astype(np.float32)
    xb = xa.copy()
    xb[1:] = rng.uniform(low, high, (batch - 1,) + tuple(shape)).astype(np.float32)
    return ctx.tensor(xa), ctx.tensor(xb)


def regularized_block(ctx, configs, batch: int = 4, hw: int = 8):
    """ResBlockRE for each config: `<measure>_<cfg>` as in _regularization."""
    out = {}
    for cin, cout, down in configs:
        block = _build_block(ctx, "ResBlockRE", cin, cout, down)
        xa, xb = _pair_batches(ctx, batch, (hw, hw, cin), -1.0, 1.0)
        _seed(ctx, 31)
        for k, v in _regularization(block, xa, xb).items():
            out[f"{k}_{_tag(cin, cout, down)}"] = v
    return out


def regularized_wrn(ctx, num_classes: int = 10, batch: int = 2):
    """WRNRE(10): the measurements of _regularization on images."""
    model = ctx.build("WRNRE", {"num_classes": num_classes})
    xa, xb = _pair_batches(ctx, batch, (32, 32, 3), 0.0, 1.0)
    _seed(ctx, 32)
    return _regularization(model, xa, xb)


# ----------------------------------------------------------------------------- C6, C7

def energies(ctx, batch: int = 4):
    """`energy` of the student's WRN with and without labels, and the grader's own logits."""
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch, offset=40)
    model = student_wrn(ctx)
    fill_weights(model, ctx.seed + 5)
    logits = to_np(model(tf.constant(x), training=False)).astype(np.float64)
    e_u = to_np(ctx.call("energy", model, ctx.tensor(x))).astype(np.float64)
    e_c = to_np(ctx.call("energy", model, ctx.tensor(x), ctx.tensor(ctx.labels(y)))).astype(np.float64)
    return {"unconditional": e_u, "conditional": e_c, "logits": logits, "labels": y}


def input_gradients(model, x, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    """The grader's d(sum of energies)/dx, one forward pass: of -logsumexp of the logits, and
    (with labels) of -logit[y]."""
    tf, keras = _keras()
    xt = tf.constant(x)
    with tf.GradientTape(persistent=True) as g:
        g.watch(xt)
        logits = tf.cast(model(xt, training=False), tf.float32)
        e_u = tf.reduce_sum(-tf.reduce_logsumexp(logits, axis=-1))
        e_c = None if labels is None else tf.reduce_sum(
            -tf.gather(logits, tf.constant(np.asarray(labels, np.int32)), axis=1, batch_dims=1))
    grad_u = to_np(g.gradient(e_u, xt)).astype(np.float64)
    grad_c = None if e_c is None else to_np(g.gradient(e_c, xt)).astype(np.float64)
    del g
    return grad_u, grad_c


def sampling_noiseless(ctx, batch: int = 2, step_size: float = 0.25):
    """`sampling_step` with noise_amp 0 on the student's WRN (seeded He weights: input gradients
    of order 0.01-0.3): without labels at the default step size, with labels at `step_size`;
    some pixels sit on 0 and 1 so that the clip matters. Measured: x, the grader's input
    gradients, the outputs."""
    x, y = fixture_images(ctx, batch, offset=60)
    x[:, :4] = 0.0
    x[:, -4:] = 1.0
    model = student_wrn(ctx)
    fill_weights(model, ctx.seed + 5)
    grad_u, grad_c = input_gradients(model, x, y)
    out = {"x": x.astype(np.float64), "grad_u": grad_u, "grad_c": grad_c}
    labels = ctx.tensor(ctx.labels(y))
    out["unconditional"] = to_np(ctx.call("sampling_step", model, ctx.tensor(x), None, 1, 0.0)).astype(np.float64)
    out["conditional"] = to_np(ctx.call("sampling_step", model, ctx.tensor(x), labels, step_size, 0.0)).astype(np.float64)
    return out


def sampling_noise(ctx, noise_amp: float = 0.05, batch: int = 2):
    """Two calls of `sampling_step(WRN, x, y, noise_amp=noise_amp)` from the same x (in [0.3, 0.7],
    the model's own small initial weights: the noise-free step stays inside [0, 1]). Measured: x,
    the grader's input gradient, both outputs."""
    x, y = fixture_images(ctx, batch, offset=80)
    x = inner(x, 0.3, 0.7)
    model = student_wrn(ctx)
    labels = ctx.tensor(ctx.labels(y))
    out = {"x": x.astype(np.float64), "grad": input_gradients(model, x, y)[1]}
    _seed(ctx, 100)
    out["first"] = to_np(ctx.call("sampling_step", model, ctx.tensor(x), labels, 1, noise_amp)).astype(np.float64)
    out["second"] = to_np(ctx.call("sampling_step", model, ctx.tensor(x), labels, 1, noise_amp)).astype(np.float64)
    return out


# ----------------------------------------------------------------------------- C8

def _ids_of(images):
    """Buffer images made by `_tagged` are constant, their value (id + 1) / 64; -1 for any other
    image (a new, random one). Exact: the buffer hands back what it was given."""
    a = to_np(images).astype(np.float64)
    flat = a.reshape(len(a), -1)
    const = np.ptp(flat, axis=1) == 0
    ids = np.where(const, np.round(flat[:, 0] * 64.0).astype(np.int64) - 1, -1)
    return ids, const


def _tagged(ids, shape):
    ids = np.asarray(ids)
    x = np.ones((len(ids),) + tuple(shape), np.float32) * ((ids + 1) / 64.0).astype(np.float32).reshape((-1,) + (1,) * len(shape))
    return x, (ids % N_CLASSES).astype(np.int64)


def _add(ctx, sb, ids, shape) -> None:
    """add_to_buffer with tagged samples as the course's part 2 passes them: the images are a
    sampling step's output (a tensor), the labels a batch of int labels (numpy on the retry)."""
    x, y = _tagged(ids, shape)
    sb.add_to_buffer(ctx.tensor(x), ctx.tensor(ctx.labels(y)))


def _single_draws(sb, draws: int):
    """What the buffer holds, seen through `draws` calls of sample_from_buffer(1, p_new=0)
    (a single draw is the same with or without replacement): ids and labels drawn."""
    ids, labels = [], []
    for _ in range(draws):
        x, y = sb.sample_from_buffer(1, p_new=0.0)
        i, _ = _ids_of(x)
        ids += i.tolist()
        labels += to_np(y).reshape(-1).astype(np.float64).tolist()
    return ids, labels


def _label_errors(ids, labels) -> int:
    """How many drawn labels are not the label added with the drawn image."""
    return int(sum(1 for i, y in zip(ids, labels) if i < 0 or y != i % N_CLASSES))


def buffer_fifo(ctx, shape=(4, 4, 3), cap: int = 5, draws: int = 60):
    """A buffer of `cap`: 3 samples added, then 4 more. `under_cap` / `over_cap`: the ids seen
    after each add (-1: an image that is none of those added); `*_label_errors`: draws whose label
    is not the one added with the image."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    _seed(ctx)
    sb = SB(shape, N_CLASSES, max_samples=cap)
    out = {}
    for key, ids in (("under_cap", range(0, 3)), ("over_cap", range(3, 7))):
        _add(ctx, sb, ids, shape)
        got, labels = _single_draws(sb, draws)
        out[key] = sorted(set(got))
        out[key + "_label_errors"] = _label_errors(got, labels)
    return out


def buffer_cap(ctx, shape=(4, 4, 3), cap: int = 5, add: int = 8, draws: int = 60):
    """One add of `add` samples to an empty buffer of `cap`: the ids seen."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    _seed(ctx, 1)
    sb = SB(shape, N_CLASSES, max_samples=cap)
    _add(ctx, sb, range(10, 10 + add), shape)
    got, labels = _single_draws(sb, draws)
    return {"big_add": sorted(set(got)), "big_add_label_errors": _label_errors(got, labels)}


def buffer_empty(ctx, shape=(4, 4, 3), n: int = 128, bins: int = 10):
    """sample_from_buffer(n) on an empty buffer: the shapes; the image values as counts in
    `bins` equal bins of [0, 1] and the count outside; the labels' counts per class and how
    many are not an integer class."""
    SB = ctx.get("SampleBuffer")
    _seed(ctx, 2)
    x, y = SB(tuple(shape), N_CLASSES, max_samples=50).sample_from_buffer(n, p_new=0.0)
    x, y = to_np(x).astype(np.float64), to_np(y).astype(np.float64)
    flat = x.reshape(-1)
    inside = flat[(flat >= 0) & (flat <= 1)]
    labels = y.reshape(-1)
    valid = labels[(labels == np.round(labels)) & (labels >= 0) & (labels <= N_CLASSES - 1)]
    return {"images_shape": [int(s) for s in x.shape], "n_labels": int(y.size),
            "value_counts": np.histogram(inside, bins=bins, range=(0.0, 1.0))[0].astype(np.int64),
            "outside": int(flat.size - inside.size),
            "label_counts": np.bincount(valid.astype(np.int64), minlength=N_CLASSES)[:N_CLASSES].astype(np.int64),
            "bad_labels": int(labels.size - valid.size)}


def buffer_pnew(ctx, shape=(4, 4, 3), size: int = 40, n: int = 20, calls: int = 60, p_new: float = 0.3):
    """`calls` calls of sample_from_buffer(n, p_new) on a buffer of `size` tagged samples
    (size >= n: a buffer drawing without replacement answers too): per call, how many positions
    are new (a random image, not a buffered constant one); the new labels' counts per class; with
    p_new=0, how many are not buffered."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    _seed(ctx, 7)
    sb = SB(shape, N_CLASSES, max_samples=100)
    _add(ctx, sb, range(size), shape)
    per_call, new_labels = [], []
    for _ in range(calls):
        x, y = sb.sample_from_buffer(n, p_new=p_new)
        ids, const = _ids_of(x)
        y = to_np(y).reshape(-1).astype(np.int64)
        per_call.append(int(np.sum(~const)))
        new_labels += y[~const].tolist()
    x, _ = sb.sample_from_buffer(n, p_new=0.0)
    _, const = _ids_of(x)
    return {"new_per_call": per_call, "not_buffered": int(np.sum(~const)),
            "new_label_counts": [int(np.sum(np.asarray(new_labels) == c)) for c in range(N_CLASSES)]}


def buffer_draws(ctx, shape=(4, 4, 3), size: int = 8, k: int = 6, calls: int = 150):
    """`calls` calls of sample_from_buffer(k, p_new=0) from `size` tagged samples (k <= size):
    per call, how many of positions 1..k-1 repeat position 0's sample (with replacement:
    Binomial(k-1, 1/size); without: none), and how often each sample is drawn."""
    SB = ctx.get("SampleBuffer")
    shape = tuple(shape)
    _seed(ctx, 8)
    sb = SB(shape, N_CLASSES, max_samples=100)
    _add(ctx, sb, range(size), shape)
    repeats, counts = [], np.zeros(size, np.int64)
    for _ in range(calls):
        x, _ = sb.sample_from_buffer(k, p_new=0.0)
        ids, const = _ids_of(x)
        repeats.append(int(np.sum(ids[1:] == ids[0])) if len(ids) and ids[0] >= 0 else 0)
        for i in ids[(ids >= 0) & (ids < size)]:
            counts[i] += 1
    return {"repeats_per_call": repeats, "counts": counts}


# ----------------------------------------------------------------------------- C9

class ControlledBuffer:
    """Stands in for SampleBuffer in C9 (it is the step's argument): fixed samples; records
    what it is asked and given."""

    def __init__(self, images, labels, p_new=0.05, n_class=N_CLASSES):
        self.p_new = p_new
        self.sample_shape = tuple(images.shape[1:])
        self.n_class = n_class
        self.max_samples = 10000
        self.buffer = []
        self._x, self._y = images, labels
        self.sampled, self.added = [], []

    def __len__(self):
        return len(self._x)

    def sample_from_buffer(self, n_samples, p_new=None):
        self.sampled.append((float(n_samples), float(self.p_new if p_new is None else p_new)))
        n = int(n_samples)
        return self._x[:n].copy(), self._y[:n].copy()

    def add_to_buffer(self, samples, labels):
        self.added.append((to_np(samples).astype(np.float32), to_np(labels).reshape(-1).astype(np.float64)))


def _number(v) -> float:
    try:
        return scalar(v)
    except (TypeError, ValueError):
        return float("nan")


def _gap(a, b) -> float:
    """The largest absolute difference of two arrays (inf when they do not have the same size)."""
    if a is None or b is None:
        return float("inf")
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    if a.size != b.size or not a.size:
        return float("inf")
    return float(np.abs(a - b).max())


def part2_step(ctx, batch: int = 2, lr: float = 0.05, sigma: float = 0.05, p_new: float = 0.05, **contract):
    """One `part2_train_step(SGD(lr), WRN, x, y, sb, sigma)` on the student's own WRN with a
    controlled buffer, the reference's `energy`, and the grader's stand-in for `sampling_step`
    (it records each call and moves the image by a fixed +-0.01 per pixel, clipped, without the
    model: what sampling_step computes is C7's; C9 is judged on the images it handed back, and
    costs no SGLD passes). Measured besides: the returned loss; the inputs the model received (the
    real batch: the rows that are none of the sampling calls' images; their difference from x is
    the noise); the grader's logits of the real rows and of x'+ (the last call's output) at the
    weights before the step; the weights' change against SGD down the grader's gradient of
    CE(y, x) + mean E(x) - mean E(x'+). `p_new` is the contract's default, what the controlled
    buffer records when the step passes none; `contract` holds the other constants the judge
    compares with (T, step size, noise amplitude)."""
    tf, keras = _keras()
    x, y = fixture_images(ctx, batch, offset=100)
    x = inner(x)
    rng = np.random.default_rng(ctx.seed + 3)
    bx = rng.uniform(0, 1, (batch,) + x.shape[1:]).astype(np.float32)
    by = rng.integers(0, N_CLASSES, batch).astype(np.int64)
    sb = ControlledBuffer(bx, by, p_new)
    model = student_wrn(ctx)
    fill_weights(model, ctx.seed + 5)          # logits of order 10: E(x) and E(x'+) differ clearly
    before = weights_of(model)
    spec = ctx.plan.get("contract", {}).get("sampling_step", {})
    params = spec.get("params") or ["model", "data", "label", "step_size", "noise_amp"]
    defaults = spec.get("defaults") or {"label": None, "step_size": 1, "noise_amp": 0.01}
    direction = np.where(rng.uniform(size=x.shape[1:]) < 0.5, -1.0, 1.0).astype(np.float32) * 0.01
    calls: list[dict] = []
    tape_box: list = []

    def sampling_step(*args, **kwargs):
        a = {**defaults, **dict(zip(params, args)), **kwargs}
        call = {"model": a.get("model") is model, "label": a.get("label"), "step_size": a.get("step_size"),
                "noise_amp": a.get("noise_amp"), "in": [], "out": []}
        data = tf.cast(tf.convert_to_tensor(a.get("data")), tf.float32)
        result = tf.clip_by_value(data + direction, 0.0, 1.0)
        tape_box[0].keep(data, call["in"])
        tape_box[0].keep(result, call["out"])
        calls.append(call)
        return result

    _seed(ctx, 12)
    with ctx.standing_in({"sampling_step": sampling_step}), recording(model) as tape:
        tape_box.append(tape)
        out = ctx.call("part2_train_step", keras.optimizers.SGD(lr), model, ctx.tensor(x),
                       ctx.tensor(ctx.labels(y)), sb, sigma)
    loss = returned_loss(out, "part2_train_step")
    after = weights_of(model)

    def value(v):
        return None if v is None else to_np(v).astype(np.float64)

    ins = [c["in"][0] if c["in"] else None for c in calls]
    outs = [c["out"][0] if c["out"] else None for c in calls]
    x_plus = None if not outs or outs[-1] is None else outs[-1].reshape((-1,) + x.shape[1:]).astype(np.float32)
    chain = [_gap(ins[0], bx)] + [_gap(ins[k], outs[k - 1]) for k in range(1, len(calls))] if calls else []
    added_x = np.concatenate([a[0] for a in sb.added]) if sb.added else None
    added_y = np.concatenate([a[1] for a in sb.added]) if sb.added else None
    m = {"loss": loss, "labels": y.astype(np.int64), "calls": len(calls), "chain_gap": chain,
         "label_gap": [_gap(value(c["label"]), by) for c in calls],
         "step_sizes": [_number(c["step_size"]) for c in calls],
         "noise_amps": [_number(c["noise_amp"]) for c in calls],
         "same_model": [float(c["model"]) for c in calls],
         "sampled_n": [s[0] for s in sb.sampled], "sampled_p_new": [s[1] for s in sb.sampled],
         "adds": len(sb.added), "added_x_gap": _gap(added_x, x_plus), "added_y_gap": _gap(added_y, by),
         "logits_real": None, "logits_fake": None, "input_noise": None,
         "update_residual": None, "update_scale": None}
    if x_plus is None:
        return m
    # the real batch: the rows the model received that are none of the sampling calls' images
    # (compared exactly: the student passes them on, a cast to float32 and back changes nothing)
    sampling = [r for c in calls for part in (c["in"], c["out"]) for r in rows(part, x.shape[1:])]
    fed = rows(tape.inputs, x.shape[1:])
    real = [r for r in fed if not any(np.array_equal(r, s) for s in sampling)]
    if len(real) < batch:
        return m
    real = np.stack(real[:batch]).astype(np.float32)
    restore(model, before)
    with tf.GradientTape() as g:
        lr_ = tf.cast(model(tf.constant(real), training=False), tf.float32)
        lf_ = tf.cast(model(tf.constant(x_plus), training=False), tf.float32)
        ce = tf.reduce_mean(_ce(tf, lr_, tf.constant(y.astype(np.int32))))
        total = ce + tf.reduce_mean(-tf.reduce_logsumexp(lr_, axis=-1)) \
            - tf.reduce_mean(-tf.reduce_logsumexp(lf_, axis=-1))
    grads = g.gradient(total, model.trainable_variables)
    res, scale = update_residual(model, before, after, grads, lr)
    m.update(logits_real=to_np(lr_).astype(np.float64), logits_fake=to_np(lf_).astype(np.float64),
             input_noise=(real.astype(np.float64) - x).reshape(-1), update_residual=res, update_scale=scale)
    return m
