//! REQ/REP lock-step (spec 28): a REQ sends one request then must receive one reply;
//! a REP receives one request then must send one reply.
//!
//! On the wire a REQ prefixes each request with an empty delimiter frame; a REP keeps
//! every frame up to and including the delimiter (the routing envelope, empty for a
//! direct REQ peer, identities when a ROUTER/DEALER chain sits between) and puts it
//! back in front of the reply. [`split_envelope`] finds that boundary.

use core::fmt;

/// The operation is not allowed in the current lock-step state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StateError(pub &'static str);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl core::error::Error for StateError {}

/// What a REQ does with a reply that arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReplyVerdict {
    /// It answers the outstanding request: deliver it.
    Deliver,
    /// No request is outstanding (or it was abandoned): drop it.
    Discard,
}

/// The REQ side: `Idle → (send) → Waiting → (reply) → Idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqState {
    waiting: bool,
}

impl ReqState {
    /// Whether a request is outstanding.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Called before sending a request.
    pub fn on_send(&mut self) -> Result<(), StateError> {
        if self.waiting {
            return Err(StateError(
                "REQ must receive the reply before sending again",
            ));
        }
        self.waiting = true;
        Ok(())
    }

    /// Called before a blocking receive.
    pub fn on_recv_start(&self) -> Result<(), StateError> {
        if self.waiting {
            Ok(())
        } else {
            Err(StateError("REQ must send a request before receiving"))
        }
    }

    /// Called when a reply arrives.
    pub fn on_reply(&mut self) -> ReplyVerdict {
        if core::mem::take(&mut self.waiting) {
            ReplyVerdict::Deliver
        } else {
            ReplyVerdict::Discard
        }
    }

    /// Gives up the outstanding request (timeout, reconnect): a late reply is discarded.
    pub fn on_abandon(&mut self) {
        self.waiting = false;
    }
}

/// The REP side: `Idle → (request) → Replying → (send) → Idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepState {
    replying: bool,
}

impl RepState {
    /// Whether a request awaits its reply.
    pub fn is_replying(&self) -> bool {
        self.replying
    }

    /// Called before receiving a request.
    pub fn on_recv_start(&self) -> Result<(), StateError> {
        if self.replying {
            Err(StateError("REP must send the reply before receiving again"))
        } else {
            Ok(())
        }
    }

    /// Called when a request has been received.
    pub fn on_request(&mut self) {
        self.replying = true;
    }

    /// Called before sending a reply.
    pub fn on_send(&mut self) -> Result<(), StateError> {
        if !self.replying {
            return Err(StateError("REP must receive a request before replying"));
        }
        self.replying = false;
        Ok(())
    }
}

/// Splits a received message's frames at the empty delimiter: returns the number of
/// envelope frames (including the delimiter), or `None` if there is no delimiter.
pub fn split_envelope<F: AsRef<[u8]>>(frames: &[F]) -> Option<usize> {
    frames
        .iter()
        .position(|f| f.as_ref().is_empty())
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn req_is_lock_step() {
        let mut req = ReqState::default();
        assert!(req.on_recv_start().is_err());
        req.on_send().unwrap();
        assert!(req.on_send().is_err());
        assert!(req.on_recv_start().is_ok());
        assert_eq!(req.on_reply(), ReplyVerdict::Deliver);
        assert_eq!(req.on_reply(), ReplyVerdict::Discard);
        req.on_send().unwrap();
        req.on_abandon();
        assert_eq!(req.on_reply(), ReplyVerdict::Discard);
        assert!(req.on_send().is_ok());
    }

    #[test]
    fn rep_is_lock_step() {
        let mut rep = RepState::default();
        assert!(rep.on_send().is_err());
        rep.on_recv_start().unwrap();
        rep.on_request();
        assert!(rep.on_recv_start().is_err());
        rep.on_send().unwrap();
        assert!(!rep.is_replying());
    }

    #[test]
    fn envelope_ends_at_the_delimiter() {
        let direct: [&[u8]; 2] = [b"", b"body"];
        assert_eq!(split_envelope(&direct), Some(1));
        let routed: [&[u8]; 4] = [b"id1", b"id2", b"", b"body"];
        assert_eq!(split_envelope(&routed), Some(3));
        let bare: [&[u8]; 1] = [b"body"];
        assert_eq!(split_envelope(&bare), None);
    }
}
