//! The service's directory: bounded tables of nodes, events and subscriptions, and the
//! rules of who may do what.

use super::wire::{Emission, ErrorCode, MAX_ID, Request};
use crate::broker::PeerId;

/// An id (node or event) stored inline: 1 to [`MAX_ID`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Id {
    len: u8,
    bytes: [u8; MAX_ID],
}

impl Id {
    const EMPTY: Id = Id {
        len: 0,
        bytes: [0; MAX_ID],
    };

    fn new(s: &[u8]) -> Id {
        let mut id = Id::EMPTY;
        let n = s.len().min(MAX_ID);
        id.bytes[..n].copy_from_slice(&s[..n]);
        id.len = n as u8;
        id
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

#[derive(Clone, Copy)]
struct Node {
    peer: Option<PeerId>,
    id: Id,
    /// Joined with [`JOIN_REMOTE`](super::wire::JOIN_REMOTE): reads and writes no ring.
    remote: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventState {
    Free,
    Live,
    /// Dissolved (by its creator or the creator's departure): its subscribers are still to be
    /// told ([`Directory::drain_dissolved`]); no request finds it any more.
    Dissolving,
}

#[derive(Clone, Copy)]
struct Event {
    state: EventState,
    id: Id,
    emission: Emission,
    creator: usize,
}

#[derive(Clone, Copy)]
struct Sub {
    used: bool,
    event: usize,
    node: usize,
}

/// What a request did; the caller answers OK (or ERROR for `Err`) and sends what it says.
#[derive(Debug)]
pub enum Outcome<'d> {
    /// The node joined.
    Joined,
    /// The node left: its subscriptions are gone and its events are being dissolved (call
    /// [`Directory::drain_dissolved`]).
    Left,
    /// The event exists now.
    Created,
    /// The event is being dissolved (call [`Directory::drain_dissolved`]).
    Dissolved,
    /// The node is subscribed.
    Subscribed,
    /// The node is unsubscribed.
    Unsubscribed,
    /// Send the event to every recipient, naming `from` as the emitter (an EMIT; a FORWARD
    /// too, which the service does not answer).
    Emit {
        /// The emitter's node id.
        from: &'d [u8],
        /// Every subscriber except the emitter; for a FORWARD, only the ones that joined
        /// remote.
        recipients: Recipients<'d>,
    },
    /// A FORWARDING (never answered): tell every recipient (the event's subscribers that
    /// joined remote) that `from` forwards the event to them from now on.
    Forwarding {
        /// The ring writer's node id.
        from: &'d [u8],
        /// The event's remote subscribers.
        recipients: Recipients<'d>,
    },
    /// Send the data to `to`, naming `from` as the sender.
    Contact {
        /// The target's connection.
        to: PeerId,
        /// The sender's node id.
        from: &'d [u8],
    },
    /// Send a signal to `to`, naming `from` as the sender.
    Signal {
        /// The target's connection.
        to: PeerId,
        /// The sender's node id.
        from: &'d [u8],
    },
}

/// The connections an emission goes to (every subscriber of the event but the emitter), in
/// subscription-table order.
#[derive(Debug, Clone)]
pub struct Recipients<'d> {
    subs: core::slice::Iter<'d, Sub>,
    nodes: &'d [Node],
    event: usize,
    skip: usize,
    /// Only the nodes that joined remote (a FORWARD).
    remote_only: bool,
}

impl core::fmt::Debug for Sub {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Sub({}, {})", self.event, self.node)
    }
}

impl core::fmt::Debug for Node {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Node({:?})", self.peer)
    }
}

impl Iterator for Recipients<'_> {
    type Item = PeerId;

    fn next(&mut self) -> Option<PeerId> {
        for s in self.subs.by_ref() {
            if s.used
                && s.event == self.event
                && s.node != self.skip
                && (!self.remote_only || self.nodes[s.node].remote)
                && let Some(p) = self.nodes[s.node].peer
            {
                return Some(p);
            }
        }
        None
    }
}

/// The event service's directory with room for `N` nodes, `E` events and `S` subscriptions.
///
/// Nodes are named by the caller's [`PeerId`] (the std layer numbers its ROUTER's routing
/// ids) and known to others by the node id they joined with. Every table is a fixed array:
/// a request that would need one more entry than fits is refused with [`ErrorCode::Full`].
pub struct Directory<const N: usize, const E: usize, const S: usize> {
    nodes: [Node; N],
    events: [Event; E],
    subs: [Sub; S],
}

