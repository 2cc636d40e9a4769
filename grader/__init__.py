"""grader: executes deep-learning notebook submissions in a sandbox, probes their
definitions and judges them against the reference solution.

In a student's notebook (Otter's convention), inside the release bundle's folder:

    import grader
    grader.check("2a")        # that item's public checks on the notebook's current definitions
    grader.check_all()        # every public check
    grader.init("path/to/bundle")   # once, where the notebook is not inside the bundle

Importing this package stays light: nothing of torch or TensorFlow until a check runs."""
import os as _os

__version__ = "0.1.0"


def _grading() -> bool:
    """Inside the grading kernel (the sandbox sets GRADER_KERNEL): a submission's own check
    cells do nothing there."""
    return _os.environ.get("GRADER_KERNEL") == "1"


def _namespace() -> dict:
    """The notebook's namespace (IPython's user namespace), else the caller's globals."""
    try:
        from IPython import get_ipython
        ip = get_ipython()
    except ImportError:
        ip = None
    if ip is not None:
        return ip.user_ns
    import sys
    return sys._getframe(2).f_globals


def init(path=None, assignment: str | None = None, device: str = "auto"):
    """Where the release bundle is, when the notebook does not run inside its folder;
    `assignment` where the bundle holds several; `device` auto, cpu or cuda."""
    if _grading():
        return None
    from .student import notebook
    return notebook.init(path, assignment, device)


def check(item):
    """Run one item's public checks on this notebook's current definitions; the result shows
    its points and what failed."""
    if _grading():
        return None
    from .student import notebook
    return notebook.run(_namespace(), str(item))


def check_all():
    """Run every public check on this notebook's current definitions."""
    if _grading():
        return None
    from .student import notebook
    return notebook.run(_namespace())
