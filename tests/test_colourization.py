"""colourization-cifar10 end to end: reference, skeleton, an alternative correct solution,
mutants and the bundled examples, all through the real pipeline (nbclient kernels, torch),
in one module-scoped batch."""
import json

import pytest

from conftest import ROOT, assert_only_lost, grade_all, write_mutants

pytestmark = pytest.mark.slow
SLUG = "colourization-cifar10"
REF = ROOT / "reference" / SLUG / "solution.py"
EXAMPLES = ROOT / "assignments" / SLUG / "examples"

UNET_FORWARD = ("out4 = self.upconv2(torch.cat([out3, out1], dim=1))\n"
                "        return self.finalconv(torch.cat([out4, x], dim=1))")

# name -> (list of (anchor in the reference, replacement), items that must lose points)
MUTANTS = {
    # 4.1: BatchNorm before the max-pool in the first block (same function: only the order is wrong)
    "pool-bn-before-maxpool": ([("nn.MaxPool2d(kernel_size=2),\n            nn.BatchNorm2d(NF),",
                                 "nn.BatchNorm2d(NF),\n            nn.MaxPool2d(kernel_size=2),")], {"4.1"}),
    # 4.1: the third block's ReLU missing from forward's path (a different function, same shapes)
    "pool-forward-skips-upconv1-relu": ([("        out3 = self.upconv1(out2)\n        out4 = self.upconv2(out3)\n"
                                          "        return self.finalconv(out4)\n        # END SOLUTION\n\n\n"
                                          "# %% [markdown]\n# ## 4.3",
                                          "        out3 = self.upconv1[:3](out2)\n        out4 = self.upconv2(out3)\n"
                                          "        return self.finalconv(out4)\n        # END SOLUTION\n\n\n"
                                          "# %% [markdown]\n# ## 4.3")], {"4.1"}),
    # 5.1: transposed convolutions without output_padding (8 -> 15 -> 29)
    "convt-no-output-padding": ([("output_padding = 2 * convt_padding - kernel + 2   # 1 for kernel 3",
                                  "output_padding = 0")], {"5.1"}),
    # 6.1: no skip connections at all
    "unet-without-skips": ([("nn.ConvTranspose2d(2 * NF, NC, kernel_size=kernel",
                             "nn.ConvTranspose2d(NF, NC, kernel_size=kernel"),
                            ("nn.Conv2d(NC + NIC, NC, kernel_size=kernel", "nn.Conv2d(NC, NC, kernel_size=kernel"),
                            (UNET_FORWARD, "out4 = self.upconv2(out3)\n        return self.finalconv(out4)")], {"6.1"}),
    # 6.1: a skip from the wrong layer: every shape and parameter count is right
    "unet-skip-from-wrong-layer": ([("torch.cat([out3, out1], dim=1)", "torch.cat([out3, out3], dim=1)")], {"6.1"}),
    # 4.3: connections of the second convolution counted at 8x8 instead of 16x16
    "4.3-wrong-connections": ([('"connections": "9216*NIC*NF + 5760*NF**2 + 2304*NF*NC + 9216*NC**2",',
                                '"connections": "9216*NIC*NF + 2304*NF**2 + 2304*NF*NC + 9216*NC**2",')], {"4.3"}),
    # 5.4: no output_padding for kernel 5
    "5.4-kernel5-output-padding-0": ([('"5.4": {4: (1, 1, 0), 5: (2, 2, 1)},', '"5.4": {4: (1, 1, 0), 5: (2, 2, 0)},')],
                                     {"5.4"}),
}

# correct too: either order inside each cat (the contract), 4.3 counting BatchNorm2d
ALTERNATIVE = [
    (UNET_FORWARD, "out4 = self.upconv2(torch.cat([out1, out3], dim=1))\n"
                   "        return self.finalconv(torch.cat([x, out4], dim=1))"),
    ('"weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2",', '"weights": "9*NIC*NF + 36*NF**2 + 9*NF*NC + 9*NC**2 + 8*NF + 2*NC",'),
    ('"outputs": "1600*NF + 1280*NC",', '"outputs": "2240*NF + 2304*NC",'),
]

EXAMPLE_LOSSES = {"colab-unet-without-skips.ipynb": {"6.1"}, "convt-output-padding-0.ipynb": {"5.1", "5.4"}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = write_mutants(tmp_path_factory.mktemp("subs"), REF.read_text(), MUTANTS, ALTERNATIVE)
    skeleton = ROOT / "assignments" / SLUG / "skeleton.ipynb"
    examples = [EXAMPLES / n for n in sorted(EXAMPLE_LOSSES)]
    out = tmp_path_factory.mktemp("out")
    a, res = grade_all(SLUG, [REF, skeleton, *paths, *examples], out)
    return a, res, out


def test_reference_earns_every_auto_point(graded):
    a, res, _ = graded
    r = res["solution.py"]
    assert r.status == "graded"
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks]) for i in r.items]


def test_skeleton_earns_nothing(graded):
    a, res, _ = graded
    r = res["skeleton.ipynb"]
    assert r.status == "graded"
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


def test_alternative_correct_solution_earns_every_auto_point(graded):
    a, res, _ = graded
    r = res["alternative.py"]
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks]) for i in r.items]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_only_its_item(graded, name):
    a, res, _ = graded
    assert_only_lost(a, res[f"{name}.py"], MUTANTS[name][1])


@pytest.mark.parametrize("name", sorted(EXAMPLE_LOSSES))
def test_examples_lose_their_items(graded, name):
    a, res, _ = graded
    assert_only_lost(a, res[name], EXAMPLE_LOSSES[name])


def test_wrong_skip_is_caught_by_behaviour_not_shapes(graded):
    a, res, _ = graded
    checks = {c.name: c for c in res["unet-skip-from-wrong-layer.py"].item("6.1").checks}
    assert checks["block output sizes"].passed and checks["parameter counts"].passed and checks["layers"].passed
    assert not checks["skip connections"].passed


def test_training_curves_attached_and_answers_extracted(graded):
    a, res, out = graded
    folder = out / "colab-unet-without-skips"
    png = folder / "curves.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fb = (folder / "feedback.md").read_text()
    assert "![training curves](curves.png)" in fb
    r = res["colab-unet-without-skips.ipynb"]
    assert set(r.curves) == {"train_pool", "train_convt", "train_unet"}
    for c in r.curves.values():
        assert c["series"]["losses"][-1] < c["series"]["losses"][0] and c["reference"]["losses"]
    assert "horse is often the colour of the grass" in r.item("4.2").answer
    assert "horse is often the colour of the grass" in fb
    assert json.loads((folder / "result.json").read_text())["curves"]
    # the skeleton trains nothing: no figure, no link
    assert not (out / "skeleton" / "curves.png").exists()


def test_manual_items_are_not_scored(graded):
    a, res, _ = graded
    for r in res.values():
        for it in r.items:
            if it.kind == "manual":
                assert it.points == 0 and it.max_points > 0
    assert {it.id for it in a.items if it.manual} == {"4.2", "5.2", "5.3", "6.2", "6.3"}
    assert sum(it.points for it in a.items) == 6
