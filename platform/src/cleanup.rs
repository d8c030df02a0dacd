//! Finding ringwire segments and removing those whose creator died: the library side of
//! `ringwire ls` and `ringwire clean`.
//!
//! Segments are found by their OS name prefix (`/dev/shm/ringwire.*` on Linux; macOS and
//! Windows do not list shm objects, and Windows removes a mapping with its last handle anyway).
//! Each one is mapped and its header read: magic, then the creator's pid and start time, which
//! [`creator_alive`] judges. Only a segment with a valid header and a recorded, dead creator is
//! removed; one still being created (no creator yet), a foreign object that happens to share the
//! prefix, or one that cannot be opened is left alone and reported. An event node's signal
//! doorbell (no ring header; its own magic) is listed with its owner, judged by pid and start
//! time, and removed once that process is gone.
//!
//! **The creator's verdict.** On Linux, a creator holds an open-file-description lock on the
//! byte `CREATOR_LOCKS + pid` of the segment file from before it writes the header until its
//! mapping is gone (taken by [`Segment::create`]; the same kernel-released locks as
//! [`crate::claims`], in a range of their own so that only the process that created this very
//! file can hold one). The creator is alive exactly while some open of the file holds that
//! lock: a reused pid, a pid from another pid namespace or a forged creator field (pid 1, or
//! any live process that did not create the file) is dead, and the next `bind` replaces the
//! segment. A segment of layout version 2, whose creator held no locks, and every segment on
//! macOS and Windows are judged by pid and start time ([`ProcessStamp::is_alive`]), as before.

use ringwire_core::segment::Peek;

use crate::liveness::ProcessStamp;
use crate::name::SegmentName;
use crate::segment::{Segment, SegmentError, SharedSegment, list_names};

/// What [`inspect`] found out about a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The creator is running.
    Alive,
    /// The creator is gone: the segment is garbage.
    Dead,
    /// No creator recorded yet (being created right now).
    Initialising,
    /// Not a ringwire segment (bad magic or too small).
    Foreign,
    /// It could not be opened (permissions, vanished, ...).
    Unreadable(String),
}

/// What a segment holds, as far as [`inspect`] can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentKind {
    /// A ring segment (the ringwire segment header).
    Ring,
    /// An event node's signal doorbell (`ringwire_core::events::doorbell`): its owner is the
    /// node's process, judged by pid and start time.
    Doorbell,
    /// Something else under the prefix (never removed).
    Other,
}

/// One segment, as listed by [`list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its name (the part after `shm://`).
    pub name: SegmentName,
    /// Mapped length in bytes (0 if unreadable).
    pub len: usize,
    /// The creator recorded in the header, if any.
    pub creator: Option<ProcessStamp>,
    /// Whether it is in use.
    pub status: Status,
    /// What it holds.
    pub kind: SegmentKind,
}

/// Reads the header of segment `name`.
pub fn inspect(name: &SegmentName) -> Result<SegmentInfo, SegmentError> {
    let segment = SharedSegment::new(Segment::open(name)?);
    let mut info = SegmentInfo {
        name: name.clone(),
        len: segment.len(),
        creator: None,
        status: Status::Foreign,
        kind: SegmentKind::Ring,
    };
    // The core reads the header (state with Acquire, then magic and creator, each at its own
    // width): no second copy of the layout here.
    info.status = match ringwire_core::segment::Segment::<SharedSegment>::peek(&segment) {
        Peek::Ready(c) if c.pid != 0 => {
            let stamp = ProcessStamp {
                pid: c.pid,
                start_time: c.start_time,
            };
            info.creator = Some(stamp);
            if creator_alive(&segment, stamp) {
                Status::Alive
            } else {
                Status::Dead
            }
        }
        // A ready segment without a recorded creator (e.g. made by firmware tools): nobody to
        // check, so never removed.
        Peek::Ready(_) | Peek::Initialising(_) | Peek::Uninitialised => Status::Initialising,
        _ => match doorbell_owner(&segment) {
            Some(owner) => {
                info.kind = SegmentKind::Doorbell;
                info.creator = Some(owner);
                if owner.is_alive() {
                    Status::Alive
                } else {
                    Status::Dead
                }
            }
            None => {
                info.kind = SegmentKind::Other;
                Status::Foreign
            }
        },
    };
    Ok(info)
}

/// The owner recorded in an event node's doorbell, if `segment` is one whose owner finished
/// writing it (magic last, with Release) and named itself.
fn doorbell_owner(segment: &SharedSegment) -> Option<ProcessStamp> {
    use crate::segment::{atomic_u32_at, atomic_u64_at};
    use core::sync::atomic::Ordering;
    use ringwire_core::events::doorbell::{DOORBELL_LEN, DOORBELL_MAGIC, DOORBELL_VERSION, off};
    if segment.len() < DOORBELL_LEN
        || atomic_u32_at(segment, off::MAGIC)?.load(Ordering::Acquire) != DOORBELL_MAGIC
        || atomic_u32_at(segment, off::VERSION)?.load(Ordering::Relaxed) != DOORBELL_VERSION
    {
        return None;
    }
    let pid = atomic_u32_at(segment, off::PID)?.load(Ordering::Relaxed);
    let start_time = atomic_u64_at(segment, off::START)?.load(Ordering::Relaxed);
    (pid != 0).then_some(ProcessStamp { pid, start_time })
}

/// Whether `creator`, the creator recorded in `segment`'s (first) header, may still be
/// running: the module docs say how it is judged. Doubts answer `true`.
pub fn creator_alive(segment: &SharedSegment, creator: ProcessStamp) -> bool {
    #[cfg(target_os = "linux")]
    if ringwire_core::segment::Segment::<SharedSegment>::layout_version_of(segment)
        == Some(ringwire_core::segment::LAYOUT_VERSION)
    {
        return segment.lock_held(crate::segment::locks::Family::Creator, creator.pid)
            != Some(false);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = segment;
    creator.is_alive()
}

/// Every ringwire segment on this machine that this user can see, with its status.
pub fn list() -> Vec<SegmentInfo> {
    list_names()
        .into_iter()
        .map(|name| {
            inspect(&name).unwrap_or_else(|e| SegmentInfo {
                name,
                len: 0,
                creator: None,
                status: Status::Unreadable(e.to_string()),
                kind: SegmentKind::Other,
            })
        })
        .collect()
}

/// Unlinks every segment whose creator is dead; returns those removed. Processes that still
/// map one keep their mapping; the memory is freed when the last one unmaps it.
pub fn clean_dead() -> Vec<SegmentInfo> {
    list()
        .into_iter()
        .filter(|info| info.status == Status::Dead)
        .filter(|info| {
            // Re-check right before unlinking, to narrow the window in which a new creator
            // could have replaced the dead segment under the same name.
            matches!(inspect(&info.name), Ok(again) if again.status == Status::Dead)
                && Segment::unlink(&info.name).is_ok()
        })
        .collect()
}
