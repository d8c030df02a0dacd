//! Broadcast ring: one writer, many readers, each reader with a private cursor (PUB/SUB).
//!
//! The writer never waits for readers: it overwrites the oldest slot. A reader that falls more
//! than a ring's worth behind learns exactly how many messages it lost ([`RecvError::Lagged`],
//! the idea of embassy-sync's `PubSubChannel` and tokio's `broadcast`) and resumes at the oldest
//! message still held. Readers keep no shared state, so any number can attach, and a dead reader
//! costs nothing.
//!
//! # Algorithm
//!
//! The shared state is a 64-bit `head` (messages ever written; producer control line) and, per
//! slot, a seqlock stamp: `2p + 1` while position `p` is being written, `2p + 2` once it is
//! complete (0 = never written). The writer stores the odd stamp, a Release fence, the payload
//! and length with relaxed atomic words, the even stamp with Release, then `head = p + 1` with
//! Release. A reader at cursor `c` loads the slot's stamp (Acquire); if it is `2c + 2` the
//! message is there, without a look at `head` (so a waiting reader spins on the very cache line
//! the writer fills, and `head` stays in the writer's cache); otherwise `head` tells an empty
//! ring from an overrun (a reader may so be one message past `head` for a moment, between the
//! writer's two stores; a new writer repairs `head` if its predecessor died there). With the
//! stamp `2c + 2` in hand, the reader copies the
//! length and payload with relaxed atomic words, issues an Acquire fence and reloads the stamp:
//! if it changed, the copy may be torn and is discarded as an overrun (Boehm, "Can seqlocks get
//! along with programming language memory models?", 2012). Payload copies are word-wise relaxed
//! atomics, so a racing read is never a data race (see [`crate::region`] for the cost).
//!
//! A late joiner can start at the next message ([`Start::Next`]) or up to `n` messages back
//! ([`Start::Latest`]), as far as the ring still holds them.
//!
//! Zero copy: [`Writer::loan`] lends the next slot's bytes in place. Readers racing with the
//! writer may still be copying the previous occupant of that slot: the loan marks the slot odd
//! first, so their copies are discarded, but their relaxed loads then race with the loan's plain
//! writes — the classic seqlock caveat that Rust's memory model does not yet bless (as for
//! crossbeam's `AtomicCell` fallback); readers never act on such bytes. Use `try_send` where that
//! matters. [`Reader::try_borrow`] gives an in-place [`Borrowed`] view read with relaxed atomics,
//! validated by [`Borrowed::finish`].
//!
//! ```
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::broadcast::{Broadcast, Start};
//! use ringwire_core::ring::RecvError;
//! use ringwire_core::segment::{Creator, RingConfig};
//!
//! let region = LocalRegion::<4096>::new();
//! let config = RingConfig::new(32, 4, "example::Tick");
//! let ring = Broadcast::create(&region, config, Creator::default()).unwrap();
//! let mut writer = ring.writer(1).unwrap();
//! let mut reader = ring.reader(Start::Next);
//! for i in 0..6u8 {
//!     let _ = writer.try_send(&[i; 3]).unwrap();
//! }
//! let mut buf = [0u8; 32];
//! // 6 messages into 4 slots: the first 2 were overwritten.
//! assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Lagged(2)));
//! assert_eq!(reader.try_recv(&mut buf), Ok(3));
//! assert_eq!(&buf[..3], &[2, 2, 2]);
//! ```
#![allow(unsafe_code)]

use crate::region::Region;
use crate::segment::{
    ClaimError, CreateError, Creator, OFF_WRITER_CLAIM, OpenError, PRODUCER_LINE, RingConfig,
    RingKind, Segment,
};
use crate::sync::{Ordering, fence};

use super::slot::Slot;
use super::{Notify, RecvError, SendError, check_len};

/// Offset of the `head` word (messages ever written).
const HEAD: usize = PRODUCER_LINE;

/// Stamp of a slot while position `pos` is being written.
fn stamp_writing(pos: u64) -> u64 {
    pos.wrapping_mul(2).wrapping_add(1)
}

/// Stamp of a slot holding the complete message at position `pos`.
fn stamp_done(pos: u64) -> u64 {
    pos.wrapping_mul(2).wrapping_add(2)
}

/// A broadcast ring over a region.
#[derive(Debug)]
pub struct Broadcast<R: Region> {
    seg: Segment<R>,
}

