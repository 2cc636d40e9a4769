"""Gradescope: an autograder.zip built from an assignment, and what runs inside it.

The zip follows Gradescope's autograder specification: `setup.sh` and `run_autograder` at
its root; Gradescope unpacks it into /autograder/source, runs setup.sh once when it builds
the image, then run_autograder per submission, which must leave
/autograder/results/results.json. The zip carries the grader (a wheel built here, or its
source when no wheel can be built), the assignment folder and its reference (the reference
runs in the container to compute expectations: students never see the zip). The root is
$AUTOGRADER_ROOT (default /autograder), so the same scripts run in a simulated tree in tests.

    python -m grader.instructor.gradescope run ROOT     grade ROOT/submission into ROOT/results/results.json
    python -m grader.instructor.gradescope warm SOURCE  compute the expectations once, at image build
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from .. import assignment as assignments
from .. import batch, expectations, pipeline, report
from ..config import Assignment
from . import times

CONFIG = "grader-gradescope.json"
VISIBILITIES = ("after_published", "after_due_date", "hidden", "visible")
PACKAGE = Path(__file__).resolve().parent.parent      # grader/
PROJECT = PACKAGE.parent

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image: Python 3.11, the grader
# (CPU-only torch: Gradescope has no GPU), then the reference run once for expectations.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$(command -v python3.11 || true)"
if [ -z "$PY" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y python3.11 python3.11-venv || {
    apt-get install -y software-properties-common
    add-apt-repository -y ppa:deadsnakes/ppa
    apt-get update
    apt-get install -y python3.11 python3.11-venv
  }
  PY="$(command -v python3.11)"
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --upgrade pip
PKG="$(ls "$SOURCE"/dist/*.whl 2>/dev/null | head -n 1 || true)"
"$ROOT/venv/bin/python" -m pip install --extra-index-url https://download.pytorch.org/whl/cpu "${PKG:-$SOURCE/src}"
GRADER_ASSIGNMENTS="$SOURCE/assignments" GRADER_REFERENCES="$SOURCE/reference" \
  GRADER_CACHE="${GRADER_CACHE:-$ROOT/cache}" "$ROOT/venv/bin/python" -m grader.instructor.gradescope warm "$SOURCE"
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this per submission: ROOT/submission -> ROOT/results/results.json.
# AUTOGRADER_ROOT and GRADER_PYTHON let it run in a simulated tree (tests).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PY="${GRADER_PYTHON:-$ROOT/venv/bin/python}"
export GRADER_ASSIGNMENTS="$ROOT/source/assignments"
export GRADER_REFERENCES="$ROOT/source/reference"
export GRADER_CACHE="${GRADER_CACHE:-$ROOT/cache}"
cd "$ROOT"
exec "$PY" -m grader.instructor.gradescope run "$ROOT"
"""


# ---- building the zip --------------------------------------------------------------------------

def _files(root: Path, skip: set[Path] = frozenset()) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()
                  and "__pycache__" not in p.parts and p.suffix != ".pyc"
                  and not any(s == p or s in p.parents for s in skip))


