#!/usr/bin/env bash
# The test suite: build the environment, then pytest (slow tests included: kernels,
# training runs, every assignment's reference and skeleton through the real pipeline).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
# the reference's expectations are computed once per cache: a fresh clone starts empty
export GRADER_CACHE="${GRADER_CACHE:-$PWD/.grader-cache}"
# the session batches grade in the background while the tests that do not read them run
export GRADER_TEST_BACKGROUND="${GRADER_TEST_BACKGROUND:-1}"
exec .venv/bin/python -m pytest -q --durations=15 "$@"
