//! REQ/REP over a table of client channels in one segment: one [`Replier`] serves many
//! [`Requester`]s on one machine. Each channel is two SPSC rings side by side, requests from
//! the requester that claimed the channel to the replier in the first, replies back in the
//! second; the replier holds the other end of every channel. A requester takes the first free
//! channel when it connects (one whose claims are free or held by a dead process, reclaimed
//! with `ringwire_platform::claims`) and keeps it until dropped, so with one requester the
//! path is the same two SPSC rings as a 1:1 link. The replier sleeps on channel 0's request
//! ring (the doorbell): a requester on another channel rings it after each request.
//!
//! The lock-step rules are `ringwire_core::pattern::req`'s, the same as over tcp/ipc: a second
//! `send` before the reply is `Error::State` unless the request was [abandoned]
//! (Requester::abandon); a replier replies once to each request it received, and the reply goes
//! to the channel the request came from. Each request carries a hidden first frame, an 8-byte
//! request id (the requester's pid in the high half, a per-socket counter in the low half); the
//! replier echoes it and the requester drops any reply whose id is not the one it waits for, so
//! an abandoned request can be followed by a new one without its late reply being mistaken for
//! the new one's (ZeroMQ's `REQ_CORRELATE`), and a channel's next owner never takes its
//! predecessor's replies. One replier per endpoint; at most
//! [`ShmOptions::max_clients`] requesters at once (set by the side that creates the segment).
//!
//! If the replier dies while a request is pending, the requester's receive fails with
//! `Error::Disconnected` within one liveness interval instead of waiting out its timeout. A
//! requester that dies or leaves with a request pending costs the replier one reply: it is
//! dropped and counted ([`Replier::dropped_replies`]) when the channel's owner changed or its
//! reply ring stays full for a liveness interval, or left in the channel for its next owner to
//! discard; the replier goes on serving the others.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ringwire_core::ring::{RecvError, SendError};
use ringwire_platform::SegmentName;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::attach::{self, RingSet};
use super::codec::{MessageRef, encode_typed};
use ringwire_core::pattern::req::{self, ID_FRAME, RepState, ReqState};

use super::frames::{self, FRAME_HEADER};
use super::options::{Builder, FullPolicy, ShmOptions, ShmSocket};
use super::pubsub::send_error;
use super::recv::{Wait, recv_methods};
use super::wait::{Check, Waited, notify, notify_space, wait_for};
use crate::error::{Error, ProtocolError, Result};

mod channels;
mod routed;

use channels::{Cell, Channel, Rings, Side, cell_for};
pub(crate) use routed::{DealerEnd, From, RouterEnd};

