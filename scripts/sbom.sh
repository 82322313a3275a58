#!/usr/bin/env bash
# Regenerate sbom.cdx.json (CycloneDX) from requirements.lock and the wheels installed in .venv.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/bootstrap.sh
.venv/bin/python -m pip install --quiet "cyclonedx-bom>=5"
exec .venv/bin/python scripts/sbom.py
