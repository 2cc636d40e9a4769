"""Grading helpers for pixelcnn-calligraphy, run inside the student's kernel (Keras 3).

Each helper returns named values that the `matches` check compares with the reference's
under the same helper. Data paths are passed explicitly (the kernel's cwd is the
submission's folder). Where a helper needs a part that another item grades (the data set,
the backbone), it uses the reference's, so one bug costs once; the probes' `swap`
parameter makes the student's code see the reference's classes."""
from __future__ import annotations

import os

import numpy as np

SIZE = 32


def _dirs(ctx):
    return str(ctx.data_dir / "pa2" / "train"), str(ctx.data_dir / "pa2" / "test")


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


# ---- C1, C2: the data set ---------------------------------------------------------------------

def dataset_len(ctx, batch_sizes=(32, 50, 7)):
    import keras
    train_dir, _ = _dirs(ctx)
    Dataset = ctx.get("CalligraphyDataset")
    out = {}
    for bs in batch_sizes:
        ds = Dataset(train_dir, batch_size=bs, shuffle=False)
        out[f"len_{bs}"] = int(len(ds))
        out[f"batch_size_{bs}"] = int(ds.batch_size) if isinstance(ds.batch_size, (int, np.integer)) else repr(ds.batch_size)
    out["data_dir"] = os.path.normpath(str(ds.data_dir)) == os.path.normpath(train_dir)
    out["is_sequence"] = isinstance(ds, keras.utils.Sequence)
    return out


def dataset_items(ctx, batch_size=16):
    """Every batch of the test folder: shapes, dtypes, values, x == y, and the images."""
    _, test_dir = _dirs(ctx)
    ds = ctx.get("CalligraphyDataset")(test_dir, batch_size=batch_size, shuffle=False)
    shapes, floats, binary, equal, images = [], True, True, True, []
    for k in range(len(ds)):
        item = ds[k]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(f"__getitem__ returned {type(item).__name__}, expected a pair (x, y)")
        x, y = item
        floats &= all(str(getattr(getattr(t, "dtype", None), "name", getattr(t, "dtype", ""))).startswith("float")
                      for t in (x, y))
        x, y = _np(x).astype(np.float32), _np(y).astype(np.float32)
        shapes.append([list(x.shape), list(y.shape)])
        binary &= bool(np.isin(x, [0.0, 1.0]).all() and np.isin(y, [0.0, 1.0]).all())
        equal &= x.shape == y.shape and bool(np.array_equal(x, y))
        images.append(x.reshape(len(x), -1) if x.ndim >= 2 and x.size == len(x) * SIZE * SIZE else x.reshape(1, -1)[:, :0])
    imgs = np.concatenate(images) if images and all(i.shape[1] == SIZE * SIZE for i in images) else np.zeros((0, 1))
    return {"shapes": shapes, "float": floats, "binary": binary, "y_equals_x": equal,
            "images": imgs.astype(np.float32), "paper": float(imgs.mean()) if imgs.size else -1.0}


# ---- C3, C4: moved convolutions ---------------------------------------------------------------

def conv_pattern(ctx, target, filter_sizes, shape=(1, 7, 9, 2), positions=((0, 0), (3, 4), (6, 8), (6, 0))):
    """Output shapes and, per output position, which input pixels it depends on (input
    gradients of the default-initialised layer), for each filter size."""
    Layer = ctx.get(target)
    out = {"filter_size_int": ctx.fw.plain(Layer(3, filter_size=3).filter_size)}
    for fs in filter_sizes:
        ctx.fw.seed(ctx.seed)
        layer = ctx.fw.build(Layer, {"num_filters": 3, "filter_size": list(fs)})
        x = ctx.fw.example_input(list(shape), ctx.seed)
        y, _ = ctx.fw.forward_with_hooks(layer, [x])
        key = "x".join(map(str, fs))
        out[f"shape_{key}"] = ctx.fw.shape_of(y)
        g = ctx.fw.output_gradients(layer, ctx.fw.to_numpy(x), list(positions))
        out[f"depends_{key}"] = (np.abs(g).sum(-1) > 0).astype(np.uint8)
    return out


# ---- C6: the gated residual block ------------------------------------------------------------

