//! Consistent Overhead Byte Stuffing (COBS): one-shot encoding and decoding of a block.
//!
//! COBS (Cheshire and Baker, "Consistent Overhead Byte Stuffing", IEEE/ACM Transactions on
//! Networking, 1999) rewrites a block of bytes so that it contains no zero byte, which frees
//! `0x00` to serve as an unambiguous frame delimiter on a byte stream. The block is cut at
//! every zero into runs; each run is sent as a *code byte* `n` (1..=255) followed by `n - 1`
//! non-zero data bytes, and an implied zero follows every run whose code is not `0xFF`
//! (`0xFF` means "254 data bytes, no zero", so long zero-free stretches cost one byte per 254).
//! The implied zero after the last run is dropped. The overhead is at most one byte per 254
//! bytes of input, plus one.
//!
//! This module works on whole blocks held in memory; the streaming decoder that the frame
//! codec uses applies the same rules byte by byte (see `super::decoder`).
//!
//! ```
//! use ringwire_core::serial::cobs;
//! let mut enc = [0u8; 8];
//! let n = cobs::encode(&[0x11, 0x22, 0x00, 0x33], &mut enc).unwrap();
//! assert_eq!(&enc[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
//! let mut dec = [0u8; 8];
//! let m = cobs::decode(&enc[..n], &mut dec).unwrap();
//! assert_eq!(&dec[..m], &[0x11, 0x22, 0x00, 0x33]);
//! ```

use core::fmt;

/// The largest COBS encoding of `len` bytes, without the frame delimiter.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Why a block could not be COBS-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small for the encoding.
    BufferTooSmall,
}

/// Why a block could not be COBS-decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The output buffer is too small for the decoded bytes.
    BufferTooSmall,
    /// The block holds a zero byte (a delimiter), which no COBS encoding contains.
    ZeroByte,
    /// A code byte announces more data bytes than the block holds.
    Truncated,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small for the COBS encoding",
        })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BufferTooSmall => "output buffer too small for the decoded block",
            Self::ZeroByte => "COBS block contains a zero byte",
            Self::Truncated => "COBS block ends inside a run",
        })
    }
}

impl core::error::Error for EncodeError {}
impl core::error::Error for DecodeError {}

