//! The socket types: thin pattern logic (ringwire-core's state machines) over [`Engine`].

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::fd::OwnedFd;
use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::pattern::req::{RepState, ReqState, split_envelope};
use ringwire_core::pattern::socket_type::SocketType;

use super::builder::Builder;
use super::driver::Driven;
use super::engine::Engine;
use super::options::{SocketEvent, Stats};
use super::outgoing::Outgoing;
use super::poller::Pollable;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::message::Message;

pub(super) mod into;
use into::{keep_envelope, with_encoded};

fn decode<T: DeserializeOwned>(frames: &[Vec<u8>]) -> Result<T> {
    let last = frames.last().map_or(&[][..], Vec::as_slice);
    Ok(ringwire_core::msg::decode(last)?)
}

pub(super) mod sealed {
    /// Construction hooks only this crate implements.
    pub trait Sealed: Sized {
        fn from_engine(engine: super::Engine) -> Self;
        fn with_engine<R>(&mut self, f: impl FnOnce(&mut super::Engine) -> R) -> R;
    }
}

/// A ZMTP socket type that [`Builder`] can construct (sealed).
pub trait ZmtpSocket: sealed::Sealed {
    /// The ZeroMQ socket type.
    const TYPE: SocketType;

    /// A stream of connection events, as the socket's own `monitor` (for code generic over
    /// socket types).
    fn events(&mut self) -> mpsc::Receiver<SocketEvent> {
        self.with_engine(|e| e.monitor())
    }

    /// Publishes the socket's connection events at `endpoint`, as the socket's own
    /// `publish_events`.
    fn publish_events_at(&mut self, endpoint: &str) -> Result<crate::zmtp::events::EventPublisher> {
        crate::zmtp::events::EventPublisher::start(self.events(), endpoint)
    }
}

