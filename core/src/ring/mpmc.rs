//! MPMC ring: a bounded lock-free work queue with competing consumers (PUSH/PULL).
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded MPMC queue: 64-bit `enqueue` and `dequeue` positions (one per control
//! line) and a 64-bit sequence word per slot, initially its index. A producer at position `p`
//! whose slot reads `seq == p` claims `p` by compare-and-swap on `enqueue`, writes the payload,
//! and publishes with `seq = p + 1` (Release). A consumer at `p` whose slot reads `seq == p + 1`
//! claims it by CAS on `dequeue`, copies the payload and frees the slot for the next lap with
//! `seq = p + capacity` (Release). `seq < p` (producer) means full, `seq < p + 1` (consumer) means
//! empty. Every retry loop is bounded ([`SendError::Busy`]/[`RecvError::Busy`]), and a slot whose
//! sequence is ahead while the position stands still is reported as corrupt.
//!
//! # Crashed participants and recovery
//!
//! Right after winning a position, a handle writes its owner id (a non-zero `u32` the caller
//! supplies, e.g. a pid) into the slot's owner word, and clears it before handing the slot on.
//! A process killed between claim and hand-over would wedge the queue at that slot, so
//! [`Mpmc::recover`], given a liveness predicate from the platform, scans the at most
//! `2 × capacity` positions around the dequeue position and:
//!
//! - **producer died** after claiming `p`, before publishing: the slot is published as a
//!   *tombstone* (`len = u32::MAX`); consumers skip it silently. That message is **lost** (it was
//!   never complete).
//! - **consumer died** after claiming `p`, before freeing it: the slot is freed for the next lap.
//!   The message it was taking is **lost**, never re-delivered: dequeue is at-most-once.
//! - **unattributed** claims (owner word still 0: the claimer died, or is alive, in the few
//!   instructions between its CAS and its owner store) are counted but left alone, unless the
//!   caller passes `release_unattributed = true` — which it must only do for a slot that was
//!   already reported unattributed by a call at least one liveness timeout earlier (a live claimer
//!   leaves that window within nanoseconds).
//!
//! Recovery is serialised by a recovery-lock claim word; the predicate must be exact (a dead
//! owner must never come back, so owner ids must not be reused while a claim may be in flight).
//! Dropping a producer's loan without committing also publishes a tombstone.
//!
//! ```
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::mpmc::Mpmc;
//! use ringwire_core::segment::{Creator, RingConfig};
//!
//! let region = LocalRegion::<4096>::new();
//! let ring = Mpmc::create(&region, RingConfig::new(16, 4, "example::Job"), Creator::default())
//!     .unwrap();
//! let p1 = ring.producer(1).unwrap();
//! let p2 = ring.producer(2).unwrap();
//! let c = ring.consumer(3).unwrap();
//! let _ = p1.try_send(b"job a").unwrap();
//! let _ = p2.try_send(b"job b").unwrap();
//! let mut buf = [0u8; 16];
//! assert_eq!(c.try_recv(&mut buf), Ok(5));
//! assert_eq!(&buf[..5], b"job a");
//! let job = c.try_borrow().unwrap();
//! assert_eq!(&*job, b"job b");
//! ```
#![allow(unsafe_code)]

use crate::region::Region;
use crate::segment::{
    CONSUMER_LINE, ClaimError, CreateError, Creator, OpenError, PRODUCER_LINE, RingConfig,
    RingKind, Segment,
};
use crate::sync::Ordering;

use super::slot::Slot;
use super::{Notify, RecvError, SendError, check_len};

/// Offset of the enqueue position.
const ENQUEUE: usize = PRODUCER_LINE;
/// Offset of the dequeue position.
const DEQUEUE: usize = CONSUMER_LINE;
/// Offset of the recovery-lock claim word.
const RECOVERY_LOCK: usize = CONSUMER_LINE + 8;
/// Length word of a tombstone slot (nothing to deliver).
const TOMBSTONE: u32 = u32::MAX;
/// Bound on compare-and-swap retries per operation.
const MAX_ATTEMPTS: usize = 256;

/// Publishes a producer's claimed slot at `pos` with payload length `len`.
fn publish(slot: Slot<'_>, pos: u64, len: u32) {
    slot.len().store(len, Ordering::Relaxed);
    slot.owner().store(0, Ordering::Relaxed);
    // SYNC: Release pairs with the consumer's Acquire load of the sequence word.
    slot.seq().store(pos.wrapping_add(1), Ordering::Release);
}

/// Frees a consumer's claimed slot at `pos` for the next lap.
fn free(cap: u64, slot: Slot<'_>, pos: u64) {
    slot.owner().store(0, Ordering::Relaxed);
    // SYNC: Release pairs with the producer's Acquire load of the sequence word.
    slot.seq().store(pos.wrapping_add(cap), Ordering::Release);
}

/// An MPMC ring over a region.
#[derive(Debug)]
pub struct Mpmc<R: Region> {
    seg: Segment<R>,
}

/// What [`Mpmc::recover`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Recovery {
    /// Positions claimed by dead producers, published as tombstones (messages lost).
    pub tombstoned: u32,
    /// Slots held by dead consumers, freed (messages lost).
    pub freed: u32,
    /// Claims whose owner is not yet recorded (left alone unless released on request).
    pub unattributed: u32,
    /// Of those, how many were released because `release_unattributed` was set.
    pub released_unattributed: u32,
}

