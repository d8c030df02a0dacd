//! Issue #11 item 2: a segment truncated under a process that maps it (`truncate -s 0
//! /dev/shm/ringwire.NAME`) must not kill that process with SIGBUS; the fault is contained and
//! reported by `Segment::is_faulted`.
#![forbid(unsafe_code)]
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use ringwire_platform::SegmentName;
use ringwire_platform::segment::{Segment, atomic_u32_at};

const CHILD_ENV: &str = "RINGWIRE_TRUNCATE_CHILD";
const LEN: usize = 3 * 4096;

/// The child's role (a no-op unless started by `truncated_segment_does_not_kill_a_mapper`):
/// map the segment, say "ready", wait for a line, then touch the last page.
#[test]
fn truncate_child_role() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    let seg = Segment::open(&SegmentName::new(&name).unwrap()).unwrap();
    let last = atomic_u32_at(&seg, LEN - 4).unwrap();
    // SYNC: Acquire pairs with the parent's Release store.
    // Written straight to stdout: libtest captures `println!`.
    let mut out = std::io::stdout();
    writeln!(out, "ready {}", last.load(Ordering::Acquire)).unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    // The file is now empty: this access faults.
    // SYNC: Acquire, as above (nothing to pair with after the fault: the page is zeros).
    let after = last.load(Ordering::Acquire);
    writeln!(out, "after {after} faulted {}", seg.is_faulted()).unwrap();
    out.flush().unwrap();
}

#[test]
fn truncated_segment_does_not_kill_a_mapper() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let name = format!("t-plat-trunc-{}", std::process::id());
    let seg = Segment::create(&SegmentName::new(&name).unwrap(), LEN).unwrap();
    // SYNC: Release pairs with the child's Acquire load.
    atomic_u32_at(&seg, LEN - 4)
        .unwrap()
        .store(77, Ordering::Release);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "truncate_child_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        let done = line.contains("ready");
        lines.push(std::mem::take(&mut line));
        if done {
            break;
        }
    }
    assert!(lines.iter().any(|l| l.contains("ready 77")), "{lines:?}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/ringwire.{name}"))
        .unwrap()
        .set_len(0)
        .unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    drop(seg);
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), None, "child killed by signal: {status:?}");
    }
    assert!(status.success(), "{status:?}\n{rest}");
    assert!(rest.contains("after 0 faulted true"), "{rest}");
}
