//! The segment header: what a region holds before its ring, and how a segment is created and
//! opened.
//!
//! A segment is a region laid out as a fixed 128-byte header, two 64-byte ring-control cache lines
//! (producer side, consumer side) and `slot_count` slots of `slot_stride` bytes. Every field is a
//! fixed-width integer at a fixed offset (no pointers, so every process may map the segment at a
//! different address) and is read and written only atomically. The exact layout, with offsets and
//! a golden byte dump that a test checks, is in `docs/segment-layout.md`.
//!
//! **Creation** is a handshake on the `state` word: the creator moves it `UNINIT → INITIALISING`
//! with a compare-and-swap (so two creators cannot both initialise), writes every field, then
//! stores `READY` with Release. An opener loads `state` with Acquire and refuses anything but
//! `READY` with a *retryable* [`OpenError`] (`Uninitialised`, `Initialising`), so the platform can
//! wait with a bound and consult the creator's liveness ([`Creator`]: pid and process start time,
//! plain integers, since core never calls the OS).
//!
//! **Opening** trusts nothing: magic, layout version, a fingerprint (FNV-1a over the geometry
//! fields, catching a corrupt header) and then the expected ring kind, geometry and message type
//! (a 64-bit FNV-1a hash of the type's name) are checked, each mismatch with its own error.
//!
//! **Wake-ups** use a 32-bit event word (futex-able) plus a waiter count, so a sender only needs a
//! wake system call when somebody sleeps: see [`Segment::register_waiter`].
//!
//! The design follows iceoryx2's "static config + dynamic config" split of a shared segment, shrunk
//! to fixed fields.

use core::fmt;
use core::ptr::NonNull;

use crate::region::{Mem, REGION_ALIGN, Region};
use crate::ring::Notify;
use crate::ring::slot::Slot;
use crate::sync::{AtomicU32, Ordering, fence};

/// `b"RINGWIRE"` read as a little-endian `u64`: the first eight bytes of every segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RINGWIRE");
/// Version of the layout described in `docs/segment-layout.md` (2: the broadcast subscriber
/// table and the MPMC participant table after the slots; 3: the same bytes, but every process
/// that records its id in the segment holds the platform's liveness lock for it — on Linux an
/// open-file-description lock on the segment file — so a process of an older version, which
/// holds none, never shares a segment with one that judges liveness by those locks).
pub const LAYOUT_VERSION: u32 = 3;
/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 128;
/// Offset of the producer-side ring-control cache line.
pub const PRODUCER_LINE: usize = 128;
/// Offset of the consumer-side ring-control cache line.
pub const CONSUMER_LINE: usize = 192;
/// Offset of the first slot.
pub const SLOTS_OFFSET: usize = 256;
/// Bytes of a slot's own header (sequence word, length, owner) before its payload.
pub const SLOT_HEADER_LEN: usize = 16;
/// Largest payload a slot may hold (16 MiB).
pub const MAX_SLOT_SIZE: u32 = 1 << 24;
/// Largest number of slots a ring may have.
pub const MAX_SLOT_COUNT: u32 = 1 << 20;
/// Entries of an MPMC segment's participant (intent) table, after its slots: at most this many
/// producer and consumer handles may exist on one MPMC ring at a time (64; 4 in loom models, to
/// keep their state space small). See `docs/segment-layout.md`.
pub const MPMC_PARTICIPANTS: usize = if cfg!(loom) { 4 } else { 64 };
/// Bytes of one participant entry: a cache line each, so that a participant's intent store (one
/// per send or receive) stays on a line no other participant writes.
pub const PARTICIPANT_STRIDE: usize = 64;
/// Value of a participant's intent word when it is not claiming a position.
pub const NO_INTENT: u64 = u64::MAX;

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_STATE: usize = 12;
pub(crate) const OFF_KIND: usize = 16;
pub(crate) const OFF_SLOT_SIZE: usize = 20;
pub(crate) const OFF_SLOT_COUNT: usize = 24;
pub(crate) const OFF_SLOT_STRIDE: usize = 28;
pub(crate) const OFF_TYPE_HASH: usize = 32;
pub(crate) const OFF_FINGERPRINT: usize = 40;
pub(crate) const OFF_CREATOR_PID: usize = 48;
pub(crate) const OFF_CREATOR_START: usize = 56;
pub(crate) const OFF_WRITER_CLAIM: usize = 64;
pub(crate) const OFF_EVENT: usize = 68;
pub(crate) const OFF_WAITERS: usize = 72;
pub(crate) const OFF_TYPE_NAME: usize = 80;

// --- Broadcast subscriber table (layout version 2) -------------------------------------------
/// Header word (`u32`) holding the number of subscriber entries after the slots (broadcast only;
/// 0: no table).
pub(crate) const OFF_SUBSCRIBER_ENTRIES: usize = 76;
/// Bytes of one subscriber entry (a cache line: `cursor` `u64` at 0, `owner` `u32` at 8, a
/// reserved `u32` at 12, the rest never accessed), so readers updating their cursors never share
/// a line.
pub const SUBSCRIBER_ENTRY_LEN: usize = 64;
/// Largest subscriber table a segment may declare.
pub const MAX_SUBSCRIBER_ENTRIES: u32 = 1024;
// ----------------------------------------------------------------------------------------------

