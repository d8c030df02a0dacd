//! [`run_bridge`]: the loop behind `ringwire bridge --serial PATH --to EP`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use crate::socket::Subscriber;

use ringwire_core::serial::{Frame, FrameKind};

use super::bridge::{Bridge, BridgeStats, FrameSink};
use super::link::open_link;
use crate::error::{Error, Result};

/// A frame for the firmware, queued by whoever feeds the bridge (a subscriber on `EP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Usually [`FrameKind::Command`].
    pub kind: FrameKind,
    /// The topic (command) id.
    pub topic: u16,
    /// The payload, already postcard-encoded.
    pub payload: Vec<u8>,
}

/// Where [`run_bridge`] takes the frames it sends to the firmware from. Never blocks.
pub trait CommandSource {
    /// The next frame waiting to be sent, if any.
    fn next_outgoing(&mut self) -> Result<Option<Outgoing>>;
}

impl CommandSource for Receiver<Outgoing> {
    fn next_outgoing(&mut self) -> Result<Option<Outgoing>> {
        match self.try_recv() {
            Ok(out) => Ok(Some(out)),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => Ok(None),
        }
    }
}

/// Commands from a SUB socket: a message `[{prefix}{id}, payload]` (id in decimal, as
/// [`PubSink`](super::PubSink) names topics) becomes a `Command` frame on topic `id` with that
/// payload. Other messages are logged and skipped.
pub struct SubscriberCommands {
    sub: Subscriber,
    prefix: String,
    /// Messages skipped because their topic or shape was not a command's.
    pub skipped: u64,
}

impl SubscriberCommands {
    /// Connects a subscriber to `endpoint` and subscribes to `prefix` (e.g. `serial/cmd/`).
    pub fn connect(endpoint: &str, prefix: &str) -> Result<Self> {
        let mut sub = Subscriber::connect(endpoint)?;
        sub.subscribe(prefix.as_bytes())?;
        Ok(Self {
            sub,
            prefix: prefix.to_owned(),
            skipped: 0,
        })
    }

    fn parse(&self, frames: &[Vec<u8>]) -> Option<Outgoing> {
        let [topic, payload] = frames else {
            return None;
        };
        let id = std::str::from_utf8(topic.strip_prefix(self.prefix.as_bytes())?).ok()?;
        Some(Outgoing {
            kind: FrameKind::Command,
            topic: id.parse().ok()?,
            payload: payload.clone(),
        })
    }
}

impl CommandSource for SubscriberCommands {
    fn next_outgoing(&mut self) -> Result<Option<Outgoing>> {
        loop {
            let msg = match self.sub.try_recv_multipart() {
                Ok(msg) => msg,
                Err(Error::WouldBlock | Error::Timeout) => return Ok(None),
                Err(e) => return Err(e),
            };
            match self.parse(msg.frames()) {
                Some(out) => return Ok(Some(out)),
                None => {
                    self.skipped += 1;
                    log::warn!("serial bridge: skipped a message that is no command");
                }
            }
        }
    }
}

/// Opens the link `serial` (see [`open_link`]), then until `stop` is set: sends every frame
/// waiting in `outgoing`, reads the link and hands each frame to `sink`. Returns the link
/// statistics when stopped.
///
/// A sink error is logged and counted, and the bridge goes on; a link error (the firmware's
/// end closed, an I/O failure) ends the loop with that error.
pub fn run_bridge(
    serial: &str,
    baud: Option<u32>,
    sink: &mut impl FrameSink,
    outgoing: &mut impl CommandSource,
    stop: &AtomicBool,
) -> Result<BridgeStats> {
    let mut bridge = Bridge::new(open_link(serial, baud)?);
    log::info!("serial bridge: {serial} open");
    while !stop.load(Ordering::Relaxed) {
        // A bounded batch per turn, so a flood of commands cannot starve the reading side.
        for _ in 0..64 {
            match outgoing.next_outgoing() {
                Ok(Some(out)) => {
                    bridge.send(out.kind, out.topic, &out.payload)?;
                }
                Ok(None) => break,
                Err(e) => {
                    log::warn!("serial bridge: command source failed: {e}");
                    break;
                }
            }
        }
        match bridge.poll(sink) {
            Ok(_) => {}
            Err(Error::Disconnected) => {
                log::info!("serial bridge: {serial} closed by the other end");
                return Err(Error::Disconnected);
            }
            Err(Error::Io(e)) => return Err(Error::Io(e)),
            Err(e) => log::warn!("serial bridge: sink failed: {e}"),
        }
        if let Err(e) = sink.idle() {
            log::warn!("serial bridge: sink failed: {e}");
        }
    }
    Ok(bridge.stats())
}

/// A sink that writes one line per frame to `out`: kind, topic, sequence number and payload
/// in hex (`publish topic=1 seq=42 len=3 payload=0a0b0c`). For `--to -` and for debugging.
pub struct PrintSink<W>(pub W);

impl<W: Write> FrameSink for PrintSink<W> {
    fn on_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let kind = match frame.header.kind {
            FrameKind::Publish => "publish",
            FrameKind::Command => "command",
            FrameKind::Ack => "ack",
            _ => "other",
        };
        let mut hex = String::with_capacity(frame.payload.len() * 2);
        for b in frame.payload {
            hex.push_str(&format!("{b:02x}"));
        }
        writeln!(
            self.0,
            "{kind} topic={} seq={} len={} payload={hex}",
            frame.header.topic,
            frame.header.seq,
            frame.payload.len()
        )?;
        Ok(())
    }
}
