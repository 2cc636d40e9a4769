"""Keras 3 (TensorFlow backend) adapter (grader/frameworks/base.py declares the interface):
gradients with GradientTape, weight transfer by attribute path (as Keras 3's `.weights.h5`
files match weights).

Keras layers are built lazily, on their first call; the checks that count parameters or
read weights therefore run a forward pass first (`inputs` in their parameters)."""
from __future__ import annotations

import inspect
import os
import random

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from .. import frameworks as common  # noqa: E402

NAME = "keras"


def device() -> str:
    """'/GPU:0' when grading on cuda and TensorFlow sees a GPU, else '/CPU:0'."""
    want = os.environ.get("GRADER_DEVICE", "cpu")
    return "/GPU:0" if want == "cuda" and tf.config.list_physical_devices("GPU") else "/CPU:0"


def seed(n: int) -> None:
    random.seed(n)
    np.random.seed(n)
    keras.utils.set_random_seed(n)


def build(definition, init: dict | None = None):
    """Instantiate a class (or call a factory); the result must be a keras Layer (a Model is one).
    The layer is not built: Keras builds on the first call."""
    if isinstance(definition, keras.layers.Layer):
        return definition
    if not callable(definition):
        raise TypeError(f"{definition!r} is not a class or function")
    with tf.device(device()):
        model = definition(**(init or {}))
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(f"{getattr(definition, '__name__', definition)} did not give a keras Layer or Model")
    return model


def example_input(spec, seed_: int = 0):
    """An input from a spec: a shape list (standard normal floats), or
    {"shape": [...], "dtype": "int", "low": 0, "high": 2} / {"shape": [...], "low": 0.0, "high": 1.0}."""
    if isinstance(spec, list):
        spec = {"shape": spec}
    rng = np.random.default_rng(seed_)
    shape = tuple(spec["shape"])
    if spec.get("dtype", "float") in {"long", "int"}:
        x = rng.integers(spec.get("low", 0), spec.get("high", 2), shape).astype(np.int32)
    elif "low" in spec:
        x = (rng.random(shape) * (spec["high"] - spec["low"]) + spec["low"]).astype(np.float32)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    with tf.device(device()):
        return tf.constant(x)


# ---- sub-layers by attribute path ---------------------------------------------------------------

def image_size(shape) -> tuple[int, int]:
    """(H, W) of an NHWC shape."""
    return int(shape[1]), int(shape[2])


def submodule(model, name: str):
    """`a.b.0.c`: attributes, with integer parts indexing lists (as torch's get_submodule)."""
    obj = model
    for part in name.split("."):
        if isinstance(obj, (list, tuple)) and part.lstrip("-").isdigit():
            try:
                obj = obj[int(part)]
            except IndexError:
                raise AttributeError(f"{type(model).__name__}.{name}: index {part} out of range") from None
            continue
        if not hasattr(obj, part):
            raise AttributeError(f"{type(model).__name__} has no sub-module `{name}`")
        obj = getattr(obj, part)
    return obj


def _call(model, inputs, training=False):
    with tf.device(device()):
        if _accepts_training(model):
            return model(*inputs, training=training)
        return model(*inputs)


def _accepts_training(model) -> bool:
    if isinstance(model, keras.Model):
        return True
    try:
        sig = inspect.signature(model.call)
    except (TypeError, ValueError, AttributeError):
        return False
    return "training" in sig.parameters or any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())


def forward_with_hooks(model, inputs, names=()):
    """Forward pass in inference mode; returns the output and the outputs of the named
    sub-layers (None for one that is missing or never ran). Keras has no hooks: each named
    layer's `call` is wrapped on the instance for the duration of the pass."""
    seen = {n: None for n in names}
    patched = []
    for n in names:
        try:
            layer = submodule(model, n)
        except AttributeError:
            continue
        if not isinstance(layer, keras.layers.Layer):
            continue
        original = layer.call

        def spy(*a, _orig=original, _n=n, **k):
            out = _orig(*a, **k)
            seen[_n] = out
            return out

        layer.call = spy
        patched.append((layer, original))
    try:
        out = _call(model, list(inputs))
    finally:
        for layer, original in patched:
            try:
                del layer.call  # back to the class's method
            except AttributeError:
                layer.call = original
    return out, seen


