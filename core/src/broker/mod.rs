//! The request/reply broker's logic, sans-IO: a router between clients (frontend) and
//! workers (backend) that the std layer drives with "these frames arrived from this peer at
//! time t" and asks "what should go out now".
//!
//! - [`Broker`]: the state machine. Bounded tables, sized by const generics: `W` workers,
//!   `R` requests (queued or in flight), `S` service names. It holds no message bodies: a
//!   request is named by a [`RequestId`] and the caller keeps its body until the broker says
//!   the request is over.
//! - [`route`]: the routing strategies (least-recently-ready, round-robin, least-loaded, a
//!   caller's function), always within the request's service.
//! - [`wire`]: the frames of the load-balancing, Paranoid Pirate (spec 6) and Majordomo worker
//!   protocols and of plain and Majordomo clients; [`mdp`]: the Majordomo command codec.
//! - [`worker`]: the worker's side (READY, reading requests, framing replies, its own
//!   heartbeats and giving up a silent broker).
//! - [`lazy`]: the Lazy Pirate client's retry state machine.
//!
//! # Driving a broker
//!
//! ```
//! use ringwire_core::broker::{Action, Backend, Broker, Config, PeerId};
//!
//! let mut b: Broker<4, 16, 2> = Broker::new(Config::default());
//! let (client, worker) = (PeerId(1), PeerId(100));
//! // A load-balancing worker (REQ socket) says READY.
//! let ready: [&[u8]; 2] = [b"", b"READY"];
//! assert_eq!(b.on_backend(worker, &ready, 0), Ok(Backend::Ready));
//! // A REQ client's request: keep its body under the id until the broker is done with it.
//! let request: [&[u8]; 2] = [b"", b"ping"];
//! let accepted = b.on_frontend(client, &request, 1).unwrap();
//! let Some(Action::Forward { request: id, worker: to, .. }) = b.poll(1) else { panic!() };
//! assert_eq!((id, to), (accepted.id, worker));
//! // The worker echoes the 8-byte token in front of its reply.
//! let token = id.token();
//! let reply: [&[u8]; 4] = [b"", &token, b"", b"pong"];
//! let Ok(Backend::Reply(r)) = b.on_backend(worker, &reply, 2) else { panic!() };
//! assert_eq!((r.client, r.body_from, r.last), (client, 3, true));
//! assert_eq!(b.stats().replies, 1);
//! ```
//!
//! After every `on_*` call, call [`Broker::poll`] until it returns `None`. Call
//! [`Broker::on_tick`] when [`Broker::next_deadline`] passes (or every heartbeat interval):
//! it counts missed heartbeats and expires silent workers and queued requests.
//!
//! # Guarantees
//!
//! Every accepted request ends exactly once, in one of: a final reply
//! ([`Backend::Reply`] with `last`), an error for its client ([`Action::Fail`]), or its
//! client's disconnection ([`Broker::on_client_disconnect`], after which nothing more is said
//! about it). A request whose worker expires, disconnects or resets goes back to the head of
//! the queue for another worker, up to [`Config::max_attempts`] sends, then fails. A reply
//! that answers no request of that worker (a late reply from an expired worker, a duplicate)
//! is dropped and counted. Delivery is therefore at-least-once for the handler: the same
//! request may run on two workers, so a handler must be idempotent or deduplicate.

pub mod lazy;
pub mod mdp;
pub mod route;
mod state;
#[cfg(test)]
mod tests;
pub mod wire;
pub mod worker;

use core::fmt;

pub use route::{Candidate, RequestInfo, RouteFn, Strategy};
pub use state::{Broker, RequestState, WorkerInfo};
pub use wire::{ClientEnvelope, ClientProtocol, WireError, WorkerProtocol};

/// A peer (client or worker) as the caller names it: the std layer maps each routing id it
/// sees to a number, stable for as long as it wants the broker to recognise the peer (a
/// worker that reconnects with the same routing id can keep its number). Clients and workers
/// are separate name spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerId(pub u64);

