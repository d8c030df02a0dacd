//! Socket options, statistics and the monitor's event type.

use std::time::Duration;

use ringwire_core::zmtp::Limits;

use crate::endpoint::Endpoint;

/// What a send does when a peer's queue holds `send_hwm` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Most messages queued per peer for sending (libzmq `ZMQ_SNDHWM`).
    pub send_hwm: usize,
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
            max_connections: 4096,
            limits: Limits::default(),
            max_subscription_bytes: 64 * 1024,
            batch: false,
        }
    }
}

/// Counters of what a socket survived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages dropped at a peer's send high-water mark.
    pub dropped_hwm: u64,
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
}

/// Something that happened to a socket's connections (libzmq's `zmq_socket_monitor`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// The socket listens on this endpoint (port 0 resolved).
    Listening(Endpoint),
    /// A peer connected to a bound endpoint.
    Accepted(Endpoint),
    /// An outgoing connection was established.
    Connected(Endpoint),
    /// The peer's greeting and READY arrived and were accepted.
    HandshakeSucceeded(Endpoint),
    /// The connection closed before its handshake completed.
    HandshakeFailed {
        /// Where the connection came from or went to.
        endpoint: Endpoint,
        /// Why.
        reason: String,
    },
    /// An established connection closed.
    Disconnected {
        /// Where the connection came from or went to.
        endpoint: Endpoint,
        /// Why.
        reason: String,
    },
    /// A connection attempt failed or a connection dropped; the next attempt is after `delay`.
    Retried {
        /// The endpoint being reconnected.
        endpoint: Endpoint,
        /// Delay before the next attempt.
        delay: Duration,
    },
    /// A connection over `max_connections` was closed at once.
    Rejected(Endpoint),
}
