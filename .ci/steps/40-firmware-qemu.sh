#!/usr/bin/env bash
# Builds the firmware example (examples/firmware, Cortex-M4), prints its flash/RAM footprint,
# boots it in QEMU (mps2-an386) and runs the end-to-end serial check against it: telemetry,
# commands and acks both ways, line noise injected both ways, shutdown through semihosting.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v qemu-system-arm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-arm >/dev/null
fi
qemu-system-arm --version | head -n 1
rustup target add thumbv7em-none-eabihf >/dev/null

# The firmware has its own Cargo.lock; ringwire-core's dependencies can move under it when
# branches merge. A stale lock fails the run (--locked): update it with `cargo update -w` in
# examples/firmware and commit it.
(cd examples/firmware && cargo metadata --locked --format-version 1 >/dev/null) || {
    echo "error: examples/firmware/Cargo.lock is stale: run 'cargo update -w' in examples/firmware and commit it" >&2
    exit 1
}
(cd examples/firmware && cargo build --release --locked)
elf=examples/firmware/target/thumbv7em-none-eabihf/release/ringwire-firmware

# Footprint from the ELF section headers (what `size` reports): flash = code, read-only data
# and the initial values of .data; RAM = .data + .bss (the stack takes the rest of RAM).
python3 - "$elf" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:4] == b"\x7fELF" and data[4] == 1, "expected a 32-bit ELF"
shoff, = struct.unpack_from("<I", data, 0x20)
shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
secs = [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]
names = secs[shstrndx][4]
flash = ram = 0
for name, typ, flags, addr, off, size, *_ in secs:
    if not flags & 0x2 or size == 0:  # SHF_ALLOC only
        continue
    label = data[names + name:data.index(b"\0", names + name)].decode()
    if typ == 8:  # SHT_NOBITS: .bss, .uninit
        ram += size
    elif addr >= 0x20000000:  # .data: initial values in flash, copied to RAM
        flash += size; ram += size
    else:
        flash += size
    print(f"  {label:<16} {size:>8} bytes at {addr:#010x}")
print(f"firmware footprint: flash {flash} bytes, static RAM {ram} bytes")
PY

cargo build -p ringwire-examples --bin serial-qemu-check --locked
timeout 600 target/debug/serial-qemu-check "$elf"