/// One accepted request, unique for the broker's life (a table slot and that slot's reuse
/// count). Its [`token`](RequestId::token) is the address frame workers echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The id as a number (for logs and maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// Heartbeat liveness, as the seed configures it: the broker sends a heartbeat to each
/// heartbeating worker every `interval_ms`; a worker silent for `timeout_ms` has missed a
/// beat, and one that misses `max_missed` in a row is expired. Anything a worker sends counts
/// as a beat. Load-balancing (REQ) workers cannot heartbeat while they wait, so they are never
/// expired for silence (their connection's loss is [`Broker::on_worker_disconnect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Liveness {
    /// Milliseconds between our heartbeats to a worker (0: send none).
    pub interval_ms: u64,
    /// Milliseconds of silence that make one missed beat (0: never expire).
    pub timeout_ms: u64,
    /// Missed beats in a row that expire a worker (0 acts as 1).
    pub max_missed: u32,
}

impl Default for Liveness {
    /// The seed's example: a beat a second, a beat missed after 5 s, dropped at the first miss.
    fn default() -> Self {
        Liveness {
            interval_ms: 1000,
            timeout_ms: 5000,
            max_missed: 1,
        }
    }
}

/// A broker's settings.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Config {
    /// How a request's worker is chosen.
    pub strategy: Strategy,
    /// Worker heartbeats.
    pub heartbeat: Liveness,
    /// Sends of one request to workers before it fails (at least 1; default 3).
    pub max_attempts: u8,
    /// Requests one worker may hold at once (at least 1; default 1). The load-balancing,
    /// Paranoid Pirate and Majordomo workers of the guide take one at a time: raise it only
    /// for workers that say they handle more.
    pub max_in_flight: u16,
    /// Requests one client may have queued or in flight (default 16); more are refused, so a
    /// client that floods cannot take the table from the others.
    pub max_per_client: u16,
    /// Milliseconds a request may wait in the queue for a worker of its service before it
    /// fails (0: wait for ever; default 0).
    pub queue_timeout_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            strategy: Strategy::LeastRecentlyReady,
            heartbeat: Liveness::default(),
            max_attempts: 3,
            max_in_flight: 1,
            max_per_client: 16,
            queue_timeout_ms: 0,
        }
    }
}

/// The broker's counters (they only grow, saturating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Requests accepted.
    pub requests: u64,
    /// Requests refused at the door (a table full, the client's limit).
    pub refused: u64,
    /// Sends of a request to a worker.
    pub dispatched: u64,
    /// Final replies passed to clients.
    pub replies: u64,
    /// Partial replies passed to clients.
    pub partials: u64,
    /// Requests put back in the queue after their worker was lost.
    pub requeued: u64,
    /// Requests that ended with an error for the client.
    pub failed: u64,
    /// Requests whose client disconnected first.
    pub cancelled: u64,
    /// Replies dropped because they answer nothing the worker holds (late, duplicate).
    pub late_replies: u64,
    /// Replies dropped because their client disconnected.
    pub orphan_replies: u64,
    /// Messages dropped as malformed (either side).
    pub malformed: u64,
    /// Workers registered (READY accepted).
    pub workers_registered: u64,
    /// Workers refused because a table was full.
    pub workers_refused: u64,
    /// Workers expired for missed heartbeats.
    pub workers_expired: u64,
    /// Workers gone by disconnection, DISCONNECT, a reset or a protocol violation.
    pub workers_lost: u64,
    /// Heartbeats missed (each `timeout_ms` of a worker's silence).
    pub beats_missed: u64,
    /// Heartbeats sent to workers.
    pub heartbeats_sent: u64,
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FailReason {
    /// Its workers were lost [`Config::max_attempts`] times.
    WorkerLost,
    /// No worker of its service took it within [`Config::queue_timeout_ms`].
    NoWorker,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailReason::WorkerLost => "the workers handling the request were lost",
            FailReason::NoWorker => "no worker for the service took the request in time",
        })
    }
}

