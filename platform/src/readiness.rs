//! Socket readiness for a background thread: a wait set of descriptors and a waker, one
//! backend per OS family. `ringwire`'s ZMTP idle-time driver sleeps in it.
//!
//! - **Linux**: an edge-triggered `epoll` set in which the owner registers each descriptor
//!   once (and re-registers when its interest changes), and an `eventfd` waker. The waiting
//!   thread sleeps in `epoll_wait`.
//! - **Elsewhere** (macOS and the BSDs, Windows): level-triggered `poll(2)` / `WSAPoll`.
//!   Registration is a no-op; before each sleep [`Readiness::wait`] asks its caller for
//!   duplicates of the descriptors to hear about, with the interest the Linux backend would
//!   have registered, and polls them with the waker, a UDP socket connected to itself on the
//!   loopback interface. A duplicate keeps a socket open while the thread sleeps on it, so a
//!   socket its owner closed may be seen closed by the peer up to one wait later; the owner
//!   wakes the thread to shorten that.
//!
//! [`Doorbell`] is the waker on its own: a descriptor that one thread rings and another
//! waits on in `poll`/`epoll` beside sockets (an `eventfd` on Linux, the loopback UDP socket
//! elsewhere). `ringwire`'s `inproc://` pipes ring one per message batch.
//!
//! Only the Linux backend is on a hot path (waking, when ringwire corks a burst of sends).
//! Building with `RUSTFLAGS="--cfg ringwire_poll_backend"` selects the level-triggered
//! backend on Linux too, so its logic can be tested where the test suite runs.

use std::io;
use std::time::Duration;

use rustix::fd::BorrowedFd;

pub use imp::{Readiness, Scratch};

/// A descriptor that is readable once rung and until drained (see the [module docs](self)):
/// an `eventfd` on Linux, a loopback UDP socket connected to itself elsewhere.
#[derive(Debug)]
pub struct Doorbell {
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    socket: std::net::UdpSocket,
}

