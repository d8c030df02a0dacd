//! PUSH/PULL over an MPMC ring: any number of [`Pusher`]s feed a bounded work queue that any
//! number of [`Puller`]s drain, each message going to exactly one puller.
//!
//! Either side may bind (create the segment); the others connect. When the queue is full a
//! pusher blocks, blocks with a timeout, or fails at once ([`FullPolicy`]). Delivery is
//! at-most-once when a process dies mid-operation: the ring's recovery (run by blocked pushers
//! and pullers once per liveness interval) skips a message a dead pusher never finished and
//! frees a slot a dead puller was taking (that message is lost, never duplicated).

use std::ops::{Deref, DerefMut};
use std::time::Instant;

use ringwire_core::ring::mpmc::{Consumer, Loan, Mpmc, Producer};
use ringwire_core::ring::{RecvError, SendError};
use ringwire_core::segment::{ClaimError, Creator, OpenError, RingConfig, RingKind};
use ringwire_platform::{SegmentName, SharedSegment};
use self_cell::self_cell;
use serde::Serialize;

use super::attach::{self, RingSet};
use super::codec::{MessageRef, encode_typed};
use super::frames::{self, FRAME_HEADER};
use super::options::{Builder, FullPolicy, ShmOptions, ShmSocket};
use super::pubsub::send_error;
use super::recv::{Wait, recv_methods};
use super::wait::{Check, EventSource, Waited, notify, notify_space, wait_for};
use crate::error::{Error, ProtocolError, Result};
use ringwire_platform::wait::{OsWaiter, Waiter};

type Ring = Mpmc<SharedSegment>;

