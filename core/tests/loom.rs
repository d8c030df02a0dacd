//! loom models of every ring at capacities 2–4: all interleavings (up to the preemption bound
//! set by `LOOM_MAX_PREEMPTIONS`) of a few operations on each side, checking FIFO order, that
//! nothing is lost or duplicated, that a broadcast reader never returns a torn message and counts
//! every lost message, and that the waiter protocol never loses a wake-up.
//!
//! The models with three roles or recovery scans (MPMC producers and consumers, MPMC loans and
//! recovery, SPSC reclaim, the consumer-side wake, the lossless broadcast writer) bound their
//! preemptions themselves ([`bounded`]: 3 unless `LOOM_MAX_PREEMPTIONS` says otherwise), so the
//! whole file stays within about two minutes on two cores.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p ringwire-core --release --test loom`.
#![cfg(loom)]
// Unsafe only for the `unsafe fn` recovery paths, each call with its contract argued.
#![deny(unsafe_code)]

use loom::thread;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::broadcast::{Broadcast, Start};
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::ring::{Notify, RecvError, SendError};
use ringwire_core::segment::{Creator, RingConfig};

/// Room for a capacity-4 ring of 8-byte slots and, for MPMC, its participant table (4 entries
/// under loom).
type Region = LocalRegion<1024>;

fn cfg(slots: u32) -> RingConfig {
    RingConfig::new(8, slots, "loom::Msg")
}

/// A region that outlives the model's threads (one small leak per explored execution).
fn region() -> &'static Region {
    Box::leak(Box::new(Region::new()))
}

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Message `i`: length `1 + i % 8`, every byte `i`, so a torn or misplaced copy is visible.
fn message(i: u8) -> ([u8; 8], usize) {
    ([i; 8], 1 + usize::from(i) % 8)
}

fn check(buf: &[u8], len: usize, i: u8) {
    assert_eq!(len, message(i).1, "length of message {i}");
    assert!(
        buf[..len].iter().all(|&b| b == i),
        "message {i} torn: {:?}",
        &buf[..len]
    );
}

