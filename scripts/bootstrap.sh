#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install rampart with everything it uses: first every
# dependency from requirements.lock (exact versions, sha256-checked), then rampart itself
# (editable, --no-deps). Run by demo.sh and test.sh; safe to run again (it reinstalls only
# when pyproject.toml or requirements.lock change). Regenerate the lock with scripts/lock.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

find_python() {
    local cand
    for cand in "${RAMPART_PYTHON:-}" python3.13 python3.12 python3 \
        "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
        /usr/local/bin/python3.13 /usr/local/bin/python3.12 /usr/bin/python3.13 /usr/bin/python3.12; do
        [ -n "$cand" ] || continue
        command -v "$cand" >/dev/null 2>&1 || [ -x "$cand" ] || continue
        if "$cand" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then
            echo "$cand"
            return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
    py="$(find_python)" || { echo "rampart: needs Python >= 3.12 (set RAMPART_PYTHON=/path/to/python3.12)" >&2; exit 1; }
    echo "rampart: creating .venv with $("$py" --version 2>&1) ($py)"
    rm -rf .venv
    "$py" -m venv .venv
fi

stamp=".venv/.rampart-installed"
want="$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "rampart: installing dependencies into .venv (first run takes a minute or two)"
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    if ! { .venv/bin/python -m pip install --quiet --require-hashes -r requirements.lock \
        && .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .; } > .venv/install.log 2>&1; then
        tail -n 40 .venv/install.log >&2
        echo "rampart: dependency installation failed (full log: .venv/install.log)" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi

# The native engine's hot modules compiled to C with mypyc (rampart/accel.py): built once per
# source change, in about a minute; without a C compiler the engine runs as pure Python.
if ! .venv/bin/python -m rampart.accel build --quiet; then
    echo "rampart: the native engine runs as pure Python (about twice the CPU per request)" >&2
fi
