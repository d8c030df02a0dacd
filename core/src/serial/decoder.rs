//! The push-style frame decoder: feed it any chunk of bytes, take frames and errors out.
//!
//! It COBS-decodes byte by byte into a fixed buffer of `N` bytes (no second pass, no
//! allocation), and at each delimiter checks length, CRC and kind. Any fault (a frame longer
//! than `N`, a COBS run cut short by a delimiter, a frame shorter than header + CRC, a CRC
//! mismatch, an unknown kind) is returned once, counted in [`DecoderStats`], and the decoder
//! throws bytes away until the next delimiter, where it is in step with the sender again.
//! Empty frames (two delimiters in a row) are idle fill and are skipped silently.
//!
//! ```
//! use ringwire_core::serial::{Decoder, Encoder, FrameKind, max_wire_len};
//! let mut enc = Encoder::<32>::new();
//! let mut wire = [0u8; max_wire_len(32)];
//! let n = enc.encode(FrameKind::Publish, 3, b"hi", &mut wire).unwrap();
//!
//! let mut dec = Decoder::<32>::new();
//! let mut input = &wire[..n];
//! let mut got = None;
//! while !input.is_empty() {
//!     let (used, event) = dec.feed(input);
//!     input = &input[used..];
//!     if let Some(Ok(frame)) = event {
//!         got = Some((frame.header.topic, frame.payload.to_vec()));
//!     }
//! }
//! assert_eq!(got, Some((3, b"hi".to_vec())));
//! ```

use core::fmt;

use super::crc::crc32c;
use super::frame::{CRC_LEN, DELIMITER, Frame, FrameKind, HEADER_LEN, Header, OVERHEAD};
use super::seq::SeqTracker;

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is longer than the decoder's limit; the rest of it is skipped.
    TooLong,
    /// A delimiter arrived inside a COBS run: the encoding is broken.
    BadEncoding,
    /// The frame is shorter than header + CRC.
    Truncated,
    /// The CRC does not match the frame's bytes.
    Crc,
    /// The frame's kind byte is not one this version knows.
    UnknownKind(u8),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => f.write_str("frame exceeds the decoder's size limit"),
            Self::BadEncoding => f.write_str("invalid COBS encoding"),
            Self::Truncated => f.write_str("frame shorter than header and CRC"),
            Self::Crc => f.write_str("frame CRC mismatch"),
            Self::UnknownKind(k) => write!(f, "unknown frame kind {k:#04x}"),
        }
    }
}

impl core::error::Error for FrameError {}

/// What the decoder has seen, in counters that saturate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct DecoderStats {
    /// Frames delivered.
    pub frames: u32,
    /// Frames longer than the limit.
    pub too_long: u32,
    /// Frames with a broken COBS encoding.
    pub bad_encoding: u32,
    /// Frames shorter than header + CRC.
    pub truncated: u32,
    /// Frames whose CRC did not match.
    pub crc_errors: u32,
    /// Frames of an unknown kind.
    pub unknown_kind: u32,
    /// Times the decoder dropped a partial frame and re-synchronised at the next delimiter
    /// (one per error above).
    pub resyncs: u32,
    /// Bytes thrown away with dropped frames (delimiters not counted).
    pub discarded_bytes: u32,
    /// Sequence tracking of the frames delivered: lost frames, gaps, duplicates.
    pub seq: SeqTracker,
}

impl DecoderStats {
    /// Dropped frames, all causes together.
    pub fn errors(&self) -> u32 {
        self.resyncs
    }
}

