//! Framed messages over byte streams (UART, USB CDC): COBS framing, CRC-32C, sequence numbers.
//!
//! A byte stream has no message boundaries and, on a UART, no integrity: bytes get lost,
//! flipped or invented by line noise. This module turns it into a stream of checked frames:
//!
//! ```text
//! wire:  [0x00]? COBS( kind | topic | seq | payload | crc32c ) 0x00
//!                     1 B    2 B LE  2 B LE  0..N-9   4 B LE
//! ```
//!
//! - [`cobs`] removes every zero byte from the frame, so `0x00` delimits frames and a receiver
//!   that lost its place finds the next frame boundary at the next zero (Cheshire & Baker's
//!   Consistent Overhead Byte Stuffing, one byte of overhead per 254).
//! - [`crc`] checks header and payload with CRC-32C (why that one: see its docs).
//! - The header names the frame's [`FrameKind`] (publish, command, ack), a 16-bit topic id
//!   and a 16-bit sequence number that the [`SeqTracker`] uses to count lost frames.
//! - Payloads are postcard bytes ([`crate::msg`]) for typed messages, or raw bytes.
//!
//! [`Encoder`] writes frames into caller buffers; [`Decoder`] is fed chunks of any size and
//! returns frames and counted errors, re-synchronising at the next delimiter after any fault.
//! Both are fixed-size, allocation-free and panic-free on any input. The format, byte by byte,
//! with golden vectors, is in `docs/serial-framing.md`.
//!
//! ```
//! use ringwire_core::serial::{Decoder, Encoder, FrameKind, max_wire_len};
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Imu { ax: f32, ay: f32, az: f32 }
//!
//! let mut tx = Encoder::<64>::new();
//! let mut rx = Decoder::<64>::new();
//! let mut wire = [0u8; max_wire_len(64)];
//! let n = tx.encode_msg(FrameKind::Publish, 2, &Imu { ax: 0.0, ay: 0.0, az: 9.81 }, &mut wire).unwrap();
//!
//! let (used, event) = rx.feed(&wire[..n]);
//! assert_eq!(used, n);
//! let frame = event.unwrap().unwrap();
//! assert_eq!(frame.header.topic, 2);
//! assert_eq!(frame.decode::<Imu>().unwrap(), Imu { ax: 0.0, ay: 0.0, az: 9.81 });
//! ```

pub mod cobs;
pub mod crc;
mod decoder;
mod frame;
mod seq;

pub use decoder::{Decoder, DecoderStats, FrameError};
pub use frame::{
    CRC_LEN, DELIMITER, EncodeError, Encoder, Frame, FrameKind, HEADER_LEN, Header, OVERHEAD,
    max_wire_len,
};
pub use seq::{SeqEvent, SeqTracker};

#[cfg(test)]
mod tests;
