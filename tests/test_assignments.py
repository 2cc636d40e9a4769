"""Every assignment end to end, through the real pipeline (sandboxed nbclient kernels, torch
or TensorFlow, CPU): the reference earns every automatic point, the skeleton none, each
one-bug mutant loses exactly its items, and each correct alternative or student-style
variant earns every automatic point. Cases: tests/assignments/<slug>/."""
import pytest
from conftest import SLUGS, assert_only_lost, cases, explain, graded, variants

from grader.result import Status

pytestmark = pytest.mark.slow


def _params(group):
    return [pytest.param(slug, name, id=f"{slug}:{name}") for slug in SLUGS for name in cases(slug).get(group, {})]


@pytest.mark.parametrize("slug", SLUGS)
def test_reference_earns_every_auto_point(slug, tmp_path_factory):
    b = graded(slug, tmp_path_factory)
    r = b["reference"]
    assert r.status == Status.GRADED, r.reason
    assert r.auto_points == pytest.approx(b.a.auto_max), explain(r)


@pytest.mark.parametrize("slug", SLUGS)
def test_skeleton_earns_nothing(slug, tmp_path_factory):
    r = graded(slug, tmp_path_factory)["skeleton"]
    assert r.status in {Status.GRADED, Status.REVIEW}, r.reason
    assert r.auto_points == 0, [(i.id, i.points) for i in r.items if i.points]


@pytest.mark.parametrize("slug,name", _params("mutants"))
def test_mutant_loses_exactly_its_items(slug, name, tmp_path_factory):
    b = graded(slug, tmp_path_factory)
    assert_only_lost(b.a, b[name], set(cases(slug)["mutants"][name]["loses"]))


@pytest.mark.parametrize("slug,name", _params("alternatives") + [
    pytest.param(slug, p.stem, id=f"{slug}:{p.stem}") for slug in SLUGS for p in variants(slug)])
def test_correct_variant_earns_every_auto_point(slug, name, tmp_path_factory):
    b = graded(slug, tmp_path_factory)
    r = b[name]
    assert r.auto_points == pytest.approx(b.a.auto_max), explain(r)


@pytest.mark.parametrize("slug,name", _params("examples"))
def test_bundled_example_loses_its_items(slug, name, tmp_path_factory):
    b = graded(slug, tmp_path_factory)
    assert_only_lost(b.a, b[name], set(cases(slug)["examples"][name]))
