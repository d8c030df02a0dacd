//! Windows named file mappings backed by the paging file (`CreateFileMappingW` with
//! `INVALID_HANDLE_VALUE`). Kept small: it is compile-checked only (CI has no Windows runner).
//!
//! Names live in the session-local `Local\` namespace and get the default security descriptor
//! of the creating process's token, so only that user can open them (the Windows analogue of
//! mode 0600). A mapping disappears when its last handle closes, so there is nothing to unlink
//! and nothing is left behind by a crashed process. The committed size is reserved by the
//! creation call itself: a machine out of commit charge fails there with `NoSpace`.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::ptr::NonNull;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_ACCESS_DENIED, ERROR_ALREADY_EXISTS, ERROR_COMMITMENT_LIMIT,
    ERROR_FILE_NOT_FOUND, ERROR_NOT_ENOUGH_MEMORY, GetLastError, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::System::Memory::{
    CreateFileMappingW, FILE_MAP_ALL_ACCESS, MEMORY_BASIC_INFORMATION, MEMORY_MAPPED_VIEW_ADDRESS,
    MapViewOfFile, OpenFileMappingW, PAGE_READWRITE, UnmapViewOfFile, VirtualQuery,
};

use super::{CreateOptions, SegmentError};
use crate::name::SegmentName;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

fn last_error() -> SegmentError {
    // SAFETY: GetLastError only reads this thread's last-error value.
    match unsafe { GetLastError() } {
        ERROR_ALREADY_EXISTS => SegmentError::Exists,
        ERROR_FILE_NOT_FOUND => SegmentError::NotFound,
        ERROR_ACCESS_DENIED => SegmentError::PermissionDenied,
        ERROR_NOT_ENOUGH_MEMORY | ERROR_COMMITMENT_LIMIT => SegmentError::NoSpace {
            requested: 0,
            available: None,
        },
        code => SegmentError::Io(std::io::Error::from_raw_os_error(code as i32)),
    }
}

pub(super) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    handle: HANDLE,
}

// SAFETY: the view and the handle are owned by this value and not tied to a thread; the bytes
// are accessed only through ringwire-core's atomics and checked copies.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out the base pointer and length.
unsafe impl Sync for Mapping {}

impl Mapping {
    pub(super) fn create(
        name: &SegmentName,
        len: usize,
        _options: &CreateOptions,
    ) -> Result<Self, SegmentError> {
        let wname = wide(&name.os_name());
        let size = len as u64;
        // SAFETY: `wname` is NUL-terminated and outlives the call; null security attributes
        // mean the default descriptor of our token.
        let handle = unsafe {
            CreateFileMappingW(
                INVALID_HANDLE_VALUE,
                std::ptr::null(),
                PAGE_READWRITE,
                (size >> 32) as u32,
                size as u32,
                wname.as_ptr(),
            )
        };
        if handle.is_null() {
            return Err(last_error());
        }
        // SAFETY: reads this thread's last-error value right after the call that set it.
        if unsafe { GetLastError() } == ERROR_ALREADY_EXISTS {
            // Windows has no way to replace a live mapping by name; `Replace` fails too.
            // SAFETY: `handle` is the valid handle returned above, closed once.
            unsafe { CloseHandle(handle) };
            return Err(SegmentError::Exists);
        }
        map(handle, len)
    }

    pub(super) fn open(name: &SegmentName) -> Result<Self, SegmentError> {
        let wname = wide(&name.os_name());
        // SAFETY: `wname` is NUL-terminated and outlives the call.
        let handle = unsafe { OpenFileMappingW(FILE_MAP_ALL_ACCESS, 0, wname.as_ptr()) };
        if handle.is_null() {
            return Err(last_error());
        }
        // Length 0 maps the whole object; VirtualQuery then tells its (page-rounded) size.
        let mut mapping = map(handle, 0)?;
        let mut info: MEMORY_BASIC_INFORMATION = unsafe_zeroed_mbi();
        // SAFETY: `info` is a valid, writable MEMORY_BASIC_INFORMATION of the size we pass.
        let got = unsafe {
            VirtualQuery(
                mapping.ptr.as_ptr().cast::<c_void>(),
                &mut info,
                std::mem::size_of::<MEMORY_BASIC_INFORMATION>(),
            )
        };
        if got == 0 {
            return Err(last_error());
        }
        mapping.len = info.RegionSize;
        Ok(mapping)
    }

    pub(super) fn base(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The calling process's pid (claims are judged by pid on Windows: `crate::claims`).
    pub(super) fn owner_id(&self) -> u32 {
        std::process::id()
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// A mapped section cannot shrink under its mappers on Windows.
    pub(super) fn is_faulted(&self) -> bool {
        false
    }

    pub(super) fn permissions(&self) -> Option<u32> {
        None
    }
}

fn unsafe_zeroed_mbi() -> MEMORY_BASIC_INFORMATION {
    // SAFETY: MEMORY_BASIC_INFORMATION is a plain C struct of integers and pointers, for
    // which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

fn map(handle: HANDLE, len: usize) -> Result<Mapping, SegmentError> {
    // SAFETY: `handle` is a valid file-mapping handle; the kernel picks the address.
    let view = unsafe { MapViewOfFile(handle, FILE_MAP_ALL_ACCESS, 0, 0, len) };
    match NonNull::new(view.Value.cast::<u8>()) {
        Some(ptr) => Ok(Mapping { ptr, len, handle }),
        None => {
            let err = last_error();
            // SAFETY: `handle` is valid and closed exactly once here.
            unsafe { CloseHandle(handle) };
            Err(err)
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let view = MEMORY_MAPPED_VIEW_ADDRESS {
            Value: self.ptr.as_ptr().cast::<c_void>(),
        };
        // SAFETY: `view` is the address MapViewOfFile returned, unmapped once; `handle` is ours.
        unsafe {
            UnmapViewOfFile(view);
            CloseHandle(self.handle);
        }
    }
}

pub(super) fn unlink(_name: &SegmentName) -> Result<(), SegmentError> {
    Ok(())
}
