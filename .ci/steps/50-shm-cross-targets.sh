#!/usr/bin/env bash
# Code that no CI runner executes, compile-checked with clippy so it at least builds and stays
# lint-clean (only the standard library for the targets is needed; nothing is linked):
# - ringwire-platform's Windows (file mappings, process liveness) and macOS (__ulock futex
#   waiter, hashed shm names) code;
# - ringwire itself for macOS and Windows (TCP streams without MSG_NOSIGNAL/MSG_DONTWAIT,
#   Windows serial ports, the cfg'd ipc and bench code, the platform's poll/WSAPoll readiness
#   backend), with the optional library features (logging, JSON, MessagePack) and without
#   them (what a library user compiles by default). docs/platforms.md says what runs where.
# Then the macOS/Windows readiness backend (level-triggered poll) runs on Linux.
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add x86_64-pc-windows-gnu x86_64-pc-windows-msvc x86_64-apple-darwin >/dev/null
for target in x86_64-pc-windows-gnu x86_64-apple-darwin; do
    echo "--- ringwire-platform for $target"
    cargo clippy -p ringwire-platform --target "$target" --locked -- -D warnings
done
for target in x86_64-apple-darwin x86_64-pc-windows-msvc; do
    for features in "--features logging,json,msgpack" "--no-default-features"; do
        echo "--- ringwire for $target $features"
        # shellcheck disable=SC2086 # $features is one flag or none
        cargo clippy -p ringwire --target "$target" $features --locked -- -D warnings
    done
done
# The level-triggered readiness backend of macOS and Windows, run here on Linux (selected by a
# cfg, in a target directory of its own since RUSTFLAGS differ) under the ZMTP tests.
echo "--- ringwire's poll backend on Linux"
RUSTFLAGS="--cfg ringwire_poll_backend" CARGO_TARGET_DIR=target/poll-backend \
    cargo test --locked -p ringwire-platform --lib readiness
RUSTFLAGS="--cfg ringwire_poll_backend" CARGO_TARGET_DIR=target/poll-backend \
    cargo test --locked -p ringwire --lib
RUSTFLAGS="--cfg ringwire_poll_backend" CARGO_TARGET_DIR=target/poll-backend \
    cargo test --locked -p ringwire-tests --test zmtp_patterns --test zmtp_delivery \
    --test zmtp_robustness