macro_rules! common {
    ($name:ident, $kind:expr) => {
        impl ZmtpSocket for $name {
            const TYPE: SocketType = $kind;
        }

        impl sealed::Sealed for $name {
            fn from_engine(engine: Engine) -> Self {
                $name::wrap(Driven::new(engine))
            }
            fn with_engine<R>(&mut self, f: impl FnOnce(&mut Engine) -> R) -> R {
                f(&mut self.h.lock())
            }
        }

        impl $name {
            /// A socket bound to `ep` (`tcp://*:5555`, `tcp://127.0.0.1:0`, `ipc:///tmp/x.sock`).
            pub fn bind(ep: &str) -> Result<Self> {
                Builder::<Self>::new().bind(ep)
            }

            /// A socket connecting to `ep`; a peer that is not up yet is retried with back-off.
            pub fn connect(ep: &str) -> Result<Self> {
                Builder::<Self>::new().connect(ep)
            }

            /// A builder for options.
            pub fn builder() -> Builder<Self> {
                Builder::new()
            }

            /// Also binds `ep`; returns the endpoint actually bound (port 0 resolved).
            pub fn add_bind(&mut self, ep: &str) -> Result<Endpoint> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.bind(ep)
            }

            /// Also connects to `ep`.
            pub fn add_connect(&mut self, ep: &str) -> Result<()> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.connect(ep)
            }

            /// The first bound endpoint (port 0 resolved), else the first connected one.
            pub fn endpoint(&self) -> String {
                self.h.lock().first_endpoint()
            }

            /// The bound endpoints, with port 0 resolved to the real port.
            pub fn bound_endpoints(&self) -> Vec<Endpoint> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.bound()
            }

            /// A stream of connection events (from now on); each call gets a stream of its
            /// own, and a dropped receiver stops receiving.
            pub fn monitor(&mut self) -> mpsc::Receiver<SocketEvent> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.monitor()
            }

            /// Publishes this socket's connection events (from now on) on a PUB socket bound
            /// at `endpoint`, for another process to watch (`ringwire monitor EP`); the
            /// message format is in [`events`](crate::zmtp::events). Keep the returned handle:
            /// dropping it stops the publishing.
            pub fn publish_events(
                &mut self,
                endpoint: &str,
            ) -> Result<crate::zmtp::events::EventPublisher> {
                crate::zmtp::events::EventPublisher::start(self.monitor(), endpoint)
            }

            /// Counters of dropped messages and closed connections.
            pub fn stats(&self) -> Stats {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.stats
            }

            /// Bytes of memory the socket holds for its peers: per-connection state
            /// and buffers (read, write, partial messages), subscription tables and
            /// received messages not yet taken — allocated bytes, used or not. What a
            /// hostile peer can make the socket hold shows here (see `docs/zmtp.md`,
            /// "Memory").
            pub fn held_bytes(&self) -> usize {
                self.h.lock().held_bytes()
            }

            /// Connections currently open (handshaking or ready).
            pub fn connection_count(&self) -> usize {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.active_conns()
            }

            /// Writes every queued message and waits until the kernel has taken all of
            /// it (a peer still handshaking is waited for). Gives [`Error::Timeout`] when
            /// the send timeout (none by default) passes first: a peer that stopped reading
            /// holds the rest. Not needed for delivery: the idle-time driver writes what a
            /// quiet socket left behind; `flush` is for knowing it has left.
            pub fn flush(&mut self) -> Result<()> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.flush_blocking()
            }

            /// Makes progress without blocking: accepts, handshakes, reads, writes, timers.
            /// A poller calls this when one of [`fds`](Self::fds) is ready.
            pub fn process(&mut self) -> Result<()> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                e.pump(Some(Instant::now()))
            }

            /// Duplicates of the OS descriptors to wait on (readable) before calling
            /// [`process`](Self::process) and a `try_recv`. They change as peers come and go:
            /// ask again after each wait. [`has_message`](Self::has_message) tells whether a
            /// message is already queued (then there is no need to wait).
            pub fn fds(&self) -> Result<Vec<OwnedFd>> {
                self.h.lock().fds()
            }

            /// Whether a received message is queued (a `try_recv` would succeed).
            pub fn has_message(&self) -> bool {
                !self.h.lock().inbox.is_empty()
            }

            /// Waits until every connection is ready and `n` of them exist, or `timeout`.
            /// Handy before a first publish: a PUB drops messages no subscriber asked for.
            pub fn wait_for_peers(&mut self, n: usize, timeout: Duration) -> Result<()> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                let ok = e.wait(Wait::For(timeout).deadline(), |e| {
                    e.conns.iter().flatten().filter(|c| c.ready).count() >= n
                })?;
                if ok { Ok(()) } else { Err(Error::Timeout) }
            }
        }
    };
}

