"""PyTorch adapter (grader/frameworks/base.py declares the interface)."""
from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch import nn

from .. import frameworks as common

NAME = "torch"


def device() -> torch.device:
    want = os.environ.get("GRADER_DEVICE", "cpu")
    return torch.device("cuda" if want == "cuda" and torch.cuda.is_available() else "cpu")


def seed(n: int) -> None:
    random.seed(n)
    np.random.seed(n)
    torch.manual_seed(n)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(n)


def build(definition, init: dict | None = None):
    """Instantiate a class (or call a factory) and put the model on the grading device."""
    if isinstance(definition, nn.Module):
        model = definition
    elif callable(definition):
        model = definition(**(init or {}))
    else:
        raise TypeError(f"{definition!r} is not a class or function")
    if not isinstance(model, nn.Module):
        raise TypeError(f"{getattr(definition, '__name__', definition)} did not give a torch.nn.Module")
    return model.to(device())


def example_input(spec, seed_: int = 0):
    """An input from a spec: a shape list (standard normal floats), or
    {"shape": [...], "dtype": "long", "low": 0, "high": 256}."""
    if isinstance(spec, list):
        spec = {"shape": spec}
    g = torch.Generator().manual_seed(seed_)
    shape = tuple(spec["shape"])
    if spec.get("dtype", "float") in {"long", "int"}:
        x = torch.randint(spec.get("low", 0), spec.get("high", 2), shape, generator=g)
    elif "low" in spec:
        x = torch.rand(shape, generator=g) * (spec["high"] - spec["low"]) + spec["low"]
    else:
        x = torch.randn(shape, generator=g)
    return x.to(device())


def image_size(shape) -> tuple[int, int]:
    """(H, W) of an NCHW shape."""
    return int(shape[-2]), int(shape[-1])


def prepare(model, inputs) -> None:
    """Lazy modules (nn.LazyLinear, ...) get their weights on the first call."""
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        model.eval()
        with torch.no_grad():
            model(*inputs)


def predict(model, x, batch_size: int = 32) -> np.ndarray:
    """Inference-mode outputs of a numpy batch, as numpy, in batches."""
    model.eval()
    outs = []
    with torch.no_grad():
        for k in range(0, len(x), batch_size):
            outs.append(to_numpy(model(torch.as_tensor(x[k:k + batch_size]).to(device()))))
    return np.concatenate(outs)


def submodule(model, name: str):
    try:
        return model.get_submodule(name)
    except AttributeError:
        raise AttributeError(f"{type(model).__name__} has no sub-module `{name}`") from None


def forward_with_hooks(model, inputs, names=()):
    """Forward pass in eval mode; returns the output and the outputs of the named
    sub-modules (None for a sub-module that is missing or never ran)."""
    seen, handles = {n: None for n in names}, []
    for n in names:
        try:
            mod = model.get_submodule(n)
        except AttributeError:
            continue
        handles.append(mod.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o)))
    model.eval()
    try:
        with torch.no_grad():
            out = model(*inputs)
    finally:
        for h in handles:
            h.remove()
    return out, seen


def shape_of(x):
    if x is None:
        return None
    if isinstance(x, torch.Tensor):
        return list(x.shape)
    if isinstance(x, (tuple, list)):
        return [shape_of(v) for v in x]
    if isinstance(x, np.ndarray):
        return list(x.shape)
    return None


def param_count(model, trainable: bool = True, types=None) -> int:
    """Parameters of the model, or only those of its modules of the named types."""
    if types:
        params = [p for m in model.modules() if type(m).__name__ in types for p in m.parameters(recurse=False)]
    else:
        params = list(model.parameters())
    return int(sum(p.numel() for p in params if p.requires_grad or not trainable))


_CONFIG_FIELDS = ("in_features", "out_features", "in_channels", "out_channels", "kernel_size", "stride",
                  "padding", "output_padding", "dilation", "groups", "num_features", "scale_factor", "mode",
                  "negative_slope", "p", "inplace")


