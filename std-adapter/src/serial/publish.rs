//! [`PubSink`]: republishes the firmware's frames on a PUB socket at any endpoint, and
//! [`bridge_to_endpoint`], the whole `ringwire bridge --serial PATH --to EP` command.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use ringwire_core::serial::{Frame, FrameKind};

use super::bridge::{BridgeStats, FrameSink};
use super::run::{Outgoing, run_bridge};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::{shm, zmtp};

enum Socket {
    Shm(shm::Publisher),
    Zmtp(Box<zmtp::Pub>),
}

/// Publishes every frame as the two-part message `[topic name, payload]` on a PUB socket
/// bound at `shm://name`, `tcp://host:port` or `ipc:///path`.
///
/// Topic names are `{prefix}{id}` for `Publish` frames (`serial/1`), `{prefix}ack/{id}` for
/// acks and `{prefix}cmd/{id}` for commands, with the topic id in decimal, so subscribers can
/// pick one topic, all acks, or everything under the prefix. The payload is the frame's
/// postcard bytes, untouched.
pub struct PubSink {
    socket: Socket,
    prefix: String,
    topic: String,
}

impl PubSink {
    /// Binds a publisher at `endpoint`; topic names start with `prefix`.
    pub fn bind(endpoint: &str, prefix: &str) -> Result<Self> {
        let socket = match endpoint.parse::<Endpoint>()? {
            Endpoint::Shm(_) => Socket::Shm(shm::Publisher::bind(endpoint)?),
            Endpoint::Tcp { .. } | Endpoint::Ipc(_) => {
                Socket::Zmtp(Box::new(zmtp::Pub::bind(endpoint)?))
            }
            _ => {
                return Err(Error::Unsupported(
                    "bridge target must be shm://, tcp:// or ipc://",
                ));
            }
        };
        Ok(Self {
            socket,
            prefix: prefix.to_owned(),
            topic: String::new(),
        })
    }

    /// Where subscribers connect (with the port the OS chose for `tcp://host:0`).
    pub fn endpoint(&self) -> String {
        match &self.socket {
            Socket::Shm(p) => p.endpoint(),
            Socket::Zmtp(p) => p
                .bound_endpoints()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }

    /// Waits until `n` subscribers are connected (socket transports; shm subscribers attach
    /// without a handshake, so this returns at once there).
    pub fn wait_for_subscribers(&mut self, n: usize, timeout: Duration) -> Result<()> {
        match &mut self.socket {
            Socket::Shm(_) => Ok(()),
            Socket::Zmtp(p) => p.wait_for_peers(n, timeout),
        }
    }

    /// The topic name a frame is published under.
    pub fn topic_name(&self, kind: FrameKind, id: u16) -> String {
        let mut name = String::new();
        self.write_topic(&mut name, kind, id);
        name
    }

    fn write_topic(&self, out: &mut String, kind: FrameKind, id: u16) {
        use std::fmt::Write as _;
        out.clear();
        out.push_str(&self.prefix);
        let _ = match kind {
            FrameKind::Publish => write!(out, "{id}"),
            FrameKind::Ack => write!(out, "ack/{id}"),
            FrameKind::Command => write!(out, "cmd/{id}"),
            _ => write!(out, "other/{id}"),
        };
    }
}

impl FrameSink for PubSink {
    fn on_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let mut topic = std::mem::take(&mut self.topic);
        self.write_topic(&mut topic, frame.header.kind, frame.header.topic);
        let parts: [&[u8]; 2] = [topic.as_bytes(), frame.payload];
        let sent = match &mut self.socket {
            Socket::Shm(p) => p.send_multipart(&parts),
            Socket::Zmtp(p) => p.send_multipart(&parts),
        };
        self.topic = topic;
        sent
    }

    fn idle(&mut self) -> Result<()> {
        match &mut self.socket {
            Socket::Shm(_) => Ok(()),
            Socket::Zmtp(p) => p.process(),
        }
    }
}

/// `ringwire bridge --serial PATH --to EP`: opens the serial link `serial` (a tty/pty path or
/// `tcp://host:port`, see [`open_link`](super::open_link)), republishes every frame on a PUB
/// socket at `to` under topics `serial/{id}` ([`PubSink`]), until `stop` is set; returns the
/// link statistics.
pub fn bridge_to_endpoint(
    serial: &str,
    baud: Option<u32>,
    to: &str,
    stop: &AtomicBool,
) -> Result<BridgeStats> {
    let mut sink = PubSink::bind(to, "serial/")?;
    log::info!("serial bridge: publishing on {}", sink.endpoint());
    // No command source on the command line: the channel stays empty.
    let (_tx, rx) = mpsc::channel::<Outgoing>();
    run_bridge(serial, baud, &mut sink, &rx, stop)
}
