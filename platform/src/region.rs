//! Mapped segments as `ringwire_core` regions, and the bridge from a core segment's event word
//! to the platform's [`Waiter`](crate::wait::Waiter).
//!
//! One OS segment may hold several core segments side by side (REQ/REP keeps its request and
//! reply rings in one object): a [`SubRegion`] is a 64-byte-aligned window of a
//! [`SharedSegment`] that keeps the mapping alive.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

use ringwire_core::region::{REGION_ALIGN, Region};

use crate::segment::SharedSegment;

// SAFETY: the mapping is page-aligned (≥ REGION_ALIGN), valid for `len()` bytes until the last
// clone of the Arc inside drops it, never moved or resized, and this crate never makes Rust
// references to its bytes (only atomics, via `atomic_u32_at` and core's `Mem`).
unsafe impl Region for SharedSegment {
    fn base(&self) -> NonNull<u8> {
        self.segment().base()
    }
    fn len(&self) -> usize {
        self.segment().len()
    }
}

/// A window `[offset, offset + len)` of a shared segment, usable as a region.
#[derive(Clone, Debug)]
pub struct SubRegion {
    segment: SharedSegment,
    offset: usize,
    len: usize,
}

impl SubRegion {
    /// The window, if it lies inside the segment and `offset` is a multiple of 64.
    pub fn new(segment: SharedSegment, offset: usize, len: usize) -> Option<Self> {
        let end = offset.checked_add(len)?;
        if end > segment.len() || !offset.is_multiple_of(REGION_ALIGN) {
            return None;
        }
        Some(Self {
            segment,
            offset,
            len,
        })
    }

    /// The whole segment this window is part of.
    pub fn segment(&self) -> &SharedSegment {
        &self.segment
    }
}

// SAFETY: `offset..offset+len` was checked to lie inside the mapping, which the held
// `SharedSegment` keeps alive and fixed; `offset` is a multiple of REGION_ALIGN and the mapping
// base is page-aligned, so the window's base is REGION_ALIGN-aligned.
unsafe impl Region for SubRegion {
    fn base(&self) -> NonNull<u8> {
        // SAFETY: `offset <= segment.len()`, so the result stays inside (or one past) the
        // mapping and cannot be null.
        unsafe { self.segment.base().add(self.offset) }
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// The event word of a core segment, as the `AtomicU32` the [`Waiter`](crate::wait::Waiter)s
/// take. Borrowed from `segment`, whose region keeps the word mapped.
pub fn event_word<R: Region>(segment: &ringwire_core::segment::Segment<R>) -> &AtomicU32 {
    let addr = segment.event_word_addr();
    // SAFETY: `event_word_addr` points at the 4-byte-aligned event word inside the segment's
    // header, which create/open checked lies within the region; the region stays mapped for as
    // long as `segment` is borrowed; the word is only ever accessed atomically by every party
    // (core's `Mem` uses the same `from_ptr` view, portable-atomic's AtomicU32 has u32 layout).
    unsafe { AtomicU32::from_ptr(addr.as_ptr()) }
}

// Sharing a region between processes is only sound with lock-free atomics (an emulated atomic
// only excludes threads of one process); every host this crate builds for has them.
const _: () = assert!(ringwire_core::sync::SHARED_ATOMICS_LOCK_FREE);