def layers(module) -> list[dict]:
    """Leaf modules in registration order, with their hyper-parameters."""
    out = []
    leaves = [m for m in module.modules() if not list(m.children())] or [module]
    for m in leaves:
        cfg = {}
        for f in _CONFIG_FIELDS:
            if hasattr(m, f):
                cfg[f] = plain(getattr(m, f))
        if hasattr(m, "bias") and isinstance(getattr(m, "bias", None), (torch.Tensor, type(None))):
            cfg["bias"] = m.bias is not None
        out.append({"type": type(m).__name__, "config": cfg})
    return out


def _own(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, torch.Size):
        return list(value)
    return None


def plain(value):
    """Answers and configs as JSON-able Python: tensors, sizes and tuples become lists."""
    return common.plain(value, _own)


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def randomize_state(model, seed_: int = 0) -> None:
    """Seeded non-trivial values for normalisation layers (affine weights and running
    statistics), so that outputs under transferred weights depend on every tensor."""
    g = torch.Generator().manual_seed(seed_)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            leaf = name.rsplit(".", 1)[-1]
            if leaf in {"running_var"} or (leaf == "weight" and t.dim() == 1):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif leaf == "running_mean" or (leaf == "bias" and t.dim() == 1):
                t.copy_(0.2 * torch.randn(t.shape, generator=g))


def transfer_weights(src, dst) -> dict[str, str]:
    """Copy every parameter and buffer of `src` into `dst`: by name where both have the
    name with the same shape, the rest in creation (registration) order, shapes matching.
    Returns {src name: dst name}; raises ValueError when the two cannot be paired."""
    s, d = src.state_dict(), dst.state_dict()
    skip = lambda n: n.endswith("num_batches_tracked")  # noqa: E731
    mapping = {n: n for n in s if not skip(n) and n in d and d[n].shape == s[n].shape}
    rest_s = [n for n in s if not skip(n) and n not in mapping]
    rest_d = [n for n in d if not skip(n) and n not in mapping.values()]
    if len(rest_s) != len(rest_d):
        raise ValueError(f"cannot pair the weights: {len(s)} tensors expected, the model has {len(d)}"
                         + (f" (unpaired: {', '.join(rest_d[:3] or rest_s[:3])})" if rest_d or rest_s else ""))
    for a, b in zip(rest_s, rest_d):
        if s[a].shape != d[b].shape:
            raise ValueError(f"cannot pair the weights: `{b}` has shape {tuple(d[b].shape)}, "
                             f"expected {tuple(s[a].shape)} (like `{a}`)")
        mapping[a] = b
    with torch.no_grad():
        for a, b in mapping.items():
            d[b].copy_(s[a])
    return mapping


def permute_input_channels(model, name: str, splits: list[int], order: list[int]) -> None:
    """Reorder blocks of a convolution weight's input channels in place (for inputs that are
    concatenations: `splits` the block sizes, `order` the new block order)."""
    t = model.state_dict()[name]
    axis = 0 if name.rsplit(".", 1)[0] and isinstance(model.get_submodule(name.rsplit(".", 1)[0]),
                                                      nn.modules.conv._ConvTransposeNd) else 1
    if sum(splits) != t.shape[axis]:
        raise ValueError(f"`{name}` has {t.shape[axis]} input channels, not {sum(splits)}")
    blocks = torch.split(t.clone(), splits, dim=axis)
    with torch.no_grad():
        t.copy_(torch.cat([blocks[i] for i in order], dim=axis))


def weight_arrays(model) -> dict[str, np.ndarray]:
    """Every parameter and buffer by its state_dict name, as numpy."""
    return {k: to_numpy(v) for k, v in model.state_dict().items()}


def set_weights(model, values: dict) -> None:
    """Assign by state_dict name; an unknown name is an error."""
    state = model.state_dict()
    with torch.no_grad():
        for k, arr in values.items():
            if k not in state:
                raise KeyError(f"no weight {k}")
            state[k].copy_(torch.as_tensor(np.asarray(arr), dtype=state[k].dtype))


def fill_weights(model, seed_: int = 0, scale: float = 0.1) -> None:
    """Deterministic floating-point weights that depend only on each name and shape."""
    import zlib
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                rng = np.random.default_rng([seed_, zlib.crc32(name.encode())])
                t.copy_(torch.as_tensor(rng.standard_normal(tuple(t.shape)) * scale, dtype=t.dtype))


