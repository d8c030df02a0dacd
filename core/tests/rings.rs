//! Behaviour of each ring through its public API, single-threaded and with threads.
// Unsafe only where a test calls the `unsafe fn` recovery paths, each with its contract argued.
#![deny(unsafe_code)]

use ringwire_core::region::LocalRegion;
use ringwire_core::ring::broadcast::{Broadcast, LagPolicy, Start};
use ringwire_core::ring::mpmc::{Mpmc, Recovery};
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{
    ClaimError, Creator, MPMC_PARTICIPANTS, PARTICIPANT_STRIDE, RingConfig, SLOTS_OFFSET,
};

type Region = LocalRegion<8192>;

fn region() -> Box<Region> {
    Box::new(Region::new())
}

fn cfg(slots: u32) -> RingConfig {
    RingConfig::new(32, slots, "test::Msg")
}

#[test]
fn broadcast_delivers_in_order_to_every_reader() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut a = ring.reader(Start::Next);
    let mut b = ring.reader(Start::Next);
    let mut buf = [0u8; 32];
    assert_eq!(a.try_recv(&mut buf), Err(RecvError::Empty));
    for i in 0..3u8 {
        let _ = writer.try_send(&[i; 5]).unwrap();
    }
    for reader in [&mut a, &mut b] {
        for i in 0..3u8 {
            assert_eq!(reader.try_recv(&mut buf), Ok(5));
            assert_eq!(&buf[..5], &[i; 5]);
        }
        assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Empty));
    }
}

/// Interleaves two sends and one receive, `steps` times, on a ring of 16 slots; returns the
/// messages delivered and the ones reported lost (every one is either).
fn overload_2x(policy: LagPolicy, steps: u32) -> (u64, u64) {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(16), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut reader = ring.reader_with(Start::Next, policy);
    let mut buf = [0u8; 32];
    let (mut delivered, mut lost) = (0u64, 0u64);
    let mut expected = 0u64;
    for i in 0..u64::from(steps) {
        for k in 0..2 {
            let _ = writer.try_send(&(2 * i + k).to_le_bytes()).unwrap();
        }
        match reader.try_recv(&mut buf) {
            Ok(8) => {
                let got = u64::from_le_bytes(buf[..8].try_into().unwrap());
                assert_eq!(
                    got, expected,
                    "{policy:?}: delivered in order after the losses"
                );
                expected += 1;
                delivered += 1;
            }
            Err(RecvError::Lagged(n)) => {
                lost += n;
                expected += n;
            }
            other => panic!("{policy:?}: {other:?}"),
        }
    }
    // Drain what is still held.
    loop {
        match reader.try_recv(&mut buf) {
            Ok(_) => delivered += 1,
            Err(RecvError::Lagged(n)) => lost += n,
            Err(RecvError::Empty) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        delivered + lost,
        2 * u64::from(steps),
        "{policy:?}: every message accounted"
    );
    (delivered, lost)
}

#[test]
fn broadcast_lagging_reader_at_2x_overload_delivers_about_half() {
    let steps = 10_000;
    for policy in [LagPolicy::HalfRing, LagPolicy::Newest] {
        let (delivered, lost) = overload_2x(policy, steps);
        let percent = delivered * 100 / (2 * u64::from(steps));
        println!("{policy:?}: delivered {delivered} ({percent}%), lost {lost}");
        assert!(
            (40..=55).contains(&percent),
            "{policy:?}: delivered {delivered} ({percent}%), lost {lost}"
        );
    }
    // The old behaviour, resuming at the oldest message, is overrun again at once.
    let (delivered, lost) = overload_2x(LagPolicy::Oldest, steps);
    println!("Oldest: delivered {delivered}, lost {lost}");
    assert!(
        delivered * 100 / (2 * u64::from(steps)) < 5,
        "Oldest delivered {delivered}"
    );
    assert_eq!(LagPolicy::default(), LagPolicy::HalfRing);
}

#[test]
fn broadcast_reports_exact_lag_and_resumes_at_oldest() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut reader = ring.reader_with(Start::Next, LagPolicy::Oldest);
    for i in 0..11u8 {
        let _ = writer.try_send(&[i]).unwrap();
    }
    let mut buf = [0u8; 32];
    assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Lagged(7)));
    for i in 7..11u8 {
        assert_eq!(reader.try_recv(&mut buf), Ok(1));
        assert_eq!(buf[0], i);
    }
    assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Empty));
}

