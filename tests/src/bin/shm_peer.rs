//! Helper process for ringwire's multi-process shm tests: each subcommand plays one role
//! (a futex waiter, a publisher, a worker, ...) and reports on stdout, one line per event,
//! so the test in the parent process can assert on what every process saw.
#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringwire_platform::SegmentName;
use ringwire_platform::segment::{Segment, atomic_u32_at};
use ringwire_platform::wait::{OsWaiter, Waiter, wait_until_changed};

#[path = "shm_peer/roles.rs"]
mod roles;

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("shm_peer: argument {i} missing or malformed in {args:?}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cmd = args.first().map(String::as_str).unwrap_or("");
    match cmd {
        // futex-wait NAME OFFSET EXPECTED: sleep on the word until it changes, print its value.
        "futex-wait" => {
            let name: SegmentName = arg(&args, 1);
            let seg = Segment::open(&name).expect("open segment");
            let word = atomic_u32_at(&seg, arg(&args, 2)).expect("word in range");
            let expected: u32 = arg(&args, 3);
            say("waiting");
            assert!(wait_until_changed(
                &OsWaiter::default(),
                word,
                expected,
                None
            ));
            // SYNC: Acquire pairs with the waker's Release store.
            say(format!("woke {}", word.load(Ordering::Acquire)));
        }
        // futex-wake NAME OFFSET VALUE: store VALUE into the word and wake its waiters.
        "futex-wake" => {
            let name: SegmentName = arg(&args, 1);
            let seg = Segment::open(&name).expect("open segment");
            let word = atomic_u32_at(&seg, arg(&args, 2)).expect("word in range");
            // SYNC: Release pairs with the waiter's Acquire load in wait_until_changed.
            word.store(arg(&args, 3), Ordering::Release);
            OsWaiter::default().wake_all(word);
            say("woken");
        }
        // sleep: do nothing until killed.
        "sleep" => {
            say("sleeping");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => roles::run(cmd, &args),
    }
}
