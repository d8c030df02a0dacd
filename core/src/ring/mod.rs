//! Lock-free rings of fixed-size slots over a [`Region`](crate::region::Region).
//!
//! Three rings share one slot format and one segment header ([`crate::segment`]):
//!
//! - [`broadcast`]: one writer, any number of readers with private cursors; the writer never
//!   waits, an overrun reader learns exactly how many messages it lost (PUB/SUB).
//! - [`spsc`]: one producer, one consumer (request and reply channels).
//! - [`mpmc`]: many producers, competing consumers, a bounded work queue (PUSH/PULL).
//!
//! "One ring, two handles": each ring is a value over a region, from which a producer handle and
//! consumer handles are taken. Each handle offers copy-in/copy-out (`try_send(&[u8])`,
//! `try_recv(&mut [u8]) -> len`) and zero-copy access: a writer *loans* a slot's bytes in place,
//! fills them and commits a length (dropping the loan publishes nothing); a reader *borrows* a
//! slot in place.
//!
//! # Slot format
//!
//! Every slot is `slot_stride` bytes (a multiple of 64): an 8-byte sequence word whose meaning
//! depends on the ring, a 4-byte payload length, a 4-byte owner id (MPMC recovery), then
//! `slot_size` payload bytes. See `docs/segment-layout.md`.
//!
//! # Wake-ups
//!
//! Every send and commit returns a [`Notify`]: [`Notify::Wake`] means a reader registered as a
//! waiter and the caller must futex-wake the segment's event word
//! ([`Segment::event_word_addr`](crate::segment::Segment::event_word_addr)). Readers register
//! around sleeping with [`Segment::register_waiter`](crate::segment::Segment::register_waiter).
//!
//! # Untrusted contents
//!
//! A region may be corrupted by a faulty or hostile process. Every position and length read from
//! it is bounded before use (slot indices are masked, lengths compared with the slot size, position
//! differences compared with the capacity) and every retry loop has a fixed bound, so corrupt
//! contents yield [`RecvError::Corrupt`]/[`SendError::Corrupt`], never UB, a panic or a hang.
//!
//! # Trust boundary for payloads
//!
//! Broadcast payloads are only ever accessed through relaxed atomic words (the writer's loan
//! included), so nothing another process writes into them can make ringwire's accesses unsound.
//! SPSC and MPMC slots are lent as `&mut [u8]`/`&[u8]` to the one party the ring protocol gives
//! them to; that is sound as long as every process mapping the segment writes only the slots it
//! owns — the documented trust boundary of `docs/trust-model.md`. A process that breaks it
//! races the borrower's reads (undefined behaviour in the borrower, which ringwire cannot
//! contain); a consumer that must not trust its producers should copy (`try_recv`) and validate
//! the copy.

use core::fmt;

pub mod broadcast;
pub mod mpmc;
pub(crate) mod slot;
pub mod spsc;

/// Offset of the sequence word within a slot.
pub(crate) const SLOT_SEQ: usize = 0;
/// Offset of the payload length within a slot.
pub(crate) const SLOT_LEN: usize = 8;
/// Offset of the owner id within a slot.
pub(crate) const SLOT_OWNER: usize = 12;
/// Offset of the payload within a slot.
pub(crate) const SLOT_DATA: usize = 16;

/// What a sender must do after publishing.
#[must_use = "a registered waiter sleeps until the caller wakes the event word"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Notify {
    /// Nobody sleeps on the event word: no system call needed.
    Nobody,
    /// At least one reader registered as a waiter: futex-wake the event word.
    Wake,
}

impl Notify {
    /// Whether the caller must wake the event word.
    pub fn must_wake(self) -> bool {
        self == Self::Wake
    }
}

/// Why a message was not sent (or a loan not granted or committed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SendError {
    /// No free slot (SPSC, MPMC): retry after a consumer made progress.
    Full,
    /// The message is longer than a slot.
    TooLarge {
        /// Length of the message.
        len: usize,
        /// Payload capacity of a slot.
        capacity: usize,
    },
    /// The ring's shared state is inconsistent (a corrupt or hostile region).
    Corrupt,
    /// Lost the race for a slot too many times in a row (MPMC under extreme contention): retry.
    Busy,
}

/// Why nothing was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum RecvError {
    /// No message is available.
    Empty,
    /// Broadcast only: the writer overwrote this many messages before this reader got them; the
    /// reader now points at the oldest message still held, so the next receive continues there.
    Lagged(u64),
    /// The ring's shared state or the slot is inconsistent (a corrupt or hostile region). An MPMC
    /// consumer discards the slot; the other rings stay where they are.
    Corrupt,
    /// The caller's buffer is shorter than the message, which stays in the ring.
    BufferTooSmall {
        /// Length of the message.
        needed: usize,
    },
    /// Lost the race for a slot too many times in a row (MPMC under extreme contention): retry.
    Busy,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("ring is full"),
            Self::TooLarge { len, capacity } => {
                write!(f, "message of {len} bytes exceeds slot capacity {capacity}")
            }
            Self::Corrupt => f.write_str("ring state is corrupt"),
            Self::Busy => f.write_str("ring is contended, retry"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("ring is empty"),
            Self::Lagged(n) => write!(f, "reader lagged behind and lost {n} messages"),
            Self::Corrupt => f.write_str("ring state is corrupt"),
            Self::BufferTooSmall { needed } => {
                write!(f, "buffer too small, message has {needed} bytes")
            }
            Self::Busy => f.write_str("ring is contended, retry"),
        }
    }
}

impl core::error::Error for SendError {}
impl core::error::Error for RecvError {}

/// Checks a message length against a slot's capacity.
pub(crate) fn check_len(len: usize, capacity: usize) -> Result<(), SendError> {
    if len > capacity {
        Err(SendError::TooLarge { len, capacity })
    } else {
        Ok(())
    }
}
