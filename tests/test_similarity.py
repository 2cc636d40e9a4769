"""Similarity across a batch (grader/instructor/similarity.py): disguised copies of the
references and variants rank above every pair of independent solutions, on every assignment;
the skeleton, the helpers handed out and a skeleton the grader was never given do not count;
the CSV, the HTML page and `closest` are what other tools read. No kernel except in the last
test, which reuses denoising's session batch."""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import SLUGS, graded, variants
from disguise import cells_of, disguise, seeded, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from grader import assignment
from grader.cli import app
from grader.instructor import similarity
from grader.instructor.fingerprints import Source, normalise

DENOISING = "denoising-autoencoder"


def originals(slug: str) -> list[Path]:
    """Independent solutions: the reference and the variants (folders and zips included)."""
    a = assignment.get(slug)
    return [a.reference_path, *variants(slug)]


def disguised_batch(slug: str, folder: Path) -> tuple[list[Path], dict[str, str]]:
    """The skeleton, the originals, and two disguised copies of each file-based original: one
    split into a cell per statement with comments added, one merged into a single cell, bare."""
    a = assignment.get(slug)
    paths, origin = [a.skeleton_path, *originals(slug)], {}
    for i, p in enumerate(originals(slug)):
        if p.suffix not in {".py", ".ipynb"}:
            continue
        for j, (how, suffix, comments, indent) in enumerate([("split", ".ipynb", True, 2), ("merge", ".py", False, 3)]):
            namer, shuffle = seeded(10 * i + j)
            copy = write(disguise(cells_of(p), namer, shuffle, keep=a.names, cells_as=how, comments=comments,
                                  indent=indent), folder / f"{p.stem}-{how}{suffix}")
            paths.append(copy)
            origin[copy.name] = p.name
    return paths, origin


@pytest.mark.parametrize("slug", SLUGS)
def test_every_disguised_copy_ranks_above_every_independent_pair(slug, tmp_path):
    a = assignment.get(slug)
    paths, origin = disguised_batch(slug, tmp_path)
    sim = similarity.compare([similarity.read(p, p.name, a) for p in paths], similarity.shared_code(a))
    assert not [c.problems for c in sim.codes if c.problems]
    root = {n: origin.get(n, n) for n in sim.names}
    pairs = [(p.score, sim.names[p.a], sim.names[p.b]) for p in sim.pairs
             if a.skeleton_path.name not in (sim.names[p.a], sim.names[p.b])]
    copies = [s for s in pairs if root[s[1]] == root[s[2]]]
    independent = [s for s in pairs if root[s[1]] != root[s[2]]]
    assert len(copies) == 3 * len(origin) // 2 and independent
    assert min(copies) > max(independent), (min(copies), max(independent))


@pytest.mark.parametrize("slug", SLUGS)
def test_untouched_skeletons_score_zero_and_code_pasted_into_one_counts(slug, tmp_path):
    """The skeleton as handed out, re-saved in another form (a notebook as a .py script, a
    folder zipped), scores 0 with its copy; the same skeleton with one solution's definitions
    pasted in shares them with that solution and nothing with the bare skeletons."""
    a = assignment.get(slug)
    skel = a.skeleton_path
    if skel.is_dir():
        other = tmp_path / "skeleton.zip"
        with zipfile.ZipFile(other, "w") as z:
            for f in sorted(skel.rglob("*")):
                z.write(f, f.relative_to(skel))
    else:
        other = write(cells_of(skel), tmp_path / "untouched.py")
    solution = next(p for p in originals(slug) if p.suffix == ".py")
    pasted = tmp_path / f"pasted{skel.suffix or '.ipynb'}"
    write(cells_of(skel if skel.is_file() else next(skel.glob("*.ipynb"))) + cells_of(solution), pasted)
    batch = [skel, other, pasted, *originals(slug)]   # 3 of 11+: the batch's threshold alone would keep them
    sim = similarity.compare([similarity.read(p, p.name, a) for p in batch], similarity.shared_code(a))
    assert sim.shared_over >= 3
    score = {(sim.names[p.a], sim.names[p.b]): p for p in sim.pairs}
    untouched = score[skel.name, other.name]
    assert (untouched.score, untouched.shared, untouched.regions) == (0, 0, [])
    assert sim.own[0] == sim.own[1] == 0
    independent = {x.name for x in originals(slug)}
    assert score[pasted.name, solution.name].score > max(p.score for (x, y), p in score.items()
                                                         if x in independent and y in independent)
    assert score[skel.name, pasted.name].score == score[other.name, pasted.name].score == 0


def test_a_skeleton_the_grader_was_never_given_does_not_count():
    """Each independent solution of a batch starts with the same course code the grader does
    not know (the reference's notebook: data loading, training, plots): passages found in more
    than half of the batch do not count, so the pairs score as without it."""
    slug = "pixelcnn-mnist"
    a = assignment.get(slug)
    course = cells_of(a.reference_path)
    plain, padded = [], []
    for p in originals(slug)[1:]:
        own = similarity.sources_of(p, a)[0]
        plain.append(normalise(p.name, own))
        padded.append(normalise(p.name, [Source(f"course [{i}]", c) for i, c in enumerate(course, 1)] + own))
    without = similarity.compare(plain)
    unseen = similarity.compare(padded)
    assert unseen.shared_over < len(padded)
    assert max(p.score for p in unseen.pairs) <= max(p.score for p in without.pairs)
    # without the batch's threshold the course code would make every pair look copied
    assert min(p.score for p in similarity.compare(padded, max_share=len(padded)).pairs) > \
        max(p.score for p in without.pairs)