/// A requester that finds a dead replier's segment (a `kill -9`ed replier whose successor has
/// not replaced it yet) waits until `deadline` for the replacement instead of sending its first
/// request into a segment nobody serves, which would fail with `Disconnected` at the first
/// liveness check. Past the deadline it keeps the dead segment, as before: a replier may come
/// back later, and the liveness checks then move the requester over.
fn live_or_replacement(
    name: &SegmentName,
    options: &ShmOptions,
    rings: Rings,
    deadline: Instant,
) -> Rings {
    loop {
        let whole = rings.whole();
        match attach::creator_of(whole) {
            Some(c) if !attach::creator_alive(whole, c) => {}
            _ => return rings,
        }
        if let Some(next) = attach::replacement::<Rings>(name, options, whole) {
            return next;
        }
        if Instant::now() >= deadline {
            return rings;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// The id before a new requester's first request: its pid in the high half and, in the low
/// half, a process-wide socket count times 2^24, so that two requesters of one process (which
/// may hold one channel in turn) number their requests apart.
fn id_base() -> u64 {
    static SOCKETS: AtomicU32 = AtomicU32::new(0);
    let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
    (u64::from(std::process::id()) << 32) | u64::from(n << 24)
}

/// State shared by both sides: the rings, options, and the send and receive loops.
struct Socket {
    cell: Cell,
    name: SegmentName,
    options: ShmOptions,
    side: Side,
    /// Messages dropped because they were not a REQ/REP message (no request-id frame).
    corrupt: u64,
    /// Replier: the link to look at first on the next receive (round robin over clients).
    next: usize,
    /// Replier: the channel of the request last received, and its owner at that time.
    served: (usize, u32),
    /// Replier: replies dropped because the requester had gone.
    dropped: u64,
}

impl Socket {
    fn new(cell: Cell, name: SegmentName, options: ShmOptions, side: Side) -> Self {
        Self {
            cell,
            name,
            options,
            side,
            corrupt: 0,
            next: 0,
            served: (0, 0),
            dropped: 0,
        }
    }

    /// Largest one-frame message either side may send (the options' `slot_size` of the side
    /// that created the segment).
    fn max_message_size(&self) -> usize {
        let slot = self
            .cell
            .borrow_owner()
            .head
            .req
            .segment()
            .config()
            .slot_size as usize;
        slot.saturating_sub(<Rings as RingSet>::FRAMING)
    }

    fn bind(endpoint: &str, options: ShmOptions, side: Side) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        channels::clients_for(&options)?;
        let rings = attach::bind::<Rings>(&name, &options)?;
        Ok(Self::new(cell_for(rings, side)?, name, options, side))
    }

    fn connect(endpoint: &str, options: ShmOptions, side: Side) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let mut rings = attach::connect::<Rings>(&name, &options, deadline)?;
        if side == Side::Requester {
            rings = live_or_replacement(&name, &options, rings, deadline);
        }
        Ok(Self::new(cell_for(rings, side)?, name, options, side))
    }

    /// A requester's channel.
    fn channel(&self) -> &Channel {
        let k = self
            .cell
            .with_dependent(|_, ends| ends.links.first().map_or(0, |l| l.k));
        let rings = self.cell.borrow_owner();
        rings.channels().nth(k).unwrap_or(&rings.head)
    }

    /// Whether the holder of owner id `owner` in this socket's segment may be alive.
    fn alive(&self, owner: u32) -> bool {
        attach::owner_alive(self.cell.borrow_owner().head.req.segment().region(), owner)
    }

    /// A requester's peer: the replier (the producer of its reply ring), 0 if none.
    fn peer(&self) -> u32 {
        self.channel().rep.segment().writer_owner()
    }

    /// Sends `[id, ...]` encoded by `encode` into a loaned slot of link `at`, waiting per the
    /// full policy. A replier's reply whose requester has gone (its channel's owner changed) or
    /// does not read (its reply ring stayed full for a liveness interval: a dead requester, or
    /// one that abandoned requests and stopped reading) is dropped and counted instead.
    /// `client`, for a replier, is the owner of the request ring when the request was read:
    /// the reply is dropped if the channel changed hands since.
    fn send(
        &mut self,
        at: usize,
        id: u64,
        client: Option<u32>,
        encode: &dyn Fn(&mut [u8]) -> Result<usize>,
    ) -> Result<()> {
        let wait = match self.options.full {
            FullPolicy::Block => Wait::Forever,
            FullPolicy::BlockFor(t) => Wait::timeout(t),
            FullPolicy::Error => Wait::Try,
        };
        let Self {
            cell,
            name,
            options,
            side,
            ..
        } = self;
        let mut next = None;
        let gone = std::cell::Cell::new(false);
        let waited = cell.with_dependent_mut(|rings, ends| {
            let link = ends
                .links
                .get_mut(at)
                .ok_or(Error::State("REQ/REP: no such client channel"))?;
            let (k, ring, rx_ring) = (link.k, link.tx_ring, link.rx.ring());
            let tx = &mut link.tx;
            // The requester that sent the request: the owner of its channel's request ring.
            if client.is_some_and(|c| c == 0 || rx_ring.segment().writer_owner() != c) {
                gone.set(true);
                return Err(Error::Disconnected);
            }
            let mut attempt = || -> Result<Option<ringwire_core::ring::Notify>> {
                let mut loan = match tx.loan() {
                    Ok(loan) => loan,
                    Err(SendError::Full) => return Ok(None),
                    Err(e) => return Err(send_error(e)),
                };
                req::write_request_id(&mut loan, id)?;
                let n = encode(&mut loan[ID_FRAME..])?;
                loan.commit(ID_FRAME + n).map(Some).map_err(send_error)
            };
            let mut alive = || {
                if let Check::Reattach = replacement_check(name, options, rings, &mut next)? {
                    return Ok(Check::Reattach);
                }
                // The first check comes a whole liveness interval into the wait: a requester
                // whose reply ring stayed full that long does not read it (it left
                // `slot_count` replies unread, abandoning requests), and must not hold up the
                // replier's other requesters: its reply is dropped.
                if client.is_some() {
                    gone.set(true);
                    return Err(Error::Disconnected);
                }
                Ok(Check::Continue)
            };
            // A full ring waits for the peer to consume: sleep on the ring we write.
            let waited = wait_for(
                options.wait,
                wait,
                ring.segment(),
                options.liveness_interval,
                &mut alive,
                &mut attempt,
            )?;
            if let Waited::Done(n) = waited {
                notify(ring.segment(), n);
                // Channel 0's request ring is the doorbell itself; the others ring it.
                if *side == Side::Requester && k != 0 {
                    notify_space(rings.doorbell());
                }
                return Ok(Waited::Done(()));
            }
            Ok(Waited::Reattach)
        });
        match waited {
            Ok(Waited::Done(())) => Ok(()),
            Ok(Waited::Reattach) => {
                self.reattach(next)?;
                Err(Error::Disconnected)
            }
            Err(_) if gone.get() => {
                self.dropped += 1;
                log::debug!(
                    "shm://{}: dropped a reply: its requester has gone ({} so far)",
                    self.name,
                    self.dropped
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Receives the next message; `accept(id)` says whether to keep it (else it is dropped).
    /// `peer_at_send`, for a requester, is the replier that may hold its request. A replier
    /// looks at every channel, starting after the one it served last, and records in `served`
    /// where the request came from.
    fn recv<R>(
        &mut self,
        wait: Wait,
        accept: &dyn Fn(u64) -> bool,
        peer_at_send: u32,
        f: impl FnOnce(u64, MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        let mut f = Some(f);
        let Self {
            cell,
            name,
            options,
            side,
            corrupt,
            next: start,
            served,
            ..
        } = self;
        let mut next = None;
        let waited = cell.with_dependent_mut(|rings, ends| {
            let links = &mut ends.links;
            let n = links.len();
            let Some(first) = links.first() else {
                return Err(Error::State("REQ/REP: no client channel"));
            };
            // A requester sleeps on its reply ring, the replier on the doorbell.
            let (source, reply_ring) = match side {
                Side::Requester => (first.rx.ring().segment(), first.rx.ring()),
                Side::Replier => (rings.doorbell(), first.rx.ring()),
            };
            // Stale replies skipped per attempt and channel: bounded, so a peer flooding a
            // ring cannot hold a receive past its deadline (twice the ring drains any backlog).
            let budget = u64::from(source.config().slot_count) * 2 + 64;
            let first_look = *start % n.max(1);
            let mut attempt = || -> Result<Option<(usize, u32, R)>> {
                for i in 0..n {
                    let at = (first_look + i) % n;
                    let Some(link) = links.get_mut(at) else {
                        break;
                    };
                    let ring = link.rx.ring();
                    for _ in 0..budget {
                        let msg = match link.rx.try_borrow() {
                            Ok(msg) => msg,
                            Err(RecvError::Empty) | Err(RecvError::Busy) => break,
                            Err(error) => {
                                // The next receive looks at the other channels first: a
                                // corrupt ring is reported, not allowed to starve them.
                                *start = at + 1;
                                return Err(Error::Protocol(ProtocolError::CorruptRing {
                                    endpoint: format!("shm://{name}"),
                                    error,
                                }));
                            }
                        };
                        let Some(id) = req::read_request_id(&msg) else {
                            // Not a REQ/REP message (a faulty or hostile writer): nobody can
                            // be answered for it, so it is dropped, counted and logged, and
                            // the socket goes on with the next message.
                            *corrupt += 1;
                            log::warn!(
                                "shm://{name}: dropped a message without a request-id frame \
                                 ({} so far)",
                                corrupt
                            );
                            continue;
                        };
                        if !accept(id) {
                            continue; // a late reply to an abandoned request
                        }
                        let owner = ring.segment().writer_owner();
                        let body = MessageRef::new(&msg[ID_FRAME..])?;
                        let f = f
                            .take()
                            .ok_or(Error::State("receive callback used twice"))?;
                        return f(id, body).map(|r| Some((at, owner, r)));
                    }
                }
                Ok(None)
            };
            let mut alive = || {
                if let Check::Reattach = replacement_check(name, options, rings, &mut next)? {
                    return Ok(Check::Reattach);
                }
                let peer = reply_ring.segment().writer_owner();
                if *side == Side::Requester
                    && peer_at_send != 0
                    && (peer != peer_at_send
                        || !attach::owner_alive(rings.head.req.segment().region(), peer_at_send))
                {
                    // The replier that took our request is gone: the reply will never come.
                    return Err(Error::Disconnected);
                }
                Ok(Check::Continue)
            };
            let waited = wait_for(
                options.wait,
                wait,
                source,
                options.liveness_interval,
                &mut alive,
                &mut attempt,
            )?;
            Ok(match waited {
                Waited::Done((at, owner, r)) => {
                    // A slot was handed back: wake the peer if it waits for room.
                    if let Some(link) = links.get(at) {
                        notify_space(link.rx.ring().segment());
                    }
                    *start = at + 1;
                    *served = (at, owner);
                    Waited::Done(r)
                }
                Waited::Reattach => Waited::Reattach,
            })
        });
        match waited? {
            Waited::Done(r) => Ok(r),
            Waited::Reattach => {
                self.reattach(next)?;
                Err(Error::Disconnected)
            }
        }
    }

    fn reattach(&mut self, next: Option<Rings>) -> Result<()> {
        if let Some(rings) = next {
            self.cell = cell_for(rings, self.side)?;
            self.next = 0;
        }
        Ok(())
    }

    /// Whether a message waits in a ring this side reads.
    fn readable(&self) -> bool {
        self.cell
            .with_dependent(|_, ends| ends.links.iter().any(|l| l.rx.pending() > 0))
    }

    /// The segment this side sleeps on: a requester's reply ring, the replier's doorbell.
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        super::poller::PollHandle(match self.side {
            Side::Requester => self.channel().rep.segment(),
            Side::Replier => self.cell.borrow_owner().doorbell(),
        })
    }

    /// Whether the peer is known dead right now (creator gone and no replacement yet).
    fn check_peer(&mut self) -> Result<()> {
        let mut next = None;
        let Self {
            cell,
            name,
            options,
            ..
        } = self;
        if let Check::Reattach = replacement_check(name, options, cell.borrow_owner(), &mut next)? {
            self.reattach(next)?;
        }
        Ok(())
    }
}

/// Lets `fill` write one frame's data in place after its header; returns the bytes used. The
/// slot is the ring's own memory: nothing is copied, and `fill` runs at most once (a second
/// call, which the send path never makes, is an error). A `fill` that returns
/// `None` withdraws the message: `withdrawn` is set and the error makes the sender drop the
/// slot uncommitted (nothing is sent; `loan_with` then reports `Ok(false)`).
fn fill_frame<F: FnOnce(&mut [u8]) -> Option<usize>>(
    buf: &mut [u8],
    fill: &std::cell::Cell<Option<F>>,
    withdrawn: &std::cell::Cell<bool>,
) -> Result<usize> {
    let cap = buf.len().saturating_sub(FRAME_HEADER);
    let fill = fill
        .take()
        .ok_or(Error::State("loan_with: the fill closure was already used"))?;
    let Some(n) = fill(&mut buf[FRAME_HEADER..]) else {
        withdrawn.set(true);
        return Err(Error::State("loan_with: the message was withdrawn"));
    };
    if n > cap {
        return Err(Error::TooLarge {
            size: n,
            limit: cap,
        });
    }
    frames::write_header(buf, n, false);
    Ok(FRAME_HEADER + n)
}

/// `loan_with` for both REQ/REP ends: `Ok(true)` once sent, `Ok(false)` when `fill` withdrew
/// the message (the slot goes back unused), as on every shm socket.
fn loan_with_on(
    send_raw: impl FnOnce(&dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()>,
    fill: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> Result<bool> {
    let fill = std::cell::Cell::new(Some(fill));
    let withdrawn = std::cell::Cell::new(false);
    match send_raw(&|buf| fill_frame(buf, &fill, &withdrawn)) {
        Ok(()) => Ok(true),
        Err(_) if withdrawn.get() => Ok(false),
        Err(e) => Err(e),
    }
}

fn replacement_check(
    name: &SegmentName,
    options: &ShmOptions,
    rings: &Rings,
    next: &mut Option<Rings>,
) -> Result<Check> {
    *next = attach::replacement::<Rings>(name, options, rings.whole());
    Ok(if next.is_some() {
        Check::Reattach
    } else {
        Check::Continue
    })
}

/// The client side of REQ/REP: send a request, receive its reply.
pub struct Requester {
    socket: Socket,
    stale: attach::StaleCheck,
    state: ReqState,
    /// The replier that held the segment when the outstanding request was sent.
    peer_at_send: u32,
    /// The last replier pid seen alive at a send (0: none yet).
    peer_seen_alive: u32,
}

impl Requester {
    /// Opens `shm://name`, created by a binding replier.
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// Creates `shm://name` for a replier that connects later.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn new(socket: Socket) -> Self {
        let whole = socket.cell.borrow_owner().whole();
        let stale = attach::StaleCheck::new(whole, socket.options.liveness_interval);
        Self {
            socket,
            stale,
            state: ReqState::new(id_base()),
            peer_at_send: 0,
            peer_seen_alive: 0,
        }
    }

    fn send_raw(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
        // The replier to send to changed since the last send (or this is the first): check it
        // is alive, and if it is dead move to its replacement first, so the request is not
        // sent into a segment nobody serves. One liveness call per new peer, none per send.
        let peer = self.socket.peer();
        let new_peer = peer != 0 && peer != self.peer_seen_alive;
        if self.stale.due() || (new_peer && !self.socket.alive(peer)) {
            self.socket.check_peer()?;
        } else if new_peer {
            self.peer_seen_alive = peer;
        }
        // A request still waiting for its reply refuses the send (`abandon` first).
        let id = self.state.on_send()?;
        self.peer_at_send = self.socket.peer();
        self.socket
            .send(0, id, None, encode)
            .inspect_err(|_| self.state.on_abandon())
    }

    /// Sends a request (postcard).
    pub fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<()> {
        self.send_raw(&|buf| encode_typed(buf, None, msg))
    }

    /// Sends a request of raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.send_raw(&|buf| frames::encode(&[bytes], buf))
    }

    /// Sends a multipart request.
    pub fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.send_raw(&|buf| frames::encode(parts, buf))
    }

    /// Sends `request` and waits up to `timeout` for the reply.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        timeout: Duration,
    ) -> Result<A> {
        let deadline = Wait::timeout(timeout);
        self.send(request)?;
        // As over tcp/ipc: a request that got no reply is abandoned (a late reply is dropped
        // by id), so the next `request` may follow.
        self.recv_raw(deadline, |m| m.decode::<A>())
            .inspect_err(|_| self.state.on_abandon())
    }

    /// Zero-copy request of one frame: `fill` writes straight into the ring slot the peer will
    /// read in place (`recv_with`), and returns the length: `Ok(true)` once sent. Returning
    /// `None` withdraws the request (`Ok(false)`, nothing is sent, the slot goes back unused),
    /// as `loan_with` does on every shm socket.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<bool> {
        loan_with_on(|encode| self.send_raw(encode), fill)
    }

    /// Largest one-frame message this socket may send, in bytes (the `slot_size` the segment
    /// was created with; the library's frame headers come on top). Larger sends are
    /// `Error::TooLarge`.
    pub fn max_message_size(&self) -> usize {
        self.socket.max_message_size()
    }

    /// Whether a replier is attached and its process alive.
    pub fn peer_alive(&self) -> bool {
        let peer = self.socket.peer();
        peer != 0 && self.socket.alive(peer)
    }

    /// Gives up on the request in flight: its reply, if it still comes, is dropped, and the
    /// next `send` is allowed.
    pub fn abandon(&mut self) {
        self.state.on_abandon();
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        self.state.on_recv_start()?;
        let state = self.state;
        let got = self
            .socket
            .recv(wait, &|id| state.answers(id), self.peer_at_send, |id, m| {
                Ok((id, f(m)))
            });
        match got {
            Ok((id, r)) => {
                self.state.on_reply_to(id);
                r
            }
            // Still waiting: the reply may come on a later receive.
            Err(e @ (Error::WouldBlock | Error::Timeout)) => Err(e),
            Err(e) => {
                self.state.on_abandon();
                Err(e)
            }
        }
    }

    recv_methods!();

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.socket.name)
    }
}

