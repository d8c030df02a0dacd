//! The event service: a ROUTER on a thread of its own, driving the core's directory.

use crate::stop_thread::StopThread;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwire_core::broker::PeerId;
use ringwire_core::events::wire::{self, code};
use ringwire_core::events::{Directory, ErrorCode, Outcome, Request};

use super::Result;
use crate::zmtp::{Router, SocketEvent};

/// Nodes a service holds.
pub const MAX_NODES: usize = 256;
/// Events a service holds.
pub const MAX_EVENTS: usize = 1024;
/// Subscriptions a service holds (all nodes together).
pub const MAX_SUBSCRIPTIONS: usize = 8192;

type Dir = Directory<MAX_NODES, MAX_EVENTS, MAX_SUBSCRIPTIONS>;

/// Options of a [`Service`].
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// ZMTP PING interval towards every node.
    pub heartbeat_interval: Duration,
    /// A node silent this long (no data, no PONG) is disconnected and removed: a hung or
    /// frozen process is forgotten like a dead one.
    pub heartbeat_timeout: Duration,
    /// How often the service thread looks at its stop flag and the connection events when
    /// nothing arrives.
    pub slice: Duration,
    /// Hub-less events: each event travels in shared-memory broadcast rings its emitters on
    /// this machine write and its subscribers on this machine read; the service keeps the
    /// directory only (see "Hub-less events" in `docs/events.md`). Nodes that join remote
    /// ([`NodeOptions::remote`](super::NodeOptions::remote): another machine) are served
    /// routed, and the ring writers forward their emissions for them ("Mixed services"). On
    /// for a service bound at `shm://name`; set it to have it on a `tcp://` or `ipc://`
    /// service.
    pub hubless: bool,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            slice: Duration::from_millis(20),
            hubless: false,
        }
    }
}

/// What a service did, and its directory's size now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Nodes joined now.
    pub nodes: usize,
    /// Events alive now.
    pub events: usize,
    /// Subscriptions held now.
    pub subscriptions: usize,
    /// Requests answered OK.
    pub accepted: u64,
    /// Requests refused (ERROR replies), malformed ones included.
    pub refused: u64,
    /// Messages that were not a valid envelope (answered when their header was readable).
    pub malformed: u64,
    /// Event, direct, signal and dissolved messages sent to nodes.
    pub delivered: u64,
    /// Nodes removed because their connection closed (died, dropped, or heartbeat timeout)
    /// without a LEAVE.
    pub lost: u64,
    /// Events dissolved (by their creator or their creator's departure).
    pub dissolved: u64,
    /// Emissions the service carried (EMIT requests it accepted). Hub-less, only those
    /// larger than a ring slot, or of a node without a ring (a remote node's among them).
    pub routed_emissions: u64,
    /// Hub-less: emissions a ring writer also sent the service (FORWARD) for the event's
    /// remote subscribers, and the service passed on.
    pub forwarded_emissions: u64,
    /// Hub-less: FORWARDs the service dropped because the emitter no longer might emit
    /// (the event was dissolved, or the emitter unsubscribed, meanwhile).
    pub forwards_refused: u64,
    /// Messages to nodes the service's socket dropped because the node did not take them
    /// fast enough (its queue held the ROUTER's `send_hwm` messages, or the socket's byte
    /// budget was spent): routed and forwarded emissions, notices and replies alike. A
    /// subscriber on a slow link is not told of these (see "Mixed services").
    pub dropped: u64,
}

/// The event service on a thread it owns. Dropping it stops it (as [`stop`](Self::stop)).
pub struct Service {
    endpoint: String,
    stats: Arc<Mutex<ServiceStats>>,
    thread: StopThread<()>,
}

impl Service {
    /// A service bound at `ep` (`tcp://127.0.0.1:0`, `ipc:///tmp/ev.sock`, `inproc://name`,
    /// or `shm://name`: hub-less, on a Unix socket named after `name` in the temporary
    /// directory; see [`ServiceOptions::hubless`]).
    pub fn bind(ep: &str) -> Result<Service> {
        Self::bind_with(ep, ServiceOptions::default())
    }

