//! Finding ringwire segments and removing those whose creator died: the library side of
//! `ringwire ls` and `ringwire clean`.
//!
//! Segments are found by their OS name prefix (`/dev/shm/ringwire.*` on Linux; macOS and
//! Windows do not list shm objects, and Windows removes a mapping with its last handle anyway).
//! Each one is mapped and its header read: magic, then the creator's pid and start time, which
//! [`liveness`](crate::liveness) checks. Only a segment with a valid header and a recorded,
//! dead creator is removed; one still being created (no creator yet), a foreign object that
//! happens to share the prefix, or one that cannot be opened is left alone and reported.

use std::sync::atomic::Ordering;

use ringwire_core::segment::{HEADER_LEN, MAGIC, STATE_INITIALISING, STATE_READY, STATE_UNINIT};

/// Offset of the header's state word (docs/segment-layout.md).
const STATE_OFFSET: usize = 12;

use crate::liveness::ProcessStamp;
use crate::name::SegmentName;
use crate::segment::{Segment, SegmentError, SharedSegment, atomic_u32_at, list_names};

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
}

/// Reads the header of segment `name`.
pub fn inspect(name: &SegmentName) -> Result<SegmentInfo, SegmentError> {
    let segment = SharedSegment::new(Segment::open(name)?);
    let mut info = SegmentInfo {
        name: name.clone(),
        len: segment.len(),
        creator: None,
        status: Status::Foreign,
    };
    if segment.len() < HEADER_LEN {
        return Ok(info);
    }
    let word = |off| atomic_u32_at(&segment, off).map_or(0, |w| w.load(Ordering::Relaxed));
    // The state word (offset 12, docs/segment-layout.md) first:
    // SYNC: Acquire pairs with the creator's Release store of READY in core's
    // `Segment::create`, so the magic and creator it wrote before are visible below.
    let state = atomic_u32_at(&segment, STATE_OFFSET).map_or(0, |w| w.load(Ordering::Acquire));
    let magic = u64::from(word(0)) | (u64::from(word(4)) << 32);
    info.status = match state {
        STATE_READY if magic == MAGIC => {
            let creator = ringwire_core::segment::Segment::<SharedSegment>::creator_of(&segment);
            match creator {
                Some(c) if c.pid != 0 => {
                    let stamp = ProcessStamp {
                        pid: c.pid,
                        start_time: c.start_time,
                    };
                    info.creator = Some(stamp);
                    if stamp.is_alive() {
                        Status::Alive
                    } else {
                        Status::Dead
                    }
                }
                // A ready segment without a recorded creator (e.g. made by firmware tools):
                // nobody to check, so never removed.
                _ => Status::Initialising,
            }
        }
        STATE_INITIALISING => Status::Initialising,
        STATE_UNINIT if magic == 0 => Status::Initialising,
        _ => Status::Foreign,
    };
    Ok(info)
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
