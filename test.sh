#!/usr/bin/env bash
# The test command: sets up .venv, then lint, type check and the whole test suite.
# Extra arguments go to pytest (e.g. ./test.sh tests/labapp -k login).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/bootstrap.sh
bash scripts/system-deps.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy rampart benchmarks tests
exec .venv/bin/python -m pytest "$@"
