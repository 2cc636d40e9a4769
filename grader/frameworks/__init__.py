"""Framework adapters: what checks need from a deep-learning library (build, forward,
hooks, parameter counts, gradients, weight transfer, seeding, device), one module per
framework, so that no check imports torch or tensorflow."""


class NotPlain(Exception):
    """A value that came out of student code is not exactly the framework's tensor, a numpy
    array or a number (a subclass, an object with its own __torch_function__ or __array__),
    or the framework's own arithmetic was intercepted (a torch function mode left active).
    It voids the probe (zero, status review): what it reports cannot be taken as measured."""


def numpy_plain(value) -> bool:
    """Exactly a numpy array, a numpy scalar or a Python number (not a subclass)."""
    import numpy as np
    t = type(value)
    return t is np.ndarray or t in (int, float, bool) or (t.__module__ == "numpy" and t in _numpy_scalars())


_SCALARS: set = set()


def _numpy_scalars() -> set:
    if not _SCALARS:
        import numpy as np
        _SCALARS.update(t for t in set(np.sctypeDict.values()) if isinstance(t, type) and issubclass(t, np.generic))
    return _SCALARS


def check_plain(value, tensor_types: tuple, what: str = "the value", depth: int = 0) -> None:
    """Raise NotPlain unless `value` is exactly one of `tensor_types`, numpy's or a number, or a
    list/tuple of those (nested)."""
    if type(value) in tensor_types or numpy_plain(value):
        return
    if type(value) in (list, tuple) and depth < 8:
        for v in value:
            check_plain(v, tensor_types, what, depth + 1)
        return
    raise NotPlain(f"{what} is a {type(value).__module__}.{type(value).__qualname__}, not a plain tensor, "
                   "array or number")


def looks_plain(value, tensor_types: tuple, depth: int = 0) -> bool:
    """Whether a value claims to be a measurement: an instance of a tensor type, numpy's array
    or scalars or a number (subclasses included), or a list/tuple holding one. Where `checked`
    refuses such a value it lies (a subclass) or cannot be measured (a torch mode intercepts);
    a value that does not look plain (a symbolic tensor, a string) is simply not a measurement."""
    import numpy as np
    if type(value) in (list, tuple) and depth < 8:
        return any(looks_plain(v, tensor_types, depth + 1) for v in value)
    return isinstance(value, (*tensor_types, np.ndarray, np.generic, int, float, complex))


def plain(value, convert=lambda v: None):
    """Answers and configs as JSON-able Python. `convert` turns a framework's own values
    (tensors, sizes, shapes) into Python lists, or returns None for anything else."""
    import numpy as np

    own = convert(value)
    if own is not None:
        return own
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [plain(v, convert) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v, convert) for k, v in value.items()}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)
