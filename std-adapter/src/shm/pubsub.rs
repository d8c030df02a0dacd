//! PUB/SUB over a broadcast ring: one [`Publisher`], any number of [`Subscriber`]s.
//!
//! The publisher never waits: a subscriber that falls more than a ring's worth behind loses the
//! oldest messages and counts them exactly ([`Subscriber::lost`]). Subscriptions are prefixes
//! matched against a message's first frame, at the reader (the publisher does not know its
//! readers). As in ZeroMQ, **a new subscriber is subscribed to nothing**: call
//! `subscribe(b"")` to receive everything (a one-time warning is logged when messages are
//! dropped for lack of any subscription).
//!
//! One publisher per endpoint: binding a second publisher while the first lives fails with
//! [`SegmentError::InUse`](ringwire_platform::SegmentError::InUse). A publisher that restarts
//! after a crash reclaims the segment (its creator is dead) and connected subscribers move to
//! the new segment within one liveness interval, receiving what it published meanwhile.

use std::time::Instant;

use ringwire_core::ring::broadcast::{Broadcast, Reader, Start, Writer};
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{ClaimError, Creator, OpenError, RingConfig};
use ringwire_platform::{SegmentError, SegmentName, SharedSegment};
use self_cell::self_cell;
use serde::Serialize;

use super::attach::{self, RingSet};
use super::codec::{MessageRef, encode_typed};
use super::frames::{self, FRAME_HEADER};
use super::in_place::{self, InPlace};
use super::options::{Builder, ShmOptions, ShmSocket};
use super::recv::{Wait, recv_methods};
use super::wait::{Check, Waited, notify, wait_for};
use crate::error::{Error, Result};

type Ring = Broadcast<SharedSegment>;
type WriterOf<'a> = Writer<'a, SharedSegment>;
type ReaderOf<'a> = Reader<'a, SharedSegment>;

self_cell!(
    struct PubCell {
        owner: Ring,
        #[not_covariant]
        dependent: WriterOf,
    }
);

self_cell!(
    struct SubCell {
        owner: Ring,
        #[not_covariant]
        dependent: ReaderOf,
    }
);

impl RingSet for Ring {
    const TYPE_NAME: &'static str = "ringwire.shm.pubsub/1";
    const PATTERN: &'static str = "PUB/SUB";

    fn segment_len(config: &RingConfig) -> Option<usize> {
        config.required_len()
    }

    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self> {
        Broadcast::create(seg, config, creator).map_err(|e| Error::Protocol(e.to_string()))
    }

    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError> {
        Broadcast::open(seg, config)
    }
}

pub(crate) fn send_error(e: SendError) -> Error {
    match e {
        SendError::TooLarge { len, capacity } => Error::TooLarge {
            size: len,
            limit: capacity,
        },
        SendError::Full | SendError::Busy => Error::WouldBlock,
        other => Error::Protocol(format!("shm ring: {other}")),
    }
}

/// Publishes messages to every subscriber of an `shm://name` endpoint.
pub struct Publisher {
    cell: PubCell,
    name: SegmentName,
    options: ShmOptions,
    scratch: Vec<u8>,
    stale: attach::StaleCheck,
}

impl Publisher {
    /// Creates the segment `shm://name` with default options and becomes its publisher.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// Opens an existing segment (created by a binding subscriber) and becomes its publisher.
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn from_ring(ring: Ring, name: SegmentName, options: ShmOptions) -> Result<Self> {
        let slot = ring.segment().config().slot_size as usize;
        let stale = attach::StaleCheck::new(ring.segment().region(), options.liveness_interval);
        let cell = PubCell::try_new(ring, |ring| {
            let me = attach::owner_id();
            match ring.writer(me) {
                Err(ClaimError::Held { owner }) if !attach::owner_alive(owner) => {
                    ring.segment().reclaim_writer(attach::owner_alive);
                    ring.writer(me)
                }
                other => other,
            }
            .map_err(|e| match e {
                ClaimError::Held { owner } => Error::Segment(SegmentError::InUse { pid: owner }),
                other => Error::Protocol(other.to_string()),
            })
        })?;
        Ok(Self {
            cell,
            name,
            options,
            scratch: vec![0; slot],
            stale,
        })
    }

