//! Named shared-memory segments: create, open, map and unlink a block of memory that other
//! processes on this machine can map by name.
//!
//! POSIX (Linux, macOS): `shm_open` + `ftruncate` + `mmap(MAP_SHARED)`. On Linux the memory is
//! reserved at creation with `fallocate` on the shm file, so a full `/dev/shm` (Docker's default
//! is 64 MiB) is reported as [`SegmentError::NoSpace`] by `create` instead of killing the process
//! with SIGBUS the first time a page is touched. Windows: a pagefile-backed named file mapping
//! (`CreateFileMappingW`), see `segment/windows.rs`.
//!
//! A segment is created owner-only (mode 0600) unless [`CreateOptions::permissions`] says
//! otherwise. Its contents are not interpreted here: `ringwire-core`'s segment header and rings
//! live inside, and treat every byte as untrusted.
//!
//! ```
//! use ringwire_platform::{name::SegmentName, segment::Segment};
//! let name = SegmentName::new(&format!("doc-seg-{}", std::process::id())).unwrap();
//! let seg = Segment::create(&name, 4096).unwrap();
//! let other = Segment::open(&name).unwrap();
//! assert_eq!(other.len(), 4096);
//! drop(other);
//! drop(seg); // the creator unlinks the name on drop by default
//! assert!(Segment::open(&name).is_err());
//! ```

use std::fmt;
use std::io;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::name::{NameError, SegmentName};

#[path = "segment/atomic.rs"]
mod atomic;
#[cfg(unix)]
#[path = "segment/unix.rs"]
mod imp;
#[cfg(windows)]
#[path = "segment/windows.rs"]
mod imp;
#[cfg(target_os = "linux")]
#[path = "segment/locks.rs"]
pub(crate) mod locks;
#[cfg(unix)]
#[path = "segment/sigbus.rs"]
mod sigbus;
pub use atomic::{atomic_u32_at, atomic_u64_at};

/// Why a segment could not be created or opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum SegmentError {
    /// The name is not a valid segment name.
    Name(NameError),
    /// `create` found a segment of that name already there.
    Exists,
    /// `open` found no segment of that name.
    NotFound,
    /// The segment exists but its creator has not sized it yet; retry shortly.
    NotReady,
    /// The machine's shared memory (e.g. `/dev/shm`) has no room for the segment.
    NoSpace {
        /// Bytes requested.
        requested: u64,
        /// Bytes the shared-memory file system reported free, if known.
        available: Option<u64>,
    },
    /// The requested or found size is unusable (zero, or larger than the address space).
    BadSize {
        /// The size in bytes.
        size: u64,
    },
    /// The OS refused access (another user's segment, or permissions).
    PermissionDenied,
    /// A live process owns the segment (e.g. a second publisher binding the same name).
    InUse {
        /// The owner's process id.
        pid: u32,
    },
    /// The name exists but is not a segment this process may trust: a symbolic link, not a
    /// regular file, or owned by another user. Nothing was mapped.
    Refused {
        /// Why, in words.
        reason: String,
    },
    /// The segment's memory became inaccessible under this process (another process shrank
    /// the shm file, e.g. `truncate -s 0 /dev/shm/ringwire.NAME`); the SIGBUS that followed
    /// was contained by replacing the mapping with zero pages. Its contents are gone: drop the
    /// socket and re-create or re-connect it.
    Faulted,
    /// Any other OS error.
    Io(io::Error),
}

