"""My assignment 6 code, as a package."""
ANSWERS = {
    "1a": (32, 16, 64, 64),
    "1b": (32, 128, 3, 3),
    "1c": (32, 32, 65, 65),
    "1d": 448,
}
