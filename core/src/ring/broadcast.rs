//! Broadcast ring: one writer, many readers, each reader with a private cursor (PUB/SUB).
//!
//! The writer never waits for readers: it overwrites the oldest slot. A reader that falls more
//! than a ring's worth behind learns exactly how many messages it lost ([`RecvError::Lagged`],
//! the idea of embassy-sync's `PubSubChannel` and tokio's `broadcast`) and resumes where its
//! [`LagPolicy`] says: by default half a ring behind the newest message
//! ([`LagPolicy::HalfRing`]), so a reader slower than the writer keeps delivering about its own
//! share of the messages. Resuming at the oldest message still held ([`LagPolicy::Oldest`])
//! puts it on the very slot the writer overwrites next: at twice the reader's rate it would be
//! overrun again at once and deliver a few percent. Readers keep no shared state, so any number
//! can attach, and a dead reader costs nothing.
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
//! Zero copy: [`Writer::loan`] lends the next slot in place. Readers racing with the writer may
//! still be copying the previous occupant of that slot: the loan marks the slot odd first, so
//! their copies are discarded. Because they copy with relaxed atomic loads while the loan is
//! written, the loan never exposes `&mut [u8]` (a plain write racing an atomic read is a data
//! race): it is written through [`Loan::write_at`] / [`SlotWriter`], relaxed atomic word stores
//! like `try_send`'s own copy. [`Reader::try_borrow`] gives an in-place [`Borrowed`] view read
//! with relaxed atomics, validated by [`Borrowed::finish`].
//!
//! ```
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::broadcast::{Broadcast, LagPolicy, Start};
//! use ringwire_core::ring::RecvError;
//! use ringwire_core::segment::{Creator, RingConfig};
//!
//! let region = LocalRegion::<4096>::new();
//! let config = RingConfig::new(32, 4, "example::Tick");
//! let ring = Broadcast::create(&region, config, Creator::default()).unwrap();
//! let mut writer = ring.writer(1).unwrap();
//! let mut reader = ring.reader(Start::Next);
//! let mut oldest = ring.reader_with(Start::Next, LagPolicy::Oldest);
//! for i in 0..6u8 {
//!     let _ = writer.try_send(&[i; 3]).unwrap();
//! }
//! let mut buf = [0u8; 32];
//! // 6 messages into 4 slots: the first 2 were overwritten. By default a lagging reader
//! // resumes half a ring behind the newest (message 4), skipping 4 ...
//! assert_eq!(reader.try_recv(&mut buf), Err(RecvError::Lagged(4)));
//! assert_eq!(reader.try_recv(&mut buf), Ok(3));
//! assert_eq!(&buf[..3], &[4, 4, 4]);
//! // ... while `LagPolicy::Oldest` resumes at the oldest message held (message 2).
//! assert_eq!(oldest.try_recv(&mut buf), Err(RecvError::Lagged(2)));
//! assert_eq!(oldest.try_recv(&mut buf), Ok(3));
//! assert_eq!(&buf[..3], &[2, 2, 2]);
//! // Zero copy: fill the next slot in place (relaxed atomic word stores), then publish.
//! let mut loan = writer.loan();
//! loan.write_at(0, b"in place");
//! let _ = loan.commit(8).unwrap();
//! ```
#![allow(unsafe_code)]

use core::marker::PhantomData;

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

