//! PUB/SUB over a broadcast ring: one [`Publisher`], any number of [`Subscriber`]s.
//!
//! By default the publisher never waits: a subscriber that falls more than a ring's worth
//! behind loses messages and counts them exactly ([`Subscriber::lost`]), then resumes per its
//! [`LagPolicy`](super::LagPolicy) (by default half a ring behind the newest message, so a
//! subscriber half as fast as the publisher still delivers about half the messages; a warning
//! is logged, at most once a second per subscriber). Subscriptions are prefixes
//! matched against a message's first frame, at the reader (the publisher does not know its
//! readers). As in ZeroMQ, **a new subscriber is subscribed to nothing**: call
//! `subscribe(b"")` to receive everything, or connect with
//! [`Subscriber::connect_with_topics`] (a one-time warning is logged when messages are dropped
//! for lack of any subscription).
//!
//! A [lossless](ShmOptions::lossless) publisher waits instead of overwriting what a live
//! subscriber has not read: subscribers register in the segment's subscriber table (the first
//! [`SUBSCRIBER_ENTRIES`]), which also lets the publisher count them
//! ([`Publisher::subscribers`], [`Publisher::wait_for_subscribers`]). `docs/shm-transport.md`
//! ("Slow subscribers and late joiners") gives the costs.
//!
//! One publisher per endpoint: binding a second publisher while the first lives fails with
//! [`SegmentError::InUse`](ringwire_platform::SegmentError::InUse). A publisher that restarts
//! after a crash reclaims the segment (its creator is dead) and connected subscribers move to
//! the new segment within one liveness interval, receiving what it published meanwhile.

use ringwire_core::pattern::subscription::Subscriptions;
use std::time::Instant;

use ringwire_core::ring::broadcast::{Broadcast, Reader, SlotWriter, Start, Writer};
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{ClaimError, Creator, OpenError, RingConfig};
use ringwire_platform::{SegmentError, SegmentName, SharedSegment};
use self_cell::self_cell;
use serde::Serialize;

use super::attach::{self, RingSet};
use super::codec::{MessageRef, encode_typed};
use super::frames::{self, FRAME_HEADER};
use super::in_place::{self, InPlace};
use super::options::{Builder, FullPolicy, ShmOptions, ShmSocket};
use super::recv::{Wait, recv_methods};
use super::wait::{Check, Waited, notify, wait_for};
use crate::error::{Error, ProtocolError, Result};

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
        config.required_len_with_subscribers(SUBSCRIBER_ENTRIES)
    }

    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self> {
        Broadcast::create_with_subscribers(seg, config, creator, SUBSCRIBER_ENTRIES)
            .map_err(|e| Error::Protocol(ProtocolError::Create(e)))
    }

    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError> {
        Broadcast::open(seg, config)
    }
}

/// Logs a socket's attach at creation and its detach when dropped (`log` debug records).
struct Lifecycle {
    role: &'static str,
    endpoint: String,
}

impl Lifecycle {
    fn new(role: &'static str, how: &'static str, name: &SegmentName) -> Self {
        let endpoint = format!("shm://{name}");
        log::debug!("{endpoint}: {role} {how}");
        Self { role, endpoint }
    }
}

impl Drop for Lifecycle {
    fn drop(&mut self) {
        log::debug!("{}: {} disconnected", self.endpoint, self.role);
    }
}

/// Subscriber-table entries of a PUB/SUB segment (64 bytes each): the subscribers a publisher
/// counts and, in lossless mode, waits for. Later ones work, unregistered (lossy, uncounted).
pub const SUBSCRIBER_ENTRIES: u32 = 64;

/// How long a lossless publisher sleeps between looks at a subscriber that holds it up
/// (subscribers do not wake the publisher: that would cost every receive a fence and a
/// syscall check).
const LOSSLESS_POLL: std::time::Duration = std::time::Duration::from_micros(20);

/// Rate limit of the "subscriber lagging" warning: at most one record per interval per
/// subscriber, carrying every loss since the previous one.
const LAG_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn send_error(e: SendError) -> Error {
    match e {
        SendError::TooLarge { len, capacity } => Error::TooLarge {
            size: len,
            limit: capacity,
        },
        SendError::Full | SendError::Busy => Error::WouldBlock,
        other => Error::Protocol(ProtocolError::RingSend(other)),
    }
}

