//! [`PubSink`]: republishes the firmware's frames on a PUB socket at any endpoint, and
//! [`bridge_to_endpoint`], the whole `ringwire bridge --serial PATH --to EP` command.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::Duration;

use ringwire_core::serial::{Frame, FrameKind};

use super::bridge::{BridgeStats, FrameSink};
use super::run::{Outgoing, SubscriberCommands, run_bridge};
use crate::error::Result;
use crate::socket::Publisher;

/// Publishes every frame as the two-part message `[topic name, payload]` on a PUB socket
/// bound at `shm://name`, `tcp://host:port` or `ipc:///path`.
///
/// Topic names are `{prefix}{id}` for `Publish` frames (`serial/1`), `{prefix}ack/{id}` for
/// acks and `{prefix}cmd/{id}` for commands, with the topic id in decimal, so subscribers can
/// pick one topic, all acks, or everything under the prefix. The payload is the frame's
/// postcard bytes, untouched.
pub struct PubSink {
    socket: Publisher,
    prefix: String,
    topic: String,
}

impl PubSink {
    /// Binds a publisher at `endpoint` (the transport follows the scheme); topic names
    /// start with `prefix`.
    pub fn bind(endpoint: &str, prefix: &str) -> Result<Self> {
        Ok(Self {
            socket: Publisher::bind(endpoint)?,
            prefix: prefix.to_owned(),
            topic: String::new(),
        })
    }

    /// Where subscribers connect (with the port the OS chose for `tcp://host:0`).
    pub fn endpoint(&mut self) -> String {
        if let Some(p) = self.socket.as_zmtp() {
            return p
                .bound_endpoints()
                .first()
                .map(ToString::to_string)
                .unwrap_or_default();
        }
        self.socket
            .as_shm()
            .map(|p| p.endpoint())
            .unwrap_or_default()
    }

    /// Waits until `n` subscribers are connected (socket transports; shm subscribers attach
    /// without a handshake, so this returns at once there).
    pub fn wait_for_subscribers(&mut self, n: usize, timeout: Duration) -> Result<()> {
        match self.socket.as_zmtp() {
            Some(p) => p.wait_for_peers(n, timeout),
            None => Ok(()),
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
        let sent = self.socket.send_multipart(&parts);
        self.topic = topic;
        sent
    }

    fn idle(&mut self) -> Result<()> {
        match self.socket.as_zmtp() {
            Some(p) => p.process(),
            None => Ok(()),
        }
    }
}

/// `ringwire bridge --serial PATH --to EP [--commands EP2]`: opens the serial link `serial` (a
/// tty/pty path or `tcp://host:port`, see [`open_link`](super::open_link)) and republishes every
/// frame on a PUB socket bound at `to` under topics `serial/{id}`, `serial/ack/{id}`
/// ([`PubSink`]); with `commands`, subscribes there to `serial/cmd/` and sends each
/// `[serial/cmd/{id}, payload]` message to the firmware as a command frame
/// ([`SubscriberCommands`]). Runs until `stop` is set; returns the link statistics.
pub fn bridge_to_endpoint(
    serial: &str,
    baud: Option<u32>,
    to: &str,
    commands: Option<&str>,
    stop: &AtomicBool,
) -> Result<BridgeStats> {
    let mut sink = PubSink::bind(to, "serial/")?;
    log::info!("serial bridge: publishing on {}", sink.endpoint());
    match commands {
        Some(ep) => {
            let mut source = SubscriberCommands::connect(ep, "serial/cmd/")?;
            run_bridge(serial, baud, &mut sink, &mut source, stop)
        }
        None => {
            let (_tx, mut rx) = mpsc::channel::<Outgoing>();
            run_bridge(serial, baud, &mut sink, &mut rx, stop)
        }
    }
}
