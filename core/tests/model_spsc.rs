//! SPSC ring against a `VecDeque` model, random operation sequences over many seeds.
#![forbid(unsafe_code)]

mod common;

use std::collections::VecDeque;

use common::Rng;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{Creator, RingConfig};

const SLOT: usize = 20;

#[test]
fn spsc_matches_a_vecdeque_model() {
    for seed in 0..common::seeds() {
        let mut rng = Rng::new(seed);
        let slots = 1u32 << rng.below(4);
        let region = Box::new(LocalRegion::<2048>::new());
        let ring = Spsc::create(
            &*region,
            RingConfig::new(SLOT as u32, slots, "m"),
            Creator::default(),
        )
        .unwrap();
        let mut tx = ring.producer(1).unwrap();
        let mut rx = ring.consumer(2).unwrap();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        for step in 0..common::steps() {
            let ctx = format!("seed {seed} step {step}");
            let len = rng.below(SLOT as u64 + 3) as usize;
            let msg = rng.bytes(len);
            let full = model.len() == slots as usize;
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
                        model.push_back(msg.clone());
                        Ok(())
                    };
                    assert_eq!(tx.try_send(&msg).map(|_| ()), expected, "{ctx}");
                }
                2 => match tx.loan() {
                    Ok(mut loan) => {
                        assert!(!full, "{ctx}");
                        let commit = rng.below(4) != 0;
                        let n = len.min(SLOT);
                        loan[..n].copy_from_slice(&msg[..n]);
                        if commit {
                            assert!(loan.commit(n).is_ok(), "{ctx}");
                            model.push_back(msg[..n].to_vec());
                        }
                    }
                    Err(e) => assert!(full && e == SendError::Full, "{ctx}: {e}"),
                },
                3 | 4 => {
                    let mut buf = vec![0u8; rng.below(SLOT as u64 + 1) as usize];
                    let got = rx.try_recv(&mut buf);
                    match model.front() {
                        None => assert_eq!(got, Err(RecvError::Empty), "{ctx}"),
                        Some(m) if m.len() > buf.len() => {
                            assert_eq!(got, Err(RecvError::BufferTooSmall { needed: m.len() }))
                        }
                        Some(_) => {
                            let m = model.pop_front().unwrap();
                            assert_eq!(got, Ok(m.len()), "{ctx}");
                            assert_eq!(&buf[..m.len()], &m[..], "{ctx}");
                        }
                    }
                }
                _ => match rx.try_borrow() {
                    Ok(b) => assert_eq!(Some(&b[..]), model.pop_front().as_deref(), "{ctx}"),
                    Err(e) => assert!(model.is_empty() && e == RecvError::Empty, "{ctx}"),
                },
            }
            assert_eq!(rx.pending(), model.len() as u64, "{ctx}");
        }
    }
}
