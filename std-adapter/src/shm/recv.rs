//! The receive family every shm socket offers (`recv`, `recv_timeout`, `try_recv`, their
//! `_bytes`, `_multipart` and `_with` (in-place access) forms), written once as a macro over
//! each socket's `recv_raw`.
//!
//! The timeout convention, the same on the ZMTP sockets and the transport-neutral ones: every
//! receive comes in three forms — `recv*` waits as long as it takes, `recv*_timeout(d)` gives
//! up with `Error::Timeout` after `d` (`Duration::ZERO`: one look without waiting; a duration
//! too long to represent waits as long as it takes), `try_recv*` does not wait and says
//! `Error::WouldBlock`.

use std::time::{Duration, Instant};

/// How long a receive may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Do not wait: `Error::WouldBlock` if nothing is there.
    Try,
    /// Wait as long as it takes.
    Forever,
    /// Wait until this instant: `Error::Timeout` after.
    Until(Instant),
}

impl Wait {
    /// Wait for at most `timeout` from now.
    pub(crate) fn timeout(timeout: Duration) -> Self {
        match Instant::now().checked_add(timeout) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }

    /// The deadline, if any (`Try` has a deadline of now).
    pub(crate) fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Try => Some(Instant::now()),
            Wait::Forever => None,
            Wait::Until(t) => Some(t),
        }
    }
}

/// Generates the public receive methods from `fn recv_raw<R>(&mut self, Wait, impl
/// FnOnce(MessageRef<'_>) -> Result<R>) -> Result<R>`.
macro_rules! recv_methods {
    () => {
        /// Receives a message and decodes its last frame as `T` (postcard), waiting as long
        /// as it takes.
        pub fn recv<T: serde::de::DeserializeOwned>(&mut self) -> $crate::Result<T> {
            self.recv_raw($crate::shm::recv::Wait::Forever, |m| m.decode::<T>())
        }

        /// Like [`recv`](Self::recv), but fails with `Error::Timeout` after `timeout`.
        pub fn recv_timeout<T: serde::de::DeserializeOwned>(
            &mut self,
            timeout: std::time::Duration,
        ) -> $crate::Result<T> {
            self.recv_raw($crate::shm::recv::Wait::timeout(timeout), |m| {
                m.decode::<T>()
            })
        }

        /// Like [`recv`](Self::recv), but fails with `Error::WouldBlock` at once if no message
        /// is waiting.
        pub fn try_recv<T: serde::de::DeserializeOwned>(&mut self) -> $crate::Result<T> {
            self.recv_raw($crate::shm::recv::Wait::Try, |m| m.decode::<T>())
        }

        /// Receives a message and returns its last frame's bytes.
        pub fn recv_bytes(&mut self) -> $crate::Result<Vec<u8>> {
            self.recv_raw($crate::shm::recv::Wait::Forever, |m| {
                Ok(m.payload().to_vec())
            })
        }

        /// [`recv_bytes`](Self::recv_bytes) with a timeout.
        pub fn recv_bytes_timeout(
            &mut self,
            timeout: std::time::Duration,
        ) -> $crate::Result<Vec<u8>> {
            self.recv_raw($crate::shm::recv::Wait::timeout(timeout), |m| {
                Ok(m.payload().to_vec())
            })
        }

        /// [`recv_bytes`](Self::recv_bytes) without waiting.
        pub fn try_recv_bytes(&mut self) -> $crate::Result<Vec<u8>> {
            self.recv_raw($crate::shm::recv::Wait::Try, |m| Ok(m.payload().to_vec()))
        }

        /// Receives a message with all its frames.
        pub fn recv_multipart(&mut self) -> $crate::Result<$crate::Message> {
            self.recv_raw($crate::shm::recv::Wait::Forever, |m| Ok(m.to_message()))
        }

        /// [`recv_multipart`](Self::recv_multipart) with a timeout.
        pub fn recv_multipart_timeout(
            &mut self,
            timeout: std::time::Duration,
        ) -> $crate::Result<$crate::Message> {
            self.recv_raw($crate::shm::recv::Wait::timeout(timeout), |m| {
                Ok(m.to_message())
            })
        }

        /// [`recv_multipart`](Self::recv_multipart) without waiting.
        pub fn try_recv_multipart(&mut self) -> $crate::Result<$crate::Message> {
            self.recv_raw($crate::shm::recv::Wait::Try, |m| Ok(m.to_message()))
        }

        /// Receives a message and hands it to `f` in place, without allocating, waiting as
        /// long as it takes.
        pub fn recv_with<R>(
            &mut self,
            f: impl FnOnce($crate::shm::MessageRef<'_>) -> R,
        ) -> $crate::Result<R> {
            self.recv_raw($crate::shm::recv::Wait::Forever, |m| Ok(f(m)))
        }

        /// [`recv_with`](Self::recv_with), but fails with `Error::Timeout` after `timeout`
        /// (zero: one look without waiting).
        pub fn recv_with_timeout<R>(
            &mut self,
            timeout: std::time::Duration,
            f: impl FnOnce($crate::shm::MessageRef<'_>) -> R,
        ) -> $crate::Result<R> {
            self.recv_raw($crate::shm::recv::Wait::timeout(timeout), |m| Ok(f(m)))
        }

        /// [`recv_with`](Self::recv_with) without waiting: `Error::WouldBlock` if no message
        /// is there.
        pub fn try_recv_with<R>(
            &mut self,
            f: impl FnOnce($crate::shm::MessageRef<'_>) -> R,
        ) -> $crate::Result<R> {
            self.recv_raw($crate::shm::recv::Wait::Try, |m| Ok(f(m)))
        }
    };
}

pub(crate) use recv_methods;
