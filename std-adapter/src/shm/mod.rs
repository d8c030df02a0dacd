//! Shared-memory transport: `shm://name` sockets over lock-free rings in a named segment.
//!
//! Each endpoint is one segment (`/dev/shm/ringwire.name` on Linux) holding the rings of one
//! pattern from `ringwire_core::ring`: a broadcast ring for PUB/SUB ([`Publisher`],
//! [`Subscriber`]), a table of client channels of two SPSC rings each for REQ/REP (one
//! [`Replier`] serving up to [`ShmOptions::max_clients`] [`Requester`]s), an MPMC ring for
//! PUSH/PULL ([`Pusher`], [`Puller`]). A send is a few atomic operations and one copy into a
//! slot (none with a loan); a blocked receive sleeps on the segment's futex word, and a sender
//! only makes a wake system call when someone sleeps. `bind` creates the segment (reclaiming
//! one whose creator died), `connect` opens it; sockets follow a restarted peer to its new
//! segment, and crashed peers never block the others past a liveness interval.
//!
//! The API follows ZeroMQ (and the socket transport): `send`/`recv` of postcard-typed values,
//! `_bytes` and `_multipart` forms, `recv_timeout`/`try_recv`, prefix subscriptions, and a
//! [`Poller`](crate::Poller). Slot layout, lifecycle and crash semantics: `docs/shm-transport.md`.
//!
//! ```
//! use ringwire::shm::{Publisher, Subscriber};
//!
//! let ep = format!("shm://doc-pose-{}", std::process::id());
//! let mut publisher = Publisher::bind(&ep)?;
//! let mut subscriber = Subscriber::connect(&ep)?;
//! subscriber.subscribe(b"pose")?; // ZeroMQ semantics: nothing until subscribed
//!
//! publisher.send_on("pose", &(1.0f32, 2.0f32))?;
//! let (x, y): (f32, f32) = subscriber.recv()?;
//! assert_eq!((x, y), (1.0, 2.0));
//! assert_eq!(subscriber.lost(), 0);
//! # Ok::<(), ringwire::Error>(())
//! ```

mod attach;
mod codec;
pub mod frames;
mod in_place;
mod options;
pub(crate) mod poller;
mod pubsub;
mod pushpull;
pub(crate) mod recv;
pub(crate) mod reqrep;
mod wait;

pub use codec::MessageRef;
pub use in_place::InPlace;
pub use options::{Builder, FullPolicy, LagPolicy, ShmOptions, ShmSocket, WaitMode};
pub use pubsub::{Publisher, SUBSCRIBER_ENTRIES, Subscriber};
pub use pushpull::{Puller, PushLoan, Pusher};
pub use reqrep::{Replier, Requester};
pub use ringwire_core::ring::broadcast::SlotWriter;
