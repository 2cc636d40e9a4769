"""uv's options for what pip is configured to use here (indexes, local wheel folders,
constraints, certificates), so that `uv pip install` takes the same releases from the same
places as `pip install` would: `python ci/pip_to_uv.py` prints them, one per line."""
import shlex
import subprocess
import sys

PASSED = {"index-url", "extra-index-url", "find-links", "constraint"}     # the same option names in uv


def settings() -> dict[str, list[str]]:
    """pip's own view (its config files and PIP_* variables), the variables winning."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    found: dict[str, list[str]] = {}
    for line in sorted(listed.splitlines(), key=lambda s: s.startswith(":env:")):
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        found[name] = shlex.split(shlex.split(value)[0]) if value else []
    return found


def main() -> None:
    args, found = [], settings()
    for name, values in found.items():
        if name in PASSED:
            args += [part for v in values for part in (f"--{name}", v)]
    if "cert" in found:
        args.append("--native-tls")          # the machine's certificates, as pip is told to use
    print("\n".join(args))


if __name__ == "__main__":
    main()