/// COBS-encodes `src` into the front of `dst` (no delimiter is written); returns the length
/// written. `dst` needs at most [`max_encoded_len`]`(src.len())` bytes.
pub fn encode(src: &[u8], dst: &mut [u8]) -> Result<usize, EncodeError> {
    // `code_at` is where the current run's code byte goes; `out` is the next data position.
    let mut code_at = 0usize;
    let mut out = 1usize;
    let mut code: u8 = 1;
    if dst.is_empty() {
        return Err(EncodeError::BufferTooSmall);
    }
    let last = src.len().wrapping_sub(1);
    for (i, &byte) in src.iter().enumerate() {
        if byte == 0 {
            dst[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            *dst.get_mut(out).ok_or(EncodeError::BufferTooSmall)? = byte;
            out += 1;
            code += 1;
            // A full run of 254 data bytes closes with code 0xFF and no implied zero; a new run
            // starts only if input remains (so a block ending on a full run has no trailer).
            if code == 0xFF && i != last {
                dst[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
        if code_at >= dst.len() {
            return Err(EncodeError::BufferTooSmall);
        }
    }
    dst[code_at] = code;
    Ok(out)
}

/// Decodes one COBS block `src` (without its delimiter) into the front of `dst`; returns the
/// decoded length.
pub fn decode(src: &[u8], dst: &mut [u8]) -> Result<usize, DecodeError> {
    let mut i = 0usize;
    let mut out = 0usize;
    while i < src.len() {
        let code = src[i];
        if code == 0 {
            return Err(DecodeError::ZeroByte);
        }
        i += 1;
        let run = usize::from(code - 1);
        let data = src.get(i..i + run).ok_or(DecodeError::Truncated)?;
        if data.contains(&0) {
            return Err(DecodeError::ZeroByte);
        }
        dst.get_mut(out..out + run)
            .ok_or(DecodeError::BufferTooSmall)?
            .copy_from_slice(data);
        out += run;
        i += run;
        if code != 0xFF && i < src.len() {
            *dst.get_mut(out).ok_or(DecodeError::BufferTooSmall)? = 0;
            out += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn enc(src: &[u8]) -> Vec<u8> {
        let mut buf = std::vec![0u8; max_encoded_len(src.len())];
        let n = encode(src, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn dec(src: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let mut buf = std::vec![0u8; src.len()];
        let n = decode(src, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn range(lo: u8, hi: u8) -> Vec<u8> {
        (lo..=hi).collect()
    }

    /// The worked examples of the COBS article on Wikipedia (and the paper's rules), without
    /// the trailing delimiter, which `encode` does not write.
    #[test]
    fn golden_vectors() {
        let mut cases: Vec<(Vec<u8>, Vec<u8>)> = std::vec![
            (std::vec![], std::vec![0x01]),
            (std::vec![0x00], std::vec![0x01, 0x01]),
            (std::vec![0x00, 0x00], std::vec![0x01, 0x01, 0x01]),
            (
                std::vec![0x00, 0x11, 0x00],
                std::vec![0x01, 0x02, 0x11, 0x01]
            ),
            (
                std::vec![0x11, 0x22, 0x00, 0x33],
                std::vec![0x03, 0x11, 0x22, 0x02, 0x33]
            ),
            (
                std::vec![0x11, 0x22, 0x33, 0x44],
                std::vec![0x05, 0x11, 0x22, 0x33, 0x44]
            ),
            (
                std::vec![0x11, 0x00, 0x00, 0x00],
                std::vec![0x02, 0x11, 0x01, 0x01, 0x01]
            ),
        ];
        // 01..FE (254 bytes) -> FF 01..FE
        let mut e = std::vec![0xFF];
        e.extend(range(0x01, 0xFE));
        cases.push((range(0x01, 0xFE), e));
        // 00 01..FE (255 bytes) -> 01 FF 01..FE
        let mut s = std::vec![0x00];
        s.extend(range(0x01, 0xFE));
        let mut e = std::vec![0x01, 0xFF];
        e.extend(range(0x01, 0xFE));
        cases.push((s, e));
        // 01..FF (255 bytes) -> FF 01..FE 02 FF
        let mut e = std::vec![0xFF];
        e.extend(range(0x01, 0xFE));
        e.extend([0x02, 0xFF]);
        cases.push((range(0x01, 0xFF), e));
        // 02..FF 00 (255 bytes) -> FF 02..FF 01 01
        let mut s = range(0x02, 0xFF);
        s.push(0x00);
        let mut e = std::vec![0xFF];
        e.extend(range(0x02, 0xFF));
        e.extend([0x01, 0x01]);
        cases.push((s, e));
        // 03..FF 00 01 (255 bytes) -> FE 03..FF 02 01
        let mut s = range(0x03, 0xFF);
        s.extend([0x00, 0x01]);
        let mut e = std::vec![0xFE];
        e.extend(range(0x03, 0xFF));
        e.extend([0x02, 0x01]);
        cases.push((s, e));

        for (raw, encoded) in &cases {
            assert_eq!(&enc(raw), encoded, "encode {raw:02x?}");
            assert_eq!(&dec(encoded).unwrap(), raw, "decode {encoded:02x?}");
            assert!(encoded.len() <= max_encoded_len(raw.len()));
        }
    }

    #[test]
    fn round_trip_all_lengths_and_zero_patterns() {
        // Every length under Miri would take minutes: sample them there.
        let step = if cfg!(miri) { 37 } else { 1 };
        for len in (0..600usize).step_by(step) {
            for pattern in 0..4u32 {
                let raw: Vec<u8> = (0..len)
                    .map(|i| match pattern {
                        0 => 0,
                        1 => (i % 255 + 1) as u8,
                        2 => (i * 7 % 5) as u8,
                        _ => {
                            if i % 300 == 299 {
                                0
                            } else {
                                0xAA
                            }
                        }
                    })
                    .collect();
                let e = enc(&raw);
                assert!(!e.contains(&0));
                assert!(e.len() <= max_encoded_len(len));
                assert_eq!(dec(&e).unwrap(), raw);
            }
        }
    }

    #[test]
    fn small_buffers_are_errors() {
        let raw = [1u8, 2, 3, 0, 4];
        let need = enc(&raw).len();
        for cap in 0..need {
            let mut buf = std::vec![0u8; cap];
            assert_eq!(encode(&raw, &mut buf), Err(EncodeError::BufferTooSmall));
        }
        let e = enc(&raw);
        let mut small = [0u8; 4];
        assert_eq!(decode(&e, &mut small), Err(DecodeError::BufferTooSmall));
    }

    #[test]
    fn malformed_blocks_are_errors() {
        assert_eq!(dec(&[0x03, 0x11]), Err(DecodeError::Truncated));
        assert_eq!(dec(&[0x03, 0x00, 0x11]), Err(DecodeError::ZeroByte));
        assert_eq!(dec(&[0x00]), Err(DecodeError::ZeroByte));
    }
}
