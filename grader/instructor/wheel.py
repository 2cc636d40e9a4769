"""The grader's own wheel, for what ships it (a student bundle, Gradescope's autograder.zip).

Built once per grader version and package content (fingerprint.package) into the cache, so
that releasing five assignments builds it once, and a changed grader never ships a stale one."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import __version__, expectations, fingerprint

PACKAGE = Path(__file__).resolve().parent.parent      # grader/
PROJECT = PACKAGE.parent


class WheelError(RuntimeError):
    pass


def build() -> Path:
    """The wheel of this grader (cached); WheelError where it cannot be built (a grader that
    was itself installed from a wheel has no pyproject.toml to build from)."""
    folder = expectations.cache_root() / "wheels" / f"{__version__}-{fingerprint.package()}"
    found = sorted(folder.glob("*.whl"))
    if found:
        return found[0]
    if not (PROJECT / "pyproject.toml").is_file():
        raise WheelError(f"no pyproject.toml beside {PACKAGE}: the grader's wheel is built from its source tree")
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as tmp:
        # from a copy: the working tree gets no build/ or egg-info
        src = Path(tmp) / "src"
        shutil.copytree(PACKAGE, src / "grader", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy(PROJECT / "pyproject.toml", src / "pyproject.toml")
        run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                              "-q", "-w", str(Path(tmp) / "dist"), str(src)], capture_output=True, text=True)
        built = sorted((Path(tmp) / "dist").glob("*.whl"))
        if run.returncode != 0 or not built:
            raise WheelError(f"pip wheel failed: {(run.stderr or run.stdout).strip()[-500:]}")
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (built[0].name + ".part")
        shutil.copy2(built[0], partial)
        partial.rename(folder / built[0].name)       # whole or absent, for a concurrent release
    return folder / built[0].name