#[test]
fn broadcast_late_joiners_get_bounded_history() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    for i in 0..6u8 {
        let _ = writer.try_send(&[i]).unwrap();
    }
    let mut buf = [0u8; 32];
    let mut newest = ring.reader(Start::Latest(1));
    assert_eq!(newest.try_recv(&mut buf), Ok(1));
    assert_eq!(buf[0], 5);
    let mut all = ring.reader(Start::Latest(100));
    assert_eq!(all.pending(), 4);
    assert_eq!(all.try_recv(&mut buf), Ok(1));
    assert_eq!(buf[0], 2);
    let mut next = ring.reader(Start::Next);
    assert_eq!(next.try_recv(&mut buf), Err(RecvError::Empty));
}

#[test]
fn broadcast_errors_and_claims() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(2), Creator::default()).unwrap();
    assert_eq!(ring.writer(0).unwrap_err(), ClaimError::InvalidOwner);
    let mut writer = ring.writer(7).unwrap();
    assert_eq!(ring.writer(8).unwrap_err(), ClaimError::Held { owner: 7 });
    assert_eq!(
        writer.try_send(&[0; 33]),
        Err(SendError::TooLarge {
            len: 33,
            capacity: 32
        })
    );
    let mut reader = ring.reader(Start::Next);
    let _ = writer.try_send(&[1; 10]).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        reader.try_recv(&mut small),
        Err(RecvError::BufferTooSmall { needed: 10 })
    );
    let mut buf = [0u8; 32];
    assert_eq!(reader.try_recv(&mut buf), Ok(10));
    // A dead writer's claim can be reclaimed; a live one's cannot. (Safe on a broadcast ring:
    // even a wrong verdict leaves every write atomic.)
    assert!(!ring.reclaim_writer(|_| true));
    assert!(ring.reclaim_writer(|owner| owner != 7));
    drop(writer);
    let mut second = ring.writer(9).unwrap();
    assert_eq!(second.head(), 1, "a new writer resumes at the shared head");
    let _ = second.try_send(b"x").unwrap();
    assert_eq!(reader.try_recv(&mut buf), Ok(1));
}

#[test]
fn broadcast_loan_and_borrow() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(2), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut reader = ring.reader(Start::Next);
    {
        let mut loan = writer.loan();
        assert_eq!(loan.capacity(), 32);
        loan.write_at(0, b"abc");
        let _ = loan.commit(3).unwrap();
    }
    {
        let mut loan = writer.loan();
        loan.write_at(0, &[9]);
        // dropped: nothing published
    }
    assert_eq!(
        writer.loan().commit(33),
        Err(SendError::TooLarge {
            len: 33,
            capacity: 32
        })
    );
    let msg = reader.try_borrow().unwrap();
    assert_eq!(msg.len(), 3);
    assert_eq!(
        [msg.byte(0), msg.byte(1), msg.byte(2), msg.byte(3)],
        [b'a', b'b', b'c', 0]
    );
    let mut out = [0u8; 2];
    assert_eq!(msg.copy_to(&mut out), 2);
    assert_eq!(&out, b"ab");
    assert_eq!(msg.finish(), Ok(()));
    assert_eq!(reader.try_borrow().err(), Some(RecvError::Empty));

    // A borrow overwritten before it finishes is reported as lost.
    let _ = writer.try_send(b"1").unwrap();
    let msg = reader.try_borrow().unwrap();
    let _ = writer.try_send(b"2").unwrap();
    let _ = writer.try_send(b"3").unwrap();
    assert!(matches!(msg.finish(), Err(RecvError::Lagged(n)) if n >= 1));
    let mut buf = [0u8; 32];
    assert_eq!(reader.try_recv(&mut buf), Ok(1));
    assert_eq!(buf[0], b'3');
}