/// Where a reader resumes after it lagged (the writer overwrote messages it had not read).
///
/// With the writer `k` times faster than the reader, a reader that resumes `b` messages behind
/// the newest reads for about `(capacity - b) / (k - 1)` receives before the writer reaches it
/// again, so under sustained overload [`HalfRing`](Self::HalfRing) and
/// [`Newest`](Self::Newest) deliver about `1/k` of the messages (half of them at 2x overload;
/// `core/tests/rings.rs` checks this step by step). [`Oldest`](Self::Oldest) leaves no slack:
/// the writer overwrites the resumed-at slot next, and each receive reports a new lag, so it
/// delivers a few percent at most. When the writer pauses instead (bursts, or a writer and a
/// reader taking turns on one core), the more history a reader resumes with, the more it reads
/// before the ring runs dry: `Oldest` then delivers most, `Newest` least. `HalfRing` is the
/// default because it does well in both regimes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LagPolicy {
    /// Resume at the newest complete message: the least stale data, the longest gap.
    Newest,
    /// Resume half a ring behind the newest message (the default): it keeps half a ring of the
    /// most recent history and half a ring of slack before the writer catches up again.
    #[default]
    HalfRing,
    /// Resume at the oldest message still held: the fewest messages skipped now, but the writer
    /// overwrites that slot next, so a reader that is slower than the writer lags again at once.
    Oldest,
}

impl LagPolicy {
    /// The position a lagging reader resumes at, given the shared `head` and the capacity;
    /// never before `head - cap + 1` (the writer may be overwriting `head - cap`), except for
    /// [`Oldest`](Self::Oldest) on a plain overrun (`exact`), which resumes at `head - cap`
    /// as the ring's oldest slot.
    fn resume_at(self, head: u64, cap: u64, exact: bool) -> u64 {
        let back = match self {
            Self::Newest => 1,
            Self::HalfRing => cap / 2,
            Self::Oldest if exact => cap,
            Self::Oldest => cap.saturating_sub(1),
        };
        // At most `cap - 1` back (a ring of one slot resumes at `head`).
        let back = if exact {
            back
        } else {
            back.min(cap.saturating_sub(1))
        };
        head.wrapping_sub(back)
    }
}

impl<R: Region> Broadcast<R> {
    /// Creates a broadcast segment in `region`.
    pub fn create(region: R, config: RingConfig, creator: Creator) -> Result<Self, CreateError> {
        Segment::create(region, RingKind::Broadcast, config, creator).map(|seg| Self { seg })
    }

    /// Creates a broadcast segment with a table of `subscribers` reader entries after the slots
    /// (see [`Reader::register`]): readers that register publish their cursors there, so the
    /// writer can count them ([`subscribers`](Self::subscribers)) and avoid overwriting what a
    /// live one has not read ([`Writer::try_send_lossless`]). The region needs
    /// [`RingConfig::required_len_with_subscribers`] bytes.
    pub fn create_with_subscribers(
        region: R,
        config: RingConfig,
        creator: Creator,
        subscribers: u32,
    ) -> Result<Self, CreateError> {
        Segment::create_with_subscribers(region, RingKind::Broadcast, config, creator, subscribers)
            .map(|seg| Self { seg })
    }

    /// Number of registered readers (entries of the subscriber table with an owner, live or
    /// not: see [`reclaim_subscribers`](Self::reclaim_subscribers)).
    pub fn subscribers(&self) -> u32 {
        (0..self.seg.subscriber_entries())
            .filter(|&i| self.seg.subscriber_entry(i).1.load(Ordering::Relaxed) != 0)
            .count() as u32
    }

    /// Frees the subscriber entries whose owners are dead by `is_alive`; returns how many.
    ///
    /// Safe: an entry only tells the writer how far a reader got, so a wrong verdict makes a
    /// lossless writer overwrite what that reader had not read (it sees a counted loss), never
    /// aliases memory.
    pub fn reclaim_subscribers(&self, is_alive: impl Fn(u32) -> bool) -> u32 {
        let mut freed = 0;
        for i in 0..self.seg.subscriber_entries() {
            let owner = self.seg.subscriber_entry(i).1;
            let holder = owner.load(Ordering::Relaxed);
            if holder != 0
                && !is_alive(holder)
                && owner
                    .compare_exchange(holder, 0, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                freed += 1;
            }
        }
        freed
    }