impl super::poller::Pollable for Requester {
    fn readable(&self) -> bool {
        self.socket.readable()
    }
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        self.socket.poll_handle()
    }
}

impl ShmSocket for Requester {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Socket::bind(endpoint, options, Side::Requester).map(Self::new)
    }
    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Socket::connect(endpoint, options, Side::Requester).map(Self::new)
    }
}

/// The service side of REQ/REP: receive a request, send its reply.
pub struct Replier {
    socket: Socket,
    state: RepState,
}

impl Replier {
    /// Creates `shm://name` and serves it.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// Opens `shm://name`, created by a binding requester.
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn new(socket: Socket) -> Self {
        Self {
            socket,
            state: RepState::default(),
        }
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        self.state.on_recv_start()?;
        let (id, r) = self.socket.recv(wait, &|_| true, 0, |id, m| {
            // Keep the id even if decoding fails: the request still needs a reply.
            Ok((id, f(m)))
        })?;
        self.state.on_request(id);
        r
    }

    recv_methods!();

    fn send_raw(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
        let id = self.state.on_send()?;
        // A reply that could not be sent is still owed: it may be sent again (to the same
        // client).
        let (to, client) = self.socket.served;
        self.socket
            .send(to, id, Some(client), encode)
            .inspect_err(|_| self.state.on_send_failed(id))
    }

