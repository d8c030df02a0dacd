//! POSIX shared memory: `shm_open` + `fallocate`/`ftruncate` + `mmap(MAP_SHARED)`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;

use super::sigbus::Registration;
use super::{CreateMode, CreateOptions, SegmentError};
use crate::name::SegmentName;

/// Where POSIX shm objects appear as files, if the OS shows them (Linux: `/dev/shm`).
pub(crate) fn posix_shm_dir() -> Option<&'static std::path::Path> {
    if cfg!(target_os = "linux") {
        Some(std::path::Path::new("/dev/shm"))
    } else {
        None
    }
}

fn errno_to_segment(e: Errno) -> SegmentError {
    match e {
        // Only our no-follow open gives ELOOP: the name is a symbolic link.
        Errno::LOOP => SegmentError::Refused {
            reason: "it is a symbolic link".into(),
        },
        Errno::EXIST => SegmentError::Exists,
        Errno::NOENT => SegmentError::NotFound,
        Errno::ACCESS | Errno::PERM => SegmentError::PermissionDenied,
        Errno::NOSPC | Errno::NOMEM => SegmentError::NoSpace {
            requested: 0,
            available: None,
        },
        e => SegmentError::Io(e.into()),
    }
}

pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    /// The shm file, kept open for as long as the mapping: on Linux its open file description
    /// carries this process's liveness locks (`segment/locks.rs`), which the kernel releases
    /// when the last descriptor of it closes.
    fd: OwnedFd,
    /// The mapping's entry in the SIGBUS containment table.
    reg: Registration,
    /// Empty where there are no liveness locks (macOS).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    liveness: Liveness,
}

/// What a mapping knows for liveness verdicts: on Linux, the id its locks cover and a second
/// open of the file (holding no locks) to probe others' locks through.
#[cfg(target_os = "linux")]
struct Liveness {
    owner: u32,
    probe: Option<OwnedFd>,
}

#[cfg(not(target_os = "linux"))]
struct Liveness;

// SAFETY: the mapping is plain shared memory owned by this value; every access to its bytes
// goes through `ringwire-core`'s region code, which only uses atomics and seqlock-checked copies
// and treats the contents as shared with other processes anyway. Nothing here is thread-bound.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out the base pointer and length.
unsafe impl Sync for Mapping {}

impl Mapping {
    pub(super) fn create(
        name: &SegmentName,
        len: usize,
        options: &CreateOptions,
    ) -> Result<Self, SegmentError> {
        let os_name = name.os_name();
        let flags = shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR;
        let mode = Mode::from_bits_truncate(options.permissions as _);
        let fd = match shm_open_nofollow(&os_name, flags, mode) {
            Err(Errno::EXIST) if options.mode == CreateMode::Replace => {
                match shm::unlink(os_name.as_str()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(errno_to_segment(e)),
                }
                shm_open_nofollow(&os_name, flags, mode)
            }
            other => other,
        }
        .map_err(errno_to_segment)?;
        // From here on the name exists: remove it again if sizing, locking or mapping fails.
        // The creator's locks are taken before anything is mapped, so before it can record its
        // pid in the header or in a claim.
        let sized = size_new(&fd, len as u64, options.reserve)
            .and_then(|()| liveness(&fd, &os_name, true))
            .and_then(|live| map(fd, len, live));
        if sized.is_err() {
            let _ = shm::unlink(os_name.as_str());
        }
        sized
    }

    pub(super) fn open(name: &SegmentName) -> Result<Self, SegmentError> {
        let os_name = name.os_name();
        let named = |e: SegmentError| match e {
            SegmentError::Refused { reason } => SegmentError::Refused {
                reason: format!("shm object {os_name}: {reason}"),
            },
            other => other,
        };
        let fd = shm_open_nofollow(&os_name, shm::OFlags::RDWR, Mode::empty())
            .map_err(|e| named(errno_to_segment(e)))?;
        let stat = rustix::fs::fstat(&fd).map_err(errno_to_segment)?;
        check_trusted_file(&stat).map_err(named)?;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        if size == 0 {
            // The creator has run shm_open but not yet ftruncate.
            return Err(SegmentError::NotReady);
        }
        let len = usize::try_from(size).map_err(|_| SegmentError::BadSize { size })?;
        let live = liveness(&fd, &os_name, false)?;
        map(fd, len, live)
    }

