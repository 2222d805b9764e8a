#!/usr/bin/env bash
# Detect worker end to end through Tansu (issue 4). Starts a Tansu broker with in-memory
# storage, publishes the 8,255 Windows attack-trace events COPIES times with `canhgac sensor`
# (one sensor name per copy, so every event id is distinct), then runs ONE `canhgac detect`
# worker with the whole SigmaHQ corpus, the project's rules and the IOC lists until it has
# acked every event, and prints events/s, the end-to-end latency (sensor read -> worker ack,
# from the worker's histogram), where the worker's time went, and the engine's offline
# one-core rate measured in the same run (detect/benches/measure.rs, `event` pass: payload ->
# Event -> evaluation).
#
# Two phases: "drain" (everything published first, the worker started on a full topic: its
# throughput) and "live" (the worker running, copies appended to a file one running sensor
# follows: latency).
#
# Usage: scripts/bench-detect.sh [COPIES]   (default 13: 107,315 events)
# Per-thread CPU of the worker is printed too ("main" is the async stage; the Sigma evaluation
# runs on rayon's threads, which carry the binary's name).
# Profile the worker: WRAP="perf record -F 999 -g -o /tmp/detect.perf --" scripts/bench-detect.sh
# More worker arguments: DETECT_ARGS="--batch 2048 -X fetch.max.bytes=…" scripts/bench-detect.sh
# Needs a release build: cargo build --release --bin canhgac
# (the offline rate, detect/benches/measure.rs, and the broker drain rate, kafka/benches/drain.rs,
# are built here by scripts/bench-bin.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
copies=${1:-13}
T=${CARGO_TARGET_DIR:-target}
bin=$T/release/canhgac
measure=$(scripts/bench-bin.sh canhgac-detect measure)
drainer=$(scripts/bench-bin.sh canhgac-kafka drain)
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
D=$(cd ../shared/data && pwd)
W=$D/windows/evtx-attack-samples.jsonl.gz
export CANHGAC_DATA=$D
rules=(--rules "${SIGMA:-$D/sigma/rules/rules}" --rules rules/sigma)
ioc=(--ioc rules/ioc/maltrail-malicious.yaml --ioc rules/ioc/maltrail-malware.yaml
     --ioc rules/ioc/eset-misp.yaml --ioc rules/ioc/misp-warninglists.yaml)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== load: $(uptime)"
echo "== offline engine, one core (measure, best of 5)"
PASSES=eval,event "$measure" "$W" "$D/sigma/rules/rules" rules/sigma | tee /tmp/bench-detect-measure.txt

metric() { # name -> value summed over label sets
    curl -s "http://127.0.0.1:$mport/metrics" | awk -v n="$1" '$1 ~ "^"n"({|$)" {s+=$2} END {printf "%.0f\n", s+0}'
}
wait_events() { # n -> waits until the worker has acked n events
    while [ "$(metric canhgac_detect_events_total)" -lt "$1" ]; do sleep 0.05; done
}
# Watches the drain from one process (a curl and an awk every 50 ms cost this 2-core machine
# a third of a core, taken from the worker): polls the metrics over one connection; at the
# first acked event and at the last writes "time events worker-cpu broker-cpu" and the
# worker's per-thread CPU ("tid<TAB>name<TAB>seconds") to DIR/mark0|1 and DIR/threads0|1.
watch_drain() { # n dir
    python3 - "$mport" "$1" "$worker" "$broker" "$2" <<'PY'
import http.client, os, sys, time
port, want, worker, broker, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
hz = os.sysconf('SC_CLK_TCK')
conn = http.client.HTTPConnection('127.0.0.1', int(port), timeout=10)
def events():
    global conn
    try:
        conn.request('GET', '/metrics')
        body = conn.getresponse().read().decode()
    except OSError:
        conn = http.client.HTTPConnection('127.0.0.1', int(port), timeout=10)
        return 0
    return sum(float(l.rsplit(' ', 1)[1]) for l in body.splitlines()
               if l.startswith('canhgac_detect_events_total'))
def cpu(stat):
    f = open(stat).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / hz
def mark(i, n):
    t = time.time()
    with open(f'{out}/mark{i}', 'w') as m:
        m.write(f'{t:.3f} {n:.0f} {cpu(f"/proc/{worker}/stat"):.2f} {cpu(f"/proc/{broker}/stat"):.2f}\n')
    with open(f'{out}/threads{i}', 'w') as th:
        for tid in os.listdir(f'/proc/{worker}/task'):
            try:
                name = 'main' if tid == worker else open(f'/proc/{worker}/task/{tid}/comm').read().strip()
                th.write(f'{tid}\t{name}\t{cpu(f"/proc/{worker}/task/{tid}/stat"):.2f}\n')
            except OSError:
                pass
for i, target in enumerate([1, want]):
    while (n := events()) < target:
        time.sleep(0.05)
    mark(i, n)
PY
}
port=$(free_port); mport=$(free_port)
dir=$(mktemp -d)
(cd "$dir" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/ >broker.log 2>&1) &
broker=$!
trap 'kill $broker ${worker:-} ${sensor:-} 2>/dev/null || true; rm -rf "$dir"' EXIT
until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.05; done
publish() { # copy
    "$bin" sensor --brokers "127.0.0.1:$port" --agency bench --sensor "s$1" --once \
        --log-format json "$W" 2>>"$dir/sensor.log"
}
echo "== end to end, one worker, Tansu memory://"
for c in $(seq "$copies"); do publish "$c"; done
drain=$((copies * 8255))
# The broker's ceiling: the same topic read with no processing, in fresh groups, by
# librdkafka alone and by our subscription (consumer thread, offset tracking, channel).
if [ -x "$drainer" ]; then
    for mode in ${DRAIN_MODES:-raw ours}; do
        "$drainer" "127.0.0.1:$port" '^canhgac\.events\..*' "$drain" "$mode" 2>>"$dir/drain.log" \
            | sed 's/^/   /'
    done
