"""What a student's self-check says, item by item, from the judged items: one source for
`grader check`'s table and `grader.check`'s text and HTML in a notebook. Only the public
checks count here; the rest is said to be checked when the instructor grades."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import Assignment
from ..result import ItemResult


@dataclass
class Row:
    item: str
    points: float | None            # None: not checked here (marked by hand, or only when graded)
    max_points: float               # of the public checks; of the whole item where points is None
    failed: list[str] = field(default_factory=list)     # "check: message", per public check that failed
    note: str = ""                  # why not checked here, or how much is checked when graded

    @property
    def state(self) -> str:
        if self.points is None:
            return "later"
        return "pass" if self.points >= self.max_points else ("partial" if self.points > 0 else "fail")

    @property
    def score(self) -> str:
        return f"{'–' if self.points is None else f'{self.points:g}'} / {self.max_points:g}"

    @property
    def message(self) -> str:
        """One line: what failed (or ok) and the note."""
        if self.points is None:
            return self.note
        return ("; ".join(self.failed) or "ok") + (f" ({self.note})" if self.note else "")


@dataclass
class Feedback:
    rows: list[Row]
    got: float = 0.0
    possible: float = 0.0
    later: float = 0.0              # automatic points checked only when the instructor grades

    @property
    def total(self) -> str:
        return f"public checks: {self.got:g} / {self.possible:g} automatic points" + \
            (f"; {self.later:g} more are checked when your instructor grades" if self.later else "")


def summarize(items: list[ItemResult], assignment: Assignment, answers: bool = True) -> Feedback:
    """`answers`: whether the manual items' answer text was looked for (a saved notebook was read)."""
    out = Feedback([])
    for it in items:
        public = [c for c in it.checks if c.visibility == "public"]
        if it.kind != "auto":
            note = "marked by hand" + ("; no answer text found" if answers and not it.answer else "")
            out.rows.append(Row(it.id, None, it.max_points, note=note))
            continue
        if not public:
            out.later += it.max_points
            out.rows.append(Row(it.id, None, it.max_points, note="checked when your instructor grades"))
            continue
        pts, mx = sum(c.points for c in public), sum(c.max_points for c in public)
        out.got, out.possible, out.later = out.got + pts, out.possible + mx, out.later + it.max_points - mx
        hidden = len(public) < len(it.checks) or assignment.item(it.id).later
        out.rows.append(Row(it.id, pts, mx, [f"{c.name}: {c.message}" for c in public if not c.passed],
                            f"+{it.max_points - mx:g} checked when graded" if hidden else ""))
    return out