macro_rules! recv_api {
    ($name:ident) => {
        impl Pollable for $name {
            fn readable(&self) -> Result<bool> {
                let mut e = self.h.lock();
                if e.inbox.is_empty() {
                    e.pump(Some(Instant::now()))?;
                }
                Ok(!e.inbox.is_empty())
            }

            fn poll_fds(&self) -> Result<Vec<OwnedFd>> {
                self.h.lock().fds()
            }
        }

        impl $name {
            /// Receives a message and decodes its last frame as postcard `T`; blocks.
            pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                decode(&self.recv_frames(Wait::Forever)?)
            }

            /// Like [`recv`](Self::recv) but gives up with [`Error::Timeout`].
            pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
                decode(&self.recv_frames(Wait::For(timeout))?)
            }

            /// Like [`recv`](Self::recv) but returns [`Error::WouldBlock`] at once if nothing is queued.
            pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                decode(&self.try_frames()?)
            }

            /// Receives a message and returns its last frame; blocks.
            pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
                Ok(self.recv_frames(Wait::Forever)?.pop().unwrap_or_default())
            }

            /// [`recv_bytes`](Self::recv_bytes) with a timeout.
            pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
                Ok(self
                    .recv_frames(Wait::For(timeout))?
                    .pop()
                    .unwrap_or_default())
            }

            /// [`recv_bytes`](Self::recv_bytes) without blocking.
            pub fn try_recv_bytes(&mut self) -> Result<Vec<u8>> {
                Ok(self.try_frames()?.pop().unwrap_or_default())
            }

            /// Receives a whole multipart message; blocks.
            pub fn recv_multipart(&mut self) -> Result<Message> {
                Ok(Message::from_frames(self.recv_frames(Wait::Forever)?))
            }

            /// [`recv_multipart`](Self::recv_multipart) with a timeout.
            pub fn recv_multipart_timeout(&mut self, timeout: Duration) -> Result<Message> {
                Ok(Message::from_frames(self.recv_frames(Wait::For(timeout))?))
            }

            /// [`recv_multipart`](Self::recv_multipart) without blocking.
            pub fn try_recv_multipart(&mut self) -> Result<Message> {
                Ok(Message::from_frames(self.try_frames()?))
            }

            /// Receives a message and copies its last frame (what
            /// [`recv_bytes`](Self::recv_bytes) returns) into `buf`, returning its
            /// length; blocks. Nothing is allocated per message. A frame larger than
            /// `buf` gives [`Error::TooLarge`] and the message stays queued (receive it
            /// with a larger buffer or [`recv_bytes`](Self::recv_bytes)).
            pub fn recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
                self.recv_last_into(Wait::Forever, buf)
            }

            /// [`recv_into`](Self::recv_into) with a timeout.
            pub fn recv_into_timeout(
                &mut self,
                buf: &mut [u8],
                timeout: Duration,
            ) -> Result<usize> {
                self.recv_last_into(Wait::For(timeout), buf)
            }

            /// [`recv_into`](Self::recv_into) without blocking ([`Error::WouldBlock`]).
            pub fn try_recv_into(&mut self, buf: &mut [u8]) -> Result<usize> {
                match self.recv_last_into(Wait::Now, buf) {
                    Err(Error::Timeout) => Err(Error::WouldBlock),
                    r => r,
                }
            }

            fn try_frames(&mut self) -> Result<Vec<Vec<u8>>> {
                match self.recv_frames(Wait::Now) {
                    Err(Error::Timeout) => Err(Error::WouldBlock),
                    r => r,
                }
            }
        }
    };
}

macro_rules! send_api {
    ($name:ident) => {
        impl $name {
            /// Sends `value` as one postcard-encoded frame (encoded into a reused
            /// buffer: no allocation per message).
            pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                with_encoded(value, |bytes| self.send_frames(Outgoing::Slices(&[bytes])))
            }

            /// Sends one frame of raw bytes.
            pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
                self.send_frames(Outgoing::Slices(&[bytes]))
            }

            /// Sends a multipart message.
            pub fn send_multipart(&mut self, frames: &[&[u8]]) -> Result<()> {
                if frames.is_empty() {
                    return Err(Error::State("a message needs at least one frame"));
                }
                self.send_frames(Outgoing::Slices(frames))
            }

            /// [`send_bytes`](Self::send_bytes), giving the buffer up: over
            /// `inproc://` the receiver gets this very buffer (nothing is copied or
            /// encoded); over `tcp://` and `ipc://` it is written like a borrowed one.
            pub fn send_bytes_owned(&mut self, bytes: Vec<u8>) -> Result<()> {
                self.send_frames(Outgoing::Owned(vec![bytes]))
            }

            /// [`send_multipart`](Self::send_multipart), giving the buffers up (see
            /// [`send_bytes_owned`](Self::send_bytes_owned)).
            pub fn send_multipart_owned(&mut self, frames: Vec<Vec<u8>>) -> Result<()> {
                if frames.is_empty() {
                    return Err(Error::State("a message needs at least one frame"));
                }
                self.send_frames(Outgoing::Owned(frames))
            }
        }
    };
}

/// Pops the next message from the inbox, pumping until one arrives or the deadline.
fn next_message(e: &mut Engine, wait: Wait) -> Result<(u64, Vec<Vec<u8>>)> {
    // Fast path: a queued message needs neither a clock read nor a poll.
    if let Some(m) = e.inbox.pop_front() {
        return Ok(m);
    }
    if e.wait(wait.deadline(), |e| !e.inbox.is_empty())? {
        e.inbox.pop_front().ok_or(Error::Timeout)
    } else {
        Err(Error::Timeout)
    }
}

