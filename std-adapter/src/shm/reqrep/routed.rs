//! The two ends of the REQ/REP client-channel table without the lock-step rule, for the broker
//! over shm (`ringwire::broker`): [`RouterEnd`] holds the server side of every channel, like a
//! ZeroMQ ROUTER (it receives from any channel with the sender's address, and answers any of
//! them later, in any order); [`DealerEnd`] holds one channel's client side, like a DEALER
//! (it sends and receives at any time). Both are the same rings, claims and waits as
//! [`Replier`](super::Replier) and [`Requester`](super::Requester): a lock-step `Requester`
//! talks to a `RouterEnd` unchanged (the router echoes each request's id), so a plain shm
//! requester is a broker client.

use std::time::Duration;

use super::super::recv::Wait;
use super::{Side, Socket, frames};
use crate::Message;
use crate::error::{Error, Result};
use crate::shm::options::{FullPolicy, ShmOptions};

/// Where a message read by a [`RouterEnd`] came from: the client channel, the process that
/// held it then, and the request id it carried (a reply must echo it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct From {
    pub(crate) channel: usize,
    pub(crate) owner: u32,
    pub(crate) id: u64,
}

/// The server side of every client channel, answering out of order. Sends never wait: a
/// reply to a channel whose ring is full, or whose owner changed, is dropped and counted.
pub(crate) struct RouterEnd {
    socket: Socket,
}

impl RouterEnd {
    /// Creates `shm://name` (reclaiming a dead creator's segment) with `options`.
    pub(crate) fn bind(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let options = ShmOptions {
            full: FullPolicy::Error,
            ..options
        };
        Socket::bind(endpoint, options, Side::Replier).map(|socket| Self { socket })
    }

    /// The next message of any channel, without waiting (`Error::WouldBlock` if none).
    pub(crate) fn try_recv(&mut self) -> Result<(From, Message)> {
        let (id, message) = self
            .socket
            .recv(Wait::Try, &|_| true, 0, |id, m| Ok((id, m.to_message())))?;
        let (channel, owner) = self.socket.served;
        Ok((From { channel, owner, id }, message))
    }

    /// Sends `parts` to `to`'s channel with its request id. `Ok(false)`: dropped, because the
    /// channel changed hands since `to` was read or its ring is full (its owner does not read).
    pub(crate) fn send_to(&mut self, to: From, parts: &[&[u8]]) -> Result<bool> {
        let before = self.socket.dropped;
        match self.socket.send(to.channel, to.id, Some(to.owner), &|buf| {
            frames::encode(parts, buf)
        }) {
            Ok(()) => Ok(self.socket.dropped == before),
            Err(Error::WouldBlock) => {
                self.socket.dropped += 1;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Each channel's current holder (the owner id of its request ring's producer claim; 0:
    /// free), in channel order.
    pub(crate) fn owners(&self) -> Vec<u32> {
        self.socket
            .cell
            .borrow_owner()
            .channels()
            .map(|ch| ch.req.segment().writer_owner())
            .collect()
    }

    /// Whether channel `channel` was given back by its holder: both of its client-side claims
    /// are free. A newcomer taking over a dead holder's channel frees the request ring's
    /// claim for a moment too, but it claims that ring before it frees the reply ring's, so
    /// the reply ring's claim seen free (an Acquire load) and the request ring's still free
    /// after it means nobody is taking the channel over.
    pub(crate) fn given_back(&self, channel: usize) -> bool {
        let rings = self.socket.cell.borrow_owner();
        let Some(ch) = rings.channels().nth(channel) else {
            return false;
        };
        ch.req.segment().writer_owner() == 0
            && ch.rep.consumer_owner() == 0
            && ch.req.segment().writer_owner() == 0
    }

    /// Whether the process of owner id `owner` may be alive (false only when certainly gone).
    pub(crate) fn alive(&self, owner: u32) -> bool {
        self.socket.alive(owner)
    }

    /// Messages dropped so far: replies to gone or full channels.
    pub(crate) fn dropped(&self) -> u64 {
        self.socket.dropped
    }

    /// The endpoint, `shm://name`.
    pub(crate) fn endpoint(&self) -> String {
        format!("shm://{}", self.socket.name)
    }
}

/// One channel's client side, sending and receiving at any time. Its sends carry increasing
/// ids; it accepts whatever the server sends.
pub(crate) struct DealerEnd {
    socket: Socket,
    next_id: u64,
}

impl DealerEnd {
    /// Opens `shm://name` and claims a free channel.
    pub(crate) fn connect(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Socket::connect(endpoint, options, Side::Requester).map(|socket| Self {
            socket,
            next_id: super::id_base(),
        })
    }

    /// Sends `parts`, waiting for room as the options' full policy says.
    pub(crate) fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        self.socket
            .send(0, id, None, &|buf| frames::encode(parts, buf))
    }

    /// Receives the next message, waiting up to `timeout`. `Error::Disconnected` once the
    /// server's process is gone (checked every liveness interval while waiting).
    pub(crate) fn recv_multipart_timeout(&mut self, timeout: Duration) -> Result<Message> {
        let peer = self.socket.peer();
        self.socket
            .recv(Wait::timeout(timeout), &|_| true, peer, |_, m| {
                Ok(m.to_message())
            })
    }
}

impl super::super::poller::Pollable for RouterEnd {
    fn readable(&self) -> bool {
        self.socket.readable()
    }
    fn poll_handle(&self) -> super::super::poller::PollHandle<'_> {
        self.socket.poll_handle()
    }
}

impl crate::Pollable for RouterEnd {
    fn source(&self) -> crate::poller::Source<'_> {
        crate::poller::Source::shm(self)
    }
}
