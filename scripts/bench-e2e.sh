#!/usr/bin/env bash
# End-to-end benchmark through Tansu (memory storage) on loopback: sensors -> broker -> one
# detect worker (whole SigmaHQ corpus + rules/sigma) -> indexer. Prints sustained events/s and
# the latency from an event appended to a followed log until its detection is searchable.
#
#   scripts/bench-e2e.sh                 12 copies of the 8,255 Windows events, commit 500 ms
#   COPIES=24 COMMIT_MS=2000 scripts/bench-e2e.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CANHGAC_TANSU="${CANHGAC_TANSU:-${CARGO_HOME:-$HOME/.cargo}/bin/tansu}"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
cargo test --release --test tests bench_e2e:: -- --ignored --nocapture 2>&1 | grep -E '^e2e:|panicked|error'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
