#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs every check and test,
# including the real-broker tests. Safe to run again: what is installed is reused.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (e.g. a test name filter)
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

if [ ! -d ../shared/data ]; then
    echo "error: ../shared/data (the shared test data beside the repository) is missing" >&2
    exit 2
fi

# Tansu 0.6.0: the Kafka-protocol broker of the real-broker tests (built once, ~15 minutes).
if ! "$CARGO_BIN/tansu" --version 2>/dev/null | grep -q '0\.6\.0'; then
    echo "==> installing the Tansu broker (tansu 0.6.0, dynostore + libsql)"
    cargo install tansu@0.6.0 --locked --features dynostore,libsql
fi
export CANHGAC_TANSU="$CARGO_BIN/tansu"

# Headless Chromium and its WebDriver for the web UI test (serve/tests/browser.rs).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "==> installing chromium and chromium-driver (Debian)"
    apt-get update && apt-get install -y chromium chromium-driver
fi

# No incremental caches unless asked for: on a fresh clone they only cost disk (20 GB here).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "==> cargo test"
extra=()
if [ "${1:-}" = "--" ]; then shift; extra=("$@"); fi
cargo test --workspace "${extra[@]}"
echo "==> all checks passed"
