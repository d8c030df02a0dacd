//! Safe recovery of ring claims left by crashed processes.
//!
//! The core's claim recovery ([`Spsc::reclaim_producer`], [`Spsc::reclaim_consumer`],
//! [`Segment::reclaim_writer`](ringwire_core::segment::Segment::reclaim_writer),
//! [`Mpmc::recover`]) is `unsafe`: a liveness predicate that calls a live owner dead hands its
//! slot to a second party, and two `&mut [u8]` then alias one slot. This module supplies the
//! predicate the operating system can make exact, and safe wrappers around those calls. The
//! verdict is about one segment, so every function here takes the ring (or its region) and
//! finds the segment through it ([`SegmentBacked`]): a verdict can never be asked of the wrong
//! file.
//!
//! # What the verdict rests on
//!
//! ringwire's sockets record their **process id** as the owner id of every claim, slot and
//! table entry ([`owner_id`]).
//!
//! **Linux: kernel-released locks.** Each process that opens a segment holds, for as long as it
//! maps it, an open-file-description read lock (`fcntl(F_OFD_SETLK)`) on one byte of the shm
//! file at an offset derived from its pid (`OWNER_LOCKS + pid`, past the data of any ordinary
//! segment; locks may lie past the end of a file). It takes the lock when it opens the
//! segment, so before it can record its pid anywhere in it, and the lock lives on the open file
//! description that the mapping keeps open: the kernel drops it when the mapping is dropped or
//! the process ends, however it ends (`kill -9` included), and after the memory is unmapped.
//! [`owner_is_dead`] calls owner `P` dead exactly when **nobody** holds a lock on `P`'s byte of
//! this segment's file (an `F_OFD_GETLK` write-lock probe, through a second open of the file
//! that holds no locks, reports no conflict). Then no process that recorded `P` in this
//! segment still maps it, so none can touch the claim's bytes again — the contract of the
//! core's recovery.
//!
//! This is exact where a pid check cannot be:
//!
//! - **Pid reuse** does not matter: a recycled pid belongs to a process that never opened this
//!   segment, so it holds no lock on it. (If it did open it, it is a live ringwire process
//!   using that id in this segment, and "alive" is the right answer.)
//! - **Pid namespaces** do not matter: the verdict never looks a pid up in the checker's
//!   namespace; it asks the kernel about locks on the shared file, which every process sharing
//!   the segment (through a common `/dev/shm`) sees, whichever namespace it runs in.
//! - **A forged id** (a faulty or hostile process writing pid 1, or the pid of some unrelated
//!   live process, into a claim) holds no lock on this file, so it is dead, and the claim is
//!   reclaimed by the next party that wants it.
//!
//! Every doubt errs towards "alive": a probe the kernel does not answer, or a mapping that could
//! not open its probe, calls every owner alive. A claim that stays wedged is a liveness problem
//! (the socket's periodic check keeps trying), a claim freed under a live owner is undefined
//! behaviour.
//!
//! **macOS** has no open-file-description locks: an owner is dead when `kill(pid, 0)` fails
//! with `ESRCH`. A reused pid reads as alive there (the safe direction), and so does a forged
//! pid of a live process: such a claim stays until that process ends. **Windows**: the
//! process exists but has exited (`GetExitCodeProcess` is not `STILL_ACTIVE`), or `OpenProcess`
//! fails with `ERROR_INVALID_PARAMETER` (no such pid); any other failure counts as alive. On
//! both, processes that share a segment must share a pid namespace.
//!
//! # What it does not cover
//!
//! - **A same-user process that takes the locks itself.** Any process that can open the
//!   segment can lock any byte of it, and so keep any id "alive" — but only while it runs: no
//!   claim outlives every process that holds its lock.
//! - **Owner ids that are not this mapping's.** The wrappers trust ringwire's convention that
//!   every claim in the segment was made with an id from [`owner_id`] of a mapping of that
//!   segment. Code that claims roles or slots of the same segment through `ringwire-core` with
//!   other ids must not call them.
//! - **A process of layout version 2** holds no locks; the layout version was bumped to 3 so
//!   that it can never open a segment of a process that judges by locks, or the reverse.
//!
//! **Unattributed MPMC claims** (a producer or consumer killed between its position CAS and its
//! owner store) are settled by the ring's participant table with the same verdict: the slot is
//! released only if no table entry of a process that may be alive announces its position
//! (`ringwire_core::ring::mpmc`, "The participant table"). A claimer stopped there by `SIGSTOP`
//! or a debugger is alive, so it keeps its slot however long it stays stopped; no time-out is
//! involved.
#![allow(unsafe_code)]

