#!/usr/bin/env bash
# The main job: sets up .venv, then runs `rampart demo` on embedded defaults.
# Extra arguments go to `rampart demo` (see `rampart demo --help`).
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/system-deps.sh  # first: the bootstrap compiles with its C compiler
bash scripts/bootstrap.sh
exec .venv/bin/rampart demo "$@"