/// Where a new reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Start {
    /// With the next message written after attaching.
    Next,
    /// With up to this many of the most recent messages already written (history for late
    /// joiners), as far as the ring still holds them.
    Latest(u64),
}

impl<R: Region> Broadcast<R> {
    /// Creates a broadcast segment in `region`.
    pub fn create(region: R, config: RingConfig, creator: Creator) -> Result<Self, CreateError> {
        Segment::create(region, RingKind::Broadcast, config, creator).map(|seg| Self { seg })
    }

    /// Opens the broadcast segment in `region`, expecting `config`.
    pub fn open(region: R, config: RingConfig) -> Result<Self, OpenError> {
        Segment::open(region, RingKind::Broadcast, config).map(|seg| Self { seg })
    }

    /// The underlying segment (event word, waiters, creator, writer claim).
    pub fn segment(&self) -> &Segment<R> {
        &self.seg
    }

    /// Claims the single writer role for `owner` (non-zero) and resumes at the shared head.
    pub fn writer(&self, owner: u32) -> Result<Writer<'_, R>, ClaimError> {
        self.seg.claim(OFF_WRITER_CLAIM, owner)?;
        // SYNC: Acquire pairs with the previous writer's Release store of `head`.
        let mut head = self.seg.control(HEAD).load(Ordering::Acquire);
        // A writer that died between its complete stamp and its `head` store left message
        // `head` published (readers may have taken it): count it, never write that position twice.
        // SYNC: Acquire pairs with that writer's Release store of the stamp.
        if self.seg.slot(head).seq().load(Ordering::Acquire) == stamp_done(head) {
            head = head.wrapping_add(1);
            // SYNC: Release pairs with the readers' Acquire loads of `head`.
            self.seg.control(HEAD).store(head, Ordering::Release);
        }
        Ok(Writer {
            ring: self,
            owner,
            head,
        })
    }

    /// A new reader starting at `start`.
    pub fn reader(&self, start: Start) -> Reader<'_, R> {
        // SYNC: Acquire pairs with the writer's Release store of `head`.
        let head = self.seg.control(HEAD).load(Ordering::Acquire);
        let back = match start {
            Start::Next => 0,
            Start::Latest(n) => n.min(self.seg.capacity()).min(head),
        };
        Reader {
            ring: self,
            cursor: head.wrapping_sub(back),
        }
    }

    /// Messages ever written (the shared head).
    pub fn head(&self) -> u64 {
        self.seg.control(HEAD).load(Ordering::Acquire)
    }
}

/// The writer handle: holds the writer claim until dropped.
#[derive(Debug)]
pub struct Writer<'a, R: Region> {
    ring: &'a Broadcast<R>,
    owner: u32,
    head: u64,
}

impl<'a, R: Region> Writer<'a, R> {
    fn begin(&self) -> Slot<'a> {
        let slot = self.ring.seg.slot(self.head);
        slot.seq()
            .store(stamp_writing(self.head), Ordering::Relaxed);
        // SYNC: Release fence pairs with the reader's Acquire fence before its stamp re-check: a
        // reader whose copy saw any byte written after this point sees the odd stamp.
        fence(Ordering::Release);
        slot
    }

    fn publish(&mut self, slot: Slot<'a>, len: usize) -> Notify {
        slot.len().store(len as u32, Ordering::Relaxed);
        // SYNC: Release pairs with the reader's Acquire load of the stamp.
        slot.seq().store(stamp_done(self.head), Ordering::Release);
        self.head = self.head.wrapping_add(1);
        // SYNC: Release pairs with the Acquire loads of `head` in `Reader::try_recv`/`reader`.
        self.ring
            .seg
            .control(HEAD)
            .store(self.head, Ordering::Release);
        self.ring.seg.notify()
    }

    /// Publishes a copy of `msg`, overwriting the oldest message if the ring is full.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<Notify, SendError> {
        check_len(msg.len(), self.capacity())?;
        let slot = self.begin();
        slot.write_racy(msg);
        Ok(self.publish(slot, msg.len()))
    }

    /// Lends the next slot's payload bytes in place. Readers that were about to read that
    /// slot's previous message will see it as lost (as with any overwrite).
    pub fn loan(&mut self) -> Loan<'_, 'a, R> {
        let slot = self.begin();
        Loan { writer: self, slot }
    }

    /// Payload capacity of a slot.
    pub fn capacity(&self) -> usize {
        self.ring.seg.config().slot_size as usize
    }

    /// Messages written so far.
    pub fn head(&self) -> u64 {
        self.head
    }
}