/// Publishes messages to every subscriber of an `shm://name` endpoint.
pub struct Publisher {
    cell: PubCell,
    name: SegmentName,
    options: ShmOptions,
    scratch: Vec<u8>,
    stale: attach::StaleCheck,
    _life: Lifecycle,
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

    fn from_ring(
        ring: Ring,
        name: SegmentName,
        options: ShmOptions,
        how: &'static str,
    ) -> Result<Self> {
        let slot = ring.segment().config().slot_size as usize;
        let stale = attach::StaleCheck::new(ring.segment().region(), options.liveness_interval);
        let cell = PubCell::try_new(ring, |ring| {
            let region = ring.segment().region();
            let me = attach::owner_id(region);
            match ring.writer(me) {
                Err(ClaimError::Held { owner }) if !attach::owner_alive(region, owner) => {
                    log::info!(
                        "shm://{name}: publisher process {owner} is dead; reclaiming its \
                         publisher role"
                    );
                    ringwire_platform::claims::reclaim_broadcast_writer(ring);
                    ring.writer(me)
                }
                other => other,
            }
            .map_err(|e| match e {
                ClaimError::Held { owner } => Error::Segment(SegmentError::InUse { pid: owner }),
                other => Error::Protocol(ProtocolError::Claim(other)),
            })
        })?;
        let _life = Lifecycle::new("publisher", how, &name);
        Ok(Self {
            cell,
            name,
            options,
            scratch: vec![0; slot],
            stale,
            _life,
        })
    }

