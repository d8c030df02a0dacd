//! ZeroMQ-compatible sockets over `tcp://host:port` and `ipc:///path.sock`, speaking
//! ZMTP 3.1 (and accepting 3.0 peers) so libzmq, pyzmq and zeromq.js interoperate; and
//! over `inproc://name` between the threads of one process, where the same sockets hand
//! whole messages over through in-memory pipes (no encoding, no kernel).
//!
//! Socket types: [`Pub`]/[`Sub`] (prefix subscriptions filtered at the publisher,
//! re-sent after every reconnect), [`Req`]/[`Rep`] (lock-step with envelopes),
//! [`Dealer`]/[`Router`] (routing ids), [`Push`]/[`Pull`] (round-robin / fair-queue)
//! and [`Pair`]. Every socket can bind and connect several endpoints.
//!
//! # Design: I/O in the caller's thread, a driver for the gaps
//!
//! libzmq hands every message to an I/O thread and back, which doubles a request/reply
//! round trip. Here the caller's own calls do the I/O: each send or receive *pumps*
//! the socket — one `poll(2)` over its listeners and connections, then accepts,
//! reconnects (back-off from `ringwire_core::pattern::backoff`), reads into a fixed
//! 64 KiB buffer decoded by the push-style [`ringwire_core::zmtp::Decoder`], writes,
//! heartbeats and timeouts. A blocked receive sleeps in `poll` and decodes its reply
//! itself: a round trip is the two kernel socket hops and nothing more.
//!
//! A small per-socket *driver* thread covers the time the owner is away (a publisher
//! between sends, a socket nobody calls): it sleeps in `epoll_wait` on edge-triggered
//! events (on Linux; a level-triggered `poll` elsewhere, see `docs/platforms.md`) and a
//! 25 ms tick and, when the owner is not inside a call (`try_lock` on the
//! engine's mutex), accepts, finishes handshakes, reads subscriptions, answers
//! heartbeats, reconnects and writes what is left in the buffers. Established
//! connections of non-publishers are registered for writability only, so the driver
//! never wakes on a request/reply round trip.
//!
//! Writes append whole frames to a per-connection buffer with no per-message
//! allocation. An isolated send writes at once (lowest latency). Sends that come back
//! to back (within 5 µs of the previous one) are *corked*: they only append, and the
//! driver writes the whole burst about 30 µs later in one `write` (or the buffer is
//! written as soon as 64 KiB accumulate), so a fast publisher makes one system call per
//! hundreds of small messages. [`Options::batch`] corks every send. Nothing needs a
//! flush to be delivered (the driver writes what a quiet socket left, retrying an
//! edge-triggered event it saw while the owner held the engine); [`Pub::flush`] waits
//! until the kernel has taken every queued byte, bounded by the send timeout. Messages queued
//! on a connection whose handshake is still running wait behind our greeting until
//! the peer's READY arrives (libzmq rejects frames that arrive earlier).
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

mod builder;
mod conn;
mod driver;
mod engine;
pub mod events;
mod inbox;
mod options;
mod outgoing;
mod pipe;
pub(crate) mod poller;
mod sockets;
mod transport;

pub use builder::Builder;
pub use events::EventPublisher;
pub use options::{HwmPolicy, Options, SocketEvent, Stats};
pub use sockets::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Sub, XPub, XSub, ZmtpSocket};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod wait_tests;