def load_weights(model, path) -> None:
    """A state_dict saved with torch.save."""
    model.load_state_dict(torch.load(path, map_location=device()))


def optimizer_config(opt) -> dict:
    """The optimizer's class name and its defaults (learning rate, betas, ...), as plain data."""
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"expected a torch optimizer, got {type(opt).__name__}")
    return {"class_name": type(opt).__name__, **plain(dict(opt.defaults))}


def output_gradients(model, x, positions) -> np.ndarray:
    """For each (i, j): the gradient of the output at pixel (i, j) of image 0 (summed over
    channels) with respect to the input, (len(positions), *x.shape[1:])."""
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32).to(device()).requires_grad_(True)
    out = _spatial_out(model(xt))
    grads = []
    for i, j in positions:
        (g,) = torch.autograd.grad(out[0, ..., i, j].sum(), xt, retain_graph=True, allow_unused=True)
        grads.append(np.zeros(tuple(xt.shape[1:]), np.float32) if g is None else to_numpy(g[0]))
    return np.stack(grads)


def _spatial_out(out):
    """A model's output as one tensor whose last two dims are the image's (H, W)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.dim() < 3:
        raise TypeError(f"the model's output is not an image-shaped tensor ({shape_of(out)})")
    return out


def input_gradients(model, x, positions):
    """Per output position (h, w): a bool mask (H, W) of the input positions whose gradient
    is non-zero (the output's last two dims are spatial; everything else at that position is
    reduced through a fixed random projection). x: one input (1, C, H, W); a long input is
    fed as floats holding the same values. Returns (P, H, W) bool, or None where the model
    does not let a gradient reach its input (e.g. it casts to long or embeds)."""
    model.eval()
    x = x.to(device())
    P = len(positions)
    xin = x.detach().float().repeat(P, *[1] * (x.dim() - 1)).requires_grad_(True)
    try:
        out = _spatial_out(model(xin))
    except (RuntimeError, TypeError, IndexError):
        return None
    if out.shape[0] != P or not out.requires_grad:
        return None
    g = torch.Generator().manual_seed(1234)
    r = torch.randn(out.shape[1:-2], generator=g).to(out.device) + 3.0
    hs = torch.tensor([p[0] for p in positions], device=out.device)
    ws = torch.tensor([p[1] for p in positions], device=out.device)
    picked = out[torch.arange(P, device=out.device), ..., hs, ws]   # (P, *rest)
    (picked.float() * r).sum().backward()
    if xin.grad is None:
        return None
    grad = xin.grad.detach().abs().flatten(1, -3).amax(dim=1) if xin.grad.dim() > 3 else xin.grad.detach().abs()
    return (grad > 0).cpu().numpy()


def perturbation_dependence(model, x, pixels, positions, chunk=64):
    """Black-box dependence: for each input pixel (h, w) in `pixels`, change it (every
    channel: a long input by +128 mod 256, a float one by +1) and see which output
    positions in `positions` change. x: one input (1, C, H, W). Returns (K, P) bool."""
    model.eval()
    x = x.to(device())
    K = len(pixels)
    hs = torch.tensor([p[0] for p in positions], device=x.device)
    ws = torch.tensor([p[1] for p in positions], device=x.device)
    found = []
    with torch.no_grad():
        for s in range(0, K, chunk):
            part = pixels[s:s + chunk]
            batch = x.repeat(len(part) + 1, *[1] * (x.dim() - 1))
            for k, (h, w) in enumerate(part, 1):
                if x.dtype in (torch.long, torch.int, torch.int32, torch.int16, torch.uint8):
                    batch[k, ..., h, w] = (batch[k, ..., h, w] + 128) % 256
                else:
                    batch[k, ..., h, w] = batch[k, ..., h, w] + 1.0
            out = _spatial_out(model(batch)).float()
            at = out[..., hs, ws]                                   # (B, *rest, P)
            diff = (at[1:] - at[:1]).abs().flatten(1, -2).amax(dim=1)   # (k, P)
            scale = at[:1].abs().max().clamp_min(1.0)
            found.append((diff > 1e-6 * scale).cpu())
    return torch.cat(found).numpy()
