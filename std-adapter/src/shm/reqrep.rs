//! REQ/REP over two SPSC rings kept side by side in one segment: requests flow from the
//! [`Requester`] to the [`Replier`] in the first, replies back in the second.
//!
//! Each request carries a hidden first frame, an 8-byte request id (the requester's pid in the
//! high half, a counter in the low half); the replier echoes it and the requester drops any
//! reply whose id is not the one it waits for. So a request that timed out can be retried
//! without its late reply being mistaken for the new one (ZeroMQ's `REQ_RELAXED` +
//! `REQ_CORRELATE`). One requester and one replier per endpoint (SPSC claims); a dead one's
//! claim is taken over by its successor.
//!
//! If the replier dies while a request is pending, the requester's receive fails with
//! `Error::Disconnected` within one liveness interval instead of waiting out its timeout.

use std::time::{Duration, Instant};

use ringwire_core::ring::spsc::{Consumer, Producer, Spsc};
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{ClaimError, Creator, OpenError, RingConfig};
use ringwire_platform::{SegmentError, SegmentName, SharedSegment, SubRegion};
use self_cell::self_cell;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::attach::{self, RingSet};
use super::codec::{MessageRef, encode_typed};
use super::frames::{self, FRAME_HEADER};
use super::options::{Builder, FullPolicy, ShmOptions, ShmSocket};
use super::pubsub::send_error;
use super::recv::{Wait, recv_methods};
use super::wait::{Check, Waited, notify, notify_space, wait_for};
use crate::error::{Error, Result};

/// Bytes of the hidden request-id frame (header + 8-byte id).
const ID_FRAME: usize = FRAME_HEADER + 8;

/// The request ring and the reply ring of one REQ/REP segment.
pub(crate) struct Rings {
    req: Spsc<SubRegion>,
    rep: Spsc<SubRegion>,
}

impl RingSet for Rings {
    const TYPE_NAME: &'static str = "ringwire.shm.reqrep/1";
    const PATTERN: &'static str = "REQ/REP";
    /// REQ/REP is lock-step: one request in flight, plus room for the late replies of
    /// abandoned requests. Few slots keep a large message's slots hot in the caches instead of
    /// cycling through megabytes (64 slots of 64 KiB is 4 MiB per direction).
    const DEFAULT_SLOTS: usize = 4;

    fn segment_len(config: &RingConfig) -> Option<usize> {
        config.required_len()?.checked_mul(2)
    }

    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self> {
        let half = config.required_len().ok_or(Error::State("bad geometry"))?;
        let err = |e: ringwire_core::segment::CreateError| Error::Protocol(e.to_string());
        let bad = || Error::State("segment smaller than its rings");
        let req = SubRegion::new(seg.clone(), 0, half).ok_or_else(bad)?;
        let rep = SubRegion::new(seg, half, half).ok_or_else(bad)?;
        Ok(Self {
            req: Spsc::create(req, config, creator).map_err(err)?,
            rep: Spsc::create(rep, config, creator).map_err(err)?,
        })
    }

    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError> {
        let len = seg.len();
        let half = config.required_len().ok_or(OpenError::CorruptHeader)?;
        let too_small = OpenError::TooSmall {
            needed: half.saturating_mul(2),
            len,
        };
        // The request ring's header is read first, through a window no larger than the
        // segment: if the guessed geometry is wrong it reports the real one.
        let req = SubRegion::new(seg.clone(), 0, half.min(len)).ok_or(too_small)?;
        let req = Spsc::open(req, config)?;
        let rep = SubRegion::new(seg, half, half).ok_or(too_small)?;
        Ok(Self {
            req,
            rep: Spsc::open(rep, config)?,
        })
    }
}

/// The two handles one side holds.
struct Ends<'a> {
    tx: Producer<'a, SubRegion>,
    rx: Consumer<'a, SubRegion>,
}

self_cell!(
    struct Cell {
        owner: Rings,
        #[not_covariant]
        dependent: Ends,
    }
);

