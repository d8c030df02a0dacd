//! The event service (PyIPC): nodes join a [`Service`], talk to each other directly
//! ([`Node::contact`](NodeHandle::contact)), through events ([`Node::create_event`](NodeHandle::create_event), [`Node::emit`](NodeHandle::emit),
//! [`Node::subscribe`](NodeHandle::subscribe)) and with payload-less [`Node::signal`](NodeHandle::signal)s.
//!
//! # Model
//!
//! The service is a ROUTER socket on a thread it owns; each node is a DEALER connected to it
//! (`tcp://`, `ipc://` or `inproc://`; `shm://name` is a hub-less service on a Unix socket). The directory and its rules are the core's
//! [`ringwire_core::events::Directory`]; the envelope is [`ringwire_core::events::wire`]
//! (byte for byte in `docs/events.md`). Every request of a node waits for the service's OK or
//! ERROR reply, so **every broken rule is an `Err`** ([`Error::Refused`] with the service's
//! [`ErrorCode`] and a sentence), never a silent drop:
//!
//! - emitting a single-emission event one did not create, or a multi-emission event one
//!   neither created nor subscribed to → [`ErrorCode::MayNotEmit`];
//! - subscribing to, unsubscribing from or emitting an unknown or dissolved event →
//!   [`ErrorCode::UnknownEvent`];
//! - contacting or signalling a node that is unknown, left or died → [`ErrorCode::UnknownNode`].
//!
//! An emission reaches every subscriber except the emitter; [`Node::emit`](NodeHandle::emit) returns how many.
//! A node that leaves, is dropped or dies (its connection closes, or misses the service's
//! ZMTP heartbeats for [`ServiceOptions::heartbeat_timeout`]) is removed and **its events are
//! dissolved**, never handed over: the subscribers receive a [`Delivery::Dissolved`] (or their
//! subscription simply ends, when they used a handler).
//!
//! # Shared memory on one machine
//!
//! With [`NodeOptions::shm`] (the default on Unix) a node also makes, when it joins, a
//! shared-memory **inbox** (an MPMC ring of 4 KiB slots, `shm://rwinb-…`) and a signal
//! **doorbell** (below). A node that contacts or signals another node of the same service
//! on the same machine finds them by name and skips the service: a contact is one ring
//! write ([`NodeHandle::contacted_locally`] counts them), a signal one atomic add. Data
//! that does not fit a slot, and nodes on other machines, go through the service.
//!
//! A service bound at `shm://name` ([`ServiceOptions::hubless`]) is **hub-less**: it keeps
//! only the directory, and each emitter writes an event's emissions into a shared-memory
//! broadcast ring of its own, which the subscribers read on their events thread — `emit` is
//! one ring write. A subscriber that falls a ring behind is told how many emissions it lost
//! ([`Delivery::Lost`], [`NodeHandle::events_lost`]). A hub-less service on tcp also serves
//! nodes of other machines that join with [`NodeOptions::remote`]: they are served routed,
//! and the local ring writers of an event with remote subscribers also send each emission to
//! the service, which passes it on to them ("Mixed services"). A node whose service restarts (on the
//! same endpoint) joins it again by itself, with its events and subscriptions.
//! `docs/events.md` has the details.
//!
//! **Ordering**: messages from one node to another keep their order along one path, but a
//! contact through the inbox may overtake an emission or a large contact sent earlier
//! through the service. Local peers are trusted like any `shm://` peer: a process of the
//! same user can write into an inbox and name any sender.
//!
//! # Handlers or polling
//!
//! Each kind of delivery goes either to a handler or to the node's queue:
//!
//! - with a handler ([`Node::listen`](NodeHandle::listen) for direct data, [`Node::subscribe`](NodeHandle::subscribe) /
//!   [`Node::create_event_with`](NodeHandle::create_event_with) per event, [`Node::on_signal`](NodeHandle::on_signal)), it runs **on a thread the
//!   node owns**, one delivery at a time, in arrival order. A handler may call the node
//!   (emit, contact, subscribe…) through a clone of [`Node::handle`];
//! - without one ([`Node::subscribe_polled`](NodeHandle::subscribe_polled), direct data before any `listen`, signals before
//!   any `on_signal`), the delivery waits in the node's queue for [`Node::recv_timeout`](NodeHandle::recv_timeout) /
//!   [`Node::try_recv`](NodeHandle::try_recv), which return a [`Delivery`].
//!
//! # Signals and coalescing
//!
//! [`Node::signal`](NodeHandle::signal) carries no payload; the target's signal handler (or queue) is told how
//! many signals arrived. **Signals coalesce**: while the target's handler is busy (or a queued
//! [`Delivery::Signal`] was not taken yet), further signals add to one pending count, and the
//! next call gets them all — n signals during one busy handler call give exactly one further
//! call, with `count == n`. A signal is never lost: the counts add up to the signals sent.
//!
//! On one machine a signal rings the target's **doorbell**, a 120-byte shared-memory segment
//! the node makes when it joins ([`NodeOptions::shm`], on by default on Unix; layout in
//! [`ringwire_core::events::doorbell`]): one atomic add, and a futex wake only when the
//! target's doorbell thread sleeps — no service hop. Doorbell signals run the handler on the
//! node's doorbell thread (service ones on its handler thread; the handler is never called
//! twice at once). Where no doorbell is found (another machine, doorbells off, the target
//! closed it) the signal is a zero-length SIGNAL through the service, which answers
//! [`ErrorCode::UnknownNode`] for a node it does not know. A target killed with -9 cannot
//! close its doorbell: a signaller that already held it notices once 64 of its signals stay
//! untaken (it then checks that the owner lives) and falls back to the service; those few
//! signals went nowhere. The service unlinks a lost node's doorbell name.
//!
//! ```
//! use std::time::Duration;
//! use ringwire::events::{Delivery, Emission, Node, NodeId, Service};
//!
//! let service = Service::bind("tcp://127.0.0.1:0")?;
//! let ep = service.endpoint();
//! let camera = Node::connect(&ep, NodeId::name("camera"))?;
//! let viewer = Node::connect(&ep, NodeId::name("viewer"))?;
//! camera.create_event("frame", Emission::Single)?;
//! viewer.subscribe_polled("frame")?;
//! assert_eq!(camera.emit("frame", b"pixels")?, 1);
//! match viewer.recv_timeout(Duration::from_secs(10))? {
//!     Delivery::Event(e) => assert_eq!((e.event.as_str(), e.data.as_slice()), ("frame", &b"pixels"[..])),
//!     other => panic!("{other:?}"),
//! }
//! // Only the creator emits a single-emission event: an error, not a silent drop.
//! assert!(viewer.emit("frame", b"x").is_err());
//! # Ok::<(), ringwire::events::Error>(())
//! ```