def shape_of(x):
    if x is None:
        return None
    if isinstance(x, (tf.Tensor, tf.Variable, np.ndarray)) or hasattr(x, "shape") and not isinstance(x, (list, tuple, dict)):
        try:
            return [int(d) if d is not None else None for d in x.shape]
        except TypeError:
            return None
    if isinstance(x, (tuple, list)):
        return [shape_of(v) for v in x]
    return None


# ---- parameters and structure -------------------------------------------------------------------

def _all_layers(module) -> list:
    """The layer and every layer under it, depth first in tracking (creation) order, each once."""
    if hasattr(module, "_flatten_layers"):
        return list(module._flatten_layers(include_self=True, recursive=True))
    return [module]


def param_count(model, trainable: bool = True, types=None) -> int:
    """Parameters of the model, or only those of its layers of the named types. An unbuilt
    layer has no weights yet: an error, not a zero."""
    if isinstance(model, keras.layers.Layer) and not model.built and not model.weights:
        raise ValueError(f"{type(model).__name__} is not built yet (call it on an input first)")
    if isinstance(model, (list, tuple)):
        return sum(param_count(m, trainable, types) for m in model)
    if types:
        ws = [w for l in _all_layers(model) if type(l).__name__ in types for w in l._trainable_variables
              + ([] if trainable else l._non_trainable_variables)]
    else:
        ws = model.trainable_weights if trainable else model.weights
    seen, total = set(), 0
    for w in ws:
        if id(w) not in seen:
            seen.add(id(w))
            total += int(np.prod(w.shape))
    return total


_CONFIG_FIELDS = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "units",
                  "use_bias", "activation", "rate", "axis", "momentum", "epsilon", "size", "interpolation",
                  "pool_size", "alpha", "negative_slope", "target_shape", "kernel_initializer",
                  "num_units", "num_filters", "filter_size")


def _init_config(init):
    try:
        cfg = keras.initializers.serialize(init)
    except Exception:  # noqa: BLE001
        return repr(init)
    if isinstance(cfg, dict):
        return {"class_name": cfg.get("class_name"),
                **{k: v for k, v in (cfg.get("config") or {}).items() if k != "seed"}}
    return cfg


def _config(layer) -> dict:
    cfg = {}
    try:
        full = layer.get_config()
    except Exception:  # noqa: BLE001 - a student's layer whose get_config cannot serialize
        full = {}
    for f in _CONFIG_FIELDS:
        if f in full:
            v = full[f]
        elif hasattr(layer, f) and not callable(getattr(layer, f, None)):
            v = getattr(layer, f)
        else:
            continue
        if f == "kernel_initializer":
            v = _init_config(getattr(layer, "kernel_initializer", None)) if hasattr(layer, "kernel_initializer") else v
            if isinstance(v, dict) and "config" in v:
                v = {"class_name": v.get("class_name"), **{k: x for k, x in v["config"].items() if k != "seed"}}
        if f == "activation" and callable(v):
            v = getattr(v, "__name__", repr(v))
        cfg[f] = plain(v)
    return cfg


def layers(module) -> list[dict]:
    """Leaf layers in creation order, with their hyper-parameters (type, config)."""
    if isinstance(module, (list, tuple)):
        return [l for m in module for l in layers(m)]
    all_ = _all_layers(module)
    leaves = [l for l in all_ if not [c for c in _all_layers(l) if c is not l]] or [module]
    if isinstance(module, keras.Model):
        leaves = [l for l in leaves if not isinstance(l, keras.layers.InputLayer)]
    return [{"type": type(l).__name__, "config": _config(l)} for l in leaves]


def _own(value):
    if isinstance(value, (tf.Tensor, tf.Variable)) or type(value).__name__ == "Variable":
        return np.asarray(value).tolist()
    if isinstance(value, tf.TensorShape):
        return list(value.as_list())
    return None


