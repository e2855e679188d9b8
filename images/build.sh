#!/usr/bin/env bash
# make images: build the docker backend's images locally; nothing is assumed pullable.
#
#   base      BASE_IMAGE (python:3.11-slim) if present or pullable, else a Debian bookworm with
#             python3 built here (debootstrap + docker import) as shortvideo-chaos/debian-python
#   platform  shortvideo-chaos/platform:latest: the project's wheel and its dependencies' wheels
#             (built on this host, into build/docker) installed in a venv on the base, with
#             the real stack's servers (PostgreSQL, nginx, Redis: scripts/system-deps.sh, apt)
#   proxy     shortvideo-chaos/toxiproxy:latest: the official Toxiproxy image (TOXIPROXY_IMAGE)
#             when it can be pulled, else the platform image running `harness proxy`; a label
#             says which, and the harness runs either the same way
# A second run reuses every layer and the local base: only a changed project is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim}
LOCAL_BASE=shortvideo-chaos/debian-python:bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
IMAGE=shortvideo-chaos/platform:latest
PROXY_IMAGE=shortvideo-chaos/toxiproxy:latest
TOXIPROXY_IMAGE=${TOXIPROXY_IMAGE:-ghcr.io/shopify/toxiproxy:2.9.0}
CONTEXT=build/docker

say() { echo "==> $*"; }
if ! docker info >/dev/null 2>&1; then
  echo "error: no Docker engine answers; start one, e.g.: dockerd --bridge=none --iptables=false &" >&2
  exit 3
fi

# 1. The base image.
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
  base=$BASE_IMAGE
  say "base image: $BASE_IMAGE"
else
  base=$LOCAL_BASE
  say "$BASE_IMAGE cannot be pulled (no registry access): using $LOCAL_BASE, built here from Debian packages"
  if ! docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { echo "error: apt-get install debootstrap" >&2; exit 3; }
    rootfs=$(mktemp -d /tmp/shortvideo-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    say "debootstrap bookworm (python3) from $DEBIAN_MIRROR (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$DEBIAN_MIRROR" \
      > "$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 3; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import -c 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    trap - EXIT
    say "imported $LOCAL_BASE"
  fi
fi

# 2. Wheels, built on this host (its package index settings apply), reused between builds.
mkdir -p "$CONTEXT/deps"
rm -rf "$CONTEXT/project" && mkdir -p "$CONTEXT/project"
"$PY" - > "$CONTEXT/requirements.new" <<'PYEOF'
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PYEOF
quiet() {  # run "$@" with its output in a log, shown only when it fails
  "$@" > "$CONTEXT/step.log" 2>&1 || { grep -v '^WARNING: Location' "$CONTEXT/step.log" >&2; exit 3; }
}
if cmp -s "$CONTEXT/requirements.new" "$CONTEXT/requirements.txt" && [[ -f "$CONTEXT/deps/.complete" ]]; then
  say "wheels of the dependencies: unchanged (in $CONTEXT/deps)"
else
  say "wheels of the dependencies (into $CONTEXT/deps)"
  rm -f "$CONTEXT/deps/.complete"
  cp "$CONTEXT/requirements.new" "$CONTEXT/requirements.txt"
  quiet "$PY" -m pip wheel --disable-pip-version-check --find-links "$CONTEXT/deps" \
    -w "$CONTEXT/deps" -r "$CONTEXT/requirements.txt"
  touch "$CONTEXT/deps/.complete"
fi
quiet "$PY" -m pip wheel --disable-pip-version-check --no-deps -w "$CONTEXT/project" .

# 3. The platform image (its first build installs the real stack's servers with apt: a minute).
cp scripts/system-deps.sh "$CONTEXT/system-deps.sh"
say "building $IMAGE on $base"
quiet docker build --network host --build-arg "BASE=$base" -f images/Dockerfile -t "$IMAGE" "$CONTEXT"

# 4. The proxy image: official when pullable, else ours.
if docker image inspect "$TOXIPROXY_IMAGE" >/dev/null 2>&1 || docker pull -q "$TOXIPROXY_IMAGE" >/dev/null 2>&1; then
  flavour=official from=$TOXIPROXY_IMAGE
  say "proxy: the official image $TOXIPROXY_IMAGE"
else
  flavour=embedded from=$IMAGE
  say "proxy: $TOXIPROXY_IMAGE cannot be pulled; using the embedded proxy (harness proxy) in $IMAGE"
fi
printf 'FROM %s\nLABEL io.shortvideo-chaos.proxy=%s\n' "$from" "$flavour" > "$CONTEXT/Dockerfile.proxy"
quiet docker build --network host -f "$CONTEXT/Dockerfile.proxy" -t "$PROXY_IMAGE" "$CONTEXT/project"
say "images ready: $IMAGE, $PROXY_IMAGE ($flavour)"
# earlier builds' images, now untagged, go (only ours: by label)
docker image prune -f --filter label=io.shortvideo-chaos.image=platform >/dev/null
