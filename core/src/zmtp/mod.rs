//! ZMTP 3.1 framing: the wire protocol ZeroMQ peers speak over TCP and Unix sockets.
//!
//! This module is a *codec* and a *connection machine*, not a socket: it never
//! touches the OS. The [`Decoder`] is push-style — feed it any chunk of bytes (one
//! byte, half a frame, a hundred frames) and it returns one decoded [`Item`] plus how
//! many bytes it consumed; the encoder functions ([`encode_greeting`],
//! [`encode_frame_header`], [`encode_ready`], …) write into caller buffers. A
//! [`Connection`] wraps the decoder with the rules of one end of a connection
//! (handshake, socket-type check, PING/PONG, heartbeats; see [`connection`]), so
//! every adapter speaks the protocol the same way. The std adapter moves the bytes.
//!
//! What is implemented, from rfc.zeromq.org specs 23 (ZMTP 3.0), 37 (ZMTP 3.1) and
//! 24 (the NULL security mechanism):
//! - the 64-byte greeting (signature, version, mechanism, as-server); peers of
//!   version 3.0 and 3.1 are accepted and the version is reported so the adapter
//!   can choose the subscription form the peer understands;
//! - short (1-byte size) and long (8-byte size) frames with the MORE and COMMAND flags;
//! - the commands READY (with its property list), ERROR, SUBSCRIBE, CANCEL, PING
//!   and PONG; unknown commands are reported, not rejected.
//!
//! Untrusted input never panics and never makes the decoder wait for, or reserve
//! room for, what a peer merely *claims*: every size is checked against [`Limits`]
//! as soon as its header is read, so an announced 2^63-byte frame is an error at
//! its ninth byte. The wire format, with golden vectors, is in `docs/zmtp.md`.
//!
//! ```
//! use ringwire_core::zmtp::{self, Decoder, Item, Limits};
//! let mut wire = [0u8; 128];
//! let mut n = zmtp::encode_greeting(&mut wire, zmtp::Version::V3_1, false).unwrap();
//! n += zmtp::encode_ready(&mut wire[n..], &[(b"Socket-Type", b"PUB")]).unwrap();
//! n += zmtp::encode_frame_header(&mut wire[n..], false, 2).unwrap();
//! wire[n..n + 2].copy_from_slice(b"hi");
//! n += 2;
//!
//! let mut dec: Decoder<256> = Decoder::new(Limits::default());
//! let mut input = &wire[..n];
//! let mut frames = 0;
//! while !input.is_empty() {
//!     let (used, item) = dec.decode(input).unwrap();
//!     if let Some(Item::Frame(part)) = item {
//!         assert_eq!(part.data, b"hi");
//!         frames += 1;
//!     }
//!     input = &input[used..];
//! }
//! assert_eq!(frames, 1);
//! ```

mod command;
pub mod connection;
mod decode;
mod encode;

pub use command::{Command, Properties, PropertyIter};
pub use connection::{Config, Connection, ConnectionError, Event, Mechanism, Tick};
pub use decode::{Decoder, FramePart, Item};
pub use encode::{
    encode_cancel, encode_command, encode_error, encode_frame, encode_frame_header,
    encode_greeting, encode_ping, encode_pong, encode_ready, encode_subscribe, frame_header_len,
};

use core::fmt;

/// Length of the greeting each peer sends first.
pub const GREETING_LEN: usize = 64;
/// The NULL security mechanism's name (spec 24), as sent in the greeting.
pub const MECHANISM_NULL: &[u8] = b"NULL";
/// Frame flag: more frames of this message follow.
pub const FLAG_MORE: u8 = 0x01;
/// Frame flag: the size field is 8 bytes instead of 1.
pub const FLAG_LONG: u8 = 0x02;
/// Frame flag: the frame is a command, not message data.
pub const FLAG_COMMAND: u8 = 0x04;
/// Largest PING context a peer may send (spec 37).
pub const MAX_PING_CONTEXT: usize = 16;

/// A protocol version (major.minor) announced in a greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Version {
    /// Major version; 3 for every peer this codec accepts.
    pub major: u8,
    /// Minor version: 0 for ZMTP 3.0, 1 (or more) for 3.1.
    pub minor: u8,
}

impl Version {
    /// ZMTP 3.0 (libzmq 4.0/4.1): subscriptions travel as `\x01topic` messages.
    pub const V3_0: Version = Version { major: 3, minor: 0 };
    /// ZMTP 3.1 (libzmq 4.2+): SUBSCRIBE/CANCEL and PING/PONG commands.
    pub const V3_1: Version = Version { major: 3, minor: 1 };

    /// Whether the peer understands the 3.1 commands (SUBSCRIBE, CANCEL, PING, PONG).
    pub fn has_3_1_commands(self) -> bool {
        self >= Self::V3_1
    }
}