/// A streaming decoder for frames of at most `N` raw bytes (header + payload + CRC).
#[derive(Debug)]
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    /// Decoded bytes of the current frame.
    len: usize,
    /// Data bytes left in the current COBS run; 0 means the next byte is a code byte.
    run_left: u8,
    /// Whether the run just finished implies a zero before the next run.
    zero_pending: bool,
    /// Encoded bytes of the current frame seen so far (for the discarded-bytes count).
    raw_seen: u32,
    /// After an error: skip until the next delimiter.
    skipping: bool,
    stats: DecoderStats,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    /// The largest payload a frame may carry to be accepted.
    pub const MAX_PAYLOAD: usize = N.saturating_sub(OVERHEAD);

    /// A decoder at the start of a frame.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            run_left: 0,
            zero_pending: false,
            raw_seen: 0,
            skipping: false,
            stats: DecoderStats {
                frames: 0,
                too_long: 0,
                bad_encoding: 0,
                truncated: 0,
                crc_errors: 0,
                unknown_kind: 0,
                resyncs: 0,
                discarded_bytes: 0,
                seq: SeqTracker::new(),
            },
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &DecoderStats {
        &self.stats
    }

    /// Whether the decoder holds part of a frame (bytes since the last delimiter).
    pub fn in_frame(&self) -> bool {
        self.raw_seen != 0
    }

    /// Forgets any partial frame, as if a delimiter had arrived, without counting an error
    /// (for a link that was closed and reopened).
    pub fn reset(&mut self) {
        self.start_frame();
        self.skipping = false;
    }

    /// Feeds bytes; returns how many it consumed and what completed, if anything.
    ///
    /// It stops right after the first frame or error, so a caller loops until the input is
    /// used up, handling each event before feeding the rest. Without an event it consumed
    /// everything; with one it consumed at least one byte. A returned frame borrows the
    /// decoder's buffer until the next call.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Result<Frame<'_>, FrameError>>) {
        for (i, &byte) in input.iter().enumerate() {
            if byte == DELIMITER {
                if self.skipping {
                    self.skipping = false;
                    self.start_frame();
                    continue;
                }
                if self.raw_seen == 0 {
                    continue; // empty frame: idle fill
                }
                let len = self.len;
                let cut_short = self.run_left != 0;
                let raw_seen = self.raw_seen;
                self.start_frame();
                return (i + 1, Some(self.complete(len, cut_short, raw_seen)));
            }
            if self.skipping {
                self.count_discarded(1);
                continue;
            }
            self.raw_seen = self.raw_seen.saturating_add(1);
            if let Err(e) = self.push_encoded(byte) {
                self.fail(e, self.raw_seen);
                self.skipping = true;
                self.start_frame();
                return (i + 1, Some(Err(e)));
            }
        }
        (input.len(), None)
    }

    /// Applies one non-zero wire byte to the COBS state.
    fn push_encoded(&mut self, byte: u8) -> Result<(), FrameError> {
        if self.run_left == 0 {
            if self.zero_pending {
                self.push(0)?;
            }
            self.run_left = byte - 1;
            self.zero_pending = byte != 0xFF;
            Ok(())
        } else {
            self.run_left -= 1;
            self.push(byte)
        }
    }

    fn push(&mut self, byte: u8) -> Result<(), FrameError> {
        let slot = self.buf.get_mut(self.len).ok_or(FrameError::TooLong)?;
        *slot = byte;
        self.len += 1;
        Ok(())
    }

    fn start_frame(&mut self) {
        self.len = 0;
        self.run_left = 0;
        self.zero_pending = false;
        self.raw_seen = 0;
    }

    fn count_discarded(&mut self, n: u32) {
        self.stats.discarded_bytes = self.stats.discarded_bytes.saturating_add(n);
    }

    fn fail(&mut self, e: FrameError, raw_seen: u32) {
        let s = &mut self.stats;
        let counter = match e {
            FrameError::TooLong => &mut s.too_long,
            FrameError::BadEncoding => &mut s.bad_encoding,
            FrameError::Truncated => &mut s.truncated,
            FrameError::Crc => &mut s.crc_errors,
            FrameError::UnknownKind(_) => &mut s.unknown_kind,
        };
        *counter = counter.saturating_add(1);
        s.resyncs = s.resyncs.saturating_add(1);
        self.count_discarded(raw_seen);
        warn!("serial: dropped frame: {}", e);
    }

    /// Checks a frame whose `len` decoded bytes are in the buffer.
    fn complete(
        &mut self,
        len: usize,
        cut_short: bool,
        raw_seen: u32,
    ) -> Result<Frame<'_>, FrameError> {
        let check = if cut_short {
            Err(FrameError::BadEncoding)
        } else if len < OVERHEAD {
            Err(FrameError::Truncated)
        } else {
            let (body, crc) = self.buf[..len].split_at(len - CRC_LEN);
            let mut want = [0u8; CRC_LEN];
            want.copy_from_slice(crc);
            if crc32c(body) != u32::from_le_bytes(want) {
                Err(FrameError::Crc)
            } else {
                FrameKind::from_u8(body[0]).ok_or(FrameError::UnknownKind(body[0]))
            }
        };
        let kind = match check {
            Ok(kind) => kind,
            Err(e) => {
                self.fail(e, raw_seen);
                return Err(e);
            }
        };
        let b = &self.buf;
        let header = Header {
            kind,
            topic: u16::from_le_bytes([b[1], b[2]]),
            seq: u16::from_le_bytes([b[3], b[4]]),
        };
        self.stats.frames = self.stats.frames.saturating_add(1);
        self.stats.seq.on_seq(header.seq);
        trace!("serial: frame seq {} topic {}", header.seq, header.topic);
        Ok(Frame {
            header,
            payload: &self.buf[HEADER_LEN..len - CRC_LEN],
        })
    }
}
