"""The computation a model performs, as a graph, framework-agnostic.

A framework adapter's `trace(model, inputs)` runs one inference-mode forward pass and
records every operation on data (tensors that depend on the inputs) as a node, in the order
the operations ran:

    {"id": 7, "op": "conv2d", "args": {"in": 16, "out": 32, "kernel": [3, 3], ...},
     "in": [6], "shape": [2, 32, 16, 16], "scope": ["conv2", "conv2.0"],
     "params": [{"name": "conv2.0.weight", "shape": [32, 16, 3, 3], "role": "weight",
                 "trainable": true}, ...], "nparams": 4640}

- `op` is from one vocabulary for both frameworks (OPS below); `args` are the op's
  hyper-parameters under canonical names (FIELDS below): convolution padding as explicit
  [before, after] amounts per spatial dimension, dimensions non-negative, and so on.
- `in` are the ids of the nodes whose outputs the op reads, in argument order; weights,
  buffers and constants are not nodes: weights are listed in `params`, constants in `args`.
- `scope` lists the (attribute paths of the) sub-modules whose forward was running, outer
  first; `shape` is the output's shape.
- The graph starts with one `input` node per model input ({"index": k}) and ends with one
  `output` node whose inputs are the model's outputs.

Nodes are plain JSON data: they cross from the student's kernel to the grader as an
observation, where `parse` validates them as untrusted input (InvalidGraph).

`canonical` turns a trace into the form that is compared: shape-only ops (reshape, view,
flatten, transpose, casts) are looked through, a bias added after a bias-less convolution or
linear op is folded into it, a zero pad feeding a convolution is folded into its padding,
operations whose results never reach the output are dropped; optionally the graph is
restricted to a sub-module's scope and to some op kinds (the others are contracted). Each
node then gets a recursive label of everything upstream of it (and one of everything
downstream), with the operands of commutative ops (add, mul, and cat unless its order is
fixed) sorted: two graphs compute the same thing up to renaming, grouping, module reuse and
creation order exactly when their output labels agree. `compare` matches the nodes of two
graphs by those labels and reports what differs (a changed, missing or extra op, two ops in
the wrong order, an op fed by the wrong tensors) in words a student can act on.
`pair_weights` pairs the parameterised ops of two traces (equivalence checks)."""
from __future__ import annotations

import difflib
import hashlib
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field

MAX_NODES = 100_000
MAX_TEXT = 300

# ---- the vocabulary ---------------------------------------------------------------------------

CONVS = {"conv1d", "conv2d", "conv3d"}
CONV_TRANSPOSES = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
NORMS = {"batch_norm", "layer_norm", "group_norm", "instance_norm"}
POOLS = {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
         "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool2d", "global_avg_pool", "global_max_pool"}
ACTIVATIONS = {"relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "prelu", "softplus",
               "tanh", "sigmoid", "hardtanh", "hardsigmoid", "hardswish", "softmax", "log_softmax", "softsign"}
ARITHMETIC = {"add", "sub", "mul", "div", "neg", "matmul", "pow", "exp", "log", "sqrt", "rsqrt", "square", "abs",
              "maximum", "minimum", "clamp", "sum", "mean", "amax", "amin", "prod", "erf"}
LAYOUT = {"reshape", "transpose", "identity", "cast"}          # shape-only: looked through
OPS = (CONVS | CONV_TRANSPOSES | NORMS | POOLS | ACTIVATIONS | ARITHMETIC | LAYOUT |
       {"linear", "embedding", "upsample", "dropout", "cat", "stack", "pad", "slice", "repeat", "index",
        "input", "output"})
PARAMETERISED = CONVS | CONV_TRANSPOSES | NORMS | {"linear", "embedding", "prelu"}
# ops whose output has their (first) input's shape: not listed by compare_shapes
ELEMENTWISE = ACTIVATIONS | NORMS | (ARITHMETIC - {"matmul", "sum", "mean", "amax", "amin", "prod"}) | {"dropout"}
COMMUTATIVE = {"add", "mul", "maximum", "minimum"}
CONCATS = {"cat", "stack"}

# hyper-parameter names (`args`), for validating a check's `fields`
FIELDS = {"in", "out", "kernel", "stride", "padding", "output_padding", "dilation", "groups", "bias", "layout",
          "features", "affine", "stats", "shape", "slope", "alpha", "dim", "dims", "keepdim", "p", "scale",
          "mode", "align_corners", "pads", "value", "const", "const_first", "param", "min", "max", "approximate",
          "ceil_mode", "count_include_pad", "output_size", "drop", "index", "output", "shared", "init",
          "normalized_shape", "num_groups", "exponent", "repeats"}

