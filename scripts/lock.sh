#!/usr/bin/env bash
# Regenerate requirements.lock: every dependency of rampart[all,dev] plus the build backend,
# pinned with the sha256 of every file PyPI has for that version (pip-tools' pip-compile),
# resolved against PyPI alone (this machine's pip config and local mirrors are ignored).
# Existing pins are kept; pass --upgrade (or --upgrade-package NAME) to move them.
# Then regenerate the SBOM: bash scripts/sbom.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
.venv/bin/python -m pip install --quiet "pip-tools>=7.4"
tmp="$(mktemp --suffix=.lock)"
trap 'rm -f "$tmp"' EXIT
[ -f requirements.lock ] && cp requirements.lock "$tmp"
PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null .venv/bin/pip-compile --quiet \
    --generate-hashes --allow-unsafe --all-build-deps --strip-extras \
    --extra all --extra dev --no-emit-index-url --no-emit-find-links \
    --constraint scripts/lock-constraints.txt \
    --output-file "$tmp" "$@" pyproject.toml
# The extras name rampart itself ("rampart[lab,...]"); the project is installed from the
# work tree with --no-deps after the lock, so its own line (a local path) is dropped.
.venv/bin/python - "$tmp" requirements.lock <<'PY'
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
text = re.sub(r"(?m)^# WARNING: pip install will require.*\n(?:#.*\n)*?rampart @ file:.*\n(?:    #.*\n)*", "", text)
text = re.sub(r"(?m)^#    pip-compile .*$", "#    bash scripts/lock.sh", text)
assert "rampart @" not in text, "the project's own line is still in the lock"
open(sys.argv[2], "w", encoding="utf-8").write(text)
PY
echo "wrote requirements.lock ($(grep -c '^[a-zA-Z]' requirements.lock) packages)"
bash scripts/check-lock.sh
