//! Safe access to a 32-bit atomic word at an offset inside a mapped segment: what tests and
//! tools use to poke an event word without a full ring layout.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64};

use super::Segment;

/// The `AtomicU32` at byte `offset` of `segment`, if it lies inside and is 4-byte aligned.
pub fn atomic_u32_at(segment: &Segment, offset: usize) -> Option<&AtomicU32> {
    let end = offset.checked_add(4)?;
    if end > segment.len() || !offset.is_multiple_of(4) {
        return None;
    }
    // SAFETY: `offset..offset+4` lies inside the live mapping (checked above) and is 4-byte
    // aligned (the base is page-aligned); the reference borrows `segment`, so the mapping
    // outlives it. AtomicU32 has the layout of u32, any bit pattern is valid, and other
    // processes touching these bytes is exactly what atomics allow.
    Some(unsafe { AtomicU32::from_ptr(segment.base().as_ptr().add(offset).cast::<u32>()) })
}

/// The `AtomicU64` at byte `offset` of `segment`, if it lies inside and is 8-byte aligned (for
/// the 64-bit ring positions).
pub fn atomic_u64_at(segment: &Segment, offset: usize) -> Option<&AtomicU64> {
    let end = offset.checked_add(8)?;
    if end > segment.len() || !offset.is_multiple_of(8) {
        return None;
    }
    // SAFETY: as for `atomic_u32_at`, with 8 bytes and 8-byte alignment (page-aligned base).
    Some(unsafe { AtomicU64::from_ptr(segment.base().as_ptr().add(offset).cast::<u64>()) })
}
