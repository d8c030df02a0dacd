//! Reconnect back-off: the first retry after `initial` ms, each failure doubling the
//! delay up to `max` (libzmq's `ZMQ_RECONNECT_IVL` / `ZMQ_RECONNECT_IVL_MAX`
//! behaviour, without jitter so tests are exact); a success resets it.

/// Reconnect schedule for one outgoing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    initial: u64,
    max: u64,
    delay: u64,
    next_at: Option<u64>,
    attempts: u32,
}

impl Backoff {
    /// A schedule starting at `initial_ms`, capped at `max_ms` (at least `initial_ms`).
    pub const fn new(initial_ms: u64, max_ms: u64) -> Self {
        let max = if max_ms < initial_ms {
            initial_ms
        } else {
            max_ms
        };
        Backoff {
            initial: initial_ms,
            max,
            delay: initial_ms,
            next_at: None,
            attempts: 0,
        }
    }

    /// A connection attempt failed or an established connection dropped at `now`:
    /// returns when to try next.
    pub fn on_failure(&mut self, now: u64) -> u64 {
        let at = now.saturating_add(self.delay);
        self.next_at = Some(at);
        self.delay = self.delay.saturating_mul(2).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        at
    }

    /// The connection's handshake completed: the next failure retries after `initial`.
    pub fn on_success(&mut self) {
        self.delay = self.initial;
        self.next_at = None;
        self.attempts = 0;
    }

    /// Whether a retry is due at `now` (true when no failure is pending).
    pub fn is_due(&self, now: u64) -> bool {
        self.next_at.is_none_or(|at| now >= at)
    }

    /// When the pending retry is due, if one is.
    pub fn next_at(&self) -> Option<u64> {
        self.next_at
    }

    /// Failures since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(100, 500);
        assert!(b.is_due(0));
        assert_eq!(b.on_failure(0), 100);
        assert!(!b.is_due(99) && b.is_due(100));
        assert_eq!(b.on_failure(100), 300);
        assert_eq!(b.on_failure(300), 700);
        assert_eq!(b.on_failure(700), 1200);
        assert_eq!(b.on_failure(1200), 1700);
        assert_eq!(b.attempts(), 5);
        b.on_success();
        assert_eq!(b.on_failure(2000), 2100);
    }
}
