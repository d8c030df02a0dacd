//! How a multipart message is laid out in one ring slot: `ringwire_core::frames` (the one
//! parser and encoder, shared with firmware; see `docs/shm-transport.md`), with errors in the
//! std adapter's terms.

use ringwire_core::frames as layout;

use crate::error::Result;

/// Bytes of header before each frame's data.
pub const FRAME_HEADER: usize = layout::HEADER;

/// Writes the 8-byte header of a frame into a slot the caller has sized: `out` holds at least
/// [`FRAME_HEADER`] bytes and `len` is at most the slot size (a `u32`).
pub fn write_header(out: &mut [u8], len: usize, more: bool) {
    debug_assert!(out.len() >= FRAME_HEADER && u32::try_from(len).is_ok());
    out[..FRAME_HEADER].copy_from_slice(&layout::header(len as u32, more));
}

/// Encodes `frames` into `out`; returns the bytes used, or `TooLarge` if `out` is too small.
pub fn encode(frames: &[&[u8]], out: &mut [u8]) -> Result<usize> {
    Ok(layout::encode(frames, out)?)
}

/// The first frame (the topic of a PUB/SUB message).
pub fn first(payload: &[u8]) -> Result<&[u8]> {
    Ok(layout::first(payload)?)
}

/// All frames, copied out.
pub fn to_message(payload: &[u8]) -> Result<crate::Message> {
    let mut msg = crate::Message::new();
    for f in layout::frames(payload) {
        msg.push(f?);
    }
    Ok(msg)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::{Error, ProtocolError};
    use ringwire_core::frames::FrameError;

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
    fn errors_are_typed() {
        let mut out = [0u8; 10];
        assert!(matches!(
            encode(&[b"abc"], &mut out),
            Err(Error::TooLarge {
                size: 11,
                limit: 10
            })
        ));
        assert!(matches!(encode(&[], &mut out), Err(Error::State(_))));
        let n = encode(&[b"t", b"body"], &mut [0u8; 32]).unwrap();
        assert_eq!(n, 28);
        let err = to_message(&[1, 0, 0, 0, 2, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Protocol(ProtocolError::Frame(FrameError::BadMore))
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "protocol error: corrupt shm message: bad MORE flag"
        );
        assert!(std::error::Error::source(&err).is_some());
    }
}
