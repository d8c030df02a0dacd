//! The frame: header layout, frame kinds, and the encoder that writes frames into caller buffers.
//!
//! Before COBS, a frame is `kind (1) | topic (2, LE) | seq (2, LE) | payload | crc32c (4, LE)`
//! with the CRC over header and payload; see `docs/serial-framing.md` for the byte-by-byte
//! description and golden vectors.

use core::fmt;

use serde::{Deserialize, Serialize};

use super::cobs;
use super::crc::Crc32c;
use crate::msg;

/// Bytes of header before the payload: kind, topic, sequence number.
pub const HEADER_LEN: usize = 5;
/// Bytes of CRC after the payload.
pub const CRC_LEN: usize = 4;
/// Bytes a frame adds around its payload before COBS.
pub const OVERHEAD: usize = HEADER_LEN + CRC_LEN;
/// The frame delimiter on the wire.
pub const DELIMITER: u8 = 0x00;

/// The wire size of a frame whose raw (pre-COBS) length is at most `raw_len`, counting COBS
/// overhead, the trailing delimiter and an optional leading one.
pub const fn max_wire_len(raw_len: usize) -> usize {
    cobs::max_encoded_len(raw_len) + 2
}

/// What a frame is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
#[non_exhaustive]
pub enum FrameKind {
    /// A message published on a topic (sensor data, state).
    Publish = 0x01,
    /// A command for the other side, which answers with [`FrameKind::Ack`].
    Command = 0x02,
    /// The answer to a command; its payload says which command and how it went.
    Ack = 0x03,
}

impl FrameKind {
    /// The kind for a wire value, if it is one this version knows.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0x01 => Some(Self::Publish),
            0x02 => Some(Self::Command),
            0x03 => Some(Self::Ack),
            _ => None,
        }
    }
}

/// A frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// What the frame is for.
    pub kind: FrameKind,
    /// The topic (or command) id, chosen by the application.
    pub topic: u16,
    /// The sender's sequence number: one counter per direction of a link, +1 per frame,
    /// wrapping at 2^16.
    pub seq: u16,
}

impl Header {
    /// The header's 5 wire bytes.
    pub const fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let t = self.topic.to_le_bytes();
        let s = self.seq.to_le_bytes();
        [self.kind as u8, t[0], t[1], s[0], s[1]]
    }
}

/// A decoded frame, borrowing its payload from the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<'a> {
    /// The frame's header.
    pub header: Header,
    /// The payload (postcard bytes for typed messages).
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Decodes the payload as a postcard-encoded `T`.
    pub fn decode<T: Deserialize<'a>>(&self) -> Result<T, msg::DecodeError> {
        msg::decode(self.payload)
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is longer than the encoder's frame limit allows.
    PayloadTooLarge,
    /// The output buffer cannot hold the encoded frame.
    BufferTooSmall,
    /// The message could not be postcard-encoded (other than for size).
    Message(msg::EncodeError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PayloadTooLarge => f.write_str("payload exceeds the frame size limit"),
            Self::BufferTooSmall => f.write_str("output buffer too small for the frame"),
            Self::Message(e) => write!(f, "cannot encode message: {e}"),
        }
    }
}

impl core::error::Error for EncodeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Message(e) => Some(e),
            _ => None,
        }
    }
}

/// Writes frames into caller buffers and numbers them.
///
/// `N` is the largest raw frame (header + payload + CRC, before COBS) it writes: the payload
/// limit is `N - OVERHEAD`. The receiving [`Decoder`](super::Decoder) must use an `N` at least
/// as large. The encoder keeps a scratch buffer of `N` bytes to lay the frame out before COBS.
///
/// ```
/// use ringwire_core::serial::{Encoder, FrameKind, max_wire_len};
/// let mut enc = Encoder::<64>::new();
/// let mut wire = [0u8; max_wire_len(64)];
/// let n = enc.encode_msg(FrameKind::Publish, 7, &(1u8, 2.5f32), &mut wire).unwrap();
/// assert_eq!(wire[n - 1], 0x00); // every frame ends with the delimiter
/// assert!(!wire[..n - 1].contains(&0));
/// ```
#[derive(Debug)]
pub struct Encoder<const N: usize> {
    scratch: [u8; N],
    next_seq: u16,
    leading_delimiter: bool,
}

