"""assignment.toml, loaded into typed, validated models.

Unknown keys, unknown check kinds and invalid values are refused when the file is loaded,
with the file and the key path in the message. Each check keeps the parameters its probe
needs (`observe`, the only ones that travel to the student's kernel) apart from those its
judge needs (`judge`: tolerances, accepted answers), which never leave the grader."""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """An authoring error in an assignment's configuration (never a student's)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class ObserveBase(Strict):
    """Probe parameters every kind accepts (they travel to the kernel)."""
    stand_in: tuple[str, ...] = ()    # graded names the reference's definitions always replace
    fallback: tuple[str, ...] = ()    # graded names the reference's replace only when the student's fail
    timeout_s: float | None = None    # this probe's time cap (default: the budget's probe_timeout_s)
    files: tuple[str, ...] = ()       # reference files the probe reads (relative to reference/<slug>/)
    reference: tuple[str, ...] = ()   # reference definitions a helper uses besides stand-ins (ctx.ref)
    grades: tuple[str, ...] = ()      # graded names whose behaviour the probe judges (default: its target,
                                      # else every graded name it does not bring in from the reference)
    needs: tuple[str, ...] = ()       # contract arguments the probe relies on (for signature checks)


class JudgeBase(Strict):
    """Judge parameters every kind accepts (they never leave the grader)."""


Visibility = Literal["public", "hidden"]


class Check(Strict):
    item: str
    name: str
    kind: str
    weight: float = 1.0
    message: str = ""
    probe: str                       # the key of the probe whose observation this check judges
    visibility: Visibility
    observe: Any                     # the kind's Observe model (shared with the other checks of a probe)
    judge: Any                       # the kind's Judge model

    @property
    def id(self) -> str:
        return f"{self.item}/{self.name}"

    @property
    def module(self):
        from . import checks
        return checks.get(self.kind)

    @property
    def needs_reference(self) -> bool:
        """Whether the probe may bring reference pieces into the kernel (stand-ins, fallbacks,
        reference definitions or files)."""
        o = self.observe
        return bool(o.stand_in or o.fallback or o.files or o.reference)


class Locate(Strict):
    """Where a notebook answers the item (grader/locate.py): the marking styles to try, in order,
    and the labels its marker or heading uses (default: the item's id; `Part B > Question 2`
    for a heading inside another)."""
    style: tuple[Literal["tag", "marker", "heading"], ...] = ("tag", "marker", "heading")
    labels: tuple[str, ...] = ()


class Item(Strict):
    id: str
    points: float = Field(ge=0)
    title: str = ""
    manual: bool = False
    bonus: bool = False              # outside the total; counted by the assignment's [total] rule
    later: bool = False              # a student bundle's item whose checks are all hidden (graded later)
    hidden_weight: float = 0.0       # a student bundle's item: the weight of its checks graded later
    prompt: str = ""
    locate: Locate = Locate()
    checks: tuple[Check, ...] = ()


class InlineFunction(Strict):
    """A contract function that the cells answering an item may stand for (grader/inline.py): the
    grader runs those cells as the function, their free variables bound by role to its arguments
    (a model, data sets, an image), and picks what they leave by `returns`."""
    item: str                                   # whose cells (found by grader/locate.py)
    params: tuple[str, ...] = ()                # the function's parameters, as the contract names them
    returns: str                                # numbers, optimizer, history, model, or array:<dims> ("*": any)
    repeat: str = ""                            # a parameter asking for that many results (samples): the cells
                                                # run again, on new seeds, until there are enough
    replaces: tuple[str, ...] = ()              # contract names the cells make unnecessary (C8's load
                                                # stands for build_model's part of the item)

    @field_validator("returns")
    @classmethod
    def _returns(cls, v: str) -> str:
        if v not in {"numbers", "optimizer", "history", "model"} and not re.fullmatch(r"array:(\*|\d+)(,(\*|\d+))*", v):
            raise ValueError(f"returns: {v!r} is not numbers, optimizer, history, model or array:<dims>")
        return v


class Derived(Strict):
    """A graded class that students write as a flag of another (`NonCausalPixelCNN` as
    `PixelCNN(..., causal=False)`): the base with its one boolean parameter whose name matches
    `flags` turned the other way."""
    base: str
    flags: str                                  # regular expression on parameter names

    @field_validator("flags")
    @classmethod
    def _regex(cls, v: str) -> str:
        re.compile(v)
        return v


class Inline(Strict):
    functions: dict[str, InlineFunction] = {}
    paths: dict[str, str] = {}                  # a path the cells name (its last part, or a glob) -> a fixture
                                                # under the assignment's data folder
    derived: dict[str, Derived] = {}


class Budget(Strict):
    cell_timeout_s: float = Field(60, gt=0)
    total_s: float = Field(900, gt=0)
    probe_timeout_s: float = Field(180, gt=0)
    memory_mb: int = Field(6000, gt=0)


class LatePolicy(Strict):
    """A handout's late rule: `points` deducted per started `per` (minute or hour) after
    `deadline`; work more than `max_late_hours` late is not accepted."""
    deadline: dt.datetime
    per: Literal["minute", "hour"]
    points: float = Field(gt=0)
    max_late_hours: float | None = Field(None, ge=0)
    max_penalty: float | None = Field(None, ge=0)

    @field_validator("deadline")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("the deadline needs a timezone (e.g. 2023-04-14T23:59:00+08:00)")
        return v


class TotalRule(Strict):
    """How the final total is formed: min(cap, auto + manual + bonus) - penalty, and what a
    bonus item earns ("points", or a "late_day" that extends the deadline by a day)."""
    cap: float | None = None
    bonus: Literal["points", "late_day"] = "points"


Framework = Literal["torch", "keras"]


class Assignment(Strict):
    slug: str
    title: str = ""
    version: str = "1"
    framework: Framework
    handout: str = ""
    reference: str                   # file name in reference/<slug>/
    skeleton: str                    # file or folder in the assignment's directory
    entry: tuple[str, ...] = ("*.ipynb", "*.py")
    examples: tuple[str, ...] = ()
    names: tuple[str, ...] = ()      # the graded definitions (for detection and name resolution)
    aliases: dict[str, tuple[str, ...]] = {}       # contract name -> other names students use
    signatures: dict[str, dict[str, Any]] = {}     # contract name -> its contract defaults
    keywords: dict[str, tuple[str, ...]] = {}      # a contract keyword -> the names students give it
    given: tuple[str, ...] = ()                    # helpers the course's notebook gives: never graded in
                                                   # place of a missing definition
    inline: Inline = Inline()
    skeleton_sources: dict[str, str] = {}
    budget: Budget = Budget()
    late: LatePolicy | None = None
    total: TotalRule = TotalRule()
    probes: dict[str, dict[str, Any]] = {}        # key -> {"kind": .., "observe": Observe model}
    items: tuple[Item, ...]
    # where it lives (set by load, not read from the toml)
    directory: Path = Path(".")
    reference_dir: Path | None = None

    @model_validator(mode="after")
    def _unique(self):
        ids = [it.id for it in self.items]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate item ids: {', '.join(sorted(dup))}")
        return self

    # ---- derived -------------------------------------------------------------------------
    @property
    def checks(self) -> list[Check]:
        return [c for it in self.items for c in it.checks]

    @property
    def auto_max(self) -> float:
        return sum(it.points for it in self.items if not it.manual)

    @property
    def manual_max(self) -> float:
        return sum(it.points for it in self.items if it.manual and not it.bonus)

    @property
    def bonus_max(self) -> float:
        return sum(it.points for it in self.items if it.bonus)

    @property
    def reference_path(self) -> Path | None:
        return self.reference_dir / self.reference if self.reference_dir else None

    @property
    def skeleton_path(self) -> Path:
        return self.directory / self.skeleton

    @property
    def toml_path(self) -> Path:
        return self.directory / "assignment.toml"

    @property
    def helpers_path(self) -> Path | None:
        p = self.directory / "probes.py"
        return p if p.is_file() else None

    def item(self, item_id: str) -> Item:
        return next(it for it in self.items if it.id == item_id)

    def plan(self, visibility: set[str] | None = None) -> dict[str, dict]:
        """probe key -> {kind, observe, visibility} for the checks of the given visibilities
        (all the checks of a probe share one visibility)."""
        out: dict[str, dict] = {}
        for c in self.checks:
            if visibility is not None and c.visibility not in visibility:
                continue
            out.setdefault(c.probe, {"kind": self.probes[c.probe]["kind"], "observe": c.observe,
                                     "visibility": c.visibility})
        return out


# ---- loading ---------------------------------------------------------------------------------

_CHECK_KEYS = {"kind", "name", "weight", "message", "probe", "visibility"}
_ITEM_KEYS = {"id", "points", "title", "manual", "bonus", "later", "hidden_weight", "prompt", "locate", "checks"}


def checks_default_visibility(module, observe) -> str:
    from .checks import default_visibility
    return default_visibility(module, observe)


def _kind(kind, where: str):
    from . import checks
    try:
        return checks.get(kind)
    except KeyError:
        from .checks import KINDS
        raise ConfigError(f"{where}.kind: unknown check kind {kind!r} (known: {', '.join(KINDS)})") from None


def _split(module, raw: dict, where: str, allow_observe: bool) -> tuple[dict, dict]:
    obs_fields, judge_fields = set(module.Observe.model_fields), set(module.Judge.model_fields)
    observe, judge = {}, {}
    for k, v in raw.items():
        if k in obs_fields and allow_observe:
            observe[k] = v
        elif k in judge_fields:
            judge[k] = v
        elif k in obs_fields:
            raise ConfigError(f"{where}.{k}: a probe parameter; it belongs in the shared [probes] table "
                              "this check uses")
        else:
            raise ConfigError(f"{where}.{k}: unknown key for a `{raw.get('kind', module.KIND)}` check "
                              f"(probe: {', '.join(sorted(obs_fields)) or '-'}; "
                              f"judge: {', '.join(sorted(judge_fields)) or '-'})")
    return observe, judge


def _model(cls, data: dict, where: str):
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msgs.append(f"{where}{'.' + loc if loc else ''}: {err['msg']}")
        raise ConfigError("; ".join(msgs)) from None


def parse(raw: dict, source: str = "assignment.toml", directory: Path = Path("."),
          reference_dir: Path | None = None) -> Assignment:
    """A toml document -> Assignment, or ConfigError naming `source` and the key path."""
    try:
        return _parse(raw, directory, reference_dir)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _parse(raw: dict, directory: Path, reference_dir: Path | None) -> Assignment:
    raw = dict(raw)
    probes: dict[str, dict] = {}
    for key, spec in (raw.pop("probes", None) or {}).items():
        where = f"probes.{key}"
        if not isinstance(spec, dict) or "kind" not in spec:
            raise ConfigError(f"{where}: a shared probe needs a `kind`")
        module = _kind(spec["kind"], where)
        body = {k: v for k, v in spec.items() if k != "kind"}
        unknown = set(body) - set(module.Observe.model_fields)
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: not a probe parameter of `{spec['kind']}` "
                              f"(known: {', '.join(sorted(module.Observe.model_fields))})")
        probes[key] = {"kind": module.KIND, "observe": _model(module.Observe, body, where)}
    items = []
    for n, it in enumerate(raw.pop("items", None) or []):
        where = f"items[{n}]"
        if not isinstance(it, dict):
            raise ConfigError(f"{where}: an item is a table")
        unknown = set(it) - _ITEM_KEYS
        if unknown:
            raise ConfigError(f"{where}.{sorted(unknown)[0]}: unknown key (known: {', '.join(sorted(_ITEM_KEYS))})")
        iid = str(it.get("id", ""))
        checks = []
        for m, c in enumerate(it.get("checks", [])):
            cw = f"{where}.checks[{m}]"
            if "kind" not in c:
                raise ConfigError(f"{cw}.kind: missing")
            module = _kind(c["kind"], cw)
            rest = {k: v for k, v in c.items() if k not in _CHECK_KEYS}
            if "probe" in c:
                key = c["probe"]
                if key not in probes:
                    raise ConfigError(f"{cw}.probe: no [probes.{key}] table")
                if probes[key]["kind"] != module.KIND:
                    raise ConfigError(f"{cw}.probe: [probes.{key}] is a `{probes[key]['kind']}` probe, "
                                      f"this check is `{module.KIND}`")
                _, judge = _split(module, rest, cw, allow_observe=False)
                observe = probes[key]["observe"]
            else:
                obs, judge = _split(module, rest, cw, allow_observe=True)
                observe = _model(module.Observe, obs, cw)
                key = f"{iid}__{c.get('name', c['kind'])}".replace("/", "_").replace(" ", "_")
                probes[key] = {"kind": module.KIND, "observe": observe}
            judge_model = _model(module.Judge, judge, cw)
            if hasattr(module, "validate"):
                try:
                    module.validate(observe, judge_model)
                except (KeyError, ValueError) as e:
                    raise ConfigError(f"{cw}: {e.args[0] if e.args else e}") from None
            visibility = c.get("visibility") or checks_default_visibility(module, observe)
            checks.append(_model(Check, {
                "item": iid, "name": str(c.get("name", c["kind"])), "kind": module.KIND,
                "weight": c.get("weight", 1.0), "message": c.get("message", ""), "probe": key,
                "visibility": visibility, "observe": observe,
                "judge": judge_model}, cw))
        if not it.get("manual") and not checks and not it.get("later"):
            raise ConfigError(f"{where}: an automatic item needs at least one check (or manual = true)")
        if it.get("bonus") and not it.get("manual"):
            raise ConfigError(f"{where}.bonus: bonus items are marked by hand (manual = true)")
        names = [c.name for c in checks]
        if len(set(names)) != len(names):
            raise ConfigError(f"{where}: check names must be unique within an item")
        items.append(_model(Item, {**{k: v for k, v in it.items() if k != "checks"}, "id": iid,
                                   "checks": tuple(checks)}, where))
    seen: dict[str, str] = {}
    for it in items:
        for c in it.checks:
            if seen.setdefault(c.probe, c.visibility) != c.visibility:
                raise ConfigError(f"probes.{c.probe}: used by public and hidden checks ({it.id}/{c.name}); "
                                  "a probe's observation is either in the student bundle or not: give its checks "
                                  "one visibility")
    for k in ("aliases", "keywords"):
        if k in raw:
            raw[k] = {name: tuple([v] if isinstance(v, str) else v) for name, v in raw[k].items()}
    a = _model(Assignment, {**raw, "probes": probes, "items": tuple(items), "directory": directory,
                            "reference_dir": reference_dir}, "")
    ids = {it.id for it in a.items}
    for name, f in a.inline.functions.items():
        if f.item not in ids:
            raise ConfigError(f"inline.functions.{name}.item: no item {f.item!r}")
        if f.repeat and f.repeat not in f.params:
            raise ConfigError(f"inline.functions.{name}.repeat: {f.repeat!r} is not one of its params")
    return a


def load(directory: Path, reference_dir: Path | None = None) -> Assignment:
    directory = Path(directory)
    path = directory / "assignment.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return parse(raw, str(path), directory, reference_dir)
