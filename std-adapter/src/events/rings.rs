//! Hub-less events: each emitter writes an event's emissions into a shared-memory broadcast
//! ring of its own (`shm://rwevt-…`, the `ringwire::shm` PUB/SUB ring), and every subscriber
//! reads the rings of the event's emitters on one thread that sleeps on all of them at once
//! (the crate's [`Poller`]: `futex_waitv` on Linux). The service only keeps the directory and
//! tells nodes whose rings to read (EMITTER / EMITTER_GONE) — see `docs/events.md`.
//!
//! Why one ring per emitter and not one ring per event: the broadcast ring has one writer
//! (a claim a process holds), which is what makes a write a few atomic operations and a copy;
//! sharing it between the emitters of a multi-emission event would need a cross-process lock
//! that a killed emitter can leave held. The MPMC ring (PUSH/PULL) has many writers, but each
//! message goes to one reader, not to all. So a multi-emission event with k emitters is k
//! rings, and a subscriber reads all of them (per-emitter order, no order across emitters —
//! the same as through the service).

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use super::doorbell::ring_endpoint;
use super::node::{Inner, call, lock};
use super::{Delivery, Emitted, NodeId};
use crate::shm::{Publisher, ShmOptions, ShmSocket, Subscriber, WaitMode};
use crate::{Pollable, Poller};

/// How often an emitter frees the ring entries of dead readers (a liveness check each),
/// so that [`OwnRing::count`] stops counting them.
const RECLAIM_EVERY: Duration = Duration::from_millis(200);

/// How long the events thread sleeps at most before it looks at its stop flag.
const SLICE: Duration = Duration::from_millis(100);

/// Emissions one ring may hand over in one go before the thread looks at the other rings.
const BATCH: usize = 256;

/// Ring geometry and policy of a node's own rings.
#[derive(Debug, Clone, Copy)]
pub(super) struct RingGeometry {
    pub(super) slot_size: usize,
    pub(super) slots: usize,
    pub(super) lossless: bool,
    pub(super) timeout: Duration,
}

/// A ring this node writes (it created the event, or may emit a multi-emission one).
pub(super) struct OwnRing {
    publisher: Publisher,
    reclaimed: Instant,
    /// The node's readers epoch at the last recount.
    epoch: u64,
}

impl OwnRing {
    /// Creates the ring of `me` for `event` (replacing one a dead node of the same id left).
    pub(super) fn create(
        instance: u32,
        event: &str,
        me: &NodeId,
        geo: RingGeometry,
    ) -> Option<OwnRing> {
        let ep = ring_endpoint(instance, event.as_bytes(), me.as_str().as_bytes())?;
        let mut opts = ShmOptions::default()
            .slot_size(geo.slot_size)
            .slot_count(geo.slots)
            .lossless(geo.lossless)
            .full(crate::shm::FullPolicy::BlockFor(geo.timeout));
        opts.message_type = Some("ringwire.events/1".into());
        match Publisher::bind_with(&ep, opts) {
            Ok(publisher) => Some(OwnRing {
                publisher,
                reclaimed: Instant::now(),
                epoch: 0,
            }),
            Err(e) => {
                log::info!(target: "ringwire::events", "no ring {ep} (emissions go through the service): {e}");
                None
            }
        }
    }