/// How long a receive may wait.
#[derive(Clone, Copy)]
enum Wait {
    Forever,
    /// At most this long; zero is one look without waiting, and a duration too long to
    /// represent as an instant is `Forever`.
    For(Duration),
    Now,
}

impl Wait {
    fn deadline(self) -> Option<Instant> {
        match self {
            Wait::Forever => None,
            Wait::For(d) => Instant::now().checked_add(d),
            Wait::Now => Some(Instant::now()),
        }
    }
}

/// PUB: sends each message to every peer subscribed to a prefix of its first frame.
pub struct Pub {
    h: Driven,
    ids: Vec<usize>,
}

impl Pub {
    fn wrap(h: Driven) -> Self {
        Pub { h, ids: Vec::new() }
    }

    /// Waits until `n` peers have subscribed to something (or `timeout` passes:
    /// [`Error::Timeout`]). Messages published before a subscription arrives are not
    /// delivered to that peer, as with every ZeroMQ publisher.
    pub fn wait_for_subscribers(&mut self, n: usize, timeout: Duration) -> Result<()> {
        let mut guard = self.h.lock();
        let ok = guard.wait(Wait::For(timeout).deadline(), |e| {
            let subscribed = e.conns.iter().flatten();
            subscribed
                .filter(|c| c.ready && c.subs.as_ref().is_some_and(|s| !s.is_empty()))
                .count()
                >= n
        })?;
        if ok { Ok(()) } else { Err(Error::Timeout) }
    }

    /// Sends `[topic, postcard(value)]`.
    pub fn send_on<T: Serialize + ?Sized>(&mut self, topic: &str, value: &T) -> Result<()> {
        with_encoded(value, |bytes| {
            self.send_frames(Outgoing::Slices(&[topic.as_bytes(), bytes]))
        })
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.begin_send()?;
        e.publish(&mut self.ids, frames)
    }
}
common!(Pub, SocketType::Pub);
send_api!(Pub);

/// SUB: receives messages whose first frame starts with a subscribed prefix.
pub struct Sub {
    h: Driven,
}

impl Sub {
    fn wrap(h: Driven) -> Self {
        Sub { h }
    }

    /// Subscribes to a topic prefix (the empty prefix receives everything).
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        let limit = e.opts.max_subscription_bytes;
        let subs = e
            .own_subs
            .as_mut()
            .ok_or(Error::State("not a subscriber"))?;
        let new = subs.subscribe(prefix).map_err(|_| Error::TooLarge {
            size: prefix.len(),
            limit,
        })?;
        if new {
            e.broadcast_subscription(true, prefix);
        }
        Ok(())
    }

    /// Cancels one [`subscribe`](Self::subscribe) of `prefix`.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        let subs = e
            .own_subs
            .as_mut()
            .ok_or(Error::State("not a subscriber"))?;
        if subs.cancel(prefix) {
            e.broadcast_subscription(false, prefix);
            let subs = e.own_subs.as_ref();
            e.inbox
                .retain(|_, first| subs.is_some_and(|s| s.matches(first)));
        }
        Ok(())
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        next_message(e, wait).map(|(_, f)| f)
    }
}
common!(Sub, SocketType::Sub);
recv_api!(Sub);

/// REQ: strict request/reply with one outstanding request.
pub struct Req {
    h: Driven,
    state: ReqState,
    target: u64,
}

impl Req {
    fn wrap(h: Driven) -> Self {
        Req {
            h,
            state: ReqState::default(),
            target: 0,
        }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        self.state.on_send()?;
        match e.send_round_robin(&[b""], frames) {
            Ok(slot) => {
                self.target = e.conns[slot].as_ref().map_or(0, |c| c.uid);
                Ok(())
            }
            Err(e) => {
                self.state.on_abandon();
                Err(e)
            }
        }
    }

