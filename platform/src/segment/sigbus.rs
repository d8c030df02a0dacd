//! Containment of `SIGBUS` inside a mapped segment.
//!
//! A POSIX shm object is a file: any process that may open it (the same user, or root) can
//! shrink it with `ftruncate` (`truncate -s 0 /dev/shm/ringwire.NAME`) while others map it.
//! Every later access to a page past the new end raises `SIGBUS`, whose default action kills
//! the process. Tmpfs files cannot be sealed against shrinking (only memfds can, and those are
//! shared by passing descriptors, not by name), so the fault cannot be prevented; it is
//! contained instead:
//!
//! - Every mapping registers its address range in a fixed, lock-free table.
//! - A process-wide `SIGBUS` handler (installed once, with the previous handler kept) looks the
//!   faulting address up. Inside a registered mapping it replaces the **whole** mapping with
//!   private zero pages (`mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)` over the same range,
//!   so the address range stays valid and nothing else can be mapped there), marks the mapping
//!   faulted and returns: the faulting instruction runs again on zeros. Outside every
//!   registered mapping it hands the signal to the previous handler, or restores the default
//!   action so that the re-executed access kills the process as it would have without us.
//! - Zeros are just one more thing a hostile peer could have written, which the rings already
//!   treat as untrusted; the sockets check [`Segment::is_faulted`](super::Segment::is_faulted)
//!   after every ring operation and fail with [`SegmentError::Faulted`](super::SegmentError).
//!
//! What stays: the data in the segment is lost for this process (it is lost for everyone, the
//! file was truncated); a `&[u8]` borrow of a slot that was live when the fault hit sees its
//! bytes turn to zeros (the same class of event as a peer writing a slot it does not own, see
//! `docs/trust-model.md`); a program that installs its own `SIGBUS` handler after ringwire's
//! and does not chain to it loses the containment; a table of [`MAX_MAPPINGS`] mappings, past
//! which further mappings are not protected (logged).
#![allow(unsafe_code)]

use std::sync::Once;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// How many mappings the fault table holds at once.
pub(super) const MAX_MAPPINGS: usize = 256;

struct Entry {
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

static TABLE: [Entry; MAX_MAPPINGS] = [EMPTY; MAX_MAPPINGS];
/// Number of faults contained so far: lets `is_faulted` skip the table when it is 0.
static FAULTS: AtomicUsize = AtomicUsize::new(0);
static INSTALL: Once = Once::new();
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

/// A registered mapping; unregisters on drop (before the caller unmaps).
pub(super) struct Registration(Option<usize>);

impl Registration {
    /// Registers `[start, start + len)`, installing the handler on first use.
    pub(super) fn new(start: usize, len: usize) -> Self {
        install();
        for (i, e) in TABLE.iter().enumerate() {
            // SYNC: AcqRel on the claim of a free entry; the handler's Acquire loads of
            // `start`/`len` pair with the Release store of `len` below.
            if e.start
                .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                e.faulted.store(false, Ordering::Relaxed);
                e.len.store(len, Ordering::Release);
                return Self(Some(i));
            }
        }
        log::warn!(
            "more than {MAX_MAPPINGS} shm mappings: a segment truncated under this process \
             would kill it with SIGBUS"
        );
        Self(None)
    }

    /// Whether the handler replaced this mapping after a fault.
    pub(super) fn is_faulted(&self) -> bool {
        match self.0 {
            // SYNC: Acquire pairs with the handler's Release store of the flag.
            Some(i) if FAULTS.load(Ordering::Relaxed) != 0 => {
                TABLE[i].faulted.load(Ordering::Acquire)
            }
            _ => false,
        }
    }
}

