"""When each submission was handed in, and the deadline it is measured against.

Three sources, because instructors have different ones: a CSV exported from the course
site (`submission,submitted_at`, ISO-8601 with a timezone), Gradescope's
`submission_metadata.json` (`created_at`), or the files' modification times (what a folder
of downloads still carries). Times without a timezone are refused: a deadline in Hong Kong
and a time read as UTC differ by eight hours of penalty."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import Assignment
from ..totals import minutes_between


class TimesError(ValueError):
    """A time or a times file that cannot be used (the message names the row)."""


def parse(text: str, where: str = "") -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise TimesError(f"{where}{text!r} is not an ISO-8601 time (e.g. 2023-04-03T23:59:00+08:00)") from None
    if t.tzinfo is None:
        raise TimesError(f"{where}{text!r} has no timezone (add +08:00, Z, ...)")
    return t


def read_csv(path: Path) -> dict[str, dt.datetime]:
    """submission name -> time handed in."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise TimesError(f"{path}: {e}") from None
    missing = {"submission", "submitted_at"} - set(df.columns)
    if missing:
        raise TimesError(f"{path}: needs the columns submission,submitted_at (missing: {', '.join(sorted(missing))})")
    out: dict[str, dt.datetime] = {}
    for n, row in enumerate(df.itertuples(index=False), start=2):
        name = row.submission.strip()
        if not name:
            raise TimesError(f"{path} row {n}: no submission name")
        if name in out:
            raise TimesError(f"{path} row {n}: {name!r} is listed twice")
        out[name] = parse(row.submitted_at, f"{path} row {n}: ")
    return out


def gradescope_created_at(path: Path) -> dt.datetime:
    """The submission time in Gradescope's submission_metadata.json."""
    try:
        meta = json.loads(Path(path).read_text())
        return parse(meta["created_at"], f"{path}: created_at ")
    except (OSError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, TimesError):
            raise
        raise TimesError(f"{path}: no usable created_at ({e})") from None


def gradescope_due_date(path: Path) -> dt.datetime | None:
    """The due date Gradescope reports: a student's own (an extension) where it lists one,
    else the assignment's."""
    meta = json.loads(Path(path).read_text())
    for user in meta.get("users") or []:
        due = (user.get("assignment") or {}).get("due_date") if isinstance(user, dict) else None
        if due:
            return parse(due, f"{path}: users[].assignment.due_date ")
    due = (meta.get("assignment") or {}).get("due_date")
    return parse(due, f"{path}: assignment.due_date ") if due else None


def modified(path: Path) -> dt.datetime:
    """A file's modification time; a folder's is its newest file's."""
    path = Path(path)
    stamps = [path.stat().st_mtime]
    if path.is_dir():
        stamps += [p.stat().st_mtime for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    return dt.datetime.fromtimestamp(max(stamps), tz=dt.timezone.utc)


@dataclass
class Times:
    """What `batch.run` asks: how late a submission is (None: unknown, keep what is recorded)."""
    deadline: dt.datetime
    table: dict[str, dt.datetime] | None = None     # None: the files' modification times
    missing: list[str] = field(default_factory=list)

    def submitted_at(self, path: Path, label: str = "") -> dt.datetime | None:
        path = Path(path)
        if self.table is None:
            return modified(path) if path.exists() else None
        for key in (path.name, label, path.stem):
            if key and key in self.table:
                return self.table[key]
        self.missing.append(path.name)
        return None

    def minutes_late(self, path: Path, label: str = "") -> float | None:
        t = self.submitted_at(path, label)
        return None if t is None else minutes_between(self.deadline, t)


def for_batch(assignment: Assignment, csv: Path | None, deadline: str | None) -> Times | None:
    """The `grader grade --times/--deadline` options: --deadline replaces the toml's deadline
    (set per term); without --times the files' modification times are used."""
    if csv is None and deadline is None:
        return None
    due = parse(deadline, "--deadline ") if deadline else (assignment.late.deadline if assignment.late else None)
    if due is None:
        raise TimesError(f"{assignment.slug} has no late policy with a deadline (a `late` table in its toml); pass --deadline")
    return Times(due, read_csv(csv) if csv is not None else None)