use ringwire_core::region::Region;
use ringwire_core::ring::broadcast::Broadcast;
use ringwire_core::ring::mpmc::{Mpmc, Recovery};
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::ClaimError;

use crate::region::SubRegion;
use crate::segment::SharedSegment;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::segment::SharedSegment {}
    impl Sealed for crate::region::SubRegion {}
}

/// A region inside a mapped OS segment, which it names: the file whose liveness locks judge
/// the owners of its claims. Sealed: only [`SharedSegment`] and [`SubRegion`], whose bytes are
/// that segment's, implement it (an implementation naming another segment would make the
/// verdicts unsound).
pub trait SegmentBacked: Region + sealed::Sealed {
    /// The OS segment whose mapping holds this region.
    fn os_segment(&self) -> &SharedSegment;
}

impl SegmentBacked for SharedSegment {
    fn os_segment(&self) -> &SharedSegment {
        self
    }
}

impl SegmentBacked for SubRegion {
    fn os_segment(&self) -> &SharedSegment {
        self.segment()
    }
}

/// The owner id this process records in claims and slots of `region`'s segment: its pid (on
/// Linux, the pid whose liveness lock the mapping holds: [`Segment::owner_id`](crate::Segment::owner_id)).
pub fn owner_id<R: SegmentBacked>(region: &R) -> u32 {
    region.os_segment().owner_id()
}

/// Whether the owner of id `owner` in `region`'s segment is certainly gone: it can never touch
/// the segment again. See the module docs for what the verdict rests on; every doubt answers
/// `false`, and so do 0 ("nobody") and this mapping's own id.
pub fn owner_is_dead<R: SegmentBacked>(region: &R, owner: u32) -> bool {
    let segment = region.os_segment();
    owner != 0 && owner != segment.owner_id() && imp::certainly_dead(segment, owner)
}

/// The liveness predicate the core's recovery functions take (`!owner_is_dead`).
pub fn owner_may_be_alive<R: SegmentBacked>(region: &R, owner: u32) -> bool {
    !owner_is_dead(region, owner)
}

/// Frees an SPSC ring's producer claim if its holder is gone; returns whether it did.
pub fn reclaim_spsc_producer<R: SegmentBacked>(ring: &Spsc<R>) -> bool {
    let region = ring.segment().region();
    // SAFETY: `owner_may_be_alive` returns false only for an owner that can never touch this
    // segment again (module docs: on Linux no mapping of it holds the owner's lock, elsewhere
    // the pid cannot run again), and owner ids in ringwire's segments are those of
    // `owner_id`, so the freed claim's holder can never touch the ring again — the contract of
    // `reclaim_producer`. The verdict is about the segment the ring lives in (`SegmentBacked`).
    unsafe { ring.reclaim_producer(|owner| owner_may_be_alive(region, owner)) }
}

/// Frees an SPSC ring's consumer claim if its holder is gone; returns whether it did.
pub fn reclaim_spsc_consumer<R: SegmentBacked>(ring: &Spsc<R>) -> bool {
    let region = ring.segment().region();
    // SAFETY: as in `reclaim_spsc_producer`.
    unsafe { ring.reclaim_consumer(|owner| owner_may_be_alive(region, owner)) }
}

/// Frees a broadcast ring's writer claim if its holder is gone; returns whether it did. (Safe
/// in the core too, since a broadcast writer owns no bytes exclusively; here for symmetry, with
/// the same predicate.)
pub fn reclaim_broadcast_writer<R: SegmentBacked>(ring: &Broadcast<R>) -> bool {
    let region = ring.segment().region();
    ring.reclaim_writer(|owner| owner_may_be_alive(region, owner))
}

