#!/usr/bin/env bash
# Builds ringwire-bench with both peers (iceoryx2, libzmq) and runs every case three times,
# printing the table of medians on stdout (progress on stderr). This is the table the README
# quotes. Extra arguments go to ringwire-bench, e.g. `--json` or `--case bare,ringwire-shm`.
set -euo pipefail
cd "$(dirname "$0")/.."

# libzmq comes from the system (Debian: libzmq3-dev, found through pkg-config).
if ! pkg-config --exists libzmq 2>/dev/null; then
    echo "run-comparison: installing libzmq3-dev and pkg-config" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq libzmq3-dev pkg-config >&2
fi

cargo build --release --locked -p ringwire-bench --features iceoryx2,libzmq >&2

echo "# $(uname -srm); $(nproc) cpus; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
exec ./target/release/ringwire-bench --repeat 3 "$@"
