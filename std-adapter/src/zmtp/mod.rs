//! ZeroMQ-compatible sockets over `tcp://host:port` and `ipc:///path.sock`, speaking
//! ZMTP 3.1 (and accepting 3.0 peers) so libzmq, pyzmq and zeromq.js interoperate.
//!
//! Socket types: [`Pub`]/[`Sub`] (prefix subscriptions filtered at the publisher,
//! re-sent after every reconnect), [`Req`]/[`Rep`] (lock-step with envelopes),
//! [`Dealer`]/[`Router`] (routing ids), [`Push`]/[`Pull`] (round-robin / fair-queue)
//! and [`Pair`]. Every socket can bind and connect several endpoints.
//!
//! # Design: I/O in the caller's thread
//!
//! libzmq hands every message to an I/O thread and back, which doubles a request/reply
//! round trip. Here there is no background thread at all: each call (send, receive,
//! flush, drop) *pumps* the socket — one `poll(2)` over its listeners and connections,
//! then accepts, reconnects (back-off from `ringwire_core::pattern::backoff`),
//! reads into a fixed 64 KiB buffer decoded by the push-style
//! [`ringwire_core::zmtp::Decoder`], writes, heartbeats and timeouts. A blocked
//! receive sleeps in `poll` and decodes its reply itself: a round trip is the two
//! kernel hops and nothing more.
//!
//! Writes append whole frames to a per-connection buffer. A send writes at once when
//! that buffer was empty (lowest latency); when the kernel pushed back, further
//! messages only append and are written 64 KiB at a time, so a fast publisher makes
//! one `write` per thousands of small messages. With [`Options::batch`] on, even the
//! first message waits in the buffer until 64 KiB accumulate or [`Pub::flush`] (or any
//! receive) runs — the highest throughput for bursts.
//!
//! Consequence of having no thread: a socket only makes progress while its owner
//! calls it. A publisher that does not send for a while accepts new subscribers at
//! its next send (sends pump at most every millisecond); heartbeats and timeouts run
//! while a receive waits. Use [`Pub::process`] (and [`Pub::fds`] with a poller) to
//! service an idle socket.
//!
//! # Untrusted peers
//!
//! Garbage, a wrong greeting, an announced 2^63-byte frame, a greeting cut in half,
//! silence, too many connections: each closes that connection only, counted in
//! [`Stats`] and reported on the [`monitor`](Pub::monitor) stream, while other peers
//! are served. Nothing is allocated from a peer's claim: frames grow as bytes arrive,
//! after the decoder checked the announced size against [`Options::limits`].
//!
//! ```no_run
//! use std::time::Duration;
//! use ringwire::zmtp::{Pub, Sub};
//! let mut publisher = Pub::bind("tcp://127.0.0.1:5556")?;
//! let mut sub = Sub::connect("tcp://127.0.0.1:5556")?;
//! sub.subscribe(b"pose")?;
//! publisher.send_on("pose", &(1.0f32, 2.0f32))?;
//! let (x, y): (f32, f32) = sub.recv_timeout(Duration::from_secs(1))?;
//! # Ok::<(), ringwire::Error>(())
//! ```

mod conn;
mod engine;
mod options;
mod sockets;
mod transport;

pub use options::{HwmPolicy, Options, SocketEvent, Stats};
pub use sockets::{Builder, Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Sub, ZmtpSocket};
