#!/usr/bin/env bash
# A Docker engine for the docker backend's tests, on a machine that has none (our CI):
# Debian's docker.io (+ debootstrap for the local base image, docker-compose for the compose
# test), and dockerd started in the background with host networking only (no bridge, no
# iptables: this machine allows loopback only). Idempotent: an engine that answers is kept.
set -euo pipefail
say() { echo "==> $*"; }
if docker info >/dev/null 2>&1; then
  say "Docker engine already running"
else
  missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  say "starting dockerd --bridge=none --iptables=false (log: /tmp/dockerd.log)"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -20 /tmp/dockerd.log >&2; echo "error: dockerd did not start" >&2; exit 3; }
  say "Docker engine up: $(docker version --format '{{.Server.Version}}')"
fi
for tool in debootstrap docker-compose; do
  command -v "$tool" >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$tool" >/dev/null
  }
done
