//! Broadcast ring against a model: a `VecDeque` of the messages the ring still holds plus the
//! total written, several readers with private cursors, copy and borrow reads, committed and
//! dropped loans, random operation sequences over many seeds.
#![forbid(unsafe_code)]

mod common;

use std::collections::VecDeque;

use common::Rng;
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::broadcast::{Broadcast, LagPolicy, Start};
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{Creator, RingConfig};

const SLOT: usize = 20;

struct Model {
    cap: u64,
    /// Messages at positions `head - held.len() .. head`.
    held: VecDeque<Vec<u8>>,
    head: u64,
}

impl Model {
    fn push(&mut self, msg: Vec<u8>) {
        if self.held.len() as u64 == self.cap {
            self.held.pop_front();
        }
        self.held.push_back(msg);
        self.head += 1;
    }

    /// A dropped loan destroys the slot it was lent (the oldest message, if the ring is full).
    fn drop_loan(&mut self) {
        if self.held.len() as u64 == self.cap {
            self.held.pop_front();
        }
    }

    fn oldest(&self) -> u64 {
        self.head - self.held.len() as u64
    }

    /// Where a reader lagging per `policy` resumes: `overrun` when more than a ring behind
    /// `head`, otherwise its message was destroyed by a dropped loan.
    fn resume(&self, policy: LagPolicy, overrun: bool) -> u64 {
        let back = match policy {
            LagPolicy::Newest => 1,
            LagPolicy::HalfRing => self.cap / 2,
            LagPolicy::Oldest => self.cap,
        };
        let back = if overrun {
            back
        } else {
            back.min(self.cap - 1)
        };
        self.head - back
    }

    /// What a reader at `cursor` must get, and its next cursor.
    fn read(
        &self,
        cursor: u64,
        policy: LagPolicy,
        buf_len: usize,
    ) -> (Result<Vec<u8>, RecvError>, u64) {
        if cursor == self.head {
            return (Err(RecvError::Empty), cursor);
        }
        if self.head - cursor > self.cap {
            let to = self.resume(policy, true);
            return (Err(RecvError::Lagged(to - cursor)), to);
        }
        if cursor < self.oldest() {
            let to = self.resume(policy, false).max(cursor + 1);
            return (Err(RecvError::Lagged(to - cursor)), to);
        }
        let msg = &self.held[(cursor - self.oldest()) as usize];
        if msg.len() > buf_len {
            return (Err(RecvError::BufferTooSmall { needed: msg.len() }), cursor);
        }
        (Ok(msg.clone()), cursor + 1)
    }
}

#[test]
fn broadcast_matches_a_model() {
    for seed in 0..common::seeds() {
        let mut rng = Rng::new(seed);
        let slots = 1u32 << rng.below(4);
        let region = Box::new(LocalRegion::<2048>::new());
        let ring = Broadcast::create(
            &*region,
            RingConfig::new(SLOT as u32, slots, "m"),
            Creator::default(),
        )
        .unwrap();
        let mut writer = ring.writer(1).unwrap();
        let mut model = Model {
            cap: u64::from(slots),
            held: VecDeque::new(),
            head: 0,
        };
        let policies = [LagPolicy::HalfRing, LagPolicy::Newest, LagPolicy::Oldest];
        let mut readers = vec![ring.reader(Start::Next)];
        let mut cursors = vec![0u64];
        for step in 0..common::steps() {
            let ctx = format!("seed {seed} step {step}");
            let len = rng.below(SLOT as u64 + 3) as usize;
            let msg = rng.bytes(len);
            let r = rng.below(readers.len() as u64) as usize;
            match rng.below(8) {
                0..=2 => {
                    let got = writer.try_send(&msg).map(|_| ());
                    if len > SLOT {
                        assert_eq!(
                            got,
                            Err(SendError::TooLarge {
                                len,
                                capacity: SLOT
                            }),
                            "{ctx}"
                        );
                    } else {
                        assert_eq!(got, Ok(()), "{ctx}");
                        model.push(msg);
                    }
                }
                3 => {
                    let mut loan = writer.loan();
                    let n = len.min(SLOT);
                    loan.write_at(0, &msg[..n]);
                    if rng.below(3) != 0 {
                        assert!(loan.commit(n).is_ok(), "{ctx}");
                        model.push(msg[..n].to_vec());
                    } else {
                        let _dropped = loan;
                        model.drop_loan();
                    }
                }
                4 | 5 => {
                    let mut buf = vec![0u8; rng.below(SLOT as u64 + 1) as usize];
                    let got = readers[r].try_recv(&mut buf);
                    let (expected, next) =
                        model.read(cursors[r], readers[r].lag_policy(), buf.len());
                    match expected {
                        Ok(m) => {
                            assert_eq!(got, Ok(m.len()), "{ctx}");
                            assert_eq!(&buf[..m.len()], &m[..], "{ctx}");
                        }
                        Err(e) => assert_eq!(got, Err(e), "{ctx}"),
                    }
                    cursors[r] = next;
                }
                6 => {
                    let (expected, next) =
                        model.read(cursors[r], readers[r].lag_policy(), usize::MAX);
                    match (readers[r].try_borrow(), expected) {
                        (Ok(b), Ok(m)) => {
                            let mut out = vec![0u8; b.len()];
                            b.copy_to(&mut out);
                            assert_eq!(out, m, "{ctx}");
                            assert_eq!(b.finish(), Ok(()), "{ctx}");
                        }
                        (Err(e), Err(want)) => assert_eq!(e, want, "{ctx}"),
                        (got, want) => panic!("{ctx}: got {:?}, want {want:?}", got.err()),
                    }
                    cursors[r] = next;
                }
                _ => {
                    if readers.len() < 4 {
                        let back = rng.below(u64::from(slots) + 2);
                        let policy = policies[rng.below(3) as usize];
                        let reader = ring.reader_with(Start::Latest(back), policy);
                        let start = model.head - back.min(model.cap).min(model.head);
                        assert_eq!(reader.cursor(), start, "{ctx}");
                        readers.push(reader);
                        cursors.push(start);
                    }
                }
            }
            assert_eq!(readers[r].cursor(), cursors[r], "{ctx}");
        }
    }
}