fn claimed<T>(
    claim: impl Fn() -> std::result::Result<T, ClaimError>,
    reclaim: impl Fn() -> bool,
) -> Result<T> {
    match claim() {
        Err(ClaimError::Held { owner }) if !attach::owner_alive(owner) => {
            reclaim();
            claim()
        }
        other => other,
    }
    .map_err(|e| match e {
        ClaimError::Held { owner } => Error::Segment(SegmentError::InUse { pid: owner }),
        other => Error::Protocol(other.to_string()),
    })
}

/// Which side of the segment a socket is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Requester,
    Replier,
}

fn cell_for(rings: Rings, side: Side) -> Result<Cell> {
    Cell::try_new(rings, |r| {
        let me = attach::owner_id();
        let (tx_ring, rx_ring) = match side {
            Side::Requester => (&r.req, &r.rep),
            Side::Replier => (&r.rep, &r.req),
        };
        let tx = claimed(
            || tx_ring.producer(me),
            || tx_ring.reclaim_producer(attach::owner_alive),
        )?;
        let rx = claimed(
            || rx_ring.consumer(me),
            || rx_ring.reclaim_consumer(attach::owner_alive),
        )?;
        Ok(Ends { tx, rx })
    })
}

/// State shared by both sides: the rings, options, and the send and receive loops.
struct Socket {
    cell: Cell,
    name: SegmentName,
    options: ShmOptions,
    side: Side,
}

