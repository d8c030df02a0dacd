//! One ZMTP connection as a sans-IO state machine: the handshake, commands and
//! heartbeats of spec 23/37, with bytes in and bytes out and the time as a number.
//!
//! A [`Connection`] wraps the push [`Decoder`] and adds everything the protocol
//! requires of one end of a connection, so every adapter (the blocking sockets, a
//! future async one, the Python package) speaks it the same way:
//!
//! - it queues our greeting and READY (`Socket-Type`, and `Identity` for REQ, DEALER
//!   and ROUTER) at construction; the caller writes [`transmit`](Connection::transmit);
//! - [`on_bytes`](Connection::on_bytes) takes any chunk of the peer's bytes and returns
//!   how many it consumed and at most one [`Event`]: the peer's greeting (its mechanism
//!   must match ours), the end of the handshake (the peer's socket type, checked for
//!   compatibility, and identity), pieces of message frames (borrowed from the input,
//!   never copied), subscriptions, PINGs (a PONG with the same context is queued),
//!   and a peer's ERROR;
//! - [`frame_body_left`](Connection::frame_body_left) and
//!   [`on_body_bytes`](Connection::on_body_bytes) let the caller receive the rest of a
//!   large frame body straight into its own buffer and only account for it here;
//! - [`on_tick`](Connection::on_tick) runs the heartbeat: it queues a PING for a 3.1
//!   peer after the configured silence, and says when the peer has been silent too long.
//!
//! The machine holds no message bodies and allocates nothing; message frames are
//! written by the caller with [`encode_frame_header`](super::encode_frame_header) and
//! its own bodies (so a large body is never copied here). Control bytes (greeting,
//! READY, PONG, PING, ERROR) wait in a fixed 512-byte queue: drain it after
//! construction and after every event or tick that adds to it ([`Event::Ping`],
//! [`Tick::Transmit`], an error); a PONG that finds no room is dropped.
//!
//! The security handshake is a [`Mechanism`]; NULL (spec 24) is the only one today,
//! and CURVE would add its commands to the handshake phase without changing the rest.
//! After any error the connection is over: every later `on_bytes` repeats it.
//!
//! ```
//! use ringwire_core::pattern::socket_type::SocketType;
//! use ringwire_core::zmtp::{self, Config, Connection, Event, Version};
//!
//! let mut conn: Connection = Connection::new(Config::new(SocketType::Sub)).unwrap();
//! assert_eq!(conn.transmit().len(), 64 + 27); // our greeting and READY, to be written
//! conn.advance_transmit(conn.transmit().len());
//!
//! // The peer (a PUB) sends its greeting, READY and one message.
//! let mut wire = [0u8; 128];
//! let mut n = zmtp::encode_greeting(&mut wire, Version::V3_1, true).unwrap();
//! n += zmtp::encode_ready(&mut wire[n..], &[(b"Socket-Type", b"PUB")]).unwrap();
//! n += zmtp::encode_frame(&mut wire[n..], false, b"hi").unwrap();
//!
//! let mut input = &wire[..n];
//! let mut got = Vec::new();
//! while !input.is_empty() {
//!     let (used, event) = conn.on_bytes(input, 0).unwrap();
//!     match event {
//!         Some(Event::HandshakeDone { peer_type, .. }) => got.push(peer_type.name().to_string()),
//!         Some(Event::Frame(part)) => got.push(String::from_utf8_lossy(part.data).into()),
//!         _ => {}
//!     }
//!     input = &input[used..];
//! }
//! assert_eq!(got, ["PUB", "hi"]);
//! ```

use core::fmt;

use super::{
    Command, DecodeError, Decoder, EncodeError, FramePart, Item, Limits, MECHANISM_NULL, Version,
    encode_error, encode_greeting, encode_ping, encode_pong, encode_ready,
};
use crate::pattern::heartbeat::{Heartbeat, HeartbeatAction};
use crate::pattern::socket_type::SocketType;

