//! The two modes every event-service test runs in, shared by `tests/events.rs` and
//! `tests/events_procs.rs`, and the node processes of the multi-process tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ringwire::events::{NodeId, Service, ServiceStats};

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

/// Waits (bounded by 30 s, never timed) until the service's stats satisfy `f` (they are
/// published after each message the service handles, a moment after its sends).
pub fn stats_until(s: &Service, f: impl Fn(&ServiceStats) -> bool) -> ServiceStats {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let st = s.stats();
        if f(&st) {
            return st;
        }
        assert!(Instant::now() < end, "stats never got there: {st:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A node process (`events_node`, whose path the test passes: `env!("CARGO_BIN_EXE_events_node")`)
/// with its stdout read line by line; killed and reaped when dropped.
pub struct Proc {
    /// The process (stdin piped: closing it makes the `echo` and `idle` roles leave).
    pub child: Child,
    /// Its stdout, until [`take_lines`](Self::take_lines).
    out: Option<BufReader<ChildStdout>>,
}

impl Proc {
    /// Starts `bin` with `args`.
    pub fn spawn(bin: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Some(BufReader::new(child.stdout.take().unwrap()));
        Proc { child, out }
    }

    /// The next line it prints, trimmed.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        let out = self.out.as_mut().expect("stdout handed over");
        out.read_line(&mut l).unwrap();
        l.trim().to_owned()
    }

    /// Hands its stdout over: a function giving the next line (trimmed), `None` at the end
    /// (to read it on another thread).
    pub fn take_lines(&mut self) -> impl FnMut() -> Option<String> + Send + 'static {
        let mut out = self.out.take().expect("stdout handed over");
        move || {
            let mut l = String::new();
            match out.read_line(&mut l) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(l.trim().to_owned()),
            }
        }
    }

    /// Its node id (its process id).
    pub fn id(&self) -> NodeId {
        NodeId::from(self.child.id())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
