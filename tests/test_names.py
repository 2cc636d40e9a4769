"""Names and layouts students use, through the real pipeline (denoising-autoencoder): a graded
class under another name (found as the one compatible definition, or through --alias), a
package whose modules define the graded names, a graded name defined twice, a missing name
with related code, a package module that does not import. Each is graded as a fair marker
would, and said so in the review column."""
import dataclasses

import pytest
from conftest import explain

from grader import assignment, batch, pipeline
from grader.result import Status

pytestmark = pytest.mark.slow
SLUG = "denoising-autoencoder"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    a = assignment.get(SLUG)
    ref = a.reference_path.read_text()
    d = tmp_path_factory.mktemp("names")
    (d / "one-renamed.py").write_text(ref.replace("class Decoder(", "class TheDecoder("))
    (d / "both-renamed.py").write_text(ref.replace("class Decoder(", "class TheDecoder(")
                                       .replace("class Encoder(", "class MyEncoder("))
    pkg = d / "package"
    (pkg / "mypkg").mkdir(parents=True)
    (pkg / "mypkg" / "__init__.py").write_text("")
    (pkg / "mypkg" / "nets.py").write_text(ref)
    (pkg / "main.py").write_text("# the graded classes live in mypkg/nets.py; nothing here imports them\nx = 1\n")
    broken = d / "broken-package"               # its module does not import: said so, not a silent "not defined"
    (broken / "mypkg").mkdir(parents=True)
    (broken / "mypkg" / "__init__.py").write_text("")
    (broken / "mypkg" / "nets.py").write_text("from mypkg.settings import Z_DIM\n" + ref)
    (broken / "main.py").write_text("x = 1\n")
    (d / "redefined.py").write_text(ref + "\n\n# a tutorial's model pasted below\nclass Encoder(nn.Module):\n"
                                    "    def __init__(self, z_dim=64, img_size=64):\n        super().__init__()\n"
                                    "        self.fc = nn.Linear(3 * img_size * img_size, z_dim)\n\n"
                                    "    def forward(self, x):\n        return self.fc(x.flatten(1))\n")
    (d / "typo.py").write_text(ref.replace("class Decoder(nn.Module):\n    def __init__(self, z_dim=64, img_size=64):",
                                           "class Decodr(nn.Module):\n    def __init__(self, a, b, c, d):"))
    out = tmp_path_factory.mktemp("names-out")
    opts = pipeline.Options(device="cpu")
    results = batch.run(sorted(p for p in d.iterdir() if p.name != "both-renamed.py"), a, out, opts, jobs=2,
                        resume=False, expand_dirs=False)
    aliased = batch.run([d / "both-renamed.py"], a, out / "aliased",
                        dataclasses.replace(opts, aliases={"Encoder": ["MyEncoder"]}), resume=False,
                        expand_dirs=False)
    return a, {r.submission: r for r in results + aliased}


def _reasons(r):
    return " | ".join(f"{x.item}: {x.reason}" for x in r.review)


def test_a_class_under_another_name_is_found_and_said_so(graded):
    a, res = graded
    r = res["one-renamed.py"]
    assert r.auto_points == pytest.approx(a.auto_max), explain(r)
    assert "`TheDecoder` graded as `Decoder`" in _reasons(r)


def test_an_alias_resolves_the_other_one(graded):
    a, res = graded
    r = res["both-renamed.py"]
    assert r.auto_points == pytest.approx(a.auto_max), explain(r)
    assert "`MyEncoder` graded as `Encoder` (an alias)" in _reasons(r) and "`TheDecoder` graded as `Decoder`" in _reasons(r)


def test_a_package_is_imported_and_searched(graded):
    a, res = graded
    r = res["package"]
    assert r.status in {Status.GRADED, Status.REVIEW} and r.auto_points == pytest.approx(a.auto_max), explain(r)
    assert "found in the module mypkg.nets" in _reasons(r)


def test_a_module_that_does_not_import_is_in_the_review_column(graded):
    """Issue 18: a module of the submission's package that fails to import (here: it imports a
    module the package lacks) is named with its error, instead of its definitions being reported
    only as not defined."""
    a, res = graded
    r = res["broken-package"]
    assert r.item("2a").points == 0
    assert "the submission's module mypkg.nets did not import (ModuleNotFoundError" in _reasons(r), _reasons(r)


def test_a_name_defined_twice_is_warned_about(graded):
    a, res = graded
    r = res["redefined.py"]
    assert "`Encoder` is defined 2 times; the last definition" in _reasons(r)
    assert r.item("2a").points < a.item("2a").points       # the last one is what was graded
    assert r.item("2b").points == a.item("2b").points


def test_a_missing_name_with_related_code_goes_to_review(graded):
    a, res = graded
    r = res["typo.py"]
    assert "`Decoder` is not defined; related code: Decodr" in _reasons(r)
    assert r.item("2b").points == 0 and r.item("2a").points == a.item("2a").points
