//! The safe claim recovery of `ringwire_platform::claims`: only owners whose process has
//! certainly ended lose their claims, and unattributed MPMC claims are released only when the
//! ring's participant table shows their claimer dead.
#![forbid(unsafe_code)]
#![cfg(unix)]

use std::sync::atomic::Ordering;

use ringwire_core::ring::RecvError;
use ringwire_core::ring::mpmc::{Mpmc, Recovery};
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::{ClaimError, Creator, RingConfig};
use ringwire_platform::segment::{Segment, atomic_u32_at};
use ringwire_platform::{SegmentName, SharedSegment, claims};

const CFG: RingConfig = RingConfig::new(16, 2, "claims::Msg");

fn segment(tag: &str, len: usize) -> SharedSegment {
    let name = SegmentName::new(&format!("t-claims-{tag}-{}", std::process::id())).unwrap();
    SharedSegment::new(Segment::create(&name, len).unwrap())
}

/// The pid of a process that has exited and been reaped (not reused this soon).
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn spsc_roles_of_a_dead_process_are_reclaimed_and_live_ones_kept() {
    let seg = segment("spsc", 4096);
    let ring = Spsc::create(seg.clone(), CFG, Creator::default()).unwrap();
    let me = claims::owner_id(&seg);
    let dead = dead_pid();
    std::mem::forget(ring.producer(dead).unwrap());
    let _mine = ring.consumer(me).unwrap();
    assert!(claims::reclaim_spsc_producer(&ring));
    assert!(
        !claims::reclaim_spsc_consumer(&ring),
        "this process is alive"
    );
    assert!(ring.producer(me).is_ok());
    assert_eq!(
        ring.consumer(7).unwrap_err(),
        ClaimError::Held { owner: me }
    );
}

#[test]
fn mpmc_recovery_frees_the_dead_and_never_a_live_unattributed_claim() {
    let seg = segment("mpmc", 8192);
    let me = claims::owner_id(&seg);
    let dead = dead_pid();
    {
        let ring = Mpmc::create(seg.clone(), CFG, Creator::default()).unwrap();
        // Position 0: a producer that died after recording its pid. Position 1: one of this
        // (live) process stopped between its position CAS and its owner store: its handle, and
        // so its participant entry announcing position 1, stays.
        std::mem::forget(ring.producer(dead).unwrap().loan().unwrap());
        let stopped = ring.producer(me).unwrap();
        std::mem::forget(stopped.loan().unwrap());
        std::mem::forget(stopped);
    }
    // Slot 1's owner word (256 + stride 64 + 12) back to 0: unattributed.
    atomic_u32_at(&seg, 256 + 64 + 12)
        .unwrap()
        // SYNC: Release pairs with the ring's Acquire loads of the owner word.
        .store(0, Ordering::Release);
    let ring = Mpmc::open(seg.clone(), CFG).unwrap();
    for _ in 0..3 {
        let report = claims::recover_mpmc(&ring).unwrap();
        assert_eq!(report.released_unattributed, 0, "{report:?}");
        assert_eq!(report.unattributed, 1, "{report:?}");
    }
    let consumer = ring.consumer(me).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(consumer.try_recv(&mut buf), Err(RecvError::Empty));
    assert_eq!(
        claims::recover_mpmc(&ring).unwrap(),
        Recovery {
            unattributed: 1,
            ..Recovery::default()
        },
        "the tombstone of the dead producer was consumed; the live unattributed slot stays"
    );
}
