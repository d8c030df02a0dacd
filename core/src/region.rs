//! Memory regions: the bytes a segment and its ring live in.
//!
//! A [`Region`] is an aligned run of bytes that may be shared with other processes (a POSIX shm
//! mapping, implemented by `ringwire-platform`) or be process-local ([`LocalRegion`], usable as
//! a `static` on firmware and in tests, Miri and loom). Core code never dereferences a region
//! directly: it goes through the crate-private `Mem` view below, which offers exactly three kinds
//! of access:
//!
//! 1. **Atomic words** (`u32`, `u64`) at 4/8-aligned offsets, for every header and control field.
//! 2. **Racy copies**: word-wise `Relaxed` atomic loads/stores, for broadcast slot payloads that a
//!    reader copies while the writer may be overwriting them (the seqlock then tells the reader
//!    whether the copy is valid). The writer's in-place loan writes this way too, at any offset
//!    (a partial head or tail word is merged with a relaxed load and store: only the loan owner
//!    writes those words), so a broadcast payload is never behind a Rust reference. Because every access is atomic there is no data race in the Rust
//!    memory model, Miri accepts it, and a torn copy is merely detected and discarded. The price
//!    is that the compiler cannot use vector `memcpy`: for a 64 KiB message that is 8192 scalar
//!    loads and stores (a few microseconds) instead of a vectorised copy; small control messages
//!    pay nothing measurable.
//! 3. **Exclusive copies and loans**: plain `memcpy` / `&mut [u8]` for SPSC and MPMC slots, which
//!    the ring protocol hands to exactly one party at a time (Acquire/Release on the slot's
//!    sequence word orders the hand-over).
//!
//! Every offset is bounds-checked against the region length with an `assert!`: offsets are derived
//! from geometry that segment validation has already bounded, so the assertion states an internal
//! invariant and can never be triggered by region contents.
//!
//! # Loom
//!
//! loom can only model its own atomic objects, and those cannot be placed in raw memory. Under
//! `cfg(loom)` each region therefore carries a *shadow*: one loom `AtomicU32` per 4-byte word and
//! one loom `AtomicU64` per 8-byte word, and `Mem` resolves every atomic word accessor, racy copy
//! and exclusive copy to the shadow instead of the raw bytes (the layout never accesses the same
//! bytes at two widths, so the two shadow arrays never alias a real field). Loans, which must hand
//! out real `&mut [u8]`/`&[u8]`, use the raw bytes and are synchronised with the shadow at commit
//! (raw → shadow, relaxed stores between the slot's claim and its Release) and at borrow
//! (shadow → raw, relaxed loads after the Acquire). The rings are thus the same code under loom
//! and in production; only this module changes. (Broadcast loans write the shadow directly,
//! through the racy-copy path.)
//!
//! # One width per word
//!
//! Header and control fields are accessed at their own width only (`docs/segment-layout.md`);
//! payload words only at `usize` width (racy copies) or non-atomically by their exclusive owner.
//! [`LocalRegion::write_at`]/[`read_at`](LocalRegion::read_at), the tests' raw access, take
//! `&mut self` and copy plainly, so they never meet a concurrent atomic at another width.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Alignment, in bytes, that every region's base address must have (one cache line on the
/// hosts ringwire targets; a segment lays its fields out assuming it).
pub const REGION_ALIGN: usize = 64;

/// A run of bytes a segment can live in.
///
/// # Safety
///
/// An implementation guarantees, for as long as the value lives:
///
/// - [`base`](Region::base) returns the same pointer every time, aligned to [`REGION_ALIGN`];
/// - the `len()` bytes from `base` are valid for reads and writes (mapped, not freed, never
///   moved) and `len()` never changes;
/// - the bytes are never accessed through a Rust reference by the implementation itself: other
///   threads and other processes may write them at any time, so ringwire only touches them through
///   atomics and the copy helpers of this module.
///
/// The contents are untrusted: ringwire validates everything it reads from a region.
pub unsafe trait Region {
    /// Address of the first byte.
    fn base(&self) -> NonNull<u8>;

    /// Length in bytes.
    fn len(&self) -> usize;