/// Longest `Identity` a connection sends (spec 23: 0 to 255 bytes).
pub const MAX_IDENTITY: usize = 255;
/// Room for queued control bytes: greeting and READY with the longest identity (369
/// bytes), a PONG and an ERROR.
const TX_CAP: usize = 512;
/// The reason sent in the ERROR command to a peer of an incompatible socket type.
pub const INCOMPATIBLE_REASON: &[u8] = b"Invalid socket type";

/// A security mechanism (the handshake between the greetings and READY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Mechanism {
    /// No security (spec 24): READY follows the greeting at once.
    #[default]
    Null,
}

impl Mechanism {
    /// The name announced in the greeting.
    pub const fn name(self) -> &'static [u8] {
        match self {
            Mechanism::Null => MECHANISM_NULL,
        }
    }
}

/// How a [`Connection`] presents itself.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Config<'a> {
    /// Our socket type (sent in READY, and checked against the peer's).
    pub socket_type: SocketType,
    /// Our identity, sent in READY by REQ, DEALER and ROUTER sockets when not empty
    /// (at most [`MAX_IDENTITY`] bytes).
    pub identity: &'a [u8],
    /// Bounds on what the peer may announce.
    pub limits: Limits,
    /// Heartbeat timers (started at the connection's creation time).
    pub heartbeat: Heartbeat,
    /// Our greeting's as-server flag (the accepting side sets it).
    pub as_server: bool,
    /// The security mechanism.
    pub mechanism: Mechanism,
}

impl<'a> Config<'a> {
    /// A NULL-mechanism client of `socket_type` with no identity, default limits and
    /// no heartbeats.
    pub const fn new(socket_type: SocketType) -> Self {
        Config {
            socket_type,
            identity: &[],
            limits: Limits {
                max_frame: 64 << 20,
                max_message: 64 << 20,
                max_parts: 1024,
                max_command: 4096,
            },
            heartbeat: Heartbeat::new(0, 0, 0),
            as_server: false,
            mechanism: Mechanism::Null,
        }
    }
}

/// What a chunk of the peer's bytes produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The peer's greeting arrived and names our mechanism.
    Greeting(Version),
    /// The peer's READY arrived: the connection is established and message frames may
    /// flow both ways.
    HandshakeDone {
        /// The peer's socket type (compatible with ours).
        peer_type: SocketType,
        /// The peer's `Identity` property (empty when it sent none).
        identity: &'a [u8],
    },
    /// A piece of a message frame, borrowed from the input. A message ends with the
    /// last part ([`FramePart::is_last`]) of a frame without MORE.
    Frame(FramePart<'a>),
    /// The peer subscribes to a topic prefix (ZMTP 3.1 SUBSCRIBE).
    Subscribe(&'a [u8]),
    /// The peer cancels a subscription (ZMTP 3.1 CANCEL).
    Cancel(&'a [u8]),
    /// The peer pinged: a PONG echoing its context waits in [`Connection::transmit`].
    Ping,
    /// The peer answered a PING of ours, with this context.
    Pong(&'a [u8]),
    /// The peer refuses the connection with this reason (ERROR); the connection is over.
    PeerError(&'a [u8]),
}

/// What a heartbeat tick asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Tick {
    /// Nothing to do.
    Idle,
    /// A PING waits in [`Connection::transmit`].
    Transmit,
    /// The peer has been silent longer than the timeout (or its PING's TTL): close.
    TimedOut,
}

/// Why a connection failed. The connection stays failed and repeats the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer's bytes broke the wire format or a limit.
    Decode(DecodeError),
    /// The peer's greeting names another security mechanism than ours.
    UnsupportedMechanism,
    /// The peer's READY has no `Socket-Type` we know.
    MissingSocketType,
    /// The peer's socket type cannot talk to ours; an ERROR command was queued.
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's.
        peer: SocketType,
    },
    /// The peer sent a second READY.
    DuplicateReady,
    /// The peer sent ERROR (its reason came with [`Event::PeerError`]).
    PeerError,
    /// Our identity is longer than [`MAX_IDENTITY`] bytes.
    IdentityTooLong,
}

impl ConnectionError {
    /// Whether the peer broke the protocol (as opposed to refusing us or
    /// announcing a mechanism we lack).
    pub fn is_protocol_error(&self) -> bool {
        matches!(
            self,
            Self::Decode(_) | Self::MissingSocketType | Self::DuplicateReady
        )
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(e) => write!(f, "protocol error: {e}"),
            Self::UnsupportedMechanism => {
                f.write_str("peer asks for a security mechanism other than NULL")
            }
            Self::MissingSocketType => f.write_str("READY without a known Socket-Type"),
            Self::IncompatibleSocketType { ours, peer } => write!(
                f,
                "incompatible peer socket type {} for {}",
                peer.name(),
                ours.name()
            ),
            Self::DuplicateReady => f.write_str("second READY"),
            Self::PeerError => f.write_str("peer sent ERROR"),
            Self::IdentityTooLong => f.write_str("identity longer than 255 bytes"),
        }
    }
}

