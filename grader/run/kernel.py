"""The kernel inside the sandbox (started as `python -P -m grader.run kernel CHANNEL FRAMEWORK
WORKSPACE -- <ipykernel arguments>`, or forked by a zygote): imports what the grader needs and
guards the import machinery (imports.py), arms the probe library (grader/probe/armed.py) and
only then starts ipykernel, so that all of it is in place before the first student cell runs.
What a cell prints is capped here, before it is sent (the grader caps what arrives too:
output.py)."""
from __future__ import annotations

import os
import sys

# how a kernel command line starts, after the interpreter and its flags
ENTRY = ["-P", "-m", "grader.run", "kernel"]
CELL_CHARS = 1_000_000          # of stdout and stderr per cell (a request's output)
KERNEL_CHARS = 5_000_000        # for the kernel's life


def main(argv: list[str]) -> None:
    sep = argv.index("--")
    channel, framework, workspace = argv[:sep]
    from grader.run import imports
    imports.protect(os.environ.get("GRADER_PRELOAD", "").split(","), workspace)
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
    app = kernelapp.IPKernelApp.instance()
    app.initialize()
    cap_streams([sys.stdout, sys.stderr])
    app.start()


def cap_streams(streams: list, cell: int = CELL_CHARS, total: int = KERNEL_CHARS) -> None:
    """ipykernel's stdout and stderr (what print() and the C-level descriptors reach) keep at
    most `cell` characters per execute request and `total` for the kernel, then one note."""
    import threading
    lock = threading.Lock()
    state = {"parent": None, "cell": 0, "total": 0, "noted": False}
    note = (f"\n[grader: output truncated: a cell keeps {cell:,} characters of output, a kernel "
            f"{total:,}; the rest was not sent]\n")

    def capped(stream):
        write = stream.write

        def capped_write(text):
            if not isinstance(text, str):
                return write(text)          # ipykernel's own TypeError
            header = getattr(stream, "parent_header", None) or {}
            with lock:
                if header.get("msg_id") != state["parent"]:
                    state.update(parent=header.get("msg_id"), cell=0, noted=False)
                room = max(0, min(cell - state["cell"], total - state["total"]))
                part = text[:room]
                state["cell"] += len(part)
                state["total"] += len(part)
                noting = len(part) < len(text) and not state["noted"]
                state["noted"] = state["noted"] or noting
            if part:
                write(part)
            if noting:
                write(note)
            return len(text)
        return capped_write

    for s in streams:
        if hasattr(s, "parent_header"):      # an ipykernel OutStream
            s.write = capped(s)