    /// Sends the reply (postcard) to the request last received.
    pub fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<()> {
        self.send_raw(&|buf| encode_typed(buf, None, msg))
    }

    /// Sends a reply of raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.send_raw(&|buf| frames::encode(&[bytes], buf))
    }

    /// Sends a multipart reply.
    pub fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.send_raw(&|buf| frames::encode(parts, buf))
    }

    /// Largest one-frame message this socket may send, in bytes (the `slot_size` the segment
    /// was created with; the library's frame headers come on top). Larger sends are
    /// `Error::TooLarge`.
    pub fn max_message_size(&self) -> usize {
        self.socket.max_message_size()
    }

    /// How many received messages were dropped because they carried no request-id frame
    /// (written by a faulty or hostile process). Each is logged (`log::warn!`); the socket
    /// goes on with the next message.
    pub fn corrupt(&self) -> u64 {
        self.socket.corrupt
    }

    /// Whether a requester is attached and its process alive.
    pub fn peer_alive(&self) -> bool {
        self.socket.cell.borrow_owner().channels().any(|ch| {
            let client = ch.req.segment().writer_owner();
            client != 0 && attach::owner_alive(ch.req.segment().region(), client)
        })
    }

    /// How many replies were dropped because their requester had gone before the reply was
    /// sent (its socket dropped or its channel taken over by another requester) or did not
    /// read (its reply ring stayed full for a liveness interval: a dead requester, or one that
    /// abandoned requests and stopped reading). Each is logged (`log::debug!`); the replier
    /// goes on with the next request.
    pub fn dropped_replies(&self) -> u64 {
        self.socket.dropped
    }

    /// Zero-copy reply of one frame: `fill` writes straight into the ring slot the peer will
    /// read in place (`recv_with`), and returns the length: `Ok(true)` once sent. Returning
    /// `None` withdraws the reply (`Ok(false)`, nothing is sent, the slot goes back unused),
    /// as `loan_with` does on every shm socket.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<bool> {
        loan_with_on(|encode| self.send_raw(encode), fill)
    }

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.socket.name)
    }
}

impl super::poller::Pollable for Replier {
    fn readable(&self) -> bool {
        self.socket.readable()
    }
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        self.socket.poll_handle()
    }
}

impl ShmSocket for Replier {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Socket::bind(endpoint, options, Side::Replier).map(Self::new)
    }
    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Socket::connect(endpoint, options, Side::Replier).map(Self::new)
    }
}

impl std::fmt::Debug for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requester")
            .field("endpoint", &self.endpoint())
            .field("waiting", &self.state.is_waiting())
            .finish()
    }
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("endpoint", &self.endpoint())
            .field("replying", &self.state.is_replying())
            .finish()
    }
}
