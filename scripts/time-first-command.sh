#!/usr/bin/env bash
# Times the README's first command on a fresh clone (issue 7): clones this repository into a
# temporary directory, runs `cargo run --release -- run --simulate 2026-10` there, and prints
# how long until the build is done, until the dashboard's statistics show incidents, and
# until the simulated month is fully indexed.
#
#   scripts/time-first-command.sh            # reuses this checkout's target/ (warm build)
#   COLD=1 scripts/time-first-command.sh     # a fresh target/ too (a full release build)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q "$repo" "$work/canhgac"
cd "$work/canhgac"
if [ -z "${COLD:-}" ]; then export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}; fi
now() { date +%s.%N; }
t0=$(now)
cargo run --release -- run --simulate 2026-10 >"$work/out.log" 2>"$work/err.log" &
pid=$!
until grep -q '#token=' "$work/err.log" 2>/dev/null; do
	kill -0 $pid 2>/dev/null || { cat "$work/err.log"; exit 1; }
	sleep 0.1
done
t_up=$(now)
url=$(grep -o 'http://[0-9.:]*/#token=[A-Za-z0-9_-]*' "$work/err.log" | head -1)
base=${url%%/#token=*}
token=${url##*#token=}
until curl -fs -H "Authorization: Bearer $token" "$base/api/v1/stats/monthly?month=2026-10" |
	python3 -c 'import json,sys; v=json.load(sys.stdin); sys.exit(0 if sum(m["incidents"] for m in v["months"]) > 0 else 1)' 2>/dev/null; do
	sleep 0.1
done
t_dash=$(now)
until grep -q 'all indexed after' "$work/err.log"; do sleep 0.2; done
t_all=$(now)
printf 'build + start until the web UI listens: %.1f s\n' "$(echo "$t_up - $t0" | bc)"
printf 'dashboard shows incidents: %.1f s after the command\n' "$(echo "$t_dash - $t0" | bc)"
printf 'simulated month fully indexed: %.1f s after the command (%s)\n' "$(echo "$t_all - $t0" | bc)" \
	"$(grep -o 'simulated [0-9]* records.*' "$work/err.log")"
