"""The instructor's workflow after grading: late policies as the handouts state them, totals
with caps, bonus points and late days, the marksheet round trip, Gradescope and Canvas
exports. Results are built with Result(...) and written by the report stage (signed), so
only the last test runs a kernel."""
import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from grader import assignment, fingerprint, report, totals
from grader.cli import app
from grader.config import ConfigError, parse
from grader.instructor import canvas, gradescope, marking, times
from grader.result import CheckResult, ItemResult, Result, Status
from grader.submission import sha256_of

JEM, CALLIGRAPHY, DENOISING = "jem-cifar10", "pixelcnn-calligraphy", "denoising-autoencoder"


def at(deadline: dt.datetime, days: int, clock: str) -> dt.datetime:
    """A wall-clock time `days` after the deadline's date, in the deadline's timezone."""
    h, m, s = map(int, clock.split(":"))
    return dt.datetime.combine(deadline.date() + dt.timedelta(days=days), dt.time(h, m, s), deadline.tzinfo)


def make_result(a, name: str, auto_fraction: float = 1.0, answers: dict | None = None, **kw) -> Result:
    """A graded Result for assignment `a`: every automatic check earns `auto_fraction` of its
    share; manual and bonus items unmarked."""
    items = []
    for it in a.items:
        if it.manual:
            items.append(ItemResult(id=it.id, kind="bonus" if it.bonus else "manual", points=0.0,
                                    max_points=it.points, title=it.title,
                                    answer=(answers or {}).get(it.id, f"{name}'s answer to {it.id}")))
            continue
        weight = sum(c.weight for c in it.checks)
        checks = [CheckResult(name=c.name, kind=c.kind, passed=auto_fraction >= 1,
                              points=round(it.points * c.weight / weight * auto_fraction, 4),
                              max_points=round(it.points * c.weight / weight, 4),
                              message="" if auto_fraction >= 1 else "wrong", visibility=c.visibility)
                  for c in it.checks]
        items.append(ItemResult(id=it.id, kind="auto", points=round(sum(c.points for c in checks), 4),
                                max_points=it.points, title=it.title, checks=checks))
    r = Result(assignment=a.slug, submission=name, submission_sha256="0" * 64, grader_version="test",
               items=items, auto_max=a.auto_max, manual_max=a.manual_max, bonus_max=a.bonus_max, **kw)
    totals.apply(r, a)
    return r


def write_batch(a, out: Path, results: dict[str, Result]) -> None:
    for name, r in results.items():
        report.write(r, a, out / name)
    report.write_gradebook(list(results.values()), a, out)


# ---- late policies: the handouts' own examples --------------------------------------------------

def test_2023_policy_one_point_per_started_minute():
    a = assignment.get(CALLIGRAPHY)
    policy = a.late
    # "two points will be deducted if the submission time is 00:00:34"
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, at(policy.deadline, 1, "00:00:34"))) == 2
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, at(policy.deadline, 0, "23:59:00"))) == 0
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, at(policy.deadline, 0, "23:59:01"))) == 1
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, at(policy.deadline, 0, "23:00:00"))) == 0
    assert policy.deadline.utcoffset() == dt.timedelta(hours=8)      # Hong Kong time


def test_2025_policy_one_point_per_started_hour_and_two_days_at_most():
    a = assignment.get(JEM)
    policy = a.late
    # "two points will be deducted if the submission time is 01:23:34"
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, at(policy.deadline, 1, "01:23:34"))) == 2
    two_days = policy.deadline + dt.timedelta(hours=48)
    assert totals.accepted(policy, totals.minutes_between(policy.deadline, two_days))
    assert not totals.accepted(policy, totals.minutes_between(policy.deadline, two_days + dt.timedelta(seconds=1)))
    # the same instant written in another timezone is the same lateness
    utc = at(policy.deadline, 1, "01:23:34").astimezone(dt.timezone.utc)
    assert totals.late_penalty(policy, totals.minutes_between(policy.deadline, utc)) == 2


