"""Execute the cheap cells of solution.py (everything not tagged `train`/`report`)."""
from __future__ import annotations

import os
import re
import types

HERE = os.path.dirname(os.path.abspath(__file__))
_CELL = re.compile(r"^# %%(.*)$")


def cells(path):
    """Yield (header, source) for each percent-format cell."""
    header, lines = "", []
    with open(path) as f:
        for line in f:
            m = _CELL.match(line.rstrip("\n"))
            if m:
                if lines or header:
                    yield header, "".join(lines)
                header, lines = m.group(1), []
            else:
                lines.append(line)
    yield header, "".join(lines)


def load_solution(path=os.path.join(HERE, "solution.py"), skip_tags=("train", "report")):
    mod = types.ModuleType("solution")
    mod.__file__ = path
    for header, src in cells(path):
        if "[markdown]" in header:
            continue
        tags = re.findall(r'tags=\[([^\]]*)\]', header)
        if tags and any(t.strip().strip("'\"") in skip_tags for t in tags[0].split(",")):
            continue
        exec(compile(src, path, "exec"), mod.__dict__)
    return mod
