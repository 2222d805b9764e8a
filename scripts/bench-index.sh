#!/usr/bin/env bash
# Incident index benchmark (issue 5): index/benches/index.rs on generated incidents.
#
#   scripts/bench-index.sh                 # 5,000,000 incidents
#   scripts/bench-index.sh 1000000         # fewer
#
# Prints the indexing rate of canhgac's Indexer next to bare tantivy's for the same documents
# (same run), filtered full-text search latency p50/p95/p99, monthly statistics over twelve
# months, and the index size per incident. The scratch index lives under DIR (default
# /tmp/canhgac-index-bench; it needs about 2 KiB per incident, twice while both indexes exist)
# and is deleted afterwards. Environment: CARGO_TARGET_DIR (cargo's), DIR, THREADS (writer
# threads, default all cores), QUERIES (default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5000000}
DIR=${DIR:-/tmp/canhgac-index-bench}
THREADS=${THREADS:-$(nproc)}
QUERIES=${QUERIES:-300}

df -h "$(dirname "$DIR")" | tail -1
BENCH=$(scripts/bench-bin.sh canhgac-index index)
trap 'rm -rf "$DIR"' EXIT
echo "== $(date -u +%FT%TZ) incidents $N threads $THREADS load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "bench wall %e s, max RSS %M kB" \
	"$BENCH" --incidents "$N" --dir "$DIR" --threads "$THREADS" --queries "$QUERIES"
