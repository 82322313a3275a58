#!/usr/bin/env bash
# Build local stand-ins for the registry images the compose stack uses, on a Debian machine that
# reaches Debian's and PyPI's mirrors but not Docker Hub:
#   python:3.12-slim-bookworm  Debian bookworm (debootstrap) plus a CPython 3.12 build from this
#                              machine (RAMPART_STANDIN_PYTHON, default: pyenv's 3.12.x)
#   rampart-standin/redis      Debian's redis-server 7.0 (for redis:7-alpine)
#   rampart-standin/mongo      SecantusDB, a MongoDB wire-protocol server (for mongo:7; MongoDB
#                              is not in Debian)
# Then: RAMPART_COMPOSE_EXTRA=compose/offline/standins.yml bash compose/smoke.sh
# Where the registry is reachable none of this is needed: compose pulls the real images.
# Needs root (debootstrap), docker and network to deb.debian.org and PyPI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${RAMPART_STANDIN_WORK:-/tmp/rampart-standins}"
py="${RAMPART_STANDIN_PYTHON:-$(ls -d "$HOME"/.pyenv/versions/3.12.* 2>/dev/null | tail -1)}"
[ -x "$py/bin/python3.12" ] || { echo "set RAMPART_STANDIN_PYTHON to a CPython 3.12 prefix" >&2; exit 2; }
mkdir -p "$work"
if ! docker image inspect rampart-local/debian:bookworm >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    [ -d "$work/rootfs/usr" ] || debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian
    tar -C "$work/rootfs" -c . | docker import - rampart-local/debian:bookworm
fi
# python: the same prefix path inside the image, so the build's own paths still hold
rm -rf "$work/python" && mkdir -p "$work/python"
cp -a "$py" "$work/python/py"
find "$work/python/py" -name __pycache__ -prune -exec rm -rf {} +
cp /etc/ssl/certs/ca-certificates.crt "$work/python/ca.crt"  # the machine's CAs (an egress proxy's too)
cat > "$work/python/Dockerfile" <<DOCKER
FROM rampart-local/debian:bookworm
COPY ca.crt /etc/ssl/certs/ca-certificates.crt
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 libffi8 \
      libsqlite3-0 zlib1g libbz2-1.0 liblzma5 libreadline8 libncursesw6 libuuid1 libgdbm6 \
 && rm -rf /var/lib/apt/lists/*
COPY ca.crt /etc/ssl/certs/ca-certificates.crt
COPY py $py
RUN chmod 755 "$(dirname "$(dirname "$(dirname "$py")")")" "$(dirname "$(dirname "$py")")" "$(dirname "$py")" 2>/dev/null || true; \
    ln -s $py/bin/python3.12 /usr/local/bin/python && ln -s $py/bin/python3.12 /usr/local/bin/python3 \
 && printf '#!/bin/sh\nexec /usr/local/bin/python -m pip "\$@"\n' > /usr/local/bin/pip && chmod 755 /usr/local/bin/pip \
 && python -c "import ssl, sqlite3, ctypes; print('python ok')"
ENV PATH=$py/bin:\$PATH
DOCKER
docker build -q -t python:3.12-slim-bookworm "$work/python"
docker build -q -t rampart-standin/redis -f "$here/redis.Dockerfile" "$here"
docker build -q -t rampart-standin/mongo -f "$here/mongo.Dockerfile" "$here"
echo "stand-ins built; now: RAMPART_COMPOSE_EXTRA=compose/offline/standins.yml bash compose/smoke.sh"