    /// Waits until the inbox's oldest message is the reply to our request (from the target
    /// connection, starting with the empty delimiter), dropping anything else; both
    /// receive forms (`recv_frames`, `recv_last_into`) then take it.
    fn wait_reply(state: &mut ReqState, target: u64, e: &mut Engine, wait: Wait) -> Result<()> {
        state.on_recv_start()?;
        let deadline = wait.deadline();
        loop {
            // Only the target's reply ends the wait: it may sleep on that connection.
            e.focus = Some(target);
            let found = e.wait(deadline, |e| {
                !e.inbox.is_empty() || e.slot_of(target).is_none()
            });
            e.focus = None;
            if !found? {
                return Err(Error::Timeout);
            }
            let ours = e.inbox.front().map(|(uid, mut frames)| {
                uid == target && frames.next().is_some_and(<[u8]>::is_empty)
            });
            match ours {
                None => {
                    // The connection carrying the request died: the request is lost.
                    state.on_abandon();
                    return Err(Error::Disconnected);
                }
                Some(false) => e.inbox.drop_front(),
                Some(true) => return Ok(()),
            }
        }
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        Self::wait_reply(&mut self.state, self.target, e, wait)?;
        let (_, mut frames) = e.inbox.pop_front().ok_or(Error::Disconnected)?;
        frames.remove(0);
        self.state.on_reply();
        Ok(frames)
    }

    /// Sends `request` and waits up to `timeout` for the reply. On timeout the request is
    /// abandoned and its connection closed and reopened (the Lazy Pirate recipe), so a
    /// late reply can never be mistaken for the next one.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        timeout: Duration,
    ) -> Result<A> {
        self.send(request)?;
        match self.recv_frames(Wait::For(timeout)) {
            Ok(frames) => decode(&frames),
            Err(e) => {
                self.abandon();
                Err(e)
            }
        }
    }

    /// Gives up the outstanding request (closing its connection, which reconnects).
    pub fn abandon(&mut self) {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        if self.state.is_waiting() {
            self.state.on_abandon();
            if let Some(slot) = e.slot_of(self.target)
                && let Some(c) = e.conns[slot].as_mut()
            {
                c.dead = Some("request abandoned".into());
                e.touch(slot);
            }
        }
    }
}
common!(Req, SocketType::Req);
send_api!(Req);
recv_api!(Req);

/// REP: receives a request, then must send its reply (routed back to the requester).
pub struct Rep {
    h: Driven,
    /// The lock-step state; its token is the connection the request came from.
    state: RepState,
    /// The request's envelope (routing ids and the delimiter), frame after frame, and
    /// the frames' lengths: put back in front of the reply. Reused, never reallocated
    /// once grown.
    envelope: Vec<u8>,
    envelope_lens: Vec<usize>,
}

impl Rep {
    fn wrap(h: Driven) -> Self {
        Rep {
            h,
            state: RepState::default(),
            envelope: Vec::new(),
            envelope_lens: Vec::new(),
        }
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        self.state.on_recv_start()?;
        loop {
            let (uid, mut frames) = next_message(e, wait)?;
            // Malformed requests (no delimiter) are dropped, as libzmq does.
            let Some(n) = split_envelope(&frames) else {
                continue;
            };
            // The envelope is kept; `frames` becomes the body.
            let env = frames[..n].iter().map(Vec::as_slice);
            keep_envelope(&mut self.envelope, &mut self.envelope_lens, env);
            frames.drain(..n);
            self.state.on_request(uid);
            return Ok(frames);
        }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        let reply_to = self.state.on_send()?;
        if let Err(err) = e.begin_send() {
            // Nothing went out: the reply is still owed.
            self.state.on_send_failed(reply_to);
            return Err(err);
        }
        let Some(slot) = e.slot_of(reply_to) else {
            // The requester went away; its reply has nowhere to go (libzmq drops it too).
            return Ok(());
        };
        // The usual envelope (a few routing ids and the delimiter) fits on the stack.
        let mut short: [&[u8]; 8] = [&[]; 8];
        let mut long: Vec<&[u8]> = Vec::new();
        let count = self.envelope_lens.len();
        let mut at = 0;
        let frames_of = self.envelope_lens.iter().map(|&len| {
            let f = &self.envelope[at..at + len];
            at += len;
            f
        });
        let env = if count <= short.len() {
            for (to, from) in short.iter_mut().zip(frames_of) {
                *to = from;
            }
            &short[..count]
        } else {
            long.extend(frames_of);
            &long[..]
        };
        e.send_reply(slot, env, frames);
        Ok(())
    }
}
common!(Rep, SocketType::Rep);
send_api!(Rep);
recv_api!(Rep);