impl fmt::Display for SegmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(e) => e.fmt(f),
            Self::Exists => f.write_str("a shared-memory segment of that name already exists"),
            Self::NotFound => f.write_str("no shared-memory segment of that name exists"),
            Self::NotReady => f.write_str("the segment's creator has not finished creating it"),
            Self::NoSpace {
                requested,
                available: Some(avail),
            } => write!(
                f,
                "not enough shared memory: segment needs {requested} bytes, {avail} free \
                 (enlarge /dev/shm, e.g. docker run --shm-size, or use fewer/smaller slots)"
            ),
            Self::NoSpace { requested, .. } => write!(
                f,
                "not enough shared memory for a segment of {requested} bytes \
                 (enlarge /dev/shm, e.g. docker run --shm-size, or use fewer/smaller slots)"
            ),
            Self::BadSize { size } => write!(f, "unusable segment size: {size} bytes"),
            Self::PermissionDenied => f.write_str("permission denied for the segment"),
            Self::InUse { pid } => write!(
                f,
                "the segment is owned by live process {pid}; only one process may bind an shm \
                 endpoint (one publisher per topic, one replier per service)"
            ),
            Self::Refused { reason } => write!(
                f,
                "refusing to map the shared-memory object: {reason} (remove it if it is not \
                 a segment you created)"
            ),
            Self::Faulted => f.write_str(
                "the shared-memory segment was truncated under this process (its memory faulted \
                 with SIGBUS, which was contained); its contents are lost, re-create the socket",
            ),
            Self::Io(e) => write!(f, "shared-memory I/O error: {e}"),
        }
    }
}

impl std::error::Error for SegmentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Name(e) => Some(e),
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<NameError> for SegmentError {
    fn from(e: NameError) -> Self {
        Self::Name(e)
    }
}

/// How `create_with` treats a segment that already has the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CreateMode {
    /// Fail with [`SegmentError::Exists`].
    #[default]
    Exclusive,
    /// Unlink the old name and create a fresh segment. Processes that still map the old one
    /// keep their (now nameless) copy. Use only once you know its owner is gone.
    Replace,
}

/// Options for [`Segment::create_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOptions {
    /// What to do if the name is taken.
    pub mode: CreateMode,
    /// POSIX permission bits (default `0o600`, owner only; the umask may remove bits).
    pub permissions: u32,
    /// Reserve the memory now (Linux `fallocate`) so a full `/dev/shm` fails here (default true).
    pub reserve: bool,
    /// Unlink the name when the creating handle is dropped (default true).
    pub unlink_on_drop: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        Self {
            mode: CreateMode::Exclusive,
            permissions: 0o600,
            reserve: true,
            unlink_on_drop: true,
        }
    }
}

/// A mapped named segment. Unmapped on drop; unlinked on drop too if this handle created it
/// and `unlink_on_drop` is set.
pub struct Segment {
    name: SegmentName,
    map: imp::Mapping,
    created: bool,
    unlink_on_drop: bool,
}

impl Segment {
    /// Creates a new segment of `len` bytes (exclusive, mode 0600, reserved, unlinked on drop).
    pub fn create(name: &SegmentName, len: usize) -> Result<Self, SegmentError> {
        Self::create_with(name, len, &CreateOptions::default())
    }

    /// Creates a new segment of `len` bytes with `options`. The memory reads as zeros.
    pub fn create_with(
        name: &SegmentName,
        len: usize,
        options: &CreateOptions,
    ) -> Result<Self, SegmentError> {
        if len == 0 {
            return Err(SegmentError::BadSize { size: 0 });
        }
        let map = imp::Mapping::create(name, len, options)?;
        log::debug!("created shm segment {name} ({len} bytes)");
        Ok(Self {
            name: name.clone(),
            map,
            created: true,
            unlink_on_drop: options.unlink_on_drop,
        })
    }

    /// Opens and maps an existing segment (its whole length).
    pub fn open(name: &SegmentName) -> Result<Self, SegmentError> {
        let map = imp::Mapping::open(name)?;
        Ok(Self {
            name: name.clone(),
            map,
            created: false,
            unlink_on_drop: false,
        })
    }

    /// Removes the name so that later `open`s fail; existing mappings stay valid.
    /// A no-op on Windows, where a mapping disappears with its last handle.
    pub fn unlink(name: &SegmentName) -> Result<(), SegmentError> {
        imp::unlink(name)
    }

    /// The segment's name.
    pub fn name(&self) -> &SegmentName {
        &self.name
    }

