"""colourization-cifar10 in detail. Fast: the reference's 4.3 formulas (and the
BatchNorm-counting alternatives the toml accepts) against counts taken layer by layer from
the real modules, 5.4 against real layers, the weight transfer behind `equivalence`, the one
CIFAR reader. Slow (the session's graded batch): what the feedback says."""
import itertools
import sys

import numpy as np
import pytest
import torch
import inprocess
from conftest import ROOT, graded
from torch import nn

from grader import assignment
from grader.checks import equivalence
from grader.expressions import evaluate
from grader.frameworks import torch as fw

SLUG = "colourization-cifar10"
REF_DIR = ROOT / "reference" / SLUG
sys.path.insert(0, str(REF_DIR))
sys.path.insert(0, str(ROOT / "assignments" / SLUG))
from solution_loader import load_solution

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
    return assignment.get(SLUG).item("4.3").checks[0].judge.alternatives


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


def pair(student, o):
    """(the student's UNet's observation, the reference's S.UNet's), through the real runner:
    the reference's run first (its weights recorded), the student's given those weights."""
    return inprocess.pair("equivalence", o, {"UNet": student}, {"UNet": S.UNet})


O = equivalence.Observe(target="UNet", init={"kernel": 3, "num_filters": 4, "num_colours": 5, "num_in_channels": 1},
                        inputs=[{"shape": [2, 1, 32, 32], "low": 0.0, "high": 1.0}],
                        permutations=[{"weight": "upconv2.0.weight", "splits": [4, 4]},
                                      {"weight": "finalconv.weight", "splits": [5, 1]}])
J = equivalence.Judge()


def test_equivalence_transfers_by_creation_order_and_accepts_either_cat_order():
    got, want = pair(RenamedUNet, O)
    assert equivalence.judge(O, J, want, want).fraction == 1.0
    assert equivalence.judge(O, J, got, want).fraction == 1.0
    # without the permutations the swapped cats compute something else
    plain = O.model_copy(update={"permutations": []})
    assert equivalence.judge(plain, J, *pair(RenamedUNet, plain)).fraction == 0.0


def test_counts_written_out_layer_by_layer_are_accepted():
    """4.3 in the unsimplified form students write (a product per layer, summed: ~90 syntax
    nodes) is compared by evaluation like any other form."""
    from grader.checks import answer
    item = assignment.get(SLUG).item("4.3").checks[0]
    longhand = {
        "weights": "9*NIC*NF + 9*NF*2*NF + 9*2*NF*NF + 9*NF*NC + 9*NC*NC",
        "outputs": "32*32*NF + 16*16*2*NF + 8*8*NF + 16*16*NC + 32*32*NC",
        "connections": "9*NIC*32*32*NF + 9*NF*16*16*2*NF + 9*2*NF*8*8*NF + 9*NF*16*16*NC + 9*NC*32*32*NC",
        "weights_2x": "9*NIC*NF + 9*NF*2*NF + 9*2*NF*NF + 9*NF*NC + 9*NC*NC",
        "outputs_2x": "64*64*NF + 32*32*2*NF + 16*16*NF + 32*32*NC + 64*64*NC",
        "connections_2x": "9*NIC*64*64*NF + 9*NF*32*32*2*NF + 9*2*NF*16*16*NF + 9*NF*32*32*NC + 9*NC*64*64*NC",
    }
    assert answer.judge(item.observe, item.judge, longhand, S.ANSWERS["4.3"]).fraction == 1.0
    wrong = dict(longhand, connections=longhand["connections"].replace("9*2*NF*8*8*NF", "9*2*NF*8*8"))
    assert answer.judge(item.observe, item.judge, wrong, S.ANSWERS["4.3"]).fraction < 1.0


def test_transfer_weights_refuses_mismatched_models():
    with pytest.raises(ValueError, match="cannot pair"):
        fw.transfer_weights(S.UNet(3, 4, 5, 1), S.ConvTransposeNet(3, 4, 5, 1))


def test_colourization_reads_cifar_with_the_shared_reader():
    import cifar  # assignments/colourization-cifar10/cifar.py

    from grader.datasets import cifar as shared
    assert not hasattr(cifar, "load_batch") and cifar.load_cifar is shared.load_cifar
    train, test = cifar.load_horses()
    assert train.shape == (400, 3, 32, 32) and test.shape == (100, 3, 32, 32) and train.dtype == np.uint8
    (tg, tc), (vg, vc), colours = cifar.prepare()
    assert tg.shape == (400, 1, 32, 32) and tc.dtype == np.int64 and colours.shape == (24, 3)
    # the handout's helper in the solution reads the same data
    (sg, scat), (svg, svc), _ = S.load_colourization_data(str(ROOT / "assignments" / SLUG / "data"))
    assert np.allclose(sg, tg) and np.array_equal(scat, tc)


@pytest.mark.slow
def test_wrong_skip_is_caught_by_behaviour_not_shapes(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    checks = {c.name: c for c in b["unet-skip-from-wrong-layer"].item("6.1").checks}
    assert checks["block output sizes"].passed and checks["parameter counts"].passed
    # the traced data flow sees which tensors feed the concatenation; so do the outputs
    assert not checks["layers"].passed and "cat" in checks["layers"].message
    assert not checks["skip connections"].passed


@pytest.mark.slow
def test_training_curves_attached_and_answers_extracted(tmp_path_factory):
    import json
    b = graded(SLUG, tmp_path_factory)
    folder = b.out / "colab-unet-without-skips"
    png = folder / "curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fb = (folder / "feedback.md").read_text()
    assert "![training curves](curves.png)" in fb
    r = b["colab-unet-without-skips.ipynb"]
    assert set(r.curves) == {"train_pool", "train_convt", "train_unet"}
    for c in r.curves.values():
        assert c["series"]["losses"][-1] < c["series"]["losses"][0] and c["reference"]["losses"]
    assert "horse is often the colour of the grass" in r.item("4.2").answer
    assert "horse is often the colour of the grass" in fb
    assert json.loads((folder / "result.json").read_text())["curves"]
    # the marker's view: the notebook as submitted beside the result, and the item's cells found in it
    from grader.instructor import pages
    nb, note = pages.notebook(folder)
    assert note == "" and nb.cells[18].source.startswith("### 4.2")
    shown = pages.answers(b.a, r, nb, only="4.2")[0]
    assert shown.found.cells == [15, 16, 17, 18] and shown.found.certain
    assert "colour of the grass" in shown.cells[-1].html
    # the skeleton trains nothing: no figure, no link
    assert not (b.out / "skeleton" / "curves.png").exists()


@pytest.mark.slow
def test_manual_items_are_not_scored(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    for r in b.results.values():
        for it in r.items:
            if it.kind == "manual":
                assert it.points == 0 and it.max_points > 0
    assert {it.id for it in b.a.items if it.manual} == {"4.2", "5.2", "5.3", "6.2", "6.3"}


@pytest.mark.slow
def test_a_model_that_cannot_train_loses_only_the_training_checks(tmp_path_factory):
    """The output cut from the autograd graph: every shape, layer and weight is right, so only
    the grader's training run sees it (degenerate for training, it earns nothing there)."""
    b = graded(SLUG, tmp_path_factory)
    checks = {c.name: c for c in b["pool-output-detached"].item("4.1").checks}
    assert {n for n, c in checks.items() if not c.passed} == {"validation loss falls", "final validation loss"}

