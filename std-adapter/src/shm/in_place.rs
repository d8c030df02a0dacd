//! Reading a PUB/SUB message where it lies in the broadcast ring, without copying it out:
//! [`InPlace`], the view `Subscriber::recv_in_place` hands its callback.
//!
//! A broadcast slot can be overwritten by the publisher at any moment (it never waits for
//! subscribers), so nothing read from it is trusted until the seqlock check after the read
//! (`ringwire_core::ring::broadcast::Borrowed::finish`) says the slot still holds the same
//! message. The view therefore offers *copies of ranges* (`copy_at`, `read_at`) — word-wise
//! relaxed atomic loads, never a plain `&[u8]` the writer could change underneath — and the
//! receive discards the callback's result if the check fails. A reader that needs a header and a
//! region of interest of a 1 MiB image copies those bytes and leaves the rest in the ring.
//!
//! The frame layout is the one in `frames` (8-byte header `len`, `more`, data padded to 8),
//! parsed here with racy reads: every length is bounds-checked against the message before use,
//! and the number of frames is bounded by the message length, so a torn or hostile slot gives an
//! error or a discarded read, never a panic.

use super::frames::FRAME_HEADER;
use crate::error::{Error, Result};

/// A message in a broadcast slot, as seen by `Subscriber::recv_in_place`'s callback: its topic
/// (first frame, copied), and its payload (last frame) left in place for range copies.
pub struct InPlace<'v> {
    copy: &'v dyn Fn(usize, &mut [u8]) -> usize,
    topic: &'v [u8],
    frames: usize,
    payload_at: usize,
    payload_len: usize,
}

impl<'v> InPlace<'v> {
    /// The first frame (what subscriptions match), copied out of the slot.
    pub fn topic(&self) -> &'v [u8] {
        self.topic
    }

    /// How many frames the message has.
    pub fn frame_count(&self) -> usize {
        self.frames
    }

    /// Length of the payload (the last frame) in bytes.
    pub fn len(&self) -> usize {
        self.payload_len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.payload_len == 0
    }

    /// Copies payload bytes from `offset` on into `dst`; returns how many (fewer than
    /// `dst.len()` at the payload's end, 0 at or past it).
    pub fn copy_at(&self, offset: usize, dst: &mut [u8]) -> usize {
        if offset >= self.payload_len {
            return 0;
        }
        let n = dst.len().min(self.payload_len - offset);
        (self.copy)(self.payload_at + offset, &mut dst[..n])
    }

    /// `N` payload bytes from `offset` on, or `None` if the payload ends before them.
    pub fn read_at<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        (self.copy_at(offset, &mut out) == N).then_some(out)
    }
}

fn corrupt(what: &str) -> Error {
    Error::Protocol(format!("corrupt shm message: {what}"))
}

/// Parses the frames of a `len`-byte message read through `copy` (racy copies of message
/// ranges), copying the first frame into `topic_buf`, and hands the view to `with`.
pub(crate) fn parse<R>(
    copy: &dyn Fn(usize, &mut [u8]) -> usize,
    len: usize,
    topic_buf: &mut [u8],
    with: impl FnOnce(InPlace<'_>) -> R,
) -> Result<R> {
    let mut at = 0usize;
    let mut topic_len = 0usize;
    // Each frame takes at least its 8-byte header: never more frames than that.
    for frames in 0..len / FRAME_HEADER {
        let mut header = [0u8; FRAME_HEADER];
        if copy(at, &mut header) != FRAME_HEADER {
            return Err(corrupt("frame header truncated"));
        }
        let frame_len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let more = match u32::from_le_bytes([header[4], header[5], header[6], header[7]]) {
            0 => false,
            1 => true,
            _ => return Err(corrupt("bad MORE flag")),
        };
        let data = at + FRAME_HEADER;
        if frame_len > len - data {
            return Err(corrupt("frame length past the end of the slot"));
        }
        if frames == 0 {
            let dst = topic_buf
                .get_mut(..frame_len)
                .ok_or_else(|| corrupt("first frame larger than a slot"))?;
            topic_len = copy(data, dst);
        }
        if !more {
            if data + frame_len != len {
                return Err(corrupt("bytes after the last frame"));
            }
            return Ok(with(InPlace {
                copy,
                topic: &topic_buf[..topic_len],
                frames: frames + 1,
                payload_at: data,
                payload_len: frame_len,
            }));
        }
        at = data + frame_len.div_ceil(8) * 8;
        if at >= len {
            return Err(corrupt("frame header truncated"));
        }
    }
    Err(corrupt("frame header truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::frames;

    fn view_of<R>(msg: &[u8], with: impl FnOnce(InPlace<'_>) -> R) -> Result<R> {
        let copy = |off: usize, dst: &mut [u8]| {
            let n = dst.len().min(msg.len().saturating_sub(off));
            dst[..n].copy_from_slice(&msg[off..off + n]);
            n
        };
        let mut topic = vec![0u8; msg.len()];
        parse(&copy, msg.len(), &mut topic, with)
    }

    #[test]
    fn topic_payload_and_ranges() {
        let mut buf = [0u8; 128];
        let payload: Vec<u8> = (0..40u8).collect();
        let n = frames::encode(&[b"cam/left", b"meta", &payload], &mut buf).unwrap();
        view_of(&buf[..n], |v| {
            assert_eq!(v.topic(), b"cam/left");
            assert_eq!(v.frame_count(), 3);
            assert_eq!(v.len(), 40);
            assert_eq!(v.read_at::<4>(3), Some([3, 4, 5, 6]));
            assert_eq!(v.read_at::<4>(38), None);
            let mut tail = [0u8; 8];
            assert_eq!(v.copy_at(36, &mut tail), 4);
            assert_eq!(&tail[..4], &[36, 37, 38, 39]);
            assert_eq!(v.copy_at(40, &mut tail), 0);
        })
        .unwrap();
        // A one-frame message is its own topic and payload.
        let n = frames::encode(&[b"solo"], &mut buf).unwrap();
        view_of(&buf[..n], |v| {
            assert_eq!((v.topic(), v.len(), v.frame_count()), (&b"solo"[..], 4, 1));
        })
        .unwrap();
    }

    #[test]
    fn corrupt_messages_are_errors_and_arbitrary_bytes_never_panic() {
        let mut buf = [0u8; 64];
        let n = frames::encode(&[b"t", b"body"], &mut buf).unwrap();
        let mut bad = buf[..n].to_vec();
        bad[4] = 7; // MORE flag
        assert!(view_of(&bad, |_| ()).is_err());
        let mut bad = buf[..n].to_vec();
        bad[0] = 200; // first frame longer than the message
        assert!(view_of(&bad, |_| ()).is_err());
        assert!(view_of(&buf[..n - 1], |_| ()).is_err()); // last frame cut
        assert!(view_of(&[], |_| ()).is_err());
        let mut x = 0x2545_f491_u32;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if x.is_multiple_of(3) {
                        (x >> 8) as u8
                    } else {
                        (x % 4) as u8
                    }
                })
                .collect();
            let _ = view_of(&bytes, |v| v.read_at::<2>(0));
        }
    }
}