    /// [`bind`](Self::bind) with options.
    pub fn bind_with(ep: &str, mut opts: ServiceOptions) -> Result<Service> {
        let socket_ep = super::socket_endpoint(ep);
        opts.hubless |= socket_ep != ep;
        let mut router = Router::builder()
            .heartbeat(opts.heartbeat_interval, opts.heartbeat_timeout)
            .bind(&socket_ep)?;
        let monitor = router.monitor();
        let endpoint = if socket_ep == ep {
            router.endpoint()
        } else {
            ep.to_owned()
        };
        let stats = Arc::new(Mutex::new(ServiceStats::default()));
        let mut state = State {
            router,
            monitor,
            dir: Box::new(Dir::new()),
            peers: HashMap::new(),
            ids: HashMap::new(),
            next_peer: 1,
            instance: instance(&endpoint),
            hubless: opts.hubless,
            generations: HashMap::new(),
            stats: ServiceStats::default(),
        };
        let stats2 = stats.clone();
        let thread = StopThread::spawn("ringwire-events", move |stop| {
            while !stop.load(Ordering::Relaxed) {
                state.turn(opts.slice);
                state.publish(&stats2);
            }
        })
        .map_err(crate::Error::Io)?;
        Ok(Service {
            endpoint,
            stats,
            thread,
        })
    }

    /// The bound endpoint (port 0 resolved): what nodes connect to.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Counters and the directory's size.
    pub fn stats(&self) -> ServiceStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the service thread and waits for it (within one [`ServiceOptions::slice`]);
    /// the socket closes, and every node's next request fails with a timeout.
    pub fn stop(mut self) -> ServiceStats {
        let _ = self.thread.halt();
        self.stats()
    }
}

struct State {
    router: Router,
    monitor: Receiver<SocketEvent>,
    dir: Box<Dir>,
    /// ROUTER routing id → the directory's peer number, and back.
    peers: HashMap<Vec<u8>, PeerId>,
    ids: HashMap<PeerId, Vec<u8>>,
    next_peer: u64,
    /// Told to every node in its JOIN reply; names the doorbells of this service's nodes.
    instance: u32,
    /// Events travel in shm rings; the service sends EMITTER / EMITTER_GONE notices.
    hubless: bool,
    /// Per event with remote subscribers: the generation of the last REMOTE_READERS sent to
    /// all its writers; only FORWARDING answers with it tell the remote subscribers.
    generations: HashMap<Vec<u8>, u32>,
    stats: ServiceStats,
}

/// Sends `frames` to the connection of `to` (gone connections: nothing, the ROUTER counts).
fn send_to(router: &mut Router, ids: &HashMap<PeerId, Vec<u8>>, to: PeerId, frames: &[&[u8]]) {
    let Some(rid) = ids.get(&to) else {
        return;
    };
    let mut all: Vec<&[u8]> = Vec::with_capacity(frames.len() + 1);
    all.push(rid);
    all.extend_from_slice(frames);
    if let Err(e) = router.send_multipart(&all) {
        log::warn!(target: "ringwire::events", "service send: {e}");
    }
}

/// The service's instance number, from its endpoint (port 0 resolved): nodes name their
/// doorbells, inboxes and rings with it, so a service restarted on the same endpoint has the
/// same number and the re-joining nodes' segments keep their names. Never 0.
fn instance(endpoint: &str) -> u32 {
    let h = ringwire_core::segment::fnv1a64(endpoint.as_bytes());
    ((h ^ (h >> 32)) as u32).max(1)
}

impl State {
    fn turn(&mut self, slice: Duration) {
        while let Ok(ev) = self.monitor.try_recv() {
            if let SocketEvent::Disconnected { routing_id, .. } = ev {
                self.disconnected(&routing_id);
            }
        }
        match self.router.recv_multipart_timeout(slice) {
            Ok(msg) => {
                let frames = msg.into_frames();
                if let [rid, rest @ ..] = frames.as_slice() {
                    let rest: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
                    self.on_message(rid, &rest);
                }
            }
            Err(crate::Error::Timeout) => {}
            Err(e) => {
                log::warn!(target: "ringwire::events", "service receive: {e}");
                std::thread::sleep(slice);
            }
        }
    }

    fn publish(&self, stats: &Mutex<ServiceStats>) {
        let sock = self.router.stats();
        let mut s = stats.lock().unwrap_or_else(|p| p.into_inner());
        *s = ServiceStats {
            dropped: sock.dropped_hwm + sock.dropped_budget,
            nodes: self.dir.node_count(),
            events: self.dir.event_count(),
            subscriptions: self.dir.subscription_count(),
            ..self.stats
        };
    }

