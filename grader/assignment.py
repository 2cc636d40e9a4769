"""Assignment definitions: the rubric, checks and budgets read from assignment.toml."""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DIR = ROOT / "assignments"
REFERENCE_DIR = ROOT / "reference"


@dataclass(frozen=True)
class CheckSpec:
    item: str
    name: str
    kind: str
    weight: float
    message: str
    params: dict

    @property
    def id(self) -> str:
        return f"{self.item}/{self.name}"


@dataclass(frozen=True)
class Item:
    id: str
    points: float
    title: str
    manual: bool
    checks: tuple[CheckSpec, ...]
    prompt: str = ""


@dataclass(frozen=True)
class Budget:
    cell_timeout_s: float = 60
    total_s: float = 900
    probe_timeout_s: float = 180
    memory_mb: int = 6000


@dataclass(frozen=True)
class Assignment:
    slug: str
    title: str
    version: str
    framework: str
    directory: Path
    reference: Path
    skeleton: Path
    entry: tuple[str, ...]
    budget: Budget
    items: tuple[Item, ...]
    examples: tuple[str, ...] = ()
    names: tuple[str, ...] = field(default=())  # definitions the contract asks for (detection)
    probes: dict = field(default_factory=dict)  # shared probes: key -> {kind, params}

    @property
    def checks(self) -> list[CheckSpec]:
        return [c for it in self.items for c in it.checks]

    @property
    def auto_max(self) -> float:
        return sum(it.points for it in self.items if not it.manual)

    @property
    def manual_max(self) -> float:
        return sum(it.points for it in self.items if it.manual)

    @property
    def reference_dir(self) -> Path:
        return self.reference.parent

    def fingerprint(self) -> str:
        """Hash of everything that decides the expectations: the toml, the reference
        directory and the assignment's probe helpers."""
        h = hashlib.sha256()
        files = [self.directory / "assignment.toml"]
        files += sorted(p for p in self.reference_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        probes = self.directory / "probes.py"
        if probes.exists():
            files.append(probes)
        for p in files:
            h.update(p.name.encode())
            h.update(p.read_bytes())
        return h.hexdigest()


def _item(raw: dict) -> Item:
    iid = str(raw["id"])
    checks = tuple(
        CheckSpec(
            item=iid,
            name=str(c.get("name", c["kind"])),
            kind=c["kind"],
            weight=float(c.get("weight", 1.0)),
            message=c.get("message", ""),
            params={k: v for k, v in c.items() if k not in {"name", "kind", "weight", "message"}},
        )
        for c in raw.get("checks", [])
    )
    manual = bool(raw.get("manual", False))
    if not manual and not checks:
        raise ValueError(f"item {iid}: an auto item needs at least one check")
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"item {iid}: check names must be unique")
    return Item(iid, float(raw["points"]), raw.get("title", ""), manual, checks, raw.get("prompt", ""))


def load(path: Path) -> Assignment:
    path = Path(path)
    directory = path.parent if path.is_file() else path
    raw = tomllib.loads((directory / "assignment.toml").read_text())
    slug = raw["slug"]
    items = tuple(_item(r) for r in raw["items"])
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{slug}: duplicate item ids")
    return Assignment(
        slug=slug,
        title=raw.get("title", slug),
        version=str(raw.get("version", "1")),
        framework=raw["framework"],
        directory=directory,
        reference=(REFERENCE_DIR / slug / raw["reference"]).resolve(),
        skeleton=(directory / raw["skeleton"]).resolve(),
        entry=tuple(raw.get("entry", ["*.ipynb", "*.py"])),
        budget=Budget(**raw.get("budget", {})),
        items=items,
        examples=tuple(raw.get("examples", [])),
        names=tuple(raw.get("names", [])),
        probes={k: {"kind": v["kind"], "params": {kk: vv for kk, vv in v.items() if kk != "kind"}}
                for k, v in raw.get("probes", {}).items()},
    )


def all_assignments() -> dict[str, Assignment]:
    found = {}
    for toml in sorted(ASSIGNMENTS_DIR.glob("*/assignment.toml")):
        a = load(toml.parent)
        found[a.slug] = a
    return found


def get(slug: str) -> Assignment:
    found = all_assignments()
    if slug not in found:
        raise KeyError(f"unknown assignment {slug!r}; known: {', '.join(found) or 'none'}")
    return found[slug]
