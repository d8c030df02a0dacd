//! How the crate's [`Poller`](crate::Poller) waits on ZMTP sockets.
//!
//! [`poll`] pumps each socket without blocking and returns the indices of those with a
//! received message queued; if none has one, it sleeps in one `poll(2)` (`WSAPoll` on
//! Windows) over all their listeners and connections (duplicated descriptors, since the
//! sockets keep their own) for at most 100 ms at a time, then looks again.

use std::time::{Duration, Instant};

use ringwire_platform::readiness::{self, timespec};
use rustix::event::{PollFd, PollFlags};
use rustix::fd::OwnedFd;

use crate::error::{Error, Result};
use crate::poller::Source;

/// Longest single sleep, so descriptors that appeared meanwhile are picked up.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// What a poller needs from a ZMTP socket (implemented by every receiving ZMTP socket).
pub(crate) trait Pollable {
    /// Makes progress without blocking, then tells whether a receive would find a message.
    fn readable(&self) -> Result<bool>;
    /// Duplicates of the descriptors to sleep on.
    fn poll_fds(&self) -> Result<Vec<OwnedFd>>;
}

macro_rules! pollable {
    ($($name:ident),*) => {$(
        impl crate::Pollable for super::$name {
            fn source(&self) -> Source<'_> {
                Source::zmtp(self)
            }
        }
    )*};
}
pollable!(Sub, Req, Rep, Dealer, Router, Pull, Pair, XPub, XSub);

/// Returns the indices of `sockets` with a message waiting, sleeping up to `timeout`
/// (`None`: without limit) for at least one. An empty result means the timeout passed.
pub(crate) fn poll(sockets: &[&dyn Pollable], timeout: Option<Duration>) -> Result<Vec<usize>> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let mut ready = Vec::new();
        for (i, s) in sockets.iter().enumerate() {
            if s.readable()? {
                ready.push(i);
            }
        }
        if !ready.is_empty() {
            return Ok(ready);
        }
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) || sockets.is_empty() {
            return Ok(ready);
        }
        let sleep = left.map_or(MAX_SLEEP, |l| l.min(MAX_SLEEP));
        let mut owned = Vec::new();
        for s in sockets {
            owned.extend(s.poll_fds()?);
        }
        let mut fds: Vec<PollFd<'_>> = owned
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        let ts = timespec(sleep);
        match readiness::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::Io(e.into())),
        }
    }
}
