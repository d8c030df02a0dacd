//! Re-joining a restarted service: a node's DEALER reconnects by itself (ZMTP reconnect, with
//! back-off from 100 ms to 2 s); once its connection is back after a loss, the node joins again
//! with its id and registers its events and subscriptions again, on a thread of its own.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ringwire_core::events::ErrorCode;
use ringwire_core::events::wire::code;

use super::node::{NodeHandle, lock};
use super::{Delivery, Error};

/// First pause between attempts; doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// How long a subscription waits for its event to be created again (by its creator's own
/// re-join) before the node gives it up.
const EVENT_COMES_BACK: Duration = Duration::from_secs(30);

impl NodeHandle {
    fn stopped(&self) -> bool {
        self.inner.stop.load(Ordering::Relaxed)
    }

    /// Sleeps `pause`, or less if the node stops.
    fn nap(&self, pause: Duration) {
        let end = Instant::now() + pause;
        while !self.stopped() && Instant::now() < end {
            std::thread::sleep(pause.min(Duration::from_millis(20)));
        }
    }

    /// Joins again and re-registers; runs until done or the node stops.
    pub(super) fn rejoin(&self) {
        let inner = &*self.inner;
        let mut pause = FIRST_PAUSE;
        loop {
            if self.stopped() {
                return;
            }
            match self.join() {
                Ok((instance, _)) => {
                    inner.instance.store(instance, Ordering::Relaxed);
                    // The new service tells the ring writers again as remote nodes return.
                    lock(&inner.remote_readers).clear();
                    break;
                }
                // The connection broke but the service kept this node.
                Err(Error::Refused {
                    code: ErrorCode::AlreadyJoined,
                    ..
                }) => break,
                Err(e) => {
                    log::debug!(target: "ringwire::events", "node {}: re-join: {e}; again in {pause:?}", inner.id);
                    self.nap(pause);
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
        let created: Vec<(String, [u8; 2])> = lock(&inner.created)
            .iter()
            .map(|(e, k)| (e.clone(), *k))
            .collect();
        let mut events = 0;
        for (event, kind) in &created {
            match self.request(code::CREATE_EVENT, &[event.as_bytes(), kind]) {
                Ok(_) => events += 1,
                Err(e) if e.code() == Some(ErrorCode::EventExists) => events += 1,
                Err(e) => {
                    log::warn!(target: "ringwire::events", "node {}: re-creating {event:?} after the service restarted: {e}", inner.id)
                }
            }
        }
        let subs: Vec<String> = lock(&inner.subs).iter().cloned().collect();
        let mut subscriptions = 0;
        for event in subs {
            // A creator that subscribed with its CREATE_EVENT did so again above.
            let with_create = created.iter().any(|(e, k)| *e == event && k[1] == 1);
            if with_create || self.resubscribe(&event) {
                subscriptions += 1;
            }
        }
        log::info!(
            target: "ringwire::events",
            "node {}: the service restarted; joined again with {events} event(s) and {subscriptions} subscription(s)",
            inner.id
        );
        // Detached: `Node::shut` joins it only while it runs.
        drop(lock(&inner.rejoining).take());
    }

    /// Subscribes to `event` again, waiting for its creator to create it again; gives the
    /// subscription up (a polled one gets [`Delivery::Dissolved`]) if it does not come back.
    fn resubscribe(&self, event: &str) -> bool {
        let inner = &*self.inner;
        let end = Instant::now() + EVENT_COMES_BACK;
        let mut pause = FIRST_PAUSE;
        loop {
            if self.stopped() {
                return false;
            }
            match self.request(code::SUBSCRIBE, &[event.as_bytes()]) {
                Ok(_) => {
                    // Hub-less: this node's ring for the event (if it emits) kept its name.
                    lock(&inner.emitter_of).remove(event);
                    return true;
                }
                Err(e) if e.code() == Some(ErrorCode::AlreadySubscribed) => return true,
                Err(e) if e.code() == Some(ErrorCode::UnknownEvent) && Instant::now() < end => {
                    self.nap(pause);
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(e) => {
                    log::warn!(target: "ringwire::events", "node {}: {event:?} did not come back after the service restarted ({e}); the subscription ends", inner.id);
                    let was_sub = lock(&inner.subs).remove(event);
                    let had_handler = lock(&inner.handlers).events.remove(event).is_some();
                    if was_sub && !had_handler {
                        inner.queue(Delivery::Dissolved(event.to_owned()));
                    }
                    return false;
                }
            }
        }
    }
}