#[test]
fn spsc_fifo_full_empty_and_roles() {
    let region = region();
    let ring = Spsc::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut tx = ring.producer(1).unwrap();
    let mut rx = ring.consumer(2).unwrap();
    assert_eq!(ring.producer(3).unwrap_err(), ClaimError::Held { owner: 1 });
    assert_eq!(ring.consumer(3).unwrap_err(), ClaimError::Held { owner: 2 });
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    for i in 0..4u8 {
        let _ = tx.try_send(&[i; 2]).unwrap();
    }
    assert_eq!(tx.try_send(b"x"), Err(SendError::Full));
    assert!(tx.loan().is_err());
    assert_eq!(rx.pending(), 4);
    assert_eq!(
        rx.try_recv(&mut [0u8; 1]),
        Err(RecvError::BufferTooSmall { needed: 2 })
    );
    for i in 0..4u8 {
        assert_eq!(rx.try_recv(&mut buf), Ok(2));
        assert_eq!(&buf[..2], &[i; 2]);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // Loan dropped without commit publishes nothing.
    {
        let mut loan = tx.loan().unwrap();
        loan[0] = 1;
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // A borrow holds the slot until dropped; dropping the consumer frees the role.
    let _ = tx.try_send(b"held").unwrap();
    {
        let msg = rx.try_borrow().unwrap();
        assert_eq!(&*msg, b"held");
    }
    drop(rx);
    let mut rx = ring.consumer(5).unwrap();
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // SAFETY: no handle of owner 5 is used again (the predicate calls everyone dead, but the
    // only consumer is `rx`, which is not touched after this), and "everyone alive" is always
    // exact enough.
    #[allow(unsafe_code)]
    unsafe {
        assert!(ring.reclaim_consumer(|_| false));
        assert!(!ring.reclaim_producer(|_| true));
    }
    drop(rx);
}

#[test]
fn mpmc_fifo_full_empty_tombstones() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    let p = ring.producer(1).unwrap();
    let c = ring.consumer(2).unwrap();
    assert_eq!(ring.producer(0).unwrap_err(), ClaimError::InvalidOwner);
    let mut buf = [0u8; 32];
    assert_eq!(c.try_recv(&mut buf), Err(RecvError::Empty));
    {
        let mut loan = p.loan().unwrap();
        loan[0] = 1;
        // dropped: a tombstone consumers skip
    }
    for i in 0..3u8 {
        let _ = p.try_send(&[i; 3]).unwrap();
    }
    assert_eq!(p.try_send(b"x"), Err(SendError::Full));
    assert_eq!(
        c.try_recv(&mut [0u8; 2]),
        Err(RecvError::BufferTooSmall { needed: 3 })
    );
    for i in 0..3u8 {
        assert_eq!(c.try_recv(&mut buf), Ok(3));
        assert_eq!(&buf[..3], &[i; 3]);
    }
    assert!(ring.is_empty());
    let mut loan = p.loan().unwrap();
    loan[..2].copy_from_slice(b"ok");
    let _ = loan.commit(2).unwrap();
    let msg = c.try_borrow().unwrap();
    assert_eq!(&*msg, b"ok");
}

#[test]
fn mpmc_recovery_releases_dead_claims_only() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    let dead_producer = ring.producer(66).unwrap();
    let live_producer = ring.producer(1).unwrap();
    let dead_consumer = ring.consumer(77).unwrap();
    let live_consumer = ring.consumer(2).unwrap();
    let alive = |owner: u32| owner < 10;
    let _ = live_producer.try_send(b"a").unwrap();
    let _ = live_producer.try_send(b"b").unwrap();
    // The dead consumer claimed "a" and never finished (forgotten borrow = killed process).
    std::mem::forget(dead_consumer.try_borrow().unwrap());
    // The dead producer claimed a slot and never published.
    std::mem::forget(dead_producer.loan().unwrap());
    let _ = live_producer.try_send(b"c").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(live_consumer.try_recv(&mut buf), Ok(1));
    assert_eq!(buf[0], b'b');
    assert_eq!(
        live_consumer.try_recv(&mut buf),
        Err(RecvError::Empty),
        "wedged by the dead producer"
    );
    // A live claim is left alone.
    let held = live_consumer.try_borrow();
    assert!(held.is_err());
    // SAFETY: owners 66 and 77 ("dead") only hold forgotten loans and borrows, never used again.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, alive, false) }.unwrap();
    assert_eq!(
        report,
        Recovery {
            tombstoned: 1,
            freed: 1,
            unattributed: 0,
            released_unattributed: 0
        }
    );
    assert_eq!(live_consumer.try_recv(&mut buf), Ok(1));
    assert_eq!(buf[0], b'c');
    // Every slot is usable again: fill the ring completely.
    for i in 0..4u8 {
        let _ = live_producer.try_send(&[i]).unwrap();
    }
    assert_eq!(live_producer.try_send(b"x"), Err(SendError::Full));
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, alive, false) }.unwrap();
    assert_eq!(report, Recovery::default());
}

