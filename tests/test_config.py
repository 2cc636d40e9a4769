"""assignment.toml is loaded into typed models; mistakes are refused with the file and the key path."""
import copy
import tomllib

import pytest
from conftest import ROOT

from grader import assignment
from grader.config import ConfigError, parse

BASE = {"slug": "x", "framework": "torch", "reference": "r.py", "skeleton": "s.ipynb",
        "items": [{"id": "1", "points": 2, "checks": [
            {"kind": "shape", "target": "Net", "inputs": [[1, 3]], "weight": 1, "output": True}]},
                  {"id": "2", "points": 1, "manual": True}]}


def load(**changes):
    raw = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = raw
        *parts, last = path.split("__")
        for p in parts:
            node = node[int(p)] if p.isdigit() else node[p]
        node[last] = value
    return parse(raw, "x/assignment.toml")


def test_a_valid_file_splits_observe_and_judge_parameters():
    a = load()
    c = a.checks[0]
    assert c.observe.target == "Net" and c.judge.output is True
    assert "output" not in c.observe.model_dump() and "target" not in c.judge.model_dump()
    assert a.auto_max == 2 and a.manual_max == 1 and c.visibility == "public"


@pytest.mark.parametrize("change,where", [
    ({"items__0__checks__0__tagret": "Net"}, "items[0].checks[0].tagret: unknown key"),
    ({"items__0__checks__0__kind": "shapes"}, "items[0].checks[0].kind: unknown check kind 'shapes'"),
    ({"framework": "jax"}, "framework"),
    ({"items__0__points": -1}, "items[0].points"),
    ({"items__0__colour": "red"}, "items[0].colour: unknown key"),
    ({"budget": {"memory_mb": 0}}, "budget.memory_mb"),
    ({"items__0__checks__0__visibility": "secret"}, "items[0].checks[0].visibility"),
    ({"items__1__bonus": True, "items__1__manual": False}, "items[1]"),
    ({"late": {"deadline": "2023-04-14T23:59:00", "per": "minute", "points": 1}}, "late.deadline"),
])
def test_mistakes_name_the_file_and_the_key(change, where):
    with pytest.raises(ConfigError) as e:
        load(**change)
    assert "x/assignment.toml" in str(e.value) and where in str(e.value)


def test_judge_parameters_never_travel_to_the_kernel():
    for a in assignment.all_assignments().values():
        for p in a.plan().values():
            sent = set(p["observe"].model_dump())
            for c in a.checks:
                if c.observe is p["observe"]:
                    assert not sent & set(c.judge.model_dump()), c.id


def test_shared_probes_take_only_probe_parameters():
    raw = copy.deepcopy(BASE)
    raw["probes"] = {"t": {"kind": "training", "fn": "f", "criterion": "falls"}}
    with pytest.raises(ConfigError, match="probes.t.criterion"):
        parse(raw, "x/assignment.toml")
    raw["probes"] = {"t": {"kind": "training", "fn": "f"}}
    raw["items"][0]["checks"] = [{"kind": "training", "probe": "t", "criterion": "falls", "fn": "g"}]
    with pytest.raises(ConfigError, match="a probe parameter"):
        parse(raw, "x/assignment.toml")


def test_bonus_items_are_reported_apart():
    a = assignment.get("jem-cifar10")
    assert a.bonus_max == 9 and a.manual_max == 35 and a.auto_max == 65 and a.total.cap == 100


def test_every_shipped_assignment_loads():
    found = assignment.all_assignments()
    assert set(found) == {p.parent.name for p in (ROOT / "assignments").glob("*/assignment.toml")}
    for a in found.values():
        raw = tomllib.loads(a.toml_path.read_text())
        assert [it["id"] for it in raw["items"]] == [it.id for it in a.items]
