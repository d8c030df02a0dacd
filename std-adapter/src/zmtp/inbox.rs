//! Received messages of one socket, stored back to back in one reusable byte buffer.
//!
//! Connections decode frames straight into the buffer's *open* message; a complete
//! message is committed (or discarded, e.g. by a subscriber's filter) in place, so
//! decoding allocates nothing once the buffers have grown to the socket's backlog.
//! A message becomes the caller's `Vec`s only when it is popped — one at a time, so
//! the allocator recycles the same few blocks instead of building thousands of small
//! ones while a 64 KiB read is decoded. A message cut by the end of a read is moved
//! aside into its connection's [`Carry`] and back before that connection's next read,
//! so the open message is always the last one and belongs to the connection reading.
//! The buffer holds only bytes that arrived: its growth is bounded by the socket's
//! receive HWM times the message size limit the decoder enforces.
//!
//! Messages that arrive whole as buffers of their own (an `inproc://` pipe's) are queued
//! as they are, in order with the others, and leave as the same buffers: nothing copied.

use std::collections::VecDeque;

/// Received messages (see the module docs).
#[derive(Debug, Default)]
pub struct Inbox {
    /// Frame bytes of the committed messages from `head` on, then the open message.
    bytes: Vec<u8>,
    /// Start of the first committed message's bytes.
    head: usize,
    /// Frame lengths of the committed messages, in order.
    lens: VecDeque<usize>,
    /// Committed messages: the connection's uid and the number of frames ([`OWNED`]: the
    /// next message of `owned`).
    msgs: VecDeque<(u64, usize)>,
    /// Messages queued as their own buffers, in order.
    owned: VecDeque<Vec<Vec<u8>>>,
    /// Where the open message starts in `bytes` (`bytes.len()` when none is open).
    open: usize,
    /// Lengths of the open message's finished frames.
    open_lens: Vec<usize>,
}

/// Frames at least this large that fill the whole buffer leave as the buffer itself.
const HAND_OVER_MIN: usize = 4096;

/// The frame count in `msgs` of a message held in `owned`.
const OWNED: usize = usize::MAX;

/// The frames of a committed message, borrowed (see [`Inbox::front`]).
#[derive(Clone)]
pub enum Frames<'a> {
    /// Frames stored back to back in the buffer: their lengths, the position of the next.
    Bytes {
        inbox: &'a Inbox,
        lens: std::iter::Take<std::collections::vec_deque::Iter<'a, usize>>,
        at: usize,
    },
    /// Frames held as buffers of their own.
    Owned(std::slice::Iter<'a, Vec<u8>>),
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Frames::Bytes { inbox, lens, at } => {
                let len = *lens.next()?;
                let end = (*at + len).min(inbox.open);
                let f = &inbox.bytes[(*at).min(end)..end];
                *at = end;
                Some(f)
            }
            Frames::Owned(it) => it.next().map(Vec::as_slice),
        }
    }
}

/// The part of a message that a connection had received when its read ended.
#[derive(Debug, Default)]
pub struct Carry {
    bytes: Vec<u8>,
    lens: Vec<usize>,
}

impl Carry {
    /// Bytes of memory the carry holds (allocated, used or not).
    pub fn held_bytes(&self) -> usize {
        self.bytes.capacity() + self.lens.capacity() * size_of::<usize>()
    }
}

impl Inbox {
    /// Committed messages.
    pub fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether no message is committed.
    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Bytes of memory the inbox holds (allocated, used or not).
    pub fn held_bytes(&self) -> usize {
        let word = size_of::<usize>();
        let owned: usize = (self.owned.iter().flatten())
            .map(|f| f.capacity() + size_of::<Vec<u8>>())
            .sum();
        self.bytes.capacity()
            + (self.lens.capacity() + self.open_lens.capacity()) * word
            + self.msgs.capacity() * size_of::<(u64, usize)>()
            + self.owned.capacity() * size_of::<Vec<Vec<u8>>>()
            + owned
    }

    /// Appends bytes to the open message's current frame.
    pub fn extend(&mut self, part: &[u8]) {
        self.bytes.extend_from_slice(part);
    }