def plain(value):
    """Answers and configs as JSON-able Python: tensors, shapes and tuples become lists."""
    return common.plain(value, _own)


def to_numpy(x) -> np.ndarray:
    if hasattr(x, "numpy"):
        return np.asarray(x.numpy())
    return np.asarray(x)


# ---- gradients -----------------------------------------------------------------------------------

def output_gradients(model, x, positions):
    """For each (i, j): the gradient of the output at pixel (i, j) of image 0 (summed over
    channels) with respect to the input, as a (len(positions), *x.shape[1:]) array. One
    forward pass, one backward pass per position (persistent tape)."""
    with tf.device(device()):
        xt = tf.Variable(tf.convert_to_tensor(x, dtype=tf.float32))
        grads = []
        with tf.GradientTape(persistent=True) as tape:
            out = _call(model, [xt])
            picks = [tf.reduce_sum(out[0, i, j]) for i, j in positions]
        for s in picks:
            g = tape.gradient(s, xt)
            grads.append(np.zeros(xt.shape[1:], np.float32) if g is None else g.numpy()[0])
        del tape
    return np.stack(grads)


def _spatial_out(out):
    """A model's output as one tensor (B, H, W, ...)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not hasattr(out, "shape") or len(out.shape) < 3:
        raise TypeError(f"the model's output is not an image-shaped tensor ({shape_of(out)})")
    return out


def input_gradients(model, x, positions):
    """Per output position (h, w): a bool mask (H, W) of the input positions whose gradient is
    non-zero (channels at that position reduced through a fixed random projection). x: one
    input (1, H, W, C). Returns (P, H, W) bool, or None where no gradient reaches the input."""
    P = len(positions)
    with tf.device(device()):
        xin = tf.Variable(tf.repeat(tf.cast(tf.convert_to_tensor(x), tf.float32), P, axis=0))
        with tf.GradientTape() as tape:
            try:
                out = _spatial_out(_call(model, [xin]))
            except (TypeError, ValueError, tf.errors.InvalidArgumentError):
                return None
            rest = tuple(int(d) for d in out.shape[3:])
            r = tf.constant(np.random.default_rng(1234).standard_normal(rest).astype(np.float32) + 3.0)
            idx = tf.constant([[k, h, w] for k, (h, w) in enumerate(positions)])
            picked = tf.gather_nd(out, idx)                               # (P, *rest)
            s = tf.reduce_sum(tf.cast(picked, tf.float32) * r)
        g = tape.gradient(s, xin)
    if g is None:
        return None
    g = np.abs(g.numpy())
    return (g.reshape(g.shape[0], g.shape[1], g.shape[2], -1).max(axis=-1) > 0)


def perturbation_dependence(model, x, pixels, positions, chunk=64):
    """Black-box dependence: for each input pixel (h, w) in `pixels`, change it (every channel:
    an integer input by +128 mod 256, a float one by +1) and see which output positions in
    `positions` change. x: one input (1, H, W, C). Returns (K, P) bool."""
    x = np.asarray(to_numpy(x))
    hs = np.array([p[0] for p in positions])
    ws = np.array([p[1] for p in positions])
    found = []
    for s in range(0, len(pixels), chunk):
        part = pixels[s:s + chunk]
        batch = np.repeat(x, len(part) + 1, axis=0)
        for k, (h, w) in enumerate(part, 1):
            if np.issubdtype(batch.dtype, np.integer):
                batch[k, h, w] = (batch[k, h, w] + 128) % 256
            else:
                batch[k, h, w] = batch[k, h, w] + 1.0
        with tf.device(device()):
            out = to_numpy(_spatial_out(_call(model, [tf.constant(batch)]))).astype(np.float64)
        at = out[:, hs, ws]                                             # (B, P, *rest)
        diff = np.abs(at[1:] - at[:1]).reshape(len(part), len(positions), -1).max(axis=-1)
        scale = max(1.0, float(np.abs(at[:1]).max()))
        found.append(diff > 1e-6 * scale)
    return np.concatenate(found)


def predict(model, x, batch_size: int = 32) -> np.ndarray:
    """Inference-mode outputs as numpy, in batches."""
    outs = []
    for k in range(0, len(x), batch_size):
        outs.append(to_numpy(_call(model, [tf.convert_to_tensor(x[k:k + batch_size])])))
    return np.concatenate(outs)


# ---- weights by attribute path -------------------------------------------------------------------

def _walk(obj, path: str, visited: set, found: dict):
    """Every layer's own variables under its attribute path, as Keras 3's `.weights.h5`
    names them (list items are named after their class in snake case, with counters)."""
    from keras.src.saving import saving_lib
    from keras.src.saving.keras_saveable import KerasSaveable

    if id(obj) in visited:
        return
    visited.add(id(obj))
    if isinstance(obj, keras.layers.Layer):
        own = list(obj._trainable_variables) + list(obj._non_trainable_variables)
        if own:
            found[path] = own
    for attr, child in saving_lib._walk_saveable(obj):
        if isinstance(child, keras.optimizers.Optimizer) or not isinstance(child, (KerasSaveable, list, tuple, dict)):
            continue
        sub = f"{path}/{attr}" if path else attr
        if isinstance(child, KerasSaveable):
            _walk(child, sub, visited, found)
        else:
            _walk_container(child, sub, visited, found, set())


def _walk_container(container, path, visited, found, seen_containers):
    from keras.src.saving.keras_saveable import KerasSaveable
    from keras.src.utils import naming

    if id(container) in seen_containers:
        return
    seen_containers.add(id(container))
    used: dict = {}
    items = list(container.values()) if isinstance(container, dict) else list(container)

    def unique(base):
        if base not in used:
            used[base] = 0
            return base
        used[base] += 1
        return f"{base}_{used[base]}"

    for item in items:
        if isinstance(item, KerasSaveable):
            _walk(item, f"{path}/{unique(naming.to_snake_case(type(item).__name__))}", visited, found)
        elif isinstance(item, (list, tuple, dict)):
            _walk_container(item, f"{path}/{unique('container')}", visited, found, seen_containers)


def weights_by_path(model) -> dict[str, list]:
    """attribute path -> the layer's own variables (Keras variables, in creation order)."""
    found: dict = {}
    _walk(model, "", set(), found)
    return found


