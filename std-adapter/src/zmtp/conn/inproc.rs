//! The `inproc://` half of a connection: the pipe's handshake, writes and reads (see
//! `pipe.rs`); the rest of [`Conn`] serves both.

use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::zmtp::{ConnectionError, DecodeError};

use super::super::pipe::{self, Item};
use super::super::transport::Stream;
use super::{Conn, Incoming, PIPE_BATCH, Sink, Verdict};

impl Conn {
    /// The pipe of an `inproc://` connection.
    pub(super) fn pipe(&self) -> Option<&pipe::End> {
        match &self.stream {
            Stream::Pipe(end) => Some(end),
            _ => None,
        }
    }

    /// An `inproc://` connection's handshake, in place of ZMTP's greeting and READY: the
    /// peer's socket type (told when the pipe was made) is checked as a READY's would be;
    /// `Ok` holds whether this is a pipe (then it is ready, its routing id the peer's
    /// identity), `Err` why it must close.
    pub fn pipe_handshake(&mut self, ours: SocketType) -> Result<bool, String> {
        let Some(end) = self.pipe() else {
            return Ok(false);
        };
        let peer = end.peer.kind;
        if !ours.is_compatible(peer) {
            return Err(ConnectionError::IncompatibleSocketType { ours, peer }.to_string());
        }
        self.routing_id = end.peer.identity.clone();
        self.ready = true;
        Ok(true)
    }

    /// Asks a pipe's peer to wake this socket when it takes messages (a send found no
    /// room); nothing for a byte stream, whose writability the pump watches.
    pub fn want_room(&self) {
        if let Some(end) = self.pipe() {
            end.want_room();
        }
    }

    /// Whether a pipe has a full batch queued (it then goes at once, corked or not, so a
    /// busy reader is fed while the burst goes on); `None`: not a pipe.
    pub fn pipe_batch_full(&self) -> Option<bool> {
        self.pipe().map(|_| self.outbox.len() >= PIPE_BATCH)
    }

    /// Queues `item` for the pipe ([`flush`](Self::flush) sends it).
    pub(super) fn push(&mut self, item: Item) {
        self.outbox_bytes += item.size();
        self.outbox.push(item);
    }

    /// Takes what the pipe's peer sent (at most `out.room` messages, and
    /// [`PIPE_BATCH`]); returns whether anything came (an item, the peer's close).
    pub(super) fn read_pipe(&mut self, out: &mut Sink<'_>) -> bool {
        let Stream::Pipe(end) = &self.stream else {
            return false;
        };
        let (kind, uid, limits) = (self.kind, self.uid, self.limits);
        let mut too_large = None;
        let taken = end.take(out.room.clamp(1, PIPE_BATCH), |item| match item {
            Item::Message(_) if too_large.is_some() => {}
            Item::Message(frames) => {
                if let Err(e) = limits.check_message(frames.iter().map(|f| f.len() as u64)) {
                    too_large = Some(e);
                    return;
                }
                let first = frames.first().map_or(&[][..], Vec::as_slice);
                match Verdict::of(kind, out.filter, frames.len(), first) {
                    Verdict::Keep => out.inbox.push_owned(uid, frames),
                    Verdict::Drop => {}
                    Verdict::Subscribe => out.out.push(Incoming::Subscribe(first[1..].to_vec())),
                    Verdict::Cancel => out.out.push(Incoming::Cancel(first[1..].to_vec())),
                }
            }
            Item::Subscribe(p) => out.out.push(Incoming::Subscribe(p)),
            Item::Cancel(p) => out.out.push(Incoming::Cancel(p)),
        });
        if let Some(e) = too_large {
            if let DecodeError::FrameTooLarge(size) = e {
                self.too_large = Some(size);
            }
            self.dead = Some(ConnectionError::Decode(e).to_string());
        } else if taken.closed {
            self.dead
                .get_or_insert_with(|| "peer closed the connection".into());
        }
        taken.items > 0 || taken.closed
    }
}