mod doorbell;
mod hubless;
mod node;
mod rejoin;
mod rings;
mod service;

use std::fmt;

pub use node::{Node, NodeHandle, NodeOptions};
pub use ringwire_core::events::{Emission, ErrorCode};
pub use service::{Service, ServiceOptions, ServiceStats};

/// A node's id: the process id (decimal) by default, or a name; 1 to 64 bytes of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    /// This process's id, in decimal (PyIPC's default).
    pub fn process() -> Self {
        NodeId(std::process::id().to_string())
    }

    /// A named node.
    pub fn name(name: impl Into<String>) -> Self {
        NodeId(name.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_wire(b: &[u8]) -> Self {
        NodeId(String::from_utf8_lossy(b).into_owned())
    }
}

impl Default for NodeId {
    fn default() -> Self {
        NodeId::process()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for NodeId {
    fn from(s: &str) -> Self {
        NodeId(s.to_owned())
    }
}

impl From<String> for NodeId {
    fn from(s: String) -> Self {
        NodeId(s)
    }
}

impl From<u32> for NodeId {
    fn from(pid: u32) -> Self {
        NodeId(pid.to_string())
    }
}

/// Data sent to this node by [`Node::contact`](NodeHandle::contact).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Direct {
    /// The sender.
    pub from: NodeId,
    /// The data.
    pub data: Vec<u8>,
}

/// One emission of an event this node subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// The event.
    pub event: String,
    /// The emitter.
    pub from: NodeId,
    /// The data.
    pub data: Vec<u8>,
}

/// Signals that arrived since the last call or delivery (see "Signals and coalescing").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    /// How many signals this delivery stands for (at least 1).
    pub count: u64,
}