DISPLAY = {"conv1d": "Conv1d", "conv2d": "Conv2d", "conv3d": "Conv3d", "conv_transpose1d": "ConvTranspose1d",
           "conv_transpose2d": "ConvTranspose2d", "conv_transpose3d": "ConvTranspose3d", "linear": "Linear",
           "batch_norm": "BatchNorm", "layer_norm": "LayerNorm", "group_norm": "GroupNorm",
           "instance_norm": "InstanceNorm", "max_pool1d": "MaxPool1d", "max_pool2d": "MaxPool2d",
           "max_pool3d": "MaxPool3d", "avg_pool1d": "AvgPool1d", "avg_pool2d": "AvgPool2d", "avg_pool3d": "AvgPool3d",
           "upsample": "Upsample", "relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "LeakyReLU", "elu": "ELU",
           "selu": "SELU", "gelu": "GELU", "silu": "SiLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
           "softmax": "Softmax", "log_softmax": "LogSoftmax", "dropout": "Dropout", "softplus": "Softplus",
           "cat": "cat", "stack": "stack", "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
           "neg": "negate", "pad": "pad", "slice": "slice", "embedding": "Embedding", "prelu": "PReLU"}


class InvalidGraph(ValueError):
    """A trace that is not of the form an adapter produces (untrusted input)."""


# ---- nodes ------------------------------------------------------------------------------------

@dataclass
class Node:
    id: int
    op: str
    args: dict
    inputs: list[int]
    shape: list | None = None
    scope: tuple = ()
    params: list = field(default_factory=list)
    nparams: int = 0

    def copy(self) -> Node:
        return Node(self.id, self.op, json.loads(json.dumps(self.args)), list(self.inputs), self.shape,
                    self.scope, [dict(p) for p in self.params], self.nparams)


