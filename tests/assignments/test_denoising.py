"""denoising-autoencoder in detail. Fast: traced scopes of sub-modules registered under two
paths (a whole-network Sequential whose blocks are also `layer1`..`layer5`) and of one
activation module shared by every layer. Slow (the session's graded batch): what the
feedback says, the manual 3c with the grader's curve as evidence, package layouts."""
import importlib.util

import pytest
import torch
from conftest import CASES, graded

from grader import graph
from grader.frameworks import torch as fw

SLUG = "denoising-autoencoder"
VARIANTS = CASES / SLUG / "variants"


def _variant(name):
    spec = importlib.util.spec_from_file_location(f"den_{name}", VARIANTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _ops(nodes, scope):
    g = graph.canonical(nodes, scope=scope)
    return None if g is None else [n.op for n in g.body()]


def test_blocks_registered_twice_are_inside_both_names():
    # self.main = nn.Sequential(Unflatten, block1, ..., block5); self.layer1 .. layer5 = self.main[1:]
    mod = _variant("whole_sequential_groupnorm")
    nodes = fw.trace(mod.Decoder(z_dim=16), [torch.randn(2, 16)])
    for k in range(1, 5):
        assert _ops(nodes, f"layer{k}") == _ops(nodes, f"main.{k}") == \
            ["conv_transpose2d", "group_norm", "elu", "conv2d", "group_norm", "elu"]
    assert _ops(nodes, "layer5") == ["conv_transpose2d", "elu", "conv2d", "sigmoid"]
    enc = fw.trace(mod.Encoder(16, 64), [torch.randn(2, 3, 64, 64)])
    assert _ops(enc, "hidden_layer") == ["linear", "batch_norm", "relu"]
    assert _ops(enc, "output_layer") == ["linear", "tanh"]


def test_a_shared_activation_belongs_to_the_layer_it_runs_in():
    # one nn.ReLU registered as `relu` and inside every layer's Sequential
    mod = _variant("shared_relu_reverse_order")
    nodes = fw.trace(mod.Decoder(z_dim=16), [torch.randn(2, 16)])
    assert _ops(nodes, "layer5") == ["conv_transpose2d", "batch_norm", "relu", "conv2d", "sigmoid"]
    assert _ops(nodes, "layer2") == ["conv_transpose2d", "batch_norm", "relu", "conv2d", "batch_norm", "relu"]


@pytest.mark.slow
def test_feedback_names_the_layer_and_the_shape(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    r = b["layer2-stride-1"]
    msg = " ".join(c.message for c in r.item("2b").checks)
    assert "layer2" in msg and "expected (32, 64, 15, 15)" in msg
    assert (b.out / "layer2-stride-1" / "feedback.md").is_file()


@pytest.mark.slow
def test_manual_items_are_not_scored(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    for r in b.results.values():
        assert all(it.points == 0 for it in r.items if it.kind == "manual")
    assert {it.id for it in b.a.items if it.manual} == {"3c", "3d", "3e", "3f"}
    assert b.a.auto_max == 82 and b.a.manual_max == 18


@pytest.mark.slow
def test_convergence_is_the_markers_with_the_graders_curve_as_evidence(tmp_path_factory):
    """3c asks for a comment on convergence: a decoder that converges badly (its output scaled
    by 10) keeps every automatic point; its curve, attached beside the reference's, shows it."""
    b = graded(SLUG, tmp_path_factory)
    r = b["decoder-output-x10"]
    assert r.auto_points == pytest.approx(b.a.auto_max)
    run = r.curves["training"]
    mine, ref = run["series"]["losses"], run["reference"]["losses"]
    assert len(mine) == len(ref) == 24
    assert sum(mine[-5:]) / 5 > 2 * sum(ref[-5:]) / 5
    folder = b.out / "decoder-output-x10"
    assert (folder / "curves.png").is_file()
    assert "![training curves](curves.png)" in (folder / "feedback.md").read_text()
    # the student's own comment is extracted for the marker
    assert "mostly converged" in b["notebook_gelu_no_norm"].item("3c").answer


@pytest.mark.slow
def test_a_degenerate_decoder_earns_no_training_points(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    r = b["decoder-constant-output"]
    assert r.item("3a").points == r.item("3a").max_points and r.item("3b").points == 0
    assert "did not fall" in r.item("3b").checks[0].message


@pytest.mark.slow
def test_packages_are_searched_whether_or_not_the_notebook_imports_them(tmp_path_factory):
    b = graded(SLUG, tmp_path_factory)
    for name in ("package_not_imported", "package_notebook_imports"):
        r = b[name]
        assert r.auto_points == pytest.approx(b.a.auto_max), (name, r.review)
    notes = " | ".join(x.reason for x in b["package_not_imported"].review)
    for n, module in (("Encoder", "mypkg.encoder"), ("Decoder", "mypkg.decoder"), ("ANSWERS", "mypkg.answers")):
        assert f"found in the module {module}" in notes, notes
