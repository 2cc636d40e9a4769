"""PyTorch adapter."""
from __future__ import annotations

import inspect
import os
import random

import numpy as np
import torch
from torch import nn

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


def plain(value):
    """Answers and configs as JSON-able Python: tensors, sizes and tuples become lists."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list, torch.Size)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)


def to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
