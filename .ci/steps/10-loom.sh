#!/usr/bin/env bash
# loom model checking of the core's rings (core/tests/loom.rs): every interleaving of small
# producer/consumer scenarios at capacities 2-4. Exhaustive by default (about 1-2 minutes on
# 2 cores); set LOOM_MAX_PREEMPTIONS to bound the search on slower machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A separate target dir: --cfg loom rebuilds every dependency, don't thrash the main one.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ringwire-core --release --locked --test loom
