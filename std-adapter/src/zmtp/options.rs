//! Socket options, statistics and the monitor's event type.

use std::time::Duration;

use ringwire_core::zmtp::Limits;

use crate::endpoint::Endpoint;

/// What a send does when a peer's queue holds `send_hwm` messages, or the socket's
/// queued bytes would pass `max_queued_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HwmPolicy {
    /// Drop the message for that peer and count it in [`Stats::dropped_hwm`]
    /// (PUB's and XPUB's default, as in libzmq).
    DropAndCount,
    /// Block until the queue drains or the send timeout passes ([`crate::Error::Timeout`]);
    /// the default for every other socket type.
    Block,
}

/// Options of a ZMTP socket; start from `Options::default()` or use the socket's builder.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Most messages queued per peer for sending (libzmq `ZMQ_SNDHWM`); 0 means no
    /// limit, as in libzmq (then only [`max_queued_bytes`](Self::max_queued_bytes)
    /// bounds the queue).
    pub send_hwm: usize,
    /// Most bytes queued for sending on all of the socket's connections together (the
    /// socket's memory budget for peers that do not read). A message that would pass it
    /// is handled like one at the HWM: PUB/XPUB drop it for that peer, PUSH, DEALER,
    /// REQ and PAIR block (up to the send timeout), REP and ROUTER drop the reply and
    /// close the peer if it holds more than half the budget; drops are counted in
    /// [`Stats::dropped_budget`]. One message always fits when nothing is queued.
    /// Default 128 MiB.
    pub max_queued_bytes: usize,
    /// Most received messages held before the socket stops reading (`ZMQ_RCVHWM`).
    pub recv_hwm: usize,
    /// Policy at the send high-water mark; `None` picks the socket type's default.
    pub hwm_policy: Option<HwmPolicy>,
    /// Send a ZMTP PING after this much silence from a 3.1 peer (`ZMQ_HEARTBEAT_IVL`).
    pub heartbeat_interval: Option<Duration>,
    /// Close a connection silent for this long when heartbeats are on (`ZMQ_HEARTBEAT_TIMEOUT`).
    pub heartbeat_timeout: Option<Duration>,
    /// Close a connection whose greeting and READY have not arrived within this time.
    pub handshake_timeout: Duration,
    /// Close a connection that sends nothing for this long (heartbeats off or not).
    pub idle_timeout: Option<Duration>,
    /// On drop, keep writing queued messages for at most this long (`ZMQ_LINGER`).
    pub linger: Duration,
    /// Identity sent in READY (REQ, DEALER, ROUTER); ROUTER peers route by it.
    pub identity: Vec<u8>,
    /// First reconnect delay (`ZMQ_RECONNECT_IVL`).
    pub reconnect_interval: Duration,
    /// Largest reconnect delay; it doubles up to this (`ZMQ_RECONNECT_IVL_MAX`).
    pub reconnect_interval_max: Duration,
    /// Timeout of one TCP connection attempt.
    pub connect_timeout: Duration,
    /// Blocking sends give up after this long (`None`: wait forever).
    pub send_timeout: Option<Duration>,
    /// Most simultaneous connections; more are accepted, closed at once and counted.
    /// The default is 4096, or less where the process's descriptor limit
    /// (`RLIMIT_NOFILE`, read when the options are made) is lower: an eighth of that
    /// limit (at least 32 descriptors) stays free for everything else.
    pub max_connections: usize,
    /// Size limits applied to everything peers send.
    pub limits: Limits,
    /// Bytes of subscription prefixes a publisher keeps per peer.
    pub max_subscription_bytes: usize,
    /// Cork every send: messages wait in the write buffer until 64 KiB accumulate, the
    /// driver writes them (about 30 µs later), or [`flush`](super::Pub::flush) /
    /// any receive writes them. Highest throughput, a little latency.
    pub batch: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            send_hwm: 1000,
            max_queued_bytes: 128 << 20,
            recv_hwm: 1000,
            hwm_policy: None,
            heartbeat_interval: None,
            heartbeat_timeout: None,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: None,
            linger: Duration::from_secs(1),
            identity: Vec::new(),
            reconnect_interval: Duration::from_millis(100),
            reconnect_interval_max: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            send_timeout: None,
            max_connections: default_max_connections(),
            limits: Limits::default(),
            max_subscription_bytes: 64 * 1024,
            batch: false,
        }
    }
}

