#!/usr/bin/env bash
# Sigma engine benchmark (issue 3): the engine (canhgac-sigma) next to rsigma, same events, same rules, same
# core, in one run.
#
#   scripts/bench-sigma.sh               # timings, load, RSS, match-set comparison
#   scripts/bench-sigma.sh --callgrind   # also instructions/event under valgrind (load-independent)
#
# Environment: CARGO_TARGET_DIR (cargo's), DATA (default ../shared/data), CORE (default 1),
# RSIGMA (default ~/.cargo/bin/rsigma, `cargo install rsigma@0.23.0 --locked`), OUT (scratch
# dir, default /tmp/canhgac-bench-sigma), ROUNDS (timed passes, best kept; default 5).
#
# What is measured:
# - ours: detect/benches/measure.rs: `eval` = pre-decoded Events, evaluation only; `json` =
#   record text -> evaluation without a Value (Engine::eval_json); `raw` = JSON
#   line → serde_json::Value → Event (id, timestamp) → evaluation (the `hunt` path);
#   `event` = serialized Event (the detect worker's Kafka payload) → evaluation, as the worker.
# - rsigma as a library (bench/rsigma-eval: `rsigma_eval::Engine` with logsource pruning on
#   product=windows, over the same events flattened to top-level Sigma field names by
#   scripts/flatten-evtx.jq): `eval` = pre-decoded `Value`s, evaluation only; `raw` = JSON
#   line -> Value -> evaluation; next to ours in the same process on the same flattened lines
#   (`eval` on pre-decoded events, `json` from the text), passes alternating.
# - rsigma's command line: `rsigma engine eval --logsource-routing --event-logsource
#   product=windows` over the same file, wall time with events minus wall time with no events
#   (load), best of ROUNDS; includes its line reading, JSON parsing and output.
# - instructions/event (callgrind): ours `pass_*` of measure.rs; rsigma library `pass_eval` /
#   `pass_raw`; rsigma CLI (whole run − load-only run) / events.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
CORE=${CORE:-1}
RSIGMA=${RSIGMA:-$HOME/.cargo/bin/rsigma}
OUT=${OUT:-/tmp/canhgac-bench-sigma}
ROUNDS=${ROUNDS:-5}
CALLGRIND=0
[[ "${1:-}" == "--callgrind" ]] && CALLGRIND=1

R=$DATA/sigma/rules
DIRS=("$R/rules" "$R/rules-emerging-threats" "$R/rules-threat-hunting" "$R/rules-compliance")
EVENTS=$DATA/windows/evtx-attack-samples.jsonl.gz

MEASURE=$(scripts/bench-bin.sh canhgac-detect measure)
# rsigma as a library (bench/rsigma-eval, its own lock file and target directory).
RSLIB_TARGET=${RSLIB_TARGET:-${CARGO_TARGET_DIR:-target}/rsigma-eval}
cargo build --release -q --manifest-path bench/rsigma-eval/Cargo.toml --target-dir "$RSLIB_TARGET"
RSLIB=$RSLIB_TARGET/release/rsigma-eval-bench

mkdir -p "$OUT/rules"
for d in "${DIRS[@]}"; do ln -sfn "$(realpath "$d")" "$OUT/rules/$(basename "$d")"; done
zcat "$EVENTS" | jq -c -f scripts/flatten-evtx.jq >"$OUT/flat.jsonl"
: >"$OUT/empty.jsonl"
RS=("$RSIGMA" engine eval -r "$OUT/rules" --logsource-routing --event-logsource product=windows)
N=$(wc -l <"$OUT/flat.jsonl")

if [[ "${SKIP_CHECK:-}" != 1 ]]; then
	# Corpus load counts (`canhgac rules check`, debug build is enough).
	cargo build -q -p canhgac
	CANHGAC=${CARGO_TARGET_DIR:-target}/debug/canhgac
	# Every `%name%` of rules-placeholder/ and the corpus gets a dummy value.
	grep -rhoE "%[A-Za-z0-9_.-]+%" "$R/rules-placeholder" "${DIRS[@]}" | sort -u | tr -d % |
		awk '{print "\"" $0 "\": [placeholder-value-" NR "]"}' >"$OUT/placeholders.yaml"
	for args in "${DIRS[*]}" "${DIRS[*]} --placeholders $OUT/placeholders.yaml" "$R/rules-placeholder" "$R/rules-placeholder --placeholders $OUT/placeholders.yaml" "$R/unsupported"; do
		echo "== canhgac rules check ${args//$R\//}"
		# shellcheck disable=SC2086
		"$CANHGAC" rules check $args || true
	done
fi

