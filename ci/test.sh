#!/usr/bin/env bash
# The test suite: build the environment, then pytest (slow tests included: kernels,
# training runs, every assignment's reference and skeleton through the real pipeline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
exec .venv/bin/python -m pytest -q "$@"
