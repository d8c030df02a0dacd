//! A node's side of hub-less events: its own rings and counters (the events thread and the
//! ring handles are in `rings.rs`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::node::{NodeHandle, lock};
use super::rings::OwnRing;

impl NodeHandle {
    pub(super) fn hubless(&self) -> bool {
        self.inner.hubless.load(Ordering::Acquire)
    }

    /// Whether the service is hub-less (events travel in shared-memory rings).
    pub fn is_hubless(&self) -> bool {
        self.hubless()
    }

    /// A ring for this node's emissions of `event` (hub-less services), made before the
    /// request that lets it emit, so that readers told to attach find it; `None` if it has one.
    pub(super) fn new_ring(&self, event: &str) -> Option<OwnRing> {
        if !self.hubless() || lock(&self.inner.rings).contains_key(event) {
            return None;
        }
        OwnRing::create(
            self.inner.instance.load(Ordering::Relaxed),
            event,
            &self.inner.id,
            self.inner.geometry,
        )
    }

    pub(super) fn keep_ring(&self, event: &str, ring: Option<OwnRing>, created: Option<[u8; 2]>) {
        if let Some(kind) = created {
            lock(&self.inner.created).insert(event.to_owned(), kind);
        }
        if let Some(r) = ring {
            lock(&self.inner.rings).insert(event.to_owned(), Arc::new(Mutex::new(r)));
        }
    }

    /// Hub-less services: how many subscribers of `event` joined remote
    /// ([`NodeOptions::remote`](super::NodeOptions::remote)), as the service last told this
    /// node (before a remote node's `subscribe` returns; a moment after one goes). While it
    /// is not 0, each emission this node
    /// writes into its ring of `event` is also sent to the service (FORWARD) for them, and
    /// [`emit`](Self::emit) counts them. 0 for an event this node writes no ring of.
    pub fn remote_subscribers(&self, event: &str) -> u32 {
        lock(&self.inner.remote_readers)
            .get(event)
            .copied()
            .unwrap_or(0)
    }

    /// Emissions this node wrote into its own rings (hub-less services), not through the
    /// service.
    pub fn emitted_locally(&self) -> u64 {
        self.inner.emitted_locally.load(Ordering::Relaxed)
    }

    /// Emissions this node lost because it fell more than a ring behind an emitter (hub-less
    /// services; each loss is also logged, and queued as [`Delivery::Lost`](super::Delivery::Lost) for polled
    /// subscriptions).
    pub fn events_lost(&self) -> u64 {
        self.inner.events_lost.load(Ordering::Relaxed)
    }
}
