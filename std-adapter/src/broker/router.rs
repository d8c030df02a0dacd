//! [`Router`]: two ZMTP ROUTER sockets (frontend for clients, backend for workers) around
//! the core [`Broker`]. Every decision is the core's: this file maps routing ids to
//! [`PeerId`]s, keeps request bodies while the core holds their ids, turns connection
//! events into disconnections, and sends what [`Broker::poll`] asks for.

use crate::stop_thread::StopThread;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringwire_core::broker::wire::{self, ClientEnvelope, Header};
use ringwire_core::broker::{
    Action, Backend, BackendError, Broker, Config, Liveness, PeerId, Refusal, RequestId,
    RequestState, Stats, Strategy, WorkerProtocol,
};

use super::port::{Port, PortEvent};
use super::{STATUS_BROKER_ERROR, ms, ms_since};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::poller::{Pollable, Poller};
use crate::shm::{ShmOptions, WaitMode};

/// The core broker's table sizes: workers, requests in the table, service names.
const WORKERS: usize = 256;
const REQUESTS: usize = 4096;
const SERVICES: usize = 64;
type Core = Broker<WORKERS, REQUESTS, SERVICES>;

/// Messages read from one socket before the other gets its turn.
const BATCH: usize = 256;
/// Clients (frontend) or workers (backend) of an `shm://` side by default.
const SHM_PEERS: usize = 64;
/// The longest a [`Router`]'s thread sleeps before it checks for a stop.
const SLICE: Duration = Duration::from_millis(50);

/// How to make a [`Router`] (or a [`RouterLoop`] driven by the caller).
#[derive(Debug, Clone)]
pub struct RouterBuilder {
    frontend: String,
    backend: String,
    config: Config,
    shm: ShmOptions,
}

impl RouterBuilder {
    /// How a request's worker is chosen (default least-recently-ready).
    pub fn strategy(mut self, s: Strategy) -> Self {
        self.config.strategy = s;
        self
    }

    /// Worker heartbeats: interval, timeout, max missed (default 1 s, 5 s, 1).
    pub fn heartbeat(mut self, l: Liveness) -> Self {
        self.config.heartbeat = l;
        self
    }

    /// Sends of one request to workers before it fails (default 3).
    pub fn max_attempts(mut self, n: u8) -> Self {
        self.config.max_attempts = n;
        self
    }

    /// Requests one worker may hold at once (default 1).
    pub fn max_in_flight(mut self, n: u16) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// Requests one client connection may have in the router (default 16).
    pub fn max_per_client(mut self, n: u16) -> Self {
        self.config.max_per_client = n;
        self
    }

    /// How long a request may wait for a worker of its service before it fails (default:
    /// for ever).
    pub fn queue_timeout(mut self, d: Duration) -> Self {
        self.config.queue_timeout_ms = ms(d);
        self
    }

    /// Options of an `shm://` frontend or backend (default: [`ShmOptions::default`] with
    /// room for 64 clients or workers, `max_clients`). The segment is the router's: its
    /// geometry (slot size, slot count, channels) is set here, and clients and workers read it.
    pub fn shm_options(mut self, options: ShmOptions) -> Self {
        self.shm = options;
        self
    }

    /// Binds both sockets; the caller drives the broker with [`RouterLoop::poll`].
    pub fn bind(self) -> Result<RouterLoop> {
        let frontend = Port::bind(&self.frontend, &self.shm)?;
        let backend = Port::bind(&self.backend, &self.shm)?;
        Ok(RouterLoop {
            broker: Box::new(Core::new(self.config)),
            frontend,
            backend,
            events: Vec::new(),
            shm_wait: self.shm.wait,
            clients: Peers::default(),
            workers: Peers::default(),
            pending: HashMap::new(),
            epoch: Instant::now(),
        })
    }

