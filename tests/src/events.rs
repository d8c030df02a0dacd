//! The two modes every event-service test runs in, shared by `tests/events.rs` and
//! `tests/events_procs.rs`.

use std::sync::atomic::{AtomicU32, Ordering};

use ringwire::events::Service;

/// Whether the service routes every emission, or keeps the directory only and lets nodes
/// write events into shared-memory rings (hub-less).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// tcp: the service routes.
    Routed,
    /// `shm://`: emissions in shared-memory rings.
    Hubless,
}

/// Runs each named test body (`fn name(mode: Mode)`, with `Mode` in scope) as
/// `routed::name` and `hubless::name`.
#[macro_export]
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod routed {
            $(#[test]
            fn $name() {
                super::$name(super::Mode::Routed)
            })*
        }
        mod hubless {
            $(#[test]
            fn $name() {
                super::$name(super::Mode::Hubless)
            })*
        }
    };
}

/// A service in `mode` (tcp port 0, or `shm://TAG-PID-N`) and the endpoint nodes join.
pub fn service(mode: Mode, tag: &str) -> (Service, String) {
    let s = match mode {
        Mode::Routed => Service::bind("tcp://127.0.0.1:0").unwrap(),
        Mode::Hubless => {
            static N: AtomicU32 = AtomicU32::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            Service::bind(&format!("shm://{tag}-{}-{n}", std::process::id())).unwrap()
        }
    };
    let ep = s.endpoint();
    (s, ep)
}
