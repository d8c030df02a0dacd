//! macOS waiter: `__ulock_wait`/`__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED`, which keys
//! the wait by the shared memory object, so it works across processes. These are the calls
//! libc++ uses for `std::atomic::wait` since macOS 10.12; `os_sync_wait_on_address` (macOS 14.4)
//! is the public successor. Compile-checked only: there is no macOS machine in CI.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use super::{WaitOutcome, Waiter};

const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;
const ULF_WAKE_ALL: u32 = 0x0000_0100;
const ULF_NO_ERRNO: u32 = 0x0100_0000;
const ETIMEDOUT: i32 = 60;
const ENOENT: i32 = 2;

unsafe extern "C" {
    fn __ulock_wait(operation: u32, addr: *mut c_void, value: u64, timeout_us: u32) -> i32;
    fn __ulock_wake(operation: u32, addr: *mut c_void, wake_value: u64) -> i32;
}

/// Cross-process waiter on macOS.
#[derive(Debug, Default, Clone, Copy)]
pub struct UlockWaiter;

impl Waiter for UlockWaiter {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        // 0 means "no timeout" to __ulock_wait, so a finite timeout is at least 1 µs.
        let us = match timeout {
            None => 0,
            Some(t) => t.as_micros().clamp(1, u128::from(u32::MAX)) as u32,
        };
        // SAFETY: `word` is a live, aligned AtomicU32 for the whole call; the kernel only
        // compares it with `expected` and sleeps, it never writes through the pointer.
        let rc = unsafe {
            __ulock_wait(
                UL_COMPARE_AND_WAIT_SHARED | ULF_NO_ERRNO,
                word.as_ptr().cast::<c_void>(),
                u64::from(expected),
                us,
            )
        };
        if rc >= 0 {
            WaitOutcome::Woken
        } else if rc == -ETIMEDOUT {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Woken
        }
    }

    fn wake_all(&self, word: &AtomicU32) {
        // SAFETY: `word` is a live AtomicU32; wake only uses its address as a key.
        let rc = unsafe {
            __ulock_wake(
                UL_COMPARE_AND_WAIT_SHARED | ULF_WAKE_ALL | ULF_NO_ERRNO,
                word.as_ptr().cast::<c_void>(),
                0,
            )
        };
        // -ENOENT: nobody was waiting.
        debug_assert!(rc >= 0 || rc == -ENOENT);
    }
}
