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
//!   instructions between its CAS and its owner store — or stopped there by `SIGSTOP` or a
//!   debugger, for any length of time) are settled by the **participant table** (below): the
//!   slot is released, as above, only if no entry whose owner may be alive announces its
//!   position as its intent. No time-out is involved, so a stopped claimer keeps its slot.
//!
//! # The participant table
//!
//! The segment ends with [`MPMC_PARTICIPANTS`] entries (one cache line each: owner id, intent
//! position). [`Mpmc::producer`] and [`Mpmc::consumer`] take a free entry for their handle
//! (compare-and-swap of its owner word from 0; [`ClaimError::TooManyParticipants`] when the
//! table is full) and free it on drop; [`Mpmc::recover`] frees the entries of dead owners.
//! Before each CAS on a position, a handle stores the position as its entry's *intent* (one
//! plain store to its own line, the only cost on the send and receive paths), and it stores
//! "none" when a try ends without a claim. The winner of position `p` therefore announces `p`
//! from before its CAS until after it has handed the slot on, so a recovery that finds `p`
//! claimed but unattributed, and no entry of a possibly-live owner announcing `p`, knows the
//! winner is dead (the memory-ordering argument is at `Mpmc::winner_may_live`). Handles are not
//! `Clone` or `Sync` for that reason: one entry, one claim at a time.
//!
//! Recovery is serialised by a recovery-lock claim word. It is an `unsafe fn`: with a wrong
//! liveness predicate it would hand a live owner's slot to a second party (two `&mut [u8]` to one
//! slot). The predicate must be exact — a dead owner never comes back, so owner ids must not be
//! reused while a claim may be in flight; `ringwire-platform` offers the safe wrapper. Publishing
//! (commit, tombstone) compare-and-swaps the sequence word, so a loan dropped after a recovery
//! tombstoned its position leaves the ring alone instead of moving the sequence backwards.
//! Dropping a producer's loan without committing also publishes a tombstone.
//!
//! ```
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::mpmc::Mpmc;
//! use ringwire_core::segment::{Creator, RingConfig};
//!
//! let region = LocalRegion::<8192>::new();
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

use core::cell::Cell;
use core::marker::PhantomData;

use crate::region::Region;
use crate::segment::{
    CONSUMER_LINE, ClaimError, CreateError, Creator, MPMC_PARTICIPANTS, NO_INTENT, OpenError,
    PRODUCER_LINE, RingConfig, RingKind, Segment,
};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

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
/// Whether the enqueue and dequeue positions are a pair the protocol can produce. Called only
/// where the ring looks full or empty, so a corrupt position (a peer wrote 2^62 into one) is an
/// error instead of a wait that never ends. In the protocol `dequeue <= enqueue <= dequeue +
/// capacity` at every instant (a producer claims `p` only once `p - capacity` was dequeued).
/// Two loads are not one instant, so the check is made on a pair whose `enqueue` did not move
/// around the `dequeue` load: then that `enqueue` was the value at that instant. If producers
/// are moving it, the ring is not stuck, and the caller's retry checks again.
///
/// The loads are Acquire: relaxed ones may see a `dequeue` older than the one the producer of
/// `enqueue_before` had already seen freed (Miri's weak-memory emulation found that false
/// "corrupt"). SYNC: the first load pairs with the Release position CAS of the producer that
/// wrote it, which read the slot's freed sequence (Acquire) released by the consumer after its
/// `dequeue` CAS, so the `dequeue` load sees that value or a later one; the `dequeue` load
/// likewise pairs with its consumer's CAS, so the last `enqueue` load is at least as new.
fn positions_plausible<R: Region>(seg: &Segment<R>) -> bool {
    let enqueue_before = seg.control(ENQUEUE).load(Ordering::Acquire);
    let dequeue = seg.control(DEQUEUE).load(Ordering::Acquire);
    let enqueue = seg.control(ENQUEUE).load(Ordering::Acquire);
    enqueue != enqueue_before || enqueue.wrapping_sub(dequeue) <= seg.capacity()
}

/// Publishes a producer's claimed slot at `pos` with payload length `len`. Returns false, and
/// changes nothing, if the slot no longer waits at `pos` (a recovery published it as a tombstone
/// meanwhile): the sequence word only ever moves forwards.
fn publish(slot: Slot<'_>, pos: u64, len: u32) -> bool {
    if slot.seq().load(Ordering::Relaxed) != pos {
        return false;
    }
    slot.len().store(len, Ordering::Relaxed);
    slot.owner().store(0, Ordering::Relaxed);
    // SYNC: Release pairs with the consumer's Acquire load of the sequence word. A compare-and-
    // swap, not a store: a recovery may have moved the sequence on since the check above.
    slot.seq()
        .compare_exchange(
            pos,
            pos.wrapping_add(1),
            Ordering::Release,
            Ordering::Relaxed,
        )
        .is_ok()
}

