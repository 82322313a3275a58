#!/usr/bin/env bash
# Check that requirements.lock resolves, hashes and all, on every supported Python found here
# (3.12 and 3.13): pip resolves it as `pip install --require-hashes` would, without installing
# (--dry-run, against PyPI alone). The lock is compiled on one Python; a dependency that only
# applies on another (an environment marker) can make it uninstallable there.
# Needs network to PyPI. Exits 1 naming the Python that cannot install the lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
checked=0
for version in 3.12 3.13; do
    py=""
    for cand in "python$version" "$HOME"/.pyenv/versions/"$version".*/bin/python3 \
        "/usr/local/bin/python$version" "/usr/bin/python$version"; do
        if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys' 2>/dev/null; then
            py="$cand"
            break
        fi
    done
    if [ -z "$py" ]; then
        echo "rampart: check-lock: no Python $version here, not checked"
        continue
    fi
    if ! out="$(PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= "$py" -m pip install --dry-run --quiet \
        --ignore-installed --require-hashes --disable-pip-version-check \
        -r requirements.lock 2>&1)"; then
        echo "rampart: check-lock: requirements.lock does not install on Python $version ($py):" >&2
        echo "$out" | grep -v '^\s*$' | tail -15 >&2
        echo "fix: add a constraint to scripts/lock-constraints.txt, then bash scripts/lock.sh" >&2
        exit 1
    fi
    echo "rampart: check-lock: requirements.lock installs on Python $version"
    checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || { echo "rampart: check-lock: no supported Python found" >&2; exit 1; }
