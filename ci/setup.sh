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
  .venv/bin/python -m pip install -q -e ".[test]"
  touch "$stamp"
fi
# the marking app's browser tests drive Debian's Chromium through Playwright (Playwright's own
# browser download is not reachable from CI)
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  $SUDO apt-get install -y -q chromium >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium >/dev/null; } \
    || echo "ci/setup.sh: could not install chromium; the marking app's browser tests will be skipped" >&2
fi