/// Something delivered to a node that polls ([`Node::recv_timeout`](NodeHandle::recv_timeout), [`Node::try_recv`](NodeHandle::try_recv)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Direct data (no [`Node::listen`](NodeHandle::listen) handler is set).
    Direct(Direct),
    /// An emission of an event subscribed with [`Node::subscribe_polled`](NodeHandle::subscribe_polled).
    Event(Emitted),
    /// Signals (no [`Node::on_signal`](NodeHandle::on_signal) handler is set).
    Signal(Signals),
    /// An event subscribed with [`Node::subscribe_polled`](NodeHandle::subscribe_polled) was dissolved (by its creator, or
    /// because its creator left or died); the subscription is over.
    Dissolved(String),
    /// Hub-less events: this node fell more than a ring behind `from`'s emissions of `event`
    /// and lost `count` of them (overwritten before it read them); the next emission follows.
    Lost {
        /// The event.
        event: String,
        /// The emitter whose ring overtook this node.
        from: NodeId,
        /// Emissions lost.
        count: u64,
    },
}

/// What went wrong in an event-service call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The service refused the request.
    Refused {
        /// The service's reason.
        code: ErrorCode,
        /// The service's sentence, with the id concerned.
        message: String,
    },
    /// An id is empty or longer than 64 bytes.
    BadId(String),
    /// No reply within the node's request timeout (the service is down or unreachable).
    Timeout,
    /// Nothing was delivered within the receive timeout.
    NoDelivery,
    /// The node is closed (left, or its I/O thread ended).
    Closed,
    /// The socket failed.
    Socket(crate::Error),
}

impl Error {
    /// The service's error code, for a refused request.
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
            Error::Refused { message, .. } => write!(f, "event service refused: {message}"),
            Error::BadId(id) => write!(f, "event service: id {id:?} is empty or over 64 bytes"),
            Error::Timeout => f.write_str("event service: no reply (service down or unreachable)"),
            Error::NoDelivery => f.write_str("event service: nothing delivered in time"),
            Error::Closed => f.write_str("event service: the node is closed"),
            Error::Socket(e) => write!(f, "event service socket: {e}"),
        }
    }
}

crate::error::wraps_socket_error!(Error);

/// Result of event-service calls.
pub type Result<T> = std::result::Result<T, Error>;

/// The socket endpoint behind a service endpoint: `shm://name` is a hub-less service on the
/// Unix socket `ringwire-events-name.sock` in the temporary directory; others are themselves.
pub(crate) fn socket_endpoint(ep: &str) -> String {
    match ep.strip_prefix("shm://") {
        Some(name) => {
            let path = std::env::temp_dir().join(format!("ringwire-events-{name}.sock"));
            format!("ipc://{}", path.display())
        }
        None => ep.to_owned(),
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > ringwire_core::events::wire::MAX_ID {
        Err(Error::BadId(id.to_owned()))
    } else {
        Ok(())
    }
}

/// `docs/events.md`, whose worked example runs as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/events.md")]
pub struct EventsDoc;

/// Nodes, handles and services move between threads; handles are shared (a compile-time
/// check).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<Node>();
    assert_send::<NodeHandle>();
    assert_sync::<NodeHandle>();
    assert_send::<Service>();
};
