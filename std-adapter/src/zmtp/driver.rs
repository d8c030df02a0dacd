//! The idle-time driver: a small background thread per socket that keeps connections
//! moving while the owner is *not* inside a call.
//!
//! The owner's calls do all the hot-path I/O themselves (see the module docs). The
//! driver only covers the gaps: a publisher that is not sending still accepts
//! subscribers and reads their subscriptions; a message held behind a handshake or
//! behind kernel back-pressure is written once the socket allows; heartbeats are
//! answered; reconnects happen. It sleeps in `epoll_wait` on edge-triggered events of
//! the socket's descriptors (registered once, when a listener or connection is
//! created) or a 25 ms tick, then `try_lock`s the engine: if the owner holds it, the
//! owner is already pumping and the driver goes back to sleep. Established
//! connections of sockets that are not publishers are registered for writability only,
//! so a request/reply round trip never wakes the driver.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{Timespec, epoll};

use super::engine::Engine;

/// How often the driver looks at timers when no descriptor fires.
const TICK: Duration = Duration::from_millis(25);

struct Shared {
    engine: Mutex<Engine>,
    epoll: Arc<OwnedFd>,
    stop: AtomicBool,
}

/// An engine shared between its owner and the idle-time driver thread.
pub struct Driven {
    shared: Arc<Shared>,
}

impl Driven {
    /// Wraps `engine` and starts its driver (without one if epoll is unavailable).
    pub fn new(mut engine: Engine) -> Driven {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC)
            .ok()
            .map(Arc::new);
        let has_driver = ep.is_some();
        let epoll_fd = match ep {
            Some(fd) => {
                engine.set_epoll(fd.clone());
                fd
            }
            None => Arc::new(
                rustix::fs::open(
                    "/dev/null",
                    rustix::fs::OFlags::RDONLY,
                    rustix::fs::Mode::empty(),
                )
                .expect("/dev/null opens"),
            ),
        };
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            epoll: epoll_fd,
            stop: AtomicBool::new(false),
        });
        if has_driver {
            let s = shared.clone();
            let spawned = thread::Builder::new()
                .name("ringwire-zmtp".into())
                .spawn(move || drive(&s));
            if let Err(e) = spawned {
                log::warn!("no idle-time driver thread: {e}");
            }
        }
        Driven { shared }
    }

    /// Locks the engine for one call.
    pub fn lock(&self) -> MutexGuard<'_, Engine> {
        self.shared
            .engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Driven {
    fn drop(&mut self) {
        // SYNC: Relaxed is enough: the driver re-checks `stop` after every wake-up and
        // the engine it would touch is emptied under the mutex below.
        self.shared.stop.store(true, Ordering::Relaxed);
        let mut e = self.lock();
        e.linger();
        e.shutdown();
    }
}

fn drive(shared: &Shared) {
    let mut events = Vec::with_capacity(32);
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: i64::from(TICK.subsec_nanos()),
    };
    while !shared.stop.load(Ordering::Relaxed) {
        events.clear();
        let _ = epoll::wait(
            shared.epoll.as_fd(),
            rustix::buffer::spare_capacity(&mut events),
            Some(&tick),
        );
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        match shared.engine.try_lock() {
            Ok(mut e) => {
                let _ = e.pump(Some(Instant::now()));
            }
            Err(TryLockError::Poisoned(p)) => {
                let _ = p.into_inner().pump(Some(Instant::now()));
            }
            Err(TryLockError::WouldBlock) => {}
        }
    }
}