    /// If the segment's creator (a binding subscriber) died and a successor bound the name,
    /// moves to the new segment.
    fn follow(&mut self) -> Result<()> {
        if self.stale.due() {
            let current = self.cell.borrow_owner().segment().region();
            if let Some(ring) = attach::replacement::<Ring>(&self.name, &self.options, current) {
                *self = Self::from_ring(ring, self.name.clone(), self.options.clone())?;
            }
        }
        Ok(())
    }

    /// Publishes `msg` (postcard) as a one-frame message.
    pub fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<()> {
        self.publish(|buf| encode_typed(buf, None, msg))
    }

    /// Publishes `[topic, postcard(msg)]`; subscribers match `topic` by prefix.
    pub fn send_on<T: Serialize + ?Sized>(&mut self, topic: &str, msg: &T) -> Result<()> {
        self.publish(|buf| encode_typed(buf, Some(topic.as_bytes()), msg))
    }

    /// Publishes raw bytes as a one-frame message.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.publish(|buf| frames::encode(&[bytes], buf))
    }

    /// Publishes a multipart message (the first frame is what subscriptions match).
    pub fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.publish(|buf| frames::encode(parts, buf))
    }

    fn publish(&mut self, encode: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result<()> {
        self.follow()?;
        let n = encode(&mut self.scratch)?;
        let scratch = &self.scratch[..n];
        let done = self
            .cell
            .with_dependent_mut(|_, w| w.try_send(scratch))
            .map_err(send_error)?;
        notify(self.cell.borrow_owner().segment(), done);
        Ok(())
    }

    /// Zero-copy publish of one frame: `fill` writes into the slot in place and returns the
    /// length to publish, or `None` to publish nothing. Returns whether it published.
    ///
    /// Subscribers that were reading the overwritten slot count it as lost, as with any send.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<bool> {
        self.follow()?;
        let done = self.cell.with_dependent_mut(|_, w| {
            let mut loan = w.loan();
            let cap = loan.len().saturating_sub(FRAME_HEADER);
            match fill(&mut loan[FRAME_HEADER..]) {
                None => Ok(None),
                Some(n) if n > cap => Err(Error::TooLarge {
                    size: n,
                    limit: cap,
                }),
                Some(n) => {
                    frames::write_header(&mut loan, n, false);
                    loan.commit(FRAME_HEADER + n).map(Some).map_err(send_error)
                }
            }
        })?;
        match done {
            Some(n) => {
                notify(self.cell.borrow_owner().segment(), n);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Largest one-frame payload a message may carry, in bytes.
    pub fn max_message_size(&self) -> usize {
        self.scratch.len().saturating_sub(FRAME_HEADER)
    }

    /// Messages published on this segment so far.
    pub fn sent(&self) -> u64 {
        self.cell.borrow_owner().head()
    }

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.name)
    }
}

impl ShmSocket for Publisher {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let ring = attach::bind::<Ring>(&name, &options)?;
        Self::from_ring(ring, name, options)
    }

    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let ring = attach::connect::<Ring>(&name, &options, deadline)?;
        Self::from_ring(ring, name, options)
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

/// Receives the messages of an `shm://name` publisher whose first frame matches a subscription.
pub struct Subscriber {
    cell: SubCell,
    name: SegmentName,
    options: ShmOptions,
    buf: Vec<u8>,
    filters: Vec<Vec<u8>>,
    lost: u64,
    warned: bool,
}

/// How many messages one receive attempt may skip (filtered out or lost) before it lets the
/// wait loop look at its deadline: twice the ring plus a margin, so an attempt that starts
/// with a full ring always drains it (a wait loop then sleeps only on a truly empty ring),
/// while a publisher flooding non-matching topics cannot hold a receive past its deadline.
fn skip_budget(reader: &ReaderOf<'_>) -> u64 {
    u64::from(reader.ring().segment().config().slot_count) * 2 + 64
}