    /// Ends the open message's current frame.
    pub fn end_frame(&mut self) {
        let done: usize = self.open_lens.iter().sum();
        self.open_lens.push(self.bytes.len() - self.open - done);
    }

    /// Frames of the open message (finished ones).
    pub fn open_frames(&self) -> usize {
        self.open_lens.len()
    }

    /// The open message's first finished frame (empty if none).
    pub fn open_first(&self) -> &[u8] {
        match self.open_lens.first() {
            Some(&n) => &self.bytes[self.open..self.open + n],
            None => &[],
        }
    }

    /// Commits the open message as coming from connection `uid`.
    pub fn commit(&mut self, uid: u64) {
        self.msgs.push_back((uid, self.open_lens.len()));
        self.lens.extend(self.open_lens.drain(..));
        self.open = self.bytes.len();
    }

    /// Drops the open message.
    pub fn discard(&mut self) {
        self.bytes.truncate(self.open);
        self.open_lens.clear();
    }

    /// Receives with `recv` straight into the open message's current frame (no copy
    /// through a read buffer), after making room for `room` more bytes; returns what
    /// `recv` returned. `recv` fills the buffer's spare capacity, which may exceed
    /// `room`: bytes beyond the frame go back out with [`take_tail`](Self::take_tail).
    pub fn recv_into(
        &mut self,
        room: usize,
        recv: impl FnOnce(&mut Vec<u8>) -> std::io::Result<usize>,
    ) -> std::io::Result<usize> {
        self.bytes.reserve(room);
        recv(&mut self.bytes)
    }

    /// Moves the last `n` bytes into `to` (replacing its contents).
    pub fn take_tail(&mut self, n: usize, to: &mut Vec<u8>) {
        let at = self.bytes.len().saturating_sub(n).max(self.open);
        to.clear();
        to.extend_from_slice(&self.bytes[at..]);
        self.bytes.truncate(at);
    }

    /// Moves the open message (if any) into `carry`, out of the way of other readers.
    /// When the buffer holds nothing else the two buffers trade places (no copy).
    pub fn stash(&mut self, carry: &mut Carry) {
        carry.bytes.clear();
        if self.open == 0 {
            std::mem::swap(&mut self.bytes, &mut carry.bytes);
        } else {
            carry.bytes.extend_from_slice(&self.bytes[self.open..]);
            self.bytes.truncate(self.open);
        }
        carry.lens.clear();
        carry.lens.append(&mut self.open_lens);
        self.compact();
    }

    /// Reopens a message [`stash`](Self::stash)ed into `carry`.
    pub fn unstash(&mut self, carry: &mut Carry) {
        if self.bytes.is_empty() {
            std::mem::swap(&mut self.bytes, &mut carry.bytes);
        } else {
            self.bytes.extend_from_slice(&carry.bytes);
        }
        self.open_lens.append(&mut carry.lens);
        carry.bytes.clear();
    }

    /// Commits a whole message at once.
    pub fn push(&mut self, uid: u64, frames: &[&[u8]]) {
        for f in frames {
            self.extend(f);
            self.end_frame();
        }
        self.commit(uid);
    }

    /// Commits a whole message that arrived as buffers of its own (kept as they are).
    pub fn push_owned(&mut self, uid: u64, frames: Vec<Vec<u8>>) {
        self.msgs.push_back((uid, OWNED));
        self.owned.push_back(frames);
    }

    /// The oldest committed message's uid and frames, borrowed (nothing is copied or
    /// allocated); [`drop_front`](Self::drop_front) then removes it.
    pub fn front(&self) -> Option<(u64, Frames<'_>)> {
        let &(uid, n) = self.msgs.front()?;
        let frames = if n == OWNED {
            Frames::Owned(self.owned.front()?.iter())
        } else {
            Frames::Bytes {
                inbox: self,
                lens: self.lens.iter().take(n),
                at: self.head,
            }
        };
        Some((uid, frames))
    }

    /// Removes the oldest committed message (see [`front`](Self::front)).
    pub fn drop_front(&mut self) {
        let Some((_, n)) = self.msgs.pop_front() else {
            return;
        };
        if n == OWNED {
            self.owned.pop_front();
            return;
        }
        for _ in 0..n {
            let len = self.lens.pop_front().unwrap_or(0);
            self.head = (self.head + len).min(self.open);
        }
        self.compact();
    }

