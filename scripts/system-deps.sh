#!/usr/bin/env bash
# Debian packages beyond Python: Chromium for the report's browser test, PostgreSQL 15, nginx
# and Redis for the real stack (--stack real) and its tests. `scripts/system-deps.sh` installs
# every one; `scripts/system-deps.sh postgresql nginx redis` (or chromium) only those. Idempotent: installs only what
# is missing. Needs root (CI machines run as root).
set -euo pipefail
wanted=("$@")
((${#wanted[@]} == 0)) && wanted=(chromium postgresql nginx redis)
missing=()
for package in "${wanted[@]}"; do
  case "$package" in
    chromium) command -v chromium >/dev/null 2>&1 || missing+=(chromium) ;;
    postgresql) compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql) ;;
    nginx) [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light) ;;
    redis) [[ -x /usr/bin/redis-server ]] || missing+=(redis-server) ;;
    *) echo "system-deps.sh: unknown package $package (chromium, postgresql, nginx, redis)" >&2; exit 2 ;;
  esac
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "missing Debian packages: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "==> installing Debian packages: ${missing[*]}"
apt-get update -qq
# a package's own service is never started here: the harness starts its servers itself
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
