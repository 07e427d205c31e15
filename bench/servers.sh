#!/usr/bin/env bash
# The HTTP servers side by side on the team harness (README "The HTTP server, chosen by
# measurement"): the bare Starlette peer and civicpoll under stock uvicorn, uvicorn with
# service/server/protocol.py and granian, plus civicpoll with two workers, in one run.
#   bench/servers.sh [forward|reverse]   # run both orders, interleaved, to average drift
# granian must be installed in .venv (pip install granian) to measure it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
T='redis-cli -p 56379 hvals "{p:$POLL_ID}:c" | awk "{s+=\$1} END{print s}"'
G="$PWD/.venv/bin/granian --interface asgi --loop uvloop --http 1 --no-ws --host 127.0.0.1 --port \$PORT --log-level warning"
U="$PWD/.venv/bin/uvicorn --host 127.0.0.1 --port \$PORT --loop uvloop --no-access-log --log-level warning"
declare -a A=(
  --target "bare_stock=exec $U --http httptools peers.bare:app" --modes 'bare_stock=vote,embed,results'
  --target "bare_proto=PYTHONPATH=$PWD exec $U --http service.server:HttpToolsProtocol peers.bare:app" --modes 'bare_proto=vote,embed,results'
  --target "bare_granian=exec $G peers.bare:app" --modes 'bare_granian=vote,embed,results'
)
for s in stock protocol granian; do
  A+=(--target "svc_$s=BENCH_SERVER=$s bash \"\$PROJECT/bench/target.sh\"" --poll "svc_$s=@/tmp/svc-poll-$s" --modes "svc_$s=vote,embed,results" --total "svc_$s=$T")
done
A+=(--target "svc_w2=BENCH_WORKERS=2 bash \"\$PROJECT/bench/target.sh\"" --poll "svc_w2=@/tmp/svc-poll-w2" --modes "svc_w2=vote,embed,results" --total "svc_w2=$T")
if [[ "${1:-forward}" == reverse ]]; then
  # the same targets in the opposite order (groups of 6 or 8 arguments)
  declare -a G=() R=(); i=0
  while (( i < ${#A[@]} )); do
    n=6; [[ "${A[$((i+6))]:-}" == --total ]] && n=8
    G+=("$i:$n"); i=$((i+n))
  done
  for (( k=${#G[@]}-1; k>=0; k-- )); do R+=("${A[@]:${G[$k]%%:*}:${G[$k]##*:}}"); done
  A=("${R[@]}")
fi
PROJECT=$PWD exec bash "${BENCH_HARNESS:-$PWD/../shared/bench/run.sh}" --peers none --no-limits --duration 8s --warmup 2s "${A[@]}"