    /// The owner of a registered reader that has not read message `head - capacity` yet (the
    /// one writing position `head` would overwrite), if any.
    fn blocking_reader(&self, head: u64) -> Option<u32> {
        let cap = self.seg.capacity();
        (0..self.seg.subscriber_entries()).find_map(|i| {
            let (cursor, owner) = self.seg.subscriber_entry(i);
            let holder = owner.load(Ordering::Relaxed);
            if holder == 0 {
                return None;
            }
            // SYNC: Acquire pairs with the reader's Release store of its cursor, made after it
            // finished with the slots before it: what it no longer reads may be overwritten.
            let cursor = cursor.load(Ordering::Acquire);
            let behind = head.wrapping_sub(cursor);
            // A cursor ahead of `head` (a reader one past it for a moment, or garbage) blocks
            // nothing; one a ring or more behind would lose message `head - cap`.
            ((behind as i64) >= cap as i64).then_some(holder)
        })
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

    /// Frees the writer claim if its holder is dead by `is_alive`; returns whether it did.
    ///
    /// Safe, unlike [`Segment::reclaim_writer`]: a broadcast writer touches the ring only through
    /// atomics (stamps, `head`, racy payload words; its loan never hands out `&mut [u8]`), so a
    /// wrong verdict lets two writers interleave garbage that readers see as torn or lost
    /// messages, but no memory is aliased.
    pub fn reclaim_writer(&self, is_alive: impl Fn(u32) -> bool) -> bool {
        // SAFETY: see above: on a broadcast segment the writer claim guards no exclusive bytes,
        // so freeing it wrongly is a logic error, not a soundness one.
        unsafe { self.seg.reclaim_writer(is_alive) }
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
            policy: LagPolicy::default(),
            entry: None,
        }
    }

    /// A new reader starting at `start` that resumes after a lag per `policy`.
    pub fn reader_with(&self, start: Start, policy: LagPolicy) -> Reader<'_, R> {
        let mut reader = self.reader(start);
        reader.policy = policy;
        reader
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

    /// The owner of a registered, live-or-not reader that writing the next message would make
    /// lose one it has not read yet ([`Broadcast::reclaim_subscribers`] frees dead ones).
    pub fn blocked_by(&self) -> Option<u32> {
        self.ring.blocking_reader(self.head)
    }

    /// Like [`try_send`](Self::try_send), but fails with [`SendError::Full`] instead of
    /// overwriting a message a registered reader has not read yet (lossless delivery to every
    /// reader in the subscriber table; unregistered readers may still lag).
    pub fn try_send_lossless(&mut self, msg: &[u8]) -> Result<Notify, SendError> {
        check_len(msg.len(), self.capacity())?;
        if self.blocked_by().is_some() {
            return Err(SendError::Full);
        }
        self.try_send(msg)
    }

    /// Publishes a copy of `msg`, overwriting the oldest message if the ring is full.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<Notify, SendError> {
        check_len(msg.len(), self.capacity())?;
        let slot = self.begin();
        slot.write_racy(msg);
        Ok(self.publish(slot, msg.len()))
    }

    /// Like [`loan`](Self::loan), but fails with [`SendError::Full`] instead of lending a slot
    /// whose message a registered reader has not read yet (see
    /// [`try_send_lossless`](Self::try_send_lossless)).
    pub fn try_loan_lossless(&mut self) -> Result<Loan<'_, 'a, R>, SendError> {
        if self.blocked_by().is_some() {
            return Err(SendError::Full);
        }
        Ok(self.loan())
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

/// A slot lent to the writer: fill it with [`write_at`](Loan::write_at) (or through a
/// [`SlotWriter`] window), then [`commit`](Loan::commit). Dropping it publishes nothing (the
/// slot's previous message is gone, though).
///
/// Readers may be copying the slot's previous occupant while the loan is written (the odd stamp
/// makes them discard those copies), so the loan never hands out `&mut [u8]`: every write is a
/// relaxed atomic word store, like [`Writer::try_send`]'s copy, and a racing read is no data race.
pub struct Loan<'w, 'a, R: Region> {
    writer: &'w mut Writer<'a, R>,
    slot: Slot<'a>,
}

impl<R: Region> Loan<'_, '_, R> {
    /// Payload capacity of the slot in bytes.
    pub fn capacity(&self) -> usize {
        self.slot.capacity()
    }

    /// Writes `src` at byte `offset` of the slot.
    ///
    /// # Panics
    ///
    /// If `offset + src.len()` exceeds [`capacity`](Self::capacity) (as slice indexing would).
    pub fn write_at(&mut self, offset: usize, src: &[u8]) {
        self.writer().write_at(offset, src);
    }

    /// The whole slot as a [`SlotWriter`].
    pub fn writer(&mut self) -> SlotWriter<'_> {
        SlotWriter {
            slot: self.slot,
            start: 0,
            len: self.slot.capacity(),
            _loan: PhantomData,
        }
    }

    /// Publishes the first `len` bytes of the loan.
    pub fn commit(self, len: usize) -> Result<Notify, SendError> {
        check_len(len, self.slot.capacity())?;
        Ok(self.writer.publish(self.slot, len))
    }
}

