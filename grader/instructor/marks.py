"""The markers' marks for a graded batch, in SQLite (OUT/marks.sqlite, WAL): several markers at
once lose nothing.

- One row per submission and item (`mark`), and each field is changed on its own by
  compare-and-set: a marker's save names the value it replaced, and a save over a value someone
  else changed meanwhile is refused with the current one (no last write wins, on a sheet or on a
  field). Who changed what and when goes to `log`.
- Rubric items per question (`rubric`: "-1: no legend") are defined once and applied by
  reference (`applied`), so changing a rubric item's points changes every submission it was
  applied to: a score is computed when read, never stored.

An item's score: the points typed, or full marks when none were typed and the rubric items
applied deduct (zero when they add), plus the applied rubric items' points, kept in 0..max.
An item is marked once points are typed or a rubric item is applied."""
from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

DB = "marks.sqlite"
FIELDS = ("points", "comment")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mark (
    submission TEXT NOT NULL, item TEXT NOT NULL,
    points REAL, comment TEXT NOT NULL DEFAULT '',
    marker TEXT NOT NULL DEFAULT '', updated REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (submission, item));
CREATE TABLE IF NOT EXISTS rubric (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL, points REAL NOT NULL, text TEXT NOT NULL,
    marker TEXT NOT NULL DEFAULT '', updated REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS applied (
    submission TEXT NOT NULL, item TEXT NOT NULL,
    rubric INTEGER NOT NULL REFERENCES rubric(id) ON DELETE CASCADE,
    marker TEXT NOT NULL DEFAULT '', updated REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (submission, item, rubric));
CREATE TABLE IF NOT EXISTS log (
    at REAL NOT NULL, marker TEXT NOT NULL, submission TEXT NOT NULL DEFAULT '', item TEXT NOT NULL DEFAULT '',
    what TEXT NOT NULL, value TEXT);
"""


@dataclass
class Rubric:
    id: int
    item: str
    points: float
    text: str

    def line(self) -> str:
        return f"{self.points:+g}: {self.text}"


@dataclass
class Mark:
    submission: str
    item: str
    points: float | None = None      # as typed (None: not typed)
    comment: str = ""
    applied: list[int] = field(default_factory=list)
    marker: str = ""
    updated: float = 0.0

    def marked(self) -> bool:
        return self.points is not None or bool(self.applied)

    def score(self, max_points: float, rubric: dict[int, Rubric]) -> float | None:
        if not self.marked():
            return None
        deltas = sum(rubric[r].points for r in self.applied if r in rubric)
        base = self.points if self.points is not None else (max_points if deltas <= 0 else 0.0)
        return round(min(max_points, max(0.0, base + deltas)), 4)

    def feedback(self, rubric: dict[int, Rubric]) -> str:
        """The comment the student reads: the marker's words, then the rubric items applied."""
        return "; ".join([c for c in [self.comment.strip()] if c] + [rubric[r].line() for r in self.applied if r in rubric])


class Conflict(Exception):
    """A save over a value another marker changed meanwhile; `current` is what is stored now."""
    def __init__(self, current: Mark):
        super().__init__("changed by another marker meanwhile")
        self.current = current


def connect(out: Path) -> sqlite3.Connection:
    """A connection to OUT/marks.sqlite (made on first use); one per request or thread."""
    con = sqlite3.connect(Path(out) / DB, timeout=30, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA busy_timeout = 30000")
    con.execute("PRAGMA foreign_keys = ON")
    if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        con.execute("PRAGMA journal_mode = WAL")
    con.executescript(_SCHEMA)
    return con


def opened(out: Path):
    """`with marks.opened(out) as con:` a connection, closed after."""
    return contextlib.closing(connect(out))


def _log(con, marker: str, submission: str, item: str, what: str, value) -> None:
    con.execute("INSERT INTO log VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), marker, submission, item, what, None if value is None else str(value)))


def marks(con, submission: str | None = None, item: str | None = None) -> dict[tuple[str, str], Mark]:
    """(submission, item) -> Mark, for the rows that exist (optionally one submission or item)."""
    where, args = [], []
    for col, v in (("submission", submission), ("item", item)):
        if v is not None:
            where.append(f"{col} = ?")
            args.append(v)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    out = {(r[0], r[1]): Mark(*r) for r in con.execute(
        f"SELECT submission, item, points, comment, '', marker, updated FROM mark{cond}", args)}
    for m in out.values():
        m.applied = []
    for s, i, rid in con.execute(f"SELECT submission, item, rubric FROM applied{cond} ORDER BY rubric", args):
        out.setdefault((s, i), Mark(s, i)).applied.append(rid)
    return out


def mark(con, submission: str, item: str) -> Mark:
    return marks(con, submission, item).get((submission, item)) or Mark(submission, item)


def set_field(con, submission: str, item: str, name: str, value, expected, marker: str) -> Mark:
    """Set one field of one item's mark if it still holds `expected` (what the marker's page
    showed); otherwise raise Conflict with the stored mark. Setting it to what it holds is fine."""
    if name not in FIELDS:
        raise ValueError(f"no field {name!r}")
    con.execute("BEGIN IMMEDIATE")
    try:
        con.execute("INSERT OR IGNORE INTO mark (submission, item) VALUES (?, ?)", (submission, item))
        now = con.execute(f"SELECT {name} FROM mark WHERE submission = ? AND item = ?", (submission, item)).fetchone()[0]
        if now != expected and now != value:
            con.execute("ROLLBACK")
            raise Conflict(mark(con, submission, item))
        if now != value:
            con.execute(f"UPDATE mark SET {name} = ?, marker = ?, updated = ? WHERE submission = ? AND item = ?",
                        (value, marker, time.time(), submission, item))
            _log(con, marker, submission, item, name, value)
        con.execute("COMMIT")
    except sqlite3.Error:
        con.execute("ROLLBACK")
        raise
    return mark(con, submission, item)


def rubric(con, item: str | None = None) -> dict[int, Rubric]:
    q = "SELECT id, item, points, text FROM rubric" + (" WHERE item = ?" if item is not None else "") + " ORDER BY id"
    return {r[0]: Rubric(*r) for r in con.execute(q, (item,) if item is not None else ())}


def add_rubric(con, item: str, points: float, text: str, marker: str) -> Rubric:
    cur = con.execute("INSERT INTO rubric (item, points, text, marker, updated) VALUES (?, ?, ?, ?, ?)",
                      (item, points, text, marker, time.time()))
    _log(con, marker, "", item, f"rubric {cur.lastrowid} added", f"{points:g}: {text}")
    return Rubric(cur.lastrowid, item, points, text)


def edit_rubric(con, rid: int, points: float, text: str, marker: str) -> list[str]:
    """Change a rubric item; the submissions it is applied to (their scores follow)."""
    con.execute("UPDATE rubric SET points = ?, text = ?, marker = ?, updated = ? WHERE id = ?",
                (points, text, marker, time.time(), rid))
    _log(con, marker, "", "", f"rubric {rid} changed", f"{points:g}: {text}")
    return [r[0] for r in con.execute("SELECT submission FROM applied WHERE rubric = ? ORDER BY submission", (rid,))]


def delete_rubric(con, rid: int, marker: str) -> list[str]:
    applied = [r[0] for r in con.execute("SELECT submission FROM applied WHERE rubric = ?", (rid,))]
    con.execute("DELETE FROM rubric WHERE id = ?", (rid,))
    _log(con, marker, "", "", f"rubric {rid} deleted", None)
    return applied


def apply(con, submission: str, item: str, rid: int, on: bool, marker: str) -> Mark:
    if on:
        con.execute("INSERT OR IGNORE INTO applied VALUES (?, ?, ?, ?, ?)", (submission, item, rid, marker, time.time()))
    else:
        con.execute("DELETE FROM applied WHERE submission = ? AND item = ? AND rubric = ?", (submission, item, rid))
    _log(con, marker, submission, item, f"rubric {rid} {'applied' if on else 'removed'}", None)
    return mark(con, submission, item)


def seed(con, graded) -> int:
    """Marks already in the batch's result.json files (a merged sheet) where this database has
    no row for them yet; the number added. Once marking happens here, the database is the source."""
    have = {(r[0], r[1]) for r in con.execute("SELECT submission, item FROM mark UNION SELECT submission, item FROM applied")}
    rows = [(g.name, it.id, it.points, it.comment, "result.json", time.time())
            for g in graded for it in g.result.items
            if it.kind != "auto" and it.marked and (g.name, it.id) not in have]
    con.executemany("INSERT OR IGNORE INTO mark VALUES (?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def rows(con, graded) -> list[dict]:
    """What the database says to merge: a row per marked item, as a filled sheet would have
    it (`submission`, `item`, `points` (the score), `comment` (with the rubric items applied))."""
    rub = rubric(con)
    maxima = {(g.name, it.id): it.max_points for g in graded for it in g.result.items}
    out = []
    for (s, i), m in sorted(marks(con).items()):
        if (s, i) in maxima and m.marked():
            out.append({"submission": s, "item": i, "points": f"{m.score(maxima[(s, i)], rub):g}",
                        "comment": m.feedback(rub)})
    return out
