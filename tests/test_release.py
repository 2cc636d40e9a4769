"""Students check their work without the answers: skeletons and release bundles hold no
solution line and no answer (the bundle's `grader check` and `grader.check`, from a fresh
venv: tests/test_student.py)."""
import ast
import hashlib
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT

from grader import assignment, names
from grader.config import load

CONTRACT = (ROOT / "docs" / "ASSIGNMENTS.md").read_text()
SLUGS = sorted(assignment.all_assignments())


def solution_lines(reference: Path) -> set[str]:
    """Lines (20 characters or more) inside the reference's solution regions that the given
    code outside them does not also contain."""
    inside, outside, region = set(), set(), False
    for line in reference.read_text().splitlines():
        text = line.strip().lstrip("#").strip()
        if re.match(r"^\s*# BEGIN SOLUTION\s*$", line):
            region = True
        elif re.match(r"^\s*# END SOLUTION\s*$", line):
            region = False
        elif region and not line.strip().startswith("# SKELETON:"):
            if len(text) >= 20:
                inside.add(text)
        elif len(text) >= 20:
            outside.add(text)
    return inside - outside


def texts(folder: Path) -> dict[str, str]:
    """Every text file of a folder (notebooks as their cells' sources and outputs)."""
    out = {}
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    for p in paths:
        if p.suffix in {".py", ".ipynb", ".toml", ".md", ".json", ".txt", ".cfg"}:
            out[str(p)] = p.read_text(errors="replace")
    return out


def _answers(text: str):
    """The leaves of the ANSWERS literal in a skeleton's source (a notebook's JSON included)."""
    if text.lstrip().startswith("{"):
        nb = json.loads(text)
        text = "\n".join("".join(c["source"]) for c in nb.get("cells", []) if c.get("cell_type") == "code")
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    leaves = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ANSWERS" for t in node.targets):
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Constant) and not isinstance(sub.value, str):
                    leaves.append(sub.value)
                elif isinstance(sub, ast.Dict):
                    leaves += [v.value for v in sub.values if isinstance(v, ast.Constant)]
    return leaves


def _flat(text: str) -> str:
    """Without whitespace and the handouts' markdown escapes (use\\_ema)."""
    return re.sub(r"[\s\\]+", "", text)


def assert_no_leak(slug: str, folder: Path) -> None:
    a = assignment.get(slug)
    handout = (Path(__file__).resolve().parents[2] / "shared" / "handouts" / a.handout)
    known = CONTRACT + (handout.read_text() if handout.is_file() else "")
    # a solution line the handout states (the optimizer's parameters, say) gives nothing away
    lines = {line for line in solution_lines(a.reference_path) if _flat(line).rstrip("),:") not in _flat(known)}
    for name, text in texts(folder).items():
        if name.endswith(".json") and "/expectations/" in name:
            continue   # observations of the public probes: data, checked apart
        leaked = sorted(line for line in lines if line in text)
        assert not leaked, f"{name} holds solution lines: {leaked[:3]}"
        for v in _answers(text):
            assert v is None or str(v) in known, f"{name}: ANSWERS holds {v!r}, which the handout does not give"


@pytest.mark.parametrize("slug", SLUGS)
def test_skeletons_leak_no_solution_line_and_no_answer(slug):
    a = assignment.get(slug)
    assert solution_lines(a.reference_path), "the reference has no solution regions"
    assert_no_leak(slug, a.skeleton_path)


def test_solution_regions_in_markdown_are_stripped_too():
    from grader import skeleton
    text = ("# %% [markdown]\n# ## 4.3\n# BEGIN SOLUTION\n# SKELETON: # Your counts go in ANSWERS.\n"
            "# | conv1 | 9 NIC NF | 1024 NF |\n# END SOLUTION\n")
    out = skeleton.strip(text)
    assert "9 NIC NF" not in out and "# Your counts go in ANSWERS." in out


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_a_bundle_holds_no_reference_and_no_hidden_expectation(slug, student_bundle):
    a = assignment.get(slug)
    b = student_bundle / a.slug
    assert_no_leak(a.slug, b)
    ref_hashes = {hashlib.sha256(p.read_bytes()).hexdigest() for p in a.reference_dir.rglob("*") if p.is_file()}
    for p in b.rglob("*"):
        if p.is_file():
            assert hashlib.sha256(p.read_bytes()).hexdigest() not in ref_hashes, f"{p} is a reference file"
    assert not (b / "examples").exists()
    public = sorted({c.probe for c in a.checks if c.visibility == "public"})
    hidden = {c.probe for c in a.checks if c.visibility == "hidden"}
    assert json.loads((b / "expectations" / "index.json").read_text()) == public
    assert not any((b / "expectations" / f"{k}.json").exists() for k in hidden)
    shipped = load(b)
    assert all(c.visibility == "public" for c in shipped.checks) and shipped.reference_dir is None
    assert {it.id for it in shipped.items} == {it.id for it in a.items}
    # the contract (kinds and signatures, as in the skeleton) travels, so that check calls as grade does
    assert names.contract(shipped) == names.contract(a)
