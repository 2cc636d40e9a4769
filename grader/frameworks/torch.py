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
    return checked(out, "the model's output"), seen


def shape_of(x):
    """The shape of a plain tensor or array (nested in tuples); None for None."""
    if x is None:
        return None
    checked(x)
    if isinstance(x, (tuple, list)):
        return [shape_of(v) for v in x]
    return list(x.shape)


PLAIN = (torch.Tensor, nn.Parameter)


def checked(x, what: str = "the value"):
    """`x` itself when it is exactly a torch tensor, a numpy array or a number (or a list or
    tuple of them) and no torch function or dispatch mode is active; else NotPlain."""
    if torch._C._len_torch_function_stack() or torch._C._len_torch_dispatch_stack():
        raise common.NotPlain("a torch function or dispatch mode is active (it would see every measurement)")
    common.check_plain(x, PLAIN, what)
    return x


def looks_plain(x) -> bool:
    return common.looks_plain(x, PLAIN)


def param_count(model, inputs, types=None, scope=None, trainable: bool = True, by: str = "trace") -> int:
    """The parameters that take part in one traced forward pass on `inputs` (each once): all,
    those of the ops of kinds `types` (grader.graph names), or those used inside `scope`.
    `by="gradient"`: the trainable ones the outputs' gradient reaches in one forward and
    backward pass (cheaper than a trace; no types or scope)."""
    if by == "gradient":
        params = list({id(p): p for p in model.parameters() if p.requires_grad}.values())
        out = checked(model(*inputs), "the model's output")
        total = sum(o.float().sum() for o in (out if isinstance(out, (tuple, list)) else [out]))
        grads = torch.autograd.grad(total, params, allow_unused=True) if params else []
        return int(sum(p.numel() for p, g in zip(params, grads) if g is not None))
    from .. import graph
    return graph.param_count(trace(model, inputs), scope, types, trainable)


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
    if type(value) in PLAIN:
        return value.detach().cpu().tolist()
    if isinstance(value, torch.Size):
        return list(value)
    return None


def plain(value):
    """Answers and configs as JSON-able Python: tensors, sizes and tuples become lists."""
    return common.plain(value, _own)


# the C-level methods (torch._C.TensorBase is immutable): a method a cell put on torch.Tensor
# does not change what a tensor's values read as
_DETACH, _CPU, _NUMPY = torch._C.TensorBase.detach, torch._C.TensorBase.cpu, torch._C.TensorBase.numpy


def to_numpy(x) -> np.ndarray:
    """A plain value (checked) as numpy."""
    checked(x)
    if isinstance(x, torch.Tensor):
        return _NUMPY(_CPU(_DETACH(x)))
    if isinstance(x, (list, tuple)):
        return np.asarray([to_numpy(v) for v in x])
    return np.asarray(x)


