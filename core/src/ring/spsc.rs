//! SPSC ring: one producer, one consumer (request and reply channels).
//!
//! # Algorithm
//!
//! The classic Lamport queue with cached indices (as in heapless' `spsc::Queue` and Rigtorp's
//! `SPSCQueue`): a 64-bit `tail` (messages produced, producer control line) and `head` (messages
//! consumed, consumer control line), each written by one side only. The producer fills slot
//! `tail mod capacity` with a plain copy and stores `tail + 1` with Release; the consumer reads
//! slot `head mod capacity` after an Acquire load of `tail` and stores `head + 1` with Release,
//! handing the slot back. Each side caches the other's index and reloads it only when the ring
//! looks full or empty, so an uncontended message costs one shared load every few messages.
//!
//! After storing `tail`, the producer also stamps the slot's sequence word with `p + 1` (position
//! `p`; Release). A consumer at `head = p` first checks that stamp: if it reads `p + 1` the
//! message is published (stamps are unique per position, and the stamp is stored after `tail`, so
//! `tail > p` too) and it never loads `tail`. A waiting consumer thus spins on the slot's own cache
//! line, which the producer writes anyway, instead of a second line — one cache-line transfer per
//! message instead of two (the FastForward idea: Giacomoni et al., PPoPP 2008). Any other stamp
//! (an older lap, or a producer that died between the two stores) falls back to `tail`.
//!
//! Each role is a claim word in the segment (producer: the header's writer claim, consumer: a
//! word on the consumer line), so a second producer or consumer is refused, and a dead holder's
//! claim can be taken over after a liveness check ([`Spsc::reclaim_producer`],
//! [`Spsc::reclaim_consumer`]: `unsafe`, because a wrong verdict would make two parties own one
//! slot; `ringwire-platform` has the safe wrappers). A new holder resumes from the shared index: a message a dead
//! producer had not published is lost; a message a dead consumer had not released (a borrow
//! in progress) is delivered again.
//!
//! Slots are exclusive to one side at a time, so loans and borrows are plain `&mut [u8]` / `&[u8]`.
//!
//! ```
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::spsc::Spsc;
//! use ringwire_core::ring::{RecvError, SendError};
//! use ringwire_core::segment::{Creator, RingConfig};
//!
//! let region = LocalRegion::<2048>::new();
//! let ring = Spsc::create(&region, RingConfig::new(64, 2, "example::Req"), Creator::default())
//!     .unwrap();
//! let mut tx = ring.producer(1).unwrap();
//! let mut rx = ring.consumer(2).unwrap();
//! let mut loan = tx.loan().unwrap();
//! loan[..5].copy_from_slice(b"hello");
//! let _ = loan.commit(5).unwrap();
//! let _ = tx.try_send(b"world").unwrap();
//! assert_eq!(tx.try_send(b"!"), Err(SendError::Full));
//! {
//!     let msg = rx.try_borrow().unwrap();
//!     assert_eq!(&*msg, b"hello");
//! } // the slot is handed back here
//! let mut buf = [0u8; 64];
//! assert_eq!(rx.try_recv(&mut buf), Ok(5));
//! assert_eq!(&buf[..5], b"world");
//! assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
//! ```
#![allow(unsafe_code)]

use crate::region::Region;
use crate::segment::{
    CONSUMER_LINE, ClaimError, CreateError, Creator, OFF_WRITER_CLAIM, OpenError, PRODUCER_LINE,
    RingConfig, RingKind, Segment,
};
use crate::sync::Ordering;

use super::slot::Slot;
use super::{Notify, RecvError, SendError, check_len};

/// Offset of `tail` (messages produced).
const TAIL: usize = PRODUCER_LINE;
/// Offset of `head` (messages consumed).
const HEAD: usize = CONSUMER_LINE;
/// Offset of the consumer claim word.
const CONSUMER_CLAIM: usize = CONSUMER_LINE + 8;

/// An SPSC ring over a region.
#[derive(Debug)]
pub struct Spsc<R: Region> {
    seg: Segment<R>,
}

