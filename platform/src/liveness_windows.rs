//! Windows process liveness: `OpenProcess` + `GetExitCodeProcess`, start time from
//! `GetProcessTimes`. Compile-checked only: there is no Windows machine in CI.
#![allow(unsafe_code)]

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INVALID_PARAMETER, FILETIME, GetLastError, HANDLE, STILL_ACTIVE,
};
use windows_sys::Win32::System::Threading::{
    GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
};

fn with_process<T>(pid: u32, f: impl FnOnce(HANDLE) -> Option<T>) -> Option<T> {
    // SAFETY: OpenProcess has no memory-safety preconditions; a null result means failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        return None;
    }
    let out = f(h);
    // SAFETY: `h` is the valid handle opened above, closed once.
    unsafe { CloseHandle(h) };
    out
}

pub(super) fn start_time(pid: u32) -> Option<u64> {
    with_process(pid, |h| {
        let zero = FILETIME {
            dwLowDateTime: 0,
            dwHighDateTime: 0,
        };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        // SAFETY: `h` is a valid process handle; the four out-pointers are live locals.
        let ok = unsafe { GetProcessTimes(h, &mut created, &mut exited, &mut kernel, &mut user) };
        (ok != 0)
            .then(|| (u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime))
    })
}

pub(super) fn is_alive(pid: u32, start: u64) -> bool {
    let running = with_process(pid, |h| {
        let mut code = 0u32;
        // SAFETY: `h` is a valid process handle; `code` is a live local.
        let ok = unsafe { GetExitCodeProcess(h, &mut code) };
        Some(ok != 0 && code == STILL_ACTIVE as u32)
    })
    .unwrap_or(false);
    running && (start == 0 || start_time(pid) == Some(start))
}

/// Whether process `pid` has certainly ended (for claim recovery, where every doubt must read as
/// alive): `OpenProcess` fails with `ERROR_INVALID_PARAMETER` (no such pid), or the process has
/// an exit code. Access denied and other failures count as alive.
pub(super) fn certainly_dead(pid: u32) -> bool {
    // SAFETY: OpenProcess has no memory-safety preconditions; a null result means failure.
    let h = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if h.is_null() {
        // SAFETY: GetLastError only reads this thread's last-error value.
        return unsafe { GetLastError() } == ERROR_INVALID_PARAMETER;
    }
    let mut code = 0u32;
    // SAFETY: `h` is a valid process handle; `code` is a live local.
    let ok = unsafe { GetExitCodeProcess(h, &mut code) };
    // SAFETY: `h` is the valid handle opened above, closed once.
    unsafe { CloseHandle(h) };
    ok != 0 && code != STILL_ACTIVE as u32
}