/// A window of a broadcast [`Loan`]'s bytes that can only be written (and read back) through
/// relaxed atomic words: what a writer fills in place while readers may race it.
///
/// The aligned middle of every write is one word-sized relaxed store per word; only an unaligned
/// head or tail word is merged (a relaxed load and store, fine because the loan's owner is the
/// only writer). Offsets are relative to the window.
pub struct SlotWriter<'l> {
    slot: Slot<'l>,
    start: usize,
    len: usize,
    _loan: PhantomData<&'l mut ()>,
}

impl SlotWriter<'_> {
    /// Bytes in the window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn range(&self, offset: usize, n: usize) -> usize {
        match offset.checked_add(n) {
            Some(end) if end <= self.len => self.start + offset,
            _ => panic!(
                "ringwire: loan access of {n} bytes at {offset} past its {} bytes",
                self.len
            ),
        }
    }

    /// Writes `src` at `offset`.
    ///
    /// # Panics
    ///
    /// If `offset + src.len()` exceeds [`len`](Self::len).
    pub fn write_at(&mut self, offset: usize, src: &[u8]) {
        let at = self.range(offset, src.len());
        self.slot.write_racy_at(at, src);
    }

    /// Writes `value` in native byte order at `offset` (any alignment).
    ///
    /// # Panics
    ///
    /// If `offset + 8` exceeds [`len`](Self::len).
    pub fn write_u64_at(&mut self, offset: usize, value: u64) {
        self.write_at(offset, &value.to_ne_bytes());
    }

    /// Fills the window from its start with `src`, like `<[u8]>::copy_from_slice` on a prefix:
    /// the bytes past `src.len()` keep their values.
    ///
    /// # Panics
    ///
    /// If `src` is longer than the window.
    pub fn copy_from_slice(&mut self, src: &[u8]) {
        self.write_at(0, src);
    }

    /// Sets every byte of the window to `byte`.
    pub fn fill(&mut self, byte: u8) {
        let chunk = [byte; 256];
        let mut at = 0;
        while at < self.len {
            let n = (self.len - at).min(chunk.len());
            self.write_at(at, &chunk[..n]);
            at += n;
        }
    }

    /// Copies `dst.len()` bytes from `offset` back out (what this loan wrote there).
    ///
    /// # Panics
    ///
    /// If `offset + dst.len()` exceeds [`len`](Self::len).
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) {
        let at = self.range(offset, dst.len());
        self.slot.read_racy_at(at, dst);
    }

    /// The window from byte `offset` on (e.g. the payload after a header the caller writes
    /// itself), or `None` if `offset` is past the end.
    pub fn tail(&mut self, offset: usize) -> Option<SlotWriter<'_>> {
        (offset <= self.len).then(|| SlotWriter {
            slot: self.slot,
            start: self.start + offset,
            len: self.len - offset,
            _loan: PhantomData,
        })
    }
}

