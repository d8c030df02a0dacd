//! The one clock of the benchmark's message ages: `CLOCK_MONOTONIC` in nanoseconds.
//!
//! A sender writes [`now_ns`] into a message and the receiver subtracts it from its own
//! [`now_ns`]: on Linux (and the other Unix systems) `CLOCK_MONOTONIC` is one clock for every
//! process on the machine, read through the vDSO without a system call, so the difference is
//! the message's age. It never jumps (NTP only slews it), unlike the wall clock.
//!
//! ```
//! use ringwire::bench::clock;
//!
//! let sent = clock::now_ns();
//! let age = clock::now_ns().saturating_sub(sent);
//! assert!(age < 60_000_000_000);
//! ```

/// Whether [`now_ns`] reads a clock shared by every process on the machine (so that ages
/// between processes mean something). `false` where it falls back to a per-process clock.
pub const SHARED: bool = cfg!(unix);

/// `CLOCK_MONOTONIC` in nanoseconds.
#[cfg(unix)]
#[inline]
pub fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // The monotonic clock counts from boot: never negative, and u64 nanoseconds last 584 years.
    (t.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(t.tv_nsec as u64)
}

/// Nanoseconds since this process first called it (no clock shared between processes here:
/// [`SHARED`] is `false`).
#[cfg(not(unix))]
pub fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_in_nanoseconds() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now_ns();
        assert!(b > a);
        // At least the sleep, in nanoseconds (not micro- or milliseconds).
        assert!(b - a >= 2_000_000, "{}", b - a);
    }
}