    /// Writes one emission; `Ok(None)` when it does not fit a slot (the service carries it).
    /// `epoch` is the node's readers epoch: a reader left or died since it moved.
    pub(super) fn emit(&mut self, data: &[u8], epoch: u64) -> crate::Result<Option<u32>> {
        match self.publisher.send_bytes(data) {
            Ok(()) => Ok(Some(self.count(epoch))),
            Err(crate::Error::TooLarge { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The readers attached to the ring: the subscribers the emission reached.
    fn count(&mut self, epoch: u64) -> u32 {
        if epoch != self.epoch || self.reclaimed.elapsed() >= RECLAIM_EVERY {
            self.epoch = epoch;
            self.reclaimed = Instant::now();
            return self.publisher.subscribers() as u32;
        }
        self.publisher.attached() as u32
    }

    /// Waits until `n` readers attached (the service told them to), at most `timeout`.
    pub(super) fn wait_for_readers(&mut self, n: u32, timeout: Duration) {
        if let Err(e) = self.publisher.wait_for_subscribers(n as usize, timeout) {
            log::warn!(target: "ringwire::events", "{}: {n} readers did not all attach: {e}", self.publisher.endpoint());
        }
    }
}

/// A ring this node reads.
pub(super) struct RingIn {
    pub(super) event: String,
    pub(super) from: NodeId,
    sub: Subscriber,
    lost: u64,
}

impl RingIn {
    /// Attaches to `from`'s ring of `event` (it exists: the emitter makes it before it asks
    /// the service). Registered in the ring's reader table at once, so the emitter counts it.
    pub(super) fn attach(instance: u32, event: &str, from: NodeId) -> Option<RingIn> {
        let ep = ring_endpoint(instance, event.as_bytes(), from.as_str().as_bytes())?;
        let mut opts = ShmOptions::default()
            .wait(WaitMode::Blocking)
            .connect_timeout(Duration::from_millis(200));
        opts.message_type = Some("ringwire.events/1".into());
        match Subscriber::connect_with(&ep, opts) {
            Ok(mut sub) => {
                sub.subscribe(b"").ok()?;
                Some(RingIn {
                    event: event.to_owned(),
                    from,
                    sub,
                    lost: 0,
                })
            }
            Err(e) => {
                log::info!(target: "ringwire::events", "cannot read {ep}: {e}");
                None
            }
        }
    }
}

/// What the events thread is told.
pub(super) enum Ctl {
    /// Read this ring too.
    Attach(Box<RingIn>),
    /// Stop reading `event`'s rings (`from`'s only, if given); `ack` once done.
    Detach {
        event: String,
        from: Option<NodeId>,
        ack: Option<SyncSender<()>>,
    },
    Stop,
}

/// A private ring that wakes the events thread when a command waits for it.
pub(super) struct Waker {
    publisher: Publisher,
}

impl Waker {
    /// The waker of node `id` and the subscriber the events thread sleeps on. Named like
    /// the node's doorbell, so that the service unlinks it when it loses the node.
    pub(super) fn new(instance: u32, id: &NodeId) -> crate::Result<(Waker, Subscriber)> {
        let ep = super::doorbell::waker_endpoint(instance, id.as_str().as_bytes())
            .ok_or(crate::Error::State("no waker name"))?;
        let opts = ShmOptions::default().slot_size(8).slot_count(2);
        let publisher = Publisher::bind_with(&ep, opts)?;
        let mut sub =
            Subscriber::connect_with(&ep, ShmOptions::default().wait(WaitMode::Blocking))?;
        sub.subscribe(b"")?;
        Ok((Waker { publisher }, sub))
    }

    pub(super) fn wake(&mut self) {
        let _ = self.publisher.send_bytes(b"");
    }
}

/// The events thread: sleeps on every ring it reads (and the waker), hands emissions to the
/// event's handler (on this thread) or to the node's queue, and reports losses.
pub(super) fn events_loop(inner: &Inner, mut wake: Subscriber, ctl: &Receiver<Ctl>) {
    let mut rings: Vec<RingIn> = Vec::new();
    loop {
        loop {
            match ctl.try_recv() {
                Ok(Ctl::Attach(r)) => {
                    rings.retain(|x| !(x.event == r.event && x.from == r.from));
                    rings.push(*r);
                }
                Ok(Ctl::Detach { event, from, ack }) => {
                    rings.retain(|x| {
                        !(x.event == event && from.as_ref().is_none_or(|f| *f == x.from))
                    });
                    if let Some(ack) = ack {
                        let _ = ack.send(());
                    }
                }
                Ok(Ctl::Stop) | Err(TryRecvError::Disconnected) => return,
                Err(TryRecvError::Empty) => break,
            }
        }
        if inner.stop.load(Ordering::Relaxed) {
            return;
        }
        let ready = {
            let mut sources: Vec<&dyn Pollable> = Vec::with_capacity(rings.len() + 1);
            sources.push(&wake);
            sources.extend(rings.iter().map(|r| &r.sub as &dyn Pollable));
            Poller::poll(&sources, Some(SLICE))
        };
        match ready {
            Ok(ready) => {
                for i in ready {
                    if i == 0 {
                        while wake.try_recv_bytes().is_ok() {}
                    } else if let Some(r) = rings.get_mut(i - 1) {
                        read(inner, r);
                    }
                }
            }
            Err(e) => {
                log::warn!(target: "ringwire::events", "node {}: waiting on event rings: {e}", inner.id);
                std::thread::sleep(SLICE);
            }
        }
    }
}

/// Hands over what `r` holds (up to [`BATCH`]).
fn read(inner: &Inner, r: &mut RingIn) {
    for _ in 0..BATCH {
        let got = r.sub.try_recv_bytes();
        let lost = r.sub.lost();
        if lost > r.lost {
            let count = lost - r.lost;
            r.lost = lost;
            inner.events_lost.fetch_add(count, Ordering::Relaxed);
            log::warn!(target: "ringwire::events", "node {}: lost {count} emissions of {:?} from {} (fell a ring behind)", inner.id, r.event, r.from);
            let polled = !lock(&inner.handlers).events.contains_key(&r.event);
            if polled && lock(&inner.subs).contains(&r.event) {
                inner.queue(Delivery::Lost {
                    event: r.event.clone(),
                    from: r.from.clone(),
                    count,
                });
            }
        }
        match got {
            Ok(data) => deliver(inner, &r.event, &r.from, data),
            Err(crate::Error::WouldBlock | crate::Error::Timeout) => return,
            Err(e) => {
                log::warn!(target: "ringwire::events", "node {}: ring of {:?} from {}: {e}", inner.id, r.event, r.from);
                return;
            }
        }
    }
}

fn deliver(inner: &Inner, event: &str, from: &NodeId, data: Vec<u8>) {
    let h = lock(&inner.handlers).events.get(event).cloned();
    let e = Emitted {
        event: event.to_owned(),
        from: from.clone(),
        data,
    };
    match h {
        Some(h) => call(inner, &h, e),
        None if lock(&inner.subs).contains(event) => inner.queue(Delivery::Event(e)),
        None => {}
    }
}