impl core::error::Error for ConnectionError {}

impl From<DecodeError> for ConnectionError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the peer's greeting.
    Greeting,
    /// The mechanism's handshake (NULL: waiting for READY).
    Handshake,
    /// READY seen: messages flow.
    Ready,
    /// Over; every call repeats the error.
    Failed(ConnectionError),
}

/// One end of a ZMTP connection (see the module docs). `N` is the decoder's buffer
/// for the greeting and commands (at least 64 bytes).
#[derive(Debug, Clone)]
pub struct Connection<const N: usize = 4096> {
    decoder: Decoder<N>,
    /// Everything else, apart so that it can change while an item borrows the decoder.
    state: State,
}

/// The connection's state besides the decoder.
#[derive(Debug, Clone)]
struct State {
    phase: Phase,
    socket_type: SocketType,
    mechanism: Mechanism,
    peer_version: Option<Version>,
    peer_type: Option<SocketType>,
    heartbeat: Heartbeat,
    /// When bytes last arrived; handed to `heartbeat` before it is asked anything
    /// (one store per read on the hot path instead of a call).
    last_rx: u64,
    tx: [u8; TX_CAP],
    tx_start: usize,
    tx_end: usize,
}

impl<const N: usize> Connection<N> {
    /// A connection that has queued its greeting and READY in
    /// [`transmit`](Self::transmit).
    pub fn new(config: Config<'_>) -> Result<Self, ConnectionError> {
        if config.identity.len() > MAX_IDENTITY {
            return Err(ConnectionError::IdentityTooLong);
        }
        let mut state = State {
            phase: Phase::Greeting,
            socket_type: config.socket_type,
            mechanism: config.mechanism,
            peer_version: None,
            peer_type: None,
            heartbeat: config.heartbeat,
            last_rx: 0,
            tx: [0; TX_CAP],
            tx_start: 0,
            tx_end: 0,
        };
        // Both fit in TX_CAP with an identity of MAX_IDENTITY bytes (tested).
        let kind = config.socket_type;
        let with_identity = !config.identity.is_empty()
            && matches!(
                kind,
                SocketType::Req | SocketType::Dealer | SocketType::Router
            );
        let type_prop: (&[u8], &[u8]) = (b"Socket-Type", kind.name().as_bytes());
        let props: &[(&[u8], &[u8])] = if with_identity {
            &[type_prop, (b"Identity", config.identity)]
        } else {
            &[type_prop]
        };
        let queued = state.queue(|b| encode_greeting(b, Version::V3_1, config.as_server))
            && state.queue(|b| encode_ready(b, props));
        if !queued {
            return Err(ConnectionError::IdentityTooLong);
        }
        Ok(Connection {
            decoder: Decoder::new(config.limits),
            state,
        })
    }

    /// Our socket type.
    pub fn socket_type(&self) -> SocketType {
        self.state.socket_type
    }