    /// Binds both sockets and runs the broker on a thread of its own until
    /// [`Router::stop`].
    pub fn spawn(self) -> Result<Router> {
        let mut core = self.bind()?;
        let endpoints = (core.frontend_endpoints(), core.backend_endpoints());
        let shared = Arc::new(Mutex::new(Snapshot::default()));
        let shared2 = shared.clone();
        let thread = StopThread::spawn("ringwire-router", move |stop| {
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) {
                result = core.poll(SLICE);
                if let Ok(mut s) = shared2.lock() {
                    *s = core.snapshot();
                }
                if result.is_err() {
                    break;
                }
            }
            result.map(|()| core.stats())
        })?;
        Ok(Router {
            thread,
            shared,
            endpoints,
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Snapshot {
    stats: Stats,
    workers: usize,
}

/// A broker between clients (frontend) and workers (backend), on a thread of its own.
///
/// Clients may be ringwire [`Client`](super::Client)s, REQ or DEALER sockets sending plain
/// requests, or Majordomo clients (MDP/0.1 or 0.2, by service name). Workers may speak the
/// load-balancing (REQ), Paranoid Pirate or Majordomo protocol (`docs/broker.md`). Dropping
/// the `Router` stops it too; [`stop`](Router::stop) also says how the thread ended.
#[derive(Debug)]
pub struct Router {
    thread: StopThread<Result<Stats>>,
    shared: Arc<Mutex<Snapshot>>,
    endpoints: (Vec<Endpoint>, Vec<Endpoint>),
}

impl Router {
    /// A router with default settings, frontend and backend bound, running.
    pub fn bind(frontend: &str, backend: &str) -> Result<Router> {
        Router::builder(frontend, backend).spawn()
    }

    /// Settings before binding.
    pub fn builder(frontend: &str, backend: &str) -> RouterBuilder {
        RouterBuilder {
            frontend: frontend.to_string(),
            backend: backend.to_string(),
            config: Config::default(),
            shm: ShmOptions::new().max_clients(SHM_PEERS),
        }
    }

    /// The counters, as of the thread's last turn (at most a few tens of ms old).
    pub fn stats(&self) -> Stats {
        self.shared.lock().map(|s| s.stats).unwrap_or_default()
    }

    /// Workers registered, as of the thread's last turn.
    pub fn worker_count(&self) -> usize {
        self.shared.lock().map(|s| s.workers).unwrap_or_default()
    }

    /// The frontend's bound endpoints (a `tcp://...:0` resolved to its port).
    pub fn frontend_endpoints(&self) -> &[Endpoint] {
        &self.endpoints.0
    }

    /// The backend's bound endpoints.
    pub fn backend_endpoints(&self) -> &[Endpoint] {
        &self.endpoints.1
    }

    /// Whether the thread is still running (it ends on a socket error).
    pub fn is_running(&self) -> bool {
        self.thread.is_running()
    }

    /// Stops the thread, closes both sockets and returns the final counters (or the error
    /// that ended the thread).
    pub fn stop(mut self) -> Result<Stats> {
        match self.thread.halt() {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::State("the router thread panicked")),
            None => Ok(self.stats()),
        }
    }
}

/// Routing ids of one side mapped to the core's [`PeerId`]s, with open connections per id (a
/// reconnecting peer may open its new connection before the old one is seen closing).
#[derive(Debug, Default)]
struct Peers {
    by_rid: HashMap<Vec<u8>, (PeerId, usize)>,
    by_id: HashMap<PeerId, Vec<u8>>,
    next: u64,
}

impl Peers {
    fn id(&mut self, rid: &[u8]) -> PeerId {
        if let Some((id, _)) = self.by_rid.get(rid) {
            return *id;
        }
        self.next += 1;
        let id = PeerId(self.next);
        self.by_rid.insert(rid.to_vec(), (id, 0));
        self.by_id.insert(id, rid.to_vec());
        id
    }

    fn connected(&mut self, rid: &[u8]) {
        self.id(rid);
        if let Some((_, n)) = self.by_rid.get_mut(rid) {
            *n += 1;
        }
    }

    /// A connection with this id closed: the peer, if it was its last.
    fn disconnected(&mut self, rid: &[u8]) -> Option<PeerId> {
        let (id, n) = self.by_rid.get_mut(rid)?;
        *n = n.saturating_sub(1);
        if *n > 0 {
            return None;
        }
        let id = *id;
        self.by_rid.remove(rid);
        self.by_id.remove(&id);
        Some(id)
    }

    fn rid(&self, id: PeerId) -> Option<&[u8]> {
        self.by_id.get(&id).map(Vec::as_slice)
    }
}

/// A request the core holds: what is needed to forward it and to answer its client.
#[derive(Debug)]
struct Held {
    client: Vec<u8>,
    envelope: ClientEnvelope,
    service: Vec<u8>,
    body: Vec<Vec<u8>>,
}

/// A bound router that the caller drives ([`poll`](RouterLoop::poll) in a loop), for
/// programs with their own event loop or signal handling (`ringwire broker` runs one).
pub struct RouterLoop {
    broker: Box<Core>,
    frontend: Port,
    backend: Port,
    events: Vec<PortEvent>,
    shm_wait: WaitMode,
    clients: Peers,
    workers: Peers,
    pending: HashMap<RequestId, Held>,
    epoch: Instant,
}

impl std::fmt::Debug for RouterLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterLoop")
            .field("stats", self.broker.stats())
            .field("workers", &self.broker.worker_count())
            .field("held", &self.pending.len())
            .finish()
    }
}