def _json_value(v, depth=0):
    """Plain JSON values only, bounded in depth and size; floats finite."""
    if depth > 6:
        raise InvalidGraph("a value nested too deeply")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        if abs(v) > 2 ** 62:
            raise InvalidGraph("an integer out of range")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InvalidGraph("a non-finite number")
        return v
    if isinstance(v, str):
        if len(v) > MAX_TEXT:
            raise InvalidGraph("a string too long")
        return v
    if isinstance(v, list):
        if len(v) > 64:
            raise InvalidGraph("a list too long")
        return [_json_value(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if len(v) > 64 or not all(isinstance(k, str) and len(k) <= MAX_TEXT for k in v):
            raise InvalidGraph("a malformed mapping")
        return {k: _json_value(x, depth + 1) for k, x in v.items()}
    raise InvalidGraph(f"a value of type {type(v).__name__}")


def _int(v, what) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidGraph(f"{what} is not an integer")
    return v


def parse(nodes) -> list[Node]:
    """Untrusted trace -> Nodes; raises InvalidGraph. Inputs must name earlier nodes (so the
    graph is acyclic), there must be exactly one `output` node, the last."""
    if not isinstance(nodes, list) or not nodes:
        raise InvalidGraph("the trace is not a non-empty list")
    if len(nodes) > MAX_NODES:
        raise InvalidGraph("the trace is too long")
    out, seen = [], set()
    for n in nodes:
        if not isinstance(n, dict):
            raise InvalidGraph("a node is not a mapping")
        nid = _int(n.get("id"), "a node id")
        if nid in seen:
            raise InvalidGraph(f"node id {nid} twice")
        op = n.get("op")
        if not isinstance(op, str) or not op or len(op) > 64:
            raise InvalidGraph("a node without an op name")
        args = _json_value(n.get("args", {}))
        if not isinstance(args, dict):
            raise InvalidGraph("node args are not a mapping")
        ins = n.get("in", [])
        if not isinstance(ins, list) or len(ins) > 1024:
            raise InvalidGraph("node inputs are not a list")
        for i in ins:
            if _int(i, "a node input") not in seen:
                raise InvalidGraph(f"node {nid} reads node {i}, which is not an earlier node")
        shape = n.get("shape")
        if shape is not None:
            shape = _json_value(shape)
            if not isinstance(shape, list):
                raise InvalidGraph("a shape is not a list")
        scope = n.get("scope", [])
        if not isinstance(scope, list) or len(scope) > 64 or \
                not all(isinstance(s, str) and len(s) <= MAX_TEXT for s in scope):
            raise InvalidGraph("a scope is not a list of names")
        params = n.get("params", [])
        if not isinstance(params, list) or len(params) > 64:
            raise InvalidGraph("params are not a list")
        ps = []
        for p in params:
            if not isinstance(p, dict) or not isinstance(p.get("name"), str) or len(p["name"]) > MAX_TEXT:
                raise InvalidGraph("a malformed parameter")
            pshape = p.get("shape", [])
            if not isinstance(pshape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                       for d in pshape):
                raise InvalidGraph("a malformed parameter shape")
            role = p.get("role", "")
            if not isinstance(role, str) or len(role) > 64:
                raise InvalidGraph("a malformed parameter role")
            ps.append({"name": p["name"], "shape": list(pshape), "role": role, "trainable": bool(p.get("trainable"))})
        nparams = _int(n.get("nparams", 0), "a parameter count")
        if nparams < 0:
            raise InvalidGraph("a negative parameter count")
        out.append(Node(nid, op, args, list(ins), shape, tuple(scope), ps, nparams))
        seen.add(nid)
    outputs = [n for n in out if n.op == "output"]
    if len(outputs) != 1 or out[-1].op != "output":
        raise InvalidGraph("the trace must end with its one output node")
    return out


# ---- canonical form -----------------------------------------------------------------------------

class Graph:
    """Nodes in execution order (a topological order), with consumers."""

    def __init__(self, nodes: list[Node]):
        self.nodes = nodes
        self.by_id = {n.id: n for n in nodes}
        self.consumers: dict[int, list[int]] = defaultdict(list)
        for n in nodes:
            for i in n.inputs:
                self.consumers[i].append(n.id)

    @property
    def output(self) -> Node:
        return self.nodes[-1]

    def body(self) -> list[Node]:
        """Every node but the input and output markers."""
        return [n for n in self.nodes if n.op not in ("input", "output")]


def _prod(shape) -> int:
    r = 1
    for d in shape:
        r *= int(d)
    return r


def _resolve(alias: dict, i: int) -> int:
    while i in alias:
        i = alias[i]
    return i


def canonical(nodes, scope: str | None = None, types=None) -> Graph | None:
    """The compared form of a trace (a list of node dicts, or parsed Nodes). With `scope`,
    only what ran inside that sub-module (None when nothing did); with `types`, only those
    ops, the others contracted (their inputs passed on)."""
    ns = [n.copy() for n in nodes] if nodes and isinstance(nodes[0], Node) else parse(nodes)
    # look through shape-only ops (a slice that keeps everything is one too)
    alias: dict[int, int] = {}
    kept = []
    for n in ns:
        n.inputs = [_resolve(alias, i) for i in n.inputs]
        transparent = n.op in LAYOUT or (n.op == "slice" and not n.args.get("dims") and not n.args.get("drop"))
        if transparent and n.inputs:
            alias[n.id] = n.inputs[0]
            continue
        kept.append(n)
    g = Graph(kept)
    # a bias added to a bias-less convolution / linear op is that op's bias
    alias = {}
    kept = []
    for n in g.nodes:
        n.inputs = [_resolve(alias, i) for i in n.inputs]
        if n.op == "add" and len(n.inputs) == 1 and n.params and "const" not in n.args:
            p = g.by_id[n.inputs[0]]
            if (p.op in CONVS | CONV_TRANSPOSES or p.op == "linear") and not p.args.get("bias") \
                    and g.consumers[p.id] == [n.id]:
                p.args["bias"] = True
                p.params = p.params + [dict(q, role="bias") for q in n.params]
                p.nparams += n.nparams
                alias[n.id] = p.id
                continue
        kept.append(n)
    g = Graph(kept)
    # a zero pad feeding (only) a convolution is that convolution's padding
    alias = {}
    for n in g.nodes:
        n.inputs = [_resolve(alias, i) for i in n.inputs]
        if n.op in CONVS and n.inputs:
            q = g.by_id[n.inputs[0]]
            folded = _fold_pad(q, n) if q.op == "pad" and g.consumers[q.id] == [n.id] else None
            if folded is not None:
                n.args["padding"] = folded
                alias[q.id] = q.inputs[0]
                n.inputs[0] = q.inputs[0]
    g = Graph([n for n in g.nodes if n.id not in alias])
    # only what reaches the output
    live, stack = set(), [g.output.id]
    while stack:
        i = stack.pop()
        if i not in live:
            live.add(i)
            stack.extend(g.by_id[i].inputs)
    g = Graph([n for n in g.nodes if n.id in live])
    _mark_shared(g)
    if scope:
        g = _restrict(g, scope)
        if g is None:
            return None
    if types:
        g = _only(g, set(types))
    return g


def _fold_pad(pad: Node, conv: Node):
    """The convolution's padding with the pad's amounts added, or None when the pad is not a
    zero pad of the spatial dimensions only."""
    a = pad.args
    if a.get("mode", "constant") != "constant" or (a.get("value") or 0) != 0 or not pad.inputs:
        return None
    pads, padding = a.get("pads"), conv.args.get("padding")
    if not isinstance(pads, list) or not isinstance(padding, list):
        return None
    rank, nsp = len(pads), len(padding)
    spatial = list(range(1, rank - 1)) if conv.args.get("layout") == "channels_last" else list(range(2, rank))
    if len(spatial) != nsp:
        return None
    try:
        if any(pads[d] != [0, 0] for d in range(rank) if d not in spatial):
            return None
        return [[int(padding[k][0]) + int(pads[d][0]), int(padding[k][1]) + int(pads[d][1])]
                for k, d in enumerate(spatial)]
    except (TypeError, IndexError, ValueError):
        return None


def _mark_shared(g: Graph) -> None:
    """Parameterised ops that use the same weights as others say how many share them."""
    uses: dict[str, int] = defaultdict(int)
    for n in g.nodes:
        for name in {p["name"] for p in n.params if p.get("trainable")}:
            uses[name] += 1
    for n in g.nodes:
        k = max((uses[p["name"]] for p in n.params if p.get("trainable")), default=1)
        if k > 1:
            n.args["shared"] = k


def in_scope(n: Node, scope: str) -> bool:
    return any(s == scope or s.startswith(scope + ".") for s in n.scope)


def _restrict(g: Graph, scope: str) -> Graph | None:
    inside = [n for n in g.nodes if n.op not in ("input", "output") and in_scope(n, scope)]
    if not inside:
        return None
    ids = {n.id for n in inside}
    nodes, outside, next_id = [], {}, min(n.id for n in g.nodes) - 1
    for n in inside:
        ins = []
        for i in n.inputs:
            if i not in ids:
                if i not in outside:
                    src = g.by_id[i]
                    args = dict(src.args) if src.op == "input" else {"external": True}
                    outside[i] = Node(next_id, "input", args, [], src.shape)
                    nodes.append(outside[i])
                    next_id -= 1
                i = outside[i].id
            ins.append(i)
        n.inputs = ins
        nodes.append(n)
    outs = [n.id for n in inside if any(c not in ids for c in g.consumers[n.id])]
    nodes.append(Node(max(n.id for n in g.nodes) + 1, "output", {"unordered": True}, outs,
                      [g.by_id[i].shape for i in outs]))
    return Graph(nodes)


def _only(g: Graph, types: set) -> Graph:
    keep = {n.id for n in g.nodes if n.op in types or n.op in ("input", "output")}
    memo: dict[int, list[int]] = {}

    def sources(i):
        if i in keep:
            return [i]
        if i not in memo:
            found = []
            for j in g.by_id[i].inputs:
                for s in sources(j):
                    if s not in found:
                        found.append(s)
            memo[i] = found
        return memo[i]

    nodes = []
    for n in g.nodes:
        if n.id in keep:
            ins = []
            for i in n.inputs:
                for s in sources(i):
                    if s not in ins or n.op == "output":
                        ins.append(s)
            n.inputs = ins
            nodes.append(n)
    return Graph(nodes)


# ---- labels ---------------------------------------------------------------------------------------

def _h(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Options:
    fields: tuple = ()            # the hyper-parameters compared (empty: all)
    free_cat: bool = True         # the operand order of a concatenation is free


def key(n: Node, opts: Options):
    """What is compared of the node itself: its op and (some of) its hyper-parameters."""
    if n.op in ("input", "output") or not opts.fields:
        return [n.op, n.args]
    return [n.op, {k: v for k, v in n.args.items() if k in opts.fields}]


def commutative(n: Node, opts: Options) -> bool:
    return n.op in COMMUTATIVE or (opts.free_cat and n.op in CONCATS) or \
        (n.op == "output" and bool(n.args.get("unordered")))


def labels(g: Graph, opts: Options) -> tuple[dict, dict]:
    """(upstream, downstream) label per node id: equal upstream labels mean the same
    computation of the inputs; equal downstream labels the same use of the result."""
    up: dict[int, str] = {}
    for n in g.nodes:
        ins = [up[i] for i in n.inputs]
        up[n.id] = _h([key(n, opts), sorted(ins) if commutative(n, opts) else ins])
    down: dict[int, str] = {}
    for n in reversed(g.nodes):
        uses = []
        for c in g.consumers[n.id]:
            cn = g.by_id[c]
            star = commutative(cn, opts)
            for pos, i in enumerate(cn.inputs):
                if i == n.id:
                    uses.append([down[c], "*" if star else pos])
        down[n.id] = _h([key(n, opts), sorted(uses)])
    return up, down


def canonical_order(g: Graph, up: dict) -> list[Node]:
    """A topological order independent of the order in which independent branches ran."""
    pending = {n.id: len(set(n.inputs)) for n in g.nodes}
    ready = sorted((up[n.id], n.id) for n in g.nodes if pending[n.id] == 0)
    order = []
    while ready:
        _, i = ready.pop(0)
        order.append(g.by_id[i])
        for c in dict.fromkeys(g.consumers[i]):
            pending[c] -= 1
            if pending[c] == 0:
                ready.append((up[c], c))
                ready.sort()
    return order


# ---- words ------------------------------------------------------------------------------------------

def _pair_text(v) -> str:
    if isinstance(v, list) and v and all(x == v[0] for x in v):
        v = v[0]
    if isinstance(v, list):
        return "(" + ",".join(_pair_text(x) for x in v) + ")"
    return str(v)


def _padding_text(p) -> str:
    if isinstance(p, list) and all(isinstance(x, list) and len(x) == 2 for x in p):
        if all(x[0] == x[1] for x in p):
            return _pair_text([x[0] for x in p])
        return "(" + ",".join(f"{a},{b}" for a, b in p) + ")"
    return _pair_text(p)


def describe(n: Node) -> str:
    """`Conv2d(32->64, k3, p1)`, `MaxPool2d(2)`, `LeakyReLU(0.2)`, `cat`."""
    a, name = n.args, DISPLAY.get(n.op, n.op)
    if n.op == "input":
        return "its input" if a.get("external") else \
            ("the input" if not a.get("index") else f"input {a.get('index')}")
    if n.op == "output":
        return "the output"
    parts = []
    if n.op in CONVS | CONV_TRANSPOSES or n.op == "linear":
        parts.append(f"{a.get('in')}->{a.get('out')}")
        if "kernel" in a:
            parts.append("k" + _pair_text(a["kernel"]))
        if a.get("stride") and any(s != 1 for s in a["stride"]):
            parts.append("s" + _pair_text(a["stride"]))
        if isinstance(a.get("padding"), str):
            parts.append(f"padding {a['padding']}")
        elif a.get("padding") and _padding_text(a["padding"]) != "0":
            parts.append("p" + _padding_text(a["padding"]))
        if a.get("output_padding") and any(s != 0 for s in a["output_padding"]):
            parts.append("op" + _pair_text(a["output_padding"]))
        if a.get("dilation") and any(s != 1 for s in a["dilation"]):
            parts.append("d" + _pair_text(a["dilation"]))
        if a.get("groups", 1) != 1:
            parts.append(f"groups {a['groups']}")
        if a.get("bias") is False:
            parts.append("no bias")
    elif n.op in NORMS:
        parts.append(str(a.get("features", "")))
    elif n.op in POOLS:
        if "kernel" in a:
            parts.append(_pair_text(a["kernel"]))
        if a.get("stride") and a.get("stride") != a.get("kernel"):
            parts.append("s" + _pair_text(a["stride"]))
    elif n.op == "upsample":
        parts.append("x" + _pair_text(a.get("scale")) if a.get("scale") is not None else "")
    elif n.op == "leaky_relu":
        parts.append(f"{a.get('slope')}")
    elif n.op in ("softmax", "log_softmax", "cat", "stack") and a.get("dim") is not None:
        parts.append(f"dim {a.get('dim')}")
    elif n.op == "dropout":
        parts.append(f"p={a.get('p')}")
    elif n.op == "pad":
        pads = a.get("pads")
        if isinstance(pads, list):
            parts.append(",".join(f"{x[0]},{x[1]}" for x in pads if isinstance(x, list) and x != [0, 0]))
    elif n.op in ("add", "sub", "mul", "div") and "const" in a:
        parts.append(f"{a['const']}")
    parts = [p for p in parts if p]
    return name + (f"({', '.join(parts)})" if parts else "")


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


class _Words:
    """Names for a graph's nodes: `the 2nd Conv2d(16->32, k3)`."""

    def __init__(self, g: Graph):
        self.g = g
        count: dict[str, int] = defaultdict(int)
        self.nth: dict[int, int] = {}
        self.total: dict[str, int] = defaultdict(int)
        for n in g.nodes:
            count[n.op] += 1
            self.nth[n.id] = count[n.op]
        self.total.update(count)

    def name(self, i: int, full: bool = True, article: str = "the") -> str:
        n = self.g.by_id[i]
        if n.op in ("input", "output"):
            return describe(n)
        text = describe(n) if full else DISPLAY.get(n.op, n.op)
        if self.total[n.op] > 1:
            text = f"{_ordinal(self.nth[i])} {text}"
        return f"{article} {text}" if article else text

    def after(self, i: int) -> str:
        """` after Conv2d(..)` (one input), ` of the input and Conv2d(..)` (several)."""
        n = self.g.by_id[i]
        if not n.inputs:
            return ""
        names = [describe(self.g.by_id[j]) for j in dict.fromkeys(n.inputs)]
        if len(n.inputs) == 1 and self.g.by_id[n.inputs[0]].op == "input":
            return " first"
        if len(names) == 1:
            return " after " + names[0] + (" (twice)" if len(n.inputs) > 1 else "")
        return " of " + ", ".join(names[:-1]) + " and " + names[-1]


# ---- comparison -----------------------------------------------------------------------------------

@dataclass
class Comparison:
    equal: bool
    differences: list[str]
    size: int                    # ops in the reference's graph

    def fraction(self, penalty: float = 1.0) -> float:
        """1 when equal; else `penalty` lost per difference."""
        return 1.0 if self.equal else max(0.0, 1.0 - penalty * max(1, len(self.differences)))


def compare(want: Graph, got: Graph, opts: Options = Options()) -> Comparison:
    """The reference's graph against the student's. Equal when the output labels agree.
    Otherwise the nodes are matched: (1) the same computation upstream, (2) the same use
    downstream, (3) two neighbouring ops swapped, (4) an op of the same kind in the same place
    (same inputs or same consumers), (5) a diff of what is left in a canonical order; what
    stays unmatched is missing or extra. Each difference is one sentence: a changed op
    ("expected Conv2d(32->64, k3, p1) after MaxPool2d(2), found Conv2d(32->64, k5, p2)"), a
    missing or an extra op, two ops in the wrong order, or a matched op that reads other
    tensors than its partner's (the data flow: which tensors feed a cat, an add, a layer)."""
    wu, wd = labels(want, opts)
    gu, gd = labels(got, opts)
    if wu[want.output.id] == gu[got.output.id]:
        return Comparison(True, [], len(want.body()))
    partner: dict[int, int] = {want.output.id: got.output.id}   # want id -> got id
    back: dict[int, int] = {got.output.id: want.output.id}

    def pair(w, g):
        partner[w], back[g] = g, w

    def mapped(ids):
        return [partner.get(i) for i in ids]

    # 1. the same computation upstream (in execution order), preferring the same inputs
    by_up = defaultdict(list)
    for n in got.nodes:
        by_up[gu[n.id]].append(n.id)
    for n in want.nodes:
        if n.id in partner:
            continue
        cands = [c for c in by_up[wu[n.id]] if c not in back]
        if cands:
            best = [c for c in cands if got.by_id[c].inputs == mapped(n.inputs)]
            pair(n.id, (best or cands)[0])
    # 2. the same use downstream (from the output back), preferring the same consumers
    by_down = defaultdict(list)
    for n in reversed(got.nodes):
        by_down[gd[n.id]].append(n.id)
    for n in reversed(want.nodes):
        if n.id in partner:
            continue
        cands = [c for c in by_down[wd[n.id]] if c not in back]
        if cands:
            pair(n.id, cands[0])
    # 3. two ops in the wrong order: a -> X -> Y found as a -> Y -> X
    swapped = []
    for n in want.nodes:
        if n.id in partner or len(n.inputs) != 1 or n.inputs[0] not in partner:
            continue
        uses = want.consumers[n.id]
        if len(uses) != 1 or uses[0] in partner or len(want.by_id[uses[0]].inputs) != 1:
            continue
        y = want.by_id[uses[0]]
        for c in got.consumers[partner[n.inputs[0]]]:
            yc = got.by_id[c]
            if c in back or key(yc, opts) != key(y, opts) or len(got.consumers[c]) != 1:
                continue
            xc = got.by_id[got.consumers[c][0]]
            if xc.id in back or key(xc, opts) != key(n, opts) or len(xc.inputs) != 1 or key(n, opts) == key(y, opts):
                continue
            pair(n.id, xc.id)
            pair(y.id, yc.id)
            swapped.append((n.id, y.id))
            break
    changed: list[tuple[int, int]] = []

    def neighbours(same_op_only: bool):
        """An op in the same place (same inputs, or same consumers) that differs itself."""
        progress = True
        while progress:
            progress = False
            for n in want.nodes:
                if n.id in partner:
                    continue
                ins = sorted(map(str, mapped(n.inputs)))
                uses = sorted(map(str, mapped(want.consumers[n.id])))
                cands = []
                for c in got.nodes:
                    if c.id in back or (same_op_only and c.op != n.op):
                        continue
                    same_in = bool(n.inputs) and None not in mapped(n.inputs) and sorted(map(str, c.inputs)) == ins
                    same_use = bool(want.consumers[n.id]) and None not in mapped(want.consumers[n.id]) and \
                        sorted(map(str, got.consumers[c.id])) == uses
                    if (same_in or same_use) and (c.op == n.op or (same_in and same_use)):
                        cands.append((c.op != n.op, not (same_in and same_use), c.id))
                if cands:
                    c = min(cands)[2]
                    pair(n.id, c)
                    changed.append((n.id, c))
                    progress = True

    neighbours(same_op_only=True)
    # 4. what is left, aligned in a canonical order (a diff of the op sequences)
    wrest = [n for n in canonical_order(want, wu) if n.id not in partner and n.op != "output"]
    grest = [n for n in canonical_order(got, gu) if n.id not in back and n.op != "output"]
    sm = difflib.SequenceMatcher(a=[_h(key(n, opts)) for n in wrest], b=[_h(key(n, opts)) for n in grest],
                                 autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for w, g in zip(wrest[i1:i2], grest[j1:j2]):
                pair(w.id, g.id)
        elif tag == "replace":
            ws, gs = wrest[i1:i2], grest[j1:j2]
            for w in ws:
                g = next((g for g in gs if g.id not in back and g.op == w.op), None)
                if g is not None:
                    pair(w.id, g.id)
                    changed.append((w.id, g.id))
            left_w = [w for w in ws if w.id not in partner]
            left_g = [g for g in gs if g.id not in back]
            if len(left_w) == len(left_g):
                for w, g in zip(left_w, left_g):
                    pair(w.id, g.id)
                    changed.append((w.id, g.id))
    neighbours(same_op_only=False)
    ww, gw = _Words(want), _Words(got)
    diffs: list[str] = []
    for x, y in swapped:
        first, second = want.by_id[x], want.by_id[y]
        diffs.append(f"{describe(first)} and {describe(second)} are in the wrong order: expected "
                     f"{describe(first)} then {describe(second)}{ww.after(first.id)}")
    for w, g in changed:
        if key(want.by_id[w], opts) != key(got.by_id[g], opts):
            diffs.append(f"expected {describe(want.by_id[w])}{ww.after(w)}, found {describe(got.by_id[g])}")
    for n in want.body():
        if n.id not in partner:
            diffs.append(f"{describe(n)}{ww.after(n.id)} is missing")
    for n in got.body():
        if n.id not in back:
            diffs.append(f"found an extra {describe(n)}{gw.after(n.id)}")
    if want.output.id in partner and len(want.output.inputs) != len(got.output.inputs):
        diffs.append(f"expected {len(want.output.inputs)} output(s), found {len(got.output.inputs)}")
    # the data flow: each matched op must read the partners of the reference's inputs
    said = {i for x, y in swapped for i in (x, y, *want.consumers[y])}    # a swap is said once
    for n in want.nodes:
        g = partner.get(n.id)
        if g is None or n.op == "input" or n.id in said:
            continue
        m = got.by_id[g]
        exp = mapped(n.inputs)
        if None in exp or any(i not in back for i in m.inputs):
            continue
        same = sorted(exp) == sorted(m.inputs) if commutative(n, opts) else exp == m.inputs
        if not same:
            reads = ", ".join(gw.name(i, full=False) for i in m.inputs) or "nothing"
            wanted = ", ".join(gw.name(i, full=False) for i in exp) or "nothing"
            what = gw.name(g) if n.op != "output" else "the model's output"
            verb = "is" if n.op == "output" else "reads"
            diffs.append(f"{what} {verb} {reads}; expected {wanted}")
    if not diffs:   # the labels differ but nothing local was found (a rare tie)
        diffs.append("the computation differs from the reference's")
    return Comparison(False, diffs, len(want.body()))


# ---- shapes and parameter counts, op by op --------------------------------------------------------

def _fmt_shape(s) -> str:
    if s is None:
        return "nothing"
    if isinstance(s, list) and s and all(isinstance(x, list) or x is None for x in s):
        return ", ".join(_fmt_shape(x) for x in s)
    return "(" + ", ".join(str(d) for d in s) + ")"


def _aligned(want_seq, got_seq):
    """Pairs (want item or None, got item or None) aligned on the op names."""
    sm = difflib.SequenceMatcher(a=[w[0] for w in want_seq], b=[g[0] for g in got_seq], autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            yield from zip(want_seq[i1:i2], got_seq[j1:j2])
        else:
            yield from ((w, None) for w in want_seq[i1:i2])
            yield from ((None, g) for g in got_seq[j1:j2])


def compare_shapes(want: Graph, got: Graph, opts: Options = Options()) -> Comparison:
    """Output shapes of the ops that change shapes (not activations, normalisation, arithmetic),
    op by op in a canonical order, and the graph's outputs'."""
    ww, gw = _Words(want), _Words(got)

    def seq(g):
        return [(n.op, n.shape, n.id) for n in canonical_order(g, labels(g, opts)[0])
                if n.op not in ("input", "output") and n.op not in ELEMENTWISE]
    wseq, gseq = seq(want), seq(got)
    diffs = []
    # got ops whose output shape is as expected (elementwise ops: when their input's is)
    right = {n.id for n in got.nodes if n.op == "input"}

    def is_right(i):
        n = got.by_id[i]
        if n.op in ELEMENTWISE:
            return all(is_right(j) for j in n.inputs)
        return i in right
    for w, g in _aligned(wseq, gseq):
        if w is None:
            diffs.append(f"found an extra {describe(got.by_id[g[2]])}{gw.after(g[2])}")
        elif g is None:
            diffs.append(f"{describe(want.by_id[w[2]])}{ww.after(w[2])} is missing (output {_fmt_shape(w[1])})")
        elif w[0] != g[0]:
            diffs.append(f"expected {describe(want.by_id[w[2]])} with output {_fmt_shape(w[1])}, found "
                         f"{describe(got.by_id[g[2]])}")
        elif w[1] == g[1]:
            right.add(g[2])
        elif all(is_right(i) for i in got.by_id[g[2]].inputs):
            # the first op that goes wrong; the shapes after it follow from it
            diffs.append(f"{gw.name(g[2])} outputs {_fmt_shape(g[1])}, expected {_fmt_shape(w[1])}")
    if want.output.shape != got.output.shape and not diffs:
        diffs.append(f"the output is {_fmt_shape(got.output.shape)}, expected {_fmt_shape(want.output.shape)}")
    equal = not diffs and want.output.shape == got.output.shape
    return Comparison(equal, diffs, len(wseq))


def unique_params(g: Graph) -> int:
    """Trainable parameters the graph's ops use, each counted once."""
    seen = {}
    for n in g.nodes:
        for p in n.params:
            if p.get("trainable"):
                seen[p["name"]] = _prod(p["shape"])
    return sum(seen.values())


def compare_params(want: Graph, got: Graph, opts: Options = Options()) -> Comparison:
    """Trainable parameters in all, and of each parameterised op (in a canonical order)."""
    wseq = [(n.op, n.nparams, n.id) for n in canonical_order(want, labels(want, opts)[0]) if n.nparams]
    gseq = [(n.op, n.nparams, n.id) for n in canonical_order(got, labels(got, opts)[0]) if n.nparams]
    ww, gw = _Words(want), _Words(got)
    diffs = []
    total_w, total_g = unique_params(want), unique_params(got)
    if total_w != total_g:
        diffs.append(f"{total_g:,} parameters in all, expected {total_w:,}")
    for w, g in _aligned(wseq, gseq):
        if w is None:
            diffs.append(f"found an extra {describe(got.by_id[g[2]])} with {g[1]:,} parameters")
        elif g is None:
            diffs.append(f"{describe(want.by_id[w[2]])}{ww.after(w[2])} ({w[1]:,} parameters) is missing")
        elif w[0] != g[0] or w[1] != g[1]:
            diffs.append(f"{gw.name(g[2])} has {g[1]:,} parameters, expected {w[1]:,}")
    return Comparison(not diffs, diffs, len(wseq))


# ---- weights, op by op ----------------------------------------------------------------------------

def _signature(n: Node):
    return (n.op, tuple(sorted(tuple(p["shape"]) for p in n.params)))


def pair_weights(src, dst) -> list[tuple[str, str]]:
    """Pair the weights of two traces (src: the reference's, dst: the student's) through
    their parameterised ops: first the ops that compute the same thing (equal upstream
    labels, each unique on both sides), then the rest in the order they ran, each with the
    first remaining op of the same kind and weight shapes. Within an op, weights pair by role
    (weight, bias, running_mean, ...), else in order. Raises ValueError when they cannot."""
    gs, gd = canonical(src), canonical(dst)
    opts = Options()
    us, _ = labels(gs, opts)
    ud, _ = labels(gd, opts)
    ps = [n for n in gs.nodes if n.params]
    pd = [n for n in gd.nodes if n.params]
    count_s, count_d = defaultdict(int), defaultdict(int)
    for n in ps:
        count_s[us[n.id]] += 1
    for n in pd:
        count_d[ud[n.id]] += 1
    by_label = {ud[n.id]: n for n in pd if count_d[ud[n.id]] == 1}
    partner: dict[int, Node] = {}
    used: set[int] = set()
    for n in ps:
        if count_s[us[n.id]] == 1 and us[n.id] in by_label and _signature(by_label[us[n.id]]) == _signature(n):
            partner[n.id] = by_label[us[n.id]]
            used.add(partner[n.id].id)
    words_s, words_d = _Words(gs), _Words(gd)
    for n in ps:
        if n.id in partner:
            continue
        c = next((m for m in pd if m.id not in used and _signature(m) == _signature(n)), None)
        if c is None:
            shapes = ", ".join(f"{p['role'] or 'weight'} {tuple(p['shape'])}" for p in n.params)
            raise ValueError(f"cannot pair the weights: your model has no op like the reference's "
                             f"{words_s.name(n.id, article='')} ({shapes})")
        partner[n.id] = c
        used.add(c.id)
    extra = [m for m in pd if m.id not in used]
    if extra:
        raise ValueError(f"cannot pair the weights: the reference has nothing like your {words_d.name(extra[0].id)}"
                         + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    pairs: list[tuple[str, str]] = []
    for n in ps:
        m = partner[n.id]
        a, b = list(n.params), list(m.params)
        roles_a, roles_b = sorted(p["role"] for p in a), sorted(p["role"] for p in b)
        if roles_a == roles_b and len(set(roles_a)) == len(roles_a):
            b = [next(q for q in b if q["role"] == p["role"]) for p in a]
        else:
            rest = list(b)
            ordered = []
            for p in a:
                q = next((q for q in rest if q["shape"] == p["shape"]), None)
                if q is None:
                    raise ValueError(f"cannot pair the weights of {words_d.name(m.id)}")
                rest.remove(q)
                ordered.append(q)
            b = ordered
        for p, q in zip(a, b):
            if p["shape"] != q["shape"]:
                raise ValueError(f"cannot pair the weights: {words_d.name(m.id)} has a {q['role'] or 'weight'} of "
                                 f"shape {tuple(q['shape'])}, expected {tuple(p['shape'])}")
            if (p["name"], q["name"]) not in pairs:
                pairs.append((p["name"], q["name"]))
    return pairs


def pair_by_name(src: dict, dst: dict) -> list[tuple[str, str]]:
    """Pair two models' weights given as {name: shape} in creation order: by name where both
    have it with the same shape, the rest in creation order with matching shapes (a torch
    `num_batches_tracked` counter is no weight). Raises ValueError when they cannot be paired."""
    skip = lambda n: n.endswith("num_batches_tracked")  # noqa: E731
    s = {n: list(v) for n, v in src.items() if not skip(n)}
    d = {n: list(v) for n, v in dst.items() if not skip(n)}
    pairs = [(n, n) for n in s if n in d and d[n] == s[n]]
    taken = {n for n, _ in pairs}
    rest_s = [n for n in s if n not in taken]
    rest_d = [n for n in d if n not in taken]
    if len(rest_s) != len(rest_d):
        raise ValueError(f"cannot pair the weights: {len(s)} tensors expected, the model has {len(d)}"
                         + (f" (unpaired: {', '.join((rest_d or rest_s)[:3])})" if rest_d or rest_s else ""))
    for a, b in zip(rest_s, rest_d):
        if s[a] != d[b]:
            raise ValueError(f"cannot pair the weights: `{b}` has shape {tuple(d[b])}, expected {tuple(s[a])} "
                             f"(like `{a}`)")
        pairs.append((a, b))
    return pairs


def param_count(nodes, scope: str | None = None, types=None, trainable: bool = True) -> int:
    """The parameters that take part in a traced forward pass (each once, by name): those of
    the ops that ran inside `scope`, of the op kinds `types` (this module's vocabulary),
    trainable only unless `trainable` is False. A parameter registered but never used, or
    one a class merely named like a layer holds, does not count."""
    ns = nodes if nodes and isinstance(nodes[0], Node) else parse(nodes)
    seen: dict[str, int] = {}
    for n in ns:
        if types and n.op not in types:
            continue
        if scope and not in_scope(n, scope):
            continue
        for p in n.params:
            if p["trainable"] or not trainable:
                seen.setdefault(p["name"], _prod(p["shape"]))
    return sum(seen.values())
