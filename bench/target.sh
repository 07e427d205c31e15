#!/usr/bin/env bash
# The civicpoll target for ../shared/bench/run.sh (see bench/vote.sh): create the bench
# poll, then serve on $PORT.
#   BENCH_WORKERS=2       server processes (default 1; the harness pins them all to one core
#                         unless SERVER_CPU names more)
#   BENCH_SERVER=protocol uvicorn with service/server/protocol.py (what civicpoll serve runs);
#                stock    uvicorn's own httptools protocol;  granian  granian's ASGI server
set -euo pipefail
cd "$PROJECT"
export DATABASE_URL=$BENCH_PG_DSN REDIS_URL=$BENCH_REDIS_URL
export SECRET_KEY=${SECRET_KEY:-bench-secret-key-not-for-production-0123456789}
# wrk runs on this machine and sends random X-Forwarded-For addresses as "clients".
export TRUSTED_PROXIES=127.0.0.1/32
export ACCESS_LOG=${ACCESS_LOG:-true}
export PYTHONPATH=$PROJECT
WORKERS=${BENCH_WORKERS:-1}
.venv/bin/python bench/make_poll.py
case "${BENCH_SERVER:-protocol}" in
  protocol)
    exec .venv/bin/uvicorn --factory service.app:from_environment --workers "$WORKERS" \
      --host 127.0.0.1 --port "$PORT" --no-access-log --no-proxy-headers --log-level warning \
      --loop uvloop --http service.server:HttpToolsProtocol ;;
  stock)
    exec .venv/bin/uvicorn --factory service.app:from_environment --workers "$WORKERS" \
      --host 127.0.0.1 --port "$PORT" --no-access-log --no-proxy-headers --log-level warning \
      --loop uvloop --http httptools ;;
  granian)
    exec .venv/bin/granian --interface asgi --factory --loop uvloop --workers "$WORKERS" \
      --host 127.0.0.1 --port "$PORT" --log-level warning --no-ws --http 1 \
      service.app:from_environment ;;
  *) echo "BENCH_SERVER: protocol, stock or granian" >&2; exit 2 ;;
esac