def test_work_past_the_limit_is_not_accepted_and_an_extension_restores_it():
    a = assignment.get(JEM)
    r = make_result(a, "late.ipynb", status=Status.REVIEW)
    past = totals.minutes_between(a.late.deadline, a.late.deadline + dt.timedelta(hours=48, seconds=1))
    assert totals.apply(r, a, past)
    assert r.status == Status.NOT_ACCEPTED and r.total == 0
    assert any(x.reason == totals.NOT_ACCEPTED_REASON for x in r.review)
    # just inside: accepted, one point per started hour
    assert totals.apply(r, a, 48 * 60)
    assert r.status == Status.REVIEW and r.late_penalty == 48 and r.total == r.auto_points - 48
    assert not any(x.reason == totals.NOT_ACCEPTED_REASON for x in r.review)


def test_the_no_policy_assignments_have_no_late_table():
    for slug in (DENOISING, "colourization-cifar10", "pixelcnn-mnist"):
        a = assignment.get(slug)
        assert a.late is None
        r = make_result(a, "x.py")
        totals.apply(r, a, 600)
        assert r.minutes_late == 600 and r.late_penalty == 0 and r.total == a.auto_max


# ---- totals ---------------------------------------------------------------------------------------

def test_jem_bonus_points_recover_lost_points_up_to_the_cap():
    a = assignment.get(JEM)
    assert a.bonus_max == 9 and a.total.bonus == "points"
    r = make_result(a, "a.ipynb", auto_fraction=0.9)
    for it in r.items:
        if it.kind == "manual":
            it.points, it.marked = it.max_points, True
    r.item("B3").points = 3.0
    totals.apply(r, a)
    assert r.bonus_points == 3 and r.manual_points == a.manual_max
    assert r.total == pytest.approx(min(a.total.cap, r.auto_points + a.manual_max + 3))
    for it in r.items:                       # everything full: the cap holds
        it.points = it.max_points
    totals.apply(r, a)
    assert r.total == a.total.cap < a.auto_max + a.manual_max + a.bonus_max
    # late: the penalty comes off the capped total
    totals.apply(r, a, totals.minutes_between(a.late.deadline, at(a.late.deadline, 1, "01:23:34")))
    assert r.late_penalty == 2 and r.total == a.total.cap - 2


def test_calligraphy_bonus_earns_a_late_day_not_points():
    a = assignment.get(CALLIGRAPHY)
    assert a.total.bonus == "late_day" and {i.id for i in a.items if i.bonus} == {"Q9", "Q10"}
    late = totals.minutes_between(a.late.deadline, at(a.late.deadline, 1, "23:59:00") + dt.timedelta(minutes=2,
                                                                                                     seconds=5))
    without = make_result(a, "a.ipynb")
    totals.apply(without, a, late)
    assert without.late_penalty == totals.late_penalty(a.late, late) > 1000 and without.total == 0
    assert without.late_days_earned == 0
    with_bonus = make_result(a, "b.ipynb")
    with_bonus.item("Q9").points, with_bonus.item("Q9").marked = 1.0, True
    totals.apply(with_bonus, a, late)
    # the late day is for a later submission ("one day late in the submission of problem set
    # or project later"): this one's lateness costs the same, and the bonus adds no points
    assert with_bonus.late_days_earned == 1 and with_bonus.bonus_points == 1
    assert with_bonus.late_penalty == without.late_penalty and with_bonus.total == without.total


# ---- submission times ------------------------------------------------------------------------------

