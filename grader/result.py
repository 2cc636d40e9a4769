"""The Result schema (grader.result/2) and the records the pipeline stages pass on."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import Enum

SCHEMA = "grader.result/2"


class Status(str, Enum):
    """Of a submission, or of one item."""
    GRADED = "graded"              # graded in full
    REVIEW = "review"              # a marker must look (integrity, not accepted, fallbacks, ...)
    UNREADABLE = "unreadable"      # the submission could not be read: every item zero
    CRASHED = "crashed"            # the kernel died and could not be brought back
    TIMEOUT = "timeout"            # the time budget ran out
    ERROR = "error"                # the grader's or the assignment author's failure, not the student's
    NOT_ACCEPTED = "not_accepted"  # handed in after the late policy's last accepted time

    def __str__(self) -> str:
        return self.value


@dataclass(kw_only=True)
class CheckResult:
    name: str
    kind: str
    passed: bool
    points: float
    max_points: float
    message: str = ""               # for the student
    visibility: str = "hidden"


@dataclass(kw_only=True)
class ItemResult:
    id: str
    kind: str                       # "auto", "manual" or "bonus" (bonus items are marked by hand)
    points: float
    max_points: float
    title: str = ""
    status: Status = Status.GRADED
    checks: list[CheckResult] = field(default_factory=list)
    answer: str = ""                # manual items: the student's text, extracted for the marker
    marked: bool = False            # manual items: points set by a marker (grader merge)
    comment: str = ""               # manual items: the marker's comment (grader merge), shown in feedback


@dataclass(kw_only=True)
class CellRecord:
    index: int
    status: str                     # ok, error, timeout, crashed, skipped
    seconds: float = 0.0
    ename: str = ""
    evalue: str = ""


@dataclass(kw_only=True)
class Review:
    """Something a marker should look at. `evidence` is for the instructor only."""
    reason: str
    item: str = ""
    evidence: str = ""


@dataclass(kw_only=True)
class Result:
    assignment: str
    submission: str
    submission_sha256: str
    grader_version: str
    fingerprint: str = ""           # the grading fingerprint (resume keys on it)
    device: str = "cpu"
    status: Status = Status.GRADED
    reason: str = ""
    items: list[ItemResult] = field(default_factory=list)
    auto_points: float = 0.0
    auto_max: float = 0.0
    manual_points: float = 0.0
    manual_max: float = 0.0
    bonus_points: float = 0.0
    bonus_max: float = 0.0
    minutes_late: float = 0.0
    late_days_earned: int = 0       # a bonus that earns a late day for a later submission (HKUST 2023)
    late_penalty: float = 0.0
    total: float = 0.0
    review: list[Review] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    cells: list[CellRecord] = field(default_factory=list)
    sandbox: dict = field(default_factory=dict)
    assignment_version: str = ""
    # the grader's own training runs: probe key -> {"title", "series", "reference"}; drawn into curves.png
    curves: dict = field(default_factory=dict)
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        d = asdict(self)
        return {"schema": d.pop("schema"), **_plain(d)}

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        d = {k: v for k, v in d.items() if k in {f.name for f in fields(cls)}}   # a signature is not a field
        d["status"] = Status(d.get("status", "graded"))
        d["items"] = [ItemResult(**{**i, "status": Status(i.get("status", "graded")),
                                    "checks": [CheckResult(**c) for c in i.get("checks", [])]})
                      for i in d.get("items", [])]
        d["cells"] = [CellRecord(**c) for c in d.get("cells", [])]
        d["review"] = [Review(**r) for r in d.get("review", [])]
        return cls(**d)

    def item(self, item_id: str) -> ItemResult:
        return next(i for i in self.items if i.id == item_id)

    def points(self) -> dict[str, float]:
        return {i.id: i.points for i in self.items}

    def flag(self, reason: str, item: str = "", evidence: str = "") -> None:
        if not any(r.reason == reason and r.item == item for r in self.review):
            self.review.append(Review(reason=reason, item=item, evidence=evidence))


def _plain(v):
    if isinstance(v, Enum):
        return v.value
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