impl Socket {
    fn bind(endpoint: &str, options: ShmOptions, side: Side) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let rings = attach::bind::<Rings>(&name, &options)?;
        Ok(Self {
            cell: cell_for(rings, side)?,
            name,
            options,
            side,
        })
    }

    fn connect(endpoint: &str, options: ShmOptions, side: Side) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let rings = attach::connect::<Rings>(&name, &options, deadline)?;
        Ok(Self {
            cell: cell_for(rings, side)?,
            name,
            options,
            side,
        })
    }

    /// The process at the other end (the producer of the ring this side reads), 0 if none.
    fn peer(&self) -> u32 {
        let rings = self.cell.borrow_owner();
        match self.side {
            Side::Requester => rings.rep.segment().writer_owner(),
            Side::Replier => rings.req.segment().writer_owner(),
        }
    }

    /// Sends `[id, ...]` encoded by `encode` into a loaned slot, waiting per the full policy.
    fn send(&mut self, id: u64, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
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
        } = self;
        let mut next = None;
        let waited = cell.with_dependent_mut(|rings, ends| {
            let ring = match side {
                Side::Requester => &rings.req,
                Side::Replier => &rings.rep,
            };
            let mut attempt = || -> Result<Option<ringwire_core::ring::Notify>> {
                let mut loan = match ends.tx.loan() {
                    Ok(loan) => loan,
                    Err(SendError::Full) => return Ok(None),
                    Err(e) => return Err(send_error(e)),
                };
                if loan.len() < ID_FRAME {
                    return Err(Error::TooLarge {
                        size: ID_FRAME,
                        limit: loan.len(),
                    });
                }
                frames::write_header(&mut loan, 8, true);
                loan[FRAME_HEADER..ID_FRAME].copy_from_slice(&id.to_le_bytes());
                let n = encode(&mut loan[ID_FRAME..])?;
                loan.commit(ID_FRAME + n).map(Some).map_err(send_error)
            };
            let mut alive = || replacement_check(name, options, rings, &mut next);
            // A full ring waits for the peer to consume: sleep on the ring we write.
            wait_for(
                options.wait,
                wait,
                ring.segment(),
                options.liveness_interval,
                &mut alive,
                &mut attempt,
            )
        });
        match waited? {
            Waited::Done(n) => {
                let rings = self.cell.borrow_owner();
                let ring = match self.side {
                    Side::Requester => &rings.req,
                    Side::Replier => &rings.rep,
                };
                notify(ring.segment(), n);
                Ok(())
            }
            Waited::Reattach => {
                self.reattach(next)?;
                Err(Error::Disconnected)
            }
        }
    }

    /// Receives the next message; `accept(id)` says whether to keep it (else it is dropped).
    /// `peer_at_send`, for a requester, is the replier that may hold its request.
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
        } = self;
        let mut next = None;
        let waited = cell.with_dependent_mut(|rings, ends| {
            let ring = match side {
                Side::Requester => &rings.rep,
                Side::Replier => &rings.req,
            };
            // Stale replies skipped per attempt: bounded, so a peer flooding the ring cannot
            // hold a receive past its deadline (twice the ring drains any backlog).
            let budget = u64::from(ring.segment().config().slot_count) * 2 + 64;
            let mut attempt = || -> Result<Option<R>> {
                for _ in 0..budget {
                    let msg = match ends.rx.try_borrow() {
                        Ok(msg) => msg,
                        Err(RecvError::Empty) | Err(RecvError::Busy) => return Ok(None),
                        Err(e) => {
                            return Err(Error::Protocol(format!(
                                "shm://{name}: ring is corrupt ({e})"
                            )));
                        }
                    };
                    let id = envelope(&msg)?;
                    if !accept(id) {
                        continue; // a late reply to an abandoned request
                    }
                    let body = MessageRef::new(&msg[ID_FRAME..])?;
                    let f = f
                        .take()
                        .ok_or(Error::State("receive callback used twice"))?;
                    return f(id, body).map(Some);
                }
                Ok(None)
            };
            let mut alive = || {
                if let Check::Reattach = replacement_check(name, options, rings, &mut next)? {
                    return Ok(Check::Reattach);
                }
                let peer = rings.rep.segment().writer_owner();
                if *side == Side::Requester
                    && peer_at_send != 0
                    && (peer != peer_at_send || !attach::owner_alive(peer_at_send))
                {
                    // The replier that took our request is gone: the reply will never come.
                    return Err(Error::Disconnected);
                }
                Ok(Check::Continue)
            };
            wait_for(
                options.wait,
                wait,
                ring.segment(),
                options.liveness_interval,
                &mut alive,
                &mut attempt,
            )
        });
        match waited? {
            Waited::Done(r) => {
                // A slot was handed back: wake the peer if it waits for room.
                let rings = self.cell.borrow_owner();
                notify_space(match self.side {
                    Side::Requester => rings.rep.segment(),
                    Side::Replier => rings.req.segment(),
                });
                Ok(r)
            }
            Waited::Reattach => {
                self.reattach(next)?;
                Err(Error::Disconnected)
            }
        }
    }

    fn reattach(&mut self, next: Option<Rings>) -> Result<()> {
        if let Some(rings) = next {
            self.cell = cell_for(rings, self.side)?;
        }
        Ok(())
    }

    /// Whether a message waits in the ring this side reads.
    fn readable(&self) -> bool {
        self.cell.with_dependent(|_, ends| ends.rx.pending() > 0)
    }

    /// The segment of the ring this side reads.
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        let rings = self.cell.borrow_owner();
        super::poller::PollHandle(match self.side {
            Side::Requester => rings.rep.segment(),
            Side::Replier => rings.req.segment(),
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
/// call, which the send path never makes, is an error).
fn fill_frame<F: FnOnce(&mut [u8]) -> Option<usize>>(
    buf: &mut [u8],
    fill: &std::cell::Cell<Option<F>>,
) -> Result<usize> {
    let cap = buf.len().saturating_sub(FRAME_HEADER);
    let fill = fill
        .take()
        .ok_or(Error::State("loan_with: the fill closure was already used"))?;
    let n = fill(&mut buf[FRAME_HEADER..]).ok_or(Error::State(
        "a REQ/REP message cannot be withdrawn once its slot is loaned",
    ))?;
    if n > cap {
        return Err(Error::TooLarge {
            size: n,
            limit: cap,
        });
    }
    frames::write_header(buf, n, false);
    Ok(FRAME_HEADER + n)
}

/// The request id in a message's first frame.
fn envelope(msg: &[u8]) -> Result<u64> {
    let head = msg.get(..ID_FRAME).ok_or_else(bad_envelope)?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let more = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len != 8 || more != 1 {
        return Err(bad_envelope());
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&head[FRAME_HEADER..ID_FRAME]);
    Ok(u64::from_le_bytes(id))
}

fn bad_envelope() -> Error {
    Error::Protocol("corrupt shm message: missing request-id frame".into())
}

fn replacement_check(
    name: &SegmentName,
    options: &ShmOptions,
    rings: &Rings,
    next: &mut Option<Rings>,
) -> Result<Check> {
    let whole = rings.req.segment().region().segment();
    *next = attach::replacement::<Rings>(name, options, whole);
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
    next_id: u64,
    waiting: Option<(u64, u32)>,
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
        let whole = socket.cell.borrow_owner().req.segment().region().segment();
        let stale = attach::StaleCheck::new(whole, socket.options.liveness_interval);
        Self {
            socket,
            stale,
            next_id: u64::from(std::process::id()) << 32,
            waiting: None,
        }
    }

    fn send_raw(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
        if self.stale.due() {
            self.socket.check_peer()?;
        }
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let peer = self.socket.peer();
        // A previous request still waiting is abandoned: its reply will be dropped by id.
        self.waiting = None;
        self.socket.send(id, encode)?;
        self.waiting = Some((id, peer));
        Ok(())
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
        self.recv_raw(deadline, |m| m.decode::<A>())
    }

    /// Zero-copy request of one frame: `fill` writes straight into the ring slot the peer will
    /// read in place (`recv_with`), and returns the length. Returning `None` is an error
    /// (`Error::State`): a REQ/REP message cannot be withdrawn once its slot is loaned.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<()> {
        let fill = std::cell::Cell::new(Some(fill));
        self.send_raw(&|buf| fill_frame(buf, &fill))
    }

    /// Whether a replier is attached and its process alive.
    pub fn peer_alive(&self) -> bool {
        let peer = self.socket.peer();
        peer != 0 && attach::owner_alive(peer)
    }

    /// Gives up on the request in flight: its reply, if it still comes, is dropped.
    pub fn abandon(&mut self) {
        self.waiting = None;
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        let (id, peer) = self
            .waiting
            .ok_or(Error::State("REQ: recv without a request in flight"))?;
        let got = self.socket.recv(wait, &|got| got == id, peer, |_, m| f(m));
        if !matches!(got, Err(Error::WouldBlock) | Err(Error::Timeout)) {
            self.waiting = None;
        }
        got
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
    replying_to: Option<u64>,
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
            replying_to: None,
        }
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        if self.replying_to.is_some() {
            return Err(Error::State("REP: reply to the previous request first"));
        }
        let (id, r) = self.socket.recv(wait, &|_| true, 0, |id, m| {
            // Keep the id even if decoding fails: the request still needs a reply.
            Ok((id, f(m)))
        })?;
        self.replying_to = Some(id);
        r
    }

    recv_methods!();

    fn send_raw(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
        let id = self
            .replying_to
            .ok_or(Error::State("REP: send before receiving a request"))?;
        self.socket.send(id, encode)?;
        self.replying_to = None;
        Ok(())
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

    /// Whether a requester is attached and its process alive.
    pub fn peer_alive(&self) -> bool {
        let peer = self.socket.peer();
        peer != 0 && attach::owner_alive(peer)
    }

    /// Zero-copy reply of one frame: `fill` writes straight into the ring slot the peer will
    /// read in place (`recv_with`), and returns the length. Returning `None` is an error
    /// (`Error::State`): a REQ/REP message cannot be withdrawn once its slot is loaned.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<()> {
        let fill = std::cell::Cell::new(Some(fill));
        self.send_raw(&|buf| fill_frame(buf, &fill))
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
            .field("waiting", &self.waiting.is_some())
            .finish()
    }
}

impl std::fmt::Debug for Replier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replier")
            .field("endpoint", &self.endpoint())
            .field("replying", &self.replying_to.is_some())
            .finish()
    }
}
