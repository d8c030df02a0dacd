//! How the crate's [`Poller`](crate::Poller) waits on shm sockets.
//!
//! [`poll`] returns the indices of the sockets that have a message waiting. To sleep it
//! registers as a waiter on every socket's event word and then sleeps on all of them at
//! once (Linux `futex_waitv`, 5.16+; elsewhere a polling back-off), so an idle poller costs no
//! CPU and any publish wakes it.

use std::time::{Duration, Instant};

use ringwire_platform::wait::{OsWaiter, Waiter};

use super::wait::EventSource;
use crate::error::Result;
use crate::poller::Source;

/// What a poller needs from an shm socket (implemented by every receiving shm socket).
pub(crate) trait Pollable {
    /// Whether a receive would find a message now. A subscriber may report messages that its
    /// subscriptions will then drop.
    fn readable(&self) -> bool;
    /// The event word to sleep on.
    fn poll_handle(&self) -> PollHandle<'_>;
}

/// A reference to a socket's event word.
pub(crate) struct PollHandle<'a>(pub(crate) &'a dyn EventSource);

macro_rules! pollable {
    ($($name:ident),*) => {$(
        impl crate::Pollable for super::$name {
            fn source(&self) -> Source<'_> {
                Source::shm(self)
            }
        }
    )*};
}
pollable!(Subscriber, Puller, Requester, Replier);

/// Longest single sleep: bounds how long a poller relies on a wake-up it might have missed
/// (e.g. its socket's peer was replaced by a new segment).
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// Returns the indices of `sockets` that are readable, waiting up to `timeout` (`None`:
/// without limit) for at least one. An empty result means the timeout passed.
pub(crate) fn poll(sockets: &[&dyn Pollable], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let ready = || -> Vec<usize> {
        sockets
            .iter()
            .enumerate()
            .filter(|(_, s)| s.readable())
            .map(|(i, _)| i)
            .collect()
    };
    loop {
        let now = ready();
        if !now.is_empty() {
            return Ok(now);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) || sockets.is_empty() {
            return Ok(Vec::new());
        }
        let handles: Vec<PollHandle<'_>> = sockets.iter().map(|s| s.poll_handle()).collect();
        let seen: Vec<u32> = handles.iter().map(|h| h.0.register()).collect();
        let now = ready();
        if now.is_empty() {
            let words: Vec<_> = handles
                .iter()
                .zip(&seen)
                .map(|(h, &v)| (h.0.word(), v))
                .collect();
            let sleep = left.map_or(MAX_SLEEP, |l| l.min(MAX_SLEEP));
            OsWaiter::default().wait_any(&words, Some(sleep));
        }
        for h in &handles {
            h.0.unregister();
        }
        if !now.is_empty() {
            return Ok(now);
        }
    }
}
