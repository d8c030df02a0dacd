//! A thread that runs until its owner asks it to stop: the one shape behind every background
//! service of the crate (the broker's router and worker, the event service, the application
//! server, the socket-event publisher).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// A named thread given a stop flag; [`halt`](Self::halt) sets the flag and joins it, and so
/// does dropping it (the result is then discarded).
#[derive(Debug)]
pub(crate) struct StopThread<T> {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> StopThread<T> {
    /// Starts thread `name` running `body` with the stop flag, which the body checks between
    /// bounded waits.
    pub(crate) fn spawn(
        name: &str,
        body: impl FnOnce(Arc<AtomicBool>) -> T + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(flag))?;
        Ok(StopThread {
            stop,
            thread: Some(thread),
        })
    }
}

impl<T> StopThread<T> {
    /// Whether the thread is still running.
    pub(crate) fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the thread and waits for it: its result, `Err` with the panic if it panicked, or
    /// `None` if it was already halted.
    pub(crate) fn halt(&mut self) -> Option<std::thread::Result<T>> {
        // SYNC: the flag only asks the thread to stop; what it wrote is published by `join`.
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().map(JoinHandle::join)
    }
}

impl<T> Drop for StopThread<T> {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn halt_stops_and_returns_the_result_once() {
        let mut t = StopThread::spawn("t", |stop| {
            let mut turns = 0u32;
            while !stop.load(Ordering::Relaxed) {
                turns += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            turns
        })
        .unwrap();
        assert!(t.is_running());
        assert!(matches!(t.halt(), Some(Ok(_))));
        assert!(!t.is_running());
        assert!(t.halt().is_none());
    }

    #[test]
    fn a_panic_is_returned_and_dropping_a_running_thread_stops_it() {
        let mut p = StopThread::spawn("p", |_| -> u32 { panic!("boom") }).unwrap();
        assert!(matches!(p.halt(), Some(Err(_))));
        let flag = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&flag);
        let t = StopThread::spawn("d", move |stop| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            seen.store(true, Ordering::Relaxed);
        })
        .unwrap();
        drop(t);
        assert!(
            flag.load(Ordering::Relaxed),
            "dropped only after the body ended"
        );
    }
}