impl<const N: usize> Default for Encoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Encoder<N> {
    /// The largest payload this encoder accepts.
    pub const MAX_PAYLOAD: usize = N.saturating_sub(OVERHEAD);

    /// An encoder whose first frame has sequence number 0.
    pub const fn new() -> Self {
        Self {
            scratch: [0; N],
            next_seq: 0,
            leading_delimiter: false,
        }
    }

    /// Also writes a delimiter *before* every frame. On a noisy link this ends any garbage
    /// the line picked up since the last frame, so the noise costs no good frame; it costs one
    /// byte per frame. The decoder ignores the empty frames this makes.
    pub fn set_leading_delimiter(&mut self, on: bool) {
        self.leading_delimiter = on;
    }

    /// The sequence number the next frame will carry.
    pub const fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Encodes a frame of `kind` on `topic` with raw `payload` into `out`; returns the number
    /// of bytes written (ending with the delimiter) and advances the sequence number.
    pub fn encode(
        &mut self,
        kind: FrameKind,
        topic: u16,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let body = self
            .scratch
            .get_mut(HEADER_LEN..N.saturating_sub(CRC_LEN))
            .and_then(|b| b.get_mut(..payload.len()))
            .ok_or(EncodeError::PayloadTooLarge)?;
        body.copy_from_slice(payload);
        self.finish(kind, topic, payload.len(), out)
    }

    /// Encodes `value` with postcard as the payload of a frame of `kind` on `topic`; returns
    /// the number of bytes written into `out` and advances the sequence number.
    pub fn encode_msg<T: Serialize + ?Sized>(
        &mut self,
        kind: FrameKind,
        topic: u16,
        value: &T,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let body = self
            .scratch
            .get_mut(HEADER_LEN..N.saturating_sub(CRC_LEN))
            .ok_or(EncodeError::PayloadTooLarge)?;
        let len = msg::encode_into(value, body).map_err(|e| match e {
            msg::EncodeError::TooLarge => EncodeError::PayloadTooLarge,
            other => EncodeError::Message(other),
        })?;
        self.finish(kind, topic, len, out)
    }

    /// Writes header and CRC around the `payload_len` bytes already in the scratch buffer,
    /// COBS-encodes the whole into `out` and adds the delimiter(s).
    fn finish(
        &mut self,
        kind: FrameKind,
        topic: u16,
        payload_len: usize,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let header = Header {
            kind,
            topic,
            seq: self.next_seq,
        };
        let crc_at = HEADER_LEN + payload_len;
        let raw_len = crc_at + CRC_LEN;
        // The callers bounded the payload by N - OVERHEAD, so these slices are in range; a
        // failure here would still be an error, not a panic.
        let raw = self
            .scratch
            .get_mut(..raw_len)
            .ok_or(EncodeError::PayloadTooLarge)?;
        raw[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        let mut crc = Crc32c::new();
        crc.update(&raw[..crc_at]);
        raw[crc_at..].copy_from_slice(&crc.finish().to_le_bytes());

        let mut at = 0;
        if self.leading_delimiter {
            *out.first_mut().ok_or(EncodeError::BufferTooSmall)? = DELIMITER;
            at = 1;
        }
        let dst = out.get_mut(at..).ok_or(EncodeError::BufferTooSmall)?;
        let n = cobs::encode(raw, dst).map_err(|_| EncodeError::BufferTooSmall)?;
        at += n;
        *out.get_mut(at).ok_or(EncodeError::BufferTooSmall)? = DELIMITER;
        self.next_seq = self.next_seq.wrapping_add(1);
        Ok(at + 1)
    }
}
