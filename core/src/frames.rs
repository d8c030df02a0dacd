//! The multipart layout of one shared-memory message (one ring slot): the single parser and
//! encoder that every reader of a slot uses — the host sockets, the in-place broadcast view and
//! firmware alike (see `docs/shm-transport.md`).
//!
//! Each frame is an 8-byte header — `len: u32` little-endian, then `more: u32` little-endian
//! (1 if another frame follows, 0 on the last) — followed by `len` bytes of data, padded with
//! zeros to a multiple of 8 unless it is the last frame. So every frame's data starts 8-byte
//! aligned relative to the payload, a single-frame message costs 8 bytes of overhead, and a
//! zero-copy loan is "header, then the caller's bytes". It is ZeroMQ's "MORE" flag idea (ZMTP
//! spec 23) with a fixed-width length, so the decoder never has to guess.
//!
//! The bytes come from shared memory and are untrusted: parsing rejects a length past the end,
//! a `more` other than 0/1 and bytes after the last frame, and each step advances by at least a
//! header, so the number of steps is bounded by the message length, never by a value read
//! from it.
//!
//! [`Walk`] is the parser itself, position-based so that a reader that may only *copy* ranges
//! (a broadcast slot the writer can overwrite) drives it the same way as one holding a slice;
//! [`frames`] wraps it as an iterator over a slice.
//!
//! ```
//! use ringwire_core::frames;
//!
//! let mut slot = [0u8; 64];
//! let n = frames::encode(&[b"pose", b"x=1"], &mut slot).unwrap();
//! let mut parts = frames::frames(&slot[..n]);
//! assert_eq!(parts.next(), Some(Ok(&b"pose"[..])));
//! assert_eq!(parts.next(), Some(Ok(&b"x=1"[..])));
//! assert_eq!(parts.next(), None);
//! ```

use core::fmt;

/// Bytes of header before each frame's data.
pub const HEADER: usize = 8;

/// Why a message's bytes are not a valid multipart message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer than 8 bytes where a frame header must be.
    Truncated,
    /// A `more` word other than 0 or 1.
    BadMore,
    /// A frame's length runs past the end of the message.
    PastEnd,
    /// Bytes follow the last frame.
    Trailing,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::Truncated => "frame header truncated",
            FrameError::BadMore => "bad MORE flag",
            FrameError::PastEnd => "frame length past the end of the slot",
            FrameError::Trailing => "bytes after the last frame",
        })
    }
}

impl core::error::Error for FrameError {}

/// Why frames could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// A message needs at least one frame.
    NoFrames,
    /// The output is too small (or a frame is longer than `u32::MAX`): `size` bytes were
    /// needed (saturated at `usize::MAX`), `limit` were available.
    TooLarge {
        /// Bytes the encoding needs.
        size: usize,
        /// Bytes available.
        limit: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NoFrames => f.write_str("a message needs at least one frame"),
            EncodeError::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes exceeds the limit of {limit}")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// `len` rounded up to a multiple of 8 (saturating).
#[inline]
pub const fn padded(len: usize) -> usize {
    match len.checked_add(7) {
        Some(l) => l & !7,
        None => usize::MAX & !7,
    }
}

/// The 8 header bytes of a frame of `len` bytes.
#[inline]
pub fn header(len: u32, more: bool) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4] = u8::from(more);
    h
}

/// Writes a frame header at the start of `out`.
#[inline]
pub fn write_header(out: &mut [u8], len: usize, more: bool) -> Result<(), EncodeError> {
    let too_large = EncodeError::TooLarge {
        size: len.saturating_add(HEADER),
        limit: out.len(),
    };
    let len = u32::try_from(len).map_err(|_| too_large)?;
    let h = out.get_mut(..HEADER).ok_or(too_large)?;
    h.copy_from_slice(&header(len, more));
    Ok(())
}

/// Writes one frame (header, data, and zero padding if `more`) at the start of `out`;
/// returns the bytes used.
#[inline]
pub fn write_frame(out: &mut [u8], data: &[u8], more: bool) -> Result<usize, EncodeError> {
    let body = if more { padded(data.len()) } else { data.len() };
    let need = body.saturating_add(HEADER);
    let limit = out.len();
    let dst = out
        .get_mut(..need)
        .ok_or(EncodeError::TooLarge { size: need, limit })?;
    write_header(dst, data.len(), more)?;
    let (d, pad) = dst[HEADER..].split_at_mut(data.len());
    d.copy_from_slice(data);
    pad.fill(0);
    Ok(need)
}

/// Bytes a message with these frames takes (saturating at `usize::MAX`).
pub fn encoded_len<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> usize {
    let mut total = 0usize;
    let mut last_pad = 0;
    for f in frames {
        total = total.saturating_add(HEADER).saturating_add(padded(f.len()));
        last_pad = padded(f.len()) - f.len();
    }
    total.saturating_sub(last_pad)
}

