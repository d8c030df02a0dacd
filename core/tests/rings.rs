//! Behaviour of each ring through its public API, single-threaded and with threads.
#![forbid(unsafe_code)]

use ringwire_core::region::LocalRegion;
use ringwire_core::ring::broadcast::{Broadcast, Start};
use ringwire_core::ring::mpmc::{Mpmc, Recovery};
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{ClaimError, Creator, RingConfig};

type Region = LocalRegion<4096>;

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

#[test]
fn broadcast_reports_exact_lag_and_resumes_at_oldest() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut writer = ring.writer(7).unwrap();
    let mut reader = ring.reader(Start::Next);
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
    // A dead writer's claim can be reclaimed; a live one's cannot.
    assert!(!ring.segment().reclaim_writer(|_| true));
    assert!(ring.segment().reclaim_writer(|owner| owner != 7));
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
        assert_eq!(loan.len(), 32);
        loan[..3].copy_from_slice(b"abc");
        let _ = loan.commit(3).unwrap();
    }
    {
        let mut loan = writer.loan();
        loan[0] = 9;
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
    assert!(ring.reclaim_consumer(|_| false));
    assert!(!ring.reclaim_producer(|_| true));
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
    let report = ring.recover(3, alive, false).unwrap();
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
    assert_eq!(ring.recover(3, alive, false).unwrap(), Recovery::default());
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

#[test]
fn mpmc_recovery_of_unattributed_claims_needs_consent() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    let producer = ring.producer(66).unwrap();
    let consumer = ring.consumer(2).unwrap();
    std::mem::forget(producer.loan().unwrap());
    // Simulate a producer killed between its position CAS and its owner store: slot 0's owner
    // word (offset 256 + 12) still reads 0.
    region.write_at(256 + 12, &0u32.to_ne_bytes());
    let _ = ring.producer(1).unwrap().try_send(b"after").unwrap();
    let mut buf = [0u8; 32];
    assert_eq!(consumer.try_recv(&mut buf), Err(RecvError::Empty));
    let report = ring.recover(3, |_| true, false).unwrap();
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
    let report = ring.recover(3, |_| true, true).unwrap();
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
    assert_eq!(
        ring.recover(0, |_| true, false),
        Err(ClaimError::InvalidOwner)
    );
}

#[test]
fn mpmc_recovery_lock_of_a_dead_recoverer_is_broken() {
    let region = region();
    let ring = Mpmc::create(&*region, cfg(4), Creator::default()).unwrap();
    // The recovery lock word lives at 192 + 8; a recoverer with id 50 died holding it.
    region.write_at(200, &50u32.to_ne_bytes());
    assert_eq!(
        ring.recover(3, |owner| owner != 50 && owner != 3, false)
            .map(|_| ()),
        Ok(())
    );
    region.write_at(200, &51u32.to_ne_bytes());
    assert_eq!(
        ring.recover(3, |_| true, false),
        Err(ClaimError::Held { owner: 51 })
    );
}

#[test]
fn broadcast_reader_ahead_of_head_and_a_writer_that_died_between_stamp_and_head() {
    let region = region();
    let ring = Broadcast::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut reader = ring.reader(Start::Next);
    let mut buf = [0u8; 32];
    {
        let mut writer = ring.writer(7).unwrap();
        let _ = writer.try_send(&[1; 3]).unwrap();
        // The writer "dies" after stamping slot 0 complete but before storing `head = 1`
        // (the head word is the producer line's first word, offset 128).
        region.write_at(128, &0u64.to_ne_bytes());
    }
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
    let region = region();
    let ring = Spsc::create(&*region, cfg(4), Creator::default()).unwrap();
    let mut tx = ring.producer(1).unwrap();
    let mut rx = ring.consumer(2).unwrap();
    let mut buf = [0u8; 32];
    let _ = tx.try_send(b"a").unwrap();
    // As if the producer died after storing `tail` but before stamping slot 0 (offset 256):
    // the consumer falls back to `tail`.
    region.write_at(256, &0u64.to_ne_bytes());
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