    /// Whether the peer's READY has arrived (and the connection has not failed).
    pub fn is_ready(&self) -> bool {
        self.state.phase == Phase::Ready
    }

    /// The error the connection failed with, if it did.
    pub fn error(&self) -> Option<ConnectionError> {
        match self.state.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The version the peer's greeting announced, once it arrived.
    pub fn peer_version(&self) -> Option<Version> {
        self.state.peer_version
    }

    /// Whether the peer understands SUBSCRIBE, CANCEL, PING and PONG (ZMTP 3.1).
    pub fn speaks_3_1(&self) -> bool {
        self.state.speaks_3_1()
    }

    /// The peer's socket type, once its READY arrived.
    pub fn peer_type(&self) -> Option<SocketType> {
        self.state.peer_type
    }

    /// The heartbeat timers, up to date with the bytes received so far.
    pub fn heartbeat(&self) -> Heartbeat {
        let mut h = self.state.heartbeat;
        h.on_received(self.state.last_rx);
        h
    }

    /// Control bytes waiting to be written (greeting, READY, PONG, PING, ERROR), in order.
    pub fn transmit(&self) -> &[u8] {
        &self.state.tx[self.state.tx_start..self.state.tx_end]
    }

    /// Marks the first `n` bytes of [`transmit`](Self::transmit) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        let s = &mut self.state;
        s.tx_start = (s.tx_start + n).min(s.tx_end);
        if s.tx_start == s.tx_end {
            s.tx_start = 0;
            s.tx_end = 0;
        }
    }

    /// Copies as many waiting control bytes as fit into `out` and marks them written;
    /// returns how many.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let pending = self.transmit();
        let n = pending.len().min(out.len());
        out[..n].copy_from_slice(&pending[..n]);
        self.advance_transmit(n);
        n
    }

    /// Takes the next bytes of the peer: returns how many were consumed and at most one
    /// event. `None` means the consumed bytes produced nothing to report; call again
    /// with the rest of the input while any is left. `now_ms` is when they arrived.
    ///
    /// Message frames (the hot path) pass straight through; everything else goes to
    /// the handshake and command rules.
    #[inline]
    pub fn on_bytes<'a>(
        &'a mut self,
        input: &'a [u8],
        now_ms: u64,
    ) -> Result<(usize, Option<Event<'a>>), ConnectionError> {
        if let Phase::Failed(e) = self.state.phase {
            return Err(e);
        }
        if !input.is_empty() {
            self.state.last_rx = self.state.last_rx.max(now_ms);
        }
        match self.decoder.decode(input) {
            Ok((used, Some(Item::Frame(part)))) => Ok((used, Some(Event::Frame(part)))),
            Ok((used, None)) => Ok((used, None)),
            Ok((used, Some(item))) => Ok((used, self.state.on_item(item, now_ms)?)),
            Err(e) => Err(self.state.fail(ConnectionError::Decode(e))),
        }
    }

    /// Bytes of the current message frame's body still to come (0 between frames and
    /// after an error). The caller may receive them into its own buffer and account for
    /// them with [`on_body_bytes`](Self::on_body_bytes).
    pub fn frame_body_left(&self) -> u64 {
        match self.state.phase {
            Phase::Failed(_) => 0,
            _ => self.decoder.frame_body_left(),
        }
    }

    /// Accounts for up to `n` body bytes of the current frame that the caller received
    /// itself at `now_ms`. Returns how many it took (at most
    /// [`frame_body_left`](Self::frame_body_left); bytes beyond go to
    /// [`on_bytes`](Self::on_bytes)) and, if they completed the frame, its MORE flag.
    pub fn on_body_bytes(&mut self, n: u64, now_ms: u64) -> (u64, Option<bool>) {
        if matches!(self.state.phase, Phase::Failed(_)) {
            return (0, None);
        }
        if n > 0 {
            self.state.last_rx = self.state.last_rx.max(now_ms);
        }
        self.decoder.skip_body(n)
    }

    /// Runs the heartbeat at `now_ms`: queues a PING for an established 3.1 peer after
    /// the configured silence, or reports that the peer has been silent too long.
    pub fn on_tick(&mut self, now_ms: u64) -> Tick {
        let s = &mut self.state;
        s.heartbeat.on_received(s.last_rx);
        match s.heartbeat.on_tick(now_ms) {
            HeartbeatAction::TimedOut => Tick::TimedOut,
            HeartbeatAction::SendPing if s.phase == Phase::Ready && s.speaks_3_1() => {
                let ttl = s.heartbeat.ttl_ds();
                if s.queue(|b| encode_ping(b, ttl, b"")) {
                    Tick::Transmit
                } else {
                    Tick::Idle
                }
            }
            _ => Tick::Idle,
        }
    }

    /// The next time [`on_tick`](Self::on_tick) may act, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.heartbeat().next_deadline()
    }
}

