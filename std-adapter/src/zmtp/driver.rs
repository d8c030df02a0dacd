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
//! so a request/reply round trip never wakes the driver. (Off Linux the wait is a
//! level-triggered `poll` with the same interests: see `ringwire_platform::readiness`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use ringwire_platform::readiness::Readiness;

use super::engine::Engine;

/// How often the driver looks at timers when no descriptor fires.
const TICK: Duration = Duration::from_millis(25);

/// How long corked bytes wait for more to join them before the driver writes them.
const CORK_DELAY: Duration = Duration::from_micros(30);

struct Shared {
    engine: Mutex<Engine>,
    stop: AtomicBool,
    /// The driver's wait set (`None`: no driver).
    readiness: Option<Arc<Readiness>>,
}

/// An engine shared between its owner and the idle-time driver thread.
pub struct Driven {
    shared: Arc<Shared>,
}

impl Driven {
    /// Wraps `engine` and starts its driver (no driver if the wait set cannot be made:
    /// the socket then progresses only inside its owner's calls).
    pub fn new(mut engine: Engine) -> Driven {
        let readiness = match Readiness::new() {
            Ok(r) => {
                let r = Arc::new(r);
                engine.set_readiness(r.clone());
                Some(r)
            }
            Err(e) => {
                log::warn!("no idle-time driver: {e}");
                None
            }
        };
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            stop: AtomicBool::new(false),
            readiness,
        });
        if let Some(r) = shared.readiness.clone() {
            let s = shared.clone();
            let spawned = thread::Builder::new()
                .name("ringwire-zmtp".into())
                .spawn(move || drive(&s, &r));
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
        if let Some(r) = &self.shared.readiness {
            // Let the driver stop now (the level-triggered backends hold duplicates of
            // the descriptors while they sleep).
            r.wake();
        }
        let mut e = self.lock();
        e.linger();
        e.shutdown();
    }
}

fn drive(shared: &Shared, readiness: &Readiness) {
    let mut scratch = Default::default();
    while !shared.stop.load(Ordering::Relaxed) {
        // Only the level-triggered backends call this (epoll has everything registered).
        let watch = || match shared.engine.try_lock() {
            Ok(e) => Some(e.watch_list()),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner().watch_list()),
            Err(TryLockError::WouldBlock) => None,
        };
        let (corked, any) = readiness.wait(&mut scratch, TICK, watch);
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        if corked {
            // Bytes were corked: give the burst a moment to grow, then write them.
            thread::sleep(CORK_DELAY);
        }
        // An edge-triggered event is reported once: if the owner holds the engine it
        // may not look at this descriptor before it lets go (a publisher returning from
        // a send), so retry with a growing pause rather than wait for the next tick.
        let missed = any;
        let mut pause = CORK_DELAY;
        loop {
            let mut e = match shared.engine.try_lock() {
                Ok(e) => e,
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    // Corked bytes are always written (nobody else may); other events
                    // give up after about a tick, when the tick's pump takes over.
                    let gave_up = !corked && pause >= TICK;
                    if !missed || gave_up || shared.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    thread::sleep(pause);
                    pause = (pause * 2).min(TICK);
                    continue;
                }
            };
            if corked {
                e.drain_waker();
                e.flush_all();
            }
            let _ = e.pump(Some(Instant::now()));
            break;
        }
    }
}
