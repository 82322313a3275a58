#!/usr/bin/env bash
# Debian packages some parts use: OWASP CRS 3.3.4 (crs engine), chromium (report browser
# test), nginx + ModSecurity (throughput peer), wrk (benchmarks), gcc (source-only packages
# and the compiled native engine). Installs only what is
# missing, only as root. Never touches an nginx that was there before: a freshly installed
# nginx is kept from starting its packaged daemon (policy-rc.d), and if it started anyway,
# only the daemon this install started (its pid file, new since) is stopped.
set -uo pipefail
pkgs=()
[ -d /usr/share/modsecurity-crs/rules ] || pkgs+=(modsecurity-crs)
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
command -v nginx >/dev/null 2>&1 || pkgs+=(nginx)
[ -e /usr/share/nginx/modules-available/mod-http-modsecurity.conf ] || [ -e /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || pkgs+=(libnginx-mod-http-modsecurity)
command -v wrk >/dev/null 2>&1 || pkgs+=(wrk)
# a C compiler: pytricia (in the lock) publishes only a source archive, and rampart.accel
# compiles the native engine with it (without one the engine runs as pure Python)
command -v gcc >/dev/null 2>&1 || pkgs+=(gcc libc6-dev)
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "rampart: optional system packages missing (${pkgs[*]}); tests that need them will skip" >&2
    exit 0
fi
echo "rampart: installing system packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
pidfile=/run/nginx.pid
had_pidfile=0
[ -e "$pidfile" ] && had_pidfile=1
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    # Debian's convention: exit 101 = "do not start services" while packages install
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
fi
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 || echo "rampart: could not install ${pkgs[*]}" >&2
[ "$own_policy" = 1 ] && rm -f "$policy"
if [[ " ${pkgs[*]} " == *" nginx "* ]] && [ "$had_pidfile" = 0 ] && [ -s "$pidfile" ]; then
    pid="$(cat "$pidfile")"
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nginx ]; then
        echo "rampart: stopping the nginx daemon that its package install started (pid $pid)"
        kill "$pid" 2>/dev/null || true
    fi
fi
exit 0