/// Bytes of the message type's name kept in the header (longer names are cut).
pub const TYPE_NAME_LEN: usize = 48;

/// Every word of the header's tail (up to the type name) and the two control lines, as
/// `(offset, width in bytes)`: the width each is accessed with for its whole life, zeroing
/// included.
const ZEROED_WORDS: &[(usize, usize)] = &[
    (OFF_WRITER_CLAIM, 4),
    (OFF_EVENT, 4),
    (OFF_WAITERS, 4),
    (OFF_SUBSCRIBER_ENTRIES, 4),
    // Producer line: its position word, then reserved u64 words.
    (PRODUCER_LINE, 8),
    (PRODUCER_LINE + 8, 8),
    (PRODUCER_LINE + 16, 8),
    (PRODUCER_LINE + 24, 8),
    (PRODUCER_LINE + 32, 8),
    (PRODUCER_LINE + 40, 8),
    (PRODUCER_LINE + 48, 8),
    (PRODUCER_LINE + 56, 8),
    // Consumer line: its position word, the consumer claim / recovery lock, a reserved u32,
    // then reserved u64 words.
    (CONSUMER_LINE, 8),
    (CONSUMER_LINE + 8, 4),
    (CONSUMER_LINE + 12, 4),
    (CONSUMER_LINE + 16, 8),
    (CONSUMER_LINE + 24, 8),
    (CONSUMER_LINE + 32, 8),
    (CONSUMER_LINE + 40, 8),
    (CONSUMER_LINE + 48, 8),
    (CONSUMER_LINE + 56, 8),
];

/// Value of the `state` word: the region has not been touched by a creator.
pub const STATE_UNINIT: u32 = 0;
/// Value of the `state` word: a creator is writing the header.
pub const STATE_INITIALISING: u32 = 1;
/// Value of the `state` word: the segment is ready to open.
pub const STATE_READY: u32 = 2;

/// 64-bit FNV-1a hash of `bytes` (used for message-type names and the header fingerprint).
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// Which ring a segment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u32)]
pub enum RingKind {
    /// One writer, many readers with private cursors ([`crate::ring::broadcast`]).
    Broadcast = 1,
    /// One producer, one consumer ([`crate::ring::spsc`]).
    Spsc = 2,
    /// Many producers, competing consumers ([`crate::ring::mpmc`]).
    Mpmc = 3,
}

impl RingKind {
    fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Broadcast),
            2 => Some(Self::Spsc),
            3 => Some(Self::Mpmc),
            _ => None,
        }
    }
}

/// A message type's name as the header keeps it: its first [`TYPE_NAME_LEN`] bytes, for error
/// messages ("segment carries type X, expected Y"). The check itself compares
/// [`RingConfig::type_hash`]; the name read from a segment is untrusted and only displayed.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TypeName {
    bytes: [u8; TYPE_NAME_LEN],
}

impl TypeName {
    /// No name (segments of older writers, and untyped ones).
    pub const EMPTY: TypeName = TypeName {
        bytes: [0; TYPE_NAME_LEN],
    };

    /// The first [`TYPE_NAME_LEN`] bytes of `name` (up to a NUL, which cannot be kept).
    pub const fn new(name: &str) -> Self {
        let src = name.as_bytes();
        let mut bytes = [0u8; TYPE_NAME_LEN];
        let mut i = 0;
        while i < src.len() && i < TYPE_NAME_LEN && src[i] != 0 {
            bytes[i] = src[i];
            i += 1;
        }
        TypeName { bytes }
    }

