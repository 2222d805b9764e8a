#!/usr/bin/env bash
# Sensor -> Tansu throughput on loopback (issue 2): publishes the shared data set (Windows,
# Zeek, Suricata, web, syslog, mail: ~193k records) with `--once` into a fresh Tansu broker and
# prints records/s. Usage: scripts/bench-sensor.sh [memory|sqlite] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
storage=${1:-memory}
runs=${2:-3}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
case $storage in
    memory) engine=memory://tansu/ ;;
    sqlite) engine=sqlite://b.db ;;
    *) echo "storage must be memory or sqlite" >&2; exit 2 ;;
esac
cargo build --release -q
D=../shared/data
inputs=("$D/windows/evtx-attack-samples.jsonl.gz" "$D/network/suricata/alerts.ndjson"
        "$D"/network/zeek/zed-sample-data/*.json.gz "$D/network/zeek/otrf-apt29-day1/combined_zeek.log.gz"
        "$D"/web/*.txt "$D"/web/*.log "$D/web/acunetix.txt.gz" "$D"/syslog/*.log "$D"/email/*.eml)
bytes=$(for f in "${inputs[@]}"; do zcat -f -- "$f"; done | wc -c)  # decompressed
for run in $(seq "$runs"); do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    dir=$(mktemp -d)
    (cd "$dir" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
        --storage-engine "$engine" >broker.log 2>&1) &
    broker=$!
    until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
    start=$(date +%s.%N)
    ./target/release/canhgac sensor --brokers "127.0.0.1:$port" --agency bench --sensor s1 --once \
        --log-format json "${inputs[@]}" 2>"$dir/sensor.log"
    end=$(date +%s.%N)
    kill "$broker"; wait "$broker" 2>/dev/null || true
    python3 - "$dir/sensor.log" "$start" "$end" "$bytes" "$storage" "$run" <<'PY'
import json, sys
log, start, end, size, storage, run = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
done = [json.loads(l) for l in open(log) if '"sensor finished"' in l][-1]
secs = end - start
print(f"run {run} ({storage}): {done['acked']} records acked in {secs:.2f} s = {done['acked']/secs:,.0f} records/s, {size/secs/1e6:.1f} MB/s of input")
PY
    rm -rf "$dir"
done
