//! Linux futex waiter: `FUTEX_WAIT`/`FUTEX_WAKE` without `FUTEX_PRIVATE_FLAG`, so the kernel
//! keys the wait queue by the physical page and a word in a `MAP_SHARED` segment works across
//! processes. rustix exposes these calls as safe functions taking `&AtomicU32`.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

use super::{WaitOutcome, Waiter};

/// Cross-process waiter on Linux futexes.
#[derive(Debug, Default, Clone, Copy)]
pub struct FutexWaiter;

impl Waiter for FutexWaiter {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        let ts = timeout.map(|t| futex::Timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: t.subsec_nanos() as _,
        });
        match futex::wait(word, futex::Flags::empty(), expected, ts.as_ref()) {
            Ok(()) => WaitOutcome::Woken,
            Err(Errno::AGAIN) => WaitOutcome::Changed,
            Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
            // EINTR (a signal) and anything unexpected: report a spurious wake; callers re-check.
            Err(_) => WaitOutcome::Woken,
        }
    }

    fn wake_all(&self, word: &AtomicU32) {
        let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
    }

    fn wake_one(&self, word: &AtomicU32) {
        let _ = futex::wake(word, futex::Flags::empty(), 1);
    }
}