def gated_parts(ctx, num_filters=4):
    """With every weight zero the block is the identity (residual); with zero kernels and a
    bias (a, b) on nnLayer_2's two halves it adds a * sigmoid(b) (gate); the nonlinearity."""
    Block = ctx.get("GatedResnet")
    ctx.fw.seed(ctx.seed)
    block = ctx.fw.build(Block, {"num_filters": num_filters})
    x = ctx.fw.example_input([2, 5, 6, num_filters], ctx.seed)
    ctx.fw.prepare(block, [x])
    weights = ctx.fw.weight_arrays(block)
    ctx.fw.set_weights(block, {k: np.zeros_like(v) for k, v in weights.items()})
    residual, _ = ctx.fw.forward_with_hooks(block, [x])
    bias = next((k for k, v in weights.items() if k.startswith("nnLayer_2/") and v.ndim == 1), None)
    if bias is None:
        raise AttributeError("nnLayer_2 has no bias")
    c = weights[bias].shape[0] // 2
    ctx.fw.set_weights(block, {bias: np.concatenate([np.full(c, 0.7), np.full(weights[bias].shape[0] - c, -0.4)])})
    gate, _ = ctx.fw.forward_with_hooks(block, [x])
    sample = ctx.fw.to_numpy(ctx.fw.example_input([1, 2, 2, 3], ctx.seed + 1))
    return {"residual": ctx.fw.to_numpy(residual), "gate": ctx.fw.to_numpy(gate),
            "nonlinearity": ctx.fw.to_numpy(block.nonlinearity(sample))}


# ---- C7: the whole backbone ------------------------------------------------------------------

POSITIONS = [(0, 0), (0, 1), (0, 5), (1, 0), (5, 7), (10, 31), (16, 16), (20, 1), (31, 0), (31, 31)]


def causality(ctx, n_filters=8, n_resnet=1, n_block=2, n_output=3):
    """Strict raster causality: for each position, no input at or after it (raster order)
    may influence the output there: input gradients, confirmed by perturbing every such pixel."""
    ctx.fw.seed(ctx.seed)
    model = ctx.fw.build(ctx.get("AutoregressiveModel"), dict(n_filters=n_filters, n_resnet=n_resnet,
                                                            n_block=n_block, n_output=n_output))
    rng = np.random.default_rng(ctx.seed)
    x = (rng.random((1, SIZE, SIZE, 1)) < 0.5).astype(np.float32)
    out, _ = ctx.fw.forward_with_hooks(model, [x])
    if ctx.fw.shape_of(out)[:3] != [1, SIZE, SIZE]:
        raise ValueError(f"AutoregressiveModel gives shape {ctx.fw.shape_of(out)} for (1, 32, 32, 1)")
    grads = np.abs(ctx.fw.output_gradients(model, x, POSITIONS)).sum(-1).reshape(len(POSITIONS), -1)
    future_grad, past_free = [], []
    batch = np.repeat(x, len(POSITIONS), axis=0)
    for n, (i, j) in enumerate(POSITIONS):
        k = i * SIZE + j
        if grads[n, k:].max() > 0:
            future_grad.append([i, j])
        if k and grads[n, :k].max() == 0:
            past_free.append([i, j])
        flat = batch[n].reshape(-1)
        flat[k:] = rng.random(flat.size - k) * 4 - 2       # every pixel at or after (i, j) changed
        batch[n] = flat.reshape(SIZE, SIZE, 1)
    base = ctx.fw.to_numpy(out)[0]
    moved = ctx.fw.to_numpy(ctx.fw.forward_with_hooks(model, [batch])[0])
    future_value = [[i, j] for n, (i, j) in enumerate(POSITIONS)
                    if np.abs(moved[n, i, j] - base[i, j]).max() > 1e-5 * max(1.0, np.abs(base).max())]
    return {"leaks_by_gradient": future_grad, "leaks_by_perturbation": future_value,
            "blind_to_the_past": past_free}


# ---- C8-C11: helpers on small models ------------------------------------------------------------

def test_images(ctx, n=16):
    """The first n images of the fixture's test folder through the reference's data set."""
    _, test_dir = _dirs(ctx)
    x, y = ctx.ref("CalligraphyDataset")(test_dir, batch_size=n)[0]
    return _np(x), _np(y)


