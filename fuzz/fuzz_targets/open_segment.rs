//! Fuzzes opening and draining a segment whose bytes are untrusted.
//!
//! The first input byte picks a mode:
//! - even: the rest of the input *is* the region (zero-padded); it is opened as each ring kind
//!   and, if that succeeds, drained.
//! - odd: a valid segment is created (kind, slot count and number of messages from the next three
//!   bytes) and then patched with `(offset: u16 LE, len: u8, bytes)` records from the rest, as a
//!   faulty or hostile process would; then it is opened as each ring kind, drained, written to
//!   and recovered.
//!
//! Every call must return (each is bounded internally) and none may panic; delivered lengths must
//! fit the slot.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::RecvError;
use ringwire_core::ring::broadcast::{Broadcast, Start};
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::{Creator, RingConfig};

// Large enough for the biggest ring this target creates (8 slots of 40 bytes plus the MPMC
// participant table, 4 KiB) with room to spare.
const LEN: usize = 8192;
const SLOT: u32 = 40;

fn config(slots: u32) -> RingConfig {
    RingConfig::new(SLOT, slots, "fuzz::Msg")
}

/// Receives until empty or corrupt, at most 64 calls.
fn drain(mut recv: impl FnMut(&mut [u8]) -> Result<usize, RecvError>) {
    let mut buf = [0u8; SLOT as usize];
    for _ in 0..64 {
        match recv(&mut buf) {
            Ok(n) => assert!(n <= SLOT as usize),
            Err(RecvError::Empty | RecvError::Corrupt | RecvError::Busy) => return,
            Err(_) => {}
        }
    }
}

fn exercise(region: &LocalRegion<LEN>, slots: u32) {
    let cfg = config(slots);
    if let Ok(ring) = Broadcast::open(region, cfg) {
        for start in [Start::Next, Start::Latest(2), Start::Latest(u64::MAX)] {
            let mut reader = ring.reader(start);
            drain(|buf| reader.try_recv(buf));
            let mut reader = ring.reader(start);
            drain(|buf| {
                let b = reader.try_borrow()?;
                let n = b.copy_to(buf);
                b.finish().map(|()| n)
            });
        }
        if let Ok(mut w) = ring.writer(7) {
            let _ = w.try_send(b"probe");
            let mut loan = w.loan();
            loan.write_at(0, &[1]);
            let _ = loan.commit(1);
        }
    }
    if let Ok(ring) = Spsc::open(region, cfg) {
        if let Ok(mut rx) = ring.consumer(8) {
            drain(|buf| rx.try_recv(buf));
            drain(|_| rx.try_borrow().map(|b| b.len()));
        }
        if let Ok(mut tx) = ring.producer(7) {
            for _ in 0..3 {
                let _ = tx.try_send(b"probe");
            }
        }
    }
    if let Ok(ring) = Mpmc::open(region, cfg) {
        if let (Ok(rx), Ok(tx)) = (ring.consumer(8), ring.producer(7)) {
            drain(|buf| rx.try_recv(buf));
            drain(|_| rx.try_borrow().map(|b| b.len()));
            for _ in 0..3 {
                let _ = tx.try_send(b"probe");
            }
            // SAFETY: no loan or borrow of this ring is alive (every operation above finished),
            // so whatever the fuzzed contents claim, no live party uses a slot the recovery may
            // free: any verdict, and releasing unattributed claims, is exact enough.
            let _ = unsafe { ring.recover(9, |owner| owner % 2 == 1, true) };
            drain(|buf| rx.try_recv(buf));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut region = LocalRegion::<LEN>::new();
    if mode % 2 == 0 {
        region.write_at(0, rest);
        for slots in [2, 4, 8] {
            exercise(&region, slots);
        }
        return;
    }
    let [kind, slots, count, patches @ ..] = rest else { return };
    let slots = 2u32 << (slots % 3);
    let cfg = config(slots);
    match kind % 3 {
        0 => {
            let ring = Broadcast::create(&region, cfg, Creator::default()).unwrap();
            let mut w = ring.writer(1).unwrap();
            for i in 0..count % 12 {
                let _ = w.try_send(&[i; 9][..1 + usize::from(i) % 9]);
            }
        }
        1 => {
            let ring = Spsc::create(&region, cfg, Creator::default()).unwrap();
            let mut tx = ring.producer(1).unwrap();
            for i in 0..count % 12 {
                let _ = tx.try_send(&[i; 9][..1 + usize::from(i) % 9]);
            }
        }
        _ => {
            let ring = Mpmc::create(&region, cfg, Creator::default()).unwrap();
            let tx = ring.producer(1).unwrap();
            for i in 0..count % 12 {
                let _ = tx.try_send(&[i; 9][..1 + usize::from(i) % 9]);
            }
        }
    }
    let mut rest = patches;
    while let [lo, hi, len, tail @ ..] = rest {
        let offset = usize::from(u16::from_le_bytes([*lo, *hi])) % LEN;
        let len = usize::from(*len).min(tail.len());
        region.write_at(offset, &tail[..len]);
        rest = &tail[len..];
    }
    exercise(&region, slots);
});