_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_READ: dict[str, list] = {}


def _codes(slug: str):
    if slug not in _READ:
        a = assignment.get(slug)
        files = [p for p in originals(slug) if p.suffix in {".py", ".ipynb"}]
        _READ[slug] = [files, [cells_of(p) for p in files], [similarity.read(p, p.name, a) for p in originals(slug)],
                       similarity.shared_code(a), a.names]
    return _READ[slug]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), slug=st.sampled_from(SLUGS))
def test_random_renaming_and_reordering_keep_a_copy_above_every_independent_pair(data, slug):
    files, cells, codes, given_code, keep = _codes(slug)
    k = data.draw(st.integers(0, len(files) - 1), label="original")
    cells = disguise(cells[k], lambda old: data.draw(_NAMES, label=f"name for {old}"),
                     lambda xs: data.draw(st.permutations(xs)), keep=keep,
                     cells_as=data.draw(st.sampled_from(["split", "merge", "keep"])),
                     comments=data.draw(st.booleans()), indent=data.draw(st.sampled_from([1, 2, 4, 8])))
    copy = normalise("copy", [Source(f"copy [{i}]", c) for i, c in enumerate(cells, 1)])
    sim = similarity.compare(codes + [copy], given_code)
    original = next(i for i, c in enumerate(codes) if c.name == files[k].name)
    copied = next(p.score for p in sim.pairs if {p.a, p.b} == {original, len(codes)})
    others = [p.score for p in sim.pairs if original not in (p.a, p.b) or len(codes) not in (p.a, p.b)]
    assert copied > max(others)


def test_similarity_command_writes_the_csv_and_an_escaped_page(tmp_path):
    a = assignment.get(DENOISING)
    subs = tmp_path / "subs"
    subs.mkdir()
    for p in originals(DENOISING):
        (shutil.copytree if p.is_dir() else shutil.copy2)(p, subs / p.name)
    source = next(p for p in variants(DENOISING) if p.suffix == ".py")
    write(disguise(cells_of(source), *seeded(1), keep=a.names, cells_as="keep", comments=False),
          subs / "copied <x>.ipynb")
    lines = source.read_text().splitlines()       # markup in a copied passage is shown as text
    at = next(i for i, line in enumerate(lines) if "super" in line)
    (subs / source.name).write_text("\n".join(lines[:at] + [lines[at] + "  # </pre><script>alert(1)</script>"]
                                              + lines[at + 1:]))
    (subs / "broken.ipynb").write_text("{not json")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["similarity", DENOISING, str(subs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out / similarity.CSV, keep_default_na=False)
    names = sorted(p.name for p in subs.iterdir())
    assert list(table.columns) == similarity.COLUMNS
    assert len(table) == len(names) * (len(names) - 1) // 2
    assert sorted(set(table.a) | set(table.b)) == names
    top = table.iloc[0]
    assert {top.a, top.b} == {source.name, "copied <x>.ipynb"} and float(top.score) > 0.9
    regions = json.loads(top.regions)
    assert regions and all(len(r) == 6 and r[1] <= r[2] and r[4] <= r[5] for r in regions)
    broken = table[(table.a == "broken.ipynb") | (table.b == "broken.ipynb")]
    assert (broken.score == "").all() and broken.note.str.contains("not a valid notebook").all()
    assert similarity.closest(out, source.name, n=1) == [("copied <x>.ipynb", float(top.score))]
    assert similarity.closest(out, "broken.ipynb") == [] and similarity.closest(tmp_path, source.name) == []
    page = (out / similarity.HTML).read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page and "copied &lt;x&gt;.ipynb" in page
    assert "broken.ipynb: " in page and "valid notebook" in page


@pytest.mark.slow
def test_grade_with_similarity_writes_beside_grades_csv(tmp_path, tmp_path_factory):
    """A folder of two submissions of denoising's session batch graded again (resumed: no
    kernel) with --similarity: similarity.csv lands in the grade folder, and its names are
    grades.csv's `submission` column."""
    b = graded(DENOISING, tmp_path_factory)
    out, subs = tmp_path / "out", tmp_path / "subs"
    shutil.copytree(b.out, out)
    subs.mkdir()
    example = b.a.directory / "examples" / "zip-decoder-stride.zip"
    for p in (b.a.reference_path, example):
        shutil.copy2(p, subs / p.name)
    before = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    r = CliRunner().invoke(app, ["grade", DENOISING, str(subs), "--out", str(out), "--device", "cpu", "--similarity"])
    assert r.exit_code == 0, r.output
    grades = pd.read_csv(out / "grades.csv")
    table = pd.read_csv(out / similarity.CSV)
    assert len(grades) == 2 and {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == before
    assert len(table) == 1 and {table.a[0], table.b[0]} == set(grades.submission)
    assert table.score[0] > 0.5 and json.loads(table.regions[0])
    assert (out / similarity.HTML).is_file()
    assert similarity.closest(out, example.name) == [(b.a.reference_path.name, table.score[0])]
