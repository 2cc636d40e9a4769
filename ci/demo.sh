#!/usr/bin/env bash
# The main job: build the environment, then grade the bundled example submissions of every
# assignment (reference, skeleton, buggy ones) and print the gradebooks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
exec .venv/bin/grader demo "$@"