def test_times_csv_needs_timezones_and_names_the_row(tmp_path):
    f = tmp_path / "times.csv"
    f.write_text("submission,submitted_at\nalice.ipynb,2025-04-12T01:23:34+08:00\nbob.ipynb,2025-04-12 01:00\n")
    with pytest.raises(times.TimesError, match="row 3.*no timezone"):
        times.read_csv(f)
    f.write_text("submission,submitted_at\nalice.ipynb,2025-04-11T17:23:34Z\n")
    t = times.Times(assignment.get(JEM).late.deadline, times.read_csv(f))
    assert totals.units_late(assignment.get(JEM).late, t.minutes_late(Path("x/alice.ipynb"), "alice")) == 2
    assert t.minutes_late(Path("x/carol.ipynb"), "carol") is None and t.missing == ["carol.ipynb"]
    # --deadline alone: the files' modification times (a folder's newest file)
    folder = tmp_path / "dave"
    folder.mkdir()
    (folder / "a.ipynb").write_text("{}")
    deadline = assignment.get(JEM).late.deadline
    os.utime(folder / "a.ipynb", (deadline.timestamp() + 90, deadline.timestamp() + 90))
    os.utime(folder, (deadline.timestamp() - 600, deadline.timestamp() - 600))
    assert times.Times(deadline).minutes_late(folder, "dave") == 1.5


def test_grade_with_times_applies_penalties_to_resumed_results(tmp_path):
    """`grader grade --times`: already graded submissions are not graded again, but their
    lateness, penalty and total are (the CLI wiring, without a kernel)."""
    a = assignment.get(JEM)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    fp = fingerprint.of(a, "cpu")
    for name in ("alice", "bob"):
        p = subs / f"{name}.ipynb"
        p.write_text(json.dumps({"name": name}))
        r = make_result(a, p.name, fingerprint=fp, device="cpu")
        r.submission_sha256 = sha256_of(p)
        report.write(r, a, out / name)
    csv = tmp_path / "times.csv"
    csv.write_text("submission,submitted_at\nalice.ipynb,2025-04-12T01:23:34+08:00\n"
                   "bob,2025-04-14T00:00:00+08:00\n")
    run = CliRunner().invoke(app, ["grade", JEM, str(subs), "--out", str(out), "--device", "cpu", "--times", str(csv)])
    assert run.exit_code == 0, run.output
    grades = pd.read_csv(out / "grades.csv").set_index("submission")
    assert grades.loc["alice.ipynb", "late_penalty"] == 2
    assert grades.loc["alice.ipynb", "total"] == a.auto_max - 2
    assert grades.loc["bob.ipynb", "status"] == "not_accepted" and grades.loc["bob.ipynb", "total"] == 0
    doc = report.read_signed(out / "alice" / "result.json", out)
    assert doc is not None and doc["late_penalty"] == 2 and doc["minutes_late"] > 60
    assert "2 points deducted" in (out / "alice" / "feedback.md").read_text()
    written = {p: p.read_bytes() for p in out.glob("*/result.json")}
    run = CliRunner().invoke(app, ["grade", JEM, str(subs), "--out", str(out), "--device", "cpu", "--times", str(csv)])
    assert run.exit_code == 0 and {p: p.read_bytes() for p in out.glob("*/result.json")} == written, "nothing new"


# ---- marksheet and merge ----------------------------------------------------------------------------