impl<R: Region> Drop for Writer<'_, R> {
    fn drop(&mut self) {
        self.ring.seg.release(OFF_WRITER_CLAIM, self.owner);
    }
}

/// A slot lent to the writer: fill it through `Deref<Target = [u8]>`, then [`commit`](Loan::commit).
/// Dropping it publishes nothing (the slot's previous message is gone, though).
pub struct Loan<'w, 'a, R: Region> {
    writer: &'w mut Writer<'a, R>,
    slot: Slot<'a>,
}

impl<R: Region> Loan<'_, '_, R> {
    /// Publishes the first `len` bytes of the loan.
    pub fn commit(self, len: usize) -> Result<Notify, SendError> {
        check_len(len, self.slot.capacity())?;
        self.slot.loan_committed(len);
        Ok(self.writer.publish(self.slot, len))
    }
}

impl<R: Region> core::ops::Deref for Loan<'_, '_, R> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the writer claim makes this the only writer, and `begin` marked the slot as
        // being written; readers only touch it with racy atomic loads whose results the seqlock
        // discards (module docs); `&self` rules out a live mutable slice.
        unsafe { self.slot.loan_view() }
    }
}

impl<R: Region> core::ops::DerefMut for Loan<'_, '_, R> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only live slice.
        unsafe { self.slot.loan() }
    }
}

/// A reader handle with a private cursor.
#[derive(Debug, Clone)]
pub struct Reader<'a, R: Region> {
    ring: &'a Broadcast<R>,
    cursor: u64,
}

/// Result of validating the reader's next slot.
enum Next<'a> {
    Ready(Slot<'a>, u64, usize),
    Fail(RecvError),
}

impl<'a, R: Region> Reader<'a, R> {
    /// Position of the next message this reader will receive.
    pub fn cursor(&self) -> u64 {
        self.cursor
    }

    /// Messages written but not yet received (may exceed the capacity when lagging).
    pub fn pending(&self) -> u64 {
        let pending = self.ring.head().wrapping_sub(self.cursor);
        // The cursor may be one past `head` for a moment (see `next`).
        if (pending as i64) < 0 { 0 } else { pending }
    }

