#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a short smoke time over its committed
# seed corpus (fuzz/corpus/<target>/). Crashes fail CI; minimise them into regression unit tests.
set -euo pipefail
cd "$(dirname "$0")/../../fuzz"
# shellcheck source=../pins.env
. ../.ci/pins.env
secs=${FUZZ_SECONDS:-15}
rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src >/dev/null
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
targets=$(cargo +"$NIGHTLY" fuzz list)
[ -n "$targets" ] || { echo "no fuzz targets"; exit 1; }
cargo +"$NIGHTLY" fuzz build
for t in $targets; do
    mkdir -p "corpus/$t"
    # Work on a scratch copy so the smoke run never rewrites the committed seeds.
    scratch=$(mktemp -d)
    cp -r "corpus/$t/." "$scratch/"
    echo "fuzz $t for ${secs}s"
    log=$(mktemp)
    if ! cargo +"$NIGHTLY" fuzz run "$t" "$scratch" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
        # Show the panic message and the input (the tail alone is cargo-fuzz's own backtrace).
        grep -v -E '^ *(Compiling|#[0-9]+ )' "$log" | grep -B2 -A40 -m1 -E 'panicked|ERROR: libFuzzer|SUMMARY' || tail -n 60 "$log"
        echo "fuzz target $t failed; the crashing input is under fuzz/artifacts/$t/"
        exit 1
    fi
    tail -n 1 "$log"
    rm -rf "$scratch" "$log"
done
