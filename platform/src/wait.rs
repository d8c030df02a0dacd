//! Waiting on a 32-bit word until another thread or process changes it, and waking waiters.
//!
//! This is the futex model (Linux `futex(2)`, Drepper's "Futexes Are Tricky"): a waiter passes
//! the value it last saw; the kernel puts it to sleep only if the word still holds that value,
//! atomically with respect to a waker that changes the word and then calls wake. So a wake-up
//! can never be lost between "check the ring" and "go to sleep", provided the producer changes
//! the word *before* it wakes. A blocked receiver costs no CPU; a sender only pays a syscall
//! when the ring reports a registered waiter.
//!
//! One trait, [`Waiter`], several implementations (STYLE.md: a trait per OS concept, a
//! process-local implementation, one conformance suite):
//! - `FutexWaiter` (Linux): shared (not `FUTEX_PRIVATE`) futexes, so it works across
//!   processes on a word inside a shared mapping.
//! - `UlockWaiter` (macOS): `__ulock_wait`/`__ulock_wake` with `UL_COMPARE_AND_WAIT_SHARED`,
//!   the primitive libc++ uses for `std::atomic::wait`.
//! - [`PollWaiter`] (everywhere): spin, yield, then sleep with a growing back-off capped at
//!   1 ms. Used on Windows, where `WaitOnAddress` only works within one process.
//! - [`InProcessWaiter`]: a mutex and condvar, for tests, Miri and loom-style runs.
//!
//! [`OsWaiter`] names the best cross-process implementation for the build target.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod futex;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use futex::FutexWaiter;

#[cfg(target_vendor = "apple")]
mod ulock;
#[cfg(target_vendor = "apple")]
pub use ulock::UlockWaiter;

/// The cross-process waiter for this platform.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub type OsWaiter = FutexWaiter;
/// The cross-process waiter for this platform.
#[cfg(target_vendor = "apple")]
pub type OsWaiter = UlockWaiter;
/// The cross-process waiter for this platform.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
pub type OsWaiter = PollWaiter;

/// Why [`Waiter::wait`] returned. Callers re-check their condition in every case: a wake-up
/// may be spurious, and the word may change again right after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOutcome {
    /// Woken (possibly spuriously, e.g. by a signal).
    Woken,
    /// The word no longer held `expected`, so it did not sleep.
    Changed,
    /// The timeout passed.
    TimedOut,
}

/// Sleeps on a 32-bit word; see the module docs for the protocol.
pub trait Waiter: Send + Sync {
    /// Sleeps while `*word == expected`, for at most `timeout` (`None`: no limit).
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome;
    /// Wakes every waiter sleeping on `word`. Call it after changing the word.
    fn wake_all(&self, word: &AtomicU32);
    /// Wakes at least one waiter sleeping on `word` (implementations may wake more).
    fn wake_one(&self, word: &AtomicU32) {
        self.wake_all(word);
    }
    /// Sleeps while every `(word, expected)` pair still matches, for at most `timeout`; a
    /// change of any word (followed by a wake) ends the wait. Used by pollers. The default
    /// polls like [`PollWaiter`].
    fn wait_any(&self, words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> WaitOutcome {
        poll_any(words, timeout)
    }
}

/// Whether any `(word, expected)` pair differs now.
fn any_changed(words: &[(&AtomicU32, u32)]) -> bool {
    // SYNC: Acquire pairs with the waker's Release change of the word.
    words.iter().any(|(w, e)| w.load(Ordering::Acquire) != *e)
}

/// The polling strategy of [`PollWaiter`], over several words.
fn poll_any(words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> WaitOutcome {
    let start = Instant::now();
    let mut backoff = Duration::from_micros(20);
    for round in 0u32.. {
        if any_changed(words) {
            return if round == 0 {
                WaitOutcome::Changed
            } else {
                WaitOutcome::Woken
            };
        }
        let elapsed = start.elapsed();
        let left = match timeout {
            Some(t) if elapsed >= t => return WaitOutcome::TimedOut,
            Some(t) => t - elapsed,
            None => Duration::MAX,
        };
        if round < 64 {
            std::hint::spin_loop();
        } else if round < 80 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(backoff.min(left));
            backoff = (backoff * 2).min(Duration::from_millis(1));
        }
    }
    WaitOutcome::TimedOut
}

/// Waits until `word != expected` or `deadline` passes, re-sleeping after spurious wake-ups.
/// Returns true if the word changed.
pub fn wait_until_changed(
    waiter: &dyn Waiter,
    word: &AtomicU32,
    expected: u32,
    deadline: Option<Instant>,
) -> bool {
    loop {
        // SYNC: Acquire pairs with the Release store/RMW the waker does before waking, so what
        // the producer wrote before bumping the word is visible once we see the new value.
        if word.load(Ordering::Acquire) != expected {
            return true;
        }
        let timeout = match deadline {
            None => None,
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Some(left),
                _ => return false,
            },
        };
        waiter.wait(word, expected, timeout);
    }
}

