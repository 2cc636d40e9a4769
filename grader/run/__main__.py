"""The one entry point of the sandboxed processes:

    python -P -m grader.run kernel CHANNEL FRAMEWORK WORKSPACE -- <ipykernel arguments>
    python -P -m grader.run zygote FD FRAMEWORK MODULE ...

`kernel` arms the probe library and starts ipykernel (kernel.py); `zygote` imports the
modules and forks kernels on request (zygote.py), each of which runs kernel.main."""
from __future__ import annotations

import os
import sys


def main() -> None:
    # the working directory is the student's workspace: nothing there may shadow a module the
    # library imports while it is armed (-P already keeps it off; this covers a plain -m)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    role, argv = sys.argv[1], sys.argv[2:]
    if role == "zygote":
        from grader.run.zygote import serve
        serve(int(argv[0]), argv[2:], argv[1])
    elif role == "kernel":
        from grader.run.kernel import main as kernel
        kernel(argv)
    else:
        raise SystemExit(f"grader.run: unknown role {role!r} (kernel or zygote)")


if __name__ == "__main__":
    main()
