"""colourization-cifar10, fast: the reference's 4.3 formulas (and the BatchNorm-counting
alternatives the toml accepts) against counts taken layer by layer from the real modules,
5.4 against real layers, the weight transfer behind `equivalence`, the one CIFAR reader."""
import itertools
import sys
import tomllib

import numpy as np
import pytest
import torch
from torch import nn

from conftest import ROOT
from grader.checks import equivalence
from grader.expressions import evaluate
from grader.frameworks import torch as fw

SLUG = "colourization-cifar10"
REF_DIR = ROOT / "reference" / SLUG
sys.path.insert(0, str(REF_DIR))
from solution_loader import load_solution  # noqa: E402

S = load_solution(str(REF_DIR / "solution.py"))
POINTS = list(itertools.product([1, 3], [1, 8, 32], [2, 24])) + [(2, 5, 7)]


def layer_counts(model, size, nic, with_bn=False):
    """weights, outputs, connections per image, summed over the convolutions (biases
    ignored), and optionally the BatchNorm2d layers (gamma + beta; one connection per output)."""
    totals = [0, 0, 0]

    def conv_hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        per_output = k * m.in_channels // m.groups
        totals[0] += m.weight.numel()
        totals[1] += out[0].numel()
        totals[2] += per_output * out[0].numel()

    def bn_hook(m, inp, out):
        totals[0] += m.weight.numel() + m.bias.numel()
        totals[1] += out[0].numel()
        totals[2] += out[0].numel()

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if with_bn:
        hooks += [m.register_forward_hook(bn_hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len([m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]) == 5
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, nic, size, size))
    for h in hooks:
        h.remove()
    return totals


def _alternatives():
    raw = tomllib.loads((ROOT / "assignments" / SLUG / "assignment.toml").read_text())
    item = next(i for i in raw["items"] if i["id"] == "4.3")
    return item["checks"][0]["alternatives"]


@pytest.mark.parametrize("nic,nf,nc", POINTS)
def test_43_formulas_match_the_real_modules(nic, nf, nc):
    ans = S.ANSWERS["4.3"]
    alt = _alternatives()
    env = {"NIC": nic, "NF": nf, "NC": nc}
    model = S.PoolUpsampleNet(3, nf, nc, nic)
    for size, suffix in ((32, ""), (64, "_2x")):
        keys = [k + suffix for k in ("weights", "outputs", "connections")]
        assert [evaluate(ans[k], env) for k in keys] == layer_counts(model, size, nic)
        # the accepted BatchNorm-counting answers are what counting BatchNorm2d gives
        assert [evaluate(alt[k][0], env) for k in keys] == layer_counts(model, size, nic, with_bn=True)


@pytest.mark.parametrize("kernel", [4, 5])
def test_54_paddings_keep_figure_1b_shapes(kernel):
    p, tp, op = S.ANSWERS["5.4"][kernel]
    x = torch.zeros(1, 1, 32, 32)
    x = nn.Conv2d(1, 4, kernel, stride=2, padding=p)(x)
    x = nn.Conv2d(4, 8, kernel, stride=2, padding=p)(x)
    assert x.shape[-2:] == (8, 8)
    x = nn.ConvTranspose2d(8, 4, kernel, stride=2, padding=tp, output_padding=op)(x)
    x = nn.ConvTranspose2d(4, 3, kernel, stride=2, padding=tp, output_padding=op)(x)
    assert x.shape[-2:] == (32, 32)


class RenamedUNet(nn.Module):
    """The reference UNet's layers under other names, cats in the other order."""

    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        ref = S.UNet(kernel, num_filters, num_colours, num_in_channels)
        self.a, self.b, self.c, self.d, self.e = ref.conv1, ref.conv2, ref.upconv1, ref.upconv2, ref.finalconv

    def forward(self, x):
        o1 = self.a(x)
        o3 = self.c(self.b(o1))
        o4 = self.d(torch.cat([o1, o3], 1))
        return self.e(torch.cat([x, o4], 1))


class _Ctx:
    def __init__(self, student):
        self.fw, self.seed = fw, 0
        self._student = student

    def get(self, name, reference=False):
        return getattr(S, name) if reference else self._student

    def definition(self, name):
        return self._student


PARAMS = {"target": "UNet", "init": {"kernel": 3, "num_filters": 4, "num_colours": 5, "num_in_channels": 1},
          "inputs": [{"shape": [2, 1, 32, 32], "low": 0.0, "high": 1.0}],
          "permutations": [{"weight": "upconv2.0.weight", "splits": [4, 4]},
                           {"weight": "finalconv.weight", "splits": [5, 1]}]}


def test_equivalence_transfers_by_creation_order_and_accepts_either_cat_order():
    want = equivalence.observe(_Ctx(S.UNet), PARAMS)
    got = equivalence.observe(_Ctx(RenamedUNet), PARAMS)
    assert equivalence.judge(PARAMS, want, want).fraction == 1.0
    assert equivalence.judge(PARAMS, got, want).fraction == 1.0
    # without the permutations the swapped cats compute something else
    plain = {k: v for k, v in PARAMS.items() if k != "permutations"}
    assert equivalence.judge(plain, equivalence.observe(_Ctx(RenamedUNet), plain),
                             equivalence.observe(_Ctx(S.UNet), plain)).fraction == 0.0


def test_transfer_weights_refuses_mismatched_models():
    with pytest.raises(ValueError, match="cannot pair"):
        fw.transfer_weights(S.UNet(3, 4, 5, 1), S.ConvTransposeNet(3, 4, 5, 1))


def test_colourization_reads_cifar_with_the_shared_reader():
    import cifar  # reference/colourization-cifar10/cifar.py
    from grader.datasets import cifar as shared
    assert not hasattr(cifar, "load_batch") and cifar.load_cifar is shared.load_cifar
    train, test = cifar.load_horses()
    assert train.shape == (400, 3, 32, 32) and test.shape == (100, 3, 32, 32) and train.dtype == np.uint8
    (tg, tc), (vg, vc), colours = cifar.prepare()
    assert tg.shape == (400, 1, 32, 32) and tc.dtype == np.int64 and colours.shape == (24, 3)
    # the handout's helper in the solution reads the same data
    (sg, scat), (svg, svc), _ = S.load_colourization_data(str(ROOT / "assignments" / SLUG / "data"))
    assert np.allclose(sg, tg) and np.array_equal(scat, tc)