/// Portable cross-process waiter that polls: spins briefly, yields, then sleeps with a
/// back-off doubling from 20 µs up to 1 ms. Never sleeps past the timeout. A blocked waiter
/// wakes about a thousand times a second at most: cheap, but not free like a futex.
#[derive(Debug, Default, Clone, Copy)]
pub struct PollWaiter;

impl Waiter for PollWaiter {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        poll_any(&[(word, expected)], timeout)
    }

    fn wake_all(&self, _word: &AtomicU32) {
        // Pollers notice the changed word by themselves.
    }
}

/// Process-local waiter built on a mutex and a condition variable. Works for words in any
/// memory but only wakes threads of this process that wait through the same instance.
#[derive(Debug, Default)]
pub struct InProcessWaiter {
    lock: Mutex<()>,
    cond: Condvar,
}

impl InProcessWaiter {
    /// A new waiter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Waiter for InProcessWaiter {
    fn wait(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitOutcome {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // The check happens under the lock that `wake_all` takes, so a change made before a
        // wake is either seen here or followed by a notify we are already waiting for.
        // SYNC: Acquire pairs with the waker's Release change of the word.
        if word.load(Ordering::Acquire) != expected {
            return WaitOutcome::Changed;
        }
        match timeout {
            None => {
                drop(self.cond.wait(guard).unwrap_or_else(|e| e.into_inner()));
                WaitOutcome::Woken
            }
            Some(t) => {
                let (_g, res) = self
                    .cond
                    .wait_timeout(guard, t)
                    .unwrap_or_else(|e| e.into_inner());
                if res.timed_out() {
                    WaitOutcome::TimedOut
                } else {
                    WaitOutcome::Woken
                }
            }
        }
    }

    fn wake_all(&self, _word: &AtomicU32) {
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.cond.notify_all();
    }

    fn wait_any(&self, words: &[(&AtomicU32, u32)], timeout: Option<Duration>) -> WaitOutcome {
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if any_changed(words) {
            return WaitOutcome::Changed;
        }
        let t = timeout.unwrap_or(Duration::from_secs(3600));
        let (_g, res) = self
            .cond
            .wait_timeout(guard, t)
            .unwrap_or_else(|e| e.into_inner());
        if res.timed_out() {
            WaitOutcome::TimedOut
        } else {
            WaitOutcome::Woken
        }
    }
}

/// The conformance suite every [`Waiter`] passes (run in this crate's unit tests for each
/// implementation; public so other crates can run it on their own waiters).
pub mod conformance {
    use super::*;
    use std::sync::Arc;

    /// A word that differs from `expected` returns at once.
    pub fn changed_word_returns_immediately<W: Waiter>(w: &W) {
        let word = AtomicU32::new(5);
        let got = w.wait(&word, 4, Some(Duration::from_secs(10)));
        assert!(matches!(got, WaitOutcome::Changed | WaitOutcome::Woken));
    }

