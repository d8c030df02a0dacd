//! Request/reply through a broker, over `tcp://`, `ipc://` and `inproc://` ZMTP sockets and
//! over `shm://` client-channel tables: a [`Router`] between clients and workers, [`Worker`]s
//! that run handlers, [`Client`]s that ask with Lazy Pirate retries, and a [`Server`] for the
//! client-server mode (no router).
//!
//! The logic lives in [`ringwire_core::broker`] (the worker registry, routing strategies,
//! heartbeats, requeues, the protocols' frames, the Lazy Pirate retry rule): this module
//! only moves frames between ZMTP sockets and those state machines, and adds the request
//! envelope, handlers, a persisted node id and logs. See `docs/broker.md` for the protocols
//! byte for byte and the delivery guarantee (at-least-once: handlers must tolerate
//! duplicates).
//!
//! # The request envelope
//!
//! A request's body is two frames: the event name (UTF-8, 1 to 255 bytes) and the payload
//! (postcard by default; any [`Codec`](crate::codec::Codec), JSON for peers that are not
//! Rust). A reply's body is two frames: a status byte ([`STATUS_OK`], [`STATUS_HANDLER_ERROR`],
//! [`STATUS_BROKER_ERROR`]) and the payload, or a UTF-8 message when the status is not OK.
//!
//! ```no_run
//! use ringwire::broker::{Client, Handlers, Router, Worker};
//!
//! let router = Router::bind("tcp://127.0.0.1:5555", "tcp://127.0.0.1:5556")?;
//! let worker = Worker::builder("tcp://127.0.0.1:5556")
//!     .spawn(Handlers::new().on("add", |(a, b): (i32, i32)| a + b))?;
//! let mut client = Client::connect("tcp://127.0.0.1:5555")?;
//! let sum: i32 = client.request("add", &(2, 3))?;
//! assert_eq!(sum, 5);
//! worker.stop()?;
//! println!("{:?}", router.stop()?);
//! # Ok::<(), ringwire::Error>(())
//! ```

mod client;
mod handlers;
mod node;
mod port;
mod router;
mod server;
mod worker;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use client::{Client, ClientBuilder};
pub use handlers::Handlers;
pub use node::NodeId;
pub use ringwire_core::broker::{Liveness, Stats, Strategy, WorkerProtocol};
pub use router::{Router, RouterBuilder, RouterLoop};
pub use server::{Server, ServerBuilder};
pub use worker::{Worker, WorkerBuilder, WorkerStats};

use crate::error::Error;

/// Reply status: the handler answered; the payload follows.
pub const STATUS_OK: u8 = 0;
/// Reply status: the worker could not run the request (no handler for the event, a payload
/// that does not decode, the handler's own error); a UTF-8 message follows.
pub const STATUS_HANDLER_ERROR: u8 = 1;
/// Reply status: the router could not serve the request (no worker took it in time, its
/// workers were lost too often, its tables or the client's quota are full); a UTF-8 message
/// follows.
pub const STATUS_BROKER_ERROR: u8 = 2;

/// The longest event name.
pub const MAX_EVENT: usize = 255;

/// What went wrong with a brokered request (inside [`Error::Broker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokerError {
    /// A reply or request is not in the envelope form (`docs/broker.md`).
    Malformed(String),
    /// The worker or server answered with an error (status 1): no handler for the event, a
    /// payload it could not decode, or the handler's own error.
    Handler(String),
    /// The router could not serve the request (status 2).
    Unavailable(String),
    /// No reply after every attempt.
    NoReply {
        /// The event asked for.
        event: String,
        /// Sends made (the first and every retry).
        attempts: u32,
        /// The wait for each.
        timeout: Duration,
    },
    /// The event name is empty or longer than [`MAX_EVENT`] bytes.
    BadEvent(usize),
    /// The node id file could not be used.
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::Malformed(s) => write!(
                f,
                "malformed message: {s} (is the peer speaking ringwire's request envelope?)"
            ),
            BrokerError::Handler(s) => write!(f, "the handler refused the request: {s}"),
            BrokerError::Unavailable(s) => write!(f, "the router could not serve it: {s}"),
            BrokerError::NoReply {
                event,
                attempts,
                timeout,
            } => write!(
                f,
                "no reply to {event:?} after {attempts} attempt(s) of {} ms each: check that a \
                 router or server listens at the endpoint and a worker serves it",
                timeout.as_millis()
            ),
            BrokerError::BadEvent(n) => write!(
                f,
                "an event name must be 1 to {MAX_EVENT} bytes, this one is {n}"
            ),
            BrokerError::Config { path, detail } => write!(
                f,
                "node id file {}: {detail} (fix it or delete it to make a new id)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BrokerError {}

impl From<BrokerError> for Error {
    fn from(e: BrokerError) -> Self {
        Error::Broker(e)
    }
}

/// The seed's error kinds: which one an [`Error`] from this module is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The socket could not be made or used (endpoint, operating system, limits): fix the
    /// endpoint or the environment.
    Socket,
    /// Bytes that break the envelope or the codec: the peer speaks something else.
    Malformed,
    /// No reply in time, after the retries: is anyone serving?
    Timeout,
    /// The connection was lost: reconnect and ask again.
    Connection,
    /// The other side answered with an error (handler or router): read its message.
    Client,
    /// The node id file is unreadable or malformed.
    Config,
}

impl ErrorKind {
    /// The kind of `e`.
    pub fn of(e: &Error) -> ErrorKind {
        match e {
            Error::Timeout => ErrorKind::Timeout,
            Error::Disconnected => ErrorKind::Connection,
            Error::Decode(_) | Error::Protocol(_) => ErrorKind::Malformed,
            Error::Encode(_) => ErrorKind::Client,
            Error::Broker(b) => match b {
                BrokerError::Malformed(_) => ErrorKind::Malformed,
                BrokerError::NoReply { .. } => ErrorKind::Timeout,
                BrokerError::Config { .. } => ErrorKind::Config,
                BrokerError::Handler(_)
                | BrokerError::Unavailable(_)
                | BrokerError::BadEvent(_) => ErrorKind::Client,
            },
            _ => ErrorKind::Socket,
        }
    }
}

/// Checks an event name.
fn check_event(event: &str) -> Result<(), BrokerError> {
    if event.is_empty() || event.len() > MAX_EVENT {
        return Err(BrokerError::BadEvent(event.len()));
    }
    Ok(())
}

/// Reads a reply body (the frames after any protocol header): the payload, or the error.
fn parse_reply(body: &[Vec<u8>]) -> Result<&[u8], BrokerError> {
    let [status, payload] = body else {
        return Err(BrokerError::Malformed(format!(
            "a reply has 2 frames (status, payload), this one {}",
            body.len()
        )));
    };
    let text = || String::from_utf8_lossy(payload).into_owned();
    match status.as_slice() {
        [STATUS_OK] => Ok(payload),
        [STATUS_HANDLER_ERROR] => Err(BrokerError::Handler(text())),
        [STATUS_BROKER_ERROR] => Err(BrokerError::Unavailable(text())),
        s => Err(BrokerError::Malformed(format!(
            "unknown reply status {s:?}"
        ))),
    }
}

/// Milliseconds since `epoch`: the core state machines' clock.
fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds of a duration for the core's clock (saturating).
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
