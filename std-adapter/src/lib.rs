//! `ringwire`: the blocking, typed messaging API for robotics control loops.
//!
//! One set of patterns — PUB/SUB, REQ/REP, PUSH/PULL — over `shm://name` (shared
//! memory on one machine), `tcp://host:port` and `ipc:///path.sock` (ZMTP 3.1, so
//! libzmq, pyzmq and zeromq.js peers interoperate), and serial links to firmware.
//!
//! Cargo features (none on by default):
//!
//! - `json`: `codec::Json` (serde_json) payloads, byte-equal to Python's compact
//!   `json.dumps`;
//! - `msgpack`: `codec::MsgPack` (rmp-serde) payloads, byte-equal to `msgpack.packb`;
//! - `bench`: the `bench` module, the measuring loops behind `ringwire bench`.
//!
//! Besides receive loops, [`handler`] runs a function per request ([`Replier::serve`]) or
//! per topic ([`Subscriber::on`]); [`process::ProcessManager`] starts, watches and stops the
//! processes of a system.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "json")]
pub mod apps;
#[cfg(feature = "bench")]
pub mod bench;
pub mod broker;
pub mod codec;
pub mod endpoint;
pub mod error;
pub mod events;
pub mod handler;
#[cfg(feature = "logging")]
pub mod logging;
pub mod message;
pub mod poller;
pub mod process;
pub mod serial;
pub mod shm;
pub mod socket;
mod stop_thread;
pub mod zmtp;

pub use endpoint::Endpoint;
pub use error::{Error, ProtocolError, Result};
pub use message::Message;
pub use poller::{Pollable, Poller};
pub use socket::{
    Publisher, Puller, Pusher, Replier, Requester, SocketBuilder, Subscriber, Transport,
    transport_of,
};

/// Every public socket type can move to another thread (a compile-time check: a field that
/// is not `Send` fails the build here, not in a user's program).
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Publisher>();
    assert_send::<Subscriber>();
    assert_send::<Requester>();
    assert_send::<Replier>();
    assert_send::<Pusher>();
    assert_send::<Puller>();
    assert_send::<shm::Publisher>();
    assert_send::<shm::Subscriber>();
    assert_send::<shm::Requester>();
    assert_send::<shm::Replier>();
    assert_send::<shm::Pusher>();
    assert_send::<shm::Puller>();
    assert_send::<zmtp::Pub>();
    assert_send::<zmtp::Sub>();
    assert_send::<zmtp::XPub>();
    assert_send::<zmtp::XSub>();
    assert_send::<zmtp::Req>();
    assert_send::<zmtp::Rep>();
    assert_send::<zmtp::Dealer>();
    assert_send::<zmtp::Router>();
    assert_send::<zmtp::Push>();
    assert_send::<zmtp::Pull>();
    assert_send::<zmtp::Pair>();
    assert_send::<serial::Bridge<std::net::TcpStream>>();
};
