//! The one place atomics come from.
//!
//! Every atomic the rings and the segment header touch is named through this module, so that
//! `cfg(loom)` (a cfg, never a feature, so feature unification cannot switch it on) swaps in
//! loom's model-checked atomics for the whole crate at once.
//!
//! Without loom the types are [`portable_atomic`]'s: on hosts they are the native atomics; on
//! microcontrollers without compare-and-swap (`thumbv6m`, `riscv32imc`) read-modify-write
//! operations are emulated with a critical section (crate feature `critical-section`).
//!
//! # Why 64-bit sequence numbers
//!
//! Ring positions (head/tail counters) and per-slot sequence stamps are `u64`. At one message per
//! nanosecond a 64-bit counter wraps after 584 years, so a broadcast reader's lag count is exact
//! (`Lagged(n)` is never reduced modulo 2³²) and a seqlock stamp can never repeat during a read
//! (no ABA). The code still uses wrapping arithmetic and signed differences everywhere, because the
//! counters live in an untrusted region: a corrupt value near `u64::MAX` must give an error, not an
//! overflow panic.
//!
//! The cost: on 32-bit microcontrollers 64-bit atomics are not native. `portable-atomic` then
//! implements them with a short critical section (single-core MCUs) or a global lock table — both
//! fine for a process-local region on firmware. Such emulated atomics are **not** valid across
//! processes, so a shared mapping between processes is only sound where
//! [`SHARED_ATOMICS_LOCK_FREE`] is true (every 64-bit host; a platform mapping a segment into
//! several processes should refuse to do so where it is false).
//! The futex event word stays 32-bit, as futexes require.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, fence};
#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU32, AtomicU64, fence};

#[cfg(not(loom))]
pub(crate) use portable_atomic::AtomicUsize;

pub(crate) use core::sync::atomic::Ordering;

/// True when the 32- and 64-bit atomics the rings use are lock-free on this target, which is what
/// sharing a region between *processes* requires (a lock-based or critical-section emulation only
/// excludes threads of one process).
#[cfg(not(loom))]
pub const SHARED_ATOMICS_LOCK_FREE: bool =
    AtomicU64::is_always_lock_free() && AtomicU32::is_always_lock_free();

/// Under loom every atomic is a model; sharing across processes is not modelled.
#[cfg(loom)]
pub const SHARED_ATOMICS_LOCK_FREE: bool = true;