impl Doorbell {
    /// A doorbell that has not been rung.
    #[cfg(target_os = "linux")]
    pub fn new() -> io::Result<Doorbell> {
        use rustix::event::{EventfdFlags, eventfd};
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Doorbell { fd })
    }

    /// A doorbell that has not been rung.
    #[cfg(not(target_os = "linux"))]
    pub fn new() -> io::Result<Doorbell> {
        use std::net::{Ipv4Addr, UdpSocket};
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        socket.connect(socket.local_addr()?)?;
        socket.set_nonblocking(true)?;
        Ok(Doorbell { socket })
    }

    /// Makes the descriptor readable (never blocks; a ring that finds it rung is kept).
    pub fn ring(&self) {
        #[cfg(target_os = "linux")]
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
        #[cfg(not(target_os = "linux"))]
        let _ = self.socket.send(&[1]);
    }

    /// Makes the descriptor unreadable again (never blocks).
    pub fn drain(&self) {
        #[cfg(target_os = "linux")]
        {
            let mut b = [0u8; 8];
            let _ = rustix::io::read(&self.fd, &mut b);
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut b = [0u8; 16];
            while self.socket.recv(&mut b).is_ok() {}
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        #[cfg(target_os = "linux")]
        return self.fd.as_fd();
        #[cfg(not(target_os = "linux"))]
        return self.socket.as_fd();
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Doorbell {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.socket.as_socket()
    }
}

/// Interest in a descriptor: (read, write).
pub type Interest = (bool, bool);

/// `d` as the `timespec` of `poll` and `epoll_wait` (whose field widths differ per OS).
#[inline]
pub fn timespec(d: Duration) -> rustix::event::Timespec {
    rustix::event::Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

/// `poll(2)` (`WSAPoll` on Windows) over `fds` for at most `timeout` (`None`: no limit).
#[cfg(not(windows))]
#[inline]
pub fn poll(
    fds: &mut [rustix::event::PollFd<'_>],
    timeout: Option<&rustix::event::Timespec>,
) -> rustix::io::Result<usize> {
    rustix::event::poll(fds, timeout)
}

/// `poll(2)` (`WSAPoll` on Windows) over `fds` for at most `timeout` (`None`: no limit).
/// `WSAPoll` refuses an empty set: that is a plain sleep (of 25 ms without a timeout).
#[cfg(windows)]
pub fn poll(
    fds: &mut [rustix::event::PollFd<'_>],
    timeout: Option<&rustix::event::Timespec>,
) -> rustix::io::Result<usize> {
    if fds.is_empty() {
        let d = timeout.map_or(Duration::from_millis(25), |t| {
            Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
        });
        std::thread::sleep(d);
        return Ok(0);
    }
    rustix::event::poll(fds, timeout)
}

#[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
mod imp {
    use std::os::fd::{AsFd, OwnedFd};

    use rustix::event::epoll;

    use super::{BorrowedFd, Doorbell, Duration, Interest, io};

    /// epoll data of the waker eventfd (sockets use 0).
    const WAKER: u64 = 1;

    /// An edge-triggered epoll set and its eventfd waker (see the [module docs](super)).
    #[derive(Debug)]
    pub struct Readiness {
        epoll: OwnedFd,
        waker: Doorbell,
    }

    /// The waiting thread's event buffer, kept between waits.
    pub type Scratch = Vec<epoll::Event>;

    impl Readiness {
        /// An empty wait set and its waker.
        pub fn new() -> io::Result<Readiness> {
            let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
            let waker = Doorbell::new()?;
            epoll::add(
                &epoll,
                &waker,
                epoll::EventData::new_u64(WAKER),
                epoll::EventFlags::IN | epoll::EventFlags::ET,
            )?;
            Ok(Readiness { epoll, waker })
        }

        /// Edge-triggered registration of `fd` (`modify`: re-registration with a new
        /// interest). Failures are logged: the thread then hears of `fd` on its ticks only.
        pub fn register(&self, fd: BorrowedFd<'_>, (read, write): Interest, modify: bool) {
            let mut flags = epoll::EventFlags::ET;
            if write {
                flags |= epoll::EventFlags::OUT;
            }
            if read {
                flags |= epoll::EventFlags::IN | epoll::EventFlags::RDHUP;
            }
            let data = epoll::EventData::new_u64(0);
            let r = if modify {
                epoll::modify(&self.epoll, fd, data, flags)
            } else {
                epoll::add(&self.epoll, fd, data, flags)
            };
            if let Err(e) = r {
                log::debug!("epoll registration failed: {e}");
            }
        }

        /// Wakes the waiting thread.
        pub fn wake(&self) {
            self.waker.ring();
        }

        /// Clears the waker (the woken thread has done its work).
        pub fn drain(&self) {
            self.waker.drain();
        }

        /// Sleeps until a registered descriptor or the waker fires, or `tick` passes.
        /// Returns (woken by the waker, any event at all). `watch` is not called here:
        /// descriptors are registered as they come.
        pub fn wait(
            &self,
            events: &mut Scratch,
            tick: Duration,
            _watch: impl FnOnce() -> Option<Vec<(OwnedFd, Interest)>>,
        ) -> (bool, bool) {
            events.clear();
            if events.capacity() == 0 {
                events.reserve(32);
            }
            let tick = super::timespec(tick);
            let _ = epoll::wait(
                self.epoll.as_fd(),
                rustix::buffer::spare_capacity(events),
                Some(&tick),
            );
            let woken = events.iter().any(|ev| ev.data.u64() == WAKER);
            (woken, !events.is_empty())
        }
    }
}

#[cfg(not(all(target_os = "linux", not(ringwire_poll_backend))))]
mod imp {
    use rustix::event::{PollFd, PollFlags};
    use rustix::fd::OwnedFd;

    use super::{BorrowedFd, Doorbell, Duration, Interest, io};

    /// A level-triggered `poll` over descriptors the caller lists, and a loopback UDP
    /// socket connected to itself as the waker (see the [module docs](super)).
    #[derive(Debug)]
    pub struct Readiness {
        waker: Doorbell,
    }

    /// Nothing is kept between waits.
    #[derive(Debug, Default)]
    pub struct Scratch;

    impl Readiness {
        /// An empty wait set and its waker.
        pub fn new() -> io::Result<Readiness> {
            Ok(Readiness {
                waker: Doorbell::new()?,
            })
        }

        /// Nothing to do: [`wait`](Self::wait) asks for descriptors each time.
        pub fn register(&self, _fd: BorrowedFd<'_>, _interest: Interest, _modify: bool) {}

        /// Wakes the waiting thread.
        pub fn wake(&self) {
            self.waker.ring();
        }

        /// Clears the waker (the woken thread has done its work).
        pub fn drain(&self) {
            self.waker.drain();
        }

        /// Sleeps until one of the descriptors `watch` lists (called once; `None`: none to
        /// watch this time) or the waker is ready, or `tick` passes. Returns (woken by the
        /// waker, any event at all).
        pub fn wait(
            &self,
            _: &mut Scratch,
            tick: Duration,
            watch: impl FnOnce() -> Option<Vec<(OwnedFd, Interest)>>,
        ) -> (bool, bool) {
            let watched = watch().unwrap_or_default();
            let mut fds = Vec::with_capacity(watched.len() + 1);
            fds.push(PollFd::new(&self.waker, PollFlags::IN));
            for (fd, (read, write)) in &watched {
                let mut f = PollFlags::empty();
                if *read {
                    f |= PollFlags::IN;
                }
                if *write {
                    f |= PollFlags::OUT;
                }
                fds.push(PollFd::new(fd, f));
            }
            let tick = super::timespec(tick);
            if super::poll(&mut fds, Some(&tick)).is_err() {
                return (false, false);
            }
            let woken = !fds[0].revents().is_empty();
            let any = fds.iter().any(|f| !f.revents().is_empty());
            (woken, any)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener, TcpStream};

    use rustix::fd::{AsFd, OwnedFd};

    use super::*;

    /// Long enough that a test passing by timeout instead of by event cannot be mistaken
    /// for a pass (the results differ), short enough not to hang a broken run for long.
    const LONG: Duration = Duration::from_secs(20);

    fn watch_of(
        fd: BorrowedFd<'_>,
        i: Interest,
    ) -> impl FnOnce() -> Option<Vec<(OwnedFd, Interest)>> {
        let owned = fd.try_clone_to_owned().unwrap();
        move || Some(vec![(owned, i)])
    }

    #[test]
    fn the_waker_wakes_and_drain_clears_it() {
        let r = Readiness::new().unwrap();
        let mut scratch = Scratch::default();
        r.wake();
        assert_eq!(r.wait(&mut scratch, LONG, || None), (true, true));
        r.drain();
        let quiet = r.wait(&mut scratch, Duration::from_millis(1), || None);
        assert_eq!(quiet, (false, false), "a drained waker stays quiet");
    }

    #[test]
    fn a_readable_descriptor_ends_the_wait() {
        let r = Readiness::new().unwrap();
        let mut scratch = Scratch::default();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        r.register(listener.as_fd(), (true, false), false);
        let _peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let got = r.wait(
            &mut scratch,
            LONG,
            watch_of(listener.as_fd(), (true, false)),
        );
        assert_eq!(
            got,
            (false, true),
            "a pending connection is an event, not a wake"
        );
    }

    #[test]
    fn no_interest_no_event() {
        let r = Readiness::new().unwrap();
        let mut scratch = Scratch::default();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        r.register(listener.as_fd(), (false, false), false);
        let _peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let got = r.wait(
            &mut scratch,
            Duration::from_millis(1),
            watch_of(listener.as_fd(), (false, false)),
        );
        assert_eq!(got, (false, false));
    }
}
