#!/usr/bin/env bash
# Load on the search route (issue 6): `wrk` against GET /api/v1/incidents of `canhgac serve`
# over an index of generated incidents (index/benches/index.rs builds it; one detection per
# incident, 24 months, 8 agencies, every category).
#
#   scripts/bench-serve.sh              # 1,000,000 incidents, 30 s per run
#   DURATION=60s CONNECTIONS=32 scripts/bench-serve.sh 2000000
#
# Two runs: a national token and an agency token (the agency scope is enforced inside the
# search). Each request is a filtered full-text search (words + category + 3-month range, 20
# newest hits), the query varying per request (scripts/bench-serve.lua). The rate limit is
# raised for the benchmark (--rate/--burst); everything else is the default configuration.
# The index is kept in DIR (default /tmp/canhgac-serve-bench) and reused by the next run with
# the same N; delete it when done.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
DIR=${DIR:-/tmp/canhgac-serve-bench}
T=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-30s}
CONNECTIONS=${CONNECTIONS:-16}
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
BENCH=$(scripts/bench-bin.sh canhgac-index index)
cargo build --release -q --bin canhgac
if [ "$(cat "$DIR/incidents" 2>/dev/null)" != "$N" ]; then
	"$BENCH" --incidents "$N" --dir "$DIR" --skip-bare --queries 20
	echo "$N" >"$DIR/incidents"
fi
du -sh "$DIR/canhgac"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tokens=$DIR/tokens.toml
: >"$tokens"
national=$("$T/release/canhgac" serve token new --role national --name bench-national 2>&1 >>"$tokens" | sed -n 2p | tr -d ' ')
agency=$("$T/release/canhgac" serve token new --role agency:byt --name bench-byt 2>&1 >>"$tokens" | sed -n 2p | tr -d ' ')
"$T/release/canhgac" serve --index "$DIR/canhgac" --listen "127.0.0.1:$port" --tokens "$tokens" \
	--rate 1000000 --burst 1000000 2>"$DIR/serve.log" &
serve=$!
trap 'kill $serve 2>/dev/null || true' EXIT
until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done
echo "== $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $N incidents, wrk -t2 -c$CONNECTIONS -d$DURATION"
for who in national agency; do
	tok=$national
	[ $who = agency ] && tok=$agency
	echo "-- $who token"
	curl -fs -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/api/v1/incidents?q=tan+cong&limit=1" |
		python3 -c 'import json,sys; v=json.load(sys.stdin); print("   sample: total", v["total"], "agencies", sorted({h["agency"] for h in v["hits"]}))'
	wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s scripts/bench-serve.lua \
		-H "Authorization: Bearer $tok" "http://127.0.0.1:$port" | grep -E "Requests/sec|Latency|50%|90%|99%|requests in|Non-2xx"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
