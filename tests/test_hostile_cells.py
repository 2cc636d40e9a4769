"""A property test over hostile cells: hypothesis draws submissions from a small grammar of
the mechanisms of issue 17 (frames walked through libraries, tensors that lie, rebinding below
the watched functions, parameters that take no part, an ANSWERS that is not a plain dict),
each added to an honest base (denoising's constant decoder), and the batch grades them with
real kernels: no item may go above the base's value. One example of a handful of submissions
graded in one batch keeps it to CI's budget; on a failure hypothesis shrinks to the smallest
combination that breaks the property."""
import pytest
from attacks import STEAL, base_text
from conftest import grade_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

SLUG, BASE = "denoising-autoencoder", "constant-decoder"

# each mechanism: (what it adds at the top of the cell, how the Decoder's forward ends)
FRAMES = {
    "none": "",
    # the clean targets of the grader's training loop from a frame a library hands over
    "logging": "_ROUTE = lambda: logging.currentframe()",
    "traceback": "_ROUTE = lambda: next(iter(traceback.walk_stack(None)))[0]",
    "torch-resolver": "_ROUTE = lambda: __import__('torch')._jit_internal.createResolutionCallbackFromFrame(3)",
    "pydantic": "_ROUTE = lambda: __import__('pydantic')._internal._typing_extra.parent_frame_namespace(parent_depth=3)",
}
TENSORS = {
    "none": "out",
    "shrinking": "out.as_subclass(_Shrinking)",
    "faked-shape": "_faked(out)",
}
REBINDS = {
    "none": "",
    "l1": "torch._C._nn.l1_loss = lambda a, b, *r, **k: (a - b).abs().mean() * 0",
    "tensor-sub": "torch.Tensor.__sub__ = lambda a, b: torch.zeros_like(a)",
    "numpy-abs": "np.abs = lambda a, *r, **k: a * 0",
}
PARAMS = {
    "none": "",
    "unused": "self.spare = nn.Parameter(torch.zeros(123_456))",
}
ANSWERS = {
    "none": "",
    "mapping": "class _A(dict):\n    def __getitem__(self, k):\n        return (32, 16, 64, 64)\nANSWERS = _A(ANSWERS)",
}

PRELUDE = STEAL + """
import numpy as np

class _Shrinking(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        out = super().__torch_function__(func, types, args, kwargs or {})
        return out * 0 if "loss" in getattr(func, "__name__", "") else out

class _Sized(torch.Tensor):
    @property
    def shape(self):
        return torch.Size([torch.Tensor.size(self, 0), 3, 64, 64])

def _faked(t):
    return t.as_subclass(_Sized)

def _target(z):
    try:
        got = _ROUTE()
    except BaseException:
        return None
    spaces = [got] if isinstance(got, dict) else []
    f = got if hasattr(got, "f_back") else None
    while f is not None:
        spaces.append(f.f_locals)
        f = f.f_back
    if callable(got) and not spaces:
        spaces = [{"x": got("x")}]
    for s in spaces:
        x = s.get("x") if isinstance(s, dict) else None
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[0] == z.shape[0]:
            return x
    return None

_ROUTE = lambda: None
"""


def cell(frames: str, tensor: str, rebind: str, params: str, answers: str) -> str:
    return PRELUDE + f"""
{FRAMES[frames]}
{REBINDS[rebind]}
{ANSWERS[answers]}

class Decoder(Decoder):
    def __init__(self, z_dim=64, img_size=64):
        super().__init__(z_dim, img_size)
        {PARAMS[params] or "pass"}

    def forward(self, z):
        stolen = _target(z)
        out = stolen + 0 * self.bias if stolen is not None else super().forward(z)
        return {TENSORS[tensor]}
"""


hostile = st.builds(cell, st.sampled_from(sorted(FRAMES)), st.sampled_from(sorted(TENSORS)),
                    st.sampled_from(sorted(REBINDS)), st.sampled_from(sorted(PARAMS)), st.sampled_from(sorted(ANSWERS)))


@settings(max_examples=1, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(cells=st.lists(hostile, min_size=3, max_size=3, unique=True))
def test_no_hostile_cell_earns_more_than_its_honest_base(cells, tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    base = base_text(SLUG, BASE)
    (folder / "base.py").write_text(base)
    for k, c in enumerate(cells):
        (folder / f"hostile{k}.py").write_text(base + "\n# %%\n" + c.strip() + "\n")
    a, res = grade_all(SLUG, sorted(folder.iterdir()), tmp_path_factory.mktemp("hostile-out"))
    honest = res["base.py"]
    for k in range(len(cells)):
        r = res[f"hostile{k}.py"]
        for it in a.items:
            if not it.manual:
                assert r.item(it.id).points <= honest.item(it.id).points + 1e-6, \
                    (k, it.id, r.item(it.id).points, honest.item(it.id).points, r.review)
