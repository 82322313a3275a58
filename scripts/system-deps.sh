#!/usr/bin/env bash
# Debian packages some parts use: OWASP CRS 3.3.4 (crs engine), chromium (report browser
# test), nginx + ModSecurity (throughput peer). Installs only what is missing, only as root.
set -uo pipefail
pkgs=()
[ -d /usr/share/modsecurity-crs/rules ] || pkgs+=(modsecurity-crs)
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
command -v nginx >/dev/null 2>&1 || pkgs+=(nginx)
[ -e /usr/share/nginx/modules-available/mod-http-modsecurity.conf ] || [ -e /usr/lib/nginx/modules/ngx_http_modsecurity_module.so ] || pkgs+=(libnginx-mod-http-modsecurity)
[ ${#pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "rampart: optional system packages missing (${pkgs[*]}); tests that need them will skip" >&2
    exit 0
fi
echo "rampart: installing system packages: ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 || echo "rampart: could not install ${pkgs[*]}" >&2
# the packaged nginx starts a daemon on :80 on install; rampart runs its own instances
if command -v systemctl >/dev/null 2>&1; then systemctl stop nginx >/dev/null 2>&1 || true; fi
pkill -x nginx >/dev/null 2>&1 || true
exit 0
