//! The Lazy Pirate client (the ZeroMQ guide, chapter 4): send a request, wait up to a timeout
//! for its reply, and on silence close the socket, open a new one and send the request again
//! (a REQ socket that lost its reply can never send again, and a new socket also drops any
//! late reply of the old attempt); after the last retry give up with an error.
//!
//! ```
//! use ringwire_core::broker::lazy::{LazyAction, LazyPirate};
//!
//! let mut c = LazyPirate::new(1000, 2); // 1 s timeout, 2 retries: 3 sends at most
//! c.on_send(0).unwrap();
//! assert_eq!(c.on_tick(500), LazyAction::Wait { until: 1000 });
//! assert_eq!(c.on_tick(1000), LazyAction::Retry { attempt: 2 }); // reconnect and resend
//! assert_eq!(c.on_tick(2000), LazyAction::Retry { attempt: 3 });
//! assert_eq!(c.on_tick(3000), LazyAction::GiveUp { attempts: 3 });
//! assert_eq!(c.on_tick(4000), LazyAction::Idle);
//! ```

use crate::pattern::req::{ReplyVerdict, StateError};

/// What the client must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LazyAction {
    /// No request is outstanding.
    Idle,
    /// Wait for the reply until `until` (then tick again).
    Wait {
        /// The deadline of the current attempt.
        until: u64,
    },
    /// The reply did not come: close the socket, open a new one, send the request again
    /// (this is send number `attempt`) and keep waiting.
    Retry {
        /// Which send this is (2 for the first retry).
        attempt: u32,
    },
    /// The last attempt timed out too: close the socket and report the request failed after
    /// `attempts` sends (the client's timeout error). The next request starts afresh.
    GiveUp {
        /// Sends made.
        attempts: u32,
    },
}

/// One client's retry state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LazyPirate {
    timeout: u64,
    retries: u32,
    /// The current send number and its deadline, while a request is outstanding.
    waiting: Option<(u32, u64)>,
}

impl LazyPirate {
    /// Waits `timeout_ms` for each reply and resends `retries` times before giving up.
    pub const fn new(timeout_ms: u64, retries: u32) -> Self {
        LazyPirate {
            timeout: timeout_ms,
            retries,
            waiting: None,
        }
    }

    /// Whether a request is outstanding.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// The request was sent (first attempt) at `now`. A client sends one request at a time.
    pub fn on_send(&mut self, now: u64) -> Result<(), StateError> {
        if self.waiting.is_some() {
            return Err(StateError(
                "Lazy Pirate client must get the reply (or give up) before the next request",
            ));
        }
        self.waiting = Some((1, now.saturating_add(self.timeout)));
        Ok(())
    }

    /// A reply arrived on the current socket: deliver it if a request is outstanding.
    pub fn on_reply(&mut self) -> ReplyVerdict {
        match self.waiting.take() {
            Some(_) => ReplyVerdict::Deliver,
            None => ReplyVerdict::Discard,
        }
    }

    /// Checks the clock at `now`.
    pub fn on_tick(&mut self, now: u64) -> LazyAction {
        let Some((attempt, deadline)) = self.waiting else {
            return LazyAction::Idle;
        };
        if now < deadline {
            return LazyAction::Wait { until: deadline };
        }
        if attempt > self.retries {
            self.waiting = None;
            return LazyAction::GiveUp { attempts: attempt };
        }
        let attempt = attempt + 1;
        self.waiting = Some((attempt, now.saturating_add(self.timeout)));
        LazyAction::Retry { attempt }
    }

    /// The current attempt's deadline, if a request is outstanding.
    pub fn deadline(&self) -> Option<u64> {
        self.waiting.map(|(_, d)| d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_before_the_timeout_ends_the_request() {
        let mut c = LazyPirate::new(100, 3);
        assert_eq!(c.on_reply(), ReplyVerdict::Discard, "nothing outstanding");
        c.on_send(10).unwrap();
        assert!(c.on_send(11).is_err(), "one request at a time");
        assert_eq!(c.deadline(), Some(110));
        assert_eq!(c.on_tick(109), LazyAction::Wait { until: 110 });
        assert_eq!(c.on_reply(), ReplyVerdict::Deliver);
        assert_eq!(c.on_tick(1000), LazyAction::Idle);
        assert!(c.on_send(1000).is_ok());
    }

    #[test]
    fn retries_then_gives_up() {
        let mut c = LazyPirate::new(100, 1);
        c.on_send(0).unwrap();
        assert_eq!(c.on_tick(150), LazyAction::Retry { attempt: 2 });
        assert_eq!(
            c.deadline(),
            Some(250),
            "the new attempt's timeout starts at the resend"
        );
        assert_eq!(c.on_tick(249), LazyAction::Wait { until: 250 });
        assert_eq!(c.on_tick(250), LazyAction::GiveUp { attempts: 2 });
        assert!(!c.is_waiting());
        assert_eq!(
            c.on_reply(),
            ReplyVerdict::Discard,
            "a reply after giving up is dropped"
        );
        // No retries at all: one send, then the error.
        let mut c = LazyPirate::new(100, 0);
        c.on_send(0).unwrap();
        assert_eq!(c.on_tick(100), LazyAction::GiveUp { attempts: 1 });
    }

    #[test]
    fn reply_after_a_retry_is_delivered_once() {
        let mut c = LazyPirate::new(100, 2);
        c.on_send(0).unwrap();
        assert_eq!(c.on_tick(100), LazyAction::Retry { attempt: 2 });
        assert_eq!(c.on_reply(), ReplyVerdict::Deliver);
        assert_eq!(c.on_reply(), ReplyVerdict::Discard);
        assert_eq!(c.on_tick(10_000), LazyAction::Idle);
    }
}