/// DEALER: sends round-robin, receives fair-queued; no envelope handling.
pub struct Dealer {
    h: Driven,
}

impl Dealer {
    fn wrap(h: Driven) -> Self {
        Dealer { h }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.send_round_robin(&[], frames).map(|_| ())
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        next_message(e, wait).map(|(_, f)| f)
    }
}
common!(Dealer, SocketType::Dealer);
send_api!(Dealer);
recv_api!(Dealer);

/// ROUTER: received messages start with the sender's routing id; sent messages are
/// routed by their first frame (unknown ids are dropped and counted).
pub struct Router {
    h: Driven,
}

impl Router {
    fn wrap(h: Driven) -> Self {
        Router { h }
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        loop {
            let (uid, mut frames) = next_message(e, wait)?;
            let Some(slot) = e.slot_of(uid) else {
                continue;
            };
            let id = e.conns[slot]
                .as_ref()
                .map(|c| c.routing_id.clone())
                .unwrap_or_default();
            frames.insert(0, id);
            return Ok(frames);
        }
    }

    /// Sends `frames[1..]` to the peer whose routing id is `frames[0]`.
    pub fn send_multipart(&mut self, frames: &[&[u8]]) -> Result<()> {
        let [id, rest @ ..] = frames else {
            return Err(Error::State("a ROUTER message starts with a routing id"));
        };
        self.send_routed(id, Outgoing::Slices(rest))
    }

    /// [`send_multipart`](Self::send_multipart), giving the buffers up: over
    /// `inproc://` the peer receives the frames after the routing id as they are (not
    /// copied); over `tcp://` and `ipc://` they are written like borrowed ones.
    pub fn send_multipart_owned(&mut self, mut frames: Vec<Vec<u8>>) -> Result<()> {
        if frames.is_empty() {
            return Err(Error::State("a ROUTER message starts with a routing id"));
        }
        let id = frames.remove(0);
        self.send_routed(&id, Outgoing::Owned(frames))
    }

    /// Sends `rest` to the peer with routing id `id`.
    fn send_routed(&mut self, id: &[u8], rest: Outgoing<'_>) -> Result<()> {
        if rest.len() == 0 {
            return Err(Error::State(
                "a ROUTER message needs a frame after the routing id",
            ));
        }
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.begin_send()?;
        let slot = e.conns.iter().position(|c| {
            c.as_ref()
                .is_some_and(|c| c.ready && c.dead.is_none() && c.routing_id == id)
        });
        match slot {
            Some(s) => e.send_reply(s, &[], rest),
            None => e.stats.unroutable += 1,
        }
        Ok(())
    }

    /// Sends `value` (postcard) to the peer with routing id `id`.
    pub fn send_to<T: Serialize + ?Sized>(&mut self, id: &[u8], value: &T) -> Result<()> {
        with_encoded(value, |bytes| self.send_multipart(&[id, bytes]))
    }

    /// Sends raw bytes to the peer with routing id `id`.
    pub fn send_bytes_to(&mut self, id: &[u8], bytes: &[u8]) -> Result<()> {
        self.send_multipart(&[id, bytes])
    }

    /// [`send_bytes_to`](Self::send_bytes_to), giving the buffer up (see
    /// [`send_multipart_owned`](Self::send_multipart_owned)).
    pub fn send_bytes_to_owned(&mut self, id: &[u8], bytes: Vec<u8>) -> Result<()> {
        self.send_routed(id, Outgoing::Owned(vec![bytes]))
    }
}
common!(Router, SocketType::Router);
recv_api!(Router);

