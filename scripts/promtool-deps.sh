#!/usr/bin/env bash
# Idempotently install promtool (Debian's prometheus package) for the alert-rule tests
# (tests/ops/test_monitoring.py runs `promtool check rules deploy/prometheus/alerts.yml`).
# Installing the package must not start Debian's Prometheus service.
set -euo pipefail

log() { printf 'promtool-deps: %s\n' "$*" >&2; }

if command -v promtool >/dev/null; then
    exit 0
fi
if [[ "$(id -u)" -ne 0 ]]; then
    log "warning: no promtool; the alert-rule check will be skipped"
    log "install it with: sudo apt-get install -y prometheus"
    exit 0
fi
log "installing prometheus (Debian) for promtool"
export DEBIAN_FRONTEND=noninteractive
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if ! command -v promtool >/dev/null; then
    log "ERROR: apt-get finished but promtool is still missing"
    exit 1
fi