/// Frees a consumer's claimed slot at `pos` for the next lap.
fn free(cap: u64, slot: Slot<'_>, pos: u64) {
    slot.owner().store(0, Ordering::Relaxed);
    // SYNC: Release pairs with the producer's Acquire load of the sequence word.
    slot.seq().store(pos.wrapping_add(cap), Ordering::Release);
}

/// A producer's or consumer's entry in the participant table: its owner word (holding the
/// handle's owner id while the handle lives) and its intent word.
///
/// Not `Sync` (and the handles holding it are not `Clone`): the intent argument needs every
/// claim made through one entry to come from one thread at a time, so that the entry's intent
/// reads `p` for as long as its claim of `p` is unattributed.
#[derive(Debug)]
struct Entry<'a> {
    /// The owner id this handle wrote into `owner`.
    id: u32,
    owner: &'a AtomicU32,
    intent: &'a AtomicU64,
    _one_thread: PhantomData<Cell<()>>,
}

impl Entry<'_> {
    /// Announces that this participant is about to claim `pos`.
    fn intend(&self, pos: u64) {
        // SYNC: Release, so that a recovery that reads a value stored *after* this one (Acquire,
        // `winner_may_live`) sees everything this participant did before it; in particular, once
        // this entry moves on from `p`, the hand-over of `p` (publish or free) is visible. That
        // this store precedes the position CAS needs no more than the CAS's own Release.
        self.intent.store(pos, Ordering::Release);
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        self.intend(NO_INTENT);
        // SYNC: Release pairs with the Acquire CAS of the entry's next holder (`join`).
        let _ = self
            .owner
            .compare_exchange(self.id, 0, Ordering::Release, Ordering::Relaxed);
    }
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
    /// Claims whose owner was not recorded (a claimer between its position CAS and its owner
    /// store).
    pub unattributed: u32,
    /// Of those, how many were released: the participant table proved their claimer dead (or
    /// `release_unattributed` was set). Also counted in `tombstoned` or `freed`.
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

    /// A producer handle recording `owner` (non-zero) in the slots it claims. It takes an entry
    /// of the participant table until dropped ([`ClaimError::TooManyParticipants`] when all
    /// [`MPMC_PARTICIPANTS`] are taken; entries of dead owners are freed by [`recover`]).
    ///
    /// [`recover`]: Self::recover
    pub fn producer(&self, owner: u32) -> Result<Producer<'_, R>, ClaimError> {
        Ok(Producer {
            ring: self,
            owner,
            entry: self.join(owner)?,
        })
    }

    /// A consumer handle recording `owner` (non-zero) in the slots it claims; it takes a
    /// participant-table entry as [`producer`](Self::producer) does.
    pub fn consumer(&self, owner: u32) -> Result<Consumer<'_, R>, ClaimError> {
        Ok(Consumer {
            ring: self,
            owner,
            entry: self.join(owner)?,
        })
    }

    /// Takes a free participant entry for `owner`, starting the search at an index hashed from
    /// `owner`, so that processes (often with neighbouring pids) tend to keep to distinct,
    /// non-adjacent entries.
    fn join(&self, owner: u32) -> Result<Entry<'_>, ClaimError> {
        if owner == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        // Fibonacci hashing: the top bits of `owner × 2³²/φ`.
        let start = (owner.wrapping_mul(0x9E37_79B9) >> 16) as usize % MPMC_PARTICIPANTS;
        for k in 0..MPMC_PARTICIPANTS {
            let (word, intent) = self.seg.participant((start + k) % MPMC_PARTICIPANTS);
            // SYNC: Acquire pairs with the Release CAS that freed the entry (`Entry::drop`,
            // `recover`): the previous holder's intent stores come before ours.
            if word.load(Ordering::Relaxed) == 0
                && word
                    .compare_exchange(0, owner, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                let entry = Entry {
                    id: owner,
                    owner: word,
                    intent,
                    _one_thread: PhantomData,
                };
                entry.intend(NO_INTENT);
                return Ok(entry);
            }
        }
        Err(ClaimError::TooManyParticipants {
            max: MPMC_PARTICIPANTS as u32,
        })
    }

    /// Whether the claimer of the unattributed position `pos` may be alive: some table entry
    /// whose owner `is_alive` says may live announces `pos` as its intent.
    ///
    /// SYNC: why a `false` is exact. Let W be the participant whose position CAS won `pos`. W
    /// took its entry (CAS on the owner word) and stored intent `pos` (Release) before that CAS
    /// (Release), and the recovery read a position beyond `pos` (Acquire) before calling this,
    /// from W's CAS or a later one in its release sequence (every write to a position word is a
    /// CAS). So W's entry claim and intent store happen before the loads below: they read W's
    /// owner id (the entry is W's until its handle drops, which waits for the claim to finish,
    /// or until a recovery frees it, which needs W dead), and `pos` or a later intent. W stores
    /// a later intent only after handing `pos` over (publish, tombstone or free, Release); a
    /// later intent read here (Acquire) therefore makes that hand-over visible to the caller's
    /// re-check of the slot, which then no longer finds it stuck. Hence: if W is alive and the
    /// slot still stuck after this returns `false`, W's entry would have matched — contradiction.
    /// Other entries announcing `pos` (a loser of that CAS, a stale value) only make the answer
    /// more cautious.
    fn winner_may_live(&self, pos: u64, is_alive: &impl Fn(u32) -> bool) -> bool {
        (0..MPMC_PARTICIPANTS).any(|i| {
            let (word, intent) = self.seg.participant(i);
            // SYNC: Acquire pairs with the Release intent stores (`Entry::intend`).
            intent.load(Ordering::Acquire) == pos && {
                // SYNC: Acquire pairs with the Release CAS that freed the entry (`Entry::drop`,
                // the loop at the end of `recover`); the argument above needs only coherence.
                let owner = word.load(Ordering::Acquire);
                owner != 0 && is_alive(owner)
            }
        })
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
    ///
    /// `ringwire-platform` wraps this in a safe function with the operating system's liveness
    /// check; call it directly only with a predicate at least as exact. (It used to be safe;
    /// calling it now takes an `unsafe` block.)
    ///
    /// ```compile_fail,E0133
    /// use ringwire_core::region::LocalRegion;
    /// use ringwire_core::ring::mpmc::Mpmc;
    /// use ringwire_core::segment::{Creator, RingConfig};
    ///
    /// let region = LocalRegion::<1024>::new();
    /// let ring = Mpmc::create(&region, RingConfig::new(16, 2, "doc::Job"), Creator::default())
    ///     .unwrap();
    /// let _ = ring.recover(3, |_| false, true);
    /// ```
    ///
    /// # Safety
    ///
    /// `is_alive(owner)` must return `false` only for an owner id none of whose handles, loans or
    /// borrows (in any thread or process) can ever touch this ring again — a crashed process,
    /// never a stopped, slow or merely unreachable one, and never an id that is still or again in
    /// use. A wrong `false` frees or tombstones a slot its live owner still writes or reads
    /// through `&mut [u8]`/`&[u8]`, so two parties alias it.
    ///
    /// The same predicate settles unattributed claims through the participant table (module
    /// docs), so it must also be exact for the owner ids of table entries.
    ///
    /// With `release_unattributed`, the caller also promises that every claim whose owner word
    /// still reads 0 belongs to such a dead owner (a live producer or consumer stays
    /// unattributed for the few instructions between its position CAS and its owner store, and
    /// for as long as it is stopped there, e.g. by `SIGSTOP` or a debugger). No time-out can
    /// make that promise, and the participant table makes it unnecessary: pass `false`.
    pub unsafe fn recover(
        &self,
        recoverer: u32,
        is_alive: impl Fn(u32) -> bool,
        release_unattributed: bool,
    ) -> Result<Recovery, ClaimError> {
        if recoverer == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        if let Err(e) = self.seg.claim(RECOVERY_LOCK, recoverer) {
            // SAFETY: the lock only serialises recoveries (it guards no bytes); freeing it with
            // the caller's exact predicate is what this function's contract covers.
            if !unsafe { self.seg.reclaim(RECOVERY_LOCK, &is_alive) } {
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
                // SYNC: the re-check after the table (see `winner_may_live`): a live winner that
                // moved on from `pos` after our first look has handed the slot over, and its
                // hand-over (Release) is visible now.
                release_unattributed
                    || (!self.winner_may_live(pos, &is_alive)
                        && slot.seq().load(Ordering::Acquire) == stuck_seq
                        && slot.owner().load(Ordering::Relaxed) == 0)
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
        // Participant entries of dead owners go back to the table. (A dead owner's entry may
        // announce a position it won; once the owner is dead that no longer matters, see
        // `winner_may_live`.)
        for i in 0..MPMC_PARTICIPANTS {
            let (word, intent) = self.seg.participant(i);
            let holder = word.load(Ordering::Relaxed);
            if holder != 0 && !is_alive(holder) {
                // Nobody else writes a dead holder's entry until its owner word is 0 again.
                // SYNC: Release, as every intent store (`Entry::intend`), for the Acquire loads
                // in `winner_may_live`.
                intent.store(NO_INTENT, Ordering::Release);
                // SYNC: Release pairs with the Acquire CAS of the entry's next holder (`join`).
                let _ = word.compare_exchange(holder, 0, Ordering::Release, Ordering::Relaxed);
            }
        }
        self.seg.release(RECOVERY_LOCK, recoverer);
        warn!("mpmc recovery done");
        Ok(report)
    }
}

/// A producer handle (up to [`MPMC_PARTICIPANTS`] handles at a time, in any process). It holds
/// a participant-table entry until dropped; it is neither `Clone` nor `Sync` (one thread at a
/// time claims through an entry), but may be sent to another thread.
#[derive(Debug)]
pub struct Producer<'a, R: Region> {
    ring: &'a Mpmc<R>,
    owner: u32,
    entry: Entry<'a>,
}

impl<'a, R: Region> Producer<'a, R> {
    /// Claims the next free position.
    fn claim(&self) -> Result<(Slot<'a>, u64), SendError> {
        let claimed = self.try_claim();
        if claimed.is_err() {
            // A failed try leaves no intent behind (it could hold up a recovery).
            self.entry.intend(NO_INTENT);
        }
        claimed
    }

    fn try_claim(&self) -> Result<(Slot<'a>, u64), SendError> {
        let seg = &self.ring.seg;
        let enqueue = seg.control(ENQUEUE);
        let mut pos = enqueue.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let slot = seg.slot(pos);
            // SYNC: Acquire pairs with the consumer's Release `seq = p + cap` (slot freed).
            let seq = slot.seq().load(Ordering::Acquire);
            let diff = seq.wrapping_sub(pos) as i64;
            if diff == 0 {
                self.entry.intend(pos);
                // SYNC: Release orders the entry claim and intent store above before the CAS for
                // a recovery that reads the position with Acquire (`Mpmc::winner_may_live`).
                match enqueue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        slot.owner().store(self.owner, Ordering::Relaxed);
                        return Ok((slot, pos));
                    }
                    Err(now) => pos = now,
                }
            } else if diff < 0 {
                if !positions_plausible(seg) {
                    return Err(SendError::Corrupt);
                }
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
        if !publish(slot, pos, msg.len() as u32) {
            return Err(SendError::Corrupt);
        }
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
    /// Publishes the first `len` bytes. On `TooLarge` the loan is dropped (a tombstone); on
    /// `Corrupt` a recovery already published the position as a tombstone.
    pub fn commit(mut self, len: usize) -> Result<Notify, SendError> {
        check_len(len, self.slot.capacity())?;
        self.slot.loan_committed(len);
        self.committed = true;
        if !publish(self.slot, self.pos, len as u32) {
            return Err(SendError::Corrupt);
        }
        Ok(self.ring.seg.notify())
    }
}

impl<R: Region> Drop for Loan<'_, R> {
    fn drop(&mut self) {
        if !self.committed {
            // Nothing to do if a recovery already tombstoned the position.
            let _ = publish(self.slot, self.pos, TOMBSTONE);
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

/// A consumer handle (up to [`MPMC_PARTICIPANTS`] handles at a time, in any process): a
/// participant-table entry, like [`Producer`].
#[derive(Debug)]
pub struct Consumer<'a, R: Region> {
    ring: &'a Mpmc<R>,
    owner: u32,
    entry: Entry<'a>,
}

impl<'a, R: Region> Consumer<'a, R> {
    /// Claims the next published, non-tombstone message whose length fits `max_len`.
    fn claim(&self, max_len: usize) -> Result<(Slot<'a>, u64, usize), RecvError> {
        let claimed = self.try_claim(max_len);
        if claimed.is_err() {
            // A failed try leaves no intent behind (it could hold up a recovery).
            self.entry.intend(NO_INTENT);
        }
        claimed
    }

    fn try_claim(&self, max_len: usize) -> Result<(Slot<'a>, u64, usize), RecvError> {
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
                self.entry.intend(pos);
                // SYNC: Release, as in `Producer::try_claim`.
                match dequeue.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::Release,
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
                if !positions_plausible(seg) {
                    return Err(RecvError::Corrupt);
                }
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