/// A decoded greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Greeting {
    /// The version the peer announced.
    pub version: Version,
    /// The security mechanism name, NUL-padded to 20 bytes on the wire.
    pub mechanism: [u8; 20],
    /// The peer's as-server flag (meaningful for PLAIN/CURVE; NULL ignores it).
    pub as_server: bool,
}

impl Greeting {
    /// The mechanism name without its NUL padding.
    pub fn mechanism_name(&self) -> &[u8] {
        let end = self.mechanism.iter().position(|&b| b == 0).unwrap_or(20);
        &self.mechanism[..end]
    }

    /// Whether the peer asks for the NULL mechanism (the only one implemented here).
    pub fn is_null_mechanism(&self) -> bool {
        self.mechanism_name() == MECHANISM_NULL
    }
}

/// Upper bounds on everything a peer can announce. Exceeding one is a
/// [`DecodeError`], detected from the header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Largest message frame body, in bytes.
    pub max_frame: u64,
    /// Largest sum of frame bodies in one multipart message.
    pub max_message: u64,
    /// Most frames in one multipart message.
    pub max_parts: u32,
    /// Largest command body; also capped by the decoder's buffer size.
    pub max_command: usize,
}

impl Limits {
    /// Admits one more frame of `size` bytes into a message that has `parts` frames of
    /// `bytes` bytes so far; returns the message's new size. The one rule for every
    /// transport: the decoder applies it to each frame header, an in-process hand-over to
    /// each frame of a whole message ([`check_message`](Self::check_message)).
    pub fn admit_frame(&self, parts: u32, bytes: u64, size: u64) -> Result<u64, DecodeError> {
        if parts >= self.max_parts {
            return Err(DecodeError::TooManyParts);
        }
        if size > self.max_frame {
            return Err(DecodeError::FrameTooLarge(size));
        }
        let total = bytes.saturating_add(size);
        if total > self.max_message {
            return Err(DecodeError::FrameTooLarge(total));
        }
        Ok(total)
    }

    /// Checks a whole message, given its frames' sizes, as [`admit_frame`](Self::admit_frame)
    /// checks it frame by frame.
    pub fn check_message(&self, frames: impl IntoIterator<Item = u64>) -> Result<(), DecodeError> {
        let mut bytes = 0;
        for (parts, size) in (0u32..).zip(frames) {
            bytes = self.admit_frame(parts, bytes, size)?;
        }
        Ok(())
    }
}

impl Default for Limits {
    /// 64 MiB frames and messages, 1024 parts, 4 KiB commands.
    fn default() -> Self {
        Limits {
            max_frame: 64 << 20,
            max_message: 64 << 20,
            max_parts: 1024,
            max_command: 4096,
        }
    }
}

/// Why the decoder rejected its input. After an error the connection must be closed:
/// the decoder stays in the failed state and repeats the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The first ten bytes are not a ZMTP 3 signature (`FF … 7F`).
    BadSignature,
    /// The peer speaks a major version below 3 (ZMTP 1.0/2.0).
    UnsupportedVersion(u8),
    /// The greeting's mechanism field is not NUL-padded ASCII.
    BadMechanism,
    /// A frame's flags byte has reserved bits set, or a command has MORE set.
    BadFlags(u8),
    /// A message frame is larger than [`Limits::max_frame`] (or the message than `max_message`).
    FrameTooLarge(u64),
    /// A multipart message has more frames than [`Limits::max_parts`].
    TooManyParts,
    /// A command is larger than [`Limits::max_command`] or the decoder's buffer.
    CommandTooLarge(u64),
    /// A command's body is malformed (name or property lengths overrun it).
    BadCommand,
    /// A message frame arrived before the handshake's READY (or ERROR) command.
    MessageBeforeReady,
    /// A command arrived while a multipart message was unfinished.
    CommandInsideMessage,
    /// The decoder failed earlier and cannot continue.
    Failed,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSignature => f.write_str("not a ZMTP 3 greeting signature"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported ZMTP major version {v}"),
            Self::BadMechanism => f.write_str("malformed mechanism name in greeting"),
            Self::BadFlags(b) => write!(f, "invalid frame flags {b:#04x}"),
            Self::FrameTooLarge(n) => write!(f, "frame or message of {n} bytes exceeds the limit"),
            Self::TooManyParts => f.write_str("message has too many frames"),
            Self::CommandTooLarge(n) => write!(f, "command of {n} bytes exceeds the limit"),
            Self::BadCommand => f.write_str("malformed command body"),
            Self::MessageBeforeReady => f.write_str("message frame before the READY command"),
            Self::CommandInsideMessage => f.write_str("command inside a multipart message"),
            Self::Failed => f.write_str("decoder already failed"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why an item could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small for the item.
    BufferTooSmall,
    /// A name, reason or context is longer than its length field allows.
    FieldTooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small",
            Self::FieldTooLong => "field longer than its length prefix allows",
        })
    }
}

impl core::error::Error for EncodeError {}

#[cfg(test)]
mod tests;
