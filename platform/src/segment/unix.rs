//! POSIX shared memory: `shm_open` + `fallocate`/`ftruncate` + `mmap(MAP_SHARED)`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use rustix::shm;

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
    fd: OwnedFd,
}

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
        let fd = match shm::open(os_name.as_str(), flags, mode) {
            Err(Errno::EXIST) if options.mode == CreateMode::Replace => {
                match shm::unlink(os_name.as_str()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(errno_to_segment(e)),
                }
                shm::open(os_name.as_str(), flags, mode)
            }
            other => other,
        }
        .map_err(errno_to_segment)?;
        // From here on the name exists: remove it again if sizing or mapping fails.
        let sized = size_new(&fd, len as u64, options.reserve).and_then(|()| map(fd, len));
        if sized.is_err() {
            let _ = shm::unlink(os_name.as_str());
        }
        sized
    }

    pub(super) fn open(name: &SegmentName) -> Result<Self, SegmentError> {
        let os_name = name.os_name();
        let fd = shm::open(os_name.as_str(), shm::OFlags::RDWR, Mode::empty())
            .map_err(errno_to_segment)?;
        let stat = rustix::fs::fstat(&fd).map_err(errno_to_segment)?;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        if size == 0 {
            // The creator has run shm_open but not yet ftruncate.
            return Err(SegmentError::NotReady);
        }
        let len = usize::try_from(size).map_err(|_| SegmentError::BadSize { size })?;
        map(fd, len)
    }

    pub(super) fn base(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    // `st_mode` is u32 on Linux and u16 on macOS.
    #[allow(clippy::useless_conversion)]
    pub(super) fn permissions(&self) -> Option<u32> {
        rustix::fs::fstat(&self.fd)
            .ok()
            .map(|st| u32::from(st.st_mode) & 0o777)
    }
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

fn map(fd: OwnedFd, len: usize) -> Result<Mapping, SegmentError> {
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
    Ok(Mapping { ptr, len, fd })
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the range `mmap` returned, mapped once and unmapped
        // only here; every borrow of the region is tied to a handle that keeps this alive.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast::<c_void>(), self.len) };
    }
}

pub(super) fn unlink(name: &SegmentName) -> Result<(), SegmentError> {
    shm::unlink(name.os_name().as_str()).map_err(errno_to_segment)
}
