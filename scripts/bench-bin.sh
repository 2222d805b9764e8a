#!/usr/bin/env bash
# Builds one benchmark target of `benches/` (cargo's bench profile, i.e. release) and prints the
# path of its executable, for the scripts that run it with their own arguments and timers:
#
#   scripts/bench-bin.sh PACKAGE BENCH        e.g. "$(scripts/bench-bin.sh canhgac-index index)" --incidents 1000
#
# (`cargo bench -p PACKAGE --bench BENCH -- ARGS` runs it too, from the package's folder.)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: scripts/bench-bin.sh PACKAGE BENCH" >&2; exit 2; }
exe=$(cargo bench -q --no-run -p "$1" --bench "$2" --message-format=json |
	sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
[ -n "$exe" ] || { echo "error: no executable for bench $2 of $1" >&2; exit 1; }
echo "$exe"