/// This socket's handle on the ring: a producer for a pusher, a consumer for a puller. It is
/// taken on first use and kept for the socket's life (per segment), so its participant-table
/// entry is claimed once, not once per message.
enum Handle<'a> {
    Producer(Producer<'a, SharedSegment>),
    Consumer(Consumer<'a, SharedSegment>),
}

/// The handle, once taken (`None` until the first send or receive, or while every entry of
/// the participant table is taken).
type Seat<'a> = Option<Handle<'a>>;

self_cell!(
    /// The ring and this socket's handle on it.
    struct Attached {
        owner: Ring,
        #[covariant]
        dependent: Seat,
    }
);

/// Takes the seat's handle as `want` builds it if there is none yet. `Ok(None)`: every
/// participant entry is taken (wait like on a busy ring: the periodic check frees the entries
/// of dead processes).
fn seated<'s, 'a>(
    seat: &'s mut Seat<'a>,
    want: impl FnOnce() -> std::result::Result<Handle<'a>, ClaimError>,
) -> Result<Option<&'s Handle<'a>>> {
    if seat.is_none() {
        match want() {
            Ok(handle) => *seat = Some(handle),
            Err(ClaimError::TooManyParticipants { .. }) => return Ok(None),
            Err(e) => return Err(Error::Protocol(ProtocolError::Claim(e))),
        }
    }
    Ok(seat.as_ref())
}

impl RingSet for Ring {
    const TYPE_NAME: &'static str = "ringwire.shm.pushpull/1";
    const PATTERN: &'static str = "PUSH/PULL";

    fn segment_len(config: &RingConfig) -> Option<usize> {
        config.required_len_for(RingKind::Mpmc)
    }

    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self> {
        Mpmc::create(seg, config, creator).map_err(|e| Error::Protocol(ProtocolError::Create(e)))
    }

    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError> {
        Mpmc::open(seg, config)
    }
}

/// The ring plus what both sides need to wait on it and recover it.
/// One try of a queue operation: the ring, this process's owner id and the segment's name in,
/// `Some` when done.
type Attempt<'a, T> =
    dyn for<'r> FnMut(&'r Ring, &mut Seat<'r>, u32, &SegmentName) -> Result<Option<T>> + 'a;

struct Queue {
    cell: Attached,
    /// This process's owner id in the segment (its pid, whose liveness lock the mapping holds),
    /// read once: a socket is not used across `fork` (as with ZeroMQ's sockets).
    me: u32,
    name: SegmentName,
    options: ShmOptions,
    stale: attach::StaleCheck,
}

impl Queue {
    fn bind(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let ring = attach::bind::<Ring>(&name, &options)?;
        Ok(Self::new(ring, name, options))
    }

    fn connect(endpoint: &str, options: ShmOptions) -> Result<Self> {
        let name = attach::parse_endpoint(endpoint)?;
        let deadline = Instant::now() + options.connect_timeout;
        let ring = attach::connect::<Ring>(&name, &options, deadline)?;
        Ok(Self::new(ring, name, options))
    }

    fn new(ring: Ring, name: SegmentName, options: ShmOptions) -> Self {
        let stale = attach::StaleCheck::new(ring.segment().region(), options.liveness_interval);
        let me = attach::owner_id(ring.segment().region());
        Self {
            cell: Attached::new(ring, |_| None),
            me,
            name,
            options,
            stale,
        }
    }

    /// The ring.
    fn ring(&self) -> &Ring {
        self.cell.borrow_owner()
    }

    /// On paths that may never block: follow a replacement segment if the creator died.
    fn follow(&mut self) {
        if self.stale.due()
            && let Some(ring) = attach::replacement::<Ring>(
                &self.name,
                &self.options,
                self.ring().segment().region(),
            )
        {
            *self = Self::new(ring, self.name.clone(), self.options.clone());
        }
    }

    /// The periodic check of a blocked call: unwedge slots of dead processes, and move to a
    /// replacement segment if the creator died and a successor bound the name.
    fn check(
        ring: &Ring,
        name: &SegmentName,
        options: &ShmOptions,
        next: &mut Option<Ring>,
    ) -> Result<Check> {
        // Only claims whose owner process has certainly ended are released; a claim with no
        // owner recorded yet (a claimer between its CAS and its owner store) only once the
        // ring's participant table shows that no live process can be its claimer
        // (ringwire_platform::claims, ringwire_core::ring::mpmc). Dead processes' table entries
        // are freed too.
        if let Ok(report) = ringwire_platform::claims::recover_mpmc(ring)
            && report.tombstoned + report.freed > 0
        {
            log::warn!("shm://{name}: recovered slots of dead processes: {report:?}");
        }
        *next = attach::replacement::<Ring>(name, options, ring.segment().region());
        Ok(if next.is_some() {
            Check::Reattach
        } else {
            Check::Continue
        })
    }

    fn full_wait(&self) -> Wait {
        match self.options.full {
            FullPolicy::Block => Wait::Forever,
            FullPolicy::BlockFor(t) => Wait::timeout(t),
            FullPolicy::Error => Wait::Try,
        }
    }

    /// Waits for `attempt` to succeed on this ring, re-attaching to a replacement segment.
    fn wait<T>(&mut self, wait: Wait, attempt: &mut Attempt<'_, T>) -> Result<T> {
        loop {
            let mut next = None;
            let Self {
                cell,
                me,
                name,
                options,
                ..
            } = self;
            let me = *me;
            let waited = cell.with_dependent_mut(|ring, seat| {
                wait_for(
                    options.wait,
                    wait,
                    ring.segment(),
                    options.liveness_interval,
                    &mut || Self::check(ring, name, options, &mut next),
                    &mut || attempt(ring, seat, me, name),
                )
            })?;
            match waited {
                Waited::Done(v) => return Ok(v),
                Waited::Reattach => {
                    if let Some(ring) = next {
                        *self = Self::new(ring, self.name.clone(), self.options.clone());
                    }
                }
            }
        }
    }

    fn send(&mut self, encode: &dyn Fn(&mut [u8]) -> Result<usize>) -> Result<()> {
        self.follow();
        let done = self.wait(self.full_wait(), &mut |ring, seat, me, _| {
            let producer = match seated(seat, || ring.producer(me).map(Handle::Producer))? {
                Some(Handle::Producer(producer)) => producer,
                Some(Handle::Consumer(_)) => return Err(Error::State("a pusher holds a consumer")),
                None => return Ok(None),
            };
            let mut loan = match producer.loan() {
                Ok(loan) => loan,
                Err(SendError::Full) | Err(SendError::Busy) => return Ok(None),
                Err(e) => return Err(send_error(e)),
            };
            // On an encoding error the loan is dropped: consumers skip that slot.
            let n = encode(&mut loan)?;
            loan.commit(n).map(Some).map_err(send_error)
        })?;
        notify(self.ring().segment(), done);
        Ok(())
    }
}

/// Feeds messages into an `shm://name` work queue.
pub struct Pusher {
    queue: Queue,
}

impl Pusher {
    /// Creates the queue `shm://name`.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// Opens the queue `shm://name` created by another process.
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    /// Queues `msg` (postcard) for one puller, waiting for room per the full policy.
    pub fn send<T: Serialize + ?Sized>(&mut self, msg: &T) -> Result<()> {
        self.queue.send(&|buf| encode_typed(buf, None, msg))
    }

    /// Queues raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.queue.send(&|buf| frames::encode(&[bytes], buf))
    }

    /// Queues a multipart message.
    pub fn send_multipart(&mut self, parts: &[&[u8]]) -> Result<()> {
        self.queue.send(&|buf| frames::encode(parts, buf))
    }

    /// Lends the next free slot for a zero-copy one-frame message, waiting for room per the
    /// full policy. Fill it through `DerefMut<Target = [u8]>`, then [`PushLoan::commit`].
    /// Dropping the loan uncommitted queues nothing (pullers skip the slot).
    pub fn loan(&mut self) -> Result<PushLoan<'_>> {
        self.queue.follow();
        let me = self.queue.me;
        let seated = self.queue.cell.with_dependent_mut(|ring, seat| {
            seated(seat, || ring.producer(me).map(Handle::Producer)).map(|h| h.is_some())
        })?;
        if !seated {
            // Every participant entry is taken by live processes.
            return Err(Error::Protocol(ProtocolError::Claim(
                ClaimError::TooManyParticipants {
                    max: ringwire_core::segment::MPMC_PARTICIPANTS as u32,
                },
            )));
        }
        let queue = &self.queue;
        let ring = queue.ring();
        let seg = ring.segment();
        let Some(Handle::Producer(producer)) = queue.cell.borrow_dependent() else {
            return Err(Error::State("a pusher holds a consumer"));
        };
        let take = || match producer.loan() {
            Ok(loan) if loan.len() < FRAME_HEADER => Err(Error::TooLarge {
                size: FRAME_HEADER,
                limit: loan.len(),
            }),
            Ok(loan) => Ok(Some(PushLoan { loan, ring })),
            Err(SendError::Full | SendError::Busy) => Ok(None),
            Err(e) => Err(send_error(e)),
        };
        let wait = queue.full_wait();
        let interval = queue.options.liveness_interval;
        let mut last_check = Instant::now();
        loop {
            if let Some(loan) = take()? {
                return Ok(loan);
            }
            let now = Instant::now();
            match wait.deadline() {
                _ if wait == Wait::Try => return Err(Error::WouldBlock),
                Some(d) if now >= d => return Err(Error::Timeout),
                _ => {}
            }
            if now.duration_since(last_check) >= interval {
                // A slot wedged by a dead puller is freed here.
                let mut ignored = None;
                Queue::check(ring, &queue.name, &queue.options, &mut ignored)?;
                last_check = now;
            }
            // Sleep until a puller frees a slot (it wakes us) or the next check is due.
            let seen = seg.register();
            let got = take();
            if matches!(got, Ok(None)) {
                let until = wait
                    .deadline()
                    .map_or(last_check + interval, |d| d.min(last_check + interval));
                let timeout = until.saturating_duration_since(Instant::now());
                if !timeout.is_zero() {
                    OsWaiter::default().wait(seg.word(), seen, Some(timeout));
                }
            }
            seg.unregister();
            if let Some(loan) = got? {
                return Ok(loan);
            }
        }
    }

    /// Zero-copy send of one frame through a closure: `fill` writes into the slot and returns
    /// the length, or `None` to queue nothing. Returns whether it queued.
    pub fn loan_with(&mut self, fill: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<bool> {
        let mut loan = self.loan()?;
        match fill(&mut loan) {
            Some(n) => loan.commit(n).map(|()| true),
            None => Ok(false),
        }
    }

    /// Messages queued and not yet taken (approximate while others push and pull).
    pub fn queued(&self) -> u64 {
        self.queue.ring().len()
    }

    /// Largest one-frame payload a message may carry, in bytes (larger sends are
    /// `Error::TooLarge`).
    pub fn max_message_size(&self) -> usize {
        let slot = self.queue.ring().segment().config().slot_size as usize;
        slot.saturating_sub(FRAME_HEADER)
    }

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.queue.name)
    }
}

