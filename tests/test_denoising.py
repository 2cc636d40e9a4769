"""The denoising auto-encoder end to end: reference, skeleton, an alternative correct
solution and mutants, all through the real pipeline (nbclient kernels, torch)."""
from pathlib import Path

import pytest

from conftest import ROOT, assert_only_lost, auto_items, grade_all, write_mutants

pytestmark = pytest.mark.slow
SLUG = "denoising-autoencoder"
REF = ROOT / "reference" / SLUG / "models.py"

# name -> (anchor in the reference, replacement, items that must lose points)
MUTANTS = {
    "no-batchnorm": ("nn.Linear(n_in, z_dim), nn.BatchNorm1d(z_dim), nn.ReLU()", "nn.Linear(n_in, z_dim), nn.ReLU()", {"2a"}),
    "relu-output": ("nn.Linear(z_dim, z_dim), nn.Tanh()", "nn.Linear(z_dim, z_dim), nn.ReLU()", {"2a"}),
    "hidden-256-wide": ("nn.Linear(n_in, z_dim), nn.BatchNorm1d(z_dim), nn.ReLU())\n        self.output_layer = nn.Sequential(nn.Linear(z_dim, z_dim)",
                        "nn.Linear(n_in, 256), nn.BatchNorm1d(256), nn.ReLU())\n        self.output_layer = nn.Sequential(nn.Linear(256, z_dim)", {"2a"}),
    "layer2-stride-1": ("self.layer2 = block(128, 64, 3, 2)", "self.layer2 = block(128, 64, 3, 1)", {"2b"}),
    "layer5-conv-3x3": ("nn.Conv2d(32, 3, 1, stride=1, padding=0)", "nn.Conv2d(32, 3, 3, stride=1, padding=1)", {"2b"}),
    "forward-skips-layer5": ("        return self.layer5(x)", "        return x", {"2b"}),
    "1a-no-padding": ("nn.Conv2d(3, 16, 3, stride=1, padding=1), (32, 3, 64, 64)", "nn.Conv2d(3, 16, 3, stride=1, padding=0), (32, 3, 64, 64)", {"1a"}),
    "1b-wrong-channels": ("nn.ConvTranspose2d(128, 128, 3, stride=1, padding=0)", "nn.ConvTranspose2d(128, 64, 3, stride=1, padding=0)", {"1b"}),
    "1c-padding-1": ("nn.ConvTranspose2d(64, 32, 5, stride=2, padding=0)", "nn.ConvTranspose2d(64, 32, 5, stride=2, padding=1)", {"1c"}),
    "1d-without-bias": ("nn.Conv2d(3, 16, 3).parameters()", "nn.Conv2d(3, 16, 3, bias=False).parameters()", {"1d"}),
    "decoder-output-x10": ("        return self.layer5(x)", "        return self.layer5(x) * 10", {"3c"}),
}

# a different but correct solution: LeakyReLU, flatten, no activation inside layer5
ALTERNATIVE = [
    ("nn.ConvTranspose2d(c_in, c_out, k_up, stride=stride), nn.BatchNorm2d(c_out), nn.ReLU(),\n"
     "                nn.Conv2d(c_out, c_out, 3, stride=1, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())",
     "nn.ConvTranspose2d(c_in, c_out, k_up, stride=stride), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2),\n"
     "                nn.Conv2d(c_out, c_out, 3, stride=1, padding=1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))"),
    ("nn.ConvTranspose2d(32, 32, 2, stride=1), nn.ReLU(),", "nn.ConvTranspose2d(32, 32, 2, stride=1),"),
    ("x = x.view(x.size(0), -1)", "x = torch.flatten(x, 1)"),
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    paths = write_mutants(tmp_path_factory.mktemp("subs"), REF.read_text(), MUTANTS, ALTERNATIVE)
    skeleton = ROOT / "assignments" / SLUG / "skeleton"
    return grade_all(SLUG, [REF, skeleton, *paths], tmp_path_factory.mktemp("out"))


def test_reference_earns_every_auto_point(graded):
    a, res = graded
    r = res["models.py"]
    assert r.status == "graded"
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks]) for i in r.items]


def test_skeleton_earns_nothing(graded):
    a, res = graded
    r = res["skeleton"]
    assert r.status == "graded"
    # 3a-3c included: the reference's models may not stand in for both of the student's
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


def test_alternative_correct_solution_earns_every_auto_point(graded):
    a, res = graded
    r = res["alternative.py"]
    assert r.auto_points == pytest.approx(a.auto_max), [(i.id, [c.message for c in i.checks]) for i in r.items]


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_loses_only_its_item(graded, name):
    a, res = graded
    assert_only_lost(a, res[f"{name}.py"], MUTANTS[name][2])


def test_feedback_and_outputs_written(graded, tmp_path):
    a, res = graded
    r = res["layer2-stride-1.py"]
    msg = " ".join(c.message for c in r.item("2b").checks)
    assert "layer2" in msg and "expected (32, 64, 15, 15)" in msg
    assert r.item("3a").points == r.item("3a").max_points
    assert "stood in" in r.item("3a").checks[0].message


def test_manual_items_are_not_scored(graded):
    a, res = graded
    for r in res.values():
        for it in r.items:
            if it.kind == "manual":
                assert it.points == 0 and it.max_points > 0
    assert {it.id for it in a.items if it.manual} == {"3d", "3e", "3f"}
    assert sum(it.points for it in a.items) == 100
    assert len(auto_items(a)) == 9
