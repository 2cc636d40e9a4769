"""Student skeletons generated from the reference (one master, as Otter-Grader does):
each `# BEGIN SOLUTION` .. `# END SOLUTION` region becomes its `# SKELETON:` lines, or a
`raise NotImplementedError`."""
from __future__ import annotations

import re
from pathlib import Path

from .notebooks import notebook_from_py, notebook_text

_BEGIN = re.compile(r"^(\s*)# BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*# END SOLUTION\s*$")
_SKEL = re.compile(r"^\s*# SKELETON: ?(.*)$")


def strip(text: str) -> str:
    out, region, indent = [], None, ""
    for n, line in enumerate(text.splitlines(), 1):
        if region is None:
            m = _BEGIN.match(line)
            if m:
                region, indent = [], m.group(1)
            else:
                out.append(line)
            continue
        if _END.match(line):
            out += [indent + s for s in region] or [f'{indent}raise NotImplementedError("YOUR CODE HERE")']
            region = None
            continue
        m = _SKEL.match(line)
        if m:
            region.append(m.group(1))
    if region is not None:
        raise ValueError("a # BEGIN SOLUTION region is not closed")
    return "\n".join(out) + "\n"


def build(reference: Path, target: Path) -> str:
    """The skeleton's text for `target` (.py or .ipynb) made from a reference .py file."""
    text = strip(reference.read_text())
    if target.suffix == ".ipynb":
        return notebook_text(notebook_from_py(text))
    return text


def sources(assignment) -> dict[Path, Path]:
    """target -> reference file, from assignment.toml's [skeleton_sources]."""
    if assignment.reference_dir is None:
        return {}
    return {assignment.directory / t: assignment.reference_dir / s for t, s in assignment.skeleton_sources.items()}


def write(assignment) -> list[Path]:
    written = []
    for target, ref in sources(assignment).items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(build(ref, target))
        written.append(target)
    return written