impl<R: Region> Spsc<R> {
    /// Creates an SPSC segment in `region`.
    pub fn create(region: R, config: RingConfig, creator: Creator) -> Result<Self, CreateError> {
        Segment::create(region, RingKind::Spsc, config, creator).map(|seg| Self { seg })
    }

    /// Opens the SPSC segment in `region`, expecting `config`.
    pub fn open(region: R, config: RingConfig) -> Result<Self, OpenError> {
        Segment::open(region, RingKind::Spsc, config).map(|seg| Self { seg })
    }

    /// The underlying segment (event word, waiters, creator).
    pub fn segment(&self) -> &Segment<R> {
        &self.seg
    }

    /// Claims the producer role for `owner` (non-zero).
    pub fn producer(&self, owner: u32) -> Result<Producer<'_, R>, ClaimError> {
        self.seg.claim(OFF_WRITER_CLAIM, owner)?;
        // SYNC: Acquire pairs with the previous producer's Release store of `tail`.
        let tail = self.seg.control(TAIL).load(Ordering::Acquire);
        // SYNC: Acquire pairs with the consumer's Release store of `head`.
        let head = self.seg.control(HEAD).load(Ordering::Acquire);
        Ok(Producer {
            ring: self,
            owner,
            tail,
            head_cache: head,
        })
    }

    /// The owner holding the consumer claim (0 when free). An Acquire load: whoever sees a
    /// claim freed by a reclaim also sees what that reclaimer did before it.
    pub fn consumer_owner(&self) -> u32 {
        // SYNC: Acquire pairs with the AcqRel compare-exchange of a claim, release or reclaim.
        self.seg.claim_word(CONSUMER_CLAIM).load(Ordering::Acquire)
    }

    /// Claims the consumer role for `owner` (non-zero).
    pub fn consumer(&self, owner: u32) -> Result<Consumer<'_, R>, ClaimError> {
        self.seg.claim(CONSUMER_CLAIM, owner)?;
        // SYNC: Acquire pairs with the previous consumer's Release store of `head`.
        let head = self.seg.control(HEAD).load(Ordering::Acquire);
        Ok(Consumer {
            ring: self,
            owner,
            head,
            tail_cache: head,
        })
    }

    /// Frees the producer claim if its holder is dead by `is_alive`; returns whether it did.
    /// `ringwire-platform` wraps it in a safe function with the OS's liveness check.
    ///
    /// It used to be safe, so a wrong predicate gave two producers loans aliasing one slot from
    /// safe code; now calling it takes an `unsafe` block:
    ///
    /// ```compile_fail,E0133
    /// use ringwire_core::region::LocalRegion;
    /// use ringwire_core::ring::spsc::Spsc;
    /// use ringwire_core::segment::{Creator, RingConfig};
    ///
    /// let region = LocalRegion::<1024>::new();
    /// let ring = Spsc::create(&region, RingConfig::new(16, 2, "doc::Msg"), Creator::default())
    ///     .unwrap();
    /// let mut first = ring.producer(1).unwrap();
    /// ring.reclaim_producer(|_| false); // "everyone is dead": wrong while `first` lives
    /// let mut second = ring.producer(2).unwrap();
    /// let (a, b) = (first.loan().unwrap(), second.loan().unwrap()); // one slot, two `&mut`
    /// ```
    ///
    /// # Safety
    ///
    /// `is_alive(owner)` must return `false` only for an owner none of whose handles (in any
    /// thread or process) can ever touch this ring again: a crashed process, not a stopped or
    /// slow one, and never an owner id still or again in use. A wrong `false` lets a second
    /// producer loan, as `&mut [u8]`, the slot the first one is still writing.
    pub unsafe fn reclaim_producer(&self, is_alive: impl Fn(u32) -> bool) -> bool {
        // SAFETY: the caller's contract is `reclaim`'s.
        unsafe { self.seg.reclaim(OFF_WRITER_CLAIM, is_alive) }
    }

    /// Frees the consumer claim if its holder is dead by `is_alive`; returns whether it did.
    ///
    /// # Safety
    ///
    /// As for [`reclaim_producer`](Self::reclaim_producer): a wrong `false` lets a second
    /// consumer hand back (and the producer overwrite) a slot the first one still borrows.
    pub unsafe fn reclaim_consumer(&self, is_alive: impl Fn(u32) -> bool) -> bool {
        // SAFETY: the caller's contract is `reclaim`'s.
        unsafe { self.seg.reclaim(CONSUMER_CLAIM, is_alive) }
    }
}