impl<const N: usize, const E: usize, const S: usize> Default for Directory<N, E, S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const E: usize, const S: usize> Directory<N, E, S> {
    /// An empty directory.
    pub const fn new() -> Self {
        Directory {
            nodes: [Node {
                peer: None,
                id: Id::EMPTY,
                remote: false,
            }; N],
            events: [Event {
                state: EventState::Free,
                id: Id::EMPTY,
                emission: Emission::Single,
                creator: 0,
            }; E],
            subs: [Sub {
                used: false,
                event: 0,
                node: 0,
            }; S],
        }
    }

    fn node_of(&self, peer: PeerId) -> Option<usize> {
        self.nodes.iter().position(|n| n.peer == Some(peer))
    }

    fn node_named(&self, id: &[u8]) -> Option<usize> {
        self.nodes
            .iter()
            .position(|n| n.peer.is_some() && n.id.as_bytes() == id)
    }

    fn event_named(&self, id: &[u8]) -> Option<usize> {
        self.events
            .iter()
            .position(|e| e.state == EventState::Live && e.id.as_bytes() == id)
    }

    fn sub_of(&self, event: usize, node: usize) -> Option<usize> {
        self.subs
            .iter()
            .position(|s| s.used && s.event == event && s.node == node)
    }

    fn add_sub(&mut self, event: usize, node: usize) -> Result<(), ErrorCode> {
        let free = self
            .subs
            .iter()
            .position(|s| !s.used)
            .ok_or(ErrorCode::Full)?;
        self.subs[free] = Sub {
            used: true,
            event,
            node,
        };
        Ok(())
    }

