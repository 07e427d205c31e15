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
  # The harness measures its bare peer for votes and the embed page only; its results
  # route runs as an extra target (started in the harness's folder, like its peers), so
  # that civicpoll's results read has a ceiling too.
  BARE_RESULTS=(--target 'bare_results=exec "$BENCH_VENV/bin/uvicorn" --host 127.0.0.1 --port $PORT --loop uvloop --http httptools --no-access-log --log-level warning peers.bare:app'
    --modes 'bare_results=results')
  PROJECT=$PROJECT exec bash "$HARNESS" --peers "${BENCH_PEERS:-all}" "${BARE_RESULTS[@]}" \
    --target 'svc=bash "$PROJECT/bench/target.sh"' \
    --poll 'svc=@/tmp/svc-poll' \
    --modes 'svc=vote,embed,results' \
    --total 'svc=redis-cli -p 56379 hvals "{p:$POLL_ID}:c" | awk "{s+=\$1} END{print s}"' \
    --target 'svc_rating=BENCH_POLL_KIND=rating bash "$PROJECT/bench/target.sh"' \
    --poll 'svc_rating=@/tmp/svc-rating-poll' \
    --modes 'svc_rating=vote' \
    --total 'svc_rating=redis-cli -p 56379 hvals "{p:$POLL_ID}:c" | awk "{s+=\$1} END{print s}"' "$@"
fi
exec .venv/bin/python bench/local.py "$@"