/// The producer handle: holds the producer claim until dropped.
#[derive(Debug)]
pub struct Producer<'a, R: Region> {
    ring: &'a Spsc<R>,
    owner: u32,
    tail: u64,
    head_cache: u64,
}

impl<'a, R: Region> Producer<'a, R> {
    /// The next free slot, or why there is none.
    fn free_slot(&mut self) -> Result<Slot<'a>, SendError> {
        let cap = self.ring.seg.capacity();
        if self.tail.wrapping_sub(self.head_cache) >= cap {
            // SYNC: Acquire pairs with the consumer's Release store of `head` (the slot is free).
            self.head_cache = self.ring.seg.control(HEAD).load(Ordering::Acquire);
            let used = self.tail.wrapping_sub(self.head_cache);
            if used > cap {
                return Err(SendError::Corrupt);
            }
            if used == cap {
                return Err(SendError::Full);
            }
        }
        Ok(self.ring.seg.slot(self.tail))
    }

    fn publish(&mut self, slot: Slot<'a>, len: usize) -> Notify {
        slot.len().store(len as u32, Ordering::Relaxed);
        self.tail = self.tail.wrapping_add(1);
        // SYNC: Release pairs with the consumer's Acquire load of `tail`.
        self.ring
            .seg
            .control(TAIL)
            .store(self.tail, Ordering::Release);
        // SYNC: Release pairs with the consumer's Acquire load of the stamp in `full_slot`; it
        // comes after `tail`, so a consumer that sees it also sees `tail` past this position.
        slot.seq().store(self.tail, Ordering::Release);
        self.ring.seg.notify()
    }

    /// Sends a copy of `msg`.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<Notify, SendError> {
        check_len(msg.len(), self.capacity())?;
        let slot = self.free_slot()?;
        // SAFETY: the slot is between `head` and `tail + capacity`: the consumer has released it
        // and will not read it before `tail` is published.
        unsafe { slot.write_exclusive(msg) };
        Ok(self.publish(slot, msg.len()))
    }

    /// Lends the next free slot's payload bytes in place.
    pub fn loan(&mut self) -> Result<Loan<'_, 'a, R>, SendError> {
        let slot = self.free_slot()?;
        Ok(Loan {
            producer: self,
            slot,
        })
    }

    /// Payload capacity of a slot.
    pub fn capacity(&self) -> usize {
        self.ring.seg.config().slot_size as usize
    }
}

impl<R: Region> Drop for Producer<'_, R> {
    fn drop(&mut self) {
        self.ring.seg.release(OFF_WRITER_CLAIM, self.owner);
    }
}

/// A free slot lent to the producer; [`commit`](Loan::commit) publishes it, dropping it does not.
pub struct Loan<'p, 'a, R: Region> {
    producer: &'p mut Producer<'a, R>,
    slot: Slot<'a>,
}

impl<R: Region> Loan<'_, '_, R> {
    /// Publishes the first `len` bytes.
    pub fn commit(self, len: usize) -> Result<Notify, SendError> {
        check_len(len, self.slot.capacity())?;
        self.slot.loan_committed(len);
        Ok(self.producer.publish(self.slot, len))
    }
}

impl<R: Region> core::ops::Deref for Loan<'_, '_, R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the slot is free and only this producer (one claim) writes it until `commit`.
        unsafe { self.slot.loan_view() }
    }
}