impl State {
    fn speaks_3_1(&self) -> bool {
        self.peer_version.is_some_and(Version::has_3_1_commands)
    }

    /// Enters the failed phase and hands the error back.
    fn fail(&mut self, e: ConnectionError) -> ConnectionError {
        self.phase = Phase::Failed(e);
        e
    }

    /// Queues a control command written by `encode`; `false` (nothing queued) when the
    /// queue has no room because the caller has not drained it.
    fn queue(&mut self, encode: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>) -> bool {
        if self.tx_start > 0 {
            self.tx.copy_within(self.tx_start..self.tx_end, 0);
            self.tx_end -= self.tx_start;
            self.tx_start = 0;
        }
        match encode(&mut self.tx[self.tx_end..]) {
            Ok(n) => {
                self.tx_end += n;
                true
            }
            Err(_) => false,
        }
    }

    /// The handshake and command rules, for every item but message frames.
    fn on_item<'a>(
        &mut self,
        item: Item<'a>,
        now_ms: u64,
    ) -> Result<Option<Event<'a>>, ConnectionError> {
        Ok(match item {
            Item::Frame(part) => Some(Event::Frame(part)),
            Item::Greeting(g) => {
                if g.mechanism_name() != self.mechanism.name() {
                    return Err(self.fail(ConnectionError::UnsupportedMechanism));
                }
                self.peer_version = Some(g.version);
                self.phase = Phase::Handshake;
                Some(Event::Greeting(g.version))
            }
            Item::Command(Command::Ready(props)) => {
                if self.phase == Phase::Ready {
                    return Err(self.fail(ConnectionError::DuplicateReady));
                }
                let Some(peer) = props.socket_type().and_then(SocketType::from_name) else {
                    return Err(self.fail(ConnectionError::MissingSocketType));
                };
                if !self.socket_type.is_compatible(peer) {
                    self.queue(|b| encode_error(b, INCOMPATIBLE_REASON));
                    let ours = self.socket_type;
                    return Err(self.fail(ConnectionError::IncompatibleSocketType { ours, peer }));
                }
                self.peer_type = Some(peer);
                self.phase = Phase::Ready;
                Some(Event::HandshakeDone {
                    peer_type: peer,
                    identity: props.identity().unwrap_or_default(),
                })
            }
            Item::Command(Command::Error(reason)) => {
                self.phase = Phase::Failed(ConnectionError::PeerError);
                Some(Event::PeerError(reason))
            }
            Item::Command(Command::Subscribe(p)) => Some(Event::Subscribe(p)),
            Item::Command(Command::Cancel(p)) => Some(Event::Cancel(p)),
            Item::Command(Command::Ping { ttl_ds, context }) => {
                self.heartbeat.on_peer_ping(ttl_ds, now_ms);
                // Without room (the caller did not drain the queue) the PONG is
                // dropped; the peer's next PING asks again.
                self.queue(|b| encode_pong(b, context));
                Some(Event::Ping)
            }
            Item::Command(Command::Pong(context)) => Some(Event::Pong(context)),
            // Unknown commands are ignored (spec 37).
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