def small_model(ctx, n_filters=16, n_resnet=1, n_block=1, n_output=4, scale=None):
    """The handout's full model around a small backbone, built from the reference's classes."""
    import keras
    ctx.fw.seed(ctx.seed)
    inputs = keras.Input(shape=(SIZE, SIZE, 1))
    x = ctx.ref("AutoregressiveModel")(n_filters, n_resnet, n_block, n_output)(inputs)
    x = keras.layers.Conv2D(1, 1)(x)
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(x))
    if scale is not None:
        ctx.fw.fill_weights(model, ctx.seed, scale)
    return model


def _raster_model():
    """p(i, j) = 1 - previous pixel in raster order, except at the start of a row (i > 0),
    where p = the previous pixel (the end of the row above). Probabilities are 0 or 1, so
    the images are fixed; generating in any other order, or all at once, gives others."""
    import keras
    from keras import ops
    row_start = np.zeros((1, SIZE * SIZE), np.float32)
    row_start[0, SIZE::SIZE] = 1.0

    def f(x):
        flat = ops.reshape(x, (-1, SIZE * SIZE))
        prev = ops.concatenate([ops.zeros_like(flat[:, :1]), flat[:, :-1]], axis=1)
        p = row_start * prev + (1.0 - row_start) * (1.0 - prev)
        return ops.reshape(p, (-1, SIZE, SIZE, 1))

    inputs = keras.Input(shape=(SIZE, SIZE, 1))
    return keras.Model(inputs, keras.layers.Lambda(f, output_shape=(SIZE, SIZE, 1))(inputs))


def _constant_model(p):
    import keras
    from keras import ops
    inputs = keras.Input(shape=(SIZE, SIZE, 1))
    out = keras.layers.Lambda(lambda x: ops.zeros_like(x) + p, output_shape=(SIZE, SIZE, 1))(inputs)
    return keras.Model(inputs, out)


def generation(ctx, p=0.3, n_images=3):
    gen = ctx.get("generate_images")
    a = np.asarray(gen(_raster_model(), n_images=2, seed=0))
    b = np.asarray(gen(_constant_model(p), n_images=n_images, seed=1))
    c = np.asarray(gen(_constant_model(p), n_images=n_images, seed=1))
    shape_ok = list(a.shape) == [2, SIZE, SIZE, 1] and list(b.shape) == [n_images, SIZE, SIZE, 1]
    binary = bool(np.isin(a, [0, 1]).all() and np.isin(b, [0, 1]).all())
    return {"shapes": [list(a.shape), list(b.shape)], "binary": binary,
            "raster": a.astype(np.float32) if shape_ok else np.zeros((0,), np.float32),
            "share_of_ones": float(b.mean()), "same_seed_same_images": bool(np.array_equal(b, c))}


def bce(ctx):
    """The student's evaluate_bce on a fixed small model and the reference's test data set."""
    _, test_dir = _dirs(ctx)
    model = small_model(ctx, scale=0.3)
    ds = ctx.ref("CalligraphyDataset")(test_dir, batch_size=32)
    value = ctx.get("evaluate_bce")(model, ds)
    return {"bce": float(np.asarray(value))}


def optimizer(ctx):
    return ctx.fw.optimizer_config(ctx.get("make_optimizer")())


def short_training(ctx, epochs=3):
    """The student's train() on a small model and the reference's 80:20 split of the fixture."""
    train_dir, _ = _dirs(ctx)
    Dataset = ctx.ref("CalligraphyDataset")
    model = small_model(ctx)
    model.compile(optimizer=ctx.ref("make_optimizer")(), loss="binary_crossentropy")
    history = ctx.get("train")(model, Dataset(train_dir, batch_size=32, shuffle=True, subset="train"),
                               Dataset(train_dir, batch_size=32, subset="val"), epochs)
    hist = getattr(history, "history", None)
    if not isinstance(hist, dict) or "val_loss" not in hist:
        raise TypeError("train() must return the History of fit() with validation data (val_loss)")
    return {"val_loss": [float(v) for v in hist["val_loss"]], "epochs": len(hist["val_loss"])}