impl Subscriber {
    /// Opens `shm://name` (waiting up to the connect timeout for the publisher to create it).
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// Creates the segment `shm://name` for a publisher that connects later.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn from_ring(ring: Ring, name: SegmentName, options: ShmOptions, start: Start) -> Self {
        let slot = ring.segment().config().slot_size as usize;
        Self {
            cell: SubCell::new(ring, |ring| ring.reader(start)),
            name,
            options,
            buf: vec![0; slot],
            filters: Vec::new(),
            lost: 0,
            warned: false,
        }
    }

    /// Receives messages whose first frame starts with `prefix` (`b""`: everything).
    pub fn subscribe(&mut self, prefix: &[u8]) {
        self.filters.push(prefix.to_vec());
    }

    /// Removes one subscription equal to `prefix`; returns whether there was one.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> bool {
        match self.filters.iter().position(|f| f == prefix) {
            Some(i) => {
                self.filters.swap_remove(i);
                true
            }
            None => false,
        }
    }

    /// Messages this subscriber lost because the publisher overwrote them before it read them.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether a publisher is attached and its process alive (a dead publisher's subscribers
    /// keep waiting for a successor; this tells them there is none right now).
    pub fn publisher_alive(&self) -> bool {
        let owner = self.cell.borrow_owner().segment().writer_owner();
        owner != 0 && attach::owner_alive(owner)
    }

    /// Messages published but not yet read (including ones the filters will drop).
    pub fn pending(&self) -> u64 {
        self.cell.with_dependent(|_, r| r.pending())
    }

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.name)
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        let len = self.wait_next(wait, &mut |reader, buf, filters, lost, warned, name| {
            next_matching(reader, buf, filters, lost, warned, name)
        })?;
        f(MessageRef::new(&self.buf[..len])?)
    }

    /// Receives the next matching message and lets `read` look at it where it lies in the
    /// ring, copying only what it asks for ([`InPlace::copy_at`], [`InPlace::read_at`]): for
    /// large messages of which a reader needs a part (an image's header and a region of
    /// interest). `timeout`: `None` waits as long as it takes, `Some(Duration::ZERO)` not at all.
    ///
    /// The publisher never waits, so it may overwrite the slot while `read` runs. The receive
    /// checks afterwards (seqlock) that the message was intact; if it was not, the result is
    /// discarded, the message counts as [lost](Self::lost), and `read` runs again on the next
    /// matching message. So `read` may run more than once, and only its last result is
    /// returned; it should only read, not act on what it reads.
    pub fn recv_in_place<R>(
        &mut self,
        timeout: Option<std::time::Duration>,
        mut read: impl FnMut(&InPlace<'_>) -> R,
    ) -> Result<R> {
        let wait = match timeout {
            None => Wait::Forever,
            Some(t) if t.is_zero() => Wait::Try,
            Some(t) => Wait::timeout(t),
        };
        self.wait_next(wait, &mut |reader, buf, filters, lost, _, name| {
            next_in_place(reader, buf, filters, lost, name, &mut read)
        })
    }

    /// Waits (per the socket's wait mode) until `attempt` yields a value, following a
    /// restarted publisher to its new segment.
    fn wait_next<T>(&mut self, wait: Wait, attempt: &mut Attempt<'_, T>) -> Result<T> {
        loop {
            let mut next: Option<Ring> = None;
            let Self {
                cell,
                name,
                options,
                buf,
                filters,
                lost,
                warned,
            } = self;
            let waited = cell.with_dependent_mut(|ring, reader| {
                let mut attempt = || attempt(reader, buf, filters, lost, warned, name);
                let mut alive = || {
                    next = attach::replacement::<Ring>(name, options, ring.segment().region());
                    Ok(if next.is_some() {
                        Check::Reattach
                    } else {
                        Check::Continue
                    })
                };
                wait_for(
                    options.wait,
                    wait,
                    ring.segment(),
                    options.liveness_interval,
                    &mut alive,
                    &mut attempt,
                )
            })?;
            match waited {
                Waited::Done(v) => return Ok(v),
                Waited::Reattach => {
                    if let Some(ring) = next {
                        // Everything the restarted publisher wrote so far, as far as held.
                        let all = u64::from(ring.segment().config().slot_count);
                        let old = std::mem::replace(
                            self,
                            Self::from_ring(
                                ring,
                                self.name.clone(),
                                self.options.clone(),
                                Start::Latest(all),
                            ),
                        );
                        self.filters = old.filters;
                        self.lost = old.lost;
                        self.warned = old.warned;
                    }
                }
            }
        }
    }

    recv_methods!();
}

