//! A segment scribbled on by a faulty process gives errors, never a crash or a hang.
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Publisher, Puller, Pusher, ShmOptions, Subscriber};
use ringwire_core::segment::SLOTS_OFFSET;
use ringwire_platform::SegmentName;
use ringwire_platform::segment::{Segment, atomic_u32_at};
use shm_common::unique;

/// Stores `value` at byte `offset` of the segment behind `shm://name`.
fn poke(name: &str, offset: usize, value: u32) {
    let seg = Segment::open(&SegmentName::new(name).unwrap()).unwrap();
    atomic_u32_at(&seg, offset)
        .unwrap()
        // SYNC: Release pairs with the rings' Acquire loads that meet the scribble.
        .store(value, Ordering::Release);
}

#[test]
fn corrupt_header_is_refused_on_connect() {
    let name = unique("bad-header");
    let _p = Publisher::bind(&format!("shm://{name}")).unwrap();
    // The slot-size field (offset 20): the fingerprint no longer matches.
    poke(&name, 20, 12345);
    let fast = ShmOptions::new().connect_timeout(Duration::from_millis(50));
    let err = Subscriber::builder()
        .options(fast)
        .connect(&format!("shm://{name}"))
        .unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn corrupt_frame_in_a_queue_slot_is_an_error_and_the_queue_goes_on() {
    let name = unique("bad-frame");
    let ep = format!("shm://{name}");
    let mut push = Pusher::bind(&ep).unwrap();
    let mut pull = Puller::connect(&ep).unwrap();
    push.send(&1u32).unwrap();
    push.send(&2u32).unwrap();
    // First slot's payload starts after the 16-byte slot header; its frame's MORE word is at
    // +4. 7 is not a valid MORE flag.
    poke(&name, SLOTS_OFFSET + 16 + 4, 7);
    let err = pull.try_recv::<u32>().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(pull.try_recv::<u32>().unwrap(), 2);
}

#[test]
fn impossible_slot_length_in_a_broadcast_ring_is_an_error() {
    let name = unique("bad-len");
    let ep = format!("shm://{name}");
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"");
    publisher.send(&1u32).unwrap();
    // The slot's length word (offset 8 in the slot) claims more than the slot holds.
    poke(&name, SLOTS_OFFSET + 8, u32::MAX);
    let err = sub.try_recv::<u32>().unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
}

#[test]
fn garbage_where_a_segment_should_be_is_not_clobbered_by_bind() {
    let name = unique("foreign");
    let mut junk = Segment::create(&SegmentName::new(&name).unwrap(), 4096).unwrap();
    junk.set_unlink_on_drop(true);
    atomic_u32_at(&junk, 0)
        .unwrap()
        // SYNC: Release pairs with the Acquire header loads of `bind`'s inspection.
        .store(0xBAD, Ordering::Release);
    let err = Publisher::bind(&format!("shm://{name}")).unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert!(err.to_string().contains("not a ringwire segment"));
}
