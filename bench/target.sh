#!/usr/bin/env bash
# The civicpoll target for ../shared/bench/run.sh (see bench/vote.sh): create the bench
# poll, then serve with uvicorn (uvloop + httptools) on $PORT.
set -euo pipefail
cd "$PROJECT"
export DATABASE_URL=$BENCH_PG_DSN REDIS_URL=$BENCH_REDIS_URL
export SECRET_KEY=${SECRET_KEY:-bench-secret-key-not-for-production-0123456789}
# wrk runs on this machine and sends random X-Forwarded-For addresses as "clients".
export TRUSTED_PROXIES=127.0.0.1/32
export ACCESS_LOG=${ACCESS_LOG:-true}
.venv/bin/python bench/make_poll.py
exec .venv/bin/uvicorn service.app:app --host 127.0.0.1 --port "$PORT" --no-access-log \
  --http service.server:HttpToolsProtocol \
  --no-proxy-headers \
  --log-level warning
