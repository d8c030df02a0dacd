//! MPMC ring against a `VecDeque` model: several producer and consumer handles, loans that are
//! committed or dropped (tombstones), borrows, random operation sequences over many seeds.
#![forbid(unsafe_code)]

mod common;

use std::collections::VecDeque;

use common::Rng;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{Creator, RingConfig};

const SLOT: usize = 20;

/// Drops leading tombstones, as a consumer does before it looks at a message.
fn skip_tombstones(model: &mut VecDeque<Option<Vec<u8>>>) {
    while matches!(model.front(), Some(None)) {
        model.pop_front();
    }
}

#[test]
fn mpmc_matches_a_vecdeque_model() {
    for seed in 0..common::seeds() {
        let mut rng = Rng::new(seed);
        let slots = 2u32 << rng.below(3);
        let region = Box::new(LocalRegion::<8192>::new());
        let ring = Mpmc::create(
            &*region,
            RingConfig::new(SLOT as u32, slots, "m"),
            Creator::default(),
        )
        .unwrap();
        let producers = [ring.producer(1).unwrap(), ring.producer(2).unwrap()];
        let consumers = [ring.consumer(3).unwrap(), ring.consumer(4).unwrap()];
        // `None` is a tombstone: it holds a slot until a consumer skips it.
        let mut model: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        for step in 0..common::steps() {
            let ctx = format!("seed {seed} step {step}");
            let len = rng.below(SLOT as u64 + 3) as usize;
            let msg = rng.bytes(len);
            let full = model.len() == slots as usize;
            let producer = &producers[rng.below(2) as usize];
            let consumer = &consumers[rng.below(2) as usize];
            match rng.below(6) {
                0 | 1 => {
                    let expected = if len > SLOT {
                        Err(SendError::TooLarge {
                            len,
                            capacity: SLOT,
                        })
                    } else if full {
                        Err(SendError::Full)
                    } else {
                        model.push_back(Some(msg.clone()));
                        Ok(())
                    };
                    assert_eq!(producer.try_send(&msg).map(|_| ()), expected, "{ctx}");
                }
                2 => match producer.loan() {
                    Ok(mut loan) => {
                        assert!(!full, "{ctx}");
                        let n = len.min(SLOT);
                        loan[..n].copy_from_slice(&msg[..n]);
                        if rng.below(3) != 0 {
                            assert!(loan.commit(n).is_ok(), "{ctx}");
                            model.push_back(Some(msg[..n].to_vec()));
                        } else {
                            drop(loan);
                            model.push_back(None);
                        }
                    }
                    Err(e) => assert!(full && e == SendError::Full, "{ctx}: {e}"),
                },
                3 | 4 => {
                    let mut buf = vec![0u8; rng.below(SLOT as u64 + 1) as usize];
                    let got = consumer.try_recv(&mut buf);
                    skip_tombstones(&mut model);
                    match model.front() {
                        None => assert_eq!(got, Err(RecvError::Empty), "{ctx}"),
                        Some(Some(m)) if m.len() > buf.len() => assert_eq!(
                            got,
                            Err(RecvError::BufferTooSmall { needed: m.len() }),
                            "{ctx}"
                        ),
                        Some(_) => {
                            let m = model.pop_front().unwrap().unwrap();
                            assert_eq!(got, Ok(m.len()), "{ctx}");
                            assert_eq!(&buf[..m.len()], &m[..], "{ctx}");
                        }
                    }
                }
                _ => {
                    let got = consumer.try_borrow();
                    skip_tombstones(&mut model);
                    match got {
                        Ok(b) => {
                            assert_eq!(
                                Some(&b[..]),
                                model.pop_front().flatten().as_deref(),
                                "{ctx}"
                            )
                        }
                        Err(e) => assert!(model.is_empty() && e == RecvError::Empty, "{ctx}"),
                    }
                }
            }
            assert_eq!(ring.len(), model.len() as u64, "{ctx}");
        }
    }
}
