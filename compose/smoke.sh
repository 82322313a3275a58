#!/usr/bin/env bash
# End-to-end check of the compose stack on a real container engine:
#   bash compose/smoke.sh [--users N] [--seconds S] [--keep]
# builds the image and starts every service, waits until each is healthy, checks that
# both gateways forward a benign request and block an attack, that the image runs as a
# non-root user, then runs Locust (master and two workers, the paced profile) through the
# master's web API for S seconds and fails when 1% or more of the requests failed. The stack
# is taken down afterwards unless --keep. Bounded: every wait has a deadline.
#
# Uses `docker compose` (v2), or `docker-compose` (v1, which does not know the top-level
# `name:`; the file is copied without it). Extra compose files (for instance stand-ins for
# images a machine cannot pull) go in RAMPART_COMPOSE_EXTRA, separated by colons.
set -euo pipefail
cd "$(dirname "$0")/.."
users=8
seconds=30
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --users) users="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: bash compose/smoke.sh [--users N] [--seconds S] [--keep]" >&2; exit 2 ;;
    esac
done

files=(-f compose/docker-compose.yml)
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose -p rampart)
elif command -v docker-compose >/dev/null 2>&1; then
    sed '/^name: /d' compose/docker-compose.yml > compose/.smoke-v1.yml
    trap 'rm -f compose/.smoke-v1.yml' EXIT
    files=(-f compose/.smoke-v1.yml)
    compose=(docker-compose -p rampart)
else
    echo "compose/smoke.sh: needs docker compose (or docker-compose) and a running docker daemon" >&2
    exit 2
fi
if [ -n "${RAMPART_COMPOSE_EXTRA:-}" ]; then
    IFS=: read -r -a extra <<< "$RAMPART_COMPOSE_EXTRA"
    for f in "${extra[@]}"; do files+=(-f "$f"); done
fi
dc() { "${compose[@]}" "${files[@]}" "$@"; }

down() {
    if [ "$keep" = 0 ]; then
        dc down --volumes --remove-orphans >/dev/null 2>&1 || true
    fi
}
trap 'down; rm -f compose/.smoke-v1.yml' EXIT

step() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

step "building the image"
dc build --quiet
step "starting the stack"
dc up -d --scale locust-worker=2

step "waiting until every container is healthy (at most 300 s)"
deadline=$((SECONDS + 300))
while :; do
    ids="$(dc ps -q)"
    total=0
    healthy=0
    for id in $ids; do
        total=$((total + 1))
        state="$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")"
        [ "$state" = healthy ] && healthy=$((healthy + 1))
    done
    if [ "$total" -ge 8 ] && [ "$healthy" = "$total" ]; then
        break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        dc ps
        echo "compose/smoke.sh: $healthy of $total containers healthy after 300 s" >&2
        exit 1
    fi
    sleep 3
done
step "$total containers healthy"
dc ps

fail=0
expect() {  # expect NAME URL STATUS
    got="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$2" || true)"
    if [ "$got" = "$3" ]; then
        step "ok: $1 -> $got"
    else
        step "FAIL: $1 -> $got (expected $3)"
        fail=1
    fi
}
expect "native gateway, benign" "http://127.0.0.1:8081/api/products?category=shoes" 200
expect "native gateway, SQL injection" "http://127.0.0.1:8081/api/products?category=shoes%27%20OR%201=1--" 403
expect "crs gateway, benign" "http://127.0.0.1:8082/api/products?category=shoes" 200
expect "crs gateway, SQL injection" "http://127.0.0.1:8082/api/products?category=shoes%27%20OR%201=1--" 403

uid="$(dc exec -T gateway-native id -u | tr -d '\r')"
if [ "$uid" = 0 ]; then
    step "FAIL: the gateway runs as root"
    fail=1
else
    step "ok: the gateway runs as uid $uid"
fi

step "Locust: $users users for $seconds s against the native gateway (paced profile)"
curl -s --max-time 10 -X POST http://127.0.0.1:8089/swarm \
    -d "user_count=$users" -d "spawn_rate=$users" -d "host=http://gateway-native:8080" >/dev/null
sleep "$seconds"
stats="$(curl -s --max-time 10 http://127.0.0.1:8089/stats/requests)"
curl -s --max-time 10 http://127.0.0.1:8089/stop >/dev/null || true
python3 - "$stats" <<'PY' || fail=1
import json
import sys

stats = json.loads(sys.argv[1])
total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
requests, failures = total["num_requests"], total["num_failures"]
share = failures / requests if requests else 1.0
print(f"Locust: {requests} requests, {failures} failed ({share:.2%}), "
      f"{stats.get('total_rps', 0):.1f} req/s now, workers {stats.get('workers', [])!r:.0}"
      f"{len(stats.get('workers', []))}")
for error in stats.get("errors", [])[:5]:
    print(f"  {error['occurrences']} x {error['method']} {error['name']}: {error['error'][:120]}")
sys.exit(0 if requests > 0 and share < 0.01 else 1)
PY

if [ "$fail" = 0 ]; then
    step "compose smoke test passed"
else
    step "compose smoke test FAILED"
    dc logs --tail 20 || true
fi
exit "$fail"
