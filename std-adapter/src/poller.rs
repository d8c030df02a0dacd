//! Waiting on several receiving sockets at once, of any transports, like `zmq_poll`.
//!
//! One [`Poller`] and one [`Pollable`] trait serve every receiving socket: the
//! transport-neutral [`Subscriber`](crate::Subscriber), [`Requester`](crate::Requester),
//! [`Replier`](crate::Replier) and [`Puller`](crate::Puller), the shm sockets of
//! [`crate::shm`] and the ZMTP sockets of [`crate::zmtp`], mixed freely in one set.
//!
//! A set of one transport sleeps until something arrives: shm sockets on their segments'
//! event words (on Linux one futex wait on several words at once; elsewhere a polling
//! back-off, see `docs/platforms.md`), ZMTP sockets in one `poll(2)` over their descriptors. A set that mixes both sleeps in the sockets'
//! `poll(2)` in slices of [`Poller::MIXED_SLICE`], checking the shm sockets between
//! slices, so an shm message may wait up to one slice.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringwire::{Pollable, Poller, Puller};
//!
//! let mut local = Puller::bind("shm://jobs")?;
//! let mut remote = ringwire::zmtp::Pull::bind("tcp://127.0.0.1:5557")?;
//! let set: [&dyn Pollable; 2] = [&local, &remote];
//! for i in Poller::poll(&set, Some(Duration::from_secs(1)))? {
//!     let job = if i == 0 { local.try_recv_bytes()? } else { remote.try_recv_bytes()? };
//!     println!("{} bytes", job.len());
//! }
//! # Ok::<(), ringwire::Error>(())
//! ```

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::{shm, zmtp};

/// A transport's view of a receiving socket, for [`Poller`] (opaque).
#[doc(hidden)]
pub struct Source<'a>(Kind<'a>);

enum Kind<'a> {
    Shm(&'a dyn shm::poller::Pollable),
    Zmtp(&'a dyn zmtp::poller::Pollable),
}

impl<'a> Source<'a> {
    pub(crate) fn shm(s: &'a dyn shm::poller::Pollable) -> Self {
        Source(Kind::Shm(s))
    }

    pub(crate) fn zmtp(s: &'a dyn zmtp::poller::Pollable) -> Self {
        Source(Kind::Zmtp(s))
    }

    fn readable(&self) -> Result<bool> {
        match self.0 {
            Kind::Shm(s) => Ok(s.readable()),
            Kind::Zmtp(s) => s.readable(),
        }
    }
}

/// A receiving socket that a [`Poller`] can wait on.
pub trait Pollable {
    /// The transport-specific socket to wait on.
    #[doc(hidden)]
    fn source(&self) -> Source<'_>;

    /// Whether a receive would find a message now, without waiting. ZMTP sockets first
    /// move whatever the kernel holds into the socket's queue; a subscriber may report
    /// messages that its subscriptions then drop.
    fn readable(&self) -> Result<bool> {
        self.source().readable()
    }
}

/// Waits on several receiving sockets at once, of any transports (see the
/// [module docs](self)).
#[derive(Debug, Default, Clone, Copy)]
pub struct Poller;

impl Poller {
    /// Longest sleep between checks of shm sockets in a mixed set.
    pub const MIXED_SLICE: Duration = Duration::from_millis(1);

    /// Returns the indices of the sockets that are readable, waiting up to `timeout`
    /// (`None`: without limit) for one. An empty result means the timeout passed.
    pub fn poll(sockets: &[&dyn Pollable], timeout: Option<Duration>) -> Result<Vec<usize>> {
        let sources: Vec<Source<'_>> = sockets.iter().map(|s| s.source()).collect();
        let mut shm = Vec::new();
        let mut zmtp = Vec::new();
        for source in &sources {
            match source.0 {
                Kind::Shm(s) => shm.push(s),
                Kind::Zmtp(s) => zmtp.push(s),
            }
        }
        if zmtp.is_empty() {
            return shm::poller::poll(&shm, timeout);
        }
        if shm.is_empty() {
            return zmtp::poller::poll(&zmtp, timeout);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let mut ready = Vec::new();
            for (i, source) in sources.iter().enumerate() {
                if source.readable()? {
                    ready.push(i);
                }
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !ready.is_empty() || left.is_some_and(|l| l.is_zero()) {
                return Ok(ready);
            }
            let slice = left.map_or(Self::MIXED_SLICE, |l| l.min(Self::MIXED_SLICE));
            zmtp::poller::poll(&zmtp, Some(slice))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::tests::unique;

    /// The transports' own socket types and the transport-neutral ones share one set.
    #[test]
    fn one_poller_takes_every_kind_of_socket() {
        let t = Some(Duration::from_secs(10));
        let shm_ep = format!("shm://{}", unique("poll-raw"));
        let mut shm_pull = shm::Puller::bind(&shm_ep).unwrap();
        let mut shm_push = shm::Pusher::connect(&shm_ep).unwrap();
        let mut tcp_pull = zmtp::Pull::bind("tcp://127.0.0.1:0").unwrap();
        let mut tcp_push = zmtp::Push::connect(&tcp_pull.endpoint()).unwrap();
        let neutral_ep = format!("shm://{}", unique("poll-neutral"));
        let mut neutral = crate::Puller::bind(&neutral_ep).unwrap();
        let mut neutral_push = crate::Pusher::connect(&neutral_ep).unwrap();

        let set: [&dyn Pollable; 3] = [&shm_pull, &tcp_pull, &neutral];
        let none = Poller::poll(&set, Some(Duration::from_millis(20))).unwrap();
        assert!(none.is_empty());
        assert!(!Pollable::readable(&tcp_pull).unwrap());

        tcp_push.send_bytes(b"tcp").unwrap();
        let set: [&dyn Pollable; 3] = [&shm_pull, &tcp_pull, &neutral];
        assert_eq!(Poller::poll(&set, t).unwrap(), vec![1]);
        assert_eq!(tcp_pull.try_recv_bytes().unwrap(), b"tcp");

        shm_push.send_bytes(b"shm").unwrap();
        neutral_push.send_bytes(b"neutral").unwrap();
        let set: [&dyn Pollable; 3] = [&shm_pull, &tcp_pull, &neutral];
        assert_eq!(Poller::poll(&set, t).unwrap(), vec![0, 2]);
        assert_eq!(shm_pull.try_recv_bytes().unwrap(), b"shm");
        assert_eq!(neutral.try_recv_bytes().unwrap(), b"neutral");
    }
}
