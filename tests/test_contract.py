"""Item ids and points of every assignment.toml against the contract's point tables
(docs/ASSIGNMENTS.md, a copy of the student-facing contract)."""
import re

import pytest
from conftest import ROOT

from grader import assignment

CONTRACT = ROOT / "docs" / "ASSIGNMENTS.md"
SHARED = ROOT.parent / "shared" / "ASSIGNMENTS.md"


def _ids(spec: str) -> list[str]:
    """'Q1-Q3, Q5-Q8' -> Q1 Q2 Q3 Q5 ... ; '1a-1d' -> 1a..1d; 'P (with C9, C11)' -> P-C9, P-C11."""
    m = re.match(r"P \(with (.*)\)", spec)
    if m:
        return [f"P-{x.strip()}" for x in m.group(1).split(",")]
    out = []
    for part in (p.strip() for p in spec.split(",")):
        r = re.fullmatch(r"([A-Z]?)(\d+)([a-z]?)-\1(\d+)([a-z]?)", part)
        if r and r.group(3):                                   # 1a-1d
            out += [f"{r.group(2)}{chr(c)}" for c in range(ord(r.group(3)), ord(r.group(5)) + 1)]
        elif r:                                                # Q1-Q3
            out += [f"{r.group(1)}{n}" for n in range(int(r.group(2)), int(r.group(4)) + 1)]
        else:
            out.append(part)
    return out


def contract_points() -> dict[str, dict[str, object]]:
    """slug -> {item id: points, or (ids...): total for a group the contract prices together}."""
    tables, slug = {}, None
    for line in CONTRACT.read_text().splitlines():
        h = re.match(r"## (\S+) —", line)
        if h:
            slug = h.group(1)
            tables[slug] = {}
            continue
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if slug is None or len(cells) < 2 or cells[0] in {"id", ""} or set(cells[0]) <= {"-"}:
            continue
        ids, pts = _ids(cells[0]), cells[1]
        if pts.endswith("each"):
            tables[slug].update({i: float(pts.split()[0]) for i in ids})
        elif re.fullmatch(r"[\d.]+(\s*[,+]\s*[\d.]+)+", pts):
            values = [float(v) for v in re.split(r"\s*[,+]\s*", pts)]
            assert len(values) == len(ids), line
            tables[slug].update(dict(zip(ids, values)))
        elif len(ids) == 1:
            tables[slug][ids[0]] = float(pts)
        else:
            tables[slug][tuple(ids)] = float(pts)
    return tables


def test_the_copy_is_the_contract():
    if not SHARED.is_file():
        pytest.skip("the shared contract is not beside this checkout")
    assert CONTRACT.read_text() == SHARED.read_text()


@pytest.mark.parametrize("slug", sorted(assignment.all_assignments()))
def test_rubric_ids_and_points_match_the_contract(slug):
    a = assignment.get(slug)
    # bonus items that earn a late day (not points) are not priced by the contract
    mine = {it.id: it.points for it in a.items if not (it.bonus and a.total.bonus == "late_day")}
    table = contract_points()[slug]
    seen = set()
    for ids, pts in table.items():
        group = ids if isinstance(ids, tuple) else (ids,)
        assert set(group) <= set(mine), f"{slug}: the contract's {group} are not all items"
        assert sum(mine[i] for i in group) == pytest.approx(pts), f"{slug}: {group}"
        seen |= set(group)
    assert seen == set(mine), f"{slug}: items the contract does not price: {set(mine) - seen}"


def test_the_parser_reads_every_table():
    t = contract_points()
    assert set(t) == set(assignment.all_assignments())
    assert t["pixelcnn-calligraphy"]["P-C11"] == 4 and t["jem-cifar10"]["B3"] == 3
    assert t["denoising-autoencoder"][("3a", "3b", "3c", "3d", "3e", "3f")] == 30
