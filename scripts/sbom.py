"""Write sbom.cdx.json: CycloneDX from requirements.lock, plus what wheels vendor.

    bash scripts/sbom.sh        (installs cyclonedx-bom into .venv, then runs this)

cyclonedx-py turns the lock into components (name, version, purl, the lock's sha256s). A
scanner that reads only that list misses native libraries that manylinux wheels carry in
``<package>.libs/`` (auditwheel's vendoring): the libmodsecurity wheel ships its own
OpenSSL, curl, libxml2 and xz. This script finds those files in the installed .venv and adds
each as a sub-component of the wheel that carries it, with the version read from the binary
where the library prints one (OpenSSL, curl) and otherwise from the file name.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
OUT = ROOT / "sbom.cdx.json"

# library file stem -> (component name, pattern of the version string inside the binary)
_KNOWN: dict[str, tuple[str, bytes | None]] = {
    "libssl": ("openssl", rb"OpenSSL (\d+\.\d+\.\d+[a-z]*)"),
    "libcrypto": ("openssl", rb"OpenSSL (\d+\.\d+\.\d+[a-z]*)"),
    "libcurl": ("curl", rb"libcurl/(\d+\.\d+\.\d+)"),
    "libxml2": ("libxml2", None),
    "liblzma": ("xz", None),
}
_FILE = re.compile(r"^(?P<stem>lib[\w+]+?)(?:-[0-9a-f]{8})?\.so(?:\.(?P<soversion>[\w.]+))?$")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _vendored(site: Path) -> dict[str, list[dict[str, Any]]]:
    """Distribution name (normalised) -> sub-components for the files in its ``.libs`` folder."""
    found: dict[str, list[dict[str, Any]]] = {}
    for libs in sorted(site.glob("*.libs")):
        dist = _norm(libs.name.removesuffix(".libs"))
        seen: set[tuple[str, str]] = set()
        from_binary: set[str] = set()  # libssl carries no version string; its libcrypto does
        for path in sorted(libs.iterdir()):
            m = _FILE.match(path.name)
            if not m:
                continue
            name, pattern = _KNOWN.get(m["stem"], (m["stem"], None))
            version, source = m["soversion"] or "unknown", "file name"
            if pattern is not None and (hit := re.search(pattern, path.read_bytes())):
                version, source = hit.group(1).decode(), "version string in the binary"
            if (name, version) in seen or (source == "file name" and name in from_binary):
                continue
            seen.add((name, version))
            if source != "file name":
                from_binary.add(name)
            found.setdefault(dist, []).append(
                {
                    "type": "library",
                    "bom-ref": f"vendored:{dist}:{name}@{version}",
                    "name": name,
                    "version": version,
                    "properties": [
                        {"name": "rampart:vendored-in", "value": f"{dist} wheel ({libs.name}/{path.name})"},
                        {"name": "rampart:version-source", "value": source},
                    ],
                }
            )
    return found


def main() -> int:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cyclonedx_py",
            "requirements",
            "--pyproject",
            str(ROOT / "pyproject.toml"),
            "--output-reproducible",
            "--of",
            "JSON",
            "-o",
            "-",
            str(LOCK),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    bom = json.loads(done.stdout)
    vendored = _vendored(Path(sysconfig.get_paths()["purelib"]))
    added = 0
    for component in bom.get("components", []):
        subs = vendored.get(_norm(component["name"]))
        if subs:
            component["components"] = subs
            added += len(subs)
    OUT.write_text(json.dumps(bom, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUT.name}: {len(bom.get('components', []))} packages, {added} vendored libraries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