    /// Start of the mapping (page-aligned, so at least 64-byte aligned).
    pub fn base(&self) -> NonNull<u8> {
        self.map.base()
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always false: a segment has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether this handle created the segment.
    pub fn is_creator(&self) -> bool {
        self.created
    }

    /// Whether dropping this handle unlinks the name.
    pub fn unlinks_on_drop(&self) -> bool {
        self.unlink_on_drop
    }

    /// Sets whether dropping this handle unlinks the name (any handle may take this duty).
    pub fn set_unlink_on_drop(&mut self, unlink: bool) {
        self.unlink_on_drop = unlink;
    }

    /// Whether this mapping faulted (the shm file was shrunk under it) and was replaced by
    /// zero pages; see [`SegmentError::Faulted`]. One relaxed load while no fault happened in
    /// the process; always false on Windows, where a mapped section cannot shrink.
    pub fn is_faulted(&self) -> bool {
        self.map.is_faulted()
    }

    /// The owner id this process records in claims, slots and table entries of this segment:
    /// its pid. On Linux it is the pid whose liveness lock this mapping holds
    /// ([`crate::claims`]), taken when the segment was opened; after a `fork` the child keeps
    /// using it (it shares the lock's open file description, so the id stays alive while
    /// either process maps the segment). Elsewhere the calling process's pid.
    pub fn owner_id(&self) -> u32 {
        self.map.owner_id()
    }

    /// Whether any open of this segment's file holds the liveness lock of `id` (Linux):
    /// `None` if the kernel could not tell.
    #[cfg(target_os = "linux")]
    pub(crate) fn lock_held(&self, family: locks::Family, id: u32) -> Option<bool> {
        self.map.lock_held(family, id)
    }

    /// POSIX permission bits of the segment object (`None` where the OS has none).
    pub fn permissions(&self) -> Option<u32> {
        self.map.permissions()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.unlink_on_drop {
            match imp::unlink(&self.name) {
                Ok(()) | Err(SegmentError::NotFound) => {}
                Err(e) => log::warn!("could not unlink shm segment {}: {e}", self.name),
            }
        }
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("len", &self.len())
            .field("created", &self.created)
            .finish()
    }
}

/// Whether `addr` lies inside a segment mapping of this process that faulted (see
/// [`Segment::is_faulted`]). For code that holds an address into a segment but not the
/// [`Segment`] (a core ring over a window of it). One relaxed load while no fault happened.
pub fn is_faulted_at(addr: *const u8) -> bool {
    #[cfg(unix)]
    return sigbus::faulted_at(addr as usize);
    #[cfg(not(unix))]
    {
        let _ = addr;
        false
    }
}

/// A cloneable, shareable handle to a mapped segment: what rings are built over (it implements
/// `ringwire_core::region::Region`). The mapping lives until the last clone is dropped.
#[derive(Clone, Debug)]
pub struct SharedSegment(Arc<Segment>);

impl SharedSegment {
    /// Wraps a segment.
    pub fn new(segment: Segment) -> Self {
        Self(Arc::new(segment))
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.0
    }
}

impl From<Segment> for SharedSegment {
    fn from(segment: Segment) -> Self {
        Self::new(segment)
    }
}

impl std::ops::Deref for SharedSegment {
    type Target = Segment;
    fn deref(&self) -> &Segment {
        &self.0
    }
}

#[cfg(unix)]
pub(crate) use imp::posix_shm_dir;

/// Names of the ringwire segments that currently exist, read from the shm file system
/// (`/dev/shm` on Linux). Empty where the OS does not list shm objects (macOS, Windows).
pub fn list_names() -> Vec<SegmentName> {
    #[cfg(unix)]
    if let Some(dir) = posix_shm_dir() {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<SegmentName> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let file = e.file_name();
                let rest = file.to_str()?.strip_prefix(crate::name::OS_PREFIX)?;
                SegmentName::new(rest).ok()
            })
            .collect();
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        return names;
    }
    Vec::new()
}
