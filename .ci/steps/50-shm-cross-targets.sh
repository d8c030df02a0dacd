#!/usr/bin/env bash
# ringwire-platform has Windows (file mappings, process liveness) and macOS (__ulock futex
# waiter, hashed shm names) code that no CI runner executes: compile-check it with clippy for
# both targets so it at least builds and stays lint-clean. (Only the standard library for the
# targets is needed; nothing is linked.)
set -euo pipefail
cd "$(dirname "$0")/../.."
rustup target add x86_64-pc-windows-gnu x86_64-apple-darwin >/dev/null
for target in x86_64-pc-windows-gnu x86_64-apple-darwin; do
    echo "--- ringwire-platform for $target"
    cargo clippy -p ringwire-platform --target "$target" --locked -- -D warnings
done
# Multi-process shm tests must not leave segments behind.
if ls /dev/shm/ringwire.t-* >/dev/null 2>&1; then
    echo "warning: test segments left in /dev/shm:" >&2
    ls /dev/shm/ringwire.t-* >&2
fi