    pub(super) fn base(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether a SIGBUS inside the mapping (the file was shrunk under it) was contained by
    /// replacing it with zero pages.
    pub(super) fn is_faulted(&self) -> bool {
        self.reg.is_faulted()
    }

    /// The id this mapping's owner lock covers (the pid of the process that opened it).
    #[cfg(target_os = "linux")]
    pub(super) fn owner_id(&self) -> u32 {
        self.liveness.owner
    }

    /// The calling process's pid (no liveness locks here: `crate::claims`).
    #[cfg(not(target_os = "linux"))]
    pub(super) fn owner_id(&self) -> u32 {
        std::process::id()
    }

    /// Whether anyone holds `id`'s lock of `family` on this segment's file (`None`: unknown).
    #[cfg(target_os = "linux")]
    pub(super) fn lock_held(&self, family: super::locks::Family, id: u32) -> Option<bool> {
        super::locks::held(self.liveness.probe.as_ref()?, family, id)
    }

    // `st_mode` is u32 on Linux and u16 on macOS.
    #[allow(clippy::useless_conversion)]
    pub(super) fn permissions(&self) -> Option<u32> {
        rustix::fs::fstat(&self.fd)
            .ok()
            .map(|st| u32::from(st.st_mode) & 0o777)
    }
}

/// `shm_open` that never follows a symbolic link, as glibc's does (`O_NOFOLLOW`): where the
/// OS shows shm objects as files (Linux `/dev/shm`), a same-user process could otherwise plant
/// `/dev/shm/ringwire.NAME -> ~/.ssh/authorized_keys` and have `connect` map that file
/// read/write. Elsewhere (macOS) shm names are not paths and cannot be links.
fn shm_open_nofollow(os_name: &str, flags: shm::OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
    if let Some(dir) = posix_shm_dir() {
        let file = os_name.trim_start_matches('/');
        let mut oflags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC;
        oflags |= rustix::fs::OFlags::from_bits_retain(flags.bits());
        return rustix::fs::open(dir.join(file), oflags, mode);
    }
    shm::open(os_name, flags, mode)
}

/// Refuses an opened shm object that is not a regular file owned by this process's effective
/// user: a FIFO or device would block or misbehave under `mmap`, and another user's file is
/// not a segment this user's peers created (root may still open anything it is given).
// `st_mode` is u32 on Linux and u16 on macOS.
#[allow(clippy::useless_conversion)]
fn check_trusted_file(stat: &rustix::fs::Stat) -> Result<(), SegmentError> {
    let file_type = rustix::fs::FileType::from_raw_mode(u32::from(stat.st_mode) as _);
    if file_type != rustix::fs::FileType::RegularFile {
        return Err(SegmentError::Refused {
            reason: format!("it is not a regular file ({file_type:?})"),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me {
        return Err(SegmentError::Refused {
            reason: format!(
                "it is owned by uid {}, not by this user (uid {me})",
                stat.st_uid
            ),
        });
    }
    Ok(())
}

/// Gives a fresh shm object its size, reserving the pages first where the OS can.
fn size_new(fd: &OwnedFd, len: u64, reserve: bool) -> Result<(), SegmentError> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if reserve {
        match rustix::fs::fallocate(fd, rustix::fs::FallocateFlags::empty(), 0, len) {
            Ok(()) => return Ok(()),
            Err(Errno::NOSPC) | Err(Errno::FBIG) => {
                let available = rustix::fs::fstatvfs(fd)
                    .ok()
                    .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
                return Err(SegmentError::NoSpace {
                    requested: len,
                    available,
                });
            }
            // Kernels or file systems without fallocate: size it and hope for the best.
            Err(Errno::OPNOTSUPP) | Err(Errno::NOSYS) => {}
            Err(e) => return Err(errno_to_segment(e)),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = reserve;
    rustix::fs::ftruncate(fd, len).map_err(|e| match errno_to_segment(e) {
        SegmentError::NoSpace { available, .. } => SegmentError::NoSpace {
            requested: len,
            available,
        },
        SegmentError::Io(_) if e == Errno::INVAL || e == Errno::FBIG => {
            SegmentError::BadSize { size: len }
        }
        other => other,
    })
}

/// Takes this process's liveness locks on the shm file behind `fd` (its owner lock; the creator
/// lock too for the `creator`) and opens the probe: `segment/locks.rs`.
#[cfg(target_os = "linux")]
fn liveness(fd: &OwnedFd, os_name: &str, creator: bool) -> Result<Liveness, SegmentError> {
    use super::locks::{Family, take};
    use std::os::fd::AsFd;
    let owner = std::process::id();
    let mut families = vec![Family::Owner];
    if creator {
        families.push(Family::Creator);
    }
    for family in families {
        take(fd.as_fd(), family, owner).map_err(|e| {
            SegmentError::Io(std::io::Error::other(format!(
                "cannot take the liveness lock on shm object {os_name} (open file description                  locks need Linux 3.15 or later): {e}"
            )))
        })?;
    }
    let probe = reopen(fd, os_name);
    if probe.is_none() {
        log::warn!(
            "shm object {os_name}: could not open it a second time to check its peers' liveness              locks; peers of this mapping are never judged dead"
        );
    }
    Ok(Liveness { owner, probe })
}

#[cfg(not(target_os = "linux"))]
fn liveness(_fd: &OwnedFd, _os_name: &str, _creator: bool) -> Result<Liveness, SegmentError> {
    Ok(Liveness)
}

/// A second open file description of the very file behind `fd` (read-only, never locked): by
/// its name, or through `/proc/self/fd` if the name now leads elsewhere; checked by device and
/// inode either way.
#[cfg(target_os = "linux")]
fn reopen(fd: &OwnedFd, os_name: &str) -> Option<OwnedFd> {
    use rustix::fs::OFlags;
    use std::os::fd::AsRawFd;
    let want = rustix::fs::fstat(fd).ok()?;
    let same = |other: &OwnedFd| {
        rustix::fs::fstat(other)
            .is_ok_and(|st| st.st_dev == want.st_dev && st.st_ino == want.st_ino)
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let by_name = posix_shm_dir().and_then(|dir| {
        rustix::fs::open(
            dir.join(os_name.trim_start_matches('/')),
            flags,
            Mode::empty(),
        )
        .ok()
    });
    if let Some(probe) = by_name.filter(&same) {
        return Some(probe);
    }
    let by_fd = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::open(by_fd, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .ok()
        .filter(&same)
}

fn map(fd: OwnedFd, len: usize, liveness: Liveness) -> Result<Mapping, SegmentError> {
    // SAFETY: a fresh mapping at an address the kernel picks (null hint) cannot alias any
    // Rust object; `fd` is a valid shm descriptor of at least `len` bytes (sized above or
    // checked with fstat), so the whole range is backed.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            &fd,
            0,
        )
    }
    .map_err(errno_to_segment)?;
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(SegmentError::Io(std::io::Error::other(
        "mmap returned a null mapping",
    )))?;
    let reg = Registration::new(ptr.as_ptr() as usize, len);
    Ok(Mapping {
        ptr,
        len,
        fd,
        reg,
        liveness,
    })
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // Leave the fault table first: the handler must never remap a range after munmap.
        self.reg.release();
        // SAFETY: `ptr`/`len` are exactly the range `mmap` returned, mapped once and unmapped
        // only here; every borrow of the region is tied to a handle that keeps this alive.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
        // Only now (the fields drop after this body) is `fd` closed, releasing the liveness
        // locks: no id they cover is judged dead while this mapping exists.
    }
}

pub(super) fn unlink(name: &SegmentName) -> Result<(), SegmentError> {
    shm::unlink(name.os_name().as_str()).map_err(errno_to_segment)
}