    /// The underlying ring (for its segment's waiter registration).
    pub fn ring(&self) -> &'a Broadcast<R> {
        self.ring
    }

    /// Moves the cursor past an overrun; returns the lag error to report.
    fn skip_overrun(&mut self) -> RecvError {
        // SYNC: Acquire pairs with the writer's Release store of `head`.
        let head = self.ring.seg.control(HEAD).load(Ordering::Acquire);
        // The writer is writing `head` over `head - cap`, so `head - cap + 1` is the oldest
        // message that may still be intact; never move backwards or by less than one.
        let oldest = head.wrapping_sub(self.ring.seg.capacity()).wrapping_add(1);
        let lost = oldest.wrapping_sub(self.cursor);
        let lost = if (lost as i64) < 1 { 1 } else { lost };
        self.cursor = self.cursor.wrapping_add(lost);
        RecvError::Lagged(lost)
    }

    fn next(&mut self) -> Next<'a> {
        let seg = &self.ring.seg;
        // Fast path: the stamp of the slot under the cursor says by itself whether message
        // `cursor` is complete (stamps are unique per position), so a reader waiting for the
        // next message polls that one cache line — the one the writer fills — and never
        // touches `head`, which stays in the writer's cache.
        let slot = seg.slot(self.cursor);
        // SYNC: Acquire pairs with the writer's Release store of the even stamp.
        let stamp = slot.seq().load(Ordering::Acquire);
        if stamp == stamp_done(self.cursor) {
            return self.ready(slot, stamp);
        }
        // SYNC: Acquire pairs with the writer's Release store of `head`.
        let head = seg.control(HEAD).load(Ordering::Acquire);
        let available = head.wrapping_sub(self.cursor);
        // One behind the cursor: the fast path took message `head` between the writer's stamp
        // and its `head` store. Nothing new yet.
        if available == 0 || available == u64::MAX {
            return Next::Fail(RecvError::Empty);
        }
        if (available as i64) < 0 {
            // The head moved backwards: not something a writer does.
            return Next::Fail(RecvError::Corrupt);
        }
        if available > seg.capacity() {
            let oldest = head.wrapping_sub(seg.capacity());
            let lost = oldest.wrapping_sub(self.cursor);
            self.cursor = oldest;
            return Next::Fail(RecvError::Lagged(lost));
        }
        // SYNC: Acquire pairs with the writer's Release store of the even stamp.
        let stamp = slot.seq().load(Ordering::Acquire);
        let expected = stamp_done(self.cursor);
        if stamp != expected {
            return if (stamp.wrapping_sub(expected) as i64) > 0 {
                Next::Fail(self.skip_overrun())
            } else {
                // Older than a message `head` says is complete.
                Next::Fail(RecvError::Corrupt)
            };
        }
        self.ready(slot, stamp)
    }

    /// The message under the cursor, whose slot carries the complete stamp `stamp`.
    fn ready(&mut self, slot: Slot<'a>, stamp: u64) -> Next<'a> {
        let len = slot.len().load(Ordering::Relaxed) as usize;
        if len > slot.capacity() {
            return Next::Fail(if self.still_valid(slot, stamp) {
                RecvError::Corrupt
            } else {
                self.skip_overrun()
            });
        }
        Next::Ready(slot, stamp, len)
    }

    fn still_valid(&self, slot: Slot<'_>, stamp: u64) -> bool {
        // SYNC: Acquire fence pairs with the writer's Release fence after the odd stamp.
        fence(Ordering::Acquire);
        slot.seq().load(Ordering::Relaxed) == stamp
    }

    /// Copies the next message into `buf` and returns its length.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<usize, RecvError> {
        let (slot, stamp, len) = match self.next() {
            Next::Ready(slot, stamp, len) => (slot, stamp, len),
            Next::Fail(e) => return Err(e),
        };
        if buf.len() < len {
            return Err(RecvError::BufferTooSmall { needed: len });
        }
        slot.read_racy(&mut buf[..len]);
        if !self.still_valid(slot, stamp) {
            return Err(self.skip_overrun());
        }
        self.cursor = self.cursor.wrapping_add(1);
        Ok(len)
    }

    /// Borrows the next message in place; validate with [`Borrowed::finish`] before trusting
    /// what was read.
    pub fn try_borrow(&mut self) -> Result<Borrowed<'_, 'a, R>, RecvError> {
        match self.next() {
            Next::Ready(slot, stamp, len) => Ok(Borrowed {
                reader: self,
                slot,
                stamp,
                len,
            }),
            Next::Fail(e) => Err(e),
        }
    }
}

/// A message read in place. The writer may overwrite it at any time, so everything read through
/// it is provisional until [`finish`](Borrowed::finish) returns `Ok`. Dropping it without
/// finishing leaves the message unread.
pub struct Borrowed<'r, 'a, R: Region> {
    reader: &'r mut Reader<'a, R>,
    slot: Slot<'a>,
    stamp: u64,
    len: usize,
}

impl<R: Region> Borrowed<'_, '_, R> {
    /// Length of the message.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Byte `i` of the message (0 past the end).
    pub fn byte(&self, i: usize) -> u8 {
        if i < self.len {
            self.slot.byte_racy(i)
        } else {
            0
        }
    }

    /// Copies up to `dst.len()` bytes of the message into `dst`; returns how many.
    pub fn copy_to(&self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len);
        self.slot.read_racy(&mut dst[..n]);
        n
    }

    /// Copies up to `dst.len()` bytes of the message from byte `offset` on into `dst`; returns
    /// how many (0 at or past the end). For reading part of a large message in place.
    pub fn copy_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = dst.len().min(self.len - offset);
        self.slot.read_racy_at(offset, &mut dst[..n]);
        n
    }

    /// Checks the message was not overwritten while borrowed and moves the reader past it.
    /// On `Err(Lagged(n))` everything read is void and the reader skipped `n` messages.
    pub fn finish(self) -> Result<(), RecvError> {
        if self.reader.still_valid(self.slot, self.stamp) {
            self.reader.cursor = self.reader.cursor.wrapping_add(1);
            Ok(())
        } else {
            Err(self.reader.skip_overrun())
        }
    }
}
