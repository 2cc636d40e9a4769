"""The kernel's entry point inside the sandbox:

    python -m grader.kernel CHANNEL FRAMEWORK WORKSPACE -- <ipykernel arguments>

arms the probe library (grader/probe/armed.py) and only then starts ipykernel, so that the
library is in place before the first student cell runs.

    python -m grader.kernel --zygote FD FRAMEWORK MODULE ...

is a batch slot's zygote (grader/zygote.py): it imports the modules, then forks kernels that
run `main` with the arguments the grader sends over FD."""
from __future__ import annotations

import os
import sys


def main() -> None:
    # the working directory is the student's workspace: nothing there may shadow a module
    # the library imports while it is armed (ipykernel_launcher does the same)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    argv = sys.argv[1:]
    if argv[:1] == ["--zygote"]:
        from grader.zygote import serve
        serve(int(argv[1]), argv[3:])
        return
    sep = argv.index("--")
    channel, framework, workspace = argv[:sep]
    from grader.probe.armed import arm
    arm(channel, framework, workspace)
    sys.argv[1:] = argv[sep + 1:]
    # started with -P, the workspace was off sys.path while arming; the student's cells import
    # from it: it goes where IPython puts it without -P (before the environment's packages)
    at = next((i for i, p in enumerate(sys.path) if os.path.basename(p) in ("site-packages", "dist-packages")), 0)
    sys.path.insert(at, "")
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