/// Whether `addr` lies in a registered mapping that faulted and was replaced by zero pages.
pub(super) fn faulted_at(addr: usize) -> bool {
    if FAULTS.load(Ordering::Relaxed) == 0 {
        return false;
    }
    TABLE.iter().any(|e| {
        // SYNC: Acquire pairs with the Release stores at registration and in the handler.
        let len = e.len.load(Ordering::Acquire);
        let start = e.start.load(Ordering::Acquire);
        start != 0 && addr >= start && addr - start < len && e.faulted.load(Ordering::Acquire)
    })
}

impl Registration {
    /// Unregisters now (the mapping is about to be unmapped); idempotent.
    pub(super) fn release(&mut self) {
        if let Some(i) = self.0.take() {
            // SYNC: Release so the next claimer of the entry sees it fully freed.
            TABLE[i].len.store(0, Ordering::Release);
            TABLE[i].start.store(0, Ordering::Release);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.release();
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: a zeroed `sigaction` is a valid value (no handler, empty mask, no flags);
        // `sigaction` only reads `new` and writes `old`, both live locals.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = handler as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            // PREVIOUS is set before the handler can run, so the handler always finds it.
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) != 0 {
                log::warn!("cannot read the SIGBUS handler; truncated segments are not contained");
                return;
            }
            let _ = PREVIOUS.set(old);
            if libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) != 0 {
                log::warn!(
                    "cannot install the SIGBUS handler; truncated segments are not contained"
                );
            }
        }
    });
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno_location() -> *mut libc::c_int {
    // SAFETY: always valid for the calling thread.
    unsafe { libc::__error() }
}

/// The signal handler. Async-signal-safe: atomics, `mmap` and `sigaction` only.
extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let errno = errno_location();
    // SAFETY: the thread's own errno word, restored before returning (the interrupted code may
    // be between a call and its errno check).
    let saved = unsafe { *errno };
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if !contain(addr) {
        forward(sig, info, ctx);
    }
    // SAFETY: as above.
    unsafe { *errno = saved };
}

/// Replaces the registered mapping holding `addr` with zero pages; false if there is none.
fn contain(addr: usize) -> bool {
    for e in TABLE.iter() {
        // SYNC: Acquire pairs with the Release store of `len` at registration.
        let len = e.len.load(Ordering::Acquire);
        let start = e.start.load(Ordering::Acquire);
        if start == 0 || len == 0 || addr < start || addr - start >= len {
            continue;
        }
        // SAFETY: `[start, start + len)` is a live ringwire mapping: the faulting access is to
        // it, and a mapping is only unmapped after every handle that could access it (and its
        // registration) is gone. MAP_FIXED replaces exactly that range with fresh private zero
        // pages, so it stays owned by the same `Mapping`, which unmaps it later as before; no
        // Rust object other than the segment's bytes lives there.
        let p = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return false;
        }
        // SYNC: Release pairs with the Acquire load in `is_faulted`.
        e.faulted.store(true, Ordering::Release);
        FAULTS.fetch_add(1, Ordering::Relaxed);
        return true;
    }
    false
}

/// Hands a fault that is not ours to the handler that was there before, or to the default
/// action (the faulting access then runs again and kills the process, as without ringwire).
fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(prev) = PREVIOUS.get() else {
        reset_default(sig);
        return;
    };
    let action = prev.sa_sigaction;
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // An ignored SIGBUS from a fault would loop forever; the kernel kills anyway.
        reset_default(sig);
    } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed for SIGBUS with SA_SIGINFO, so it has
        // this signature and expects exactly these arguments.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = unsafe {
            std::mem::transmute::<
                usize,
                extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
            >(action)
        };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal number only.
        let f: extern "C" fn(libc::c_int) =
            unsafe { std::mem::transmute::<usize, extern "C" fn(libc::c_int)>(action) };
        f(sig);
    }
}

fn reset_default(sig: libc::c_int) {
    // SAFETY: a zeroed sigaction is SIG_DFL with an empty mask; `sigaction` is
    // async-signal-safe.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigaction(sig, &dfl, std::ptr::null_mut());
    }
}
