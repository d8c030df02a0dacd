//! The scaling runs' process plumbing: spawning this program as a peer role, reading the
//! one-line answers peers print, the descriptor limit and a
//! process's resident memory.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringwire::bench::{BenchError, Result};

/// The benchmark's one shared clock (`CLOCK_MONOTONIC`, the same in every process).
pub use ringwire::bench::clock::now_ns as mono_ns;

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (best effort): a server
/// holding a thousand connections needs more than the usual 1,024 descriptors.
pub fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// The resident set size of process `pid` in bytes (`VmRSS` of `/proc/PID/status`).
pub fn vm_rss(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError(format!("reading /proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb * 1024.0)
        .ok_or_else(|| BenchError(format!("no VmRSS in /proc/{pid}/status")))
}

/// A peer process whose standard output lines arrive on a channel. Killed when dropped if it
/// has not exited.
pub struct Peer {
    pub child: Child,
    /// Its standard input: dropping it tells a waiting peer to leave.
    pub stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    /// Starts this program with `scaling-peer ARGS…`.
    pub fn spawn(args: &[&str]) -> Result<Peer> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("scaling-peer")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError("peer has no stdout".into()))?;
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Peer {
            child,
            stdin,
            lines,
        })
    }

    /// The next line the peer printed, waiting until `deadline`.
    pub fn line(&mut self, deadline: Instant) -> Result<String> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => Ok(l),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(BenchError("a peer did not answer in time".into()))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                Err(BenchError(format!(
                    "a peer exited without answering ({status:?})"
                )))
            }
        }
    }

    /// The next line, if one is there already.
    pub fn try_line(&mut self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// Waits for the peer to exit; an unsuccessful exit is an error.
    pub fn finish(mut self, deadline: Instant) -> Result<()> {
        drop(self.stdin.take());
        loop {
            if let Some(status) = self.child.try_wait()? {
                return if status.success() {
                    Ok(())
                } else {
                    Err(BenchError(format!("peer exited with {status}")))
                };
            }
            if Instant::now() >= deadline {
                return Err(BenchError("a peer did not exit in time".into()));
            }
            thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Dies with the leader, so that a killed benchmark leaves no peer behind.
pub fn die_with_parent() {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
}

/// Prints one answer line and flushes it at once (the leader waits for it).
pub fn answer(line: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Parses the whitespace-separated numbers after `tag` in `line`.
pub fn parse_numbers(line: &str, tag: &str, n: usize) -> Result<Vec<f64>> {
    let mut it = line.split_whitespace();
    if it.next() != Some(tag) {
        return Err(BenchError(format!(
            "expected {tag:?} from a peer, got {line:?}"
        )));
    }
    let v: Vec<f64> = it.filter_map(|x| x.parse().ok()).collect();
    if v.len() != n {
        return Err(BenchError(format!("bad answer from a peer: {line:?}")));
    }
    Ok(v)
}