def as_tensor(x):
    """A tensor on the grading device (numpy, lists and tensors alike)."""
    return torch.as_tensor(x).to(device())


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
    name with the same shape, the rest in creation (registration) order, shapes matching
    (grader.graph.pair_by_name). Returns {src name: dst name}; raises ValueError when the two
    cannot be paired."""
    from .. import graph
    s, d = src.state_dict(), dst.state_dict()
    mapping = dict(graph.pair_by_name({k: list(v.shape) for k, v in s.items()},
                                      {k: list(v.shape) for k, v in d.items()}))
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
    """Every parameter and buffer by its state_dict name, as numpy (copies: later changes to
    the model do not show in them)."""
    return {k: to_numpy(v).copy() for k, v in model.state_dict().items()}


def set_weights(model, values: dict) -> None:
    """Assign by state_dict name; an unknown name is an error."""
    state = model.state_dict()
    with torch.no_grad():
        for k, arr in values.items():
            if k not in state:
                raise KeyError(f"no weight {k}")
            state[k].copy_(torch.as_tensor(np.asarray(arr), dtype=state[k].dtype))


def fill_weights(model, seed_: int = 0, scale: float = 0.1, he: bool = False) -> None:
    """Deterministic floating-point weights that depend only on each name and shape:
    N(0, scale^2), or with `he` He-scaled weights (std scale * sqrt(2 / fan-in)) and small
    biases (std 0.1 * scale)."""
    import zlib
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                rng = np.random.default_rng([seed_, zlib.crc32(name.encode())])
                std = scale
                if he:
                    std = scale * np.sqrt(2.0 / max(1, int(np.prod(t.shape[1:])))) if t.dim() >= 2 else 0.1 * scale
                t.copy_(torch.as_tensor(rng.standard_normal(tuple(t.shape)) * std, dtype=t.dtype))


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
    checked(out, "the model's output")
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


# ---- the traced computation (grader/graph.py's node format) ---------------------------------------

from torch.nn import functional as F  # noqa: E402

_MAX_TRACE = 50_000          # ops recorded at most (grader.graph.MAX_NODES accepts twice that)

_SIGS = {
    "conv": ["input", "weight", "bias", "stride", "padding", "dilation", "groups"],
    "conv_transpose": ["input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"],
    "linear": ["input", "weight", "bias"],
    "batch_norm": ["input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"],
    "instance_norm": ["input", "running_mean", "running_var", "weight", "bias", "use_input_stats", "momentum", "eps"],
    "layer_norm": ["input", "normalized_shape", "weight", "bias", "eps"],
    "group_norm": ["input", "num_groups", "weight", "bias", "eps"],
    "max_pool": ["input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"],
    "avg_pool": ["input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"],
    "adaptive": ["input", "output_size"],
    "upsample": ["input", "size", "scale_factor", "mode", "align_corners"],
    "leaky_relu": ["input", "negative_slope", "inplace"],
    "elu": ["input", "alpha", "inplace"],
    "celu": ["input", "alpha", "inplace"],
    "softmax": ["input", "dim", "_stacklevel", "dtype"],
    "log_softmax": ["input", "dim", "_stacklevel", "dtype"],
    "dropout": ["input", "p", "training", "inplace"],
    "cat": ["tensors", "dim"],
    "stack": ["tensors", "dim"],
    "pad": ["input", "pad", "mode", "value"],
    "chunk": ["input", "chunks", "dim"],
    "split": ["input", "split_size_or_sections", "dim"],
    "tensor_split": ["input", "indices_or_sections", "dim"],
    "unbind": ["input", "dim"],
    "hardtanh": ["input", "min_val", "max_val", "inplace"],
    "clamp": ["input", "min", "max"],
    "reduce": ["input", "dim", "keepdim"],
    "gelu": ["input", "approximate"],
    "prelu": ["input", "weight"],
    "embedding": ["input", "weight"],
    "binary": ["input", "other"],
    "pow": ["input", "exponent"],
    "repeat": ["input", "*sizes"],
    "slice": ["input", "index"],
}
_ALIASES = {"concat": "cat", "concatenate": "cat", "true_divide": "div", "truediv": "div", "divide": "div",
            "multiply": "mul", "subtract": "sub", "interpolate": "upsample", "upsample_nearest": "upsample",
            "upsample_bilinear": "upsample", "view": "reshape", "view_as": "reshape", "reshape_as": "reshape",
            "flatten": "reshape", "unflatten": "reshape", "squeeze": "reshape", "unsqueeze": "reshape",
            "permute": "transpose", "t": "transpose", "swapaxes": "transpose", "swapdims": "transpose",
            "movedim": "transpose", "contiguous": "identity", "clone": "identity", "detach": "identity",
            "float": "cast", "double": "cast", "half": "cast", "bfloat16": "cast", "to": "cast", "type": "cast",
            "type_as": "cast", "cpu": "cast", "cuda": "cast", "dropout1d": "dropout", "dropout2d": "dropout",
            "dropout3d": "dropout", "alpha_dropout": "dropout", "feature_alpha_dropout": "dropout",
            "mm": "matmul", "bmm": "matmul", "getitem": "slice", "clip": "clamp", "max_pool2d_with_indices":
            "max_pool2d", "negative": "neg", "swish": "silu", "absolute": "abs", "minimum": "minimum",
            "maximum": "maximum", "expand_as": "expand", "square": "square"}
_BINARY = {"add", "sub", "mul", "truediv", "div", "matmul", "pow", "floordiv", "mod", "and", "or", "xor"}
_SPLITS = {"chunk", "split", "tensor_split", "split_with_sizes", "unbind"}
_NONDATA = {"size", "dim", "numel", "shape", "ndim", "is_contiguous", "data_ptr", "stride", "element_size",
            "get_device", "item", "tolist", "numpy", "__get__", "zeros_like", "ones_like", "empty_like",
            "new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "full_like", "rand_like", "randn_like",
            "argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "any", "all"}


def _op_name(func) -> tuple[str, bool]:
    """A torch function or Tensor method -> (canonical op name, operands reversed)."""
    known = {F.max_pool1d: "max_pool1d", F.max_pool2d: "max_pool2d", F.max_pool3d: "max_pool3d",
             F.adaptive_max_pool1d: "adaptive_max_pool1d", F.adaptive_max_pool2d: "adaptive_max_pool2d"}
    try:
        if func in known:
            return known[func], False
    except TypeError:
        pass
    n = getattr(func, "__name__", "") or type(func).__name__
    rev = False
    if n.startswith("__") and n.endswith("__"):
        n = n[2:-2]
        if n.startswith("r") and n[1:] in _BINARY:
            n, rev = n[1:], True
        elif n.startswith("i") and n[1:] in _BINARY:
            n = n[1:]
    elif n.endswith("_") and not n.startswith("_"):
        n = n[:-1]                                    # in place: relu_, add_
    n = n.lstrip("_")
    return _ALIASES.get(n, n), rev


def _sig_key(name: str) -> str:
    if name in ("conv1d", "conv2d", "conv3d"):
        return "conv"
    if name.startswith("conv_transpose"):
        return "conv_transpose"
    if name.startswith("max_pool"):
        return "max_pool"
    if name.startswith("avg_pool"):
        return "avg_pool"
    if name.startswith("adaptive"):
        return "adaptive"
    if name in ("add", "sub", "mul", "div", "matmul", "maximum", "minimum", "floordiv", "mod"):
        return "binary"
    if name in ("sum", "mean", "amax", "amin", "prod", "logsumexp"):
        return "reduce"
    return name


def _rep(v, n) -> list:
    if isinstance(v, (list, tuple)):
        v = list(v)
        return [int(x) for x in (v * n if len(v) == 1 else v)]
    return [int(v)] * n


def _num(v):
    """A number as plain data: integral floats become ints."""
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, float):
        return round(v, 6)
    return v


def _dim(d, rank):
    if d is None:
        return None
    if isinstance(d, (list, tuple)):
        return sorted(_dim(x, rank) for x in d)
    d = int(d)
    return d + rank if d < 0 else d


def _slice_args(index, shape):
    """A __getitem__ index -> {"dims": [[dim, start, stop, step], ...], "drop": [...]}, or None
    for advanced (tensor) indexing."""
    items = index if isinstance(index, tuple) else (index,)
    rank = len(shape)
    used = sum(1 for it in items if it is not None and it is not Ellipsis)
    dims, drop, d = [], [], 0
    for it in items:
        if it is None:
            continue
        if it is Ellipsis:
            d += rank - used
            continue
        if isinstance(it, bool) or not isinstance(it, (int, slice)):
            return None
        if d >= rank:
            return None
        size = int(shape[d])
        if isinstance(it, int):
            i = it + size if it < 0 else it
            dims.append([d, i, i + 1, 1])
            drop.append(d)
        else:
            start, stop, step = it.indices(size)
            if (start, stop, step) != (0, size, 1):
                dims.append([d, start, stop, step])
        d += 1
    out = {"dims": dims}
    if drop:
        out["drop"] = drop
    return out


class _Tracer(torch.overrides.TorchFunctionMode):
    """Records the ops on data (tensors derived from the inputs) as graph nodes."""

    def __init__(self, model):
        super().__init__()
        self.nodes: list[dict] = []
        self.node_of: dict[int, int] = {}      # id(tensor) -> node id
        self.keep: list = []                   # tensors seen (so that their ids stay theirs)
        self.names: dict[int, tuple] = {}      # id(parameter/buffer) -> (name, trainable)
        for name, p in model.named_parameters(remove_duplicate=False):
            self.names.setdefault(id(p), (name, p.requires_grad))
        for name, b in model.named_buffers(remove_duplicate=False):
            self.names.setdefault(id(b), (name, False))
        self.prov: dict[int, list] = {}        # id(non-data tensor) -> [(name, trainable, shape)] it derives from
        self.stack: list[str] = []
        self.paths: dict[int, str] = {}
        self.aliases: dict[int, list[str]] = {}    # id(module) -> every path it is registered under
        self.containers: set[str] = set()          # paths of ModuleList/ModuleDict (never called)
        for name, m in model.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), name)
            if name:
                self.aliases.setdefault(id(m), []).append(name)
            if isinstance(m, (nn.ModuleList, nn.ModuleDict)):
                self.containers.add(name)
        self.pushed: list[int] = []
        self.handles = []
        self.overflow = False
        for m in {id(m): m for m in model.modules()}.values():
            path = self.paths[id(m)]
            if not path:
                continue
            paths = self.aliases.get(id(m), [path])
            self.handles.append(m.register_forward_pre_hook(
                lambda mod, a, p=path, ps=paths: self.enter(p, ps)))
            self.handles.append(m.register_forward_hook(lambda mod, a, o: self.leave()))

    def _inside(self, path: str, running: set) -> bool:
        """Whether `path` fits where the forward pass is now: each of its ancestors (but
        containers, which are never called) is running."""
        parts = path.split(".")
        for k in range(1, len(parts)):
            a = ".".join(parts[:k])
            if a not in running and a not in self.containers:
                return False
        return True

    def enter(self, path, paths=None) -> None:
        """A module registered under several paths (`self.layer1 = self.main[1]`) is inside
        each of them that fits the running modules, so a scope can name any of them."""
        chosen = [path]
        if paths and len(paths) > 1:
            running = set(self.stack)
            chosen = [p for p in paths if self._inside(p, running)] or [path]
        self.stack.extend(chosen)
        self.pushed.append(len(chosen))

    def leave(self) -> None:       # a forward hook must return None (else it replaces the output)
        n = self.pushed.pop() if self.pushed else 1
        for _ in range(min(n, len(self.stack))):
            self.stack.pop()

    def close(self):
        for h in self.handles:
            h.remove()

    # ---- bookkeeping --------------------------------------------------------------------------
    def add(self, op, args, ins, out=None, params=()) -> int:
        nid = len(self.nodes)
        if nid >= _MAX_TRACE:
            self.overflow = True
            return nid - 1
        params = list(params)
        self.nodes.append({"id": nid, "op": op, "args": args, "in": ins,
                           "shape": list(out.shape) if isinstance(out, torch.Tensor) else None,
                           "scope": list(self.stack), "params": params,
                           "nparams": sum(_prod(p["shape"]) for p in params if p["trainable"])})
        if isinstance(out, torch.Tensor):
            self.keep.append(out)
            self.node_of[id(out)] = nid
        return nid

    def source(self, t):
        """[(name, trainable, shape)] of the weights a non-data tensor is (or derives from)."""
        if id(t) in self.names:
            name, trainable = self.names[id(t)]
            return [(name, trainable, list(t.shape))]
        return self.prov.get(id(t), [])

    # ---- the mode -----------------------------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self.record(func, args, kwargs, out)
        except Exception:  # noqa: BLE001 - never let the recorder break the student's forward
            pass
        return out

    def record(self, func, args, kwargs, out):
        name, rev = _op_name(func)
        if name in _NONDATA:
            return
        flat = []
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, torch.Tensor):
                flat.append(a)
            elif isinstance(a, (list, tuple)):
                flat.extend(x for x in a if isinstance(x, torch.Tensor))
        data = [t for t in flat if id(t) in self.node_of]
        outs = [out] if isinstance(out, torch.Tensor) else \
            [o for o in out if isinstance(o, torch.Tensor)] if isinstance(out, (tuple, list)) else []
        if not outs:
            return
        if not data:
            # weights transformed before use (a mask, a reshape): remember where they come from
            src = [s for t in flat for s in self.source(t)]
            if src:
                for o in outs:
                    self.keep.append(o)
                    self.prov[id(o)] = src
            return
        sig = _SIGS.get(_sig_key(name), ["input"])
        bound = {}
        star = bool(sig) and sig[-1].startswith("*")
        for k, v in enumerate(args):
            if star and k >= len(sig) - 1:
                bound.setdefault(sig[-1][1:], []).append(v)
            else:
                bound[sig[k] if k < len(sig) else f"arg{k}"] = v
        bound.update(kwargs)
        if "axis" in bound and "dim" not in bound:     # torch accepts numpy's name too: cat(..., axis=1)
            bound["dim"] = bound.pop("axis")
        ins, params, consts = [], [], {}
        for k, v in bound.items():
            vs = v if isinstance(v, (list, tuple)) else [v]
            for x in vs:
                if not isinstance(x, torch.Tensor):
                    continue
                if id(x) in self.node_of:
                    ins.append(self.node_of[id(x)])
                else:
                    src = self.source(x)
                    for pname, trainable, shape in src:
                        params.append({"name": pname, "shape": shape, "role": k if k not in ("other", "input") else "param",
                                       "trainable": bool(trainable)})
                    if not src:
                        consts[k] = x
        shapes = [list(t.shape) for t in data]
        a = self.args(name, bound, shapes, outs, params, consts, rev)
        if a is None:
            name, a = "index", {}
        if name in _SPLITS and len(outs) > 1:
            dim = _dim(bound.get("dim", 0), len(shapes[0]))
            start = 0
            for o in outs:
                size = int(o.shape[dim]) if name != "unbind" else 1
                piece = {"dims": [[dim, start, start + size, 1]]}
                if name == "unbind":
                    piece["drop"] = [dim]
                self.add("slice", piece, ins[:1], o)
                start += size
            return
        if len(outs) > 1:
            for k, o in enumerate(outs):
                self.add(name, {**a, "output": k}, ins, o, params if k == 0 else ())
            return
        self.add(name, a, ins, outs[0], params)

    def args(self, name, b, shapes, outs, params, consts, rev):
        """The op's hyper-parameters under graph.py's canonical names."""
        rank = len(shapes[0]) if shapes else 0
        w = b.get("weight")
        if name in ("conv1d", "conv2d", "conv3d") and isinstance(w, torch.Tensor):
            nsp, groups = w.dim() - 2, int(b.get("groups", 1) or 1)
            kernel, dil = list(w.shape[2:]), _rep(b.get("dilation", 1), nsp)
            pad = b.get("padding", 0)
            if isinstance(pad, str):
                totals = [d * (k - 1) if pad == "same" else 0 for k, d in zip(kernel, dil)]
                padding = [[t // 2, t - t // 2] for t in totals]
            else:
                padding = [[p, p] for p in _rep(pad, nsp)]
            return {"in": int(w.shape[1]) * groups, "out": int(w.shape[0]), "kernel": [int(k) for k in kernel],
                    "stride": _rep(b.get("stride", 1), nsp), "padding": padding, "dilation": dil, "groups": groups,
                    "bias": b.get("bias") is not None, "layout": "channels_first"}
        if name.startswith("conv_transpose") and isinstance(w, torch.Tensor):
            nsp, groups = w.dim() - 2, int(b.get("groups", 1) or 1)
            return {"in": int(w.shape[0]), "out": int(w.shape[1]) * groups, "kernel": [int(k) for k in w.shape[2:]],
                    "stride": _rep(b.get("stride", 1), nsp), "padding": _rep(b.get("padding", 0), nsp),
                    "output_padding": _rep(b.get("output_padding", 0), nsp), "dilation": _rep(b.get("dilation", 1), nsp),
                    "groups": groups, "bias": b.get("bias") is not None, "layout": "channels_first"}
        if name == "linear" and isinstance(w, torch.Tensor):
            return {"in": int(w.shape[-1]), "out": int(w.shape[0]) if w.dim() > 1 else 1,
                    "bias": b.get("bias") is not None}
        if name == "embedding" and isinstance(w, torch.Tensor):
            return {"in": int(w.shape[0]), "out": int(w.shape[-1])}
        if name in ("batch_norm", "instance_norm"):
            running = b.get("running_mean") is not None and not b.get("training", False) \
                and not b.get("use_input_stats", False)
            return {"features": int(shapes[0][1]) if rank > 1 else None, "affine": b.get("weight") is not None,
                    "stats": "running" if running else "batch"}
        if name == "layer_norm":
            return {"normalized_shape": [int(x) for x in b.get("normalized_shape", [])],
                    "affine": b.get("weight") is not None}
        if name == "group_norm":
            return {"num_groups": int(b.get("num_groups", 1)), "features": int(shapes[0][1]),
                    "affine": b.get("weight") is not None}
        if name.startswith("max_pool") or name.startswith("avg_pool"):
            nsp = int(name[-2]) if name[-2].isdigit() else rank - 2
            kernel = _rep(b.get("kernel_size"), nsp)
            stride = b.get("stride")
            a = {"kernel": kernel, "stride": _rep(stride, nsp) if stride not in (None, [], ()) else kernel,
                 "padding": [[p, p] for p in _rep(b.get("padding", 0), nsp)],
                 "ceil_mode": bool(b.get("ceil_mode", False))}
            if name.startswith("max_pool"):
                a["dilation"] = _rep(b.get("dilation", 1), nsp)
            else:
                a["count_include_pad"] = bool(b.get("count_include_pad", True))
            return a
        if name.startswith("adaptive"):
            size = b.get("output_size")
            return {"output_size": list(size) if isinstance(size, (list, tuple)) else size}
        if name in ("upsample", "upsample_nearest", "upsample_bilinear"):
            out = outs[0].shape
            scale = [_num(int(o) / int(i)) for o, i in zip(out[2:], shapes[0][2:])]
            a = {"scale": scale, "mode": b.get("mode") or "nearest"}
            if b.get("align_corners") is not None:
                a["align_corners"] = bool(b["align_corners"])
            return a
        if name == "leaky_relu":
            return {"slope": _num(float(b.get("negative_slope", 0.01)))}
        if name in ("elu", "celu"):
            return {"alpha": _num(float(b.get("alpha", 1.0)))}
        if name in ("softmax", "log_softmax"):
            return {"dim": _dim(b.get("dim"), rank)}
        if name == "dropout":
            return {"p": _num(float(b.get("p", 0.5)))}
        if name in ("cat", "stack"):
            return {"dim": _dim(b.get("dim", 0), rank + (name == "stack"))}
        if name == "pad":
            pad = [int(x) for x in b.get("pad", [])]
            pads = [[0, 0] for _ in range(rank)]
            for i in range(len(pad) // 2):
                pads[rank - 1 - i] = [pad[2 * i], pad[2 * i + 1]]
            return {"pads": pads, "mode": b.get("mode", "constant") or "constant", "value": _num(b.get("value") or 0)}
        if name == "slice":
            return _slice_args(b.get("index"), shapes[0])
        if name in ("hardtanh", "clamp"):
            lo, hi = (b.get("min_val", -1.0), b.get("max_val", 1.0)) if name == "hardtanh" else (b.get("min"), b.get("max"))
            return {"min": _num(lo) if not isinstance(lo, torch.Tensor) else None,
                    "max": _num(hi) if not isinstance(hi, torch.Tensor) else None}
        if name in ("sum", "mean", "amax", "amin", "prod", "logsumexp"):
            return {"dims": _dim(b.get("dim"), rank), "keepdim": bool(b.get("keepdim", False))}
        if name == "gelu":
            return {"approximate": b.get("approximate", "none")}
        if name == "pow":
            e = b.get("exponent")
            return {"exponent": _num(e) if not isinstance(e, torch.Tensor) or e.numel() == 1 else None}
        if name == "repeat":
            sizes = b.get("sizes", [])
            if len(sizes) == 1 and isinstance(sizes[0], (list, tuple, torch.Size)):
                sizes = sizes[0]
            return {"repeats": [int(s) for s in sizes]}
        if _sig_key(name) == "binary":
            a = {}
            other = b.get("other")
            if len(shapes) == 1:
                if params:
                    a["param"] = True
                elif isinstance(other, torch.Tensor) and other.numel() == 1 or isinstance(other, (int, float)):
                    a["const"] = _num(other if not isinstance(other, torch.Tensor) else other.item())
                elif isinstance(other, torch.Tensor):
                    a["const"] = {"shape": list(other.shape)}
                if rev and name not in ("add", "mul", "maximum", "minimum"):
                    a["const_first"] = True
            return a
        return {}


def _prod(shape) -> int:
    r = 1
    for d in shape:
        r *= int(d)
    return r


def trace(model, inputs) -> list[dict]:
    """One inference-mode forward pass, recorded as graph nodes (grader/graph.py): every op
    on data in the order it ran, its hyper-parameters, the nodes it reads, the sub-modules it
    ran in and the weights it used. The model's train/eval flags are restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    tracer = _Tracer(model)
    model.eval()
    try:
        for k, x in enumerate(inputs):
            if isinstance(x, torch.Tensor):
                tracer.add("input", {"index": k}, [], x)
        with torch.no_grad(), tracer:
            out = model(*inputs)
    finally:
        tracer.close()
        for m, was in modes:
            m.training = was
    if tracer.overflow:
        raise ValueError(f"the forward pass of {type(model).__name__} runs more than {_MAX_TRACE:,} operations")
    checked(out, "the model's output")
    outs = out if isinstance(out, (tuple, list)) else [out]
    if not outs or not all(isinstance(o, torch.Tensor) for o in outs):
        raise TypeError(f"{type(model).__name__} returned {type(out).__name__}, not a tensor")
    ins = []
    for o in outs:
        if id(o) not in tracer.node_of:
            raise TypeError(f"the output of {type(model).__name__} does not depend on its input")
        ins.append(tracer.node_of[id(o)])
    tracer.nodes.append({"id": len(tracer.nodes), "op": "output", "args": {}, "in": ins,
                         "shape": [list(o.shape) for o in outs] if len(outs) > 1 else list(outs[0].shape),
                         "scope": [], "params": [], "nparams": 0})
    return tracer.nodes


def transfer_traced(src, dst, inputs) -> dict[str, str]:
    """Copy `src`'s weights into `dst` op by op: both are traced on `inputs` and their
    parameterised ops paired in the order they ran, by kind and weight shapes
    (grader.graph.pair_weights), whatever the names, grouping or creation order. Returns
    {src name: dst name} (state_dict names); raises ValueError when the two cannot be paired."""
    from .. import graph

    pairs = graph.pair_weights(trace(src, inputs), trace(dst, inputs))
    s = {**dict(src.named_buffers(remove_duplicate=False)), **dict(src.named_parameters(remove_duplicate=False))}
    d = {**dict(dst.named_buffers(remove_duplicate=False)), **dict(dst.named_parameters(remove_duplicate=False))}
    mapping: dict[str, str] = {}
    with torch.no_grad():
        for a, b in pairs:
            if s[a].shape != d[b].shape:
                raise ValueError(f"cannot pair the weights: `{b}` has shape {tuple(d[b].shape)}, "
                                 f"expected {tuple(s[a].shape)} (like `{a}`)")
            d[b].copy_(s[a])
            mapping.setdefault(a, b)
    return mapping