    /// True when the region has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The loom shadow of this region (only exists under `cfg(loom)`; see the module docs).
    #[cfg(loom)]
    #[doc(hidden)]
    fn loom_shadow(&self) -> &LoomShadow;
}

// SAFETY: forwards to `R`, which upholds the contract; a shared reference does not move or free it.
unsafe impl<R: Region + ?Sized> Region for &R {
    fn base(&self) -> NonNull<u8> {
        (**self).base()
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    #[cfg(loom)]
    fn loom_shadow(&self) -> &LoomShadow {
        (**self).loom_shadow()
    }
}

/// A process-local region of `N` bytes, aligned to [`REGION_ALIGN`].
///
/// On firmware it can be a `static` (its constructor is `const`); in tests it can be boxed.
///
/// ```
/// use ringwire_core::region::{LocalRegion, Region};
/// static REGION: LocalRegion<4096> = LocalRegion::new();
/// assert_eq!(REGION.len(), 4096);
/// ```
#[repr(C, align(64))]
pub struct LocalRegion<const N: usize> {
    bytes: UnsafeCell<[u8; N]>,
    #[cfg(loom)]
    shadow: LoomShadow,
}

// SAFETY: the bytes are only accessed through atomics or under the ring protocols' exclusive
// hand-over (see the module docs), exactly as if other processes shared them.
unsafe impl<const N: usize> Sync for LocalRegion<N> {}

impl<const N: usize> LocalRegion<N> {
    /// A zero-filled region (a zeroed region is "uninitialised" to a segment). `N` must be a
    /// multiple of [`REGION_ALIGN`] (checked at compile time).
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        const {
            assert!(
                N.is_multiple_of(REGION_ALIGN),
                "LocalRegion size must be a multiple of 64"
            )
        };
        Self {
            bytes: UnsafeCell::new([0; N]),
        }
    }

    /// A zero-filled region with its loom shadow.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            bytes: UnsafeCell::new([0; N]),
            shadow: LoomShadow::new(N),
        }
    }
}

#[cfg(not(loom))]
impl<const N: usize> LocalRegion<N> {
    /// Overwrites bytes from `offset` with `src` (clipped to the region), as a faulty or hostile
    /// process could: for tests and fuzzing that feed a ring arbitrary contents. Returns the
    /// number of bytes written.
    ///
    /// It takes `&mut self`, so no ring, handle, loan or borrow can be using the region
    /// meanwhile (they all borrow it, or own it and never lend it out mutably): the write is a
    /// plain copy that cannot race, alias a lent-out slice or mix access widths with a
    /// concurrent atomic. To change a segment under a live ring, drop the ring, write, and open
    /// it again.
    ///
    /// ```
    /// use ringwire_core::region::LocalRegion;
    /// use ringwire_core::ring::spsc::Spsc;
    /// use ringwire_core::segment::{Creator, RingConfig};
    ///
    /// let mut region = LocalRegion::<1024>::new();
    /// let config = RingConfig::new(16, 2, "doc::Msg");
    /// drop(Spsc::create(&region, config, Creator::default()).unwrap());
    /// region.write_at(128, &7u64.to_ne_bytes()); // `tail` now claims 7 messages
    /// let ring = Spsc::open(&region, config).unwrap();
    /// assert!(ring.consumer(1).unwrap().try_recv(&mut [0; 16]).is_err());
    /// ```
    ///
    /// Writing under a live borrow does not compile (it used to, and overwrote bytes lent out
    /// as `&[u8]`):
    ///
    /// ```compile_fail,E0502
    /// use ringwire_core::region::LocalRegion;
    /// use ringwire_core::ring::spsc::Spsc;
    /// use ringwire_core::segment::{Creator, RingConfig};
    ///
    /// let mut region = LocalRegion::<1024>::new();
    /// let ring = Spsc::create(&region, RingConfig::new(16, 2, "doc::Msg"), Creator::default())
    ///     .unwrap();
    /// let mut tx = ring.producer(1).unwrap();
    /// let mut rx = ring.consumer(2).unwrap();
    /// let _ = tx.try_send(b"hello").unwrap();
    /// let msg = rx.try_borrow().unwrap();
    /// region.write_at(256 + 16, b"HELLO");
    /// assert_eq!(&*msg, b"hello");
    /// ```
    pub fn write_at(&mut self, offset: usize, src: &[u8]) -> usize {
        let bytes = self.bytes.get_mut();
        let n = src.len().min(N.saturating_sub(offset));
        bytes[offset.min(N)..][..n].copy_from_slice(&src[..n]);
        n
    }

