//! Cross-process tests of `ringwire-platform`: futex wake-ups between processes and process
//! liveness of a live, a killed and a reaped child.
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ringwire_platform::SegmentName;
use ringwire_platform::liveness::{ProcessStamp, is_alive};
use ringwire_platform::segment::{Segment, atomic_u32_at};
use ringwire_platform::wait::{OsWaiter, Waiter, wait_until_changed};
use shm_common::{Peer, unique};

const WATCHDOG: Duration = Duration::from_secs(30);

#[test]
fn futex_wakes_a_waiter_in_another_process() {
    let name = unique("futex");
    let seg = Segment::create(&SegmentName::new(&name).unwrap(), 4096).unwrap();
    let word = atomic_u32_at(&seg, 64).unwrap();
    let mut peer = Peer::spawn(&["futex-wait", &name, "64", "0"], WATCHDOG);
    assert_eq!(peer.line(), "waiting");
    // Wait until the peer is asleep in the kernel, not spinning: a blocked receiver costs
    // no CPU. (Polling the state is bounded by the watchdog, not by a time assertion.)
    #[cfg(target_os = "linux")]
    while shm_common::proc_state(peer.pid()) != Some('S') {
        std::thread::sleep(Duration::from_millis(1));
    }
    // SYNC: Release pairs with the peer's Acquire load.
    word.store(42, Ordering::Release);
    OsWaiter::default().wake_all(word);
    assert_eq!(peer.finish(), vec!["woke 42".to_string()]);
}

#[test]
fn a_process_wakes_a_waiting_thread_here() {
    let name = unique("futex-rev");
    let seg = Segment::create(&SegmentName::new(&name).unwrap(), 4096).unwrap();
    let word = atomic_u32_at(&seg, 128).unwrap();
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wait_until_changed(&OsWaiter::default(), word, 0, None));
        let peer = Peer::spawn(&["futex-wake", &name, "128", "7"], WATCHDOG);
        assert_eq!(peer.finish(), vec!["woken".to_string()]);
        assert!(waiter.join().unwrap());
    });
    // SYNC: Acquire pairs with the peer's Release store (ordered by its exit, too).
    assert_eq!(word.load(Ordering::Acquire), 7);
}

#[test]
fn liveness_of_self_child_and_dead_child() {
    assert!(ProcessStamp::current().is_alive());

    let mut peer = Peer::spawn(&["sleep"], WATCHDOG);
    assert_eq!(peer.line(), "sleeping");
    let pid = peer.pid();
    let stamp = ProcessStamp::of(pid).expect("child is running");
    assert!(stamp.is_alive());
    #[cfg(target_os = "linux")]
    assert_ne!(stamp.start_time, 0);

    // Killed but not yet reaped (a zombie): already dead.
    peer.child.kill().unwrap();
    #[cfg(target_os = "linux")]
    {
        while !matches!(shm_common::proc_state(pid), Some('Z' | 'X') | None) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!stamp.is_alive());
    }
    peer.child.wait().unwrap();
    assert!(!stamp.is_alive());
    assert!(!is_alive(pid, stamp.start_time));
}
