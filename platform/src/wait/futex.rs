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

    /// `futex_waitv` (Linux 5.16+): one sleep on up to 128 words; older kernels poll.
    fn wait_any(&self, words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> WaitOutcome {
        if words.is_empty() || words.len() > 128 {
            return super::poll_any(words, timeout);
        }
        let waits: Vec<futex::Wait> = words
            .iter()
            .map(|(w, expected)| {
                let mut wait = futex::Wait::new();
                wait.val = u64::from(*expected);
                wait.uaddr = futex::WaitPtr::new(w.as_ptr().cast());
                wait.flags = futex::WaitFlags::SIZE_U32;
                wait
            })
            .collect();
        // futex_waitv takes an absolute CLOCK_MONOTONIC deadline.
        let deadline = match timeout {
            None => None,
            Some(t) => {
                let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
                let nanos = now.tv_nsec as u64 + u64::from(t.subsec_nanos());
                Some(futex::Timespec {
                    tv_sec: now
                        .tv_sec
                        .saturating_add(t.as_secs().min(i64::MAX as u64 / 2) as _)
                        .saturating_add((nanos / 1_000_000_000) as _),
                    tv_nsec: (nanos % 1_000_000_000) as _,
                })
            }
        };
        match futex::waitv(
            &waits,
            futex::WaitvFlags::empty(),
            deadline.as_ref(),
            futex::ClockId::Monotonic,
        ) {
            Ok(_) => WaitOutcome::Woken,
            Err(Errno::AGAIN) => WaitOutcome::Changed,
            Err(Errno::TIMEDOUT) => WaitOutcome::TimedOut,
            Err(Errno::NOSYS) => super::poll_any(words, timeout),
            Err(_) => WaitOutcome::Woken,
        }
    }
}
