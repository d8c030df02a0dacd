//! `ringwire ls/clean` as a library: listing segments and removing those of dead creators.
#![forbid(unsafe_code)]
#![cfg(target_os = "linux")]

use std::sync::atomic::Ordering;

use ringwire_core::ring::broadcast::Broadcast;
use ringwire_core::segment::{Creator, RingConfig};
use ringwire_platform::cleanup::{self, Status};
use ringwire_platform::segment::{Segment, SegmentError, atomic_u32_at};
use ringwire_platform::{ProcessStamp, SegmentName, SharedSegment};

/// Held by every test of this file: `clean_dead` removes every segment whose creator is dead,
/// which includes the dead-looking segments the other tests make and inspect.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn name(tag: &str) -> SegmentName {
    SegmentName::new(&format!("t-clean-{tag}-{}", std::process::id())).unwrap()
}

fn ring_segment(name: &SegmentName, creator: Creator) -> SharedSegment {
    let config = RingConfig::new(64, 4, "test");
    let mut seg = Segment::create(name, config.required_len().unwrap()).unwrap();
    seg.set_unlink_on_drop(false);
    let shared = SharedSegment::new(seg);
    Broadcast::create(shared.clone(), config, creator).unwrap();
    shared
}

fn dead_pid() -> ProcessStamp {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    let stamp = ProcessStamp::of(pid).unwrap_or(ProcessStamp { pid, start_time: 1 });
    child.wait().unwrap();
    stamp
}

#[test]
fn dead_creators_are_listed_and_cleaned_live_ones_kept() {
    let _serial = serial();
    let me = ProcessStamp::current();
    let (live, dead, foreign) = (name("live"), name("dead"), name("foreign"));
    let _live = ring_segment(
        &live,
        Creator {
            pid: me.pid,
            start_time: me.start_time,
        },
    );
    let gone = dead_pid();
    let _dead = ring_segment(
        &dead,
        Creator {
            pid: gone.pid,
            start_time: gone.start_time,
        },
    );
    let mut junk = Segment::create(&foreign, 4096).unwrap();
    junk.set_unlink_on_drop(false);
    atomic_u32_at(&junk, 0)
        .unwrap()
        // SYNC: Release pairs with the Acquire loads of the header in `cleanup::inspect`.
        .store(0x1234_5678, Ordering::Release);

    let listed = cleanup::list();
    let status_of = |n: &SegmentName| {
        listed
            .iter()
            .find(|i| &i.name == n)
            .map(|i| i.status.clone())
    };
    assert_eq!(status_of(&live), Some(Status::Alive));
    assert_eq!(status_of(&dead), Some(Status::Dead));
    assert_eq!(status_of(&foreign), Some(Status::Foreign));
    let info = listed.iter().find(|i| i.name == dead).unwrap();
    assert_eq!(info.creator, Some(gone));

    let removed = cleanup::clean_dead();
    assert!(removed.iter().any(|i| i.name == dead));
    assert!(!removed.iter().any(|i| i.name == live || i.name == foreign));
    assert!(matches!(Segment::open(&dead), Err(SegmentError::NotFound)));
    assert!(Segment::open(&live).is_ok());
    Segment::unlink(&live).unwrap();
    Segment::unlink(&foreign).unwrap();
}

#[test]
fn a_segment_without_a_header_yet_is_initialising_not_dead() {
    let _serial = serial();
    let n = name("init");
    let _seg = Segment::create(&n, 4096).unwrap();
    assert_eq!(cleanup::inspect(&n).unwrap().status, Status::Initialising);
    assert!(!cleanup::clean_dead().iter().any(|i| i.name == n));
}

/// Issue #11 item 11: a creator field forged to name a live process that did not create the
/// segment (pid 1, this test's parent) is dead on Linux, where the creator is judged by its lock
/// on the segment file; a version-2 segment (whose creator held no lock) is still judged by pid
/// and start time.
#[test]
fn a_forged_creator_is_dead_and_a_version_2_creator_is_judged_by_pid() {
    let _serial = serial();
    let parent = ProcessStamp::of(std::os::unix::process::parent_id()).unwrap();
    let init = ProcessStamp::of(1).unwrap();
    for (tag, forged) in [("forged-init", init), ("forged-parent", parent)] {
        let n = name(tag);
        let _seg = ring_segment(
            &n,
            Creator {
                pid: forged.pid,
                start_time: forged.start_time,
            },
        );
        let info = cleanup::inspect(&n).unwrap();
        assert_eq!(info.creator, Some(forged));
        assert_eq!(info.status, Status::Dead, "{tag}");
        // The same header with layout version 2: its creator held no lock, so the pid rule
        // applies, and the named process runs.
        let seg = Segment::open(&n).unwrap();
        // SYNC: Release pairs with the Acquire header loads of `inspect`.
        atomic_u32_at(&seg, 8).unwrap().store(2, Ordering::Release);
        assert_eq!(cleanup::inspect(&n).unwrap().status, Status::Alive, "{tag}");
        Segment::unlink(&n).unwrap();
    }
}