@pytest.fixture
def jem_batch(tmp_path):
    a = assignment.get(JEM)
    out = tmp_path / "out"
    results = {"alice": make_result(a, "alice.ipynb", answers={"Q3": "<script>alert(1)</script> noise helps"}),
               "bob": make_result(a, "bob.ipynb", auto_fraction=0.5)}
    write_batch(a, out, results)
    (out / "alice" / "loss.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return a, out


def _fill(sheet: Path, marks: dict[tuple[str, str], tuple[float, str]]) -> pd.DataFrame:
    df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    for k, row in df.iterrows():
        if (row["submission"], row["item"]) in marks:
            pts, comment = marks[(row["submission"], row["item"])]
            df.loc[k, "points"], df.loc[k, "comment"] = f"{pts:g}", comment
    df.to_csv(sheet, index=False)
    return df


def test_marksheet_round_trip_changes_only_the_manual_items(jem_batch):
    a, out = jem_batch
    sheet, _ = marking.marksheet(out, JEM)
    df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    hand = [i for i in a.items if i.manual]
    assert list(df.columns) == marking.COLUMNS and len(df) == 2 * len(hand)
    assert set(df["points"]) == {""} and set(df["kind"]) == {"manual", "bonus"}
    assert df.set_index(["submission", "item"]).loc[("bob", "Q4"), "answer"] == "bob.ipynb's answer to Q4"
    page = (out / "alice" / marking.PAGE).read_text()
    assert "&lt;script&gt;" in page and "<script>" not in page and 'src="loss.png"' in page
    before = {n: json.loads((out / n / "result.json").read_text()) for n in ("alice", "bob")}

    marks = {(n, i.id): (i.points / 2, f"{n} {i.id} ok") for n in ("alice", "bob") for i in hand if not i.bonus}
    marks[("bob", "B3")] = (3.0, "nice samples")
    _fill(sheet, marks)
    changed = marking.merge(out, sheet)
    assert {r.submission for r in changed} == {"alice.ipynb", "bob.ipynb"}

    for n in ("alice", "bob"):
        doc = report.read_signed(out / n / "result.json", out)
        assert doc is not None, "merge re-signs what it rewrites"
        old = before[n]
        for it_old, it_new in zip(old["items"], doc["items"]):
            if it_old["kind"] == "auto" or (n, it_old["id"]) not in marks:
                assert it_new == it_old
            else:
                pts, comment = marks[(n, it_old["id"])]
                assert it_new == {**it_old, "points": pts, "marked": True, "comment": comment}
        moved = {k for k in doc if doc[k] != old.get(k)}
        assert moved <= {"items", "manual_points", "bonus_points", "total", "signature"}
        manual = sum(p for (m, i), (p, _) in marks.items() if m == n and not a.item(i).bonus)
        bonus = sum(p for (m, i), (p, _) in marks.items() if m == n and a.item(i).bonus)
        assert doc["total"] == pytest.approx(min(a.total.cap, old["auto_points"] + manual + bonus))
    grades = pd.read_csv(out / "grades.csv").set_index("submission")
    assert list(grades.index) == ["alice.ipynb", "bob.ipynb"]
    assert grades.loc["bob.ipynb", "B3"] == 3 and grades.loc["bob.ipynb", "bonus_points"] == 3
    assert grades.loc["alice.ipynb", "Q4"] == a.item("Q4").points / 2
    assert "alice Q4 ok" in (out / "alice" / "feedback.md").read_text()
    # a sheet written again keeps the marks
    again = pd.read_csv(marking.marksheet(out, JEM)[0], dtype=str, keep_default_na=False)
    assert again.set_index(["submission", "item"]).loc[("bob", "B3"), "points"] == "3"


@pytest.mark.parametrize("value", ["5", "-1", "lots"])
def test_merge_refuses_points_outside_the_item_and_names_the_row(jem_batch, value):
    _, out = jem_batch
    sheet, _ = marking.marksheet(out, JEM)
    df = pd.read_csv(sheet, dtype=str, keep_default_na=False)
    row = df.index[(df["submission"] == "bob") & (df["item"] == "Q3")][0]   # Q3 is worth 2
    df.loc[df.index[0], "points"] = "1"
    df.loc[row, "points"] = value
    df.to_csv(sheet, index=False)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(marking.MarkError, match=rf"row {row + 2} \(bob, Q3\)"):
        marking.merge(out, sheet)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before, "all or nothing"
    run = CliRunner().invoke(app, ["merge", str(out), str(sheet)])
    assert run.exit_code == 2 and "bob, Q3" in run.output


@pytest.mark.parametrize("how", ["unsigned", "forged"])
def test_merge_refuses_a_result_the_grader_did_not_sign(jem_batch, how):
    _, out = jem_batch
    sheet, _ = marking.marksheet(out, JEM)
    _fill(sheet, {("alice", "Q1"): (4.0, "")})
    path = out / "bob" / "result.json"
    doc = json.loads(path.read_text())
    if how == "unsigned":
        doc.pop("signature")
    else:
        doc["items"][0]["points"] = doc["items"][0]["max_points"]       # a point the grader never gave
    path.write_text(json.dumps(doc))
    with pytest.raises(marking.MarkError, match="bob/result.json"):
        marking.merge(out, sheet)
    assert not any(i["marked"] for i in json.loads((out / "alice" / "result.json").read_text())["items"])


# ---- exports --------------------------------------------------------------------------------------

def test_canvas_export_has_the_import_columns(jem_batch, tmp_path):
    _, out = jem_batch
    roster = tmp_path / "roster.csv"
    roster.write_text("submission,Student,ID,SIS User ID,SIS Login ID,Section\n"
                      "alice,\"Chan, Alice\",101,2001,achan,L1\ncarol.ipynb,\"Wong, Carol\",103,2003,cwong,L1\n")
    run = CliRunner().invoke(app, ["export", "canvas", JEM, str(out), "--roster", str(roster),
                                   "--column", "PA2 (12345)"])
    assert run.exit_code == 0, run.output
    df = pd.read_csv(out / "canvas.csv", dtype=str, keep_default_na=False)
    assert list(df.columns) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "PA2 (12345)"]
    alice = report.read_signed(out / "alice" / "result.json", out)
    assert df.iloc[0].tolist()[:5] == ["Chan, Alice", "101", "2001", "achan", "L1"]
    assert float(df.iloc[0]["PA2 (12345)"]) == alice["total"] and df.iloc[1]["PA2 (12345)"] == ""
    assert "no roster row for: bob" in " ".join(run.output.split())
    ex = canvas.gradebook(marking.load(out), canvas.read_roster(roster), "PA2", points_possible=100)
    assert ex.table.iloc[0]["Student"] == "Points Possible" and ex.table.iloc[0]["PA2"] == 100


