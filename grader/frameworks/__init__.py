"""Framework adapters: what checks need from a deep-learning library (build, forward,
hooks, parameter counts, gradients, weight transfer, seeding, device), one module per
framework, so that no check imports torch or tensorflow."""


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
