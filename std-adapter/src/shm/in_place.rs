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
//! The frame layout is `ringwire_core::frames` (8-byte header `len`, `more`, data padded to 8),
//! parsed by that module's one parser ([`Walk`]) fed with racy copies of the headers: every
//! length is bounds-checked against the message before use, and the number of frames is bounded
//! by the message length, so a torn or hostile slot gives an error or a discarded read, never a
//! panic.

use ringwire_core::frames::{FrameError, Walk};

use crate::error::Result;

/// A message in a broadcast slot, as seen by `Subscriber::recv_in_place`'s callback. Nothing is
/// copied out but what the callback asks for: the payload (last frame) through
/// [`copy_at`](Self::copy_at)/[`read_at`](Self::read_at), any frame through
/// [`copy_frame_at`](Self::copy_frame_at).
pub struct InPlace<'v> {
    copy: &'v dyn Fn(usize, &mut [u8]) -> usize,
    message_len: usize,
    frames: usize,
    payload_at: usize,
    payload_len: usize,
}

impl InPlace<'_> {
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
        copy_range(self.copy, self.payload_at, self.payload_len, offset, dst)
    }

    /// `N` payload bytes from `offset` on, or `None` if the payload ends before them.
    pub fn read_at<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        (self.copy_at(offset, &mut out) == N).then_some(out)
    }

    /// Length of frame `i` (0 is the topic frame), `None` past the last.
    pub fn frame_len(&self, i: usize) -> Option<usize> {
        self.frame(i).map(|(_, len)| len)
    }

    /// Copies bytes of frame `i` from `offset` on into `dst`; returns how many (0 past the
    /// frame's end or for a frame that does not exist). `copy_frame_at(0, 0, &mut buf)` reads
    /// the topic.
    pub fn copy_frame_at(&self, i: usize, offset: usize, dst: &mut [u8]) -> usize {
        match self.frame(i) {
            Some((at, len)) => copy_range(self.copy, at, len, offset, dst),
            None => 0,
        }
    }

    /// Offset and length of frame `i`, walking the headers again (they were validated when the
    /// view was made; a slot overwritten since may give other values, still bounds-checked, and
    /// the receive discards such a read).
    fn frame(&self, i: usize) -> Option<(usize, usize)> {
        if i + 1 == self.frames {
            return Some((self.payload_at, self.payload_len));
        }
        if i >= self.frames {
            return None;
        }
        let mut walk = Walk::new(self.message_len);
        for _ in 0..i {
            walk.next_with(|at, h| read_header(self.copy, at, h))?
                .ok()?;
        }
        let span = walk
            .next_with(|at, h| read_header(self.copy, at, h))?
            .ok()?;
        Some((span.at, span.len))
    }
}

fn copy_range(
    copy: &dyn Fn(usize, &mut [u8]) -> usize,
    at: usize,
    len: usize,
    offset: usize,
    dst: &mut [u8],
) -> usize {
    if offset >= len {
        return 0;
    }
    let n = dst.len().min(len - offset);
    copy(at + offset, &mut dst[..n])
}

/// Copies the header at `at` for the core parser; whether all 8 bytes were there.
fn read_header(copy: &dyn Fn(usize, &mut [u8]) -> usize, at: usize, h: &mut [u8; 8]) -> bool {
    copy(at, h) == h.len()
}

/// Parses the frames of a `len`-byte message read through `copy` (racy copies of message
/// ranges) with the core parser. Copies the first `topic_buf.len()` bytes of the first frame
/// (at most) into `topic_buf` and hands that prefix and the view to `with`.
pub(crate) fn parse<R>(
    copy: &dyn Fn(usize, &mut [u8]) -> usize,
    len: usize,
    topic_buf: &mut [u8],
    with: impl FnOnce(&[u8], InPlace<'_>) -> R,
) -> Result<R> {
    let mut walk = Walk::new(len);
    let mut topic_len = 0usize;
    let mut frames = 0usize;
    // The walk ends after the last frame or at the first error; each step consumes at least a
    // header, so it takes at most `len / 8` steps whatever the bytes say.
    while let Some(span) = walk.next_with(|at, h| read_header(copy, at, h)) {
        let span = span?;
        if frames == 0 {
            let n = span.len.min(topic_buf.len());
            topic_len = copy(span.at, &mut topic_buf[..n]);
        }
        frames += 1;
        if !span.more {
            return Ok(with(
                &topic_buf[..topic_len],
                InPlace {
                    copy,
                    message_len: len,
                    frames,
                    payload_at: span.at,
                    payload_len: span.len,
                },
            ));
        }
    }
    Err(FrameError::Truncated.into())
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
        let mut topic = [0u8; 4];
        parse(&copy, msg.len(), &mut topic, |prefix, view| {
            let mut first = vec![0u8; view.frame_len(0).unwrap()];
            view.copy_frame_at(0, 0, &mut first);
            assert!(
                first.starts_with(prefix),
                "the prefix is the first frame's start"
            );
            assert_eq!(prefix.len(), first.len().min(4));
            with(view)
        })
    }

    #[test]
    fn topic_payload_and_ranges() {
        let mut buf = [0u8; 128];
        let payload: Vec<u8> = (0..40u8).collect();
        let n = frames::encode(&[b"cam/left", b"meta", &payload], &mut buf).unwrap();
        view_of(&buf[..n], |v| {
            let mut topic = [0u8; 16];
            assert_eq!(v.copy_frame_at(0, 0, &mut topic), 8);
            assert_eq!(&topic[..8], b"cam/left");
            assert_eq!(v.frame_len(1), Some(4));
            assert_eq!(v.copy_frame_at(1, 2, &mut topic), 2);
            assert_eq!(&topic[..2], b"ta");
            assert_eq!(v.frame_len(3), None);
            assert_eq!(v.copy_frame_at(3, 0, &mut topic), 0);
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
            assert_eq!((v.len(), v.frame_count(), v.frame_len(0)), (4, 1, Some(4)));
            assert_eq!(v.read_at::<4>(0), Some(*b"solo"));
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