def weight_arrays(model) -> dict[str, np.ndarray]:
    """'path/vars/k' -> numpy array, the naming of Keras 3's `.weights.h5` files."""
    return {f"{p}/vars/{k}": np.asarray(v.numpy()) for p, vs in weights_by_path(model).items()
            for k, v in enumerate(vs)}


def _flat_vars(model) -> dict:
    return {f"{p}/vars/{k}": v for p, vs in weights_by_path(model).items() for k, v in enumerate(vs)}


def prepare(model, inputs) -> None:
    """Build a Keras layer by calling it once (its weights exist only after the first call),
    then apply a pending randomize_state."""
    if not (isinstance(model, keras.layers.Layer) and model.built and model.weights):
        _call(model, list(inputs))
    pending = getattr(model, "_grader_randomize", None)
    if pending is not None:
        _randomize_now(model, pending)
        model._grader_randomize = None


def randomize_state(model, seed_: int = 0) -> None:
    """Seeded non-trivial values for normalisation layers (gamma, beta, moving statistics).
    On an unbuilt layer it is applied when the layer is built (prepare / transfer_weights)."""
    if isinstance(model, keras.layers.Layer) and not model.weights:
        model._grader_randomize = seed_
        return
    _randomize_now(model, seed_)


def _randomize_now(model, seed_):
    rng = np.random.default_rng(seed_)
    for name, v in _flat_vars(model).items():
        leaf = v.path.rsplit("/", 1)[-1] if hasattr(v, "path") else name
        if leaf in {"gamma", "moving_variance"}:
            v.assign((rng.random(tuple(v.shape)) + 0.5).astype(np.float32))
        elif leaf in {"beta", "moving_mean"}:
            v.assign((0.2 * rng.standard_normal(tuple(v.shape))).astype(np.float32))