    fn peer(&mut self, rid: &[u8]) -> PeerId {
        if let Some(p) = self.peers.get(rid) {
            return *p;
        }
        let p = PeerId(self.next_peer);
        self.next_peer += 1;
        self.peers.insert(rid.to_vec(), p);
        self.ids.insert(p, rid.to_vec());
        p
    }

    fn disconnected(&mut self, rid: &[u8]) {
        let Some(p) = self.peers.remove(rid) else {
            return;
        };
        self.ids.remove(&p);
        let id = self.dir.node_id(p).map(<[u8]>::to_vec);
        let rings = self.rings_of(p);
        let read = self.reads_of(p);
        let remote = self.dir.is_remote(p);
        if self.dir.on_disconnect(p) {
            if let Some(id) = id {
                super::doorbell::unlink(self.instance, &id);
                // A node killed with -9 never unlinks its rings.
                for (event, _) in &rings {
                    super::doorbell::unlink_ring(self.instance, event, &id);
                }
                self.emitter_gone(&rings, &id);
                self.reader_gone(&read, &id, remote);
            }
            self.stats.lost += 1;
            self.drain();
        }
    }

    /// The events `p` emits into rings of its own (hub-less), with whether it created them.
    fn rings_of(&self, p: PeerId) -> Vec<(Vec<u8>, bool)> {
        let mut rings = Vec::new();
        if self.hubless {
            self.dir
                .for_each_ring_of(p, |e, created| rings.push((e.to_vec(), created)));
        }
        rings
    }

    /// The live events `p` subscribed to (hub-less).
    fn reads_of(&self, p: PeerId) -> Vec<Vec<u8>> {
        let mut events = Vec::new();
        if self.hubless {
            self.dir
                .for_each_subscription_of(p, |e| events.push(e.to_vec()));
        }
        events
    }

    /// Tells the emitters of `events` that subscriber `id` left or died: they recount their
    /// rings' readers (a killed reader's entry stays in the ring until an emitter frees it),
    /// or, for a remote subscriber, their remote subscribers.
    fn reader_gone(&mut self, events: &[Vec<u8>], id: &[u8], remote: bool) {
        if remote {
            for event in events {
                self.remote_readers(event, None);
            }
            return;
        }
        let head = wire::header(code::READER_GONE, 0);
        for event in events {
            let mut to = Vec::new();
            self.dir.for_each_emitter(event, |_, p| to.push(p));
            for p in to {
                self.stats.delivered += 1;
                self.send(p, &[&head, event, id]);
            }
        }
    }

    /// Tells the subscribers of the multi-emission events in `rings` that `id` no longer
    /// writes them (the events `id` created are dissolved instead).
    fn emitter_gone(&mut self, rings: &[(Vec<u8>, bool)], id: &[u8]) {
        let head = wire::header(code::EMITTER_GONE, 0);
        for (event, created) in rings {
            if *created {
                continue;
            }
            let mut to = Vec::new();
            self.dir.for_each_subscriber(event, |_, p| to.push(p));
            for p in to {
                self.stats.delivered += 1;
                self.send(p, &[&head, event, id]);
            }
        }
    }

    /// Tells the ring writers of `event` (or only `to`) how many of its subscribers joined
    /// remote: they FORWARD their emissions for them while it is not 0. Sent at every change
    /// of that number to all writers, with a new generation they answer (FORWARDING) once
    /// they forward; and with generation 0 (no answer) to a node that becomes a writer while
    /// it is not 0, which knows before its SUBSCRIBE's OK. Returns the writers asked to answer.
    fn remote_readers(&mut self, event: &[u8], to: Option<PeerId>) -> u32 {
        let n = self.dir.remote_subscribers(event);
        let mut writers = Vec::new();
        let generation = match to {
            Some(p) => {
                writers.push(p);
                0
            }
            None => {
                self.dir.for_each_emitter(event, |_, p| writers.push(p));
                let g = self.generations.entry(event.to_vec()).or_insert(0);
                *g = g.wrapping_add(1).max(1);
                *g
            }
        };
        let head = wire::header(code::REMOTE_READERS, 0);
        for p in &writers {
            self.stats.delivered += 1;
            self.send(
                *p,
                &[&head, event, &n.to_le_bytes(), &generation.to_le_bytes()],
            );
        }
        if generation != 0 && n > 0 {
            writers.len() as u32
        } else {
            0
        }
    }