    /// If the segment's creator (a binding subscriber) died and a successor bound the name,
    /// moves to the new segment.
    fn follow(&mut self) -> Result<()> {
        if self.stale.due() {
            let current = self.cell.borrow_owner().segment().region();
            if let Some(ring) = attach::replacement::<Ring>(&self.name, &self.options, current) {
                log::info!(
                    "shm://{}: the segment's creator died and a successor bound the name; \
                     publisher moves to the new segment",
                    self.name
                );
                let (name, options) = (self.name.clone(), self.options.clone());
                *self = Self::from_ring(ring, name, options, "reattached")?;
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

    /// Number of subscribers attached to the segment (registered in its subscriber table;
    /// a dead one counts until a liveness check reclaims its entry, which this does first).
    pub fn subscribers(&self) -> usize {
        let ring = self.cell.borrow_owner();
        ring.reclaim_subscribers(|owner| attach::owner_alive(ring.segment().region(), owner));
        ring.subscribers() as usize
    }

    /// [`subscribers`](Self::subscribers) without the liveness check of each entry: a few
    /// loads, cheap enough for every send (a dead subscriber counts until a check frees it).
    pub fn attached(&self) -> usize {
        self.cell.borrow_owner().subscribers() as usize
    }

    /// Waits until at least `n` subscribers are attached (or `timeout` passes:
    /// [`Error::Timeout`]), like the ZMTP publisher's. A subscriber gets what is published
    /// after it attached, plus the [`history`](ShmOptions::history) it asked for.
    pub fn wait_for_subscribers(&mut self, n: usize, timeout: std::time::Duration) -> Result<()> {
        let deadline = Instant::now().checked_add(timeout);
        let mut nap = std::time::Duration::from_micros(50);
        loop {
            self.follow()?;
            if self.subscribers() >= n {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(Error::Timeout);
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(std::time::Duration::from_millis(1));
        }
    }

    /// In lossless mode, waits (per the [`full`](ShmOptions::full) policy) until writing the
    /// next message overwrites nothing a live subscriber has not read.
    fn wait_lossless(&mut self) -> Result<()> {
        if !self.options.lossless {
            return Ok(());
        }
        let deadline = match self.options.full {
            FullPolicy::Error => Some(Instant::now()),
            FullPolicy::BlockFor(d) => Instant::now().checked_add(d),
            _ => None,
        };
        let mut next_check = Instant::now();
        let mut spins = 0u32;
        loop {
            let blocked = self.cell.with_dependent(|_, w| w.blocked_by());
            let Some(owner) = blocked else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= next_check {
                next_check = now + self.options.liveness_interval;
                let ring = self.cell.borrow_owner();
                let region = ring.segment().region();
                if !attach::owner_alive(region, owner) {
                    let freed =
                        ring.reclaim_subscribers(|owner| attach::owner_alive(region, owner));
                    log::info!(
                        "shm://{}: subscriber process {owner} is dead; freed {freed} subscriber \
                         entries so the lossless publisher goes on",
                        self.name
                    );
                    continue;
                }
            }
            if deadline.is_some_and(|d| now >= d) {
                return Err(match self.options.full {
                    FullPolicy::Error => Error::WouldBlock,
                    _ => Error::Timeout,
                });
            }
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(LOSSLESS_POLL);
            }
        }
    }

    fn publish(&mut self, encode: impl FnOnce(&mut [u8]) -> Result<usize>) -> Result<()> {
        self.follow()?;
        let n = encode(&mut self.scratch)?;
        self.wait_lossless()?;
        let scratch = &self.scratch[..n];
        let done = self
            .cell
            .with_dependent_mut(|_, w| w.try_send(scratch))
            .map_err(send_error)?;
        notify(self.cell.borrow_owner().segment(), done);
        Ok(())
    }

    /// Zero-copy publish of one frame: `fill` writes into the slot in place through a
    /// [`SlotWriter`] (its `write_at`, `copy_from_slice`, `fill`, ...) and returns the length to
    /// publish, or `None` to publish nothing. Returns whether it published.
    ///
    /// Subscribers may be copying the slot's previous message while `fill` runs, so the slot is
    /// never lent as `&mut [u8]`: every write is a relaxed atomic word store (word-sized for the
    /// aligned middle of each write), which keeps a racing copy a detected overrun rather than a
    /// data race. Subscribers that were reading the overwritten slot count it as lost, as with
    /// any send.
    pub fn loan_with(
        &mut self,
        fill: impl FnOnce(&mut SlotWriter<'_>) -> Option<usize>,
    ) -> Result<bool> {
        self.follow()?;
        self.wait_lossless()?;
        let done = self.cell.with_dependent_mut(|_, w| {
            let mut loan = w.loan();
            let filled = {
                let mut whole = loan.writer();
                let cap = whole.len().saturating_sub(FRAME_HEADER);
                match whole
                    .tail(FRAME_HEADER)
                    .map(|mut payload| fill(&mut payload))
                {
                    None | Some(None) => None,
                    Some(Some(n)) if n > cap => {
                        return Err(Error::TooLarge {
                            size: n,
                            limit: cap,
                        });
                    }
                    Some(Some(n)) => Some(n),
                }
            };
            match filled {
                None => Ok(None),
                Some(n) => {
                    let mut header = [0u8; FRAME_HEADER];
                    frames::write_header(&mut header, n, false);
                    loan.write_at(0, &header);
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
        Self::from_ring(ring, name, options, "bound")
    }

    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let ring = attach::connect::<Ring>(&name, &options, deadline)?;
        Self::from_ring(ring, name, options, "connected")
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
    filters: Subs,
    lost: u64,
    warned: bool,
    lag_log: LagLog,
    dead_logged: bool,
    _life: Lifecycle,
}

/// What the rate-limited "lagging" warning reported last.
#[derive(Debug, Default, Clone, Copy)]
struct LagLog {
    /// `lost` when the last record was written.
    reported: u64,
    /// When it was written.
    at: Option<Instant>,
}

/// A subscriber's prefixes: the core's counted prefix set (the same one the tcp/ipc sockets
/// use), over an arena that grows on demand.
type Subs = Subscriptions<Box<[u8]>>;

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

    /// Opens `shm://name` like [`connect`](Self::connect), already subscribed to each prefix
    /// in `topics` (`&[b""]`: everything), so that nothing published after it returns is
    /// dropped for want of a subscription.
    pub fn connect_with_topics(endpoint: &str, topics: &[&[u8]]) -> Result<Self> {
        Self::with_topics(Self::connect(endpoint)?, topics)
    }

    /// [`connect_with_topics`](Self::connect_with_topics) with options.
    pub fn connect_with_options_and_topics(
        endpoint: &str,
        options: ShmOptions,
        topics: &[&[u8]],
    ) -> Result<Self> {
        Self::with_topics(
            <Self as ShmSocket>::connect_with(endpoint, options)?,
            topics,
        )
    }

    fn with_topics(mut self, topics: &[&[u8]]) -> Result<Self> {
        for topic in topics {
            self.subscribe(topic)?;
        }
        Ok(self)
    }

    /// Creates the segment `shm://name` for a publisher that connects later.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn from_ring(
        ring: Ring,
        name: SegmentName,
        options: ShmOptions,
        start: Start,
        how: &'static str,
    ) -> Self {
        let slot = ring.segment().config().slot_size as usize;
        let _life = Lifecycle::new("subscriber", how, &name);
        let cell = SubCell::new(ring, |ring| {
            let mut reader = ring.reader_with(start, options.lag_policy);
            if !reader.register(attach::owner_id(ring.segment().region())) {
                log::warn!(
                    "shm://{name}: the segment's subscriber table is full; this subscriber is \
                     not counted by the publisher, and a lossless publisher does not wait for it"
                );
            }
            reader
        });
        Self {
            cell,
            name,
            options,
            buf: vec![0; slot],
            filters: Subscriptions::new(Box::default()),
            lost: 0,
            warned: false,
            lag_log: LagLog::default(),
            dead_logged: false,
            _life,
        }
    }

    /// Logs the losses since the last record, at most once per [`LAG_LOG_INTERVAL`].
    fn log_lag(&mut self) {
        let new = self.lost - self.lag_log.reported;
        if new == 0 {
            return;
        }
        let now = Instant::now();
        if self
            .lag_log
            .at
            .is_some_and(|at| now.duration_since(at) < LAG_LOG_INTERVAL)
        {
            return;
        }
        log::warn!(
            "shm://{}: subscriber lagging: lost {new} messages the publisher overwrote ({} in \
             all); resumed per {:?}",
            self.name,
            self.lost,
            self.options.lag_policy
        );
        self.lag_log = LagLog {
            reported: self.lost,
            at: Some(now),
        };
    }

    /// Receives messages whose first frame starts with `prefix` (`b""`: everything).
    /// Subscribing twice to one prefix needs two [`unsubscribe`](Self::unsubscribe)s. A prefix
    /// longer than 65,535 bytes is `Error::TooLarge`.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        const MAX_PREFIX: usize = u16::MAX as usize;
        if prefix.len() > MAX_PREFIX {
            return Err(Error::TooLarge {
                size: prefix.len(),
                limit: MAX_PREFIX,
            });
        }
        while self.filters.subscribe(prefix).is_err() {
            // The arena is full: move to one at least twice the size (6 bytes of entry header).
            let need = self.filters.used_bytes() + 6 + prefix.len();
            let len = need.next_power_of_two().max(64);
            self.filters = self
                .filters
                .moved_to(vec![0u8; len].into_boxed_slice())
                .map_err(|_| Error::State("subscription storage cannot grow"))?;
        }
        Ok(())
    }

    /// Removes one subscription equal to `prefix`; returns whether there was one.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> bool {
        let had = self.filters.contains(prefix);
        self.filters.cancel(prefix);
        had
    }

    /// Messages this subscriber lost because the publisher overwrote them before it read them.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Whether a publisher is attached and its process alive (a dead publisher's subscribers
    /// keep waiting for a successor; this tells them there is none right now).
    pub fn publisher_alive(&self) -> bool {
        let segment = self.cell.borrow_owner().segment();
        let owner = segment.writer_owner();
        owner != 0 && attach::owner_alive(segment.region(), owner)
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
    /// interest). Waits as long as it takes; [`recv_in_place_timeout`](Self::recv_in_place_timeout)
    /// and [`try_recv_in_place`](Self::try_recv_in_place) follow the receive timeout convention.
    ///
    /// The publisher never waits, so it may overwrite the slot while `read` runs. The receive
    /// checks afterwards (seqlock) that the message was intact; if it was not, the result is
    /// discarded, the message counts as [lost](Self::lost), and `read` runs again on the next
    /// matching message. So `read` may run more than once, and only its last result is
    /// returned; it should only read, not act on what it reads.
    pub fn recv_in_place<R>(&mut self, read: impl FnMut(&InPlace<'_>) -> R) -> Result<R> {
        self.in_place(Wait::Forever, read)
    }

    /// [`recv_in_place`](Self::recv_in_place), but fails with [`Error::Timeout`] after
    /// `timeout` (zero: one look without waiting).
    pub fn recv_in_place_timeout<R>(
        &mut self,
        timeout: std::time::Duration,
        read: impl FnMut(&InPlace<'_>) -> R,
    ) -> Result<R> {
        self.in_place(Wait::timeout(timeout), read)
    }

    /// [`recv_in_place`](Self::recv_in_place) without waiting: [`Error::WouldBlock`] if no
    /// matching message is there.
    pub fn try_recv_in_place<R>(&mut self, read: impl FnMut(&InPlace<'_>) -> R) -> Result<R> {
        self.in_place(Wait::Try, read)
    }

    fn in_place<R>(&mut self, wait: Wait, mut read: impl FnMut(&InPlace<'_>) -> R) -> Result<R> {
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
                dead_logged,
                ..
            } = self;
            let waited = cell.with_dependent_mut(|ring, reader| {
                let mut attempt = || attempt(reader, buf, filters, lost, warned, name);
                let mut alive = || {
                    let owner = ring.segment().writer_owner();
                    if owner != 0
                        && !*dead_logged
                        && !attach::owner_alive(ring.segment().region(), owner)
                    {
                        *dead_logged = true;
                        log::warn!(
                            "shm://{name}: publisher process {owner} died; waiting for a \
                             successor to bind"
                        );
                    }
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
            });
            self.log_lag();
            match waited? {
                Waited::Done(v) => return Ok(v),
                Waited::Reattach => {
                    if let Some(ring) = next {
                        log::info!(
                            "shm://{}: the publisher restarted; subscriber follows it to the \
                             new segment",
                            self.name
                        );
                        // Everything the restarted publisher wrote so far, as far as held.
                        let all = u64::from(ring.segment().config().slot_count);
                        let old = std::mem::replace(
                            self,
                            Self::from_ring(
                                ring,
                                self.name.clone(),
                                self.options.clone(),
                                Start::Latest(all),
                                "reattached",
                            ),
                        );
                        self.filters = old.filters;
                        self.lost = old.lost;
                        self.warned = old.warned;
                        self.lag_log = old.lag_log;
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
        &Subs,
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
    filters: &Subs,
    lost: &mut u64,
    name: &SegmentName,
    read: &mut dyn FnMut(&InPlace<'_>) -> R,
) -> Result<Option<R>> {
    let ring_corrupt = |e: RecvError| corrupt_ring(name, e);
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
        let room = filters.longest().min(topic_buf.len());
        let prefix_buf = &mut topic_buf[..room];
        let parsed = in_place::parse(&copy, borrowed.len(), prefix_buf, |prefix, view| {
            filters.matches(prefix).then(|| read(&view))
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

fn corrupt_ring(name: &SegmentName, error: RecvError) -> Error {
    Error::Protocol(ProtocolError::CorruptRing {
        endpoint: format!("shm://{name}"),
        error,
    })
}

fn next_matching(
    reader: &mut ReaderOf<'_>,
    buf: &mut [u8],
    filters: &Subs,
    lost: &mut u64,
    warned: &mut bool,
    name: &SegmentName,
) -> Result<Option<usize>> {
    for _ in 0..skip_budget(reader) {
        match reader.try_recv(buf) {
            Ok(n) => {
                let topic = frames::first(&buf[..n])?;
                if filters.matches(topic) {
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
            Err(e) => return Err(corrupt_ring(name, e)),
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
        // A new segment: nothing to go back to yet, whatever `history` asks.
        Ok(Self::from_ring(ring, name, options, Start::Next, "bound"))
    }

    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let ring = attach::connect::<Ring>(&name, &options, deadline)?;
        // The subscriber's own request, capped by what the ring holds (see `history`).
        let start = Start::Latest(options.history as u64);
        Ok(Self::from_ring(ring, name, options, start, "connected"))
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