/// PUSH: sends round-robin to connected PULL peers; blocks while none is ready.
pub struct Push {
    h: Driven,
}

impl Push {
    fn wrap(h: Driven) -> Self {
        Push { h }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.send_round_robin(&[], frames).map(|_| ())
    }
}
common!(Push, SocketType::Push);
send_api!(Push);

/// PULL: receives fair-queued from PUSH peers.
pub struct Pull {
    h: Driven,
}

impl Pull {
    fn wrap(h: Driven) -> Self {
        Pull { h }
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        next_message(e, wait).map(|(_, f)| f)
    }
}
common!(Pull, SocketType::Pull);
recv_api!(Pull);

/// PAIR: one peer, both directions.
pub struct Pair {
    h: Driven,
}

impl Pair {
    fn wrap(h: Driven) -> Self {
        Pair { h }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.send_round_robin(&[], frames).map(|_| ())
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        next_message(e, wait).map(|(_, f)| f)
    }
}
common!(Pair, SocketType::Pair);
send_api!(Pair);
recv_api!(Pair);

/// XPUB: a PUB that also receives its peers' subscriptions, as `[\x01prefix]` /
/// `[\x00prefix]` messages (one per change of a peer's subscription set).
pub struct XPub {
    h: Driven,
    ids: Vec<usize>,
}

impl XPub {
    fn wrap(h: Driven) -> Self {
        XPub { h, ids: Vec::new() }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.begin_send()?;
        e.publish(&mut self.ids, frames)
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        next_message(&mut guard, wait).map(|(_, f)| f)
    }
}
common!(XPub, SocketType::XPub);
send_api!(XPub);
recv_api!(XPub);

/// XSUB: a SUB whose subscriptions are messages: sending `[\x01prefix]` subscribes,
/// `[\x00prefix]` cancels (sent upstream as SUBSCRIBE/CANCEL to 3.1 peers, as the
/// message itself to 3.0 peers, and re-sent after reconnects); any other message goes
/// to every publisher. Receives every message its publishers send, unfiltered.
pub struct XSub {
    h: Driven,
}

impl XSub {
    fn wrap(h: Driven) -> Self {
        XSub { h }
    }

    fn send_frames(&mut self, frames: Outgoing<'_>) -> Result<()> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        e.begin_send()?;
        if frames.len() == 1
            && let Some((&flag @ (0 | 1), prefix)) = frames.get(0).split_first()
        {
            let limit = e.opts.max_subscription_bytes;
            let subs = e
                .own_subs
                .as_mut()
                .ok_or(Error::State("not a subscriber"))?;
            let changed = if flag == 1 {
                subs.subscribe(prefix).map_err(|_| Error::TooLarge {
                    size: prefix.len(),
                    limit,
                })?
            } else {
                subs.cancel(prefix)
            };
            if changed {
                e.broadcast_subscription(flag == 1, prefix);
            }
            return Ok(());
        }
        let ready: Vec<usize> = (0..e.conns.len())
            .filter(|&i| {
                e.conns[i]
                    .as_ref()
                    .is_some_and(|c| c.ready && c.dead.is_none())
            })
            .collect();
        // The last publisher takes given-up buffers, the others copy them.
        let mut frames = frames;
        if let Some((&last, rest)) = ready.split_last() {
            for &id in rest {
                let q = e.send_to(id, &[], &mut frames.view());
                e.count_drop(q);
            }
            let q = e.send_to(last, &[], &mut frames);
            e.count_drop(q);
        }
        Ok(())
    }

    fn recv_frames(&mut self, wait: Wait) -> Result<Vec<Vec<u8>>> {
        let mut guard = self.h.lock();
        next_message(&mut guard, wait).map(|(_, f)| f)
    }
}
common!(XSub, SocketType::XSub);
send_api!(XSub);
recv_api!(XSub);