    /// An unchanged word with nobody waking times out.
    pub fn times_out_when_nobody_wakes<W: Waiter>(w: &W) {
        let word = AtomicU32::new(1);
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(!wait_until_changed(w, &word, 1, Some(deadline)));
        assert!(Instant::now() >= deadline);
    }

    /// A thread that changes the word and wakes releases a thread sleeping on it.
    pub fn wakes_a_sleeping_thread<W: Waiter + 'static>(w: Arc<W>) {
        let word = Arc::new(AtomicU32::new(0));
        let (w2, word2) = (w.clone(), word.clone());
        let sleeper = std::thread::spawn(move || {
            // No deadline: only a wake can end this (the test's watchdog is the harness).
            wait_until_changed(&*w2, &word2, 0, None)
        });
        std::thread::sleep(Duration::from_millis(20));
        // SYNC: Release pairs with the Acquire load in wait_until_changed.
        word.store(1, Ordering::Release);
        w.wake_all(&word);
        assert!(sleeper.join().unwrap());
    }

    /// Many sleepers on one word are all released by one `wake_all`.
    pub fn wake_all_releases_every_sleeper<W: Waiter + 'static>(w: Arc<W>) {
        let word = Arc::new(AtomicU32::new(7));
        let sleepers: Vec<_> = (0..4)
            .map(|_| {
                let (w2, word2) = (w.clone(), word.clone());
                std::thread::spawn(move || wait_until_changed(&*w2, &word2, 7, None))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        // SYNC: Release pairs with the sleepers' Acquire loads.
        word.fetch_add(1, Ordering::Release);
        w.wake_all(&word);
        for s in sleepers {
            assert!(s.join().unwrap());
        }
    }

    /// `wait_any` returns when any one of several words changes, and times out otherwise.
    pub fn wait_any_sees_any_word<W: Waiter + 'static>(w: Arc<W>) {
        let words: Arc<[AtomicU32; 3]> = Arc::new([0, 1, 2].map(AtomicU32::new));
        let got = w.wait_any(
            &[(&words[0], 0), (&words[1], 1), (&words[2], 2)],
            Some(Duration::from_millis(10)),
        );
        assert_eq!(got, WaitOutcome::TimedOut);
        assert_eq!(
            w.wait_any(
                &[(&words[0], 0), (&words[1], 9)],
                Some(Duration::from_secs(10))
            ),
            WaitOutcome::Changed
        );
        let (w2, words2) = (w.clone(), words.clone());
        let sleeper = std::thread::spawn(move || {
            loop {
                let pairs = [(&words2[0], 0), (&words2[1], 1), (&words2[2], 2)];
                if any_changed(&pairs) {
                    // SYNC: Acquire pairs with the Release store of 3 below.
                    return words2[2].load(Ordering::Acquire);
                }
                w2.wait_any(&pairs, None);
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        // SYNC: Release pairs with the sleeper's Acquire loads.
        words[2].store(3, Ordering::Release);
        w.wake_all(&words[2]);
        assert_eq!(sleeper.join().unwrap(), 3);
    }

    /// Runs the whole suite.
    pub fn run_all<W: Waiter + 'static>(w: Arc<W>) {
        changed_word_returns_immediately(&*w);
        times_out_when_nobody_wakes(&*w);
        wakes_a_sleeping_thread(w.clone());
        wake_all_releases_every_sleeper(w.clone());
        wait_any_sees_any_word(w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn in_process_waiter_conforms() {
        conformance::run_all(Arc::new(InProcessWaiter::new()));
    }

    #[test]
    fn poll_waiter_conforms() {
        conformance::run_all(Arc::new(PollWaiter));
    }

    #[test]
    fn os_waiter_conforms() {
        conformance::run_all(Arc::new(OsWaiter::default()));
    }
}
