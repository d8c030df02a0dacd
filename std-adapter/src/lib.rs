//! `ringwire`: the blocking, typed messaging API for robotics control loops.
//!
//! One set of patterns — PUB/SUB, REQ/REP, PUSH/PULL — over `shm://name` (shared
//! memory on one machine), `tcp://host:port` and `ipc:///path.sock` (ZMTP 3.1, so
//! libzmq, pyzmq and zeromq.js peers interoperate), and serial links to firmware.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "bench")]
pub mod bench;
pub mod endpoint;
pub mod error;
pub mod message;
pub mod serial;
pub mod shm;
pub mod socket;
pub mod zmtp;

pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use message::Message;
pub use socket::{
    Poller, Publisher, Puller, Pusher, Replier, Requester, Subscriber, Transport, transport_of,
};