impl<R: Region> Mpmc<R> {
    /// Creates an MPMC segment in `region`.
    pub fn create(region: R, config: RingConfig, creator: Creator) -> Result<Self, CreateError> {
        Segment::create(region, RingKind::Mpmc, config, creator).map(|seg| Self { seg })
    }

    /// Opens the MPMC segment in `region`, expecting `config`.
    pub fn open(region: R, config: RingConfig) -> Result<Self, OpenError> {
        Segment::open(region, RingKind::Mpmc, config).map(|seg| Self { seg })
    }

    /// The underlying segment (event word, waiters, creator).
    pub fn segment(&self) -> &Segment<R> {
        &self.seg
    }

    /// A producer handle recording `owner` (non-zero) in the slots it claims.
    pub fn producer(&self, owner: u32) -> Result<Producer<'_, R>, ClaimError> {
        if owner == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        Ok(Producer { ring: self, owner })
    }

    /// A consumer handle recording `owner` (non-zero) in the slots it claims.
    pub fn consumer(&self, owner: u32) -> Result<Consumer<'_, R>, ClaimError> {
        if owner == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        Ok(Consumer { ring: self, owner })
    }

    /// Messages published or in flight (approximate under concurrency).
    pub fn len(&self) -> u64 {
        let enq = self.seg.control(ENQUEUE).load(Ordering::Acquire);
        let deq = self.seg.control(DEQUEUE).load(Ordering::Acquire);
        enq.wrapping_sub(deq).min(self.seg.capacity())
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Releases slots wedged by dead producers and consumers (see the module docs for what is
    /// lost). `recoverer` (non-zero) takes the recovery lock for the duration; a lock left by a
    /// dead recoverer is broken using `is_alive`.
    pub fn recover(
        &self,
        recoverer: u32,
        is_alive: impl Fn(u32) -> bool,
        release_unattributed: bool,
    ) -> Result<Recovery, ClaimError> {
        if recoverer == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        if let Err(e) = self.seg.claim(RECOVERY_LOCK, recoverer) {
            if !self.seg.reclaim(RECOVERY_LOCK, &is_alive) {
                return Err(e);
            }
            self.seg.claim(RECOVERY_LOCK, recoverer)?;
        }
        let cap = self.seg.capacity();
        let mut report = Recovery::default();
        // SYNC: Acquire pairs with the Release stores of the slots' sequence words (through the
        // CAS chain of the positions).
        let deq = self.seg.control(DEQUEUE).load(Ordering::Acquire);
        let enq = self.seg.control(ENQUEUE).load(Ordering::Acquire);
        let in_queue = enq.wrapping_sub(deq).min(cap);
        // Consumer claims live in [deq - cap, deq), producer claims in [deq, enq).
        for i in 0..cap + in_queue {
            let pos = deq.wrapping_sub(cap).wrapping_add(i);
            let consumer_side = i < cap;
            let slot = self.seg.slot(pos);
            // SYNC: Acquire pairs with the Release store that produced this sequence value.
            let seq = slot.seq().load(Ordering::Acquire);
            let stuck_seq = if consumer_side {
                pos.wrapping_add(1)
            } else {
                pos
            };
            if seq != stuck_seq {
                continue;
            }
            let owner = slot.owner().load(Ordering::Relaxed);
            let release = if owner == 0 {
                report.unattributed += 1;
                release_unattributed
            } else {
                !is_alive(owner)
            };
            if !release {
                continue;
            }
            if owner == 0 {
                report.released_unattributed += 1;
            }
            slot.owner().store(0, Ordering::Relaxed);
            let next = if consumer_side {
                pos.wrapping_add(cap)
            } else {
                slot.len().store(TOMBSTONE, Ordering::Relaxed);
                pos.wrapping_add(1)
            };
            // SYNC: Release pairs with the Acquire loads of the sequence word by producers
            // (freed slot) and consumers (tombstone).
            if slot
                .seq()
                .compare_exchange(seq, next, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                if consumer_side {
                    report.freed += 1;
                } else {
                    report.tombstoned += 1;
                }
            }
        }
        self.seg.release(RECOVERY_LOCK, recoverer);
        warn!("mpmc recovery done");
        Ok(report)
    }
}

/// A producer handle (any number may exist, in any process).
#[derive(Debug, Clone)]
pub struct Producer<'a, R: Region> {
    ring: &'a Mpmc<R>,
    owner: u32,
}

