//! Typed messages: serde + postcard, encoded straight into a caller's buffer (a ring
//! slot, a frame buffer) and decoded from one, with no allocation.
//!
//! Three kinds of payload travel through ringwire:
//! - any `T: Serialize` / `Deserialize`, as postcard bytes ([`encode_into`], [`decode`]);
//! - raw bytes, untouched;
//! - plain-old-data arrays of [`Pod`] scalars, copied as little-endian bytes without
//!   serde ([`encode_pod`], [`decode_pod`]), for joint vectors and image rows.
//!
//! ```
//! use ringwire_core::msg;
//! #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
//! struct Pose { x: f32, y: f32, heading: f32 }
//!
//! let mut slot = [0u8; 64];
//! let n = msg::encode_into(&Pose { x: 1.0, y: 2.0, heading: 0.5 }, &mut slot).unwrap();
//! let back: Pose = msg::decode(&slot[..n]).unwrap();
//! assert_eq!(back, Pose { x: 1.0, y: 2.0, heading: 0.5 });
//! ```

use core::fmt;
use serde::{Deserialize, Serialize};

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded message does not fit in the buffer (a slot is too small).
    TooLarge,
    /// The value cannot be represented by postcard (e.g. a sequence of unknown length).
    Unsupported,
}

/// Why bytes could not be decoded into a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes ended before the message did.
    Truncated,
    /// The bytes are not a valid encoding of the expected type.
    Invalid,
    /// A plain-old-data payload's length is not a multiple of the element size.
    Misaligned,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "message does not fit in the buffer",
            Self::Unsupported => "value cannot be encoded by postcard",
        })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "message bytes are truncated",
            Self::Invalid => "bytes are not a valid encoding of the expected type",
            Self::Misaligned => "payload length is not a multiple of the element size",
        })
    }
}

impl core::error::Error for EncodeError {}
impl core::error::Error for DecodeError {}

/// Encodes `value` with postcard into the front of `buf`; returns the length written.
pub fn encode_into<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, EncodeError> {
    match postcard::to_slice(value, buf) {
        Ok(used) => Ok(used.len()),
        Err(postcard::Error::SerializeBufferFull) => Err(EncodeError::TooLarge),
        Err(_) => Err(EncodeError::Unsupported),
    }
}

/// Decodes a postcard-encoded `T` from `bytes` (borrowing from them where `T` does).
/// Trailing bytes after the value are ignored, as postcard does.
pub fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, DecodeError> {
    postcard::from_bytes(bytes).map_err(|e| match e {
        postcard::Error::DeserializeUnexpectedEnd => DecodeError::Truncated,
        _ => DecodeError::Invalid,
    })
}

/// A scalar that can be sent as raw little-endian bytes without serde.
pub trait Pod: Copy + Default {
    /// Size of one element in bytes.
    const SIZE: usize;
    /// Writes `self` as little-endian bytes into `out` (`out.len() == SIZE`).
    fn write_le(self, out: &mut [u8]);
    /// Reads one element from little-endian bytes (`bytes.len() == SIZE`).
    fn read_le(bytes: &[u8]) -> Self;
}

macro_rules! impl_pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn write_le(self, out: &mut [u8]) {
                out.copy_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut raw = [0u8; core::mem::size_of::<$t>()];
                raw.copy_from_slice(bytes);
                <$t>::from_le_bytes(raw)
            }
        }
    )*};
}
impl_pod!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

/// Copies `items` into `buf` as little-endian bytes; returns the length written.
pub fn encode_pod<T: Pod>(items: &[T], buf: &mut [u8]) -> Result<usize, EncodeError> {
    let len = items
        .len()
        .checked_mul(T::SIZE)
        .ok_or(EncodeError::TooLarge)?;
    let out = buf.get_mut(..len).ok_or(EncodeError::TooLarge)?;
    for (item, chunk) in items.iter().zip(out.chunks_exact_mut(T::SIZE)) {
        item.write_le(chunk);
    }
    Ok(len)
}

/// Decodes little-endian `bytes` into `out`; returns how many elements were written.
/// Fails if `bytes` is not a whole number of elements or holds more than `out` can take.
pub fn decode_pod<T: Pod>(bytes: &[u8], out: &mut [T]) -> Result<usize, DecodeError> {
    if !bytes.len().is_multiple_of(T::SIZE) {
        return Err(DecodeError::Misaligned);
    }
    let count = bytes.len() / T::SIZE;
    let dest = out.get_mut(..count).ok_or(DecodeError::Truncated)?;
    for (slot, chunk) in dest.iter_mut().zip(bytes.chunks_exact(T::SIZE)) {
        *slot = T::read_le(chunk);
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Cmd<'a> {
        id: u16,
        name: &'a str,
        gains: [f32; 3],
    }

    #[test]
    fn round_trip_borrowed() {
        let mut buf = [0u8; 64];
        let n = encode_into(
            &Cmd {
                id: 7,
                name: "arm",
                gains: [1.0, 2.0, 3.0],
            },
            &mut buf,
        )
        .unwrap();
        let back: Cmd<'_> = decode(&buf[..n]).unwrap();
        assert_eq!(
            back,
            Cmd {
                id: 7,
                name: "arm",
                gains: [1.0, 2.0, 3.0]
            }
        );
    }

    #[test]
    fn postcard_wire_format_golden() {
        // postcard: u16 as varint (7 -> 0x07), str as varint length + UTF-8, f32 little-endian.
        let mut buf = [0u8; 64];
        let n = encode_into(
            &Cmd {
                id: 300,
                name: "a",
                gains: [1.0, 0.0, 0.0],
            },
            &mut buf,
        )
        .unwrap();
        assert_eq!(
            &buf[..n],
            &[
                0xAC, 0x02, 0x01, b'a', 0, 0, 0x80, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn too_small_buffer_is_an_error() {
        let mut buf = [0u8; 4];
        assert_eq!(
            encode_into(
                &Cmd {
                    id: 1,
                    name: "long name",
                    gains: [0.0; 3]
                },
                &mut buf
            ),
            Err(EncodeError::TooLarge)
        );
    }

    #[test]
    fn truncated_and_invalid_input() {
        assert_eq!(decode::<u32>(&[]), Err(DecodeError::Truncated));
        // A bool must be 0 or 1.
        assert_eq!(decode::<bool>(&[2]), Err(DecodeError::Invalid));
    }

    #[test]
    fn pod_round_trip_and_errors() {
        let joints = [0.5f64, -1.25, 3.0];
        let mut buf = [0u8; 24];
        assert_eq!(encode_pod(&joints, &mut buf), Ok(24));
        let mut out = [0f64; 3];
        assert_eq!(decode_pod(&buf, &mut out), Ok(3));
        assert_eq!(out, joints);
        assert_eq!(
            decode_pod(&buf[..23], &mut out),
            Err(DecodeError::Misaligned)
        );
        let mut small = [0f64; 2];
        assert_eq!(decode_pod(&buf, &mut small), Err(DecodeError::Truncated));
        assert_eq!(
            encode_pod(&joints, &mut buf[..16]),
            Err(EncodeError::TooLarge)
        );
    }
}