/// What the broker wants done now ([`Broker::poll`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Send the request (its stored body after [`wire::request_header`]) to the worker.
    Forward {
        /// The request.
        request: RequestId,
        /// The worker.
        worker: PeerId,
        /// The worker's protocol (for the header).
        protocol: WorkerProtocol,
    },
    /// Send the client an error reply for the request, and forget the request.
    Fail {
        /// The request (over now).
        request: RequestId,
        /// Its client.
        client: PeerId,
        /// Why.
        reason: FailReason,
    },
    /// Send the worker a heartbeat ([`wire::heartbeat_message`]).
    Heartbeat {
        /// The worker.
        worker: PeerId,
        /// Its protocol.
        protocol: WorkerProtocol,
    },
    /// The worker was expired for missed heartbeats and is forgotten: a Majordomo worker
    /// should be sent DISCONNECT; the connection may be closed.
    DropWorker {
        /// The worker.
        worker: PeerId,
        /// Its protocol.
        protocol: WorkerProtocol,
    },
}

/// A request the broker accepted ([`Broker::on_frontend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<'a> {
    /// Its id: keep the body (`frames[request.body_from..]`) and envelope under it.
    pub id: RequestId,
    /// The decoded request.
    pub request: wire::ClientRequest<'a>,
}

/// Why a client's message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Refusal {
    /// Not a request (counted as malformed): drop it.
    Malformed(WireError),
    /// The request table is full: answer the client with an error.
    TableFull,
    /// The client already has [`Config::max_per_client`] requests: answer with an error.
    ClientLimit,
    /// The service name is longer than [`MAX_SERVICE`] bytes or the service table is full.
    ServiceUnavailable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Malformed(e) => write!(f, "malformed request: {e}"),
            Refusal::TableFull => f.write_str("broker request table full"),
            Refusal::ClientLimit => f.write_str("too many outstanding requests from this client"),
            Refusal::ServiceUnavailable => {
                f.write_str("service name too long or service table full")
            }
        }
    }
}

impl core::error::Error for Refusal {}

/// Longest service name the broker keeps.
pub const MAX_SERVICE: usize = 255;

/// A reply to pass to a client ([`Backend::Reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reply {
    /// The request it answers.
    pub request: RequestId,
    /// Its client.
    pub client: PeerId,
    /// The reply body is `frames[body_from..]` of the worker's message.
    pub body_from: usize,
    /// The final reply (the request is over); false for a Majordomo PARTIAL.
    pub last: bool,
}

/// What a worker's message did ([`Broker::on_backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Backend {
    /// The worker registered (or re-registered: what it held was taken back).
    Ready,
    /// A heartbeat.
    Heartbeat,
    /// Pass this reply to its client (with [`wire::reply_header`]).
    Reply(Reply),
    /// A reply that answers nothing this worker holds: dropped and counted.
    LateReply,
    /// A reply whose client disconnected: dropped.
    OrphanReply,
    /// The worker said DISCONNECT and is forgotten.
    Gone,
    /// Send the worker a Majordomo DISCONNECT ([`wire::disconnect_message`]): it broke the
    /// protocol (a second READY, a command before READY, a REQUEST) or could not be
    /// registered; it is forgotten.
    SendDisconnect,
}

/// Why a worker's message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum BackendError {
    /// Not a message of any worker protocol (counted as malformed).
    Malformed(WireError),
    /// A READY that found the worker or service table full (or a service name longer than
    /// [`MAX_SERVICE`]); a Majordomo worker is owed a DISCONNECT.
    Refused(WorkerProtocol),
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendError::Malformed(e) => write!(f, "malformed worker message: {e}"),
            BackendError::Refused(_) => f.write_str("worker refused: broker tables full"),
        }
    }
}

impl core::error::Error for BackendError {}