    /// Copies bytes from `offset` into `dst` (clipped to the region); returns how many. For
    /// tests that inspect a segment's bytes; `&mut self` for the same reason as
    /// [`write_at`](Self::write_at) (a plain read that no atomic access can race).
    pub fn read_at(&mut self, offset: usize, dst: &mut [u8]) -> usize {
        let bytes = self.bytes.get_mut();
        let n = dst.len().min(N.saturating_sub(offset));
        dst[..n].copy_from_slice(&bytes[offset.min(N)..][..n]);
        n
    }
}

impl<const N: usize> core::fmt::Debug for LocalRegion<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalRegion")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Default for LocalRegion<N> {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: `bytes` is inside `self` (so valid while `self` lives and never moved through `&self`),
// `repr(align(64))` with `bytes` first gives the alignment, and the length is the constant `N`.
unsafe impl<const N: usize> Region for LocalRegion<N> {
    fn base(&self) -> NonNull<u8> {
        // SAFETY: `UnsafeCell::get` never returns null.
        unsafe { NonNull::new_unchecked(self.bytes.get().cast::<u8>()) }
    }
    fn len(&self) -> usize {
        N
    }
    #[cfg(loom)]
    fn loom_shadow(&self) -> &LoomShadow {
        &self.shadow
    }
}

/// Loom model of a region's words (exists only under `cfg(loom)`; see the module docs).
#[cfg(loom)]
#[doc(hidden)]
pub struct LoomShadow {
    w32: std::vec::Vec<AtomicU32>,
    w64: std::vec::Vec<AtomicU64>,
}

#[cfg(loom)]
impl LoomShadow {
    /// A zeroed shadow for a region of `len` bytes.
    pub fn new(len: usize) -> Self {
        Self {
            w32: (0..len / 4).map(|_| AtomicU32::new(0)).collect(),
            w64: (0..len / 8).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Width of one racy-copy word.
#[cfg(not(loom))]
const WORD: usize = core::mem::size_of::<usize>();
#[cfg(loom)]
const WORD: usize = 4;

/// The crate's only window onto a region: bounds-checked atomic words, copies and loans.
#[derive(Clone, Copy)]
pub(crate) struct Mem<'a> {
    base: NonNull<u8>,
    len: usize,
    #[cfg(loom)]
    shadow: &'a LoomShadow,
    _region: PhantomData<&'a ()>,
}

// SAFETY: `Mem` only hands out atomics and protocol-exclusive bytes of a `Region`, whose contract
// already allows access from any thread or process.
unsafe impl Send for Mem<'_> {}
// SAFETY: as for `Send`.
unsafe impl Sync for Mem<'_> {}

impl<'a> Mem<'a> {
    /// A view of `region`, or `None` when its base breaks the [`REGION_ALIGN`] contract.
    pub(crate) fn new<R: Region + ?Sized>(region: &'a R) -> Option<Self> {
        let base = region.base();
        if !(base.as_ptr() as usize).is_multiple_of(REGION_ALIGN) {
            return None;
        }
        Some(Self {
            base,
            len: region.len(),
            #[cfg(loom)]
            shadow: region.loom_shadow(),
            _region: PhantomData,
        })
    }

    /// Region length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn check(&self, off: usize, bytes: usize, align: usize) {
        assert!(
            off.is_multiple_of(align) && off <= self.len && bytes <= self.len - off,
            "ringwire: region access out of bounds (internal invariant)"
        );
    }

    /// The 32-bit atomic word at `off`.
    pub(crate) fn u32(&self, off: usize) -> &'a AtomicU32 {
        self.check(off, 4, 4);
        #[cfg(loom)]
        {
            &self.shadow.w32[off / 4]
        }
        #[cfg(not(loom))]
        // SAFETY: in bounds and 4-aligned (checked above, base is 64-aligned); the region is valid
        // for `'a` and only ever accessed atomically at this offset.
        unsafe {
            AtomicU32::from_ptr(self.base.as_ptr().add(off).cast())
        }
    }

