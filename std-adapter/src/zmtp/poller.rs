//! Waiting on several ZMTP sockets at once, like `zmq_poll`.
//!
//! [`Poller::poll`] pumps each socket without blocking and returns the indices of those
//! with a received message queued; if none has one, it sleeps in one `poll(2)` over all
//! their listeners and connections (duplicated descriptors, since the sockets keep
//! their own) for at most 100 ms at a time, then looks again. The shm transport has the
//! same shape (`readable` plus a way to sleep), so one façade poller can serve both.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use crate::error::{Error, Result};

/// Longest single sleep, so descriptors that appeared meanwhile are picked up.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// What [`Poller`] needs from a socket (implemented by every receiving ZMTP socket).
pub trait Pollable {
    /// Makes progress without blocking, then tells whether a receive would find a message.
    fn readable(&self) -> Result<bool>;
    /// Duplicates of the descriptors to sleep on.
    fn poll_fds(&self) -> Result<Vec<OwnedFd>>;
}

/// Waits on several ZMTP sockets at once.
#[derive(Debug, Default, Clone, Copy)]
pub struct Poller;

impl Poller {
    /// Returns the indices of `sockets` with a message waiting, sleeping up to `timeout`
    /// (`None`: without limit) for at least one. An empty result means the timeout passed.
    pub fn poll(sockets: &[&dyn Pollable], timeout: Option<Duration>) -> Result<Vec<usize>> {
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
            let ts = Timespec {
                tv_sec: sleep.as_secs() as i64,
                tv_nsec: i64::from(sleep.subsec_nanos()),
            };
            match rustix::event::poll(&mut fds, Some(&ts)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::Io(e.into())),
            }
        }
    }
}
