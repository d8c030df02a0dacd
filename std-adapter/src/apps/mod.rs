//! Applications and channels (the IPC Framework seed): an [`AppServer`] holds named
//! applications, each with named channels; a channel has handlers by message type (request,
//! publish, subscribe, notification), and clients in Rust ([`AppClient`]), Python
//! (`clients/python`) and Node.js (`clients/node`) send requests, publish, subscribe and
//! notify over `tcp://`, `ipc://` or `inproc://`.
//!
//! # Model
//!
//! The server is a ZMTP ROUTER on a thread it owns; every client is a DEALER. The envelope is
//! [`ringwire_core::apps`] (byte for byte in `docs/apps.md`), and so are the server's tables
//! and decisions ([`ringwire_core::apps::server::Registry`], bounded by
//! [`AppServerOptions`]' `max_connections`, `max_names`, `max_subscriptions` and
//! `max_total_subscriptions`): this module maps routing ids to the registry's connections,
//! runs the handlers and moves frames. It reuses the building blocks
//! of the broker and the event service: the ROUTER's ZMTP heartbeats expire dead clients, the
//! DEALER reconnects with exponential back-off, and a request is retried with the core's Lazy
//! Pirate rule ([`ringwire_core::broker::lazy`]).
//!
//! - **request** → the channel's request handler runs on the server thread and its
//!   [`Reply`] goes back to the requesting connection only;
//! - **publish** → delivered to every connection subscribed to the channel (the publisher
//!   included, if subscribed); the channel's publish handler, if any, sees it too;
//! - **subscribe / unsubscribe** → the connection's subscription to the channel; the
//!   channel's subscribe handler, if any, is told;
//! - **notification** → one-way to the channel's notification handler.
//!
//! Every refusal is an explicit ERROR reply with an [`ErrorCode`] and a sentence, and is
//! counted in [`AppStats`]: unknown application or channel, a payload over
//! [`AppServerOptions::max_payload`], a malformed envelope, a channel with no handler for
//! the message, a handler's own error. A client that does not read is bounded by the ROUTER's
//! per-connection queue ([`AppServerOptions::send_hwm`]): what does not fit is dropped for
//! that client and counted ([`AppStats::dropped`]); the other clients are served as before.
//!
//! # Payloads
//!
//! A header flag says whether a payload is postcard (Rust to Rust) or JSON (Python, Node.js).
//! A handler decodes with [`Message::decode`], which follows the flag, and answers with
//! [`Message::reply`], which encodes in the requester's encoding: one handler serves all three
//! languages.
//!
//! ```
//! use ringwire::apps::{AppClient, AppServer};
//!
//! let server = AppServer::bind("tcp://127.0.0.1:0")?;
//! let app = server.create_application("my_app")?;
//! let api = app.create_channel("api")?;
//! api.on_request(|m| {
//!     let (a, b): (i32, i32) = m.decode()?;
//!     m.reply(&(a + b))
//! });
//! let client = AppClient::connect(&server.endpoint())?;
//! let sum: i32 = client.request("my_app", "api", &(2, 3))?;
//! assert_eq!(sum, 5);
//! # Ok::<(), ringwire::apps::Error>(())
//! ```

mod client;
mod server;

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use client::{AppClient, AppClientOptions, Publication};
pub use ringwire_core::apps::{Encoding, ErrorCode};
pub use server::{
    AppServer, AppServerOptions, AppStats, Application, Channel, ConnectionInfo, Message,
    MessageType, Reply,
};

/// What went wrong in an applications-and-channels call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server refused the message.
    Refused {
        /// The server's reason.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// An application or channel name is empty or longer than 64 bytes, or the application
    /// or channel already exists on this server.
    BadName(String),
    /// No answer after every attempt (the server is down or unreachable).
    NoReply {
        /// Sends made.
        attempts: u32,
    },
    /// A payload could not be encoded or decoded.
    Codec(String),
    /// The server's answer is not in the envelope form.
    Malformed(String),
    /// The client is closed.
    Closed,
    /// The socket failed.
    Socket(crate::Error),
}

impl Error {
    /// The server's error code, for a refused message.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused { code, message } => {
                write!(f, "application server refused: {message} ({code})")
            }
            Error::BadName(s) => write!(f, "application server: {s}"),
            Error::NoReply { attempts } => write!(
                f,
                "application server: no reply after {attempts} attempt(s): is a server \
                 listening at the endpoint?"
            ),
            Error::Codec(s) => write!(f, "application payload: {s}"),
            Error::Malformed(s) => write!(f, "application server sent a malformed message: {s}"),
            Error::Closed => f.write_str("application client is closed"),
            Error::Socket(e) => write!(f, "application socket: {e}"),
        }
    }
}

crate::error::wraps_socket_error!(Error);

/// Result of applications-and-channels calls.
pub type Result<T> = std::result::Result<T, Error>;

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > ringwire_core::apps::MAX_NAME {
        return Err(Error::BadName(format!(
            "{what} name {name:?} must be 1 to {} bytes",
            ringwire_core::apps::MAX_NAME
        )));
    }
    Ok(())
}

/// Encodes `value` in `encoding`.
pub fn encode<T: Serialize + ?Sized>(encoding: Encoding, value: &T) -> Result<Vec<u8>> {
    match encoding {
        Encoding::Postcard => postcard::to_stdvec(value).map_err(|e| Error::Codec(e.to_string())),
        Encoding::Json => serde_json::to_vec(value).map_err(|e| Error::Codec(e.to_string())),
    }
}

/// Decodes `bytes` in `encoding`.
pub fn decode<T: DeserializeOwned>(encoding: Encoding, bytes: &[u8]) -> Result<T> {
    match encoding {
        Encoding::Postcard => {
            postcard::from_bytes(bytes).map_err(|e| Error::Codec(format!("postcard payload: {e}")))
        }
        Encoding::Json => {
            serde_json::from_slice(bytes).map_err(|e| Error::Codec(format!("JSON payload: {e}")))
        }
    }
}

/// `docs/apps.md`, whose worked example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/apps.md")]
pub struct AppsDoc;

/// Servers and clients move between threads; clients and channels are shared (a
/// compile-time check).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<AppServer>();
    assert_sync::<AppServer>();
    assert_send::<AppClient>();
    assert_sync::<AppClient>();
    assert_send::<Channel>();
    assert_sync::<Channel>();
};