def transfer_weights(src, dst) -> dict[str, str]:
    """Copy every variable of `src` into `dst`: by attribute path (as Keras 3's `.weights.h5`
    files match them) where both have the path with the same shape, the rest in creation
    order with matching shapes. Both must be built (see prepare). Returns {src name: dst
    name}; raises ValueError when the two cannot be paired."""
    if getattr(src, "_grader_randomize", None) is not None:
        _randomize_now(src, src._grader_randomize)
        src._grader_randomize = None
    s, d = _flat_vars(src), _flat_vars(dst)
    if not s:
        raise ValueError(f"{type(src).__name__} has no weights yet (not built)")
    mapping = {n: n for n in s if n in d and tuple(d[n].shape) == tuple(s[n].shape)}
    rest_s = [n for n in s if n not in mapping]
    rest_d = [n for n in d if n not in mapping.values()]
    if len(rest_s) != len(rest_d):
        raise ValueError(f"cannot pair the weights: {len(s)} tensors expected, the model has {len(d)}"
                         + (f" (unpaired: {', '.join((rest_d or rest_s)[:3])})" if rest_d or rest_s else ""))
    for a, b in zip(rest_s, rest_d):
        if tuple(s[a].shape) != tuple(d[b].shape):
            raise ValueError(f"cannot pair the weights: `{b}` has shape {tuple(d[b].shape)}, "
                             f"expected {tuple(s[a].shape)} (like `{a}`)")
        mapping[a] = b
    for a, b in mapping.items():
        d[b].assign(s[a].numpy())
    return mapping


def permute_input_channels(model, name: str, splits: list[int], order: list[int]) -> None:
    """Reorder blocks of a kernel's input channels in place (Conv kernels: axis -2; Dense: 0)."""
    v = _flat_vars(model)[name]
    t = v.numpy()
    axis = 0 if t.ndim == 2 else t.ndim - 2
    if sum(splits) != t.shape[axis]:
        raise ValueError(f"`{name}` has {t.shape[axis]} input channels, not {sum(splits)}")
    blocks = np.split(t, np.cumsum(splits)[:-1], axis=axis)
    v.assign(np.concatenate([blocks[i] for i in order], axis=axis))


def set_weights(model, values: dict) -> None:
    """Assign arrays by 'path/vars/k' name (see weight_arrays); unknown names are an error."""
    b = {f"{p}/vars/{k}": v for p, vs in weights_by_path(model).items() for k, v in enumerate(vs)}
    for k, arr in values.items():
        if k not in b:
            raise KeyError(f"no weight {k}")
        b[k].assign(np.asarray(arr, dtype=b[k].dtype))


def fill_weights(model, seed_: int = 0, scale: float = 0.1) -> None:
    """Deterministic weights that depend only on each variable's attribute path and shape, so
    two models with the same paths get the same weights whatever order they were built in."""
    import zlib
    for name, v in {f"{p}/vars/{k}": v for p, vs in weights_by_path(model).items() for k, v in enumerate(vs)}.items():
        rng = np.random.default_rng([seed_, zlib.crc32(name.encode())])
        v.assign((rng.standard_normal(tuple(v.shape)) * scale).astype(np.float32))


def load_weights(model, path) -> None:
    model.load_weights(str(path))


def optimizer_config(opt) -> dict:
    """The optimizer's class name and its configuration, as plain data."""
    if not isinstance(opt, keras.optimizers.Optimizer):
        raise TypeError(f"expected a keras optimizer, got {type(opt).__name__}")
    cfg = opt.get_config()
    lr = cfg.get("learning_rate")
    if not isinstance(lr, (int, float)):
        try:
            cfg["learning_rate"] = float(np.asarray(opt.learning_rate))
        except Exception:  # noqa: BLE001
            cfg["learning_rate"] = repr(lr)
    return {"class_name": type(opt).__name__, **plain(cfg)}