impl RouterLoop {
    /// The counters.
    pub fn stats(&self) -> Stats {
        *self.broker.stats()
    }

    /// Workers registered.
    pub fn worker_count(&self) -> usize {
        self.broker.worker_count()
    }

    /// The frontend's bound endpoints.
    pub fn frontend_endpoints(&self) -> Vec<Endpoint> {
        self.frontend.bound_endpoints()
    }

    /// The backend's bound endpoints.
    pub fn backend_endpoints(&self) -> Vec<Endpoint> {
        self.backend.bound_endpoints()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            stats: *self.broker.stats(),
            workers: self.broker.worker_count(),
        }
    }

    /// Waits up to `max_wait` (less when a heartbeat or expiry is due) for messages, then
    /// handles everything that arrived and everything due. Errors are the sockets' own.
    pub fn poll(&mut self, max_wait: Duration) -> Result<()> {
        let now = ms_since(self.epoch);
        let mut wait = match self.broker.next_deadline() {
            Some(d) => max_wait.min(Duration::from_millis(d.saturating_sub(now))),
            None => max_wait,
        };
        for port in [&self.frontend, &self.backend] {
            if let Some(check) = port.next_check() {
                wait = wait.min(check);
            }
        }
        let set: [&dyn Pollable; 2] = [self.frontend.pollable(), self.backend.pollable()];
        // With both sides on shm the router waits as its shm options say (adaptive by default:
        // spin a little before sleeping, as the shm sockets do, since the next message of a busy
        // peer is usually microseconds away and a futex wake-up is not).
        let spin = match (
            self.frontend.is_shm() && self.backend.is_shm(),
            self.shm_wait,
        ) {
            (true, WaitMode::Adaptive { spin }) => spin,
            (true, WaitMode::BusyPoll) => wait,
            _ => Duration::ZERO,
        };
        if spin.is_zero() || !spin_for(&set, spin) {
            Poller::poll(&set, Some(wait))?;
        }
        self.connection_events();
        // Replies first: they free workers for the requests read next.
        for _ in 0..BATCH {
            match self.backend.try_recv()? {
                Some(frames) => self.on_backend(frames),
                None => break,
            }
            self.flush()?;
        }
        for _ in 0..BATCH {
            match self.frontend.try_recv()? {
                Some(frames) => self.on_frontend(frames),
                None => break,
            }
            self.flush()?;
        }
        self.broker.on_tick(ms_since(self.epoch));
        self.flush()
    }

    fn connection_events(&mut self) {
        let mut events = std::mem::take(&mut self.events);
        self.backend.events(&mut events);
        for ev in events.drain(..) {
            match ev {
                PortEvent::Connected(rid) => self.workers.connected(&rid),
                PortEvent::Disconnected(rid, reason, clean) => {
                    let Some(id) = self.workers.disconnected(&rid) else {
                        continue;
                    };
                    let before = *self.broker.stats();
                    if self.broker.on_worker_disconnect(id, ms_since(self.epoch)) {
                        if clean {
                            log::info!("worker {} left: {reason}", show(&rid));
                        } else {
                            log::warn!("worker {} lost: {reason}", show(&rid));
                        }
                        self.log_requeues(&before, &rid);
                    }
                }
            }
        }
        self.frontend.events(&mut events);
        for ev in events.drain(..) {
            match ev {
                PortEvent::Connected(rid) => self.clients.connected(&rid),
                PortEvent::Disconnected(rid, ..) => {
                    let Some(id) = self.clients.disconnected(&rid) else {
                        continue;
                    };
                    if self.broker.on_client_disconnect(id) > 0 {
                        // Only queued or in-flight requests still need their bodies.
                        let broker = &self.broker;
                        self.pending.retain(|r, _| {
                            matches!(
                                broker.request_state(*r),
                                Some(RequestState::Queued | RequestState::InFlight(_))
                            )
                        });
                    }
                }
            }
        }
        self.events = events;
    }

    fn log_requeues(&self, before: &Stats, worker: &[u8]) {
        let after = self.broker.stats();
        let requeued = after.requeued - before.requeued;
        if requeued > 0 {
            log::warn!(
                "{requeued} request(s) of worker {} requeued for another worker",
                show(worker)
            );
        }
    }

    fn on_frontend(&mut self, mut frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        let rid = frames.remove(0);
        let client = self.clients.id(self.frontend.key(&rid));
        let now = ms_since(self.epoch);
        let (id, envelope, service, body_from) = match self.broker.on_frontend(client, &frames, now)
        {
            Ok(a) => (
                a.id,
                a.request.envelope,
                a.request.service.to_vec(),
                a.request.body_from,
            ),
            Err(Refusal::Malformed(e)) => {
                log::debug!("malformed request from client {} dropped: {e}", show(&rid));
                return;
            }
            Err(refusal) => {
                log::warn!("request from client {} refused: {refusal}", show(&rid));
                if let Ok(req) = wire::decode_client_message(&frames) {
                    let held = Held {
                        client: rid,
                        envelope: req.envelope,
                        service: req.service.to_vec(),
                        body: Vec::new(),
                    };
                    self.send_error(&held, &refusal.to_string());
                }
                return;
            }
        };
        let body = frames.split_off(body_from);
        self.pending.insert(
            id,
            Held {
                client: rid,
                envelope,
                service,
                body,
            },
        );
    }

    fn on_backend(&mut self, mut frames: Vec<Vec<u8>>) {
        if frames.is_empty() {
            return;
        }
        let rid = frames.remove(0);
        let rid = self.backend.key(&rid).to_vec();
        let worker = self.workers.id(&rid);
        let now = ms_since(self.epoch);
        let before = *self.broker.stats();
        let result = self.broker.on_backend(worker, &frames, now);
        self.log_requeues(&before, &rid);
        match result {
            Ok(Backend::Ready) => log::info!("worker {} registered", show(&rid)),
            Ok(Backend::Reply(r)) => {
                let held = if r.last {
                    self.pending.remove(&r.request)
                } else {
                    None
                };
                let Some(h) = held.as_ref().or_else(|| self.pending.get(&r.request)) else {
                    return;
                };
                if let Some(header) = wire::reply_header(h.envelope, &h.service, r.last) {
                    let (client, body) = (&h.client, &frames[r.body_from..]);
                    send(&mut self.frontend, client, header, body);
                }
            }
            Ok(Backend::Heartbeat) => {}
            Ok(Backend::LateReply | Backend::OrphanReply) => {
                log::debug!(
                    "reply from worker {} answers no waiting request",
                    show(&rid)
                );
            }
            Ok(Backend::Gone) => log::info!("worker {} said DISCONNECT", show(&rid)),
            Ok(Backend::SendDisconnect) => {
                log::warn!("worker {} broke the Majordomo protocol", show(&rid));
                self.disconnect_mdp(&rid, &frames);
            }
            Err(BackendError::Refused(_)) => {
                log::warn!(
                    "worker {} refused: the router's tables are full",
                    show(&rid)
                );
                self.disconnect_mdp(&rid, &frames);
            }
            Err(e) => log::debug!("message from worker {} dropped: {e}", show(&rid)),
        }
    }

    /// Sends a Majordomo DISCONNECT to a worker whose message `frames` was Majordomo.
    fn disconnect_mdp(&mut self, rid: &[u8], frames: &[Vec<u8>]) {
        if let Ok(m) = wire::decode_worker_message(frames)
            && let WorkerProtocol::Majordomo(v) = m.protocol()
        {
            send(&mut self.backend, rid, wire::disconnect_message(v), &[]);
        }
    }

    fn send_error(&mut self, h: &Held, message: &str) {
        if let Some(header) = wire::reply_header(h.envelope, &h.service, true) {
            let body = [vec![STATUS_BROKER_ERROR], message.as_bytes().to_vec()];
            send(&mut self.frontend, &h.client, header, &body);
        }
    }

    /// Does everything the core asks for now.
    fn flush(&mut self) -> Result<()> {
        let now = ms_since(self.epoch);
        while let Some(action) = self.broker.poll(now) {
            match action {
                Action::Forward {
                    request,
                    worker,
                    protocol,
                } => {
                    let (Some(rid), Some(h)) =
                        (self.workers.rid(worker), self.pending.get(&request))
                    else {
                        // Cannot happen: the core only names peers and requests we gave it.
                        log::error!("broker forwarded an unknown request or worker");
                        continue;
                    };
                    let token = request.token();
                    let header = wire::request_header(protocol, &token);
                    send(&mut self.backend, rid, header, &h.body);
                }
                Action::Fail {
                    request, reason, ..
                } => {
                    if let Some(h) = self.pending.remove(&request) {
                        log::warn!("request of client {} failed: {reason}", show(&h.client));
                        self.send_error(&h, &reason.to_string());
                    }
                }
                Action::Heartbeat { worker, protocol } => {
                    if let Some(rid) = self.workers.rid(worker) {
                        let rid = rid.to_vec();
                        send(
                            &mut self.backend,
                            &rid,
                            wire::heartbeat_message(protocol),
                            &[],
                        );
                    }
                }
                Action::DropWorker { worker, protocol } => {
                    let rid = self.workers.rid(worker).map(<[u8]>::to_vec);
                    let name = rid.as_deref().map(show).unwrap_or_default();
                    log::warn!("worker {name} expired: it missed its heartbeats");
                    if let (Some(rid), WorkerProtocol::Majordomo(v)) = (rid, protocol) {
                        send(&mut self.backend, &rid, wire::disconnect_message(v), &[]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Counters for a stop.
    pub fn into_stats(self) -> Stats {
        *self.broker.stats()
    }
}

/// Checks `set` for a message for up to `budget`, yielding the CPU now and then (a peer we
/// wait for may need it); whether one came.
fn spin_for(set: &[&dyn Pollable], budget: Duration) -> bool {
    let until = Instant::now() + budget;
    let mut rounds = 0u32;
    loop {
        if set.iter().any(|s| s.readable().unwrap_or(true)) {
            return true;
        }
        rounds = rounds.wrapping_add(1);
        if rounds.is_multiple_of(16) {
            if Instant::now() >= until {
                return false;
            }
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Sends `[rid] + header + body` on a side (an unknown id is dropped and counted there).
fn send(port: &mut Port, rid: &[u8], header: Header<'_>, body: &[Vec<u8>]) {
    let mut frames: Vec<&[u8]> = Vec::with_capacity(1 + header.as_slice().len() + body.len());
    frames.push(rid);
    frames.extend_from_slice(header.as_slice());
    frames.extend(body.iter().map(Vec::as_slice));
    if frames.len() < 2 {
        return;
    }
    port.send(&frames);
}

/// A routing id for logs: text if it is printable, hex otherwise.
pub(super) fn show(rid: &[u8]) -> String {
    if !rid.is_empty() && rid.iter().all(u8::is_ascii_graphic) {
        String::from_utf8_lossy(rid).into_owned()
    } else {
        rid.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl Drop for RouterLoop {
    fn drop(&mut self) {
        let s = self.broker.stats();
        log::debug!(
            "router stopped: {} requests, {} replies, {} requeued, {} failed",
            s.requests,
            s.replies,
            s.requeued,
            s.failed
        );
    }
}