    /// Takes the oldest committed message as the caller's frames.
    pub fn pop_front(&mut self) -> Option<(u64, Vec<Vec<u8>>)> {
        let (uid, n) = self.msgs.pop_front()?;
        if n == OWNED {
            return Some((uid, self.owned.pop_front().unwrap_or_default()));
        }
        let mut frames = Vec::with_capacity(n);
        for _ in 0..n {
            let len = self.lens.pop_front().unwrap_or(0);
            let end = (self.head + len).min(self.open);
            if self.head == 0
                && end == self.bytes.len()
                && len >= HAND_OVER_MIN
                && self.bytes.capacity() <= 2 * len
            {
                // A large frame that is all the buffer holds: hand the buffer over
                // instead of copying it (`end == len` here, so nothing else goes).
                frames.push(std::mem::take(&mut self.bytes));
                self.open = 0;
                continue;
            }
            frames.push(self.bytes[self.head..end].to_vec());
            self.head = end;
        }
        self.compact();
        Some((uid, frames))
    }

    /// Keeps the committed messages for which `keep(uid, first frame)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(u64, &[u8]) -> bool) {
        let mut kept = Inbox::default();
        while let Some(&(_, n)) = self.msgs.front() {
            let Some((uid, frames)) = self.pop_front() else {
                break;
            };
            if !keep(uid, frames.first().map_or(&[][..], Vec::as_slice)) {
                continue;
            }
            if n == OWNED {
                kept.push_owned(uid, frames);
            } else {
                let frames: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                kept.push(uid, &frames);
            }
        }
        let mut carry = Carry::default();
        self.stash(&mut carry);
        kept.unstash(&mut carry);
        *self = kept;
    }

    /// Reclaims the space of popped messages: all of it once none is left, else when
    /// it is most of the buffer.
    fn compact(&mut self) {
        if self.head == 0 {
            return;
        }
        if self.head == self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
            self.open = 0;
        } else if self.head >= 64 * 1024 && self.head * 2 >= self.bytes.len() {
            self.bytes.drain(..self.head);
            self.open -= self.head;
            self.head = 0;
        }
        if self.bytes.is_empty() && self.bytes.capacity() > 1 << 20 {
            self.bytes.shrink_to(64 * 1024);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_out_in_order_and_whole() {
        let mut inbox = Inbox::default();
        inbox.push(1, &[b"", b"body"]);
        inbox.extend(b"par");
        let mut carry = Carry::default();
        inbox.stash(&mut carry);
        inbox.push(2, &[b"other"]);
        inbox.unstash(&mut carry);
        inbox.extend(b"tial");
        inbox.end_frame();
        assert_eq!(inbox.open_first(), b"partial");
        inbox.commit(3);
        inbox.extend(b"dropped");
        inbox.end_frame();
        inbox.discard();
        assert_eq!(inbox.len(), 3);
        assert_eq!(inbox.pop_front(), Some((1, vec![vec![], b"body".to_vec()])));
        assert_eq!(inbox.pop_front(), Some((2, vec![b"other".to_vec()])));
        assert_eq!(inbox.pop_front(), Some((3, vec![b"partial".to_vec()])));
        assert_eq!(inbox.pop_front(), None);
        assert!(inbox.bytes.is_empty() && inbox.head == 0 && inbox.open == 0);
    }

    #[test]
    fn a_lone_large_frame_leaves_as_the_buffer_and_stashing_an_only_message_swaps() {
        let mut inbox = Inbox::default();
        let big = vec![7u8; HAND_OVER_MIN];
        // Stash and unstash of a message that is all the buffer holds, both ways.
        inbox.extend(&big[..100]);
        let mut carry = Carry::default();
        inbox.stash(&mut carry);
        assert!(inbox.bytes.is_empty() && carry.bytes.len() == 100);
        inbox.push(1, &[b"x"]);
        inbox.unstash(&mut carry);
        inbox.extend(&big[100..]);
        inbox.end_frame();
        inbox.commit(2);
        assert_eq!(inbox.pop_front(), Some((1, vec![b"x".to_vec()])));
        assert_eq!(inbox.pop_front(), Some((2, vec![big.clone()])));
        // A large frame alone in the buffer (after an empty one) takes the buffer along.
        let mut inbox = Inbox::default();
        inbox.push(3, &[b"", &big]);
        assert_eq!(inbox.pop_front(), Some((3, vec![vec![], big.clone()])));
        assert_eq!(inbox.bytes.capacity(), 0, "handed over, not copied");
        assert!(inbox.head == 0 && inbox.open == 0 && inbox.is_empty());
        // Received straight into the buffer; bytes beyond the frame come back out.
        let got = inbox.recv_into(10, |v| {
            v.extend_from_slice(b"framenext");
            Ok(9)
        });
        assert_eq!(got.unwrap(), 9);
        let mut tail = Vec::new();
        inbox.take_tail(4, &mut tail);
        assert_eq!(tail, b"next");
        inbox.end_frame();
        inbox.commit(4);
        assert_eq!(inbox.pop_front(), Some((4, vec![b"frame".to_vec()])));
    }

    #[test]
    fn front_borrows_the_oldest_message_and_drop_front_removes_it() {
        let mut inbox = Inbox::default();
        inbox.push(1, &[b"", b"body"]);
        inbox.push(2, &[b"x"]);
        inbox.extend(b"open");
        let (uid, frames) = inbox.front().unwrap();
        let frames: Vec<&[u8]> = frames.collect();
        assert_eq!((uid, frames), (1, vec![&b""[..], b"body"]));
        inbox.drop_front();
        {
            let (uid, mut frames) = inbox.front().unwrap();
            assert_eq!(
                (uid, frames.next(), frames.next()),
                (2, Some(&b"x"[..]), None)
            );
        }
        inbox.drop_front();
        assert!(inbox.front().is_none());
        inbox.end_frame();
        inbox.commit(3);
        assert_eq!(inbox.pop_front(), Some((3, vec![b"open".to_vec()])));
    }

    #[test]
    fn owned_messages_keep_their_place_and_leave_as_the_same_buffers() {
        let mut inbox = Inbox::default();
        inbox.push(1, &[b"copied"]);
        let frame = b"moved".to_vec();
        let at = frame.as_ptr();
        inbox.push_owned(2, vec![Vec::new(), frame]);
        inbox.push(3, &[b"x"]);
        inbox.push_owned(4, vec![b"dropped".to_vec()]);
        assert_eq!(inbox.len(), 4);
        assert!(inbox.held_bytes() >= 12);
        assert_eq!(inbox.pop_front(), Some((1, vec![b"copied".to_vec()])));
        let (uid, frames) = inbox.front().unwrap();
        assert_eq!((uid, frames.clone().count()), (2, 2));
        assert_eq!(frames.last(), Some(&b"moved"[..]));
        let (uid, frames) = inbox.pop_front().unwrap();
        assert_eq!((uid, frames[1].as_ptr()), (2, at), "no copy");
        inbox.retain(|uid, _| uid != 3);
        let (uid, mut frames) = inbox.front().unwrap();
        assert_eq!((uid, frames.next()), (4, Some(&b"dropped"[..])));
        inbox.drop_front();
        assert!(inbox.is_empty() && inbox.pop_front().is_none());
    }

    #[test]
    fn retain_keeps_order_and_the_open_message() {
        let mut inbox = Inbox::default();
        for (uid, topic) in [(1, &b"a1"[..]), (2, b"b1"), (1, b"a2")] {
            inbox.push(uid, &[topic]);
        }
        inbox.extend(b"open");
        inbox.retain(|uid, first| uid == 1 && first.starts_with(b"a"));
        inbox.end_frame();
        inbox.commit(4);
        let popped: Vec<_> = std::iter::from_fn(|| inbox.pop_front()).collect();
        assert_eq!(
            popped,
            vec![
                (1, vec![b"a1".to_vec()]),
                (1, vec![b"a2".to_vec()]),
                (4, vec![b"open".to_vec()])
            ]
        );
    }
}