impl<'a, R: Region> Producer<'a, R> {
    /// Claims the next free position.
    fn claim(&self) -> Result<(Slot<'a>, u64), SendError> {
        let seg = &self.ring.seg;
        let enqueue = seg.control(ENQUEUE);
        let mut pos = enqueue.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let slot = seg.slot(pos);
            // SYNC: Acquire pairs with the consumer's Release `seq = p + cap` (slot freed).
            let seq = slot.seq().load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos) as i64;
            if diff == 0 {
                match enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.owner().store(self.owner, Ordering::Relaxed);
                        return Ok((slot, pos));
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                return Err(SendError::Full);
            } else {
                let now = enqueue.load(Ordering::Relaxed);
                if now == pos {
                    // A completed later lap while the position stands still: not our protocol.
                    return Err(SendError::Corrupt);
                }
                pos = now;
            }
        }
        Err(SendError::Busy)
    }

    /// Enqueues a copy of `msg`.
    pub fn try_send(&self, msg: &[u8]) -> Result<Notify, SendError> {
        check_len(msg.len(), self.capacity())?;
        let (slot, pos) = self.claim()?;
        // SAFETY: winning the CAS on `enqueue` at `pos` while `seq == pos` gives this producer the
        // slot until it stores `seq = pos + 1`.
        unsafe { slot.write_exclusive(msg) };
        publish(slot, pos, msg.len() as u32);
        Ok(self.ring.seg.notify())
    }

    /// Claims a slot and lends its payload bytes in place.
    pub fn loan(&self) -> Result<Loan<'a, R>, SendError> {
        let (slot, pos) = self.claim()?;
        Ok(Loan {
            ring: self.ring,
            slot,
            pos,
            committed: false,
        })
    }

    /// Payload capacity of a slot.
    pub fn capacity(&self) -> usize {
        self.ring.seg.config().slot_size as usize
    }
}

/// A claimed slot lent to a producer. [`commit`](Loan::commit) publishes it; dropping it
/// publishes a tombstone that consumers skip (the position is already taken).
pub struct Loan<'a, R: Region> {
    ring: &'a Mpmc<R>,
    slot: Slot<'a>,
    pos: u64,
    committed: bool,
}

impl<R: Region> Loan<'_, R> {
    /// Publishes the first `len` bytes. On `TooLarge` the loan is dropped (a tombstone).
    pub fn commit(mut self, len: usize) -> Result<Notify, SendError> {
        check_len(len, self.slot.capacity())?;
        self.slot.loan_committed(len);
        publish(self.slot, self.pos, len as u32);
        self.committed = true;
        Ok(self.ring.seg.notify())
    }
}

