//! The signal doorbell: a tiny shared-memory segment per node, so that a node on the same
//! machine signals another without a hop through the service and without a system call
//! unless the target sleeps.
//!
//! Layout (all little-endian words, accessed only atomically, each at one width):
//!
//! ```text
//! offset size field
//!   0     4   magic, DOORBELL_MAGIC (written last, Release, by the owner)
//!   4     4   version, 1
//!   8     4   service instance (the JOIN reply's count: nodes of one service share it)
//!  12     4   owner's process id
//!  16     8   owner's process start time (platform liveness stamp; 0 unknown)
//!  24     8   rung: signals rung so far (signallers add 1 each)
//!  32     8   taken: signals the owner has taken so far
//!  40     4   waiters: 1 while the owner may sleep on `word`
//!  44     4   word: the futex word; a signaller that sees `waiters != 0` bumps it and wakes
//!  48     4   closed: 1 once the owner closed the doorbell
//!  52     4   id length (1 to 64)
//!  56    64   the owner's node id
//! ```
//!
//! Protocol (Dekker-style, like the ring segments' event word): a signaller adds 1 to
//! `rung` (Release), issues a SeqCst fence and reads `waiters`; only if it is not zero does
//! it bump `word` (Release) and futex-wake it. The owner stores 1 in `waiters`, issues a
//! SeqCst fence, reads `word` and then `rung`, and sleeps on `word` only if `rung` did not
//! move; so either the signaller sees the waiter, or the owner sees the rung. The owner
//! takes `rung - taken_before` signals at a time: that difference is the coalesced count.
//!
//! The segment's name is [`segment_name`]: `rwsig-`, the service instance (8 hex digits),
//! `-` and the FNV-1a 64 of the node id (16 hex digits); the id inside is checked on open,
//! so a hash collision only costs the service hop.

use crate::segment::fnv1a64;

/// The doorbell's magic ("RWDB").
pub const DOORBELL_MAGIC: u32 = 0x4244_5752;
/// Layout version.
pub const DOORBELL_VERSION: u32 = 1;
/// Bytes the doorbell needs.
pub const DOORBELL_LEN: usize = 120;

#[allow(missing_docs)]
pub mod off {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 4;
    pub const INSTANCE: usize = 8;
    pub const PID: usize = 12;
    pub const START: usize = 16;
    pub const RUNG: usize = 24;
    pub const TAKEN: usize = 32;
    pub const WAITERS: usize = 40;
    pub const WORD: usize = 44;
    pub const CLOSED: usize = 48;
    pub const ID_LEN: usize = 52;
    pub const ID: usize = 56;
}

/// Length of [`segment_name`].
pub const NAME_LEN: usize = 31;

/// The doorbell segment's name for node `id` of service `instance`.
pub fn segment_name(instance: u32, id: &[u8]) -> [u8; NAME_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = [0u8; NAME_LEN];
    n[..6].copy_from_slice(b"rwsig-");
    for i in 0..8 {
        n[6 + i] = HEX[((instance >> (28 - 4 * i)) & 0xf) as usize];
    }
    n[14] = b'-';
    let h = fnv1a64(id);
    for i in 0..16 {
        n[15 + i] = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
    }
    n
}

/// The name of node `id`'s shared-memory inbox (an MPMC ring other nodes on the machine
/// push direct data into): [`segment_name`] with `rwinb-` in front instead of `rwsig-`.
pub fn inbox_name(instance: u32, id: &[u8]) -> [u8; NAME_LEN] {
    let mut n = segment_name(instance, id);
    n[..6].copy_from_slice(b"rwinb-");
    n
}

/// The name of the shared-memory broadcast ring in which node `emitter` writes its emissions
/// of event `event` (hub-less services): `rwevt-`, the instance, `-` and the FNV-1a 64 of the
/// event id's length (one byte), the event id and the emitter's id.
pub fn event_ring_name(instance: u32, event: &[u8], emitter: &[u8]) -> [u8; NAME_LEN] {
    let mut key = [0u8; 1 + 2 * crate::events::wire::MAX_ID];
    let (e, n) = (
        event.len().min(crate::events::wire::MAX_ID),
        emitter.len().min(crate::events::wire::MAX_ID),
    );
    key[0] = e as u8;
    key[1..1 + e].copy_from_slice(&event[..e]);
    key[1 + e..1 + e + n].copy_from_slice(&emitter[..n]);
    let mut name = segment_name(instance, &key[..1 + e + n]);
    name[..6].copy_from_slice(b"rwevt-");
    name
}

/// How many signals the owner takes when it finds `rung` after having taken `taken`
/// (wrapping: the words are written by other processes and may hold anything).
pub const fn to_take(rung: u64, taken: u64) -> u64 {
    rung.wrapping_sub(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_fixed_length_and_differ_by_instance_and_id() {
        let a = segment_name(0x0123_abcd, b"cam");
        assert_eq!(&a[..15], b"rwsig-0123abcd-");
        assert!(a.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'));
        assert_ne!(a, segment_name(0x0123_abce, b"cam"));
        assert_ne!(a, segment_name(0x0123_abcd, b"cap"));
        assert_eq!(&inbox_name(0x0123_abcd, b"cam")[..6], b"rwinb-");
        assert_eq!(inbox_name(0x0123_abcd, b"cam")[6..], a[6..]);
        let r = event_ring_name(0x0123_abcd, b"frame", b"cam");
        assert_eq!(&r[..15], b"rwevt-0123abcd-");
        // The split between event and emitter matters.
        assert_ne!(r, event_ring_name(0x0123_abcd, b"framec", b"am"));
        assert_ne!(r, event_ring_name(0x0123_abcd, b"frame", b"cap"));
    }

    #[test]
    fn the_layout_fits_and_is_aligned() {
        assert_eq!(off::ID + crate::events::wire::MAX_ID, DOORBELL_LEN);
        assert_eq!(off::RUNG % 8 + off::TAKEN % 8 + off::START % 8, 0);
        assert_eq!(to_take(5, 2), 3);
        assert_eq!(to_take(1, u64::MAX), 2);
    }
}
