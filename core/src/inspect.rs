//! A read-only look at a segment someone else made: what ring it holds, who writes and reads
//! it, how far each side got. The library side of `ringwire ls` and `ringwire stat`.
//!
//! A [`Snapshot`] is taken with plain atomic loads at each word's own width and changes
//! nothing in the segment, so taking one never disturbs the processes using it. The words are
//! read one after another while those processes run: the figures are each exact when read,
//! not a consistent cut (a message may be published between reading the writer's and a
//! reader's position). Every figure comes from shared memory another process may have
//! corrupted: it is for display and must not be trusted for anything else.
//!
//! ```
//! use ringwire_core::inspect::Snapshot;
//! use ringwire_core::region::LocalRegion;
//! use ringwire_core::ring::spsc::Spsc;
//! use ringwire_core::segment::{Creator, RingConfig, RingKind};
//!
//! let region = LocalRegion::<4096>::new();
//! let ring = Spsc::create(&region, RingConfig::new(64, 8, "demo::Msg"), Creator::default()).unwrap();
//! let mut tx = ring.producer(7).unwrap();
//! tx.try_send(b"hello").unwrap();
//! let seen = Snapshot::take(&region)?;
//! assert_eq!((seen.kind, seen.written, seen.taken), (RingKind::Spsc, 1, Some(0)));
//! assert_eq!((seen.writer, seen.config.slot_size), (7, 64));
//! # Ok::<(), ringwire_core::segment::OpenError>(())
//! ```

use crate::region::Region;
use crate::segment::{
    CONSUMER_LINE, Creator, MPMC_PARTICIPANTS, OFF_WRITER_CLAIM, OpenError, PRODUCER_LINE,
    RingConfig, RingKind, Segment,
};
use crate::sync::Ordering;

/// What one look at a segment found (see the module docs for how far to trust it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The ring it holds.
    pub kind: RingKind,
    /// Slot size, slot count and message type.
    pub config: RingConfig,
    /// The process that created it, as recorded.
    pub creator: Creator,
    /// Messages ever published (the writers' position).
    pub written: u64,
    /// Messages ever taken by the consumer side (SPSC, MPMC); `None` for a broadcast ring,
    /// whose readers each keep their own position.
    pub taken: Option<u64>,
    /// Owner id holding the single-writer claim (broadcast publisher, SPSC producer); 0 when
    /// free, and always 0 for MPMC (many producers).
    pub writer: u32,
    /// Owner id holding the SPSC consumer claim; 0 when free or another kind.
    pub reader: u32,
    /// Broadcast subscribers that registered in the segment's table (a subscriber that could
    /// not get an entry reads without one and is not counted).
    pub subscribers: u32,
    /// How far the slowest registered subscriber is behind the writer, in messages.
    pub slowest_behind: u64,
    /// Messages the registered subscribers have been overrun by so far, summed: those a
    /// subscriber more than a ring behind can no longer read.
    pub overrun: u64,
    /// MPMC producer and consumer handles holding a participant entry.
    pub participants: u32,
    /// Processes registered as sleeping on the segment's event word (a dead one that never
    /// unregistered stays counted).
    pub waiters: u32,
}

impl Snapshot {
    /// Looks at the segment in `region` with [`Segment::open_any`]'s checks (a region that does
    /// not hold a valid, ready segment is an error) and reads its figures.
    pub fn take<R: Region>(region: R) -> Result<Self, OpenError> {
        let seg = Segment::open_any(region)?;
        let config = seg.config();
        let kind = seg.kind();
        let position = |off| seg.control(off).load(Ordering::Acquire);
        let written = position(PRODUCER_LINE);
        let mut snapshot = Snapshot {
            kind,
            config,
            creator: seg.creator(),
            written,
            taken: None,
            writer: 0,
            reader: 0,
            subscribers: 0,
            slowest_behind: 0,
            overrun: 0,
            participants: 0,
            waiters: seg.waiters(),
        };
        match kind {
            RingKind::Broadcast => {
                snapshot.writer = seg.writer_owner();
                let capacity = u64::from(config.slot_count);
                for i in 0..seg.subscriber_entries() {
                    let (cursor, owner) = seg.subscriber_entry(i);
                    if owner.load(Ordering::Relaxed) == 0 {
                        continue;
                    }
                    let behind = written.saturating_sub(cursor.load(Ordering::Relaxed));
                    snapshot.subscribers += 1;
                    snapshot.slowest_behind = snapshot.slowest_behind.max(behind);
                    snapshot.overrun = snapshot
                        .overrun
                        .saturating_add(behind.saturating_sub(capacity));
                }
            }
            RingKind::Spsc => {
                snapshot.taken = Some(position(CONSUMER_LINE));
                snapshot.writer = seg.claim_word(OFF_WRITER_CLAIM).load(Ordering::Relaxed);
                snapshot.reader = seg.claim_word(CONSUMER_LINE + 8).load(Ordering::Relaxed);
            }
            RingKind::Mpmc => {
                snapshot.taken = Some(position(CONSUMER_LINE));
                snapshot.participants = (0..MPMC_PARTICIPANTS)
                    .filter(|&i| seg.participant(i).0.load(Ordering::Relaxed) != 0)
                    .count() as u32;
            }
        }
        Ok(snapshot)
    }