impl core::fmt::Debug for SlotWriter<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SlotWriter")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// A reader handle with a private cursor.
#[derive(Debug)]
pub struct Reader<'a, R: Region> {
    ring: &'a Broadcast<R>,
    cursor: u64,
    policy: LagPolicy,
    /// The subscriber-table entry this reader registered, and its owner id.
    entry: Option<(u32, u32)>,
}

impl<R: Region> Clone for Reader<'_, R> {
    /// A reader at the same cursor, unregistered (an entry belongs to one reader).
    fn clone(&self) -> Self {
        Self {
            ring: self.ring,
            cursor: self.cursor,
            policy: self.policy,
            entry: None,
        }
    }
}

impl<R: Region> Drop for Reader<'_, R> {
    fn drop(&mut self) {
        self.unregister();
    }
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

    /// Registers this reader as `owner` (non-zero) in a free entry of the segment's subscriber
    /// table, so the writer counts it and a lossless writer waits for it; returns whether an
    /// entry was free (or it was registered already). The entry is freed when the reader drops.
    pub fn register(&mut self, owner: u32) -> bool {
        if self.entry.is_some() {
            return true;
        }
        if owner == 0 {
            return false;
        }
        let seg = &self.ring.seg;
        for i in 0..seg.subscriber_entries() {
            let (cursor, word) = seg.subscriber_entry(i);
            // SYNC: Acquire pairs with the Release in `unregister`: the previous holder is done.
            if word
                .compare_exchange(0, owner, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                // Until this store a writer may see the previous holder's cursor: it waits
                // needlessly or overwrites history this reader wanted, counted as lost.
                // SYNC: Release pairs with the writer's Acquire load in `blocking_reader`.
                cursor.store(self.cursor, Ordering::Release);
                self.entry = Some((i, owner));
                return true;
            }
        }
        false
    }

    /// Frees this reader's subscriber entry, if it has one.
    pub fn unregister(&mut self) {
        if let Some((i, owner)) = self.entry.take() {
            let word = self.ring.seg.subscriber_entry(i).1;
            // SYNC: Release pairs with the Acquire CAS in `register`.
            let _ = word.compare_exchange(owner, 0, Ordering::Release, Ordering::Relaxed);
        }
    }

    /// Whether this reader holds a subscriber-table entry.
    pub fn is_registered(&self) -> bool {
        self.entry.is_some()
    }

    /// Moves the cursor and, for a registered reader, publishes it to the writer.
    fn set_cursor(&mut self, cursor: u64) {
        self.cursor = cursor;
        if let Some((i, _)) = self.entry {
            // SYNC: Release pairs with the writer's Acquire load in `blocking_reader`: every
            // copy from the slots before `cursor` is done.
            self.ring
                .seg
                .subscriber_entry(i)
                .0
                .store(cursor, Ordering::Release);
        }
    }

    /// Where this reader resumes after a lag.
    pub fn lag_policy(&self) -> LagPolicy {
        self.policy
    }

    /// Sets where this reader resumes after a lag.
    pub fn set_lag_policy(&mut self, policy: LagPolicy) {
        self.policy = policy;
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
        // message that may still be intact (the policy never resumes before it); never move
        // backwards or by less than one.
        let to = self.policy.resume_at(head, self.ring.seg.capacity(), false);
        let lost = to.wrapping_sub(self.cursor);
        let lost = if (lost as i64) < 1 { 1 } else { lost };
        self.set_cursor(self.cursor.wrapping_add(lost));
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
            // More than `cap` ahead, so `to` (at most `cap` back) is past the cursor.
            let to = self.policy.resume_at(head, seg.capacity(), true);
            let lost = to.wrapping_sub(self.cursor);
            self.set_cursor(to);
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
        self.set_cursor(self.cursor.wrapping_add(1));
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
            let next = self.reader.cursor.wrapping_add(1);
            self.reader.set_cursor(next);
            Ok(())
        } else {
            Err(self.reader.skip_overrun())
        }
    }
}