/// The default connection limit: 4096, kept below the descriptor limit (see
/// [`Options::max_connections`]).
fn default_max_connections() -> usize {
    const MOST: usize = 4096;
    #[cfg(unix)]
    {
        use rustix::process::{Resource, getrlimit};
        if let Some(limit) = getrlimit(Resource::Nofile).current {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let reserve = (limit / 8).max(32);
            return limit.saturating_sub(reserve).clamp(1, MOST);
        }
    }
    MOST
}

/// Counters of what a socket survived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages dropped at a peer's send high-water mark.
    pub dropped_hwm: u64,
    /// Messages dropped because the socket's queued bytes would pass
    /// [`Options::max_queued_bytes`].
    pub dropped_budget: u64,
    /// Messages a ROUTER could not route (unknown id).
    pub unroutable: u64,
    /// Connections accepted (including ones rejected right after).
    pub accepted: u64,
    /// Connections closed because `max_connections` were open.
    pub rejected_connections: u64,
    /// Connections closed for breaking the protocol (garbage, wrong greeting, limits).
    pub protocol_errors: u64,
    /// Connections closed because the handshake did not finish in time.
    pub handshake_timeouts: u64,
    /// Connections closed by the heartbeat or idle timeout.
    pub idle_timeouts: u64,
    /// Connections closed for any reason.
    pub disconnected: u64,
    /// Times accepting paused because the process ran out of descriptors (each pause
    /// stops watching the listeners for 10–500 ms, or until a connection closes).
    pub accept_paused: u64,
    /// Messages lost because they were larger than [`Limits::max_frame`] or
    /// [`Limits::max_message`]: the receiver closes the sending connection at the
    /// header, so the whole message is lost (also logged and reported as
    /// [`SocketEvent::MessageTooLarge`]).
    pub too_large: u64,
}

/// Something that happened to a socket's connections (libzmq's `zmq_socket_monitor`).
///
/// `endpoint` is the socket's own endpoint the connection belongs to: the bound one for
/// accepted connections, the connected one otherwise. `peer` is the other end's address
/// where it has one: a TCP peer's `tcp://ip:port` (so a broker can tell its workers
/// apart), a connected endpoint itself, and `None` for an `ipc://` client (its Unix
/// socket has no name). `routing_id` is the peer's `Identity` (for a ROUTER, the id it
/// routes by, generated when the peer sent none).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// The socket listens on this endpoint (port 0 resolved).
    Listening(Endpoint),
    /// A peer connected to a bound endpoint.
    Accepted {
        /// The bound endpoint.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
    },
    /// An outgoing connection was established.
    Connected(Endpoint),
    /// The peer's greeting and READY arrived and were accepted.
    HandshakeSucceeded {
        /// The socket's endpoint the connection belongs to.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
        /// The peer's routing id.
        routing_id: Vec<u8>,
    },
    /// The connection closed before its handshake completed.
    HandshakeFailed {
        /// The socket's endpoint the connection belongs to.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
        /// Why.
        reason: String,
    },
    /// An established connection closed.
    Disconnected {
        /// The socket's endpoint the connection belongs to.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
        /// The peer's routing id.
        routing_id: Vec<u8>,
        /// Why.
        reason: String,
    },
    /// A peer sent a message larger than [`Options::limits`] allow: the message is lost
    /// and the connection closed (a `Disconnected` or `HandshakeFailed` follows).
    MessageTooLarge {
        /// The socket's endpoint the connection belongs to.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
        /// The announced size: the frame's, or the message's so far with it.
        size: u64,
        /// The limit it broke.
        limit: u64,
    },
    /// A connection attempt failed or a connection dropped; the next attempt is after `delay`.
    Retried {
        /// The endpoint being reconnected.
        endpoint: Endpoint,
        /// Delay before the next attempt.
        delay: Duration,
    },
    /// A connection over `max_connections` was closed at once.
    Rejected {
        /// The bound endpoint.
        endpoint: Endpoint,
        /// The peer's address, where it has one.
        peer: Option<Endpoint>,
    },
}
