"""The kernel inside the sandbox (started as `python -P -m grader.run kernel CHANNEL FRAMEWORK
WORKSPACE -- <ipykernel arguments>`, or forked by a zygote): arms the probe library
(grader/probe/armed.py) and only then starts ipykernel, so that the library is in place
before the first student cell runs."""
from __future__ import annotations

import os
import sys

# how a kernel command line starts, after the interpreter and its flags
ENTRY = ["-P", "-m", "grader.run", "kernel"]


def main(argv: list[str]) -> None:
    sep = argv.index("--")
    channel, framework, workspace = argv[:sep]
    from grader.probe.armed import arm
    arm(channel, framework, workspace)
    sys.argv[1:] = argv[sep + 1:]
    # started with -P, the workspace was off sys.path while arming; the student's cells import
    # from it: it goes where IPython puts it without -P (before the environment's packages)
    at = next((i for i, p in enumerate(sys.path) if os.path.basename(p) in ("site-packages", "dist-packages")), 0)
    sys.path.insert(at, "")
    # an entry inside a package (an __init__.py beside it): the folder that holds the package
    # comes next, so that its modules import each other by the package's name (`from pkg.x import y`)
    base, root = os.getcwd(), os.path.realpath(workspace)
    while os.path.isfile(os.path.join(base, "__init__.py")) and base != root and \
            os.path.commonpath([root, os.path.dirname(base)]) == root:
        base = os.path.dirname(base)
    if base != os.getcwd():
        sys.path.insert(at + 1, base)
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()
