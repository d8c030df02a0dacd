//! Shared helpers for ringwire's example programs (see `src/bin/`).
//!
//! Every example is one program playing every role: run without arguments it starts its
//! peers as child processes of itself (the process-manager scenario of the ProcLink seed),
//! waits for them and exits 0 when the exchange completed; run with a role name it plays
//! that role only, so two terminals can run the two sides by hand.
#![forbid(unsafe_code)]

use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Sends ringwire's log records where `RINGWIRE_LOG_DIR` says (rotated files there; stderr
/// when unset) at `RINGWIRE_LOG`'s level (default `warn`), as every example does first. Keep
/// the handle alive until the end of `main`. A bad level or an unwritable directory ends the
/// program with a message (exit 2).
pub fn setup_logging() -> ringwire::logging::LogHandle {
    match ringwire::logging::setup_logging(std::env::var_os("RINGWIRE_LOG_DIR")) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("{}: {e}", program_name());
            std::process::exit(2);
        }
    }
}

fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "example".into())
}

/// A unique endpoint name for this run, so parallel runs never share a segment or socket.
pub fn unique_name(base: &str) -> String {
    format!("{base}.{}", std::process::id())
}

/// Starts this same program as a child playing `role` with `args`.
pub fn spawn_role(role: &str, args: &[&str]) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg(role)
        .args(args)
        .spawn()
}

/// Waits for every child; fails if one exits unsuccessfully or outlives `limit` (then it is
/// killed), so a broken example never hangs its caller.
pub fn wait_all(children: Vec<(String, Child)>, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let mut failures = Vec::new();
    for (role, mut child) in children {
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => break,
                Ok(Some(status)) => {
                    failures.push(format!("{role} exited with {status}"));
                    break;
                }
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!("{role} did not finish within {limit:?}"));
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    failures.push(format!("{role}: {e}"));
                    break;
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