    /// Hub-less SUBSCRIBE of `me` to `event`, accepted: tells `me` every emitter whose ring
    /// to read and, for a multi-emission event, tells the other subscribers to read `me`'s
    /// ring (and `me` of the remote subscribers it forwards to). Returns how many were told
    /// to read `me`'s (the subscriber waits for them). A remote `me` reads no ring: the
    /// writers are told to forward to it instead, and the count is how many (it waits for
    /// their FORWARDING, passed on as EMITTER).
    fn announce(&mut self, me: PeerId, event: &[u8]) -> u32 {
        if self.dir.is_remote(me) {
            return self.remote_readers(event, None);
        }
        let Some(my_id) = self.dir.node_id(me).map(<[u8]>::to_vec) else {
            return 0;
        };
        let mut emitters = Vec::new();
        self.dir
            .for_each_emitter(event, |id, p| emitters.push((id.to_vec(), p)));
        let head = wire::header(code::EMITTER, 0);
        // `me` among the emitters: it may emit (multi emission), so it keeps its ring.
        for (id, _) in &emitters {
            self.stats.delivered += 1;
            self.send(me, &[&head, event, id]);
        }
        if !emitters.iter().any(|(_, p)| *p == me) {
            return 0;
        }
        if self.dir.remote_subscribers(event) > 0 {
            self.remote_readers(event, Some(me));
        }
        let mut readers = Vec::new();
        self.dir.for_each_subscriber(event, |_, p| {
            if p != me {
                readers.push(p);
            }
        });
        for p in &readers {
            self.stats.delivered += 1;
            self.send(*p, &[&head, event, &my_id]);
        }
        readers.len() as u32
    }

    /// A FORWARD or FORWARDING from `peer` (never answered), passed on to the event's
    /// remote subscribers. FORWARD: an emission `peer` wrote into its ring (EVENT); dropped
    /// and counted when `peer` may not emit it now. FORWARDING: `peer` forwards the event
    /// from now on (EMITTER: a remote node's SUBSCRIBE waits for one from each writer); only
    /// an answer to the last REMOTE_READERS sent to all writers is passed on (a later notice
    /// may have stopped the writer forwarding meanwhile).
    fn pass_on(&mut self, peer: PeerId, req: &Request<'_>) {
        if let Request::Forwarding { event, generation } = *req
            && self.generations.get(event) != Some(&generation)
        {
            return;
        }
        let State {
            router,
            dir,
            ids,
            stats,
            ..
        } = self;
        match dir.handle(peer, req) {
            Ok(Outcome::Emit { from, recipients }) => {
                let Request::Forward { event, data } = *req else {
                    return;
                };
                stats.forwarded_emissions += 1;
                let head = wire::header(code::EVENT, 0);
                for p in recipients {
                    stats.delivered += 1;
                    send_to(router, ids, p, &[&head, event, from, data]);
                }
            }
            Ok(Outcome::Forwarding { from, recipients }) => {
                let Request::Forwarding { event, .. } = *req else {
                    return;
                };
                let head = wire::header(code::EMITTER, 0);
                for p in recipients {
                    stats.delivered += 1;
                    send_to(router, ids, p, &[&head, event, from]);
                }
            }
            Ok(_) => {}
            Err(c) => {
                if let Request::Forward { event, .. } = *req {
                    stats.forwards_refused += 1;
                    log::debug!(target: "ringwire::events", "forward of {:?} dropped: {c}", String::from_utf8_lossy(event));
                }
            }
        }
    }

    fn send(&mut self, to: PeerId, frames: &[&[u8]]) {
        send_to(&mut self.router, &self.ids, to, frames);
    }

    fn reply_ok(&mut self, to: PeerId, seq: u32, count: u32) {
        self.stats.accepted += 1;
        self.send(to, &[&wire::header(code::OK, seq), &count.to_le_bytes()]);
    }

    fn reply_err(&mut self, to: PeerId, seq: u32, c: ErrorCode, what: &[u8]) {
        self.stats.refused += 1;
        let msg = format!("{} ({:?})", c.message(), String::from_utf8_lossy(what));
        self.send(
            to,
            &[
                &wire::header(code::ERROR, seq),
                &[c.to_byte()],
                msg.as_bytes(),
            ],
        );
    }

    fn drain(&mut self) {
        let mut notices: Vec<(Vec<u8>, PeerId)> = Vec::new();
        let n = self
            .dir
            .drain_dissolved(|e, p| notices.push((e.to_vec(), p)));
        self.stats.dissolved += n as u64;
        let head = wire::header(code::DISSOLVED, 0);
        if n > 0 {
            let dir = &self.dir;
            self.generations.retain(|e, _| dir.event(e).is_some());
        }
        for (e, p) in notices {
            self.stats.delivered += 1;
            self.send(p, &[&head, &e]);
        }
    }