#[test]
fn spsc_cap2_delivers_in_order_with_loans_and_borrows() {
    loom::model(|| {
        let ring = leak(Spsc::create(region(), cfg(2), Creator::default()).unwrap());
        let producer = thread::spawn(move || {
            let mut tx = ring.producer(1).unwrap();
            for i in 0..3u8 {
                let (bytes, len) = message(i);
                loop {
                    let sent = if i == 1 {
                        tx.loan().and_then(|mut loan| {
                            loan[..len].copy_from_slice(&bytes[..len]);
                            loan.commit(len)
                        })
                    } else {
                        tx.try_send(&bytes[..len])
                    };
                    if sent.is_ok() {
                        break;
                    }
                    thread::yield_now();
                }
            }
        });
        let mut rx = ring.consumer(2).unwrap();
        let mut buf = [0u8; 8];
        let mut i = 0u8;
        while i < 3 {
            let got = if i == 2 {
                rx.try_borrow().map(|b| {
                    buf[..b.len()].copy_from_slice(&b);
                    b.len()
                })
            } else {
                rx.try_recv(&mut buf)
            };
            match got {
                Ok(len) => {
                    check(&buf, len, i);
                    i += 1;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
    });
}

fn mpmc_two_producers_two_consumers(slots: u32) {
    // Bounded: the participant table's intent stores made the exhaustive search of three
    // threads run out of memory (20 GB) on a 24 GB machine.
    bounded(move || {
        let ring = leak(Mpmc::create(region(), cfg(slots), Creator::default()).unwrap());
        let producers: Vec<_> = (0..2u8)
            .map(|p| {
                thread::spawn(move || {
                    let tx = ring.producer(u32::from(p) + 1).unwrap();
                    let (bytes, len) = message(p);
                    while tx.try_send(&bytes[..len]).is_err() {
                        thread::yield_now();
                    }
                })
            })
            .collect();
        let consumer = thread::spawn(move || {
            let rx = ring.consumer(10).unwrap();
            let mut buf = [0u8; 8];
            loop {
                match rx.try_recv(&mut buf) {
                    Ok(len) => return Some(buf[..len].to_vec()),
                    Err(RecvError::Empty) => return None,
                    Err(e) => panic!("{e}"),
                }
            }
        });
        for p in producers {
            p.join().unwrap();
        }
        let mut seen = [0u8; 2];
        if let Some(msg) = consumer.join().unwrap() {
            check(&msg, msg.len(), msg[0]);
            seen[usize::from(msg[0])] += 1;
        }
        let rx = ring.consumer(11).unwrap();
        let mut buf = [0u8; 8];
        while let Ok(len) = rx.try_recv(&mut buf) {
            check(&buf, len, buf[0]);
            seen[usize::from(buf[0])] += 1;
        }
        assert_eq!(seen, [1, 1], "each message exactly once");
    });
}

#[test]
fn mpmc_cap2_two_producers_competing_consumers() {
    mpmc_two_producers_two_consumers(2);
}

#[test]
fn mpmc_cap4_two_producers_competing_consumers() {
    mpmc_two_producers_two_consumers(4);
}

#[test]
fn mpmc_cap2_wraps_around() {
    loom::model(|| {
        let ring = leak(Mpmc::create(region(), cfg(2), Creator::default()).unwrap());
        let producer = thread::spawn(move || {
            let tx = ring.producer(1).unwrap();
            for i in 0..3u8 {
                let (bytes, len) = message(i);
                while tx.try_send(&bytes[..len]).is_err() {
                    thread::yield_now();
                }
            }
        });
        let rx = ring.consumer(2).unwrap();
        let mut buf = [0u8; 8];
        let mut i = 0u8;
        while i < 3 {
            match rx.try_recv(&mut buf) {
                Ok(len) => {
                    check(&buf, len, i);
                    i += 1;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
    });
}

/// `bound`: loom's preemption bound for this model (`None`: `LOOM_MAX_PREEMPTIONS`, or all
/// interleavings).
fn broadcast_accounts_for_every_message(slots: u32, count: u8, bound: Option<usize>) {
    let mut builder = loom::model::Builder::new();
    if bound.is_some() {
        builder.preemption_bound = bound;
    }
    builder.check(move || {
        let ring = leak(Broadcast::create(region(), cfg(slots), Creator::default()).unwrap());
        let mut reader = ring.reader(Start::Next);
        let writer = thread::spawn(move || {
            let mut w = ring.writer(1).unwrap();
            for i in 0..count {
                let (bytes, len) = message(i);
                let _ = w.try_send(&bytes[..len]).unwrap();
            }
        });
        let mut buf = [0u8; 8];
        let mut accounted = 0u64;
        while accounted < u64::from(count) {
            let at = reader.cursor();
            match reader.try_recv(&mut buf) {
                Ok(len) => {
                    check(&buf, len, at as u8);
                    accounted += 1;
                }
                Err(RecvError::Lagged(n)) => {
                    assert!(n >= 1);
                    accounted += n;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(accounted, u64::from(count), "delivered + lost = written");
        writer.join().unwrap();
    });
}

#[test]
fn broadcast_cap2_never_torn_lag_exact() {
    // Three messages through two slots, every overrun path: exhaustive exploration takes
    // far longer than CI allows (over 10 minutes), so at most 4 preemptions per execution
    // (tokio's CI uses 2–3; most concurrency bugs need 2 or fewer).
    broadcast_accounts_for_every_message(2, 3, Some(4));
}

#[test]
fn broadcast_cap4_never_torn() {
    broadcast_accounts_for_every_message(4, 2, None);
}

#[test]
fn broadcast_lossless_cap2_never_overwrites_what_a_registered_reader_has_not_read() {
    // The writer waits (on `SendError::Full`) for the registered reader's published cursor:
    // every message arrives, in order, untorn, and the reader never lags. Bounded like the
    // other models with three interleaved roles.
    bounded(|| {
        let ring = leak(
            Broadcast::create_with_subscribers(region(), cfg(2), Creator::default(), 1).unwrap(),
        );
        let mut reader = ring.reader(Start::Next);
        assert!(reader.register(2));
        let writer = thread::spawn(move || {
            let mut w = ring.writer(1).unwrap();
            for i in 0..3u8 {
                let (bytes, len) = message(i);
                loop {
                    match w.try_send_lossless(&bytes[..len]) {
                        Ok(_) => break,
                        Err(SendError::Full) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        });
        let mut buf = [0u8; 8];
        let mut i = 0u8;
        while i < 3 {
            match reader.try_recv(&mut buf) {
                Ok(len) => {
                    check(&buf, len, i);
                    i += 1;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("message {i}: {e}"),
            }
        }
        writer.join().unwrap();
    });
}

#[test]
fn broadcast_borrow_detects_overwrite() {
    loom::model(|| {
        let ring = leak(Broadcast::create(region(), cfg(2), Creator::default()).unwrap());
        let mut reader = ring.reader(Start::Next);
        let mut w = ring.writer(1).unwrap();
        let (bytes, len) = message(0);
        let _ = w.try_send(&bytes[..len]).unwrap();
        let writer = thread::spawn(move || {
            for i in 1..3u8 {
                let (bytes, len) = message(i);
                let _ = w.try_send(&bytes[..len]).unwrap();
            }
        });
        match reader.try_borrow() {
            Ok(borrowed) => {
                let mut buf = [0u8; 8];
                let n = borrowed.copy_to(&mut buf);
                match borrowed.finish() {
                    Ok(()) => check(&buf, n, 0),
                    Err(RecvError::Lagged(lost)) => assert!(lost >= 1),
                    Err(e) => panic!("{e}"),
                }
            }
            // Overwritten before the borrow began.
            Err(RecvError::Lagged(lost)) => assert!(lost >= 1),
            Err(e) => panic!("{e}"),
        }
        writer.join().unwrap();
    });
}

#[test]
fn waiter_registration_never_loses_a_wakeup() {
    loom::model(|| {
        let ring = leak(Spsc::create(region(), cfg(2), Creator::default()).unwrap());
        let sender = thread::spawn(move || {
            let mut tx = ring.producer(1).unwrap();
            tx.try_send(b"x").unwrap()
        });
        let mut rx = ring.consumer(2).unwrap();
        let seg = ring.segment();
        let seen = seg.register_waiter();
        let mut buf = [0u8; 8];
        let found = rx.try_recv(&mut buf);
        let notify = sender.join().unwrap();
        if found == Err(RecvError::Empty) {
            // The reader would now sleep on `seen`: the sender must have seen it and moved the
            // event word, so the futex wait cannot sleep through the message.
            assert_eq!(notify, Notify::Wake);
            assert_ne!(seg.event_value(), seen);
        }
        seg.unregister_waiter();
    });
}

/// Runs `f` under loom with a preemption bound (3, or `LOOM_MAX_PREEMPTIONS` if set): the
/// models below have three threads or recovery scans, whose exhaustive search would take far
/// longer than CI allows. Bugs in these protocols show within two or three preemptions.
fn bounded(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn mpmc_loans_commit_or_tombstone_and_borrows_free() {
    bounded(|| {
        let ring = leak(Mpmc::create(region(), cfg(2), Creator::default()).unwrap());
        let producer = thread::spawn(move || {
            let tx = ring.producer(1).unwrap();
            // A dropped loan (a tombstone), then a committed one.
            drop(tx.loan().unwrap());
            let (bytes, len) = message(1);
            loop {
                match tx.loan() {
                    Ok(mut loan) => {
                        loan[..len].copy_from_slice(&bytes[..len]);
                        let _ = loan.commit(len).unwrap();
                        break;
                    }
                    Err(SendError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let rx = ring.consumer(2).unwrap();
        let mut buf = [0u8; 8];
        loop {
            match rx.try_borrow() {
                Ok(msg) => {
                    buf[..msg.len()].copy_from_slice(&msg);
                    check(&buf, msg.len(), 1);
                    break;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
        assert!(
            ring.is_empty(),
            "the tombstone was skipped, the message taken once"
        );
        assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    });
}

#[test]
fn mpmc_recover_frees_only_the_dead_while_a_live_producer_sends() {
    bounded(|| {
        let ring = leak(Mpmc::create(region(), cfg(2), Creator::default()).unwrap());
        // Owner 66 claimed position 0 and died there (its loan is never used again).
        std::mem::forget(ring.producer(66).unwrap().loan().unwrap());
        let producer = thread::spawn(move || {
            let tx = ring.producer(1).unwrap();
            let (bytes, len) = message(1);
            loop {
                match tx.try_send(&bytes[..len]) {
                    Ok(_) => break,
                    Err(SendError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let recoverer = thread::spawn(move || {
            // SAFETY: only owner 66 is called dead, and its one claim is the forgotten loan;
            // the live producer (owner 1) must be left alone, also while it is unattributed
            // between its CAS and owner store, where only the participant table protects it.
            #[allow(unsafe_code)]
            let report = unsafe { ring.recover(3, |owner| owner != 66, false) }.unwrap();
            assert!(report.tombstoned <= 1 && report.freed == 0);
            report.tombstoned
        });
        let tombstoned = recoverer.join().unwrap();
        assert_eq!(
            tombstoned, 1,
            "the dead claim is the position under `dequeue`"
        );
        let rx = ring.consumer(2).unwrap();
        let mut buf = [0u8; 8];
        loop {
            match rx.try_recv(&mut buf) {
                Ok(len) => {
                    check(&buf, len, 1);
                    break;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        producer.join().unwrap();
        assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    });
}

/// A live consumer's claim races a recovery that looks at the unattributed window between its
/// position CAS and its owner store: the participant table must keep the slot its own (the
/// message is delivered intact, nothing freed), while a dead consumer's slot is freed.
#[test]
fn mpmc_recover_never_frees_a_live_consumers_unattributed_claim() {
    bounded(|| {
        let ring = leak(Mpmc::create(region(), cfg(2), Creator::default()).unwrap());
        let tx = ring.producer(1).unwrap();
        for i in [1, 2] {
            let (bytes, len) = message(i);
            let _ = tx.try_send(&bytes[..len]).unwrap();
        }
        drop(tx);
        // Owner 66 took message 1 and died holding its slot.
        std::mem::forget(ring.consumer(66).unwrap().try_borrow().unwrap());
        let consumer = thread::spawn(move || {
            let rx = ring.consumer(2).unwrap();
            let mut buf = [0u8; 8];
            let len = rx.try_recv(&mut buf).unwrap();
            check(&buf, len, 2);
        });
        let recoverer = thread::spawn(move || {
            // SAFETY: only owner 66 is called dead, and its one claim is the forgotten borrow;
            // the live consumer (owner 2) must keep its claim, attributed or not.
            #[allow(unsafe_code)]
            let report = unsafe { ring.recover(3, |owner| owner != 66, false) }.unwrap();
            assert_eq!(report.tombstoned, 0);
            assert_eq!(report.released_unattributed, 0, "{report:?}");
            report.freed
        });
        assert!(recoverer.join().unwrap() <= 1);
        consumer.join().unwrap();
    });
}

#[test]
fn spsc_reclaimed_producer_role_continues_the_stream() {
    bounded(|| {
        let ring = leak(Spsc::create(region(), cfg(2), Creator::default()).unwrap());
        {
            // Owner 66 sent message 0 and died holding the producer role.
            let mut dead = ring.producer(66).unwrap();
            let (bytes, len) = message(0);
            let _ = dead.try_send(&bytes[..len]).unwrap();
            std::mem::forget(dead);
        }
        let successor = thread::spawn(move || {
            // SAFETY: owner 66's handle was forgotten above and is never used again.
            #[allow(unsafe_code)]
            let freed = unsafe { ring.reclaim_producer(|owner| owner != 66) };
            assert!(freed);
            let mut tx = ring.producer(5).unwrap();
            let (bytes, len) = message(1);
            while tx.try_send(&bytes[..len]).is_err() {
                thread::yield_now();
            }
        });
        let mut rx = ring.consumer(2).unwrap();
        let mut buf = [0u8; 8];
        let mut i = 0u8;
        while i < 2 {
            match rx.try_recv(&mut buf) {
                Ok(len) => {
                    check(&buf, len, i);
                    i += 1;
                }
                Err(RecvError::Empty) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        successor.join().unwrap();
    });
}

#[test]
fn consumer_side_wake_never_loses_a_blocked_producer() {
    bounded(|| {
        let ring = leak(Spsc::create(region(), cfg(2), Creator::default()).unwrap());
        let mut tx = ring.producer(1).unwrap();
        for i in 0..2u8 {
            let (bytes, len) = message(i);
            let _ = tx.try_send(&bytes[..len]).unwrap();
        }
        let consumer = thread::spawn(move || {
            let mut rx = ring.consumer(2).unwrap();
            let mut buf = [0u8; 8];
            let len = rx.try_recv(&mut buf).unwrap();
            check(&buf, len, 0);
            // The consumer freed a slot: wake a producer that sleeps on a full ring.
            ring.segment().notify_space()
        });
        // The producer finds the ring full, registers, re-checks, and would sleep on `seen`.
        let seg = ring.segment();
        let seen = seg.register_waiter();
        let (bytes, len) = message(2);
        let sent = tx.try_send(&bytes[..len]);
        let notify = consumer.join().unwrap();
        if sent == Err(SendError::Full) {
            assert_eq!(notify, Notify::Wake, "the consumer saw the registration");
            assert_ne!(
                seg.event_value(),
                seen,
                "so the futex wait cannot sleep through it"
            );
        }
        seg.unregister_waiter();
    });
}
