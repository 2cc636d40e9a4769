"""The Result schema (grader.result/1) and the dataclasses the pipeline stages pass on."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

SCHEMA = "grader.result/1"


@dataclass
class CheckResult:
    name: str
    kind: str
    passed: bool
    points: float
    max_points: float
    message: str = ""


@dataclass
class ItemResult:
    id: str
    kind: str  # "auto" or "manual"
    points: float
    max_points: float
    title: str = ""
    checks: list[CheckResult] = field(default_factory=list)
    answer: str = ""  # manual items: the student's text, extracted for the marker


@dataclass
class CellRecord:
    index: int
    status: str  # ok, error, timeout, crashed, skipped, partial
    seconds: float = 0.0
    ename: str = ""
    evalue: str = ""


@dataclass
class Result:
    assignment: str
    submission: str
    submission_sha256: str
    grader_version: str
    device: str
    status: str  # graded, unreadable, crashed, timeout
    reason: str = ""
    items: list[ItemResult] = field(default_factory=list)
    auto_points: float = 0.0
    auto_max: float = 0.0
    manual_max: float = 0.0
    late_penalty: float = 0.0
    total: float = 0.0
    timings: dict = field(default_factory=dict)
    cells: list[CellRecord] = field(default_factory=list)
    sandbox: dict = field(default_factory=dict)
    assignment_version: str = ""
    # the grader's own training runs (checks of kind `training`): probe key ->
    # {"title", "series": {name: [floats]}, "reference": {name: [floats]}}; drawn into curves.png
    curves: dict = field(default_factory=dict)
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"schema": d.pop("schema"), **d}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        d = dict(d)
        d["items"] = [
            ItemResult(**{**i, "checks": [CheckResult(**c) for c in i.get("checks", [])]})
            for i in d.get("items", [])
        ]
        d["cells"] = [CellRecord(**c) for c in d.get("cells", [])]
        return cls(**d)

    def item(self, item_id: str) -> ItemResult:
        return next(i for i in self.items if i.id == item_id)

    def points(self) -> dict[str, float]:
        return {i.id: i.points for i in self.items}
