//! A region's contents are untrusted: random bytes, or a valid segment with random bytes written
//! over it, must make open/send/recv return errors — never panic, hang or misbehave.
// Unsafe only for the `unsafe fn` MPMC recovery, its contract argued where it is called.
#![deny(unsafe_code)]

mod common;

use common::Rng;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::RecvError;
use ringwire_core::ring::broadcast::{Broadcast, Start};
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::{Creator, RingConfig};

type Region = LocalRegion<8192>;
const CFG: RingConfig = RingConfig::new(40, 4, "untrusted::Msg");
/// Calls per drain: every call must return, and a drain must end well before this.
const MAX_CALLS: usize = 64;

/// Receives until the ring says empty or corrupt; returns how many calls that took.
fn drain(mut recv: impl FnMut(&mut [u8]) -> Result<usize, RecvError>) -> usize {
    let mut buf = [0u8; 64];
    for calls in 1..=MAX_CALLS {
        match recv(&mut buf) {
            Ok(n) => assert!(n <= 40, "a delivered length is within the slot"),
            Err(RecvError::Empty | RecvError::Corrupt | RecvError::Busy) => return calls,
            Err(RecvError::Lagged(_) | RecvError::BufferTooSmall { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    MAX_CALLS
}

/// Opens `region` as each ring kind and exercises every operation.
fn exercise(region: &Region) {
    if let Ok(ring) = Broadcast::open(region, CFG) {
        for start in [Start::Next, Start::Latest(3), Start::Latest(u64::MAX)] {
            let mut reader = ring.reader(start);
            drain(|buf| reader.try_recv(buf));
            let mut reader = ring.reader(start);
            drain(|buf| {
                let b = reader.try_borrow()?;
                let n = b.copy_to(buf);
                b.finish().map(|()| n)
            });
        }
        if let Ok(mut writer) = ring.writer(99) {
            let _ = writer.try_send(b"probe");
            let mut reader = ring.reader(Start::Latest(1));
            drain(|buf| reader.try_recv(buf));
        }
    }
    if let Ok(ring) = Spsc::open(region, CFG) {
        if let Ok(mut rx) = ring.consumer(98) {
            drain(|buf| rx.try_recv(buf));
            drain(|_| rx.try_borrow().map(|b| b.len()));
        }
        if let Ok(mut tx) = ring.producer(99) {
            for _ in 0..5 {
                let _ = tx.try_send(b"probe");
            }
        }
    }
    if let Ok(ring) = Mpmc::open(region, CFG) {
        let rx = ring.consumer(98).unwrap();
        drain(|buf| rx.try_recv(buf));
        drain(|_| rx.try_borrow().map(|b| b.len()));
        let tx = ring.producer(99).unwrap();
        for _ in 0..5 {
            let _ = tx.try_send(b"probe");
        }
        // SAFETY: no loan or borrow of this ring is alive here (the handles' operations above
        // all finished), so whatever the corrupt contents claim, no live party uses a slot the
        // recovery may free: any verdict, and releasing unattributed claims, is exact enough.
        #[allow(unsafe_code)]
        let _ = unsafe { ring.recover(97, |owner| owner % 2 == 0, true) };
        drain(|buf| rx.try_recv(buf));
    }
}

#[test]
fn random_regions_never_open() {
    for seed in 0..common::seeds() * 10 {
        let mut rng = Rng::new(seed);
        let mut region = Region::new();
        region.write_at(0, &rng.bytes(1024));
        assert!(Broadcast::open(&region, CFG).is_err());
        assert!(Spsc::open(&region, CFG).is_err());
        assert!(Mpmc::open(&region, CFG).is_err());
    }
}

#[test]
fn corrupted_segments_give_errors_not_panics() {
    for seed in 0..common::seeds() * 3 {
        let mut rng = Rng::new(seed);
        let mut region = Region::new();
        match seed % 3 {
            0 => {
                let ring = Broadcast::create(&region, CFG, Creator::default()).unwrap();
                let mut w = ring.writer(1).unwrap();
                for i in 0..rng.below(9) {
                    let _ = w.try_send(&[i as u8; 7]);
                }
            }
            1 => {
                let ring = Spsc::create(&region, CFG, Creator::default()).unwrap();
                let mut tx = ring.producer(1).unwrap();
                for i in 0..rng.below(5) {
                    let _ = tx.try_send(&[i as u8; 7]);
                }
            }
            _ => {
                let ring = Mpmc::create(&region, CFG, Creator::default()).unwrap();
                let tx = ring.producer(1).unwrap();
                for i in 0..rng.below(5) {
                    let _ = tx.try_send(&[i as u8; 7]);
                }
            }
        }
        // Overwrite a few runs of bytes, mostly past the header so the segment still opens.
        for _ in 0..1 + rng.below(4) {
            let offset = if rng.below(4) == 0 {
                rng.below(128)
            } else {
                128 + rng.below(896)
            };
            let len = 1 + rng.below(16) as usize;
            let bytes = if rng.below(2) == 0 {
                rng.bytes(len)
            } else {
                vec![0xff; len]
            };
            region.write_at(offset as usize, &bytes);
        }
        exercise(&region);
    }
}

#[test]
fn hostile_positions_are_bounded() {
    // Counters at the extremes of u64: lag counts and differences wrap without panicking.
    for value in [u64::MAX, u64::MAX - 1, 1 << 63, 5] {
        for line in [128usize, 192] {
            for kind in 0..3 {
                let mut region = Region::new();
                match kind {
                    0 => drop(Broadcast::create(&region, CFG, Creator::default()).unwrap()),
                    1 => drop(Spsc::create(&region, CFG, Creator::default()).unwrap()),
                    _ => drop(Mpmc::create(&region, CFG, Creator::default()).unwrap()),
                }
                region.write_at(line, &value.to_ne_bytes());
                exercise(&region);
            }
        }
    }
}

/// Issue #11 item 6: a position far from the other side's (2^62, say) is corruption: sends and
/// receives report `Corrupt` instead of `Full`/`Empty`, which would make a blocking caller
/// wait forever at 0% CPU.
#[test]
fn impossible_positions_are_corrupt_not_full_or_empty() {
    use ringwire_core::ring::SendError;
    for value in [1u64 << 62, u64::MAX - 3] {
        // MPMC enqueue position far ahead: a producer must not see "full".
        let mut region = Region::new();
        Mpmc::create(&region, CFG, Creator::default()).unwrap();
        region.write_at(128, &value.to_ne_bytes());
        let ring = Mpmc::open(&region, CFG).unwrap();
        let tx = ring.producer(7).unwrap();
        assert_eq!(
            tx.try_send(b"x").err(),
            Some(SendError::Corrupt),
            "enqueue {value:#x}"
        );
        let rx = ring.consumer(8).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            rx.try_recv(&mut buf),
            Err(RecvError::Corrupt),
            "enqueue {value:#x}"
        );

        // MPMC dequeue position far ahead: a consumer must not see "empty" and a producer
        // that filled the ring must not see "full".
        let mut region = Region::new();
        Mpmc::create(&region, CFG, Creator::default()).unwrap();
        region.write_at(192, &value.to_ne_bytes());
        let ring = Mpmc::open(&region, CFG).unwrap();
        let rx = ring.consumer(8).unwrap();
        assert_eq!(
            rx.try_recv(&mut buf),
            Err(RecvError::Corrupt),
            "dequeue {value:#x}"
        );
        let tx = ring.producer(7).unwrap();
        let last = (0..8).find_map(|_| tx.try_send(b"x").err());
        assert_eq!(last, Some(SendError::Corrupt), "dequeue {value:#x}");

        // SPSC: the shared tail far ahead of the consumer, the shared head far ahead of the
        // producer. (A head just below the producer's tail, `u64::MAX - 3` here, reads as a
        // full ring: SPSC's producer cannot tell it from a consumer that has not caught up.)
        for line in [128usize, 192] {
            if value != 1 << 62 && line == 192 {
                continue;
            }
            let mut region = Region::new();
            Spsc::create(&region, CFG, Creator::default()).unwrap();
            region.write_at(line, &value.to_ne_bytes());
            let ring = Spsc::open(&region, CFG).unwrap();
            if line == 128 {
                let mut rx = ring.consumer(8).unwrap();
                assert_eq!(
                    rx.try_recv(&mut buf),
                    Err(RecvError::Corrupt),
                    "tail {value:#x}"
                );
            } else {
                let mut tx = ring.producer(7).unwrap();
                let last = (0..8).find_map(|_| tx.try_send(b"x").err());
                assert_eq!(last, Some(SendError::Corrupt), "head {value:#x}");
            }
        }
    }
}