    /// The 64-bit atomic word at `off`.
    pub(crate) fn u64(&self, off: usize) -> &'a AtomicU64 {
        self.check(off, 8, 8);
        #[cfg(loom)]
        {
            &self.shadow.w64[off / 8]
        }
        #[cfg(not(loom))]
        // SAFETY: in bounds and 8-aligned (checked above); valid for `'a`; only accessed atomically.
        unsafe {
            AtomicU64::from_ptr(self.base.as_ptr().add(off).cast())
        }
    }

    #[inline(always)]
    fn load_word(&self, off: usize) -> [u8; WORD] {
        #[cfg(loom)]
        {
            self.shadow.w32[off / 4]
                .load(Ordering::Relaxed)
                .to_ne_bytes()
        }
        #[cfg(not(loom))]
        // SAFETY: callers checked `off` is WORD-aligned and in bounds; atomic access only.
        unsafe {
            crate::sync::AtomicUsize::from_ptr(self.base.as_ptr().add(off).cast())
                .load(Ordering::Relaxed)
                .to_ne_bytes()
        }
    }

    #[inline(always)]
    fn store_word(&self, off: usize, word: [u8; WORD]) {
        #[cfg(loom)]
        {
            self.shadow.w32[off / 4].store(u32::from_ne_bytes(word), Ordering::Relaxed);
        }
        #[cfg(not(loom))]
        // SAFETY: callers checked `off` is WORD-aligned and in bounds; atomic access only.
        unsafe {
            crate::sync::AtomicUsize::from_ptr(self.base.as_ptr().add(off).cast())
                .store(usize::from_ne_bytes(word), Ordering::Relaxed);
        }
    }

    /// Copies `src` to `off` with relaxed atomic word stores. `off` must be 8-aligned; the whole
    /// last word is written (padding with zeros), so the area must extend to the next 8 bytes.
    pub(crate) fn copy_in_racy(&self, off: usize, src: &[u8]) {
        self.check(off, src.len().next_multiple_of(8), 8);
        let whole = src.len() - src.len() % WORD;
        self.store_words(off, &src[..whole]);
        let rest = &src[whole..];
        if !rest.is_empty() {
            let mut word = [0u8; WORD];
            word[..rest.len()].copy_from_slice(rest);
            self.store_word(off + whole, word);
        }
    }

    /// Stores `src` (a whole number of words) at the WORD-aligned `off`, one relaxed atomic
    /// store per word: the tight loop every racy write ends in.
    fn store_words(&self, off: usize, src: &[u8]) {
        debug_assert!(off.is_multiple_of(WORD) && src.len().is_multiple_of(WORD));
        self.check(off, src.len(), WORD);
        for (i, chunk) in src.chunks_exact(WORD).enumerate() {
            let mut word = [0u8; WORD];
            word.copy_from_slice(chunk);
            self.store_word(off + i * WORD, word);
        }
    }

    /// Replaces bytes `at .. at + src.len()` of the word at `word_off` (a relaxed load, then a
    /// relaxed store of the merged word; not an atomic read-modify-write).
    fn merge_word(&self, word_off: usize, at: usize, src: &[u8]) {
        self.check(word_off, WORD, WORD);
        let mut word = self.load_word(word_off);
        word[at..at + src.len()].copy_from_slice(src);
        self.store_word(word_off, word);
    }

    /// Copies `src` to any offset with relaxed atomic word stores: a partial head word and a
    /// partial tail word are merged with a relaxed load and store (so the bytes around the range
    /// keep their values), the aligned middle is stored word by word.
    ///
    /// Only one party may write these words at a time (the merge is not an atomic
    /// read-modify-write): the owner of a broadcast loan. Concurrent racy *readers* are fine.
    pub(crate) fn write_racy_at(&self, off: usize, src: &[u8]) {
        if src.is_empty() {
            return;
        }
        let head = off % WORD;
        let (mut at, mut src) = (off, src);
        if head != 0 {
            let n = (WORD - head).min(src.len());
            self.merge_word(off - head, head, &src[..n]);
            at = off - head + WORD;
            src = &src[n..];
        }
        let whole = src.len() - src.len() % WORD;
        self.store_words(at, &src[..whole]);
        let tail = &src[whole..];
        if !tail.is_empty() {
            self.merge_word(at + whole, 0, tail);
        }
    }

    /// Copies `dst.len()` bytes from `off` with relaxed atomic word loads (same rules as
    /// [`copy_in_racy`](Self::copy_in_racy)).
    pub(crate) fn copy_out_racy(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len().next_multiple_of(8), 8);
        let mut at = off;
        let mut chunks = dst.chunks_exact_mut(WORD);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.load_word(at));
            at += WORD;
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let n = rest.len();
            rest.copy_from_slice(&self.load_word(at)[..n]);
        }
    }

    /// [`copy_out_racy`](Self::copy_out_racy) from any offset: a leading partial word, then
    /// whole words. Reads the words that cover `off .. off + dst.len()`.
    pub(crate) fn copy_out_racy_at(&self, off: usize, dst: &mut [u8]) {
        if dst.is_empty() {
            return;
        }
        let head = off % WORD;
        if head == 0 {
            return self.copy_out_racy(off, dst);
        }
        let word_off = off - head;
        self.check(word_off, WORD, WORD);
        let n = (WORD - head).min(dst.len());
        dst[..n].copy_from_slice(&self.load_word(word_off)[head..head + n]);
        if n < dst.len() {
            self.copy_out_racy(word_off + WORD, &mut dst[n..]);
        }
    }

    /// The byte at `off`, read with a relaxed atomic load of its word.
    pub(crate) fn load_byte_racy(&self, off: usize) -> u8 {
        let word_off = off - off % WORD;
        self.check(word_off, WORD, WORD);
        self.load_word(word_off)[off % WORD]
    }

    /// Copies `src` to `off` for a party that owns those bytes exclusively.
    ///
    /// # Safety
    ///
    /// The ring protocol must give the caller exclusive access to `off..off + src.len()` (rounded
    /// up to 8) until a Release store hands the bytes on.
    pub(crate) unsafe fn copy_in_exclusive(&self, off: usize, src: &[u8]) {
        #[cfg(loom)]
        self.copy_in_racy(off, src);
        #[cfg(not(loom))]
        {
            self.check(off, src.len(), 1);
            // SAFETY: in bounds (checked); exclusive by the caller's contract, so no other access
            // races with this write; `src` is a distinct Rust slice so they cannot overlap.
            unsafe {
                core::ptr::copy_nonoverlapping(src.as_ptr(), self.base.as_ptr().add(off), src.len())
            };
        }
    }

    /// Copies `dst.len()` bytes from `off` for a party that owns them exclusively.
    ///
    /// # Safety
    ///
    /// As for [`copy_in_exclusive`](Self::copy_in_exclusive), after an Acquire that synchronises
    /// with the writer's Release.
    pub(crate) unsafe fn copy_out_exclusive(&self, off: usize, dst: &mut [u8]) {
        #[cfg(loom)]
        self.copy_out_racy(off, dst);
        #[cfg(not(loom))]
        {
            self.check(off, dst.len(), 1);
            // SAFETY: in bounds (checked); nobody writes these bytes while the caller owns them.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    self.base.as_ptr().add(off),
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            };
        }
    }

    /// The bytes `off..off + len` as a mutable slice (a writer's loan).
    ///
    /// # Safety
    ///
    /// The caller owns these bytes exclusively for `'b` (no other loan, copy or racy access of the
    /// same process or another one touches them meanwhile, except racy readers whose torn copies
    /// the seqlock discards — see the broadcast module).
    pub(crate) unsafe fn bytes_mut<'b>(&self, off: usize, len: usize) -> &'b mut [u8]
    where
        'a: 'b,
    {
        self.check(off, len, 1);
        // SAFETY: in bounds (checked), valid for `'a: 'b`; exclusivity is the caller's contract.
        unsafe { core::slice::from_raw_parts_mut(self.base.as_ptr().add(off), len) }
    }

    /// The bytes `off..off + len` as a shared slice (a reader's borrow).
    ///
    /// # Safety
    ///
    /// Nobody writes these bytes for `'b` (the ring protocol holds the slot for the reader).
    pub(crate) unsafe fn bytes<'b>(&self, off: usize, len: usize) -> &'b [u8]
    where
        'a: 'b,
    {
        self.check(off, len, 1);
        // SAFETY: in bounds, valid for `'a: 'b`; not written meanwhile by the caller's contract.
        unsafe { core::slice::from_raw_parts(self.base.as_ptr().add(off), len) }
    }

    /// Under loom, copies a loan's raw bytes into the shadow (after the writer filled them).
    #[cfg(loom)]
    pub(crate) fn loom_raw_to_shadow(&self, off: usize, len: usize) {
        // SAFETY: only called by the loan owner on its own bytes.
        let raw: &[u8] = unsafe { self.bytes(off, len) };
        let mut tmp = std::vec![0u8; len];
        tmp.copy_from_slice(raw);
        self.copy_in_racy(off, &tmp);
    }

    /// Under loom, copies the shadow of a borrowed slot into its raw bytes (before lending them).
    #[cfg(loom)]
    pub(crate) fn loom_shadow_to_raw(&self, off: usize, len: usize) {
        let mut tmp = std::vec![0u8; len];
        self.copy_out_racy(off, &mut tmp);
        // SAFETY: only called by the slot's current exclusive owner.
        unsafe { self.bytes_mut(off, len) }.copy_from_slice(&tmp);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn local_region_is_aligned_and_zeroed() {
        let region = std::boxed::Box::new(LocalRegion::<256>::new());
        assert_eq!(region.base().as_ptr() as usize % REGION_ALIGN, 0);
        let mem = Mem::new(&*region).unwrap();
        assert_eq!(mem.u64(8).load(Ordering::Relaxed), 0);
        assert_eq!(mem.len(), 256);
    }

    #[test]
    fn racy_copies_round_trip_every_length() {
        let region = std::boxed::Box::new(LocalRegion::<256>::new());
        let mem = Mem::new(&*region).unwrap();
        for len in 0..=40 {
            let src: std::vec::Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(7) ^ 0x5a).collect();
            mem.copy_in_racy(64, &src);
            let mut dst = std::vec![0u8; len];
            mem.copy_out_racy(64, &mut dst);
            assert_eq!(src, dst);
            for (i, b) in src.iter().enumerate() {
                assert_eq!(mem.load_byte_racy(64 + i), *b);
            }
        }
    }

    #[test]
    fn racy_writes_at_any_offset_keep_the_neighbouring_bytes() {
        let region = std::boxed::Box::new(LocalRegion::<256>::new());
        let mem = Mem::new(&*region).unwrap();
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 7, 9, 17]
        } else {
            &[0, 1, 2, 7, 8, 9, 15, 16, 17, 31]
        };
        for off in 64..64 + 2 * WORD {
            for &len in lens {
                mem.copy_in_racy(64, &[0xEE; 48]);
                let src: std::vec::Vec<u8> = (0..len as u8).map(|b| b ^ 0x5a).collect();
                mem.write_racy_at(off, &src);
                let mut all = [0u8; 48];
                mem.copy_out_racy(64, &mut all);
                let at = off - 64;
                assert!(
                    all[..at].iter().all(|&b| b == 0xEE),
                    "before, at {off}+{len}"
                );
                assert_eq!(&all[at..at + len], &src[..], "at {off}+{len}");
                assert!(
                    all[at + len..].iter().all(|&b| b == 0xEE),
                    "after, at {off}+{len}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_word_is_refused() {
        let region = LocalRegion::<64>::new();
        let mem = Mem::new(&region).unwrap();
        let _ = mem.u64(64);
    }
}