    /// The name: its bytes up to the first NUL, and of those the longest valid UTF-8 prefix
    /// (a cut multi-byte character, or garbage from a corrupt segment, is left out).
    pub fn as_str(&self) -> &str {
        let len = self
            .bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(TYPE_NAME_LEN);
        let bytes = &self.bytes[..len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// Whether there is no name.
    pub fn is_empty(&self) -> bool {
        self.bytes[0] == 0
    }

    /// Whether the name may have been cut to [`TYPE_NAME_LEN`] bytes.
    pub fn is_full(&self) -> bool {
        self.bytes[TYPE_NAME_LEN - 1] != 0
    }
}

impl fmt::Debug for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.is_full() {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// Geometry and message type of a ring: what a creator lays out and an opener expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RingConfig {
    /// Payload capacity of one slot in bytes (1 ..= [`MAX_SLOT_SIZE`]).
    pub slot_size: u32,
    /// Number of slots: a power of two, 1 ..= [`MAX_SLOT_COUNT`] (MPMC: at least 2).
    pub slot_count: u32,
    /// [`fnv1a64`] of the message type's name, so two programs that disagree on the type refuse
    /// to talk.
    pub type_hash: u64,
    /// The name itself (cut to [`TYPE_NAME_LEN`] bytes), kept in the header for error messages.
    pub type_name: TypeName,
}

impl RingConfig {
    /// A configuration for messages named `type_name` (any stable name, e.g. `"robot::Pose/1"`).
    pub const fn new(slot_size: u32, slot_count: u32, type_name: &str) -> Self {
        Self {
            slot_size,
            slot_count,
            type_hash: fnv1a64(type_name.as_bytes()),
            type_name: TypeName::new(type_name),
        }
    }

    /// Whether the geometry suits a ring of `kind` (MPMC needs at least 2 slots: with one, a
    /// published sequence would equal the next lap's free sequence).
    pub const fn is_valid_for(&self, kind: RingKind) -> bool {
        self.is_valid() && !(matches!(kind, RingKind::Mpmc) && self.slot_count < 2)
    }

    /// Whether the geometry is within limits.
    pub const fn is_valid(&self) -> bool {
        self.slot_size >= 1
            && self.slot_size <= MAX_SLOT_SIZE
            && self.slot_count >= 1
            && self.slot_count <= MAX_SLOT_COUNT
            && self.slot_count.is_power_of_two()
    }

    /// Distance between two slots: header plus payload, rounded up to a cache line.
    pub const fn slot_stride(&self) -> usize {
        (SLOT_HEADER_LEN + self.slot_size as usize).next_multiple_of(REGION_ALIGN)
    }

    /// Bytes a region needs for a ring of `kind` (MPMC adds its participant table after the
    /// slots), or `None` for an invalid configuration.
    pub const fn required_len_for(&self, kind: RingKind) -> Option<usize> {
        match self.required_len() {
            Some(len) if matches!(kind, RingKind::Mpmc) => {
                len.checked_add(MPMC_PARTICIPANTS * PARTICIPANT_STRIDE)
            }
            other => other,
        }
    }

    /// Bytes a region needs for the header, control lines and slots, or `None` for an invalid
    /// configuration: the whole segment of a broadcast or SPSC ring. An MPMC ring needs
    /// [`required_len_for`](Self::required_len_for)`(RingKind::Mpmc)`.
    pub const fn required_len(&self) -> Option<usize> {
        if !self.is_valid() {
            return None;
        }
        match self.slot_stride().checked_mul(self.slot_count as usize) {
            Some(slots) => SLOTS_OFFSET.checked_add(slots),
            None => None,
        }
    }

    /// Bytes a broadcast region needs for this ring plus a table of `subscribers` entries
    /// ([`SUBSCRIBER_ENTRY_LEN`] each) after the slots, or `None` for an invalid configuration.
    pub const fn required_len_with_subscribers(&self, subscribers: u32) -> Option<usize> {
        match self.required_len() {
            Some(len) => len.checked_add(subscribers as usize * SUBSCRIBER_ENTRY_LEN),
            None => None,
        }
    }

    fn fingerprint(&self, kind: RingKind) -> u64 {
        let mut bytes = [0u8; 28];
        bytes[0..4].copy_from_slice(&LAYOUT_VERSION.to_le_bytes());
        bytes[4..8].copy_from_slice(&(kind as u32).to_le_bytes());
        bytes[8..12].copy_from_slice(&self.slot_size.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.slot_count.to_le_bytes());
        bytes[16..20].copy_from_slice(&(self.slot_stride() as u32).to_le_bytes());
        bytes[20..28].copy_from_slice(&self.type_hash.to_le_bytes());
        fnv1a64(&bytes)
    }
}

/// Who created a segment, for liveness checks by the platform (0/0 when unknown, e.g. firmware).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Creator {
    /// Process id of the creator.
    pub pid: u32,
    /// The creator process's start time in any platform unit (tells a reused pid apart).
    pub start_time: u64,
}

/// Why a segment could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CreateError {
    /// The configuration breaks the limits of [`RingConfig::is_valid_for`].
    InvalidConfig,
    /// The region is smaller than the ring needs.
    RegionTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes the region has.
        len: usize,
    },
    /// The region's base is not aligned to [`REGION_ALIGN`] (a broken `Region` implementation).
    Misaligned,
    /// The region's state word is not `UNINIT`: somebody created (or is creating) a segment here.
    AlreadyInitialised {
        /// The state word found.
        state: u32,
    },
}

/// Why a segment could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OpenError {
    /// The region is too small for the header, or for the ring its header describes.
    TooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes the region has.
        len: usize,
    },
    /// The region's base is not aligned to [`REGION_ALIGN`] (a broken `Region` implementation).
    Misaligned,
    /// Nobody has started creating the segment yet (retryable).
    Uninitialised,
    /// The creator is still writing the header (retryable; consult [`Segment::creator_of`]).
    Initialising,
    /// The region does not start with [`MAGIC`]: not a ringwire segment, or a missing header.
    BadMagic,
    /// The segment was written by another layout version.
    VersionMismatch {
        /// Version found in the header.
        found: u32,
    },
    /// The header is inconsistent (bad state word, fingerprint mismatch, impossible geometry).
    CorruptHeader,
    /// The segment holds another kind of ring.
    KindMismatch {
        /// Kind word found in the header.
        found: u32,
    },
    /// Slot size or slot count differ from what the opener expects.
    GeometryMismatch {
        /// Slot size found.
        slot_size: u32,
        /// Slot count found.
        slot_count: u32,
    },
    /// The message type hash differs from what the opener expects.
    TypeMismatch {
        /// The type hash found in the header.
        found_hash: u64,
        /// The type name found in the header (untrusted, for messages only).
        found: TypeName,
        /// The type name the opener expected.
        expected: TypeName,
    },
}

