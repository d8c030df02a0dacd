//! [`Bridge`]: frames in and out over any `Read + Write` byte stream, with link statistics.

use std::io::{self, Read, Write};

use ringwire_core::serial::{Decoder, DecoderStats, Encoder, Frame, FrameKind, max_wire_len};
use serde::Serialize;

use crate::error::{Error, Result};

/// The largest raw frame (header + payload + CRC) the bridge sends or accepts. The firmware
/// on the other end must use a limit no larger for what it sends.
pub const MAX_FRAME: usize = 256;

/// Where decoded frames go: a closure, or a type that republishes them on a socket.
pub trait FrameSink {
    /// Takes one frame. An error is counted in [`BridgeStats::sink_errors`] and returned by
    /// [`Bridge::poll`] after the rest of the bytes read were decoded.
    fn on_frame(&mut self, frame: &Frame<'_>) -> Result<()>;

    /// Called by [`run_bridge`](super::run_bridge) after every read, frames or not, so a sink
    /// whose socket only progresses when called (accepting subscribers) can do so.
    fn idle(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<F: FnMut(&Frame<'_>) -> Result<()>> FrameSink for F {
    fn on_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        self(frame)
    }
}

/// Link statistics of a [`Bridge`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Bytes read from the link.
    pub bytes_in: u64,
    /// Bytes written to the link.
    pub bytes_out: u64,
    /// Frames written to the link.
    pub frames_out: u64,
    /// Frames whose sink returned an error.
    pub sink_errors: u64,
    /// The receive decoder's counters: frames, CRC failures, COBS and length errors,
    /// resyncs, discarded bytes, and the sequence gaps of the firmware's frames.
    pub rx: DecoderStats,
}

impl BridgeStats {
    /// Frames received intact.
    pub fn frames_in(&self) -> u32 {
        self.rx.frames
    }

    /// Frames dropped for a bad CRC.
    pub fn crc_errors(&self) -> u32 {
        self.rx.crc_errors
    }

    /// Times the decoder dropped a damaged frame and re-synchronised.
    pub fn resyncs(&self) -> u32 {
        self.rx.resyncs
    }

    /// Frames the firmware sent that never arrived, from the sequence numbers.
    pub fn lost(&self) -> u32 {
        self.rx.seq.lost
    }
}

/// Reads and writes COBS + CRC-32C frames (`ringwire_core::serial`) over a byte stream: a
/// serial port or pty opened with [`open_link`](super::open_link), a TCP stream (QEMU's
/// `-serial tcp:`), or any in-memory stream in tests.
///
/// Frames it sends carry a leading delimiter, so line noise since the last frame never costs
/// the firmware a good frame.
pub struct Bridge<S> {
    stream: S,
    decoder: Box<Decoder<MAX_FRAME>>,
    encoder: Box<Encoder<MAX_FRAME>>,
    read_buf: Vec<u8>,
    wire: Vec<u8>,
    bytes_in: u64,
    bytes_out: u64,
    frames_out: u64,
    sink_errors: u64,
}

impl<S: Read + Write> Bridge<S> {
    /// A bridge over `stream`. A blocking stream should have a read timeout, so that
    /// [`poll`](Self::poll) returns now and then.
    pub fn new(stream: S) -> Self {
        let mut encoder = Box::new(Encoder::new());
        encoder.set_leading_delimiter(true);
        Self {
            stream,
            decoder: Box::new(Decoder::new()),
            encoder,
            read_buf: vec![0; 4096],
            wire: vec![0; max_wire_len(MAX_FRAME)],
            bytes_in: 0,
            bytes_out: 0,
            frames_out: 0,
            sink_errors: 0,
        }
    }

    /// Sends a frame with a raw payload; returns its sequence number.
    pub fn send(&mut self, kind: FrameKind, topic: u16, payload: &[u8]) -> Result<u16> {
        let seq = self.encoder.next_seq();
        let n = self
            .encoder
            .encode(kind, topic, payload, &mut self.wire)
            .map_err(|e| encode_error(e, payload.len()))?;
        self.write_wire(n)?;
        Ok(seq)
    }

    /// Sends a frame with `value` postcard-encoded as its payload; returns its sequence number.
    pub fn send_msg<T: Serialize + ?Sized>(
        &mut self,
        kind: FrameKind,
        topic: u16,
        value: &T,
    ) -> Result<u16> {
        let seq = self.encoder.next_seq();
        let n = self
            .encoder
            .encode_msg(kind, topic, value, &mut self.wire)
            .map_err(|e| match e {
                ringwire_core::serial::EncodeError::PayloadTooLarge => {
                    Error::Encode(ringwire_core::msg::EncodeError::TooLarge)
                }
                other => encode_error(other, 0),
            })?;
        self.write_wire(n)?;
        Ok(seq)
    }

    /// Sends a command frame; returns its sequence number, which the firmware's ack names.
    pub fn command<T: Serialize + ?Sized>(&mut self, topic: u16, value: &T) -> Result<u16> {
        self.send_msg(FrameKind::Command, topic, value)
    }

    /// Writes raw bytes to the link, outside any frame (for tests that inject line noise).
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()?;
        self.bytes_out += bytes.len() as u64;
        Ok(())
    }

    fn write_wire(&mut self, n: usize) -> Result<()> {
        self.stream.write_all(&self.wire[..n])?;
        self.stream.flush()?;
        self.bytes_out += n as u64;
        self.frames_out += 1;
        Ok(())
    }

    /// Reads once from the link (waiting as long as the stream's read timeout allows), decodes
    /// what came and hands each frame to `sink`; returns how many frames it delivered.
    ///
    /// A timeout or an interrupted read delivers nothing and is not an error. The end of the
    /// stream is [`Error::Disconnected`]. Damaged frames are counted in [`stats`](Self::stats)
    /// and skipped. If the sink fails, the rest of the bytes read are still decoded and the
    /// first sink error is returned.
    pub fn poll(&mut self, sink: &mut impl FrameSink) -> Result<usize> {
        let n = match self.stream.read(&mut self.read_buf) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(0);
            }
            Err(e) => return Err(e.into()),
        };
        self.bytes_in += n as u64;
        let mut delivered = 0;
        let mut first_error = None;
        let mut input = &self.read_buf[..n];
        while !input.is_empty() {
            let (used, event) = self.decoder.feed(input);
            input = &input[used..];
            if let Some(Ok(frame)) = event {
                delivered += 1;
                if let Err(e) = sink.on_frame(&frame) {
                    self.sink_errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(delivered),
        }
    }

    /// The link statistics so far.
    pub fn stats(&self) -> BridgeStats {
        BridgeStats {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            frames_out: self.frames_out,
            sink_errors: self.sink_errors,
            rx: *self.decoder.stats(),
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably (to change timeouts; reading or writing it directly bypasses the
    /// framing).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives the stream back.
    pub fn into_inner(self) -> S {
        self.stream
    }
}

fn encode_error(e: ringwire_core::serial::EncodeError, size: usize) -> Error {
    use ringwire_core::serial::EncodeError as E;
    match e {
        E::PayloadTooLarge => Error::TooLarge {
            size,
            limit: Encoder::<MAX_FRAME>::MAX_PAYLOAD,
        },
        E::Message(m) => Error::Encode(m),
        other => Error::Protocol(crate::ProtocolError::SerialFrame(other)),
    }
}
