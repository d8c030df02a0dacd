#!/usr/bin/env bash
# Miri on the core crate's tests: checks the region/ring unsafe code (aliasing, alignment, data
# races between the test threads, out-of-bounds) on every test. Tests shrink their iteration
# counts under cfg(miri) so this finishes in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! cargo +nightly miri --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
# A separate target dir so Miri's builds never invalidate the main ones.
CARGO_TARGET_DIR=target/miri MIRIFLAGS="${MIRIFLAGS:-}" \
    cargo +nightly miri test -p ringwire-core --locked
