#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a short smoke time over its committed
# seed corpus (fuzz/corpus/<target>/). Crashes fail CI; minimise them into regression unit tests.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
secs=${FUZZ_SECONDS:-15}
rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=$(cargo +nightly fuzz list)
[ -n "$targets" ] || { echo "no fuzz targets"; exit 0; }
cargo +nightly fuzz build
for t in $targets; do
    mkdir -p "corpus/$t"
    # Work on a scratch copy so the smoke run never rewrites the committed seeds.
    scratch=$(mktemp -d)
    cp -r "corpus/$t/." "$scratch/"
    echo "fuzz $t for ${secs}s"
    cargo +nightly fuzz run "$t" "$scratch" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | tail -n 3
    rm -rf "$scratch"
done
