#!/usr/bin/env bash
# Miri on every test binary of the core crate (unit tests, integration tests, doc tests): checks
# the region/ring unsafe code for aliasing, alignment, out-of-bounds accesses, data races between
# test threads and mixed-size atomic accesses, with strict provenance. Nothing is skipped: tests
# shrink their iteration counts under cfg(miri) (the exhaustive COBS round trip samples its
# lengths there) so this finishes in about five minutes on 2 cores.
#
# The nightly is pinned (.ci/pins.env): Miri's checks change between nightlies (this one rejects
# mixed-size atomic accesses that older ones let pass), and a green run must not depend on which
# nightly a machine happens to have. Move the pin deliberately, fixing what the newer Miri finds.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../pins.env
. .ci/pins.env
if ! cargo "+$NIGHTLY" miri --version >/dev/null 2>&1; then
    rustup toolchain install "$NIGHTLY" --profile minimal --component miri,rust-src
fi
# A separate target dir so Miri's builds never invalidate the main ones.
CARGO_TARGET_DIR=target/miri MIRIFLAGS="-Zmiri-strict-provenance ${MIRIFLAGS:-}" \
    cargo "+$NIGHTLY" miri test -p ringwire-core --locked