/// A queue slot lent by [`Pusher::loan`]: the message is written in place, never copied.
pub struct PushLoan<'p> {
    loan: Loan<'p, SharedSegment>,
    ring: &'p Ring,
}

impl PushLoan<'_> {
    /// Queues the first `len` bytes as a one-frame message.
    pub fn commit(mut self, len: usize) -> Result<()> {
        let cap = self.loan.len() - FRAME_HEADER;
        if len > cap {
            return Err(Error::TooLarge {
                size: len,
                limit: cap,
            });
        }
        frames::write_header(&mut self.loan, len, false);
        let done = self.loan.commit(FRAME_HEADER + len).map_err(send_error)?;
        notify(self.ring.segment(), done);
        Ok(())
    }
}

impl Deref for PushLoan<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.loan[FRAME_HEADER..]
    }
}

impl DerefMut for PushLoan<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.loan[FRAME_HEADER..]
    }
}

impl ShmSocket for Pusher {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Queue::bind(endpoint, options).map(|queue| Self { queue })
    }
    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Queue::connect(endpoint, options).map(|queue| Self { queue })
    }
}

/// Takes messages from an `shm://name` work queue, competing with other pullers.
pub struct Puller {
    queue: Queue,
}

impl Puller {
    /// Opens the queue `shm://name` created by another process.
    pub fn connect(endpoint: &str) -> Result<Self> {
        Self::connect_with(endpoint, ShmOptions::default())
    }

