//! [`run_bridge`]: the loop behind `ringwire bridge --serial PATH --to EP`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

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
    outgoing: &Receiver<Outgoing>,
    stop: &AtomicBool,
) -> Result<BridgeStats> {
    let mut bridge = Bridge::new(open_link(serial, baud)?);
    log::info!("serial bridge: {serial} open");
    let mut outgoing_open = true;
    while !stop.load(Ordering::Relaxed) {
        while outgoing_open {
            match outgoing.try_recv() {
                Ok(out) => {
                    bridge.send(out.kind, out.topic, &out.payload)?;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => outgoing_open = false,
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