/// Unwedges an MPMC ring: tombstones positions claimed by producers that are gone, frees slots
/// held by consumers that are gone, releases unattributed claims whose claimer the participant
/// table shows gone, and frees the table entries of those gone (module docs). The recovery lock
/// is taken with this process's [`owner_id`].
pub fn recover_mpmc<R: SegmentBacked>(ring: &Mpmc<R>) -> Result<Recovery, ClaimError> {
    let region = ring.segment().region();
    // SAFETY: as in `reclaim_spsc_producer` for attributed claims, participant entries (whose
    // owner ids come from `owner_id` too) and the recovery lock, taken with this mapping's own
    // id (whose lock it holds); `release_unattributed` is false, so an unattributed claim is
    // released only on the participant table's verdict, which rests on the same predicate.
    unsafe {
        ring.recover(
            owner_id(region),
            |owner| owner_may_be_alive(region, owner),
            false,
        )
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use crate::segment::SharedSegment;
    use crate::segment::locks::Family;

    /// Nobody holds `owner`'s lock on the segment's file (module docs).
    pub(super) fn certainly_dead(segment: &SharedSegment, owner: u32) -> bool {
        segment.lock_held(Family::Owner, owner) == Some(false)
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    use rustix::io::Errno;
    use rustix::process::{Pid, test_kill_process};

    use crate::segment::SharedSegment;

    pub(super) fn certainly_dead(_segment: &SharedSegment, pid: u32) -> bool {
        match i32::try_from(pid).ok().and_then(Pid::from_raw) {
            None => true,
            Some(pid) => matches!(test_kill_process(pid), Err(Errno::SRCH)),
        }
    }
}

#[cfg(windows)]
mod imp {
    use crate::segment::SharedSegment;

    pub(super) fn certainly_dead(_segment: &SharedSegment, pid: u32) -> bool {
        super::super::liveness::windows_certainly_dead(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::SegmentName;
    use crate::segment::Segment;

    fn segment(tag: &str) -> SharedSegment {
        let name = SegmentName::new(&format!("claims-{tag}-{}", std::process::id())).unwrap();
        SharedSegment::new(Segment::create(&name, 4096).unwrap())
    }

    #[test]
    fn this_mapping_and_nobody_are_not_dead() {
        let seg = segment("self");
        assert_eq!(owner_id(&seg), std::process::id());
        assert!(!owner_is_dead(&seg, owner_id(&seg)));
        assert!(
            !owner_is_dead(&seg, 0),
            "0 is \"nobody\", never reported dead"
        );
        let window = SubRegion::new(seg.clone(), 64, 64).unwrap();
        assert!(!owner_is_dead(&window, owner_id(&window)));
    }

    /// The lock rule: an id is alive exactly while some open of the segment's file holds its
    /// lock, whoever the pid belongs to (or whether it exists).
    #[cfg(target_os = "linux")]
    #[test]
    fn an_id_is_alive_exactly_while_an_open_of_the_file_holds_its_lock() {
        use crate::segment::locks::{Family, take};
        use std::os::fd::AsFd;
        let seg = segment("lock");
        let second = SharedSegment::new(Segment::open(seg.name()).unwrap());
        let path = format!("/dev/shm/{}", seg.name().os_name().trim_start_matches('/'));
        let holder = rustix::fs::open(
            path,
            rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        let id = 4_000_000;
        assert!(owner_is_dead(&seg, id), "nobody holds {id}'s lock yet");
        take(holder.as_fd(), Family::Owner, id).unwrap();
        assert!(!owner_is_dead(&seg, id));
        assert!(!owner_is_dead(&second, id));
        assert_eq!(seg.lock_held(Family::Creator, id), Some(false));
        drop(holder);
        assert!(
            owner_is_dead(&seg, id),
            "closing the file released the lock"
        );
        // Forged ids: pid 1, this process's parent (both alive, neither maps this segment)
        // and ids no pid can have.
        assert!(owner_is_dead(&seg, 1));
        assert!(owner_is_dead(&seg, std::os::unix::process::parent_id()));
        assert!(owner_is_dead(&seg, u32::MAX));
        // This process's own id, seen through its second mapping (another open description):
        // held by both, and still by the first when the second is gone.
        let me = std::process::id();
        assert_eq!(second.lock_held(Family::Owner, me), Some(true));
        drop(second);
        assert_eq!(seg.lock_held(Family::Owner, me), Some(true));
        assert_eq!(
            seg.lock_held(Family::Creator, me),
            Some(true),
            "the creator's own lock"
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_exited_child_is_dead() {
        let seg = segment("child");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(
            owner_is_dead(&seg, pid),
            "a reaped pid is dead (until reused)"
        );
    }
}