def _wheel(tmp: Path) -> Path | None:
    """The grader as a wheel, built from a copy (the working tree gets no build/ or egg-info)."""
    src = tmp / "src"
    shutil.copytree(PACKAGE, src / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(PROJECT / "pyproject.toml", src / "pyproject.toml")
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                          "-q", "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    wheels = sorted((tmp / "dist").glob("*.whl")) if run.returncode == 0 else []
    return wheels[0] if wheels else None


def _add(z: zipfile.ZipFile, name: str, data: bytes | str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = (0o755 if executable else 0o644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, data)


def build(a: Assignment, out_dir: Path, visibility: str = "after_published", deadline: str | None = None) -> Path:
    """autograder.zip for `a` in out_dir. `deadline`: an ISO time replacing the toml's, or
    "gradescope" for the due date Gradescope reports per submission."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    if deadline not in (None, "gradescope"):
        deadline = times.parse(deadline, "--deadline ").isoformat()
    if a.reference_dir is None:
        raise ValueError(f"{a.slug}: no reference here; the autograder needs it for expectations")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "autograder.zip"
    config = {"slug": a.slug, "hidden_visibility": visibility, "deadline": deadline}
    with tempfile.TemporaryDirectory(prefix="grader-export-") as tmp, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        _add(z, "setup.sh", SETUP_SH, executable=True)
        _add(z, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add(z, CONFIG, json.dumps(config, indent=1))
        wheel = _wheel(Path(tmp))
        if wheel is not None:
            z.write(wheel, f"dist/{wheel.name}")
        else:
            for p in _files(PACKAGE):
                z.write(p, f"src/grader/{p.relative_to(PACKAGE)}")
            z.write(PROJECT / "pyproject.toml", "src/pyproject.toml")
        # everything fingerprint.of() hashes, so the container's expectations key is this tree's
        for p in _files(a.directory, {a.directory / "examples"}):
            z.write(p, f"assignments/{a.slug}/{p.relative_to(a.directory)}")
        for p in _files(a.reference_dir):
            z.write(p, f"reference/{a.slug}/{p.relative_to(a.reference_dir)}")
    return path


# ---- inside the container ----------------------------------------------------------------------

def _submission(folder: Path) -> Path:
    """What Gradescope unpacked: the folder is the submission, unless it holds one zip and
    nothing to run (a `code.zip` beside a report.pdf, as the HKUST handouts ask)."""
    runnable = [p for p in folder.iterdir() if p.suffix in {".ipynb", ".py"}] if folder.is_dir() else []
    zips = sorted(folder.glob("*.zip")) if folder.is_dir() else []
    return zips[0] if not runnable and len(zips) == 1 else folder


class _Fixed:
    """times for batch.run: one known lateness."""
    def __init__(self, minutes: float | None):
        self.minutes = minutes

    def minutes_late(self, path, label=""):
        return self.minutes


def _lateness(root: Path, a: Assignment, config: dict) -> float | None:
    meta = root / "submission_metadata.json"
    if not meta.is_file():
        return None
    created = times.gradescope_created_at(meta)
    if config.get("deadline") == "gradescope":
        due = times.gradescope_due_date(meta)
    elif config.get("deadline"):
        due = times.parse(config["deadline"])
    else:        # the handout's; where it has none, Gradescope's (lateness recorded, no penalty)
        due = a.late.deadline if a.late else times.gradescope_due_date(meta)
    return times.minutes_between(due, created) if due is not None else None


def run(root: Path) -> dict:
    """Grade ROOT/submission; write and return ROOT/results/results.json."""
    t0 = time.monotonic()
    root = Path(root)
    config = json.loads((root / "source" / CONFIG).read_text())
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    try:
        a = assignments.get(config["slug"])
        device = pipeline.resolve_device("auto")
        opts = pipeline.Options(device=device, gpus="0" if device == "cuda" else "")
        r = batch.run([_submission(root / "submission")], a, root / "grader-out", opts, resume=False,
                      expand_dirs=False, times=_Fixed(_lateness(root, a, config)))[0]
        doc = report.gradescope(r, config.get("hidden_visibility", "after_published"))
        # not feedback.md: it names hidden checks' failures, which the tests' visibility holds back
        notes = [doc.get("output", ""), f"Note: {report.clean(r.reason, 500)}" if r.reason else "",
                 f"Up to {a.manual_max:g} more points are marked by hand." if a.manual_max else ""]
        doc["output"] = "\n\n".join(n for n in notes if n)
        doc["extra_data"] = {"status": str(r.status), "minutes_late": r.minutes_late,
                             "late_penalty": r.late_penalty, "grader_version": r.grader_version}
    except Exception as e:  # noqa: BLE001 - the student gets a result, the instructor the traceback
        traceback.print_exc()
        doc = {"score": 0, "output": "The autograder failed on this submission; your instructor has been told.",
               "tests": [], "extra_data": {"error": f"{type(e).__name__}: {e}"[:500]}}
    doc["execution_time"] = round(time.monotonic() - t0)
    (results / "results.json").write_text(json.dumps(doc, indent=1))
    return doc


def warm(source: Path) -> None:
    config = json.loads((Path(source) / CONFIG).read_text())
    a = assignments.get(config["slug"])
    device = pipeline.resolve_device("auto")
    expectations.get(a, pipeline.Options(device=device, gpus="0" if device == "cuda" else ""))
    print(f"{a.slug}: expectations ready ({dt.datetime.now().isoformat(timespec='seconds')})")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in {"run", "warm"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "warm":
        warm(Path(argv[1]))
    else:
        doc = run(Path(argv[1]))
        print(f"score {doc.get('score')}; results in {Path(argv[1]) / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
