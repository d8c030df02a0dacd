//! The three ways a blocked shm call waits: busy-poll, futex-blocking, and adaptive (spin for
//! a budget, then sleep), plus periodic peer-liveness checks, so a dead peer never blocks a
//! caller for longer than one liveness interval.
//!
//! Sleeping follows the segment's no-lost-wake-up protocol (`ringwire_core::segment`):
//! register as a waiter, try once more, sleep on the event word only if that found nothing,
//! unregister. Senders pay a wake system call only while someone is registered.

use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use ringwire_core::region::Region;
use ringwire_core::ring::Notify;
use ringwire_core::segment::Segment;
use ringwire_platform::wait::{OsWaiter, Waiter};

use super::options::WaitMode;
use super::recv::Wait;
use crate::error::{Error, Result};

/// Something with an event word to sleep on (a ring's segment).
pub(crate) trait EventSource {
    /// Registers a sleeper; returns the event value to sleep on.
    fn register(&self) -> u32;
    /// Undoes one `register`.
    fn unregister(&self);
    /// The event word.
    fn word(&self) -> &AtomicU32;
    /// Whether the segment's mapping faulted (its file was truncated under us) and now holds
    /// zero pages instead of the shared memory.
    fn faulted(&self) -> bool {
        ringwire_platform::segment::is_faulted_at(std::ptr::from_ref(self.word()).cast())
    }
}

/// Fails with [`SegmentError::Faulted`](ringwire_platform::SegmentError::Faulted) if the
/// segment behind `source` was truncated under this process: whatever the ring operation
/// read after that was zeros, not the peers' data.
pub(crate) fn check_fault(source: &dyn EventSource) -> Result<()> {
    if source.faulted() {
        return Err(ringwire_platform::SegmentError::Faulted.into());
    }
    Ok(())
}

impl<R: Region> EventSource for Segment<R> {
    fn register(&self) -> u32 {
        self.register_waiter()
    }
    fn unregister(&self) {
        self.unregister_waiter()
    }
    fn word(&self) -> &AtomicU32 {
        ringwire_platform::region::event_word(self)
    }
}

/// What a periodic liveness check found.
pub(crate) enum Check {
    /// Keep waiting.
    Continue,
    /// The peer's segment was replaced: stop, re-attach, and retry.
    Reattach,
}

/// How a wait ended (errors aside).
pub(crate) enum Waited<T> {
    /// The attempt succeeded.
    Done(T),
    /// The liveness check asked to re-attach.
    Reattach,
}

/// Repeats `attempt` until it yields `Some`, the wait runs out (`Error::WouldBlock` for
/// [`Wait::Try`], `Error::Timeout` otherwise), or `alive` fails or asks to re-attach.
pub(crate) fn wait_for<T>(
    mode: WaitMode,
    wait: Wait,
    source: &dyn EventSource,
    liveness_interval: Duration,
    alive: &mut dyn FnMut() -> Result<Check>,
    attempt: &mut dyn FnMut() -> Result<Option<T>>,
) -> Result<Waited<T>> {
    let attempt = &mut || {
        let got = attempt();
        check_fault(source)?;
        got
    };
    if let Some(v) = attempt()? {
        return Ok(Waited::Done(v));
    }
    if wait == Wait::Try {
        return Err(Error::WouldBlock);
    }
    let deadline = wait.deadline();
    let start = Instant::now();
    let mut next_check = start + liveness_interval;
    let spin_until = match mode {
        WaitMode::BusyPoll => None,
        WaitMode::Blocking => Some(start),
        WaitMode::Adaptive { spin } => Some(start + spin),
    };
    let mut rounds = 0u32;
    loop {
        rounds = rounds.wrapping_add(1);
        let sleeping = matches!(spin_until, Some(t) if t <= start) || rounds.is_multiple_of(32);
        if sleeping {
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return Err(Error::Timeout);
            }
            if now >= next_check {
                if let Check::Reattach = alive()? {
                    return Ok(Waited::Reattach);
                }
                next_check = now + liveness_interval;
            }
            if matches!(spin_until, Some(t) if now >= t) {
                let seen = source.register();
                let got = attempt();
                if matches!(got, Ok(None)) {
                    // Sleep until woken, the deadline or the next liveness check.
                    let until = deadline.map_or(next_check, |d| d.min(next_check));
                    let timeout = until.saturating_duration_since(Instant::now());
                    if !timeout.is_zero() {
                        OsWaiter::default().wait(source.word(), seen, Some(timeout));
                    }
                }
                source.unregister();
                if let Some(v) = got? {
                    return Ok(Waited::Done(v));
                }
            }
        } else if spin_until.is_some() && rounds.is_multiple_of(16) {
            // Adaptive spinning gives the CPU away now and then: on a loaded machine the peer
            // we wait for may need this core.
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
        if let Some(v) = attempt()? {
            return Ok(Waited::Done(v));
        }
    }
}

/// Wakes the sleepers of `source` if a ring operation said so.
pub(crate) fn notify(source: &dyn EventSource, notify: Notify) {
    if notify.must_wake() {
        OsWaiter::default().wake_all(source.word());
    }
}

/// Called by a consumer after it freed a slot: wakes senders sleeping on a full ring. The
/// protocol (SeqCst fence, waiter count, event bump) is the core's `Segment::notify_space`, the
/// same one every send uses; this only adds the futex wake it asks for.
pub(crate) fn notify_space<R: Region>(segment: &Segment<R>) {
    if segment.notify_space().must_wake() {
        OsWaiter::default().wake_all(segment.word());
    }
}
