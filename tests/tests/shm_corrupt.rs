//! A segment scribbled on by a faulty process gives errors, never a crash or a hang.
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ringwire::shm::{Publisher, Puller, Pusher, ShmOptions, Subscriber};
use ringwire::{Error, ProtocolError};
use ringwire_core::frames::FrameError;
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
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Open { .. })),
        "{err:?}"
    );
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
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::Frame(FrameError::BadMore))
        ),
        "{err:?}"
    );
    assert_eq!(pull.try_recv::<u32>().unwrap(), 2);
}

#[test]
fn impossible_slot_length_in_a_broadcast_ring_is_an_error() {
    let name = unique("bad-len");
    let ep = format!("shm://{name}");
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    publisher.send(&1u32).unwrap();
    // The slot's length word (offset 8 in the slot) claims more than the slot holds.
    poke(&name, SLOTS_OFFSET + 8, u32::MAX);
    let err = sub.try_recv::<u32>().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::CorruptRing { .. })),
        "{err:?}"
    );
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
    assert!(
        matches!(err, Error::Protocol(ProtocolError::ForeignSegment { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a ringwire segment"));
}

const TRUNCATE_CHILD: &str = "RINGWIRE_SHM_TRUNCATE_CHILD";

/// The child of `truncated_segment_is_an_error_not_a_sigbus` (a no-op otherwise): a puller
/// that receives once, says "ready", waits for a line, then receives again.
#[test]
fn truncate_child_puller() {
    use std::io::Write;
    let Ok(ep) = std::env::var(TRUNCATE_CHILD) else {
        return;
    };
    let mut pull = Puller::connect(&ep).unwrap();
    let first = pull.recv::<u32>().unwrap();
    // Straight to stdout: libtest captures `println!`.
    let mut out = std::io::stdout();
    writeln!(out, "ready {first}").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let got = pull.recv_timeout::<u32>(Duration::from_secs(2));
    writeln!(out, "after {got:?}").unwrap();
    out.flush().unwrap();
}

/// Issue #11 item 2: `truncate -s 0 /dev/shm/ringwire.NAME` under a connected puller makes its
/// next receive fail with `SegmentError::Faulted` instead of killing it with SIGBUS.
#[cfg(target_os = "linux")]
#[test]
fn truncated_segment_is_an_error_not_a_sigbus() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    if std::env::var(TRUNCATE_CHILD).is_ok() {
        return;
    }
    let name = unique("truncate");
    let ep = format!("shm://{name}");
    let mut push = Pusher::bind(&ep).unwrap();
    push.send(&41u32).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "truncate_child_puller",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(TRUNCATE_CHILD, &ep)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("ready") {
        let mut line = String::new();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("ready 41"), "{seen}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/ringwire.{name}"))
        .unwrap()
        .set_len(0)
        .unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), None, "puller killed: {status:?}\n{rest}");
    assert!(status.success(), "{status:?}\n{rest}");
    assert!(rest.contains("after Err(Segment(Faulted))"), "{rest}");
    drop(push);
}

/// Issue #11 item 6: an enqueue position set to 2^62 by a faulty process makes `send` fail
/// with a corrupt-ring error instead of sleeping forever on a ring that looks full.
#[test]
fn impossible_queue_position_fails_send_instead_of_blocking() {
    use ringwire_platform::segment::atomic_u64_at;
    let name = unique("bad-enqueue");
    let ep = format!("shm://{name}");
    let mut push = Pusher::bind(&ep).unwrap();
    let mut pull = Puller::connect(&ep).unwrap();
    push.send(&1u32).unwrap();
    assert_eq!(pull.recv::<u32>().unwrap(), 1);
    let seg = Segment::open(&SegmentName::new(&name).unwrap()).unwrap();
    // SYNC: Release pairs with the ring's loads of the enqueue position.
    atomic_u64_at(&seg, 128)
        .unwrap()
        .store(1 << 62, Ordering::Release);
    // A blocking send: before the fix it slept forever, the ring looking full.
    let err = push.send(&2u32).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::RingSend(
                ringwire_core::ring::SendError::Corrupt
            ))
        ),
        "{err:?}"
    );
    let err = pull.recv::<u32>().unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::CorruptRing { .. })),
        "{err:?}"
    );
}

/// Issue #11 item 7: a request without a request-id frame (scribbled by a faulty process) is
/// counted, logged and skipped: the replier answers the next request instead of failing.
#[test]
fn request_without_an_id_is_skipped_and_counted() {
    use ringwire::shm::{Replier, Requester};
    let name = unique("no-id");
    let ep = format!("shm://{name}");
    let mut rep = Replier::bind(&ep).unwrap();
    let mut req = Requester::connect(&ep).unwrap();
    req.send(&1u32).unwrap();
    // The request ring's first slot: its first frame header (the id frame's length, 8) at the
    // start of the payload. 7 is not an id frame.
    poke(&name, SLOTS_OFFSET + 16, 7);
    req.abandon();
    req.send(&2u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 2);
    assert_eq!(rep.corrupt(), 1);
    rep.send(&20u32).unwrap();
    assert_eq!(req.recv::<u32>().unwrap(), 20);
}

/// A requester's channel scribbled on (its request ring's tail far past its slots) is reported
/// by the replier's receive that meets it, and the next receive looks at the other channels
/// first: the corrupt channel does not starve the other requesters.
#[test]
fn a_corrupt_client_channel_does_not_starve_the_others() {
    use ringwire::shm::{Replier, Requester};
    use ringwire_core::segment::PRODUCER_LINE;
    let name = unique("many-corrupt");
    let ep = format!("shm://{name}");
    let mut rep = Replier::builder().max_clients(2).bind(&ep).unwrap();
    let mut good = Requester::connect(&ep).unwrap(); // channel 0
    let _bad = Requester::connect(&ep).unwrap(); // channel 1
    // Two channels of two equal rings: channel 1's request ring starts at half the segment.
    let len = Segment::open(&SegmentName::new(&name).unwrap())
        .unwrap()
        .len();
    poke(&name, len / 2 + PRODUCER_LINE, 0x4000_0000);
    // Served from channel 0, the replier looks at channel 1 first next time.
    good.send(&1u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 1);
    rep.send(&10u32).unwrap();
    assert_eq!(good.recv::<u32>().unwrap(), 10);
    good.send(&2u32).unwrap();
    let mut reported = 0;
    let got = loop {
        match rep.recv::<u32>() {
            Ok(x) => break x,
            Err(Error::Protocol(ProtocolError::CorruptRing { .. })) => reported += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(
            reported <= 2,
            "the corrupt channel keeps the others from being served"
        );
    };
    assert_eq!(got, 2);
    assert!(reported >= 1);
}
