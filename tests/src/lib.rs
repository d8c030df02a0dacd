//! Helpers shared by ringwire's cross-crate and multi-process tests.
#![forbid(unsafe_code)]

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

/// Kills the test process if it runs longer than `secs` (a hung socket test must fail, not hang).
pub fn watchdog(secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        eprintln!("watchdog: test ran longer than {secs} s");
        std::process::exit(101);
    });
}