def test_gradescope_results_hide_hidden_checks_and_take_the_late_penalty(tmp_path):
    a = assignment.get(JEM)
    r = make_result(a, "sub", auto_fraction=0.5)
    meta = tmp_path / "submission_metadata.json"
    created = at(a.late.deadline, 1, "01:23:34").astimezone(dt.timezone.utc)
    meta.write_text(json.dumps({"id": 1, "created_at": created.isoformat(), "assignment": {"due_date": None}}))
    totals.apply(r, a, gradescope._lateness(tmp_path, a, {"deadline": None}))
    for vis in ("after_published", "after_due_date"):
        doc = report.gradescope(r, vis)
        checks = {f"{c.item}: {c.name}": c.visibility for c in a.checks}
        assert {t["name"] for t in doc["tests"]} == set(checks)
        for t in doc["tests"]:
            assert t["visibility"] == ("visible" if checks[t["name"]] == "public" else vis)
        assert doc["score"] == r.total == pytest.approx(r.auto_points - 2) and "2 points deducted" in doc["output"]
    # a deadline from Gradescope (a student's extension) replaces the toml's
    meta.write_text(json.dumps({"created_at": created.isoformat(), "assignment": {"due_date": None},
                                "users": [{"assignment": {"due_date": "2025-04-13T23:59:00+08:00"}}]}))
    assert gradescope._lateness(tmp_path, a, {"deadline": "gradescope"}) == 0


