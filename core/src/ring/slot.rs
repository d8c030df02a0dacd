//! One slot of a ring: its sequence word, length, owner and payload, with the copy and loan
//! primitives the rings build on.
//!
//! Racy accessors (word-wise relaxed atomics) are safe; exclusive ones are `unsafe` because only
//! the ring protocol knows that the caller currently owns the slot.
#![allow(unsafe_code)]

use crate::region::Mem;
use crate::sync::{AtomicU32, AtomicU64};

use super::{SLOT_DATA, SLOT_LEN, SLOT_OWNER, SLOT_SEQ};

/// A slot at a validated offset of a region.
#[derive(Clone, Copy)]
pub(crate) struct Slot<'a> {
    mem: Mem<'a>,
    off: usize,
    capacity: usize,
}

impl<'a> Slot<'a> {
    /// The slot at `off`, whose payload holds `capacity` bytes (rounded-up words stay inside the
    /// slot stride, see [`crate::segment::RingConfig::slot_stride`]).
    pub(crate) fn new(mem: Mem<'a>, off: usize, capacity: usize) -> Self {
        Self { mem, off, capacity }
    }

    /// Payload capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The sequence word.
    pub(crate) fn seq(&self) -> &'a AtomicU64 {
        self.mem.u64(self.off + SLOT_SEQ)
    }

    /// The payload length word.
    pub(crate) fn len(&self) -> &'a AtomicU32 {
        self.mem.u32(self.off + SLOT_LEN)
    }

    /// The owner word.
    pub(crate) fn owner(&self) -> &'a AtomicU32 {
        self.mem.u32(self.off + SLOT_OWNER)
    }

    fn data(&self) -> usize {
        self.off + SLOT_DATA
    }

    /// Writes `msg` (at most `capacity` bytes) with relaxed atomic words.
    pub(crate) fn write_racy(&self, msg: &[u8]) {
        debug_assert!(msg.len() <= self.capacity);
        self.mem.copy_in_racy(self.data(), msg);
    }

    /// Reads `dst.len()` (at most `capacity`) bytes with relaxed atomic words.
    pub(crate) fn read_racy(&self, dst: &mut [u8]) {
        debug_assert!(dst.len() <= self.capacity);
        self.mem.copy_out_racy(self.data(), dst);
    }

    /// Racy copy of the payload bytes `off .. off + dst.len()` (within the capacity).
    pub(crate) fn read_racy_at(&self, off: usize, dst: &mut [u8]) {
        debug_assert!(off + dst.len() <= self.capacity);
        self.mem.copy_out_racy_at(self.data() + off, dst);
    }

    /// Racy write of `src` to the payload bytes `off .. off + src.len()` (within the capacity),
    /// for the single writer that owns the slot while racy readers may copy it.
    pub(crate) fn write_racy_at(&self, off: usize, src: &[u8]) {
        debug_assert!(off + src.len() <= self.capacity);
        self.mem.write_racy_at(self.data() + off, src);
    }

    /// Reads byte `i` (< `capacity`) with a relaxed atomic load.
    pub(crate) fn byte_racy(&self, i: usize) -> u8 {
        self.mem
            .load_byte_racy(self.data() + i.min(self.capacity.saturating_sub(1)))
    }

    /// Writes `msg` (at most `capacity` bytes) with a plain copy.
    ///
    /// # Safety
    ///
    /// The ring protocol gives the caller exclusive ownership of this slot until it publishes it
    /// with a Release store of the sequence word.
    pub(crate) unsafe fn write_exclusive(&self, msg: &[u8]) {
        // SAFETY: exclusivity is the caller's contract; the length is within the payload.
        unsafe {
            self.mem
                .copy_in_exclusive(self.data(), &msg[..msg.len().min(self.capacity)])
        }
    }

    /// Reads `dst.len()` (at most `capacity`) bytes with a plain copy.
    ///
    /// # Safety
    ///
    /// The caller owns the slot (claimed after an Acquire of its published sequence word).
    pub(crate) unsafe fn read_exclusive(&self, dst: &mut [u8]) {
        let n = dst.len().min(self.capacity);
        // SAFETY: exclusivity is the caller's contract; the length is within the payload.
        unsafe { self.mem.copy_out_exclusive(self.data(), &mut dst[..n]) }
    }

    /// The whole payload, mutable, for a writer's loan.
    ///
    /// # Safety
    ///
    /// The caller owns the slot for `'b` (see [`write_exclusive`](Self::write_exclusive)).
    pub(crate) unsafe fn loan<'b>(&self) -> &'b mut [u8]
    where
        'a: 'b,
    {
        // SAFETY: exclusivity for `'b` is the caller's contract.
        unsafe { self.mem.bytes_mut(self.data(), self.capacity) }
    }

    /// The whole payload, shared, for reading back a loan.
    ///
    /// # Safety
    ///
    /// As for [`loan`](Self::loan), with no mutable slice live for `'b`.
    pub(crate) unsafe fn loan_view<'b>(&self) -> &'b [u8]
    where
        'a: 'b,
    {
        // SAFETY: exclusivity for `'b` is the caller's contract.
        unsafe { self.mem.bytes(self.data(), self.capacity) }
    }

    /// Makes a committed loan's `len` bytes visible to the ring's atomic view (only does work
    /// under loom, where the payload words are modelled separately from the raw bytes).
    pub(crate) fn loan_committed(&self, len: usize) {
        #[cfg(loom)]
        self.mem.loom_raw_to_shadow(self.data(), len);
        let _ = len;
    }

    /// The first `len` (at most `capacity`) payload bytes, for a reader's borrow.
    ///
    /// # Safety
    ///
    /// The caller owns the published slot for `'b`: nobody writes it until the caller releases it.
    pub(crate) unsafe fn borrow<'b>(&self, len: usize) -> &'b [u8]
    where
        'a: 'b,
    {
        let len = len.min(self.capacity);
        #[cfg(loom)]
        self.mem.loom_shadow_to_raw(self.data(), len);
        // SAFETY: nobody writes the slot for `'b` by the caller's contract.
        unsafe { self.mem.bytes(self.data(), len) }
    }
}