/// Encodes `frames` into `out`; returns the bytes used.
pub fn encode(frames: &[&[u8]], out: &mut [u8]) -> Result<usize, EncodeError> {
    let Some(last) = frames.len().checked_sub(1) else {
        return Err(EncodeError::NoFrames);
    };
    let need = encoded_len(frames.iter().copied());
    if need > out.len() || frames.iter().any(|f| u32::try_from(f.len()).is_err()) {
        return Err(EncodeError::TooLarge {
            size: need,
            limit: out.len(),
        });
    }
    let mut at = 0;
    for (i, f) in frames.iter().enumerate() {
        at += write_frame(&mut out[at..], f, i < last)?;
    }
    Ok(at)
}

/// Where one frame lies in its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// Offset of the frame's data from the start of the message.
    pub at: usize,
    /// Length of the data.
    pub len: usize,
    /// Whether another frame follows.
    pub more: bool,
}

/// The parser: walks a message of a known length one header at a time.
///
/// The caller reads the 8 header bytes at the offset the walk asks for (from a slice, or as a
/// racy copy out of a slot); the walk validates them against the message length and says
/// where the frame's data lies. After the last frame, or after an error, it yields nothing.
#[derive(Debug, Clone)]
pub struct Walk {
    len: usize,
    at: usize,
    done: bool,
}

impl Walk {
    /// A walk over a message of `len` bytes.
    #[inline]
    pub const fn new(len: usize) -> Self {
        Walk {
            len,
            at: 0,
            done: false,
        }
    }

    /// The next frame: `read(offset, header)` copies the 8 bytes at `offset` into `header`
    /// and returns whether all 8 were there. `None` once the walk is over.
    #[inline]
    pub fn next_with(
        &mut self,
        read: impl FnOnce(usize, &mut [u8; HEADER]) -> bool,
    ) -> Option<Result<Span, FrameError>> {
        if self.done {
            return None;
        }
        let r = self.step(read);
        self.done = !matches!(r, Ok(Span { more: true, .. }));
        Some(r)
    }

    #[inline]
    fn step(
        &mut self,
        read: impl FnOnce(usize, &mut [u8; HEADER]) -> bool,
    ) -> Result<Span, FrameError> {
        let mut h = [0u8; HEADER];
        if self.len.saturating_sub(self.at) < HEADER || !read(self.at, &mut h) {
            return Err(FrameError::Truncated);
        }
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let more = match u32::from_le_bytes([h[4], h[5], h[6], h[7]]) {
            0 => false,
            1 => true,
            _ => return Err(FrameError::BadMore),
        };
        let data = self.at + HEADER;
        let room = self.len - data;
        if len > room {
            return Err(FrameError::PastEnd);
        }
        if more {
            self.at = data + padded(len).min(room);
        } else if len != room {
            return Err(FrameError::Trailing);
        }
        Ok(Span {
            at: data,
            len,
            more,
        })
    }
}

/// Iterates over the frames of an encoded message, validating as it goes.
#[inline]
pub fn frames(message: &[u8]) -> Frames<'_> {
    Frames {
        message,
        walk: Walk::new(message.len()),
    }
}

/// Iterator returned by [`frames`]: each frame's bytes, or one error and then nothing.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    message: &'a [u8],
    walk: Walk,
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8], FrameError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let message = self.message;
        let span = self
            .walk
            .next_with(|at, h| match message.get(at..at + HEADER) {
                Some(s) => {
                    h.copy_from_slice(s);
                    true
                }
                None => false,
            });
        span.map(|r| r.map(|s| &message[s.at..s.at + s.len]))
    }
}

/// Validates a whole message; returns its number of frames (at least 1).
pub fn validate(message: &[u8]) -> Result<usize, FrameError> {
    let mut n = 0;
    for f in frames(message) {
        f?;
        n += 1;
    }
    Ok(n)
}

/// The first frame (the topic of a PUB/SUB message); only that frame is checked.
#[inline]
pub fn first(message: &[u8]) -> Result<&[u8], FrameError> {
    frames(message).next().unwrap_or(Err(FrameError::Truncated))
}