impl<R: Region> Drop for Loan<'_, R> {
    fn drop(&mut self) {
        if !self.committed {
            publish(self.slot, self.pos, TOMBSTONE);
        }
    }
}

impl<R: Region> core::ops::Deref for Loan<'_, R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the claimed slot is this loan's until published (see `try_send`).
        unsafe { self.slot.loan_view() }
    }
}

impl<R: Region> core::ops::DerefMut for Loan<'_, R> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only live slice.
        unsafe { self.slot.loan() }
    }
}

/// A consumer handle (any number may exist, in any process).
#[derive(Debug, Clone)]
pub struct Consumer<'a, R: Region> {
    ring: &'a Mpmc<R>,
    owner: u32,
}

impl<'a, R: Region> Consumer<'a, R> {
    /// Claims the next published, non-tombstone message whose length fits `max_len`.
    fn claim(&self, max_len: usize) -> Result<(Slot<'a>, u64, usize), RecvError> {
        let seg = &self.ring.seg;
        let dequeue = seg.control(DEQUEUE);
        let mut pos = dequeue.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let slot = seg.slot(pos);
            // SYNC: Acquire pairs with the producer's Release `seq = p + 1` (published).
            let seq = slot.seq().load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos.wrapping_add(1)) as i64;
            if diff == 0 {
                // The published length of `pos`: stable until `pos` is dequeued, so it can be
                // checked before claiming.
                let len = slot.len().load(Ordering::Relaxed);
                let fits = len == TOMBSTONE || len as usize <= max_len;
                if !fits && len as usize <= slot.capacity() {
                    return Err(RecvError::BufferTooSmall {
                        needed: len as usize,
                    });
                }
                match dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        if len == TOMBSTONE {
                            free(seg.capacity(), slot, pos);
                            pos = pos.wrapping_add(1);
                            continue;
                        }
                        if len as usize > slot.capacity() {
                            free(seg.capacity(), slot, pos);
                            return Err(RecvError::Corrupt);
                        }
                        slot.owner().store(self.owner, Ordering::Relaxed);
                        return Ok((slot, pos, len as usize));
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                return Err(RecvError::Empty);
            } else {
                let now = dequeue.load(Ordering::Relaxed);
                if now == pos {
                    return Err(RecvError::Corrupt);
                }
                pos = now;
            }
        }
        Err(RecvError::Busy)
    }

    /// Dequeues the next message into `buf` and returns its length.
    pub fn try_recv(&self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let (slot, pos, len) = self.claim(buf.len())?;
        // SAFETY: winning the CAS on `dequeue` at `pos` while `seq == pos + 1` gives this
        // consumer the slot until it stores `seq = pos + cap`.
        unsafe { slot.read_exclusive(&mut buf[..len]) };
        free(self.ring.seg.capacity(), slot, pos);
        Ok(len)
    }

    /// Dequeues the next message in place; its slot is freed when the borrow is dropped.
    pub fn try_borrow(&self) -> Result<Borrowed<'a, R>, RecvError> {
        let (slot, pos, len) = self.claim(usize::MAX)?;
        // SAFETY: as in `try_recv`; the slot stays claimed until `Borrowed` is dropped.
        let bytes = unsafe { slot.borrow(len) };
        Ok(Borrowed {
            ring: self.ring,
            slot,
            pos,
            bytes,
        })
    }

    /// The underlying ring (for its segment's waiter registration).
    pub fn ring(&self) -> &'a Mpmc<R> {
        self.ring
    }
}

/// A dequeued message borrowed in place; dereferences to its bytes, frees the slot when dropped.
pub struct Borrowed<'a, R: Region> {
    ring: &'a Mpmc<R>,
    slot: Slot<'a>,
    pos: u64,
    bytes: &'a [u8],
}

impl<R: Region> core::ops::Deref for Borrowed<'_, R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl<R: Region> Drop for Borrowed<'_, R> {
    fn drop(&mut self) {
        free(self.ring.seg.capacity(), self.slot, self.pos);
    }
}
