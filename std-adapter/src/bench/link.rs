//! The two traits every measured transport implements, and the few control values of the
//! benchmark protocol.
//!
//! A [`Transport`] is one way of moving messages between the two benchmark processes (a bare
//! shared mapping, a TCP socket, an iceoryx2 service pair, a libzmq socket pair, ...). The
//! leader process [`prepare`](Transport::prepare)s its side (binds, creates a segment), spawns
//! the peer process with the returned address, and then [`accept`](Prepared::accept)s; the peer
//! [`connect`](Transport::connect)s. Both sides then hold a [`Link`]: a bidirectional message
//! channel whose messages are `size` bytes long and carry a `u64` sequence number in their first
//! eight bytes (little endian). Everything else — round trips, throughput, percentiles — is
//! written once, in [`crate::bench::measure`], against these traits, so adding a transport is one
//! small module.

use std::fmt;
use std::time::Duration;

/// First handshake message: the peer echoes it. Transports whose connections are established
/// lazily (PUB/SUB) send it repeatedly until one echo arrives; surplus echoes are skipped.
pub const PROBE: u64 = u64::MAX;
/// "Report how many data messages you received since the last `SYNC`": the peer answers with
/// the count as the sequence number. Ends a throughput run.
pub const SYNC: u64 = u64::MAX - 1;
/// "The run is over": the peer exits its loop without answering.
pub const BYE: u64 = u64::MAX - 2;
/// "Report the ages of the messages of the burst before the last `SYNC`": the peer answers
/// with [`AGE_FIELDS`] messages, the [`Latency`](crate::bench::Latency) fields in order
/// (`samples`, `min`, `mean`, `p50`, `p90`, `p99`, `p999`, `max`; `samples` 0: no message carried
/// a timestamp). Sent only over links whose [`Link::stamps`] is true.
pub const AGES: u64 = u64::MAX - 3;
/// Number of values in the answer to [`AGES`].
pub const AGE_FIELDS: usize = 8;

/// What is measured in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Round trips: the leader sends a message, the peer sends it back.
    Rtt,
    /// One way: the leader sends as fast as the transport accepts, the peer counts.
    Throughput,
}

impl Kind {
    /// The name used on the peer's command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rtt => "rtt",
            Kind::Throughput => "thr",
        }
    }

    /// Parses [`Kind::as_str`].
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "rtt" => Some(Kind::Rtt),
            "thr" => Some(Kind::Throughput),
            _ => None,
        }
    }
}

/// The parameters both processes must agree on for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Message size in bytes (at least 8: the sequence number).
    pub size: usize,
    /// Round trips or throughput.
    pub kind: Kind,
}

/// An error of the benchmark: a transport failed or the peer misbehaved.
#[derive(Debug)]
pub struct BenchError(pub String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        BenchError(format!("I/O: {e}"))
    }
}

/// Result of the benchmark's operations.
pub type Result<T> = std::result::Result<T, BenchError>;

/// Builds a [`BenchError`] from a context and a cause: `result.map_err(|e| fail("what", e))`.
pub fn fail(context: &str, e: impl fmt::Display) -> BenchError {
    BenchError(format!("{context}: {e}"))
}

/// One side of an established, bidirectional message channel.
pub trait Link {
    /// Sends one message of the run's size whose first eight bytes are `seq` (little endian).
    /// The sender copies the message from its own buffer into the transport (a socket, a loaned
    /// sample): that is the one copy every transport pays.
    fn send(&mut self, seq: u64) -> Result<()>;

    /// Waits (spinning or blocking, as the transport's mode says) for the next message and
    /// returns its sequence number.
    fn recv(&mut self) -> Result<u64>;

    /// Whether [`send_stamped`](Link::send_stamped) and [`recv_stamped`](Link::recv_stamped)
    /// carry a send timestamp (bytes 8..16 of messages of at least 16 bytes). The default
    /// links do not: their messages carry only the sequence number and report no ages.
    fn stamps(&self) -> bool {
        false
    }