/// The last frame (what a typed receive decodes), validating the whole message.
pub fn last(message: &[u8]) -> Result<&[u8], FrameError> {
    let mut last = Err(FrameError::Truncated);
    for f in frames(message) {
        last = Ok(f?);
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// The golden vector of `docs/shm-transport.md`: `["ab", "xyz"]`.
    const GOLDEN: [u8; 27] = [
        2, 0, 0, 0, 1, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 0, 0, //
        3, 0, 0, 0, 0, 0, 0, 0, b'x', b'y', b'z',
    ];

    const DOC: &str = include_str!("../../docs/shm-transport.md");

    fn hex(bytes: &[u8]) -> std::string::String {
        use core::fmt::Write;
        let mut s = std::string::String::new();
        for (i, b) in bytes.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(s, "{sep}{b:02x}").unwrap();
        }
        s
    }

    #[test]
    fn golden_two_frames() {
        let mut out = [0xFFu8; 64];
        let n = encode(&[b"ab", b"xyz"], &mut out).unwrap();
        assert_eq!(&out[..n], &GOLDEN);
        assert_eq!(encoded_len([&b"ab"[..], &b"xyz"[..]]), 27);
        let got: Vec<&[u8]> = frames(&GOLDEN).map(|f| f.unwrap()).collect();
        assert_eq!(got, [&b"ab"[..], &b"xyz"[..]]);
        assert_eq!(last(&GOLDEN), Ok(&b"xyz"[..]));
        assert_eq!(first(&GOLDEN), Ok(&b"ab"[..]));
        assert_eq!(validate(&GOLDEN), Ok(2));
        assert!(DOC.contains(&hex(&GOLDEN)), "docs lack the golden vector");
    }

    #[test]
    fn golden_single_and_empty_frames() {
        let mut out = [0u8; 16];
        let n = encode(&[b""], &mut out).unwrap();
        assert_eq!(&out[..n], &[0; 8]);
        assert_eq!(last(&out[..n]), Ok(&b""[..]));
        let n = encode(&[b"", b""], &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(validate(&out[..n]), Ok(2));
        assert_eq!(encode(&[], &mut out), Err(EncodeError::NoFrames));
    }

    #[test]
    fn write_frame_pads_only_when_more_follows() {
        let mut out = [0xEEu8; 24];
        assert_eq!(write_frame(&mut out, b"pose", true), Ok(16));
        assert_eq!(&out[..16], b"\x04\0\0\0\x01\0\0\0pose\0\0\0\0");
        assert_eq!(write_frame(&mut out, b"pose", false), Ok(12));
        assert_eq!(
            write_frame(&mut out[..15], b"pose", true),
            Err(EncodeError::TooLarge {
                size: 16,
                limit: 15
            })
        );
        assert!(write_header(&mut out[..7], 0, false).is_err());
    }

    #[test]
    fn too_small_output_is_too_large() {
        let mut out = [0u8; 10];
        assert_eq!(
            encode(&[b"abc"], &mut out),
            Err(EncodeError::TooLarge {
                size: 11,
                limit: 10
            })
        );
    }

    #[test]
    fn corrupt_messages_name_the_rule() {
        let mut bad_more = GOLDEN;
        bad_more[4] = 2;
        let mut long_len = GOLDEN;
        long_len[16] = 200;
        let mut trailing = GOLDEN.to_vec();
        trailing.push(0);
        for (bad, want) in [
            (&[][..], FrameError::Truncated),
            (&GOLDEN[..5], FrameError::Truncated),
            (&bad_more[..], FrameError::BadMore),
            (&long_len[..], FrameError::PastEnd),
            (&trailing[..], FrameError::Trailing),
            (&GOLDEN[..16], FrameError::Truncated),
            (&GOLDEN[..12], FrameError::Truncated),
        ] {
            assert_eq!(validate(bad), Err(want), "{bad:?}");
            assert_eq!(last(bad), Err(want));
            // The iterator stops after the error.
            let mut it = frames(bad);
            while let Some(Ok(_)) = it.next() {}
            assert!(it.next().is_none());
        }
    }

    #[test]
    fn walk_reads_through_copies() {
        // A reader that may only copy ranges drives the same parser.
        let copy = |at: usize, h: &mut [u8; HEADER]| {
            GOLDEN
                .get(at..at + HEADER)
                .map(|s| h.copy_from_slice(s))
                .is_some()
        };
        let mut w = Walk::new(GOLDEN.len());
        let a = w.next_with(copy).unwrap().unwrap();
        assert_eq!(
            a,
            Span {
                at: 8,
                len: 2,
                more: true
            }
        );
        let b = w.next_with(copy).unwrap().unwrap();
        assert_eq!(
            b,
            Span {
                at: 24,
                len: 3,
                more: false
            }
        );
        assert!(w.next_with(copy).is_none());
        // A copy that comes up short is a truncated header.
        let mut w = Walk::new(GOLDEN.len());
        assert_eq!(w.next_with(|_, _| false), Some(Err(FrameError::Truncated)));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_encodings_round_trip() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rnd();
                    if r % 3 == 0 {
                        (r >> 8) as u8 % 3
                    } else {
                        r as u8
                    }
                })
                .collect();
            if let Ok(n) = validate(&bytes) {
                // Whatever parses re-encodes to the same bytes (padding is zero on encode,
                // anything on parse, so compare the frames instead).
                let parts: Vec<&[u8]> = frames(&bytes).map(|f| f.unwrap()).collect();
                assert_eq!(parts.len(), n);
                let mut out = std::vec![0u8; bytes.len()];
                let m = encode(&parts, &mut out).unwrap();
                let again: Vec<&[u8]> = frames(&out[..m]).map(|f| f.unwrap()).collect();
                assert_eq!(again, parts);
            }
        }
    }
}
