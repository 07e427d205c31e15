#!/usr/bin/env bash
# `make bench`: the vote-path benchmark (wrk, one server process).
#
# Beside the team's harness (../shared/bench/run.sh) civicpoll runs in the same session
# as its peers — bare Starlette (the framework ceiling), a one-EVALSHA Redis floor, a
# naive asyncpg UPDATE and the Django tutorial app — and the summary gives ratios.
# Without it, bench/local.py measures civicpoll alone against embedded servers.
#   BENCH_PEERS=bare,redis_floor make bench     # fewer peers (default: all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROJECT=$PWD
HARNESS=${BENCH_HARNESS:-$PROJECT/../shared/bench/run.sh}
if [[ -x "$HARNESS" || -f "$HARNESS" ]]; then
  PROJECT=$PROJECT exec bash "$HARNESS" --peers "${BENCH_PEERS:-all}" \
    --target 'svc=bash "$PROJECT/bench/target.sh"' \
    --poll 'svc=@/tmp/svc-poll' \
    --modes 'svc=vote,embed,results' \
    --total 'svc=redis-cli -p 56379 hvals "{p:$POLL_ID}:c" | awk "{s+=\$1} END{print s}"' "$@"
fi
exec .venv/bin/python bench/local.py "$@"
