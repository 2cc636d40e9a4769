#!/usr/bin/env bash
# Builds .venv (Python 3.11) with the project and its test tools; idempotent and quiet
# when the environment is already there. torch comes from the machine's local wheel cache
# where pip has one (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
stamp=.venv/.grader-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # the distribution was called `grader` before it became `dlgrader` (the index's `grader` is
  # someone else's): an old editable install of that name goes first
  .venv/bin/python -m pip uninstall -q -y grader 2>/dev/null || true
  # uv takes the releases pip would take, from the places pip is configured with (its indexes,
  # local wheel folders, constraints: ci/pip_to_uv.py), and unpacks and compiles them in
  # parallel: 86 s from nothing on a fresh 2-core machine where pip took 118 s. pip where uv is unavailable.
  if .venv/bin/python -m pip install -q uv 2>/dev/null; then
    mapfile -t from_pip < <(.venv/bin/python ci/pip_to_uv.py)
    .venv/bin/uv pip install -q --python .venv/bin/python --compile-bytecode --index-strategy unsafe-best-match \
      "${from_pip[@]}" -e ".[test]" || .venv/bin/python -m pip install -q -e ".[test]"
  else
    .venv/bin/python -m pip install -q -e ".[test]"
  fi
  touch "$stamp"
fi
# the marking app's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download is not reachable from CI); its recommends (printing, desktop integration)
# are not needed headless and cost minutes on a fresh machine
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
    || echo "ci/setup.sh: could not install chromium; the marking app's browser tests will be skipped" >&2
fi