impl<R: Region> core::ops::DerefMut for Loan<'_, '_, R> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only live slice.
        unsafe { self.slot.loan() }
    }
}

/// The consumer handle: holds the consumer claim until dropped.
#[derive(Debug)]
pub struct Consumer<'a, R: Region> {
    ring: &'a Spsc<R>,
    owner: u32,
    head: u64,
    tail_cache: u64,
}

impl<'a, R: Region> Consumer<'a, R> {
    /// The next published slot and its length, or why there is none.
    fn full_slot(&mut self) -> Result<(Slot<'a>, usize), RecvError> {
        let slot = self.ring.seg.slot(self.head);
        // SYNC: Acquire pairs with the producer's Release store of the stamp in `publish`.
        if slot.seq().load(Ordering::Acquire) == self.head.wrapping_add(1) {
            let len = slot.len().load(Ordering::Relaxed) as usize;
            if len > slot.capacity() {
                return Err(RecvError::Corrupt);
            }
            return Ok((slot, len));
        }
        // `tail_cache` may trail `head` after stamped messages: reload it then too.
        if (self.tail_cache.wrapping_sub(self.head) as i64) <= 0 {
            // SYNC: Acquire pairs with the producer's Release store of `tail`.
            self.tail_cache = self.ring.seg.control(TAIL).load(Ordering::Acquire);
        }
        let available = self.tail_cache.wrapping_sub(self.head);
        if available == 0 {
            return Err(RecvError::Empty);
        }
        if available > self.ring.seg.capacity() {
            self.tail_cache = self.head;
            return Err(RecvError::Corrupt);
        }
        let len = slot.len().load(Ordering::Relaxed) as usize;
        if len > slot.capacity() {
            return Err(RecvError::Corrupt);
        }
        Ok((slot, len))
    }

    fn release(&mut self) {
        self.head = self.head.wrapping_add(1);
        // SYNC: Release pairs with the producer's Acquire load of `head`.
        self.ring
            .seg
            .control(HEAD)
            .store(self.head, Ordering::Release);
    }

    /// Copies the next message into `buf` and returns its length.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let (slot, len) = self.full_slot()?;
        if buf.len() < len {
            return Err(RecvError::BufferTooSmall { needed: len });
        }
        // SAFETY: the slot is published (`head < tail`, Acquire above) and the producer will not
        // reuse it before `head` moves past it.
        unsafe { slot.read_exclusive(&mut buf[..len]) };
        self.release();
        Ok(len)
    }

    /// Borrows the next message in place; the slot is handed back when the borrow is dropped.
    pub fn try_borrow(&mut self) -> Result<Borrowed<'_, 'a, R>, RecvError> {
        let (slot, len) = self.full_slot()?;
        // SAFETY: as in `try_recv`; the slot stays held until `Borrowed` is dropped.
        let bytes = unsafe { slot.borrow(len) };
        Ok(Borrowed {
            consumer: self,
            bytes,
        })
    }

    /// Messages waiting (as last seen).
    pub fn pending(&self) -> u64 {
        // SYNC: Acquire pairs with the producer's Release store of `tail`.
        let tail = self.ring.seg.control(TAIL).load(Ordering::Acquire);
        tail.wrapping_sub(self.head).min(self.ring.seg.capacity())
    }

    /// The underlying ring (for its segment's waiter registration).
    pub fn ring(&self) -> &'a Spsc<R> {
        self.ring
    }
}

impl<R: Region> Drop for Consumer<'_, R> {
    fn drop(&mut self) {
        self.ring.seg.release(CONSUMER_CLAIM, self.owner);
    }
}

/// A message borrowed in place; dereferences to its bytes and hands the slot back when dropped.
pub struct Borrowed<'c, 'a, R: Region> {
    consumer: &'c mut Consumer<'a, R>,
    bytes: &'a [u8],
}

impl<R: Region> core::ops::Deref for Borrowed<'_, '_, R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl<R: Region> Drop for Borrowed<'_, '_, R> {
    fn drop(&mut self) {
        self.consumer.release();
    }
}