    /// Creates the queue `shm://name`.
    pub fn bind(endpoint: &str) -> Result<Self> {
        Self::bind_with(endpoint, ShmOptions::default())
    }

    /// A builder to set options before binding or connecting.
    pub fn builder() -> Builder<Self> {
        Builder::new()
    }

    fn recv_raw<R>(
        &mut self,
        wait: Wait,
        f: impl FnOnce(MessageRef<'_>) -> Result<R>,
    ) -> Result<R> {
        let mut f = Some(f);
        let got = self.queue.wait(wait, &mut |ring, seat, me, name| {
            let consumer = match seated(seat, || ring.consumer(me).map(Handle::Consumer))? {
                Some(Handle::Consumer(consumer)) => consumer,
                Some(Handle::Producer(_)) => return Err(Error::State("a puller holds a producer")),
                None => return Ok(None),
            };
            match consumer.try_borrow() {
                // The message is read in place; its slot is freed when `msg` drops.
                Ok(msg) => {
                    let f = f
                        .take()
                        .ok_or(Error::State("receive callback used twice"))?;
                    f(MessageRef::new(&msg)?).map(Some)
                }
                Err(RecvError::Empty | RecvError::Busy) => Ok(None),
                Err(e) => Err(Error::Protocol(ProtocolError::CorruptRing {
                    endpoint: format!("shm://{name}"),
                    error: e,
                })),
            }
        });
        // A slot was freed (even if decoding failed): wake pushers waiting for room.
        if !matches!(got, Err(Error::WouldBlock | Error::Timeout)) {
            notify_space(self.queue.ring().segment());
        }
        got
    }

    recv_methods!();

    /// The endpoint, `shm://name`.
    pub fn endpoint(&self) -> String {
        format!("shm://{}", self.queue.name)
    }
}

impl super::poller::Pollable for Puller {
    fn readable(&self) -> bool {
        !self.queue.ring().is_empty()
    }
    fn poll_handle(&self) -> super::poller::PollHandle<'_> {
        super::poller::PollHandle(self.queue.ring().segment())
    }
}

impl ShmSocket for Puller {
    fn bind_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Queue::bind(endpoint, options).map(|queue| Self { queue })
    }
    fn connect_with(endpoint: &str, options: ShmOptions) -> Result<Self> {
        Queue::connect(endpoint, options).map(|queue| Self { queue })
    }
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Puller")
            .field("endpoint", &self.endpoint())
            .finish()
    }
}
