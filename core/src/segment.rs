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
/// Version of the layout described in `docs/segment-layout.md`.
pub const LAYOUT_VERSION: u32 = 1;
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
}

impl RingConfig {
    /// A configuration for messages named `type_name` (any stable name, e.g. `"robot::Pose/1"`).
    pub const fn new(slot_size: u32, slot_count: u32, type_name: &str) -> Self {
        Self {
            slot_size,
            slot_count,
            type_hash: fnv1a64(type_name.as_bytes()),
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

    /// Bytes a region needs for this ring, or `None` for an invalid configuration.
    pub const fn required_len(&self) -> Option<usize> {
        if !self.is_valid() {
            return None;
        }
        match self.slot_stride().checked_mul(self.slot_count as usize) {
            Some(slots) => SLOTS_OFFSET.checked_add(slots),
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
    TypeMismatch,
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
            Self::TypeMismatch => f.write_str("segment carries another message type"),
        }
    }
}

impl core::error::Error for CreateError {}
impl core::error::Error for OpenError {}

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
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Held { owner } => write!(f, "claimed by owner {owner}"),
            Self::InvalidOwner => f.write_str("owner id 0 is reserved"),
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
        if !config.is_valid_for(kind) {
            return Err(CreateError::InvalidConfig);
        }
        let needed = config.required_len().ok_or(CreateError::InvalidConfig)?;
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
        mem.u64(OFF_MAGIC).store(MAGIC, r);
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
        for off in (OFF_WRITER_CLAIM..SLOTS_OFFSET).step_by(4) {
            mem.u32(off).store(0, r);
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
        // SYNC: Release pairs with the Acquire load of `state` in `open`: an opener that sees READY
        // sees every field above.
        mem.u32(OFF_STATE).store(STATE_READY, Ordering::Release);
        trace!("segment created");
        Ok(Self {
            region,
            kind,
            config,
        })
    }

    /// Opens the `kind` segment in `region`, checking it against `expected`.
    pub fn open(region: R, kind: RingKind, expected: RingConfig) -> Result<Self, OpenError> {
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
        if found_kind != kind {
            return Err(OpenError::KindMismatch { found: kind_word });
        }
        if found.slot_size != expected.slot_size || found.slot_count != expected.slot_count {
            return Err(OpenError::GeometryMismatch {
                slot_size: found.slot_size,
                slot_count: found.slot_count,
            });
        }
        if found.type_hash != expected.type_hash {
            return Err(OpenError::TypeMismatch);
        }
        // `found` is valid, so `required_len` is `Some`.
        let needed = found.required_len().unwrap_or(usize::MAX);
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
    pub(crate) fn reclaim(&self, off: usize, is_alive: impl Fn(u32) -> bool) -> bool {
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
    /// liveness check); returns whether it was freed.
    pub fn reclaim_writer(&self, is_alive: impl Fn(u32) -> bool) -> bool {
        self.reclaim(OFF_WRITER_CLAIM, is_alive)
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

    /// The 64-bit control word at `off` (one of the ring-control lines).
    pub(crate) fn control(&self, off: usize) -> &crate::sync::AtomicU64 {
        self.mem().u64(off)
    }
}

impl<R: Region> fmt::Debug for Segment<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("kind", &self.kind)
            .field("config", &self.config)
            .finish()
    }
}