echo "== $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)  core: $CORE  events: $N"
# Speed: both engines in one process (bench/rsigma-eval with ALTERNATE=1), over the same
# flattened events, pass by pass in alternation so that the machine's drift cancels out of the
# ratios; PAIRS runs (default 3), best of ROUNDS rounds each.
for i in $(seq "${PAIRS:-3}"); do
	ALTERNATE=1 PASSES=none ROUNDS=$((ROUNDS * 3)) taskset -c "$CORE" "$RSLIB" "$OUT/flat.jsonl" "${DIRS[@]}" |
		grep -E 'load|alternating'
done
echo "== canhgac-sigma engine and the detect worker's payload path, every pass (measure.rs), with load time and RSS"
MATCHES=$OUT/ours.tsv ROUNDS=$ROUNDS taskset -c "$CORE" "$MEASURE" "$EVENTS" "${DIRS[@]}"
echo "== rsigma $("$RSIGMA" --version | awk 'NR == 1 {print $2}') command line (its whole run over the same events)"
best() { # best wall seconds of ROUNDS runs over $1
	local b=999999 t
	for _ in $(seq "$ROUNDS"); do
		/usr/bin/time -f "%e %M" -o "$OUT/time" taskset -c "$CORE" "${RS[@]}" -e "@$1" >/dev/null 2>&1
		t=$(tail -1 "$OUT/time")
		echo "$t" >>"$OUT/rsigma-times-$(basename "$1")"
		b=$(echo "$b ${t%% *}" | awk '{print ($2 < $1) ? $2 : $1}')
	done
	echo "$b"
}
rm -f "$OUT"/rsigma-times-*
LOAD=$(best "$OUT/empty.jsonl")
FULL=$(best "$OUT/flat.jsonl")
RSS=$(sort -n -k2 "$OUT/rsigma-times-empty.jsonl" | tail -1 | awk '{printf "%.1f", $2/1024}')
awk -v n="$N" -v l="$LOAD" -v f="$FULL" -v rss="$RSS" 'BEGIN {
	printf "rsigma CLI load %.2fs (best wall, empty input) rss_after_load %sMB  whole run %.2fs  line -> output %.0f ev/s (%.2f us/ev)\n",
		l, rss, f, n / (f - l), (f - l) * 1e6 / n }'
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== match sets"
taskset -c "$CORE" "${RS[@]}" --include-event -e "@$OUT/flat.jsonl" >"$OUT/rsigma.ndjson" 2>/dev/null
python3 scripts/bench-sigma-compare.py "$OUT/ours.tsv" "$OUT/rsigma.ndjson" "$OUT/flat.jsonl" \
	"${DIRS[@]}" --thor="$DATA/sigma/thor.yml" | tee "$OUT/compare.txt" | grep -v '^ *line '
echo "(examples per class: $OUT/compare.txt)"

if [[ $CALLGRIND == 1 ]]; then
	echo "== callgrind instructions/event (load-independent)"
	cg() { # total Ir of a callgrind run: cg NAME [valgrind args…] -- command…
		local name=$1
		shift
		valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$name" "$@" >/dev/null 2>"$OUT/cg.$name.log"
		grep -m1 '^summary:\|^totals:' "$OUT/cg.$name" | awk '{print $2}'
	}
	for p in eval json raw event; do
		ir=$(PASSES=$p ROUNDS=1 cg "ours-$p" --toggle-collect="*measure*pass_$p*" "$MEASURE" "$EVENTS" "${DIRS[@]}")
		echo "ours $p: $((ir / N)) instructions/event"
	done
	for p in eval raw; do
		ir=$(PASSES=$p ROUNDS=1 cg "rslib-$p" --toggle-collect="rsigma_eval_bench::pass_$p" "$RSLIB" "$OUT/flat.jsonl" "${DIRS[@]}")
		echo "rsigma library $p: $((ir / N)) instructions/event"
	done
	full=$(cg rs-full "${RS[@]}" -e "@$OUT/flat.jsonl")
	load=$(cg rs-load "${RS[@]}" -e "@$OUT/empty.jsonl")
	echo "rsigma (whole run − load-only run)/events: $(((full - load) / N)) instructions/event"
	# Its evaluation alone: the inclusive cost of the engine's per-event entry point.
	callgrind_annotate --inclusive=yes "$OUT/cg.rs-full" 2>/dev/null |
		grep -E 'Engine::evaluate_inner \[|eval_stream::process_line \[|serde_json::de::from_trait \[' |
		tr -d , | awk -v n="$N" '{for (i = 2; i <= NF; i++) if ($i ~ /::/) f = $i; sub(/^\?\?\?:/, "", f); printf "rsigma %s: %d instructions/event\n", f, $1 / n}'
fi
