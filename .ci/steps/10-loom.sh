#!/usr/bin/env bash
# loom model checking of the core's rings (core/tests/loom.rs): interleavings of small
# producer/consumer scenarios at capacities 2-4, including MPMC loans and recovery racing a live
# producer, SPSC producer reclaim, the consumer-side wake and the lossless broadcast writer. The
# two-role ring models are exhaustive; the models with three roles or recovery scans bound
# themselves to 3 preemptions (exhaustively they take far longer, and the MPMC one with the
# participant table ran a 24 GB machine out of memory). LOOM_MAX_PREEMPTIONS bounds every model.
# About two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
# A separate target dir: --cfg loom rebuilds every dependency, don't thrash the main one.
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p ringwire-core --release --locked --test loom