def test_gradescope_zip_follows_the_specification(tmp_path):
    a = assignment.get(DENOISING)
    path = gradescope.build(a, tmp_path, "after_due_date")
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        for script in ("setup.sh", "run_autograder"):
            assert script in names and z.getinfo(script).external_attr >> 16 & stat.S_IXUSR
            assert z.read(script).startswith(b"#!/usr/bin/env bash")
        config = json.loads(z.read(gradescope.CONFIG))
        assert config == {"slug": DENOISING, "hidden_visibility": "after_due_date", "deadline": None}
        assert any(n.startswith("dist/grader-") and n.endswith(".whl") for n in names) or "src/pyproject.toml" in names
        assert f"assignments/{DENOISING}/assignment.toml" in names and f"reference/{DENOISING}/models.py" in names
        assert not any("/examples/" in n or "__pycache__" in n for n in names)
    with pytest.raises(ValueError, match="visibility"):
        gradescope.build(a, tmp_path, "sometimes")


@pytest.mark.slow
def test_run_autograder_grades_the_reference_in_a_simulated_gradescope_tree(tmp_path):
    """Gradescope's tree under a temp dir: the zip unpacked into source/, the submission in
    submission/, metadata beside it; run_autograder (with this interpreter, the grader being
    installed here, instead of setup.sh's venv) must leave a valid results/results.json."""
    a = assignment.get(DENOISING)
    root = tmp_path / "autograder"
    with zipfile.ZipFile(gradescope.build(a, tmp_path)) as z:
        z.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    shutil.copy(ROOT / "reference" / DENOISING / "models.py", root / "submission" / "models.py")
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 7, "created_at": "2018-10-29T00:10:00.000000+11:00",
         "assignment": {"due_date": "2018-10-28T23:55:00.000000+11:00"},
         "users": [{"email": "s@example.com", "id": 1, "name": "S"}]}))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    run = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert doc["score"] == a.auto_max, doc.get("output")
    assert {t["visibility"] for t in doc["tests"]} == {"visible", "after_published"}
    assert all(0 <= t["score"] <= t["max_score"] for t in doc["tests"])
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(a.auto_max)
    assert doc["extra_data"]["status"] == "graded" and "marked by hand" in doc["output"]
    # no late policy in this handout: lateness against Gradescope's due date, recorded without a penalty
    assert doc["extra_data"]["minutes_late"] == 15 and doc["extra_data"]["late_penalty"] == 0


def test_a_deadline_without_a_timezone_is_refused():
    a = assignment.get(JEM)
    raw = tomllib.loads(a.toml_path.read_text())
    raw["late"]["deadline"] = dt.datetime(2025, 4, 11, 23, 59)
    with pytest.raises(ConfigError, match="late.deadline.*timezone"):
        parse(raw, str(a.toml_path), a.directory, a.reference_dir)


# ---- the terminal gradebook ------------------------------------------------------------------------

def test_the_gradebook_summary_fits_a_120_column_terminal():
    """`grader grade`/`demo` print a summary (JEM has 30+ items: a column each no longer fits);
    no submission name is cut, and the items that lost points are named."""
    import io

    from rich.console import Console

    from grader.cli import _gradebook_table
    a = assignment.get(JEM)
    long_name = "colab-stride-first-sampling-ascent.ipynb"                   # the demo's, 40 characters
    longer = "u1234567_Chan_Tai_Man_PA2_final_final_resubmission_v3.ipynb"
    results = [make_result(a, long_name, auto_fraction=0.5), make_result(a, "ok.ipynb"),
               make_result(a, "late.ipynb", minutes_late=90), make_result(a, longer)]
    results[1].item("Q4").points, results[1].item("Q4").marked = 5.0, True
    for r in results:
        totals.apply(r, a)
    console = Console(width=120, file=io.StringIO(), record=True)
    console.print(_gradebook_table(results, a))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 120
    assert long_name in text and "…" not in text
    assert longer in "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))
    assert "C1 -3.5" in text and "C9 -7.5" in text                      # half of C1's 7 and C9's 15 points
    ok = next(line for line in text.splitlines() if "ok.ipynb" in line)
    assert "Q4 -2" in ok and "C1" not in ok and "1 unmarked" not in ok and "(8 unmarked)" in ok
    assert "(-2 late)" in text
    assert len(report.gradebook(results, a).columns) > 30            # the full table stays in grades.csv
