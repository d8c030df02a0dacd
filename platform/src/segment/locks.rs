//! Liveness locks (Linux): ownership of an id in a segment that the kernel releases when its
//! holder is gone.
//!
//! Every process that opens a segment takes, on the open file description (OFD) of the shm file
//! it maps, a **read** lock on one byte at [`OWNER_LOCKS`]` + pid` (`fcntl(F_OFD_SETLK)`), before
//! it can record its pid in any claim; the creator takes one more at [`CREATOR_LOCKS`]` + pid`
//! before it writes the header. Read locks of one process's several opens coexist. An OFD lock
//! belongs to the open file description, not to the process or a thread: it lasts until the last
//! descriptor of that description is closed, which happens when the [`Mapping`](super::imp) is
//! dropped (after its `munmap`) or when the kernel tears the process down (it unmaps the memory
//! before it closes the files), whatever killed it.
//!
//! The verdict on id `P` asks whether **anyone** holds a lock on byte `P` of this file: an
//! `F_OFD_GETLK` probe with a write lock through a second open of the file that never takes
//! locks itself (so no lock can be hidden from it as "its own", even after a `fork` shares the
//! locking description). A conflict means some open description of this file still carries `P`'s
//! lock. No conflict means no process that recorded `P` in this segment still maps it.
//!
//! The byte offsets stay below 2^31 so that a 32-bit `off_t` holds them: a lock is advisory and
//! does not touch the file's data, so it does not matter that a segment of more than 1 GiB has
//! data at those offsets. Ids at or above [`MAX_ID`] cannot be Linux pids (`PID_MAX_LIMIT` is
//! 2^22), so nobody can hold their lock.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use rustix::io::Errno;

/// First byte of the owner locks: id `P`'s lock is the byte at `OWNER_LOCKS + P`.
pub const OWNER_LOCKS: i64 = 1 << 30;
/// First byte of the creator locks: the creator `P`'s lock is the byte at `CREATOR_LOCKS + P`.
pub const CREATOR_LOCKS: i64 = 3 << 29;
/// Ids from here on have no lock byte (no Linux pid is this large).
pub const MAX_ID: u32 = 1 << 22;

/// Which family of lock bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Ids recorded in claims, slots and table entries.
    Owner,
    /// The creator recorded in the header.
    Creator,
}

fn offset(family: Family, id: u32) -> Option<libc::off_t> {
    if id == 0 || id >= MAX_ID {
        return None;
    }
    let base = match family {
        Family::Owner => OWNER_LOCKS,
        Family::Creator => CREATOR_LOCKS,
    };
    libc::off_t::try_from(base + i64::from(id)).ok()
}

fn request(lock_type: libc::c_int, start: libc::off_t) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers, for which all-zero bytes are valid (and
    // `l_pid` must be 0 for OFD requests).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = lock_type as _;
    fl.l_whence = libc::SEEK_SET as _;
    fl.l_start = start;
    fl.l_len = 1;
    fl
}

/// Takes the read lock of `id` on the description behind `fd` (idempotent).
pub fn take(fd: BorrowedFd<'_>, family: Family, id: u32) -> Result<(), Errno> {
    let start = offset(family, id).ok_or(Errno::INVAL)?;
    let fl = request(libc::F_RDLCK, start);
    // SAFETY: `fd` is an open descriptor for the call's duration; `fl` is a valid `flock` that
    // outlives the call; F_OFD_SETLK only reads it.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if r == -1 {
        return Err(Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO));
    }
    Ok(())
}

/// Whether some open description of the file behind `probe` holds `id`'s lock: `Some(true)`
/// held, `Some(false)` nobody holds it, `None` the kernel did not say (every caller reads that as
/// "alive"). `probe` must hold no locks itself.
pub fn held(probe: &OwnedFd, family: Family, id: u32) -> Option<bool> {
    let Some(start) = offset(family, id) else {
        // No lock byte: an id that no process can have.
        return Some(false);
    };
    let mut fl = request(libc::F_WRLCK, start);
    // SAFETY: `probe` is an open descriptor; `fl` is a valid, exclusively borrowed `flock` that
    // F_OFD_GETLK overwrites with a conflicting lock's description or sets to F_UNLCK.
    let r = unsafe { libc::fcntl(probe.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
    if r == -1 {
        return None;
    }
    Some(i32::from(fl.l_type) != libc::F_UNLCK)
}
