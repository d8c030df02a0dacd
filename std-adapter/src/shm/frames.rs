//! How a multipart message is laid out in one ring slot (see `docs/shm-transport.md`).
//!
//! Each frame is an 8-byte header — `len: u32` little-endian, then `more: u32` little-endian
//! (1 if another frame follows, 0 on the last) — followed by `len` bytes of data, padded with
//! zeros to a multiple of 8 unless it is the last frame. So every frame's data starts 8-byte
//! aligned relative to the slot's payload, a single-frame message costs 8 bytes of overhead,
//! and a zero-copy loan is "header, then the caller's bytes".
//!
//! The ZeroMQ "MORE" flag idea (ZMTP spec 23) with a fixed-width length, so the decoder never
//! has to guess: decoding rejects a length past the payload, a `more` other than 0/1, or bytes
//! after the last frame. The payload comes from shared memory, so it is untrusted; the number
//! of frames is bounded by `payload.len() / 8`, never by a value read from it.

use crate::error::{Error, Result};

/// Bytes of header before each frame's data.
pub const FRAME_HEADER: usize = 8;

fn padded(len: usize) -> usize {
    len.div_ceil(8) * 8
}

/// Bytes a message with these frame lengths takes in a slot.
pub fn encoded_len<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> usize {
    let mut total = 0;
    let mut last_pad = 0;
    for f in frames {
        total += FRAME_HEADER + padded(f.len());
        last_pad = padded(f.len()) - f.len();
    }
    total - last_pad
}

/// Writes the 8-byte header of a frame.
pub fn write_header(out: &mut [u8], len: usize, more: bool) {
    out[..4].copy_from_slice(&(len as u32).to_le_bytes());
    out[4..8].copy_from_slice(&u32::from(more).to_le_bytes());
}

/// Encodes `frames` into `out`; returns the bytes used, or `TooLarge` if `out` is too small.
pub fn encode(frames: &[&[u8]], out: &mut [u8]) -> Result<usize> {
    if frames.is_empty() {
        return Err(Error::State("a message needs at least one frame"));
    }
    let need = encoded_len(frames.iter().copied());
    if need > out.len() || frames.iter().any(|f| f.len() > u32::MAX as usize) {
        return Err(Error::TooLarge {
            size: need,
            limit: out.len(),
        });
    }
    let mut at = 0;
    for (i, f) in frames.iter().enumerate() {
        let more = i + 1 < frames.len();
        write_header(&mut out[at..], f.len(), more);
        at += FRAME_HEADER;
        out[at..at + f.len()].copy_from_slice(f);
        at += f.len();
        if more {
            let pad = padded(f.len()) - f.len();
            out[at..at + pad].fill(0);
            at += pad;
        }
    }
    Ok(at)
}

/// Iterates over the frames of an encoded payload, validating as it goes.
pub fn frames(payload: &[u8]) -> Frames<'_> {
    Frames {
        rest: payload,
        done: false,
    }
}

/// Iterator returned by [`frames`]: yields each frame's bytes, or one error and then stops.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    rest: &'a [u8],
    done: bool,
}

fn corrupt(what: &str) -> Error {
    Error::Protocol(format!("corrupt shm message: {what}"))
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = || -> Result<(&'a [u8], &'a [u8], bool)> {
            let rest = self.rest;
            if rest.len() < FRAME_HEADER {
                return Err(corrupt("frame header truncated"));
            }
            let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let more = match u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) {
                0 => false,
                1 => true,
                _ => return Err(corrupt("bad MORE flag")),
            };
            let body = &rest[FRAME_HEADER..];
            if len > body.len() {
                return Err(corrupt("frame length past the end of the slot"));
            }
            let data = &body[..len];
            if more {
                let skip = padded(len).min(body.len());
                Ok((data, &body[skip..], true))
            } else if len != body.len() {
                Err(corrupt("bytes after the last frame"))
            } else {
                Ok((data, &[], false))
            }
        };
        match step() {
            Ok((data, rest, more)) => {
                self.rest = rest;
                self.done = !more;
                Some(Ok(data))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// The last frame of an encoded payload (what a typed `recv` decodes).
pub fn last(payload: &[u8]) -> Result<&[u8]> {
    let mut last = None;
    for f in frames(payload) {
        last = Some(f?);
    }
    last.ok_or_else(|| corrupt("no frames"))
}

/// The first frame (the topic of a PUB/SUB message).
pub fn first(payload: &[u8]) -> Result<&[u8]> {
    frames(payload)
        .next()
        .unwrap_or_else(|| Err(corrupt("no frames")))
}

/// All frames, copied out.
pub fn to_message(payload: &[u8]) -> Result<crate::Message> {
    let mut msg = crate::Message::new();
    for f in frames(payload) {
        msg.push(f?);
    }
    Ok(msg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The golden vector of `docs/shm-transport.md`.
    const GOLDEN: [u8; 27] = [
        2, 0, 0, 0, 1, 0, 0, 0, b'a', b'b', 0, 0, 0, 0, 0, 0, //
        3, 0, 0, 0, 0, 0, 0, 0, b'x', b'y', b'z',
    ];

    #[test]
    fn golden_two_frames() {
        let mut out = [0xFFu8; 64];
        let n = encode(&[b"ab", b"xyz"], &mut out).unwrap();
        assert_eq!(&out[..n], &GOLDEN);
        assert_eq!(encoded_len([&b"ab"[..], &b"xyz"[..]]), 27);
        let got: Vec<&[u8]> = frames(&GOLDEN).map(|f| f.unwrap()).collect();
        assert_eq!(got, vec![&b"ab"[..], &b"xyz"[..]]);
        assert_eq!(last(&GOLDEN).unwrap(), b"xyz");
        assert_eq!(first(&GOLDEN).unwrap(), b"ab");
    }

    /// The bytes as `docs/shm-transport.md` prints them.
    pub(crate) fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) const DOC: &str = include_str!("../../../docs/shm-transport.md");

    #[test]
    fn golden_vector_is_the_documented_one() {
        assert!(
            DOC.contains(&hex(&GOLDEN)),
            "docs/shm-transport.md lacks the golden vector"
        );
    }

    #[test]
    fn single_and_empty_frames() {
        let mut out = [0u8; 16];
        let n = encode(&[b""], &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(last(&out[..n]).unwrap(), b"");
        assert!(encode(&[], &mut out).is_err());
    }

    #[test]
    fn too_small_output_is_too_large() {
        let mut out = [0u8; 10];
        assert!(matches!(
            encode(&[b"abc"], &mut out),
            Err(Error::TooLarge {
                size: 11,
                limit: 10
            })
        ));
    }

    #[test]
    fn corrupt_payloads_are_errors() {
        let mut bad_more = GOLDEN;
        bad_more[4] = 2;
        let mut long_len = GOLDEN;
        long_len[16] = 200;
        let mut trailing = GOLDEN.to_vec();
        trailing.push(0);
        for bad in [
            &[][..],
            &GOLDEN[..5],
            &bad_more[..],
            &long_len[..],
            &trailing[..],
            &GOLDEN[..16],
        ] {
            assert!(to_message(bad).is_err(), "{bad:?}");
            assert!(last(bad).is_err());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep (xorshift) standing in for a fuzz run.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x.is_multiple_of(3) {
                        (x >> 8) as u8 % 3
                    } else {
                        x as u8
                    }
                })
                .collect();
            let _ = to_message(&bytes);
        }
    }
}