impl OpenError {
    /// Whether waiting and opening again may succeed (the segment is being created).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Uninitialised | Self::Initialising)
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidConfig => f.write_str("invalid ring configuration"),
            Self::RegionTooSmall { needed, len } => {
                write!(f, "region of {len} bytes is too small, ring needs {needed}")
            }
            Self::Misaligned => f.write_str("region base is not 64-byte aligned"),
            Self::AlreadyInitialised { state } => {
                write!(f, "region already holds a segment (state {state})")
            }
        }
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooSmall { needed, len } => {
                write!(
                    f,
                    "region of {len} bytes is too small, segment needs {needed}"
                )
            }
            Self::Misaligned => f.write_str("region base is not 64-byte aligned"),
            Self::Uninitialised => f.write_str("segment not initialised yet"),
            Self::Initialising => f.write_str("segment is being initialised"),
            Self::BadMagic => f.write_str("not a ringwire segment (bad magic)"),
            Self::VersionMismatch { found } => {
                write!(
                    f,
                    "segment layout version {found}, expected {LAYOUT_VERSION}"
                )
            }
            Self::CorruptHeader => f.write_str("segment header is corrupt"),
            Self::KindMismatch { found } => write!(f, "segment holds ring kind {found}"),
            Self::GeometryMismatch {
                slot_size,
                slot_count,
            } => {
                write!(
                    f,
                    "segment has {slot_count} slots of {slot_size} bytes, expected otherwise"
                )
            }
            Self::TypeMismatch {
                found_hash,
                found,
                expected,
            } => {
                if found.is_empty() {
                    write!(
                        f,
                        "segment carries an unnamed message type ({found_hash:#018x})"
                    )?;
                } else {
                    write!(f, "segment carries message type `{found}`")?;
                }
                write!(f, ", expected `{expected}`")
            }
        }
    }
}

impl core::error::Error for CreateError {}
impl core::error::Error for OpenError {}

/// A region's header as [`Segment::peek`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Peek {
    /// Ready, with the magic in place, created by this process (0/0 when unknown).
    Ready(Creator),
    /// A creator is writing the header (its identity may not be written yet: 0/0).
    Initialising(Creator),
    /// Nobody has started creating a segment here (state and magic zero).
    Uninitialised,
    /// Not a ringwire segment: too small, misaligned, bad magic or an unknown state.
    Foreign,
}

/// Why a claim (writer or consumer role, recovery lock) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClaimError {
    /// Another owner holds the claim (ask the platform whether it is alive, then reclaim).
    Held {
        /// The current holder's owner id.
        owner: u32,
    },
    /// Owner id 0 is reserved for "nobody".
    InvalidOwner,
    /// Every entry of an MPMC ring's participant table is taken by a live handle.
    TooManyParticipants {
        /// The table's size ([`MPMC_PARTICIPANTS`]).
        max: u32,
    },
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held { owner } => write!(f, "claimed by owner {owner}"),
            Self::InvalidOwner => f.write_str("owner id 0 is reserved"),
            Self::TooManyParticipants { max } => write!(
                f,
                "too many producers/consumers on this endpoint (at most {max} at a time)"
            ),
        }
    }
}

impl core::error::Error for ClaimError {}

/// A validated segment over a region: header access, claims and wake-up bookkeeping.
///
/// Rings wrap it; the platform uses it for the event word and liveness fields.
pub struct Segment<R: Region> {
    region: R,
    kind: RingKind,
    config: RingConfig,
    /// Broadcast subscriber entries after the slots (read once when opened, bounds-checked).
    subscribers: u32,
}

impl<R: Region> Segment<R> {
    /// Lays out a new `kind` segment over `region` (whose state word must be `UNINIT`, e.g. freshly
    /// zeroed) and marks it ready.
    pub fn create(
        region: R,
        kind: RingKind,
        config: RingConfig,
        creator: Creator,
    ) -> Result<Self, CreateError> {
        Self::create_with_subscribers(region, kind, config, creator, 0)
    }