    fn on_message(&mut self, rid: &[u8], frames: &[&[u8]]) {
        let peer = self.peer(rid);
        let (seq, req) = match Request::parse(frames) {
            Ok(r) => r,
            Err((seq, e)) => {
                self.stats.malformed += 1;
                log::info!(target: "ringwire::events", "malformed request: {e}");
                if let Some(seq) = seq {
                    self.reply_err(peer, seq, ErrorCode::Malformed, e.to_string().as_bytes());
                }
                return;
            }
        };
        let what: &[u8] = match req {
            Request::Join { node, .. } => node,
            Request::Leave => b"",
            Request::CreateEvent { event, .. }
            | Request::Dissolve { event }
            | Request::Subscribe { event }
            | Request::Unsubscribe { event }
            | Request::Emit { event, .. }
            | Request::Forward { event, .. }
            | Request::Forwarding { event, .. } => event,
            Request::Contact { to, .. } | Request::Signal { to } => to,
        };
        let data: &[u8] = match req {
            Request::Emit { data, .. }
            | Request::Forward { data, .. }
            | Request::Contact { data, .. } => data,
            _ => b"",
        };
        // Hub-less: the rings a leaving node wrote, and whether an unsubscriber wrote one.
        let (leaving, leaving_reads) = match req {
            Request::Leave => (self.rings_of(peer), self.reads_of(peer)),
            _ => (Vec::new(), Vec::new()),
        };
        let remote = self.dir.is_remote(peer);
        if let Request::Forward { .. } | Request::Forwarding { .. } = req {
            return self.pass_on(peer, &req);
        }
        let unsub_ring = match req {
            Request::Unsubscribe { event } if self.hubless => self
                .rings_of(peer)
                .iter()
                .any(|(e, created)| e == event && !created),
            _ => false,
        };
        let my_id = self.dir.node_id(peer).map(<[u8]>::to_vec);
        // Deliveries go out while the outcome borrows the directory (disjoint fields).
        let State {
            router,
            dir,
            ids,
            stats,
            instance,
            ..
        } = self;
        let mut deliver = |to: PeerId, frames: &[&[u8]]| {
            stats.delivered += 1;
            send_to(router, ids, to, frames);
        };
        let count = match dir.handle(peer, &req) {
            Err(c) => Err(c),
            Ok(Outcome::Emit { from, recipients }) => {
                stats.routed_emissions += 1;
                let head = wire::header(code::EVENT, 0);
                let mut n = 0u32;
                for p in recipients {
                    deliver(p, &[&head, what, from, data]);
                    n += 1;
                }
                Ok(n)
            }
            Ok(Outcome::Contact { to, from }) => {
                deliver(to, &[&wire::header(code::DIRECT, 0), from, data]);
                Ok(1)
            }
            Ok(Outcome::Signal { to, from }) => {
                deliver(to, &[&wire::header(code::SIGNALLED, 0), from]);
                Ok(1)
            }
            Ok(Outcome::Joined) => Ok(*instance),
            Ok(_) => Ok(0),
        };
        match count {
            Err(c) => self.reply_err(peer, seq, c, what),
            Ok(count) => {
                let mut count = count;
                if self.hubless {
                    match req {
                        Request::Join { remote: true, .. } => {}
                        Request::Join { .. } => {
                            self.stats.accepted += 1;
                            let head = wire::header(code::OK, seq);
                            let flags = [wire::JOIN_HUBLESS];
                            self.send(peer, &[&head, &count.to_le_bytes(), &flags]);
                            return;
                        }
                        Request::Subscribe { event } => count = self.announce(peer, event),
                        Request::Unsubscribe { event } if remote => {
                            self.remote_readers(event, None);
                        }
                        Request::Unsubscribe { event } if unsub_ring => {
                            if let Some(id) = &my_id {
                                self.emitter_gone(&[(event.to_vec(), false)], id);
                            }
                        }
                        Request::Leave => {
                            if let Some(id) = &my_id {
                                self.emitter_gone(&leaving, id);
                                self.reader_gone(&leaving_reads, id, remote);
                            }
                        }
                        _ => {}
                    }
                }
                self.reply_ok(peer, seq, count);
                self.drain();
            }
        }
    }
}
