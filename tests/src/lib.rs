//! Helpers shared by ringwire's cross-crate and multi-process tests.
#![forbid(unsafe_code)]

pub mod apps;
pub mod events;
pub mod interop;
pub mod matrix;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A unique `ipc://` endpoint for this process and call (pid + counter).
pub fn unique_ipc(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf =
        std::env::temp_dir().join(format!("rw-{tag}-{}-{n}.sock", std::process::id()));
    format!("ipc://{}", path.display())
}

/// Both transports, each as `(bind endpoint, name)`; tcp binds port 0 (read the real one
/// back from `bound_endpoints`).
pub fn transports(tag: &str) -> Vec<String> {
    vec!["tcp://127.0.0.1:0".to_string(), unique_ipc(tag)]
}

/// Kills the test process if the calling test runs longer than `secs` (a hung socket test must
/// fail, not hang). Keep the returned guard alive for the whole test: dropping it (when the
/// test returns or panics) disarms the watchdog, so a finished test can never kill a later one.
/// The message names the test that hung (the test harness names each test's thread).
#[must_use = "the watchdog is disarmed when this guard is dropped"]
pub fn watchdog(secs: u64) -> Watchdog {
    let test = std::thread::current()
        .name()
        .unwrap_or("<unnamed thread>")
        .to_string();
    let (disarm, armed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Disarmed: the guard sent nothing but was dropped (Disconnected).
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            armed.recv_timeout(std::time::Duration::from_secs(secs))
        {
            eprintln!("watchdog: test `{test}` ran longer than {secs} s; killing the test process");
            std::process::exit(101);
        }
    });
    Watchdog { _disarm: disarm }
}

/// The guard of [`watchdog`]: dropping it disarms the watchdog.
#[derive(Debug)]
pub struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}