    /// Messages published and not yet taken (SPSC, MPMC), at most the ring's capacity; for a
    /// broadcast ring, how far the slowest registered subscriber is behind.
    pub fn backlog(&self) -> u64 {
        match self.taken {
            Some(taken) => self
                .written
                .saturating_sub(taken)
                .min(u64::from(self.config.slot_count)),
            None => self.slowest_behind,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::region::LocalRegion;
    use crate::ring::broadcast::{Broadcast, Start};
    use crate::ring::mpmc::Mpmc;
    use crate::segment::{Creator, OpenError, RingConfig};

    fn config() -> RingConfig {
        RingConfig::new(32, 4, "inspect::Msg")
    }

    #[test]
    fn a_broadcast_snapshot_counts_subscribers_lag_and_overrun() {
        let region = LocalRegion::<8192>::new();
        let creator = Creator {
            pid: 42,
            start_time: 9,
        };
        let ring = Broadcast::create_with_subscribers(&region, config(), creator, 4).unwrap();
        let mut w = ring.writer(5).unwrap();
        let mut fast = ring.reader(Start::Next);
        assert!(fast.register(6));
        let mut slow = ring.reader(Start::Next);
        assert!(slow.register(7));
        let _unregistered = ring.reader(Start::Next);
        for i in 0..6u8 {
            let _ = w.try_send(&[i]).unwrap();
        }
        let mut buf = [0u8; 32];
        while fast.try_recv(&mut buf).is_ok() {}
        let seen = Snapshot::take(&region).unwrap();
        assert_eq!(seen.kind, RingKind::Broadcast);
        assert_eq!((seen.creator.pid, seen.creator.start_time), (42, 9));
        assert_eq!((seen.written, seen.taken, seen.writer), (6, None, 5));
        assert_eq!(seen.subscribers, 2);
        // `slow` has read nothing of 6 messages on a ring of 4: 2 are gone for it.
        assert_eq!(
            (seen.slowest_behind, seen.overrun, seen.backlog()),
            (6, 2, 6)
        );
    }

    #[test]
    fn spsc_and_mpmc_snapshots_show_both_positions_and_the_claims() {
        let region = LocalRegion::<8192>::new();
        let ring = Mpmc::create(&region, config(), Creator::default()).unwrap();
        let tx = ring.producer(3).unwrap();
        let rx = ring.consumer(4).unwrap();
        for i in 0..3u8 {
            let _ = tx.try_send(&[i]).unwrap();
        }
        let mut buf = [0u8; 32];
        rx.try_recv(&mut buf).unwrap();
        let seen = Snapshot::take(&region).unwrap();
        assert_eq!(
            (seen.kind, seen.written, seen.taken),
            (RingKind::Mpmc, 3, Some(1))
        );
        assert_eq!((seen.participants, seen.backlog(), seen.writer), (2, 2, 0));
    }

    #[test]
    fn regions_without_a_ready_segment_are_errors() {
        let region = LocalRegion::<4096>::new();
        assert_eq!(Snapshot::take(&region), Err(OpenError::Uninitialised));
        let mut garbage = LocalRegion::<4096>::new();
        garbage.write_at(0, &[0xAB; 512]);
        assert!(Snapshot::take(&garbage).is_err());
    }
}
