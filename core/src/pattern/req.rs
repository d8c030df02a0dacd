//! REQ/REP lock-step (spec 28): a REQ sends one request then must receive one reply;
//! a REP receives one request then must send one reply. The one implementation of these rules,
//! used by every transport (shared memory and ZMTP alike), so they cannot disagree:
//!
//! - a REQ that sends again before its reply is refused ([`StateError`]), as in libzmq, unless
//!   the request was [abandoned](ReqState::on_abandon) or the state is
//!   [relaxed](ReqState::relaxed) (ZeroMQ's `REQ_RELAXED`: a new request abandons the old);
//! - a REQ receives only while a request is outstanding; a reply is delivered only if it
//!   answers that request ([`ReqState::on_reply_to`] compares request ids, so the late reply of
//!   an abandoned request is dropped: ZeroMQ's `REQ_CORRELATE`);
//! - a REP replies only to a request it received, exactly once, and receives the next request
//!   only after replying; it keeps a token naming where the reply goes (a request id, a
//!   connection), and a reply that could not be sent may be retried.
//!
//! On a ZMTP wire a REQ prefixes each request with an empty delimiter frame; a REP keeps every
//! frame up to and including the delimiter (the routing envelope, empty for a direct REQ peer,
//! identities when a ROUTER/DEALER chain sits between) and puts it back in front of the reply.
//! [`split_envelope`] finds that boundary. In shared memory a request carries a hidden first
//! frame with its 8-byte id instead ([`write_request_id`], [`read_request_id`]), which the
//! replier echoes.
//!
//! ```
//! use ringwire_core::pattern::req::{ReplyVerdict, ReqState};
//!
//! let mut req = ReqState::new(7);
//! let id = req.on_send().unwrap();
//! assert!(req.on_send().is_err()); // no second request before the reply
//! assert_eq!(req.on_reply_to(id + 1), ReplyVerdict::Discard); // not ours
//! assert_eq!(req.on_reply_to(id), ReplyVerdict::Deliver);
//! ```

use core::fmt;

use crate::frames;

/// The operation is not allowed in the current lock-step state (the text names the rule).
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
    /// No request is outstanding (or it was abandoned, or it is another's reply): drop it.
    Discard,
}

/// The REQ side: `Idle → (send) → Waiting → (reply) → Idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReqState {
    waiting: bool,
    relaxed: bool,
    id: u64,
}

impl ReqState {
    /// A strict REQ whose first request gets id `last_id + 1` (ids wrap; a transport seeds
    /// them so that two requesters' ids differ, e.g. with its process id in the high half).
    #[inline]
    pub const fn new(last_id: u64) -> Self {
        ReqState {
            waiting: false,
            relaxed: false,
            id: last_id,
        }
    }

    /// The same state, relaxed: a new request abandons an outstanding one instead of being
    /// refused.
    #[inline]
    pub const fn relaxed(mut self) -> Self {
        self.relaxed = true;
        self
    }

    /// Whether a request is outstanding.
    #[inline]
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Called before sending a request; returns the request's id.
    #[inline]
    pub fn on_send(&mut self) -> Result<u64, StateError> {
        if self.waiting && !self.relaxed {
            return Err(StateError(
                "REQ must receive the reply before sending again (or abandon the request)",
            ));
        }
        self.id = self.id.wrapping_add(1);
        self.waiting = true;
        Ok(self.id)
    }

    /// Called before a receive; returns the id of the request whose reply is awaited.
    #[inline]
    pub fn on_recv_start(&self) -> Result<u64, StateError> {
        if self.waiting {
            Ok(self.id)
        } else {
            Err(StateError("REQ must send a request before receiving"))
        }
    }

    /// Called when a reply arrives on a path that carries only this requester's replies
    /// (one connection): it answers the outstanding request if there is one.
    #[inline]
    pub fn on_reply(&mut self) -> ReplyVerdict {
        if core::mem::take(&mut self.waiting) {
            ReplyVerdict::Deliver
        } else {
            ReplyVerdict::Discard
        }
    }

    /// Whether a reply carrying request id `id` would answer the outstanding request (a
    /// transport may skip other replies without consuming the state).
    #[inline]
    pub fn answers(&self, id: u64) -> bool {
        self.waiting && id == self.id
    }

    /// Called when a reply carrying request id `id` arrives: delivered only if it answers the
    /// outstanding request.
    #[inline]
    pub fn on_reply_to(&mut self, id: u64) -> ReplyVerdict {
        if self.waiting && id == self.id {
            self.waiting = false;
            ReplyVerdict::Deliver
        } else {
            ReplyVerdict::Discard
        }
    }

    /// Gives up the outstanding request (timeout, lost peer, failed send): a late reply is
    /// discarded and the next send is allowed.
    #[inline]
    pub fn on_abandon(&mut self) {
        self.waiting = false;
    }
}

