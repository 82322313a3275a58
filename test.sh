#!/usr/bin/env bash
# The test command: sets up .venv, then lint, type check and the whole test suite.
# Extra arguments go to pytest (e.g. ./test.sh tests/labapp -k login).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/system-deps.sh  # first: the bootstrap compiles with its C compiler
bash scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy rampart benchmarks tests
exec .venv/bin/python -m pytest "$@"
