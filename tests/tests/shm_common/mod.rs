//! Shared helpers for the multi-process shm tests: unique names, spawning `shm_peer` with a
//! watchdog, reading its report lines.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A segment name no other test (or test run) uses.
pub fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("t-{tag}-{}-{n}", std::process::id())
}

/// A running `shm_peer`, killed when dropped or when its watchdog fires.
pub struct Peer {
    pub child: Child,
    pub lines: Lines<BufReader<ChildStdout>>,
    pub stdin: Option<ChildStdin>,
    cancel: Option<mpsc::Sender<()>>,
}

#[cfg(unix)]
fn kill9(pid: u32) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

impl Peer {
    /// Spawns `shm_peer args...`; the watchdog kills it after `limit`.
    pub fn spawn(args: &[&str], limit: Duration) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shm_peer"))
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn shm_peer");
        let pid = child.id();
        let (cancel, cancelled) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            // The watchdog: a hung peer must fail the test, not hang it. It is cancelled (the
            // sender dropped) as soon as the test reaps the peer, so it never signals a pid
            // that may have been reused.
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(limit) {
                eprintln!("watchdog: killing hung shm_peer {pid}");
                kill9(pid);
            }
        });
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        Peer {
            child,
            lines: BufReader::new(stdout).lines(),
            stdin,
            cancel: Some(cancel),
        }
    }

    /// Writes one line to the peer's stdin.
    pub fn tell(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to shm_peer");
        stdin.flush().expect("flush");
    }

    /// The next report line (panics if the peer exits first).
    pub fn line(&mut self) -> String {
        match self.lines.next() {
            Some(Ok(l)) => l,
            other => panic!("shm_peer ended without a line: {other:?}"),
        }
    }

    /// Reads lines until one starts with `prefix`; returns it.
    pub fn expect_line(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line();
            if l.starts_with(prefix) {
                return l;
            }
        }
    }

    /// Waits for exit; asserts success; returns the remaining lines.
    pub fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let rest: Vec<String> = self.lines.by_ref().map_while(Result::ok).collect();
        let status = self.child.wait().expect("wait shm_peer");
        drop(self.cancel.take());
        assert!(
            status.success(),
            "shm_peer failed: {status:?}; output {rest:?}"
        );
        rest
    }

    /// SIGKILLs the peer and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.cancel.take());
    }

    /// SIGKILLs the peer, reaps it, and returns the lines it had written before it died.
    pub fn kill_and_drain(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        drop(self.cancel.take());
        drop(self.stdin.take());
        self.lines.by_ref().map_while(Result::ok).collect()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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

/// Process state letter from /proc/<pid>/stat (Linux), e.g. 'S' for sleeping.
#[cfg(target_os = "linux")]
pub fn proc_state(pid: u32) -> Option<char> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    text[text.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Parses `"<word> A <word> B ..."` report lines into the numbers, e.g. "received 5 lost 2".
pub fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// A pseudo-random number in `0..bound` (seeded from the clock): where a kill lands.
pub fn random_below(bound: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let mut x = nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9E37_79B9_7F4A_7C15;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x % bound.max(1)
}

/// A scratch file path unique to this test run.
pub fn scratch_file(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(unique(tag))
}

/// Removes the segment behind `shm://name` (left by a peer the test killed).
pub fn unlink(endpoint: &str) {
    let name = endpoint.strip_prefix("shm://").unwrap_or(endpoint);
    if let Ok(name) = ringwire_platform::SegmentName::new(name) {
        let _ = ringwire_platform::segment::Segment::unlink(&name);
    }
}