fi
${WRAP:-} "$bin" detect --brokers "127.0.0.1:$port" --group bench --reload-interval 0 \
    --metrics-listen "127.0.0.1:$mport" --log-format json "${rules[@]}" "${ioc[@]}" \
    ${DETECT_ARGS:-} 2>"$dir/detect.log" &
worker=$!
until curl -sf "http://127.0.0.1:$mport/metrics" >/dev/null; do sleep 0.1; done
# Drain: the topic holds every event; time from the first acked event to the last.
watch_drain "$drain" "$dir"
read -r t0 n0 w0 b0 <"$dir/mark0"
read -r t1 _ w1 b1 <"$dir/mark1"
curl -s "http://127.0.0.1:$mport/metrics" >"$dir/drain.txt"
# Live: the worker is caught up. One sensor, started once as in production, follows a file to
# which 3 more copies are appended 1 s apart. (A `sensor --once` per copy would count its own
# start-up in the latency: librdkafka's idempotent producer sometimes waits 0.5-1 s for its
# producer id before the first message goes out.)
live=3
: >"$dir/live.jsonl"
"$bin" sensor --brokers "127.0.0.1:$port" --agency bench --sensor live --format windows \
    --log-format json "$dir/live.jsonl" 2>>"$dir/sensor.log" &
sensor=$!
sleep 2
for _ in $(seq "$live"); do zcat "$W" >>"$dir/live.jsonl"; sleep 1; done
wait_events $(((copies + live) * 8255))
kill "$sensor" 2>/dev/null || true
curl -s "http://127.0.0.1:$mport/metrics" >"$dir/live.txt"
grep -h '"rules loaded"\|"ioc list loaded"' "$dir/detect.log" | cut -c1-400
python3 - "$dir/drain.txt" "$dir/live.txt" "$t0" "$t1" "$n0" "$drain" "$w0" "$w1" "$b0" "$b1" "$dir/threads0" "$dir/threads1" <<'PY'
import re, sys
def load(path):
    m = {}
    for l in open(path):
        if l.startswith('#') or not l.strip():
            continue
        k, v = l.rsplit(' ', 1)
        m[k] = float(v)
    return m
drain, live = load(sys.argv[1]), load(sys.argv[2])
t0, t1, n0, total = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
def get(m, prefix):
    return {k: v for k, v in m.items() if k.startswith(prefix)}
def phases(m, name):
    return {re.search(r'phase="([^"]+)"', k).group(1): v for k, v in get(m, name).items()}
secs = t1 - t0
det = sum(get(drain, 'canhgac_detect_detections_total').values())
ioc = sum(get(drain, 'canhgac_detect_ioc_hits_total').values())
print(f"-- drain: {total:,} events, {int(det):,} detections ({int(ioc):,} IOC) in {secs:.2f} s "
      f"from the first acked event = {(total - n0) / secs:,.0f} events/s")
w0, w1, b0, b1 = map(float, sys.argv[7:11])
print(f"   process CPU during the drain (user + system): worker {w1 - w0:.2f} s ({(w1 - w0) / secs:.2f} cores), "
      f"broker {b1 - b0:.2f} s ({(b1 - b0) / secs:.2f} cores); "
      f"{(total - n0) / max(w1 - w0, 1e-9):,.0f} events per worker CPU-second")
def threads(path):
    out = {}
    for l in open(path):
        tid, name, sec = l.rstrip('\n').split('\t')
        out[tid] = (name, float(sec))
    return out
th0, th1 = threads(sys.argv[11]), threads(sys.argv[12])
by_name = {}
for tid, (name, sec) in th1.items():
    d = sec - th0.get(tid, (name, 0.0))[1]
    n, c = by_name.get(name, (0, 0.0))
    by_name[name] = (n + 1, c + d)
print("   worker threads' CPU during the drain: " + ", ".join(
    f"{name} x{n} {c:.2f} s" for name, (n, c) in sorted(by_name.items(), key=lambda x: -x[1][1]) if c >= 0.01))
print("   stage wall s: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(phases(drain, 'canhgac_detect_stage_seconds_total').items())))
print("   evaluation CPU s (all threads): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(phases(drain, 'canhgac_detect_cpu_seconds_total').items())))
def hist(m):
    return sorted((float(re.search(r'le="([^"]+)"', k).group(1)), v)
                  for k, v in get(m, 'canhgac_detect_end_to_end_seconds_bucket').items())
b = [(le, c - c0) for (le, c), (_, c0) in zip(hist(live), hist(drain))]
count = b[-1][1]
def q(p):
    want, prev_le, prev_c = p * count, 0.0, 0.0
    for le, c in b:
        if c >= want:
            if le == float('inf'):
                return prev_le
            return prev_le + (le - prev_le) * (want - prev_c) / max(c - prev_c, 1e-9)
        prev_le, prev_c = le, c
    return float('nan')
print(f"-- live: {int(count):,} events in bursts of 8,255 (appended to a followed file 1 s apart); sensor read -> worker ack "
      f"p50 {q(0.5)*1000:,.0f} ms, p99 {q(0.99)*1000:,.0f} ms (interpolated in histogram buckets)")
PY
echo "== load: $(uptime)"