#[test]
fn threads_spsc_and_mpmc_deliver_everything_once() {
    let count: u32 = if cfg!(miri) { 60 } else { 20_000 };
    let region = region();
    let ring = Spsc::create(&*region, cfg(4), Creator::default()).unwrap();
    std::thread::scope(|s| {
        let ring = &ring;
        s.spawn(move || {
            let mut tx = ring.producer(1).unwrap();
            let mut i = 0u32;
            while i < count {
                if tx.try_send(&i.to_le_bytes()).is_ok() {
                    i += 1;
                } else {
                    std::thread::yield_now();
                }
            }
        });
        let mut rx = ring.consumer(2).unwrap();
        let mut expected = 0u32;
        let mut buf = [0u8; 32];
        while expected < count {
            match rx.try_recv(&mut buf) {
                Ok(4) => {
                    assert_eq!(u32::from_le_bytes(buf[..4].try_into().unwrap()), expected);
                    expected += 1;
                }
                Ok(n) => panic!("unexpected length {n}"),
                Err(RecvError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    });

    let region = self::region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    let seen = std::sync::Mutex::new(vec![0u8; 2 * count as usize]);
    let received = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for p in 0..2u32 {
            let ring = &ring;
            s.spawn(move || {
                let tx = ring.producer(p + 1).unwrap();
                let mut i = 0u32;
                while i < count {
                    if tx.try_send(&(p * count + i).to_le_bytes()).is_ok() {
                        i += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            });
        }
        for c in 0..2u32 {
            let (ring, seen, received) = (&ring, &seen, &received);
            s.spawn(move || {
                let rx = ring.consumer(10 + c).unwrap();
                let mut buf = [0u8; 32];
                while received.load(std::sync::atomic::Ordering::Relaxed) < 2 * count {
                    match rx.try_recv(&mut buf) {
                        Ok(4) => {
                            let v = u32::from_le_bytes(buf[..4].try_into().unwrap());
                            seen.lock().unwrap()[v as usize] += 1;
                            received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(n) => panic!("unexpected length {n}"),
                        Err(RecvError::Empty | RecvError::Busy) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert!(
        seen.into_inner().unwrap().iter().all(|&n| n == 1),
        "each message exactly once"
    );
}

#[test]
fn threads_broadcast_never_returns_torn_messages() {
    let count: u32 = if cfg!(miri) { 60 } else { 50_000 };
    let region = region();
    let ring = Broadcast::create(&*region, cfg(2), Creator::default()).unwrap();
    std::thread::scope(|s| {
        let ring = &ring;
        let mut reader = ring.reader(Start::Next);
        s.spawn(move || {
            let mut writer = ring.writer(1).unwrap();
            for i in 0..count {
                // 32 bytes all equal to the low byte, length depends on i: a torn read shows.
                let len = 1 + (i % 32) as usize;
                let _ = writer.try_send(&[i as u8; 32][..len]).unwrap();
            }
        });
        let mut buf = [0u8; 32];
        let mut last: Option<u64> = None;
        let mut delivered_or_lost = 0u64;
        while delivered_or_lost < u64::from(count) {
            let at = reader.cursor();
            match reader.try_recv(&mut buf) {
                Ok(len) => {
                    let i = at as u32;
                    assert_eq!(len, 1 + (i % 32) as usize);
                    assert!(buf[..len].iter().all(|&b| b == i as u8), "torn message");
                    assert!(last.is_none_or(|l| l < at));
                    last = Some(at);
                    delivered_or_lost += 1;
                }
                Err(RecvError::Lagged(n)) => delivered_or_lost += n,
                Err(RecvError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(delivered_or_lost, u64::from(count));
    });
}

/// Issue #10, item 1: a broadcast loan is filled while a reader copies the same slot (one slot,
/// so every loan overwrites what the reader is copying). The loan writes through relaxed atomic
/// words, so Miri sees no data race (it reported one for the old `&mut [u8]` loan), and the
/// seqlock still rejects every torn copy. Unaligned writes exercise the merged head/tail words.
#[test]
fn threads_broadcast_loan_written_while_a_reader_copies() {
    let count: u32 = if cfg!(miri) { 40 } else { 20_000 };
    let region = region();
    let ring = Broadcast::create(&*region, cfg(1), Creator::default()).unwrap();
    std::thread::scope(|s| {
        let ring = &ring;
        let mut reader = ring.reader(Start::Next);
        s.spawn(move || {
            let mut writer = ring.writer(1).unwrap();
            for i in 0..count {
                let len = 1 + (i % 32) as usize;
                let mut loan = writer.loan();
                let byte = i as u8;
                match i % 4 {
                    0 => loan.writer().fill(byte),
                    1 => loan.write_at(0, &[byte; 32][..len]),
                    2 => {
                        // Unaligned pieces: a head word, the middle, a tail word.
                        let mut w = loan.writer();
                        w.write_at(0, &[byte; 3]);
                        w.write_at(3, &[byte; 19]);
                        w.write_at(22, &[byte; 10]);
                    }
                    _ => {
                        let mut w = loan.writer();
                        let mut tail = w.tail(5).unwrap();
                        tail.copy_from_slice(&[byte; 27]);
                        tail.write_u64_at(1, u64::from_ne_bytes([byte; 8]));
                        w.write_at(0, &[byte; 5]);
                    }
                }
                let _ = loan.commit(len).unwrap();
            }
        });
        let mut buf = [0u8; 32];
        let mut delivered_or_lost = 0u64;
        while delivered_or_lost < u64::from(count) {
            let at = reader.cursor();
            match reader.try_recv(&mut buf) {
                Ok(len) => {
                    let i = at as u32;
                    assert_eq!(len, 1 + (i % 32) as usize);
                    assert!(buf[..len].iter().all(|&b| b == i as u8), "torn message");
                    delivered_or_lost += 1;
                }
                Err(RecvError::Lagged(n)) => delivered_or_lost += n,
                Err(RecvError::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    });
}

#[test]
fn broadcast_loan_writer_bounds_and_read_back() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(2), Creator::default()).unwrap();
    let mut writer = ring.writer(1).unwrap();
    let mut loan = writer.loan();
    let mut w = loan.writer();
    assert_eq!(w.len(), 32);
    w.fill(0xAA);
    w.write_at(30, b"yz");
    let mut tail = w.tail(8).unwrap();
    assert_eq!(tail.len(), 24);
    tail.write_at(1, b"abc");
    let mut back = [0u8; 5];
    tail.read_at(0, &mut back);
    assert_eq!(&back, &[0xAA, b'a', b'b', b'c', 0xAA]);
    assert!(w.tail(33).is_none());
    assert!(w.tail(32).unwrap().is_empty());
    let past = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loan.writer().write_at(31, b"no")
    }));
    assert!(
        past.is_err(),
        "a write past the slot panics like slice indexing"
    );
    let _ = loan.commit(32).unwrap();
    let mut reader = ring.reader(Start::Latest(1));
    let mut buf = [0u8; 32];
    assert_eq!(reader.try_recv(&mut buf), Ok(32));
    assert_eq!(&buf[8..13], &[0xAA, b'a', b'b', b'c', 0xAA]);
    assert_eq!(&buf[30..], b"yz");
}

#[test]
fn mpmc_recovery_of_unattributed_claims_needs_consent() {
    let mut region = region();
    {
        let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
        let producer = ring.producer(66).unwrap();
        std::mem::forget(producer.loan().unwrap());
        std::mem::forget(producer);
    }
    // Simulate a producer stopped between its position CAS and its owner store: slot 0's owner
    // word (offset 256 + 12) still reads 0, and its table entry still announces position 0.
    region.write_at(256 + 12, &0u32.to_ne_bytes());
    let ring = Mpmc::open(&*region, cfg(4)).unwrap();
    let consumer = ring.consumer(2).unwrap();
    let _ = ring.producer(1).unwrap().try_send(b"after").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(consumer.try_recv(&mut buf), Err(RecvError::Empty));
    // SAFETY: "everyone alive" can never free a live claim.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |_| true, false) }.unwrap();
    assert_eq!(
        report,
        Recovery {
            unattributed: 1,
            ..Recovery::default()
        }
    );
    assert_eq!(
        consumer.try_recv(&mut buf),
        Err(RecvError::Empty),
        "left alone without consent"
    );
    // SAFETY: the only unattributed claim is the forgotten loan above, never used again.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |_| true, true) }.unwrap();
    assert_eq!(
        report,
        Recovery {
            tombstoned: 1,
            unattributed: 1,
            released_unattributed: 1,
            freed: 0
        }
    );
    assert_eq!(consumer.try_recv(&mut buf), Ok(5));
    // SAFETY: refused before any claim is looked at.
    #[allow(unsafe_code)]
    let refused = unsafe { ring.recover(0, |_| true, false) };
    assert_eq!(refused, Err(ClaimError::InvalidOwner));
}

#[test]
fn mpmc_recovery_lock_of_a_dead_recoverer_is_broken() {
    let mut region = region();
    Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    // The recovery lock word lives at 192 + 8; a recoverer with id 50 died holding it.
    region.write_at(200, &50u32.to_ne_bytes());
    {
        let ring = Mpmc::open(&*region, cfg(4)).unwrap();
        // SAFETY: owner 50 exists only as the word written above; nobody holds a slot.
        #[allow(unsafe_code)]
        let recovered = unsafe { ring.recover(3, |owner| owner != 50 && owner != 3, false) };
        assert_eq!(recovered.map(|_| ()), Ok(()));
    }
    region.write_at(200, &51u32.to_ne_bytes());
    let ring = Mpmc::open(&*region, cfg(4)).unwrap();
    // SAFETY: "everyone alive" can never free a live claim.
    #[allow(unsafe_code)]
    let refused = unsafe { ring.recover(3, |_| true, false) };
    assert_eq!(refused, Err(ClaimError::Held { owner: 51 }));
}

/// Issue #10, item 3: a loan dropped after a recovery tombstoned its position used to store the
/// sequence word unconditionally, moving it backwards: the ring then reported `Full` with one of
/// its two slots in use.
#[test]
fn mpmc_loan_dropped_after_recovery_leaves_the_sequence_alone() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(2), Creator::default()).unwrap();
    let p = ring.producer(1).unwrap();
    let c = ring.consumer(2).unwrap();
    let loan = p.loan().unwrap();
    // SAFETY: this breaks the contract on purpose, as a wrongly stopped-but-alive producer would
    // (owner 1's loan lives on), to check the defence in depth: the loan's bytes are never
    // touched after the recovery, and no other party claims its slot before the loan is gone.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |owner| owner != 1, false) }.unwrap();
    assert_eq!(report.tombstoned, 1);
    let mut buf = [0u8; 32];
    assert_eq!(
        c.try_recv(&mut buf),
        Err(RecvError::Empty),
        "tombstone skipped"
    );
    drop(loan);
    let _ = p.try_send(b"a").unwrap();
    assert_ne!(
        p.try_send(b"b"),
        Err(SendError::Full),
        "one of two slots used"
    );
    assert_eq!(c.try_recv(&mut buf), Ok(1));
    assert_eq!(c.try_recv(&mut buf), Ok(1));
    assert_eq!(c.try_recv(&mut buf), Err(RecvError::Empty));
    // A commit after such a recovery is refused instead of publishing over the next lap.
    let loan = p.loan().unwrap();
    // SAFETY: as above.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |owner| owner != 1, false) }.unwrap();
    assert_eq!(report.tombstoned, 1);
    assert_eq!(loan.commit(0), Err(SendError::Corrupt));
    assert_eq!(c.try_recv(&mut buf), Err(RecvError::Empty));
}

#[test]
fn broadcast_reader_ahead_of_head_and_a_writer_that_died_between_stamp_and_head() {
    let mut region = region();
    {
        let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
        let _ = ring.writer(7).unwrap().try_send(&[1; 3]).unwrap();
    }
    // The writer "dies" after stamping slot 0 complete but before storing `head = 1`
    // (the head word is the producer line's first word, offset 128).
    region.write_at(128, &0u64.to_ne_bytes());
    let ring = Broadcast::open(&*region, cfg(4)).unwrap();
    let mut reader = ring.reader(Start::Next);
    let mut buf = [0u8; 32];
    // The reader polls the slot's stamp, so it takes the message anyway...
    assert_eq!(reader.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], &[1; 3]);
    // ...and is now one past `head`: that is an empty ring, not corruption.
    assert_eq!(reader.pending(), 0);
    assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Empty));
    // A new writer counts the orphaned message instead of writing position 0 again.
    let mut writer = ring.writer(8).unwrap();
    assert_eq!(writer.head(), 1);
    let _ = writer.try_send(&[2; 3]).unwrap();
    assert_eq!(reader.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], &[2; 3]);
    assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Empty));
    // History still holds both, in order.
    let mut late = ring.reader(Start::Latest(4));
    for expected in [1u8, 2] {
        assert_eq!(late.try_recv(&mut buf), Ok(3));
        assert_eq!(buf[0], expected);
    }
}

#[test]
fn spsc_message_published_without_its_stamp_is_still_delivered() {
    let mut region = region();
    {
        let ring = Spsc::create(&*region, cfg(4), Creator::default()).unwrap();
        let _ = ring.producer(1).unwrap().try_send(b"a").unwrap();
    }
    // As if the producer died after storing `tail` but before stamping slot 0 (offset 256):
    // the consumer falls back to `tail`.
    region.write_at(256, &0u64.to_ne_bytes());
    let ring = Spsc::open(&*region, cfg(4)).unwrap();
    let mut tx = ring.producer(1).unwrap();
    let mut rx = ring.consumer(2).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf), Ok(1));
    assert_eq!(&buf[..1], b"a");
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    // Stamped messages keep flowing through several laps of the ring.
    for i in 0..10u8 {
        let _ = tx.try_send(&[i]).unwrap();
        assert_eq!(rx.try_recv(&mut buf), Ok(1));
        assert_eq!(buf[0], i);
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    assert_eq!(rx.pending(), 0);
}

#[test]
fn broadcast_borrow_copies_any_range_in_place() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(2), Creator::default()).unwrap();
    let mut writer = ring.writer(1).unwrap();
    let mut reader = ring.reader(Start::Next);
    let msg: Vec<u8> = (0..29u8).collect();
    let _ = writer.try_send(&msg).unwrap();
    let borrowed = reader.try_borrow().unwrap();
    // Every start offset (aligned or not) and length, clipped at the message's end.
    for off in 0..32 {
        for len in 0..32 {
            let mut dst = vec![0xEE; len];
            let n = borrowed.copy_at(off, &mut dst);
            let want = &msg[off.min(29)..(off + len).min(29)];
            assert_eq!(n, want.len(), "offset {off} length {len}");
            assert_eq!(&dst[..n], want, "offset {off} length {len}");
            assert!(
                dst[n..].iter().all(|&b| b == 0xEE),
                "nothing written past n"
            );
        }
    }
    assert_eq!(borrowed.finish(), Ok(()));
}

#[test]
fn broadcast_lossless_writer_waits_for_registered_readers_only() {
    let region = region();
    let ring = Broadcast::create_with_subscribers(&*region, cfg(4), Creator::default(), 4).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut slow = ring.reader(Start::Next);
    assert!(slow.register(9));
    let mut untracked = ring.reader(Start::Next);
    assert_eq!(ring.subscribers(), 1);
    let mut buf = [0u8; 32];
    // A 2:1 overload: the lossless writer never gets more than a ring ahead of `slow`.
    let (mut sent, mut next) = (0u8, 0u8);
    for _ in 0..200 {
        for _ in 0..2 {
            match writer.try_send_lossless(&[sent]) {
                Ok(_) => sent = sent.wrapping_add(1),
                Err(SendError::Full) => assert_eq!(writer.blocked_by(), Some(9)),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(slow.try_recv(&mut buf), Ok(1));
        assert_eq!(buf[0], next, "every message, in order");
        next = next.wrapping_add(1);
    }
    // The unregistered reader was not waited for.
    assert!(matches!(
        untracked.try_recv(&mut buf),
        Err(RecvError::Lagged(_))
    ));
    // A clone is unregistered; dropping the registered reader frees its entry.
    let copy = slow.clone();
    assert!(!copy.is_registered());
    drop(slow);
    assert_eq!(ring.subscribers(), 0);
    assert_eq!(writer.blocked_by(), None);
    // A reader whose owner died is reclaimed and blocks no more.
    let mut dead = ring.reader(Start::Next);
    assert!(dead.register(13));
    for i in 0..4u8 {
        let _ = writer.try_send_lossless(&[i]).unwrap();
    }
    assert_eq!(writer.try_send_lossless(&[4]), Err(SendError::Full));
    assert_eq!(ring.reclaim_subscribers(|owner| owner != 13), 1);
    assert!(writer.try_send_lossless(&[4]).is_ok());
    // The table is bounded: a fifth reader finds no entry and is simply untracked.
    let mut readers: Vec<_> = (0..4).map(|_| ring.reader(Start::Next)).collect();
    let registered = readers
        .iter_mut()
        .map(|r| r.register(21))
        .filter(|&ok| ok)
        .count();
    assert_eq!(registered, 4);
    assert!(!ring.reader(Start::Next).register(21));
    assert_eq!(ring.subscribers(), 4);
}

/// Offset of the participant-table entry `owner` holds (found by its owner word).
fn entry_of(region: &mut Region, slots: u32, owner: u32) -> usize {
    let table = SLOTS_OFFSET + slots as usize * cfg(slots).slot_stride();
    (0..MPMC_PARTICIPANTS)
        .map(|i| table + i * PARTICIPANT_STRIDE)
        .find(|&entry| {
            let mut word = [0u8; 4];
            region.read_at(entry, &mut word);
            u32::from_ne_bytes(word) == owner
        })
        .expect("owner holds an entry")
}

/// Leaves `region` as a participant with owner id `owner` leaves it when it is killed after
/// winning the position CAS at `pos` and before storing its owner id in the slot: its handle's
/// table entry is leaked (a killed process never drops it), the entry announces `pos`, the
/// position word is past `pos`, and the slot's owner word reads 0. `producer` chooses the
/// enqueue (else dequeue) side. Driven on the raw bytes, offsets from docs/segment-layout.md.
fn kill_between_cas_and_owner_store(
    region: &mut Region,
    slots: u32,
    owner: u32,
    pos: u64,
    producer: bool,
) {
    {
        let ring = Mpmc::open(&*region, cfg(slots)).unwrap();
        if producer {
            std::mem::forget(ring.producer(owner).unwrap());
        } else {
            std::mem::forget(ring.consumer(owner).unwrap());
        }
    }
    let entry = entry_of(region, slots, owner);
    region.write_at(entry + 8, &pos.to_ne_bytes());
    let position_word = if producer { 128 } else { 192 };
    region.write_at(position_word, &(pos + 1).to_ne_bytes());
}

#[test]
fn mpmc_unattributed_claim_of_a_killed_producer_is_released_and_the_queue_goes_on() {
    let mut region = region();
    Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    kill_between_cas_and_owner_store(&mut region, 4, 66, 0, true);
    let ring = Mpmc::open(&*region, cfg(4)).unwrap();
    let consumer = ring.consumer(2).unwrap();
    let _ = ring.producer(1).unwrap().try_send(b"after").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(consumer.try_recv(&mut buf), Err(RecvError::Empty), "wedged");
    // SAFETY: owner 66 exists only as the killed participant simulated above.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |owner| owner != 66, false) }.unwrap();
    assert_eq!(
        report,
        Recovery {
            tombstoned: 1,
            unattributed: 1,
            released_unattributed: 1,
            freed: 0
        }
    );
    assert_eq!(consumer.try_recv(&mut buf), Ok(5));
    assert_eq!(&buf[..5], b"after");
    for i in 0..8u8 {
        let _ = ring.producer(1).unwrap().try_send(&[i; 3]).unwrap();
        assert_eq!(consumer.try_recv(&mut buf), Ok(3), "the queue goes on");
        assert_eq!(buf[0], i);
    }
}

#[test]
fn mpmc_unattributed_claim_of_a_killed_consumer_is_released_and_the_queue_goes_on() {
    let mut region = region();
    {
        let ring = Mpmc::create(&*region, cfg(2), Creator::default()).unwrap();
        let _ = ring.producer(1).unwrap().try_send(b"lost").unwrap();
    }
    kill_between_cas_and_owner_store(&mut region, 2, 67, 0, false);
    let ring = Mpmc::open(&*region, cfg(2)).unwrap();
    let producer = ring.producer(1).unwrap();
    let _ = producer.try_send(b"one").unwrap();
    assert_eq!(producer.try_send(b"two"), Err(SendError::Full), "wedged");
    // SAFETY: owner 67 exists only as the killed participant simulated above.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |owner| owner != 67, false) }.unwrap();
    assert_eq!(
        report,
        Recovery {
            freed: 1,
            unattributed: 1,
            released_unattributed: 1,
            tombstoned: 0
        }
    );
    let _ = producer.try_send(b"two").unwrap();
    let consumer = ring.consumer(2).unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(consumer.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"one");
    assert_eq!(consumer.try_recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"two");
}

#[test]
fn mpmc_unattributed_claim_of_a_stopped_participant_is_never_released() {
    let mut region = region();
    Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    // Owner 66 is stopped (SIGSTOP) between its CAS and its owner store: alive.
    kill_between_cas_and_owner_store(&mut region, 4, 66, 0, true);
    let ring = Mpmc::open(&*region, cfg(4)).unwrap();
    let consumer = ring.consumer(2).unwrap();
    let _ = ring.producer(1).unwrap().try_send(b"after").unwrap();
    let mut buf = [0u8; 32];
    for _ in 0..3 {
        // SAFETY: "everyone alive" can never free a live claim.
        #[allow(unsafe_code)]
        let report = unsafe { ring.recover(3, |_| true, false) }.unwrap();
        assert_eq!(
            report,
            Recovery {
                unattributed: 1,
                ..Recovery::default()
            }
        );
        assert_eq!(consumer.try_recv(&mut buf), Err(RecvError::Empty));
    }
}

#[test]
fn mpmc_unattributed_claim_announced_by_any_live_participant_is_kept() {
    let mut region = region();
    Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    // Owner 66 won position 0 and died; owner 5 (alive) had announced 0 too and lost the CAS,
    // or is the winner: the table cannot tell, so the slot stays.
    kill_between_cas_and_owner_store(&mut region, 4, 66, 0, true);
    {
        let ring = Mpmc::open(&*region, cfg(4)).unwrap();
        std::mem::forget(ring.producer(5).unwrap());
    }
    let entry = entry_of(&mut region, 4, 5);
    region.write_at(entry + 8, &0u64.to_ne_bytes());
    let ring = Mpmc::open(&*region, cfg(4)).unwrap();
    // SAFETY: owner 66 exists only as the killed participant simulated above; 5 is called alive.
    #[allow(unsafe_code)]
    let report = unsafe { ring.recover(3, |owner| owner != 66, false) }.unwrap();
    assert_eq!(report.released_unattributed, 0);
    assert_eq!(report.unattributed, 1);
}

#[test]
fn mpmc_participant_table_is_bounded_and_dead_entries_return() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut handles: Vec<_> = (1..MPMC_PARTICIPANTS as u32)
        .map(|owner| ring.producer(owner).unwrap())
        .collect();
    let last = ring.consumer(1000).unwrap();
    let full = ClaimError::TooManyParticipants {
        max: MPMC_PARTICIPANTS as u32,
    };
    assert_eq!(ring.producer(1).unwrap_err(), full);
    assert!(full.to_string().contains("too many producers/consumers"));
    drop(last);
    let again = ring.consumer(2000).unwrap();
    assert_eq!(ring.consumer(1).unwrap_err(), full);
    // Owner 7 dies holding its entry: recovery gives it back.
    std::mem::forget(handles.remove(6));
    assert_eq!(ring.producer(1).unwrap_err(), full);
    // SAFETY: owner 7's handle was leaked above and is never used again.
    #[allow(unsafe_code)]
    let _ = unsafe { ring.recover(3000, |owner| owner != 7, false) }.unwrap();
    let newcomer = ring.producer(1).unwrap();
    let _ = newcomer.try_send(b"ok").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(again.try_recv(&mut buf), Ok(2));
}