/// The REP side: `Idle → (request) → Replying → (send) → Idle`. It keeps the token of the
/// request being answered (a request id, a connection id: whatever the transport routes by).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepState {
    replying: Option<u64>,
}

impl RepState {
    /// Whether a request awaits its reply.
    #[inline]
    pub fn is_replying(&self) -> bool {
        self.replying.is_some()
    }

    /// Called before receiving a request.
    #[inline]
    pub fn on_recv_start(&self) -> Result<(), StateError> {
        if self.replying.is_some() {
            Err(StateError("REP must send the reply before receiving again"))
        } else {
            Ok(())
        }
    }

    /// Called when a request has been received; `token` says where its reply goes.
    #[inline]
    pub fn on_request(&mut self, token: u64) {
        self.replying = Some(token);
    }

    /// Called before sending a reply; returns the request's token. Afterwards the REP is idle;
    /// if the reply could not be sent, [`on_send_failed`](Self::on_send_failed) lets it retry.
    #[inline]
    pub fn on_send(&mut self) -> Result<u64, StateError> {
        self.replying
            .take()
            .ok_or(StateError("REP must receive a request before replying"))
    }

    /// The reply to `token` was not sent (full, timed out): it is still owed.
    #[inline]
    pub fn on_send_failed(&mut self, token: u64) {
        self.replying = Some(token);
    }
}

/// Bytes of the shared-memory request-id frame: a frame header and the 8-byte id.
pub const ID_FRAME: usize = frames::HEADER + 8;

/// Writes the shared-memory request-id frame (`id` little-endian, more frames follow) at the
/// start of `out`; returns [`ID_FRAME`].
#[inline]
pub fn write_request_id(out: &mut [u8], id: u64) -> Result<usize, frames::EncodeError> {
    frames::write_frame(out, &id.to_le_bytes(), true)
}

/// The request id in a shared-memory REQ/REP message's first frame, `None` if the message does
/// not start with a well-formed id frame. The frames after it start at [`ID_FRAME`].
#[inline]
pub fn read_request_id(message: &[u8]) -> Option<u64> {
    let head = message.get(..ID_FRAME)?;
    if head[..frames::HEADER] != frames::header(8, true) {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&head[frames::HEADER..]);
    Some(u64::from_le_bytes(id))
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
        assert_eq!(req.on_send(), Ok(1));
        assert_eq!(req.on_reply(), ReplyVerdict::Deliver);
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
        rep.on_request(42);
        assert!(rep.on_recv_start().is_err());
        assert_eq!(rep.on_send(), Ok(42));
        assert!(!rep.is_replying());
        assert!(rep.on_send().is_err(), "one reply per request");
        rep.on_request(43);
        let t = rep.on_send().unwrap();
        rep.on_send_failed(t);
        assert!(rep.is_replying() && rep.on_recv_start().is_err());
        assert_eq!(rep.on_send(), Ok(43));
    }

    #[test]
    fn req_correlates_by_id() {
        let mut req = ReqState::new(u64::MAX);
        let first = req.on_send().unwrap();
        assert_eq!(first, 0, "ids wrap");
        assert_eq!(req.on_recv_start(), Ok(first));
        assert!(req.answers(first) && !req.answers(first + 1));
        assert_eq!(req.on_reply_to(first + 1), ReplyVerdict::Discard);
        assert!(req.is_waiting());
        req.on_abandon();
        let second = req.on_send().unwrap();
        assert_eq!(
            req.on_reply_to(first),
            ReplyVerdict::Discard,
            "late reply dropped"
        );
        assert_eq!(req.on_reply_to(second), ReplyVerdict::Deliver);
        assert_eq!(req.on_reply_to(second), ReplyVerdict::Discard);
    }

    #[test]
    fn relaxed_req_abandons_instead_of_refusing() {
        let mut req = ReqState::new(0).relaxed();
        let a = req.on_send().unwrap();
        let b = req.on_send().unwrap();
        assert_ne!(a, b);
        assert_eq!(req.on_reply_to(a), ReplyVerdict::Discard);
        assert_eq!(req.on_reply_to(b), ReplyVerdict::Deliver);
    }

    #[test]
    fn request_id_frame_golden() {
        let mut out = [0xEEu8; 20];
        assert_eq!(
            write_request_id(&mut out, 0x0102_0304_0506_0708),
            Ok(ID_FRAME)
        );
        assert_eq!(
            &out[..ID_FRAME],
            &[8, 0, 0, 0, 1, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]
        );
        assert_eq!(read_request_id(&out), Some(0x0102_0304_0506_0708));
        assert_eq!(read_request_id(&out[..15]), None);
        out[4] = 0; // not followed by the body
        assert_eq!(read_request_id(&out), None);
        assert!(write_request_id(&mut out[..15], 1).is_err());
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