    /// Joined nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.peer.is_some()).count()
    }

    /// Live events (not counting ones being dissolved).
    pub fn event_count(&self) -> usize {
        self.events
            .iter()
            .filter(|e| e.state == EventState::Live)
            .count()
    }

    /// Subscriptions held.
    pub fn subscription_count(&self) -> usize {
        self.subs.iter().filter(|s| s.used).count()
    }

    /// The node id `peer` joined with.
    pub fn node_id(&self, peer: PeerId) -> Option<&[u8]> {
        self.node_of(peer).map(|n| self.nodes[n].id.as_bytes())
    }

    /// The connection of the node with id `id`.
    pub fn peer_of(&self, id: &[u8]) -> Option<PeerId> {
        self.node_named(id).and_then(|n| self.nodes[n].peer)
    }

    /// Whether event `id` exists, and who may emit it.
    pub fn event(&self, id: &[u8]) -> Option<Emission> {
        self.event_named(id).map(|e| self.events[e].emission)
    }

    /// Calls `f(node id, connection)` for every node that may emit event `id` into a ring
    /// (hub-less services tell subscribers whose rings to read): the creator, and for a
    /// multi-emission event every subscriber, leaving out the nodes that joined remote (they
    /// emit through the service). Nothing for an unknown event.
    pub fn for_each_emitter(&self, id: &[u8], mut f: impl FnMut(&[u8], PeerId)) {
        let Some(e) = self.event_named(id) else {
            return;
        };
        let ev = &self.events[e];
        let creator = &self.nodes[ev.creator];
        if let (Some(p), false) = (creator.peer, creator.remote) {
            f(creator.id.as_bytes(), p);
        }
        if ev.emission == Emission::Multi {
            for s in self.subs.iter().filter(|s| s.used && s.event == e) {
                let n = &self.nodes[s.node];
                if s.node != ev.creator
                    && !n.remote
                    && let Some(p) = n.peer
                {
                    f(n.id.as_bytes(), p);
                }
            }
        }
    }

    /// Calls `f(node id, connection)` for every subscriber of event `id` that reads rings:
    /// the nodes that joined remote are left out (see
    /// [`remote_subscribers`](Self::remote_subscribers)).
    pub fn for_each_subscriber(&self, id: &[u8], mut f: impl FnMut(&[u8], PeerId)) {
        let Some(e) = self.event_named(id) else {
            return;
        };
        for s in self.subs.iter().filter(|s| s.used && s.event == e) {
            let n = &self.nodes[s.node];
            if !n.remote
                && let Some(p) = n.peer
            {
                f(n.id.as_bytes(), p);
            }
        }
    }

    /// How many subscribers of event `id` joined remote (with
    /// [`JOIN_REMOTE`](super::wire::JOIN_REMOTE)): a hub-less service tells the event's ring
    /// writers, who then FORWARD their emissions for them. 0 for an unknown event.
    pub fn remote_subscribers(&self, id: &[u8]) -> u32 {
        let Some(e) = self.event_named(id) else {
            return 0;
        };
        self.subs
            .iter()
            .filter(|s| s.used && s.event == e && self.nodes[s.node].remote)
            .filter(|s| self.nodes[s.node].peer.is_some())
            .count() as u32
    }

    /// Whether `peer` joined remote (it cannot map the service's shared memory).
    pub fn is_remote(&self, peer: PeerId) -> bool {
        self.node_of(peer).is_some_and(|n| self.nodes[n].remote)
    }

    /// Calls `f(event id, created)` for every event node `peer` may emit: the live events it
    /// created (`created`), and the multi-emission events it subscribed to without creating
    /// them. A hub-less service uses it to unlink a lost node's rings and tell the readers of
    /// the multi-emission ones.
    /// Nothing for a node that joined remote.
    pub fn for_each_ring_of(&self, peer: PeerId, mut f: impl FnMut(&[u8], bool)) {
        let Some(me) = self.node_of(peer) else {
            return;
        };
        if self.nodes[me].remote {
            return;
        }
        for ev in self.events.iter() {
            if ev.state == EventState::Live && ev.creator == me {
                f(ev.id.as_bytes(), true);
            }
        }
        for s in self.subs.iter().filter(|s| s.used && s.node == me) {
            let ev = &self.events[s.event];
            if ev.state == EventState::Live && ev.emission == Emission::Multi && ev.creator != me {
                f(ev.id.as_bytes(), false);
            }
        }
    }

    /// Calls `f(event id)` for every live event node `peer` subscribed to.
    pub fn for_each_subscription_of(&self, peer: PeerId, mut f: impl FnMut(&[u8])) {
        let Some(me) = self.node_of(peer) else {
            return;
        };
        for s in self.subs.iter().filter(|s| s.used && s.node == me) {
            let ev = &self.events[s.event];
            if ev.state == EventState::Live {
                f(ev.id.as_bytes());
            }
        }
    }

    /// Applies one request from `peer`.
    pub fn handle(&mut self, peer: PeerId, req: &Request<'_>) -> Result<Outcome<'_>, ErrorCode> {
        if let Request::Join { node, remote } = *req {
            return self.join(peer, node, remote).map(|()| Outcome::Joined);
        }
        let me = self.node_of(peer).ok_or(ErrorCode::NotJoined)?;
        match *req {
            Request::Join { .. } => Err(ErrorCode::AlreadyJoined),
            Request::Leave => {
                self.remove(me);
                Ok(Outcome::Left)
            }
            Request::CreateEvent {
                event,
                emission,
                creator_subscribes,
            } => {
                if self.event_named(event).is_some() {
                    return Err(ErrorCode::EventExists);
                }
                let free = self
                    .events
                    .iter()
                    .position(|e| e.state == EventState::Free)
                    .ok_or(ErrorCode::Full)?;
                if creator_subscribes {
                    self.add_sub(free, me)?;
                }
                self.events[free] = Event {
                    state: EventState::Live,
                    id: Id::new(event),
                    emission,
                    creator: me,
                };
                Ok(Outcome::Created)
            }
            Request::Dissolve { event } => {
                let e = self.event_named(event).ok_or(ErrorCode::UnknownEvent)?;
                if self.events[e].creator != me {
                    return Err(ErrorCode::NotCreator);
                }
                self.events[e].state = EventState::Dissolving;
                Ok(Outcome::Dissolved)
            }
            Request::Subscribe { event } => {
                let e = self.event_named(event).ok_or(ErrorCode::UnknownEvent)?;
                if self.sub_of(e, me).is_some() {
                    return Err(ErrorCode::AlreadySubscribed);
                }
                self.add_sub(e, me)?;
                Ok(Outcome::Subscribed)
            }
            Request::Unsubscribe { event } => {
                let e = self.event_named(event).ok_or(ErrorCode::UnknownEvent)?;
                let s = self.sub_of(e, me).ok_or(ErrorCode::NotSubscribed)?;
                self.subs[s].used = false;
                Ok(Outcome::Unsubscribed)
            }
            Request::Emit { event, .. }
            | Request::Forward { event, .. }
            | Request::Forwarding { event, .. } => {
                let e = self.event_named(event).ok_or(ErrorCode::UnknownEvent)?;
                let allowed = self.events[e].creator == me
                    || (self.events[e].emission == Emission::Multi && self.sub_of(e, me).is_some());
                if !allowed {
                    return Err(ErrorCode::MayNotEmit);
                }
                let from = self.nodes[me].id.as_bytes();
                let recipients = Recipients {
                    subs: self.subs.iter(),
                    nodes: &self.nodes,
                    event: e,
                    skip: me,
                    remote_only: !matches!(req, Request::Emit { .. }),
                };
                Ok(match req {
                    Request::Forwarding { .. } => Outcome::Forwarding { from, recipients },
                    _ => Outcome::Emit { from, recipients },
                })
            }
            Request::Contact { to, .. } => {
                let t = self.node_named(to).ok_or(ErrorCode::UnknownNode)?;
                let to = self.nodes[t].peer.ok_or(ErrorCode::UnknownNode)?;
                Ok(Outcome::Contact {
                    to,
                    from: self.nodes[me].id.as_bytes(),
                })
            }
            Request::Signal { to } => {
                let t = self.node_named(to).ok_or(ErrorCode::UnknownNode)?;
                let to = self.nodes[t].peer.ok_or(ErrorCode::UnknownNode)?;
                Ok(Outcome::Signal {
                    to,
                    from: self.nodes[me].id.as_bytes(),
                })
            }
        }
    }

    fn join(&mut self, peer: PeerId, node: &[u8], remote: bool) -> Result<(), ErrorCode> {
        if self.node_of(peer).is_some() {
            return Err(ErrorCode::AlreadyJoined);
        }
        if self.node_named(node).is_some() {
            return Err(ErrorCode::NodeIdTaken);
        }
        let free = self
            .nodes
            .iter()
            .position(|n| n.peer.is_none())
            .ok_or(ErrorCode::Full)?;
        self.nodes[free] = Node {
            peer: Some(peer),
            id: Id::new(node),
            remote,
        };
        Ok(())
    }

    /// Forgets node `n`: its subscriptions go, its live events become dissolving.
    fn remove(&mut self, n: usize) {
        for s in self.subs.iter_mut() {
            if s.used && s.node == n {
                s.used = false;
            }
        }
        for e in self.events.iter_mut() {
            if e.state == EventState::Live && e.creator == n {
                e.state = EventState::Dissolving;
            }
        }
        self.nodes[n].peer = None;
    }

    /// The connection `peer` closed (or the node died): the same as its LEAVE. Returns
    /// whether it was a joined node; then call [`drain_dissolved`](Self::drain_dissolved).
    pub fn on_disconnect(&mut self, peer: PeerId) -> bool {
        match self.node_of(peer) {
            Some(n) => {
                self.remove(n);
                true
            }
            None => false,
        }
    }

    /// Finishes dissolving events: calls `notify(event id, subscriber)` once per remaining
    /// subscriber of each event being dissolved (the caller sends it DISSOLVED), then frees
    /// the events and their subscriptions. Call it after every [`Outcome::Left`],
    /// [`Outcome::Dissolved`] and [`on_disconnect`](Self::on_disconnect).
    pub fn drain_dissolved(&mut self, mut notify: impl FnMut(&[u8], PeerId)) -> usize {
        let mut dissolved = 0;
        for (i, e) in self.events.iter_mut().enumerate() {
            if e.state != EventState::Dissolving {
                continue;
            }
            for s in self.subs.iter_mut() {
                if s.used && s.event == i {
                    s.used = false;
                    if let Some(p) = self.nodes[s.node].peer {
                        notify(e.id.as_bytes(), p);
                    }
                }
            }
            e.state = EventState::Free;
            dissolved += 1;
        }
        dissolved
    }
}