    /// [`create`](Self::create) with a table of `subscribers` entries after the slots (broadcast
    /// only, at most [`MAX_SUBSCRIBER_ENTRIES`]; the region needs
    /// [`RingConfig::required_len_with_subscribers`] bytes).
    pub fn create_with_subscribers(
        region: R,
        kind: RingKind,
        config: RingConfig,
        creator: Creator,
        subscribers: u32,
    ) -> Result<Self, CreateError> {
        if !config.is_valid_for(kind)
            || (subscribers != 0 && kind != RingKind::Broadcast)
            || subscribers > MAX_SUBSCRIBER_ENTRIES
        {
            return Err(CreateError::InvalidConfig);
        }
        let needed = config
            .required_len_for(kind)
            .and_then(|len| len.checked_add(subscribers as usize * SUBSCRIBER_ENTRY_LEN))
            .ok_or(CreateError::InvalidConfig)?;
        let mem = Mem::new(&region).ok_or(CreateError::Misaligned)?;
        if mem.len() < needed {
            return Err(CreateError::RegionTooSmall {
                needed,
                len: mem.len(),
            });
        }
        // SYNC: Acquire pairs with nothing older (the region is fresh); the CAS only makes the
        // creator unique. The Release store of READY below publishes every field written here.
        if let Err(state) = mem.u32(OFF_STATE).compare_exchange(
            STATE_UNINIT,
            STATE_INITIALISING,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            return Err(CreateError::AlreadyInitialised { state });
        }
        let r = Ordering::Relaxed;
        // SYNC: Release pairs with the Acquire load of the magic in `peek`: a peeker that sees
        // the magic also sees the CAS above (state no longer UNINIT).
        mem.u64(OFF_MAGIC).store(MAGIC, Ordering::Release);
        mem.u32(OFF_VERSION).store(LAYOUT_VERSION, r);
        mem.u32(OFF_KIND).store(kind as u32, r);
        mem.u32(OFF_SLOT_SIZE).store(config.slot_size, r);
        mem.u32(OFF_SLOT_COUNT).store(config.slot_count, r);
        mem.u32(OFF_SLOT_STRIDE)
            .store(config.slot_stride() as u32, r);
        mem.u64(OFF_TYPE_HASH).store(config.type_hash, r);
        mem.u64(OFF_FINGERPRINT).store(config.fingerprint(kind), r);
        mem.u32(OFF_CREATOR_PID).store(creator.pid, r);
        mem.u32(OFF_CREATOR_PID + 4).store(0, r);
        mem.u64(OFF_CREATOR_START).store(creator.start_time, r);
        // The control words and reserved words, each zeroed at the one width it is ever accessed
        // with (docs/segment-layout.md): mixed-size atomic accesses to one location are not
        // allowed by the memory model (Miri rejects them). The type name (80..128) is written
        // below, as the u64 words it is always read as.
        for &(off, width) in ZEROED_WORDS {
            if width == 8 {
                mem.u64(off).store(0, r);
            } else {
                mem.u32(off).store(0, r);
            }
        }
        for (i, word) in config.type_name.bytes.chunks_exact(8).enumerate() {
            let word = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8]));
            mem.u64(OFF_TYPE_NAME + 8 * i).store(word, r);
        }
        let stride = config.slot_stride();
        for i in 0..config.slot_count as usize {
            let slot = SLOTS_OFFSET + i * stride;
            // MPMC slots start with sequence = index (Vyukov); the other rings with 0.
            let seq = if kind == RingKind::Mpmc { i as u64 } else { 0 };
            mem.u64(slot).store(seq, r);
            mem.u32(slot + 8).store(0, r);
            mem.u32(slot + 12).store(0, r);
        }
        mem.u32(OFF_SUBSCRIBER_ENTRIES).store(subscribers, r);
        let table = SLOTS_OFFSET + config.slot_count as usize * stride;
        for i in 0..subscribers as usize {
            let entry = table + i * SUBSCRIBER_ENTRY_LEN;
            mem.u64(entry).store(0, r);
            mem.u32(entry + 8).store(0, r);
            mem.u32(entry + 12).store(0, r);
        }
        if kind == RingKind::Mpmc {
            for i in 0..MPMC_PARTICIPANTS {
                let entry = participants_offset(&config) + i * PARTICIPANT_STRIDE;
                mem.u32(entry).store(0, r);
                mem.u32(entry + 4).store(0, r);
                mem.u64(entry + 8).store(NO_INTENT, r);
            }
        }
        // SYNC: Release pairs with the Acquire load of `state` in `open`: an opener that sees READY
        // sees every field above.
        mem.u32(OFF_STATE).store(STATE_READY, Ordering::Release);
        trace!("segment created");
        Ok(Self {
            region,
            kind,
            config,
            subscribers,
        })
    }

    /// Opens the `kind` segment in `region`, checking it against `expected`.
    pub fn open(region: R, kind: RingKind, expected: RingConfig) -> Result<Self, OpenError> {
        let segment = Self::open_any(region)?;
        let found = segment.config;
        if segment.kind != kind {
            return Err(OpenError::KindMismatch {
                found: segment.kind as u32,
            });
        }
        if found.slot_size != expected.slot_size || found.slot_count != expected.slot_count {
            return Err(OpenError::GeometryMismatch {
                slot_size: found.slot_size,
                slot_count: found.slot_count,
            });
        }
        if found.type_hash != expected.type_hash {
            return Err(OpenError::TypeMismatch {
                found_hash: found.type_hash,
                found: found.type_name,
                expected: expected.type_name,
            });
        }
        Ok(segment)
    }

    /// Opens whatever ring segment `region` holds, with every check of [`open`](Self::open)
    /// that does not need an expectation (state, magic, version, a consistent header and
    /// geometry, the region's length): for tools that look at segments they did not make
    /// (`ringwire ls`, [`Snapshot`](crate::inspect::Snapshot)). Its [`kind`](Self::kind) and [`config`](Self::config)
    /// say what it holds.
    pub fn open_any(region: R) -> Result<Self, OpenError> {
        let mem = Mem::new(&region).ok_or(OpenError::Misaligned)?;
        if mem.len() < SLOTS_OFFSET {
            return Err(OpenError::TooSmall {
                needed: SLOTS_OFFSET,
                len: mem.len(),
            });
        }
        let r = Ordering::Relaxed;
        // SYNC: Acquire pairs with the Release store of READY in `create`.
        let state = mem.u32(OFF_STATE).load(Ordering::Acquire);
        let magic_ok = mem.u64(OFF_MAGIC).load(r) == MAGIC;
        match state {
            STATE_READY => {}
            STATE_UNINIT if !magic_ok => return Err(OpenError::Uninitialised),
            STATE_INITIALISING => return Err(OpenError::Initialising),
            _ if !magic_ok => return Err(OpenError::BadMagic),
            _ => return Err(OpenError::CorruptHeader),
        }
        if !magic_ok {
            return Err(OpenError::BadMagic);
        }
        let version = mem.u32(OFF_VERSION).load(r);
        if version != LAYOUT_VERSION {
            return Err(OpenError::VersionMismatch { found: version });
        }
        let kind_word = mem.u32(OFF_KIND).load(r);
        let found = RingConfig {
            slot_size: mem.u32(OFF_SLOT_SIZE).load(r),
            slot_count: mem.u32(OFF_SLOT_COUNT).load(r),
            type_hash: mem.u64(OFF_TYPE_HASH).load(r),
            type_name: {
                let mut name = TypeName::EMPTY;
                for (i, word) in name.bytes.chunks_exact_mut(8).enumerate() {
                    word.copy_from_slice(&mem.u64(OFF_TYPE_NAME + 8 * i).load(r).to_ne_bytes());
                }
                name
            },
        };
        let Some(found_kind) = RingKind::from_u32(kind_word) else {
            return Err(OpenError::CorruptHeader);
        };
        if !found.is_valid_for(found_kind)
            || mem.u32(OFF_SLOT_STRIDE).load(r) as usize != found.slot_stride()
            || mem.u64(OFF_FINGERPRINT).load(r) != found.fingerprint(found_kind)
        {
            return Err(OpenError::CorruptHeader);
        }
        let kind = found_kind;
        let subscribers = mem.u32(OFF_SUBSCRIBER_ENTRIES).load(r);
        if subscribers > MAX_SUBSCRIBER_ENTRIES || (subscribers != 0 && kind != RingKind::Broadcast)
        {
            return Err(OpenError::CorruptHeader);
        }
        // `found` is valid and the table bounded, so this is `Some`.
        let needed = found
            .required_len_for(found_kind)
            .and_then(|len| len.checked_add(subscribers as usize * SUBSCRIBER_ENTRY_LEN))
            .unwrap_or(usize::MAX);
        if mem.len() < needed {
            return Err(OpenError::TooSmall {
                needed,
                len: mem.len(),
            });
        }
        Ok(Self {
            region,
            kind,
            config: found,
            subscribers,
        })
    }

    /// The creator recorded in a region's header, whatever its state (for liveness checks while
    /// an open keeps failing with [`OpenError::Initialising`]); `None` if the region cannot hold a
    /// header.
    pub fn creator_of(region: &R) -> Option<Creator> {
        let mem = Mem::new(region)?;
        if mem.len() < HEADER_LEN {
            return None;
        }
        Some(Creator {
            pid: mem.u32(OFF_CREATOR_PID).load(Ordering::Relaxed),
            start_time: mem.u64(OFF_CREATOR_START).load(Ordering::Relaxed),
        })
    }

    /// The layout version recorded in a region's header, whatever its state (`None` if the
    /// region cannot hold a header). Untrusted like every header field: for choosing how to
    /// judge a segment's creator (the platform's liveness rules differ between versions).
    pub fn layout_version_of(region: &R) -> Option<u32> {
        let mem = Mem::new(region)?;
        if mem.len() < HEADER_LEN {
            return None;
        }
        Some(mem.u32(OFF_VERSION).load(Ordering::Relaxed))
    }

    /// What a region's header says about its state and creator, without validating a ring: for
    /// tools that list segments and remove those whose creator died (the platform's cleanup).
    /// Reads the state word (Acquire), the magic and the creator, each at its own width.
    pub fn peek(region: &R) -> Peek {
        let Some(mem) = Mem::new(region) else {
            return Peek::Foreign;
        };
        if mem.len() < HEADER_LEN {
            return Peek::Foreign;
        }
        // SYNC: Acquire pairs with the Release store of READY in `create`, so the magic and
        // creator written before it are visible.
        let mut state = mem.u32(OFF_STATE).load(Ordering::Acquire);
        // SYNC: Acquire pairs with the Release store of the magic in `create`.
        let magic = mem.u64(OFF_MAGIC).load(Ordering::Acquire);
        if state == STATE_UNINIT && magic != 0 {
            // The state read may be older than the magic (a creator just started): having seen
            // its magic, this load sees at least its CAS to INITIALISING.
            state = mem.u32(OFF_STATE).load(Ordering::Acquire);
        }
        let creator = Creator {
            pid: mem.u32(OFF_CREATOR_PID).load(Ordering::Relaxed),
            start_time: mem.u64(OFF_CREATOR_START).load(Ordering::Relaxed),
        };
        match state {
            STATE_READY if magic == MAGIC => Peek::Ready(creator),
            STATE_INITIALISING => Peek::Initialising(creator),
            STATE_UNINIT if magic == 0 => Peek::Uninitialised,
            _ => Peek::Foreign,
        }
    }

    /// The region this segment lives in.
    pub fn region(&self) -> &R {
        &self.region
    }

    /// The ring kind.
    pub fn kind(&self) -> RingKind {
        self.kind
    }

    /// The ring's geometry and type.
    pub fn config(&self) -> RingConfig {
        self.config
    }

    /// The creator recorded in the header.
    pub fn creator(&self) -> Creator {
        Self::creator_of(&self.region).unwrap_or_default()
    }

    pub(crate) fn mem(&self) -> Mem<'_> {
        // Alignment was checked by `create`/`open` and the region contract keeps `base` fixed.
        Mem::new(&self.region).unwrap_or_else(|| unreachable!("region base moved"))
    }

    /// Address of the 32-bit event word, for the platform's futex wait/wake.
    ///
    /// Senders increment it (only when [`Notify::Wake`] is returned); see
    /// [`register_waiter`](Self::register_waiter) for the sleeping protocol.
    pub fn event_word_addr(&self) -> NonNull<u32> {
        // OFF_EVENT < HEADER_LEN <= len, checked by create/open.
        self.region
            .base()
            .map_addr(|a| a.saturating_add(OFF_EVENT))
            .cast()
    }

    /// Current value of the event word.
    pub fn event_value(&self) -> u32 {
        // SYNC: Acquire pairs with the Release increment in `notify`.
        self.mem().u32(OFF_EVENT).load(Ordering::Acquire)
    }

    /// Announces a reader about to sleep; returns the event value to sleep on.
    ///
    /// Protocol (no lost wake-ups): `let seen = seg.register_waiter();` then try to receive
    /// once more; only if that finds nothing, futex-wait while the event word equals `seen`
    /// (bounded by a timeout); then [`unregister_waiter`](Self::unregister_waiter). A sender
    /// publishes, then (`notify`) issues a SeqCst fence and reads the waiter count: either it sees
    /// this registration and bumps the event word (so the wait returns), or the reader's re-check
    /// after its own SeqCst fence sees the message.
    pub fn register_waiter(&self) -> u32 {
        let mem = self.mem();
        mem.u32(OFF_WAITERS).fetch_add(1, Ordering::SeqCst);
        // SYNC: SeqCst fence pairs with the SeqCst fence in `notify` (Dekker-style).
        fence(Ordering::SeqCst);
        // SYNC: Acquire pairs with the Release increment in `notify`.
        mem.u32(OFF_EVENT).load(Ordering::Acquire)
    }

    /// Undoes one [`register_waiter`](Self::register_waiter). (A process that dies while
    /// registered leaves the count high: senders then wake needlessly, which costs a syscall but
    /// never blocks anyone.)
    pub fn unregister_waiter(&self) {
        let waiters = self.mem().u32(OFF_WAITERS);
        // Saturate at zero: the count is untrusted and must not wrap to "everyone sleeps".
        let _ = waiters.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Number of registered waiters (diagnostics).
    pub fn waiters(&self) -> u32 {
        self.mem().u32(OFF_WAITERS).load(Ordering::Relaxed)
    }

    /// Wakes whoever sleeps on the event word after this side made progress the other side waits
    /// for: called by every send and commit after publishing (readers wait for messages), and by
    /// a consumer after it handed a slot back (a producer may wait for room on a full SPSC or
    /// MPMC ring). The same Dekker-style protocol either way: a SeqCst fence, then the waiter
    /// count; if anybody registered, the event word is bumped and [`Notify::Wake`] tells the
    /// caller to futex-wake it.
    pub fn notify_space(&self) -> Notify {
        self.notify()
    }

    /// Called by every send/commit after publishing: bumps the event word if anybody waits.
    pub(crate) fn notify(&self) -> Notify {
        let mem = self.mem();
        // SYNC: SeqCst fence pairs with the one in `register_waiter`.
        fence(Ordering::SeqCst);
        if mem.u32(OFF_WAITERS).load(Ordering::Relaxed) == 0 {
            return Notify::Nobody;
        }
        // SYNC: Release pairs with the Acquire loads of the event word in `register_waiter` and
        // `event_value`.
        mem.u32(OFF_EVENT).fetch_add(1, Ordering::Release);
        Notify::Wake
    }

    pub(crate) fn claim_word(&self, off: usize) -> &AtomicU32 {
        self.mem().u32(off)
    }

    /// Takes the claim word at `off` for `owner`.
    pub(crate) fn claim(&self, off: usize, owner: u32) -> Result<(), ClaimError> {
        if owner == 0 {
            return Err(ClaimError::InvalidOwner);
        }
        // SYNC: Acquire pairs with the Release in `release`, so the new holder sees its
        // predecessor's last writes.
        match self
            .claim_word(off)
            .compare_exchange(0, owner, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            Err(holder) => Err(ClaimError::Held { owner: holder }),
        }
    }

    /// Gives the claim at `off` back if `owner` still holds it.
    pub(crate) fn release(&self, off: usize, owner: u32) {
        // SYNC: Release pairs with the Acquire in `claim`.
        let _ =
            self.claim_word(off)
                .compare_exchange(owner, 0, Ordering::Release, Ordering::Relaxed);
    }

    /// Frees the claim at `off` if its holder is dead by `is_alive`; returns whether it was freed.
    ///
    /// # Safety
    ///
    /// `is_alive(owner)` returns `false` only for an owner that can never touch the ring again
    /// (see [`Segment::reclaim_writer`]).
    #[allow(unsafe_code)] // an `unsafe fn`: its contract is the liveness predicate's exactness
    pub(crate) unsafe fn reclaim(&self, off: usize, is_alive: impl Fn(u32) -> bool) -> bool {
        let word = self.claim_word(off);
        let holder = word.load(Ordering::Relaxed);
        if holder == 0 || is_alive(holder) {
            return false;
        }
        word.compare_exchange(holder, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The owner holding the single-writer claim (0 when free).
    pub fn writer_owner(&self) -> u32 {
        self.claim_word(OFF_WRITER_CLAIM).load(Ordering::Relaxed)
    }

    /// Frees the single-writer claim if its holder is dead according to `is_alive` (a platform
    /// liveness check); returns whether it was freed. The next claimant then writes the ring.
    ///
    /// For a broadcast ring prefer the safe
    /// [`Broadcast::reclaim_writer`](crate::ring::broadcast::Broadcast::reclaim_writer); for an
    /// SPSC ring the platform's safe wrapper of
    /// [`Spsc::reclaim_producer`](crate::ring::spsc::Spsc::reclaim_producer).
    ///
    /// # Safety
    ///
    /// `is_alive(owner)` must return `false` only for an owner none of whose handles (in any
    /// thread or process) can ever touch this ring again: a crashed process, not a stopped or
    /// slow one, and never an owner id that is still or again in use. On an SPSC segment a wrong
    /// `false` gives a second producer a `&mut [u8]` loan of a slot the first still writes.
    #[allow(unsafe_code)] // an `unsafe fn`: its contract is the liveness predicate's exactness
    pub unsafe fn reclaim_writer(&self, is_alive: impl Fn(u32) -> bool) -> bool {
        // SAFETY: the caller's contract is this function's contract.
        unsafe { self.reclaim(OFF_WRITER_CLAIM, is_alive) }
    }

    /// The slot for ring position `pos` (reduced modulo the power-of-two slot count).
    pub(crate) fn slot(&self, pos: u64) -> Slot<'_> {
        let index = (pos & u64::from(self.config.slot_count - 1)) as usize;
        let off = SLOTS_OFFSET + index * self.config.slot_stride();
        Slot::new(self.mem(), off, self.config.slot_size as usize)
    }

    /// Number of slots.
    pub(crate) fn capacity(&self) -> u64 {
        u64::from(self.config.slot_count)
    }

    /// Number of broadcast subscriber entries after the slots (0: no table).
    pub fn subscriber_entries(&self) -> u32 {
        self.subscribers
    }

    /// Subscriber entry `i` (< [`subscriber_entries`](Self::subscriber_entries)): its cursor
    /// and owner words.
    pub(crate) fn subscriber_entry(&self, i: u32) -> (&crate::sync::AtomicU64, &AtomicU32) {
        debug_assert!(i < self.subscribers);
        let table = SLOTS_OFFSET + self.config.slot_count as usize * self.config.slot_stride();
        let off = table + i as usize * SUBSCRIBER_ENTRY_LEN;
        let mem = self.mem();
        (mem.u64(off), mem.u32(off + 8))
    }

    /// Owner and intent words of MPMC participant entry `i` (< [`MPMC_PARTICIPANTS`]).
    pub(crate) fn participant(&self, i: usize) -> (&AtomicU32, &crate::sync::AtomicU64) {
        let off = participants_offset(&self.config) + i * PARTICIPANT_STRIDE;
        let mem = self.mem();
        (mem.u32(off), mem.u64(off + 8))
    }

    /// The 64-bit control word at `off` (one of the ring-control lines).
    pub(crate) fn control(&self, off: usize) -> &crate::sync::AtomicU64 {
        self.mem().u64(off)
    }
}

/// Offset of an MPMC segment's participant table: right after its slots.
fn participants_offset(config: &RingConfig) -> usize {
    SLOTS_OFFSET + config.slot_count as usize * config.slot_stride()
}

impl<R: Region> fmt::Debug for Segment<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("kind", &self.kind)
            .field("config", &self.config)
            .finish()
    }
}