    /// [`send`](Link::send), with `sent_ns` (a [`clock::now_ns`](crate::bench::clock::now_ns)
    /// reading, or 0: no timestamp) in bytes 8..16 (little endian) if the message has room and
    /// the link [`stamps`](Link::stamps). The default ignores `sent_ns`.
    fn send_stamped(&mut self, seq: u64, sent_ns: u64) -> Result<()> {
        let _ = sent_ns;
        self.send(seq)
    }

    /// [`recv`](Link::recv), with the timestamp the message carries (0: none). The default
    /// returns 0.
    fn recv_stamped(&mut self) -> Result<(u64, u64)> {
        Ok((self.recv()?, 0))
    }

    /// Pushes out anything [`send`](Link::send) batched. Called after the last message of a
    /// burst; a no-op for transports that do not batch.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// Leader side: makes sure the peer is connected and receiving, by sending [`PROBE`] until
    /// one comes back. The default sends one probe and waits; transports that may drop messages
    /// sent before the connection is complete override it.
    fn handshake(&mut self) -> Result<()> {
        self.send(PROBE)?;
        self.flush()?;
        while self.recv()? != PROBE {}
        Ok(())
    }
}

/// The leader's side of a transport between [`Transport::prepare`] and the peer connecting.
pub trait Prepared {
    /// What the peer needs to connect (an address, a path, a segment name).
    fn address(&self) -> String;

    /// Waits for the peer to connect and returns the leader's link.
    fn accept(self: Box<Self>) -> Result<Box<dyn Link>>;
}

/// A [`Prepared`] side that needs no waiting: its link already exists and the handshake
/// establishes that the peer is there (segments, services, lazily connecting sockets).
pub struct Ready<L> {
    /// The leader's link.
    pub link: L,
    /// What the peer connects to.
    pub address: String,
}

impl<L: Link + 'static> Prepared for Ready<L> {
    fn address(&self) -> String {
        self.address.clone()
    }

    fn accept(self: Box<Self>) -> Result<Box<dyn Link>> {
        Ok(Box::new(self.link))
    }
}

/// One measured transport (and mode): a small module implements it.
pub trait Transport: Sync {
    /// Stable identifier, used to tell the peer process which transport to connect with.
    fn id(&self) -> &'static str;

    /// The case group it belongs to (`bare`, `raw-socket`, `iceoryx2`, `libzmq`, ...), which
    /// `--case` selects.
    fn group(&self) -> &'static str;

    /// Human-readable description for the table, e.g. `REQ/REP tcp`.
    fn label(&self) -> &'static str;

    /// Message sizes to measure round trips with (empty: no round trips).
    fn rtt_sizes(&self) -> &'static [usize];

    /// Measures one-way throughput of 8-byte messages too.
    fn throughput(&self) -> bool;

    /// Leader side: creates what the peer will connect to.
    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>>;

    /// Peer side: connects to the leader's `address`.
    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>>;
}

/// Writes `seq` into the first eight bytes of a message buffer.
pub fn stamp(buf: &mut [u8], seq: u64) {
    buf[..8].copy_from_slice(&seq.to_le_bytes());
}

/// Writes a send timestamp into bytes 8..16 of a message buffer, if it has them.
pub fn stamp_time(buf: &mut [u8], sent_ns: u64) {
    if let Some(b) = buf.get_mut(8..16) {
        b.copy_from_slice(&sent_ns.to_le_bytes());
    }
}

/// Reads the send timestamp from bytes 8..16 of a received message (0 if it is shorter).
pub fn read_time(buf: &[u8]) -> u64 {
    buf.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Reads the sequence number from a received message.
pub fn read_seq(buf: &[u8]) -> Result<u64> {
    let head: [u8; 8] = buf
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| BenchError(format!("message of {} bytes is too short", buf.len())))?;
    Ok(u64::from_le_bytes(head))
}

/// A message buffer of `size` bytes with a recognisable fill pattern.
pub fn message_buffer(size: usize) -> Vec<u8> {
    (0..size.max(8)).map(|i| (i % 251) as u8).collect()
}

/// How long a handshake that has to retry (lazily connecting transports) keeps trying.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A name unique to this process and call, for segments, services and socket paths.
pub fn unique_name(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("rwbench-{}-{n}-{what}", std::process::id())
}