/// One receive attempt over the reader: its scratch buffer, subscriptions, loss counter,
/// "no subscription" warning flag and the endpoint name; `Some` when done.
type Attempt<'a, T> = dyn FnMut(
        &mut ReaderOf<'_>,
        &mut [u8],
        &[Vec<u8>],
        &mut u64,
        &mut bool,
        &SegmentName,
    ) -> Result<Option<T>>
    + 'a;

/// Like [`next_matching`], but reads the message in place through [`InPlace`] and validates
/// after `read` ran (see [`Subscriber::recv_in_place`]).
fn next_in_place<R>(
    reader: &mut ReaderOf<'_>,
    topic_buf: &mut [u8],
    filters: &[Vec<u8>],
    lost: &mut u64,
    name: &SegmentName,
    read: &mut dyn FnMut(&InPlace<'_>) -> R,
) -> Result<Option<R>> {
    let ring_corrupt =
        |e: RecvError| Error::Protocol(format!("shm://{name}: broadcast ring is corrupt ({e})"));
    for _ in 0..skip_budget(reader) {
        let borrowed = match reader.try_borrow() {
            Ok(b) => b,
            Err(RecvError::Empty | RecvError::Busy) => return Ok(None),
            Err(RecvError::Lagged(n)) => {
                *lost = lost.saturating_add(n);
                continue;
            }
            Err(e) => return Err(ring_corrupt(e)),
        };
        let copy = |off: usize, dst: &mut [u8]| borrowed.copy_at(off, dst);
        // Only as much of the topic as the longest subscription needs is copied out.
        let longest = filters.iter().map(Vec::len).max().unwrap_or(0);
        let room = longest.min(topic_buf.len());
        let prefix_buf = &mut topic_buf[..room];
        let parsed = in_place::parse(&copy, borrowed.len(), prefix_buf, |prefix, view| {
            filters
                .iter()
                .any(|f| prefix.starts_with(f))
                .then(|| read(&view))
        });
        // Whatever was read counts only if the slot still holds the same message.
        match borrowed.finish() {
            Ok(()) => match parsed? {
                Some(r) => return Ok(Some(r)),
                None => continue, // not subscribed
            },
            Err(RecvError::Lagged(n)) => *lost = lost.saturating_add(n),
            Err(e) => return Err(ring_corrupt(e)),
        }
    }
    Ok(None)
}

fn next_matching(
    reader: &mut ReaderOf<'_>,
    buf: &mut [u8],
    filters: &[Vec<u8>],
    lost: &mut u64,
    warned: &mut bool,
    name: &SegmentName,
) -> Result<Option<usize>> {
    for _ in 0..skip_budget(reader) {
        match reader.try_recv(buf) {
            Ok(n) => {
                let topic = frames::first(&buf[..n])?;
                if filters.iter().any(|f| topic.starts_with(f)) {
                    return Ok(Some(n));
                }
                if filters.is_empty() && !*warned {
                    *warned = true;
                    log::warn!(
                        "shm://{name}: subscriber has no subscriptions and drops every message \
                         (call subscribe(b\"\") to receive all)"
                    );
                }
            }
            Err(RecvError::Empty) | Err(RecvError::Busy) => return Ok(None),
            Err(RecvError::Lagged(n)) => *lost = lost.saturating_add(n),
            Err(e) => {
                return Err(Error::Protocol(format!(
                    "shm://{name}: broadcast ring is corrupt ({e})"
                )));
            }
        }
    }
    Ok(None)
}

impl super::poller::Pollable for Subscriber {
    fn readable(&self) -> bool {
        self.pending() > 0
    }
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        super::poller::PollHandle(self.cell.borrow_owner().segment())
    }
}

impl ShmSocket for Subscriber {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let ring = attach::bind::<Ring>(&name, &options)?;
        Ok(Self::from_ring(ring, name, options, Start::Next))
    }

    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let ring = attach::connect::<Ring>(&name, &options, deadline)?;
        let start = Start::Latest(options.history as u64);
        Ok(Self::from_ring(ring, name, options, start))
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("endpoint", &self.endpoint())
            .field("lost", &self.lost)
            .finish()
    }
}
