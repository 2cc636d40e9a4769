"""Load stage: turn whatever a student handed in into a notebook in a fresh workspace.

Unreadable input never raises: it yields a Submission with status "unreadable" and a
reason, which the pipeline turns into a Result with every item at zero."""
from __future__ import annotations

import fnmatch
import hashlib
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .notebooks import notebook_from_py

MAX_BYTES = 200 * 1024 * 1024  # a submission (or zip member total) larger than this is refused
MAX_ENTRIES = 5000             # a zip with more members than this is refused
_IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}
# compiled Python never reaches the kernel: it could run other code than the source beside it
# (unchecked-hash .pyc files are not compared with their source)
BYTECODE = ("*.pyc", "*.pyo")


@dataclass
class Submission:
    name: str
    source: Path
    sha256: str
    workspace: Path | None  # the working directory: the entry file's folder
    notebook: nbformat.NotebookNode | None
    entry: str = ""
    status: str = "ok"  # ok or unreadable
    reason: str = ""
    root: Path | None = None  # the temporary tree to remove when grading is done
    files: Path | None = None  # the submission's files (root/w): the kernel's only writable folder
    notes: list[str] = field(default_factory=list)   # what loading changed, for the review column

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in files:
        if path.is_dir():
            h.update(str(p.relative_to(path)).encode())
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    if path.suffix == ".py":
        return notebook_from_py(path.read_text(encoding="utf-8", errors="replace"))
    raw = path.read_text(encoding="utf-8", errors="replace")
    if not raw.strip():
        raise ValueError(f"{path.name} is empty")
    try:
        nb = nbformat.reads(raw, as_version=4)
    except Exception as e:  # nbformat raises several types for bad JSON
        raise ValueError(f"{path.name} is not a valid notebook (JSON): {str(e).splitlines()[0][:200]}") from None
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError:
        # Colab and old Jupyter write slightly off-schema notebooks; keep what can run.
        nb = nbformat.v4.upgrade(nb) if nb.get("nbformat", 4) < 4 else nb
    for cell in nb.cells:
        cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return nb


def find_entry(root: Path, patterns: tuple[str, ...]) -> Path | None:
    """The file to execute inside a zip or directory: the first pattern that matches,
    a notebook preferred over a module by the assignment's order."""
    files = [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
             and not _IGNORED_PARTS & set(p.relative_to(root).parts)]
    for pattern in patterns:
        hits = [p for p in files if fnmatch.fnmatch(p.name, pattern)]
        if hits:
            # the shallowest, then the largest: a submission's main file, not a helper
            hits.sort(key=lambda p: (len(p.relative_to(root).parts), -p.stat().st_size))
            return hits[0]
    return None


def _compiled(relative: str) -> bool:
    parts = Path(relative).parts
    return "__pycache__" in parts or any(fnmatch.fnmatch(parts[-1], b) for b in BYTECODE) if parts else False


def _dropped_note(n: int) -> str:
    return f"{n} compiled Python file(s) (__pycache__, .pyc, .pyo) were left out: only source code is run"


def _unpack_zip(path: Path, dest: Path) -> int:
    """Unpack all but compiled Python; how many members were left out."""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ValueError(f"{path.name} holds {len(infos)} entries, over the limit of {MAX_ENTRIES}")
        total = sum(i.file_size for i in infos)
        if total > MAX_BYTES:
            raise ValueError(f"{path.name} unpacks to {total / 1e6:.0f} MB, over the {MAX_BYTES / 1e6:.0f} MB limit")
        for info in infos:
            target = (dest / info.filename).resolve()
            if not str(target).startswith(str(dest.resolve())):
                raise ValueError(f"{path.name} holds a path outside the archive: {info.filename}")
        keep = [i for i in infos if not _compiled(i.filename)]
        zf.extractall(dest, members=keep)
        return sum(1 for i in infos if not i.is_dir() and _compiled(i.filename))


def _copy_folder(path: Path, dest: Path) -> int:
    """Copy all but compiled Python (links stay links, pointing outside the sandbox's view,
    never the files they name); how many files were left out."""
    dropped = sum(1 for p in path.rglob("*") if (p.is_file() or p.is_symlink()) and
                  _compiled(str(p.relative_to(path))) and not {".git", "__MACOSX"} & set(p.relative_to(path).parts))
    shutil.copytree(path, dest, symlinks=True, ignore=shutil.ignore_patterns(*_IGNORED_PARTS, *BYTECODE))
    return dropped


def load(path: Path, entry_patterns: tuple[str, ...], name: str | None = None) -> Submission:
    path = Path(path)
    name = name or path.stem
    try:
        sha = sha256_of(path) if path.exists() else ""
    except OSError as e:
        return Submission(name, path, "", None, None, status="unreadable", reason=f"cannot read {path}: {e}")
    # a neutral, random name: the kernel sees its mount source in /proc/self/mountinfo
    workspace = Path(tempfile.mkdtemp(prefix="g"))
    files = workspace / "w"
    try:
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        dropped = 0
        if path.is_dir():
            dropped = _copy_folder(path, files)
        elif path.suffix == ".zip" or zipfile.is_zipfile(path):
            files.mkdir()
            try:
                dropped = _unpack_zip(path, files)
            except zipfile.BadZipFile:
                raise ValueError(f"{path.name} is not a readable zip archive") from None
        elif path.suffix in {".ipynb", ".py"}:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError(f"{path.name} is over the size limit")
            files.mkdir()
            shutil.copy2(path, files / path.name)
        else:
            raise ValueError(f"{path.name}: expected a .ipynb, .py, .zip or a directory")
        entry = find_entry(files, entry_patterns)
        if entry is None:
            raise ValueError(f"{path.name} holds no notebook or module matching {', '.join(entry_patterns)}")
        # The entry's folder becomes the working directory, so its companions import.
        nb = _read_notebook(entry)
        if not any(c.cell_type == "code" and c.source.strip() for c in nb.cells):
            raise ValueError(f"{entry.name} has no code")
        return Submission(name, path, sha, entry.parent, nb, entry=str(entry.relative_to(files)), root=workspace,
                          files=files, notes=[_dropped_note(dropped)] if dropped else [])
    except (ValueError, OSError, UnicodeDecodeError) as e:
        shutil.rmtree(workspace, ignore_errors=True)
        return Submission(name, path, sha, None, None, status="unreadable", reason=str(e))
