//! Why a command stops early: SIGINT/SIGTERM, and `--timeout-ms`.
//!
//! The signal handlers only store the signal's number in an atomic ([`signal_hook::flag`]);
//! every blocking call of a command waits in slices of at most [`SLICE`] and checks that
//! number between them ([`Watch::check`]), so a command ends promptly and drops its sockets
//! normally: shm sockets unlink the segments they created, ZMTP sockets close their
//! connections. A second signal while the first is being handled ends the process at once
//! (exit 128 + signal), in case a shutdown hangs.
//!
//! Checking costs one relaxed atomic load per message, and an idle command wakes up
//! 1 / [`SLICE`] times a second.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The longest a blocking call waits before the command checks for a signal.
pub const SLICE: Duration = Duration::from_millis(50);

/// The signal that asked the command to stop (0: none yet).
static CAUGHT: AtomicUsize = AtomicUsize::new(0);
/// Set with the first signal: a second one ends the process at once.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Installs the SIGINT and SIGTERM handlers (once, at start).
pub fn install() -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM] {
        // The order matters: the shutdown action runs first, so it only fires on a second
        // signal, after the first one armed it.
        flag::register_conditional_shutdown(sig, 128 + sig, &ARMED)?;
        flag::register_usize(sig, &CAUGHT, sig as usize)?;
        flag::register(sig, &ARMED)?;
    }
    Ok(())
}

/// Makes SIGINT and SIGTERM do nothing (for `ringwire bench`'s peer: Ctrl-C in a terminal
/// signals the whole process group, and the leader, which stops it cleanly, decides when it
/// ends; it still dies with the leader).
pub fn ignore() -> std::io::Result<()> {
    let unused = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [SIGINT, SIGTERM] {
        flag::register(sig, unused.clone())?;
    }
    Ok(())
}

/// Whether SIGINT or SIGTERM arrived (a [`ringwire::bench::measure::Stop`] check).
pub fn signalled() -> bool {
    caught().is_some()
}

/// The signal caught so far, if any.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::Relaxed) {
        0 => None,
        sig => i32::try_from(sig).ok(),
    }
}

/// The name of `sig` for messages.
pub fn name(sig: i32) -> &'static str {
    match sig {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

/// Why a wait ended without its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A signal arrived.
    Signal(i32),
    /// The deadline passed.
    Timeout,
}

/// A deadline (or none) plus the signal flag: how long the next slice of a wait may be.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    deadline: Option<Instant>,
}

impl Watch {
    /// A watch that ends `timeout` from now (`None`: only a signal ends it).
    pub fn new(timeout: Option<Duration>) -> Self {
        Self {
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    /// Starts the same timeout again from now (e.g. after a message arrived).
    pub fn restart(&mut self, timeout: Option<Duration>) {
        *self = Self::new(timeout);
    }

    /// Fails if a signal arrived or the deadline passed.
    pub fn check(&self) -> Result<(), Stopped> {
        self.slice().map(|_| ())
    }

    /// How long the next wait may last: at most [`SLICE`], less near the deadline; fails if a
    /// signal arrived or the deadline passed.
    pub fn slice(&self) -> Result<Duration, Stopped> {
        if let Some(sig) = caught() {
            return Err(Stopped::Signal(sig));
        }
        match self.deadline {
            None => Ok(SLICE),
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left.min(SLICE)),
                _ => Err(Stopped::Timeout),
            },
        }
    }
}
