#!/usr/bin/env bash
# Keeps the benchmark's optional peers building and running: installs libzmq3-dev (for the
# `libzmq` feature), lints and documents ringwire-bench with every feature, and runs the
# iceoryx2 and libzmq cases once with tiny counts (a smoke run: it checks that both processes connect and every run
# completes, not how fast anything is). The default workspace build never needs these.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! pkg-config --exists libzmq 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libzmq3-dev pkg-config >/dev/null
fi
cargo clippy -p ringwire-bench --all-targets --all-features --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p ringwire-bench --all-features --no-deps --locked
cargo build -p ringwire-bench --all-features --locked
./target/debug/ringwire-bench --case iceoryx2,libzmq --iters 500 --warmup 50 --thr-msgs 5000 \
    --timeout 120
