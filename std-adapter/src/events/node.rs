//! A node: a DEALER to the service, an I/O thread reading it, a handler thread.

use std::collections::{BTreeSet, HashMap};
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use ringwire_core::events::wire::{self, code};
use ringwire_core::events::{Emission, ErrorCode, ServiceMsg};

use super::doorbell::{Bell, Rang, Remote, inbox_endpoint};
use super::rings::{Ctl, OwnRing, RingGeometry, RingIn, Waker, events_loop};
use super::{Delivery, Direct, Emitted, Error, NodeId, Result, Signals, check_id};
use crate::shm::{FullPolicy, Puller, Pusher};
use crate::zmtp::{Dealer, SocketEvent};

/// How long a node waits for the service's reply by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Options of a [`Node`].
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// How long each request (the join included) waits for the service's reply.
    pub request_timeout: Duration,
    /// Use shared memory between nodes on this machine: this node makes a signal doorbell
    /// and an inbox (an MPMC ring), so that nodes on the machine signal and contact it
    /// without the service, and it rings and pushes into theirs when it finds them.
    /// Default: on for Unix (futex or ulock wake-ups), off elsewhere. Off, every signal and
    /// contact goes through the service.
    pub shm: bool,
    /// Hub-less services: the slot size of the rings this node writes its emissions into
    /// (an emission larger than a slot, less 16 bytes of framing, goes through the service).
    pub event_slot_size: usize,
    /// Hub-less services: the slots of each ring this node writes; a subscriber that falls
    /// this many emissions behind loses some ([`Delivery::Lost`]).
    pub event_slots: usize,
    /// Hub-less services: `emit` waits (up to the request timeout, then [`Error::Timeout`])
    /// instead of overwriting an emission a subscriber has not read yet. Off by default: the
    /// emitter never waits, and a slow subscriber is told how many it lost.
    pub lossless_events: bool,
    /// This node is not on the service's machine (or must not share memory with its nodes):
    /// it says so when it joins, and a hub-less service serves it routed — its emissions go
    /// through the service, and the emissions of the nodes that write rings reach it
    /// through the service too ("Mixed services" in `docs/events.md`). Off by default; a
    /// routed service ignores it. Set [`shm`](Self::shm) off as well for a node that must
    /// not use the machine's doorbells and inboxes either.
    pub remote: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            shm: cfg!(unix),
            event_slot_size: 4096,
            event_slots: 64,
            lossless_events: false,
            remote: false,
        }
    }
}

/// How long the I/O thread waits for a message in one go (it then lets waiting senders in).
const IO_SLICE: Duration = Duration::from_millis(2);

/// The I/O thread's slice while the node is sending (for [`ACTIVE_FOR`] after a send): a
/// sender waits for the socket until the slice ends, so a long slice would add up to 2 ms to
/// every request of a busy node; an idle node goes back to [`IO_SLICE`].
const ACTIVE_SLICE: Duration = Duration::from_micros(50);
const ACTIVE_FOR: Duration = Duration::from_millis(50);

type Shared<F> = Arc<Mutex<Box<F>>>;
type DirectFn = dyn FnMut(Direct) + Send;
type EventFn = dyn FnMut(Emitted) + Send;
type SignalFn = dyn FnMut(Signals) + Send;

pub(super) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Reply {
    Ok(u32, u8),
    Refused(ErrorCode, String),
}

enum Job {
    Direct(Direct),
    Event(Emitted),
    Signal,
    Stop,
}

#[derive(Default)]
pub(super) struct Handlers {
    direct: Option<Shared<DirectFn>>,
    pub(super) events: HashMap<String, Shared<EventFn>>,
    signal: Option<Shared<SignalFn>>,
}

pub(super) struct Inner {
    pub(super) id: NodeId,
    dealer: Mutex<Dealer>,
    /// Threads waiting to send: the I/O thread steps aside while this is not zero.
    senders: AtomicUsize,
    seq: AtomicU32,
    pending: Mutex<HashMap<u32, SyncSender<Reply>>>,
    timeout: Duration,
    pub(super) stop: AtomicBool,
    pub(super) handlers: Mutex<Handlers>,
    /// Events this node is subscribed to (with a handler or polled).
    pub(super) subs: Mutex<BTreeSet<String>>,
    queue_tx: Mutex<Sender<Delivery>>,
    queue_rx: Mutex<Receiver<Delivery>>,
    jobs: Mutex<Sender<Job>>,
    /// Signals received and not yet handed to a handler call or a polled delivery.
    signals: AtomicU64,
    handler_panics: AtomicU64,
    doorbells: bool,
    /// Joined with `JOIN_REMOTE` ([`NodeOptions::remote`]).
    remote: bool,
    /// Hub-less: the events this node writes a ring for that have subscribers that joined
    /// remote, with how many (REMOTE_READERS): each emission is also FORWARDed to the service.
    pub(super) remote_readers: Mutex<HashMap<String, u32>>,
    /// A remote node subscribing: the ring writers of the event that said they forward it
    /// to this node (EMITTER), by event, while `subscribe` waits for them.
    forwarders: Mutex<HashMap<String, BTreeSet<NodeId>>>,
    forwarders_moved: Condvar,
    /// The service instance from the JOIN reply (names doorbells).
    pub(super) instance: AtomicU32,
    /// Other nodes' doorbells found so far (a node without one is looked for again at each
    /// signal: it may be on another machine, or create its doorbell a moment after joining).
    remotes: Mutex<HashMap<NodeId, Arc<Remote>>>,
    rung_locally: AtomicU64,
    /// Other nodes' inboxes found so far.
    inboxes: Mutex<HashMap<NodeId, Arc<Mutex<Pusher>>>>,
    contacted_locally: AtomicU64,
    /// The service is hub-less (the JOIN reply said so) and the events thread runs.
    pub(super) hubless: AtomicBool,
    pub(super) geometry: RingGeometry,
    /// The rings this node writes, by event.
    pub(super) rings: Mutex<HashMap<String, Arc<Mutex<OwnRing>>>>,
    /// Events this node created, with their kind frame (re-created after a service restart;
    /// hub-less, the node keeps their rings when it unsubscribes).
    pub(super) created: Mutex<HashMap<String, [u8; 2]>>,
    /// Events the service named this node an emitter of while it subscribed.
    pub(super) emitter_of: Mutex<BTreeSet<String>>,
    /// The rings the events thread reads or was told to read: (event, emitter).
    reading: Mutex<BTreeSet<(String, NodeId)>>,
    ctl: Mutex<Option<Sender<Ctl>>>,
    waker: Mutex<Option<Waker>>,
    events_thread: Mutex<Option<std::thread::ThreadId>>,
    pub(super) events_lost: AtomicU64,
    pub(super) emitted_locally: AtomicU64,
    /// Bumped at each READER_GONE: rings recount their readers at their next emission.
    pub(super) readers_epoch: AtomicU64,
    /// When the node was made, and when it last sent (µs since then): the I/O thread's slice.
    born: std::time::Instant,
    last_send: AtomicU64,
    /// The re-join thread after a service restart, while it runs.
    pub(super) rejoining: Mutex<Option<JoinHandle<()>>>,
}

/// A node joined to a [`Service`](super::Service). It owns two threads (socket I/O and
/// handlers); dropping it leaves the service and stops them. Every call is on
/// [`NodeHandle`] (reached through `Deref`); [`handle`](Self::handle) gives a clone to use
/// inside handlers or other threads.
pub struct Node {
    handle: NodeHandle,
    io: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
    bell: Option<(Arc<Bell>, JoinHandle<()>)>,
    inbox: Option<JoinHandle<()>>,
    events: Option<JoinHandle<()>>,
    joined: bool,
}

/// A cloneable handle to a [`Node`]'s calls; it does not keep the node's threads alive:
/// once the [`Node`] is dropped, calls fail with [`Error::Closed`].
#[derive(Clone)]
pub struct NodeHandle {
    pub(super) inner: Arc<Inner>,
}

impl Node {
    /// Connects to the service at `ep` and joins it as `id` (the service refuses an id
    /// another live node has: [`ErrorCode::NodeIdTaken`]).
    pub fn connect(ep: &str, id: impl Into<NodeId>) -> Result<Node> {
        Self::connect_with_timeout(ep, id, DEFAULT_REQUEST_TIMEOUT)
    }

    /// [`connect`](Self::connect) with the time each request waits for the service's reply
    /// (the join included).
    pub fn connect_with_timeout(
        ep: &str,
        id: impl Into<NodeId>,
        timeout: Duration,
    ) -> Result<Node> {
        let opts = NodeOptions {
            request_timeout: timeout,
            ..NodeOptions::default()
        };
        Self::connect_with(ep, id, opts)
    }

    /// [`connect`](Self::connect) with options.
    pub fn connect_with(ep: &str, id: impl Into<NodeId>, opts: NodeOptions) -> Result<Node> {
        let timeout = opts.request_timeout;
        let id = id.into();
        check_id(id.as_str())?;
        let mut dealer = Dealer::builder()
            .send_timeout(timeout)
            .connect(&super::socket_endpoint(ep))?;
        let monitor = dealer.monitor();
        let (queue_tx, queue_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            id,
            dealer: Mutex::new(dealer),
            senders: AtomicUsize::new(0),
            seq: AtomicU32::new(0),
            pending: Mutex::new(HashMap::new()),
            timeout,
            stop: AtomicBool::new(false),
            handlers: Mutex::new(Handlers::default()),
            subs: Mutex::new(BTreeSet::new()),
            queue_tx: Mutex::new(queue_tx),
            queue_rx: Mutex::new(queue_rx),
            jobs: Mutex::new(jobs_tx),
            signals: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
            doorbells: opts.shm,
            remote: opts.remote,
            remote_readers: Mutex::new(HashMap::new()),
            forwarders: Mutex::new(HashMap::new()),
            forwarders_moved: Condvar::new(),
            inboxes: Mutex::new(HashMap::new()),
            contacted_locally: AtomicU64::new(0),
            instance: AtomicU32::new(0),
            remotes: Mutex::new(HashMap::new()),
            rung_locally: AtomicU64::new(0),
            hubless: AtomicBool::new(false),
            geometry: RingGeometry {
                slot_size: opts.event_slot_size,
                slots: opts.event_slots,
                lossless: opts.lossless_events,
                timeout,
            },
            rings: Mutex::new(HashMap::new()),
            created: Mutex::new(HashMap::new()),
            emitter_of: Mutex::new(BTreeSet::new()),
            reading: Mutex::new(BTreeSet::new()),
            ctl: Mutex::new(None),
            waker: Mutex::new(None),
            events_thread: Mutex::new(None),
            events_lost: AtomicU64::new(0),
            emitted_locally: AtomicU64::new(0),
            readers_epoch: AtomicU64::new(0),
            rejoining: Mutex::new(None),
            born: std::time::Instant::now(),
            last_send: AtomicU64::new(0),
        });
        let i = inner.clone();
        let io = std::thread::Builder::new()
            .name("ringwire-node-io".into())
            .spawn(move || io_loop(&i, monitor))
            .map_err(crate::Error::Io)?;
        // From here on, a failure drops `node`, which stops the threads started so far.
        let mut node = Node {
            handle: NodeHandle { inner },
            io: Some(io),
            worker: None,
            bell: None,
            inbox: None,
            events: None,
            joined: false,
        };
        let i = node.inner.clone();
        let worker = std::thread::Builder::new()
            .name("ringwire-node-handlers".into())
            .spawn(move || handler_loop(&i, jobs_rx))
            .map_err(crate::Error::Io)?;
        node.worker = Some(worker);
        let id = node.inner.id.as_str().as_bytes().to_vec();
        let (instance, flags) = node.join()?;
        node.joined = true;
        node.inner.instance.store(instance, Ordering::Relaxed);
        if flags & wire::JOIN_HUBLESS != 0 {
            let (waker, wake) = Waker::new(instance, &node.inner.id)?;
            let (tx, rx) = mpsc::channel();
            *lock(&node.inner.ctl) = Some(tx);
            *lock(&node.inner.waker) = Some(waker);
            let i = node.inner.clone();
            let t = std::thread::Builder::new()
                .name("ringwire-node-events".into())
                .spawn(move || events_loop(&i, wake, &rx))
                .map_err(crate::Error::Io)?;
            *lock(&node.inner.events_thread) = Some(t.thread().id());
            node.events = Some(t);
            node.inner.hubless.store(true, Ordering::Release);
        }
        // The inbox first: a node that finds the doorbell finds the inbox.
        if opts.shm
            && let Some(ep) = inbox_endpoint(instance, &id)
        {
            match Puller::bind(&ep) {
                Ok(puller) => {
                    let i = node.inner.clone();
                    let t = std::thread::Builder::new()
                        .name("ringwire-node-inbox".into())
                        .spawn(move || inbox_loop(&i, puller))
                        .map_err(crate::Error::Io)?;
                    node.inbox = Some(t);
                }
                Err(e) => log::info!(target: "ringwire::events", "no inbox {ep}: {e}"),
            }
        }
        if opts.shm
            && node.inbox.is_some()
            && let Some(bell) = Bell::create(instance, &id)
        {
            let bell = Arc::new(bell);
            let (b, i) = (bell.clone(), node.inner.clone());
            let t = std::thread::Builder::new()
                .name("ringwire-node-doorbell".into())
                .spawn(move || b.run(&i.stop, |n| i.ring(n)))
                .map_err(crate::Error::Io)?;
            node.bell = Some((bell, t));
        }
        Ok(node)
    }

    /// A clone of the handle (for handlers and other threads).
    pub fn handle(&self) -> NodeHandle {
        self.handle.clone()
    }

    /// Leaves the service (its events are dissolved) and stops the node's threads.
    pub fn leave(mut self) -> Result<()> {
        let r = self.request(code::LEAVE, &[]).map(|_| ());
        self.joined = false;
        self.shut();
        r
    }

    fn shut(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        let _ = lock(&self.inner.jobs).send(Job::Stop);
        let bell = self.bell.take().map(|(b, t)| {
            b.wake();
            t
        });
        self.inner.control(Ctl::Stop);
        let me = std::thread::current().id();
        let events = self.events.take();
        for t in [
            self.io.take(),
            self.worker.take(),
            bell,
            self.inbox.take(),
            events,
        ]
        .into_iter()
        .flatten()
        {
            if t.thread().id() != me {
                let _ = t.join();
            }
        }
        // Unanswered requests (a re-join's among them) end now.
        lock(&self.inner.pending).clear();
        // Handlers may hold handles (and so `Inner`) forever: what has a name goes now.
        drop(lock(&self.inner.waker).take());
        drop(lock(&self.inner.ctl).take());
        let rejoin = lock(&self.inner.rejoining).take();
        if let Some(t) = rejoin
            && t.thread().id() != me
        {
            let _ = t.join();
        }
        lock(&self.inner.rings).clear();
    }
}

impl Deref for Node {
    type Target = NodeHandle;
    fn deref(&self) -> &NodeHandle {
        &self.handle
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The connection's close tells the service as well; LEAVE makes it immediate. Not
        // sent without a connection: a send would wait for one up to the request timeout.
        if self.joined && lock(&self.inner.dealer).connection_count() > 0 {
            let _ = self.inner.send(&[&wire::header(code::LEAVE, 0)]);
        }
        self.shut();
    }
}

impl NodeHandle {
    /// This node's id.
    pub fn id(&self) -> &NodeId {
        &self.inner.id
    }

    /// The JOIN request (with [`wire::JOIN_REMOTE`] for a remote node): (instance, flags).
    pub(super) fn join(&self) -> Result<(u32, u8)> {
        let id = self.inner.id.as_str().as_bytes();
        if self.inner.remote {
            self.request_flags(code::JOIN, &[id, &[wire::JOIN_REMOTE]])
        } else {
            self.request_flags(code::JOIN, &[id])
        }
    }

    pub(super) fn request(&self, cmd: u8, args: &[&[u8]]) -> Result<u32> {
        self.request_flags(cmd, args).map(|(n, _)| n)
    }

    pub(super) fn request_flags(&self, cmd: u8, args: &[&[u8]]) -> Result<(u32, u8)> {
        let inner = &*self.inner;
        if inner.stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let seq = loop {
            let s = inner.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if s != 0 {
                break s;
            }
        };
        let (tx, rx) = mpsc::sync_channel(1);
        lock(&inner.pending).insert(seq, tx);
        let head = wire::header(cmd, seq);
        let mut frames: Vec<&[u8]> = Vec::with_capacity(args.len() + 1);
        frames.push(&head);
        frames.extend_from_slice(args);
        if let Err(e) = inner.send(&frames) {
            lock(&inner.pending).remove(&seq);
            return Err(e);
        }
        match rx.recv_timeout(inner.timeout) {
            Ok(Reply::Ok(n, flags)) => Ok((n, flags)),
            Ok(Reply::Refused(code, message)) => Err(Error::Refused { code, message }),
            Err(RecvTimeoutError::Timeout) => {
                lock(&inner.pending).remove(&seq);
                Err(Error::Timeout)
            }
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    /// Sets the handler for data other nodes send this node ([`contact`](Self::contact));
    /// it runs on the node's handler thread. Without one, direct data is queued for
    /// [`recv_timeout`](Self::recv_timeout) as [`Delivery::Direct`].
    pub fn listen(&self, handler: impl FnMut(Direct) + Send + 'static) {
        lock(&self.inner.handlers).direct = Some(Arc::new(Mutex::new(Box::new(handler))));
    }

    /// Sets the handler for signals (see "Signals and coalescing" in the module docs).
    /// Without one, signals are queued as [`Delivery::Signal`].
    pub fn on_signal(&self, handler: impl FnMut(Signals) + Send + 'static) {
        lock(&self.inner.handlers).signal = Some(Arc::new(Mutex::new(Box::new(handler))));
    }

    /// Sends `data` to node `to`. On this machine it is pushed into `to`'s shared-memory
    /// inbox (no service hop; a data larger than the inbox's slots, about 4 KiB, goes
    /// through the service); otherwise through the service. An error when `to` is unknown,
    /// left or died ([`ErrorCode::UnknownNode`]), or [`Error::Timeout`] when `to`'s inbox
    /// stays full (it does not read) for the request timeout.
    pub fn contact(&self, to: &NodeId, data: &[u8]) -> Result<()> {
        check_id(to.as_str())?;
        if let Some(done) = self.contact_locally(to, data) {
            return done;
        }
        self.request(code::CONTACT, &[to.as_str().as_bytes(), data])
            .map(|_| ())
    }

    /// Pushes into `to`'s inbox; `None` when there is no usable one (use the service).
    fn contact_locally(&self, to: &NodeId, data: &[u8]) -> Option<Result<()>> {
        let remote = self.remote(to)?;
        if !remote.is_open() {
            self.forget_remote(to);
            return None;
        }
        let pusher = self.inbox_of(to)?;
        let mut p = lock(&pusher);
        // A target killed with -9 leaves its inbox filling up: check it lives once a
        // backlog builds (a system call, rare).
        if p.queued() > 64 && !remote.owner_alive() {
            drop(p);
            self.forget_remote(to);
            return None;
        }
        let from = self.inner.id.as_str().as_bytes();
        match p.send_multipart(&[from, data]) {
            Ok(()) => {
                self.inner.contacted_locally.fetch_add(1, Ordering::Relaxed);
                Some(Ok(()))
            }
            Err(crate::Error::Timeout) => Some(Err(Error::Timeout)),
            // Too large for the inbox's slots, or the ring failed: the service carries it.
            Err(_) => None,
        }
    }

    fn inbox_of(&self, to: &NodeId) -> Option<Arc<Mutex<Pusher>>> {
        if let Some(p) = lock(&self.inner.inboxes).get(to) {
            return Some(p.clone());
        }
        let ep = inbox_endpoint(
            self.inner.instance.load(Ordering::Relaxed),
            to.as_str().as_bytes(),
        )?;
        let pusher = Pusher::builder()
            .full(FullPolicy::BlockFor(self.inner.timeout))
            .connect_timeout(Duration::from_millis(50))
            .connect(&ep)
            .ok()?;
        let p = Arc::new(Mutex::new(pusher));
        lock(&self.inner.inboxes).insert(to.clone(), p.clone());
        Some(p)
    }

    fn forget_remote(&self, to: &NodeId) {
        lock(&self.inner.remotes).remove(to);
        lock(&self.inner.inboxes).remove(to);
    }

    /// Direct data this node pushed into other nodes' inboxes (not through the service).
    pub fn contacted_locally(&self) -> u64 {
        self.inner.contacted_locally.load(Ordering::Relaxed)
    }

    /// Signals node `to` (no payload). On this machine it rings `to`'s shared-memory
    /// doorbell (no service hop; a system call only if `to` sleeps); otherwise it goes through
    /// the service. An error when `to` is unknown, left or died.
    pub fn signal(&self, to: &NodeId) -> Result<()> {
        check_id(to.as_str())?;
        if let Some(remote) = self.remote(to) {
            match remote.ring() {
                Rang::Rung => {
                    self.inner.rung_locally.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Rang::Gone => self.forget_remote(to),
            }
        }
        self.request(code::SIGNAL, &[to.as_str().as_bytes()])
            .map(|_| ())
    }

    fn remote(&self, to: &NodeId) -> Option<Arc<Remote>> {
        if !self.inner.doorbells {
            return None;
        }
        if let Some(r) = lock(&self.inner.remotes).get(to) {
            return Some(r.clone());
        }
        let instance = self.inner.instance.load(Ordering::Relaxed);
        let r = Remote::open(instance, to.as_str().as_bytes()).map(Arc::new)?;
        let mut map = lock(&self.inner.remotes);
        if map.len() >= 4096 {
            map.clear();
        }
        map.insert(to.clone(), r.clone());
        Some(r)
    }

    /// Signals this node sent through doorbells (not through the service).
    pub fn signals_rung_locally(&self) -> u64 {
        self.inner.rung_locally.load(Ordering::Relaxed)
    }

    /// Creates event `event`; this node is its creator (see [`Emission`] for who may emit).
    /// The creator is not subscribed: it does not receive the event's emissions (use
    /// [`create_event_with`](Self::create_event_with) for that).
    pub fn create_event(&self, event: &str, emission: Emission) -> Result<()> {
        check_id(event)?;
        let ring = self.new_ring(event);
        let kind = wire::kind_frame(emission, false);
        self.request(code::CREATE_EVENT, &[event.as_bytes(), &kind])?;
        self.keep_ring(event, ring, Some(kind));
        Ok(())
    }

    /// Creates event `event` and subscribes this node to it with `handler` (it receives
    /// the other emitters' data; PyIPC's `create_event(id, type, handler)`).
    pub fn create_event_with(
        &self,
        event: &str,
        emission: Emission,
        handler: impl FnMut(Emitted) + Send + 'static,
    ) -> Result<()> {
        check_id(event)?;
        let ring = self.new_ring(event);
        let kind = wire::kind_frame(emission, true);
        self.with_subscription(event, Some(Box::new(handler)), || {
            self.request(code::CREATE_EVENT, &[event.as_bytes(), &kind])
        })?;
        self.keep_ring(event, ring, Some(kind));
        Ok(())
    }

    /// Dissolves event `event` (only its creator may: [`ErrorCode::NotCreator`]); its
    /// subscribers are told.
    pub fn dissolve_event(&self, event: &str) -> Result<()> {
        check_id(event)?;
        self.request(code::DISSOLVE, &[event.as_bytes()])?;
        lock(&self.inner.rings).remove(event);
        lock(&self.inner.remote_readers).remove(event);
        lock(&self.inner.created).remove(event);
        self.forget(event);
        self.inner.detach_event(event);
        Ok(())
    }

    /// Emits `data` on `event`; returns how many subscribers it was sent to (every
    /// subscriber but this node). An error when the event is unknown or dissolved, or this
    /// node may not emit it.
    pub fn emit(&self, event: &str, data: &[u8]) -> Result<u32> {
        check_id(event)?;
        let ring = lock(&self.inner.rings).get(event).cloned();
        if let Some(ring) = ring {
            let epoch = self.inner.readers_epoch.load(Ordering::Acquire);
            // Held across the write and the forward: the forwards of one event leave in the
            // order of its ring writes.
            let mut ring = lock(&ring);
            match ring.emit(data, epoch) {
                Ok(Some(n)) => {
                    self.inner.emitted_locally.fetch_add(1, Ordering::Relaxed);
                    let remote = self.remote_subscribers(event);
                    if remote > 0 {
                        let head = wire::header(code::FORWARD, 0);
                        self.inner.send(&[&head, event.as_bytes(), data])?;
                    }
                    return Ok(n + remote);
                }
                // Larger than a slot: the service carries it.
                Ok(None) => {}
                Err(crate::Error::Timeout | crate::Error::WouldBlock) => {
                    return Err(Error::Timeout);
                }
                Err(e) => return Err(Error::Socket(e)),
            }
        }
        self.request(code::EMIT, &[event.as_bytes(), data])
    }

    /// Subscribes to `event`; `handler` runs on the node's handler thread for each emission.
    /// An error when the event is unknown or dissolved, or already subscribed.
    pub fn subscribe(
        &self,
        event: &str,
        handler: impl FnMut(Emitted) + Send + 'static,
    ) -> Result<()> {
        check_id(event)?;
        self.subscribe_with(event, Some(Box::new(handler)))
    }

    /// Subscribes to `event` with no handler: emissions are queued for
    /// [`recv_timeout`](Self::recv_timeout) as [`Delivery::Event`].
    pub fn subscribe_polled(&self, event: &str) -> Result<()> {
        check_id(event)?;
        self.subscribe_with(event, None)
    }

    fn subscribe_with(&self, event: &str, handler: Option<Box<EventFn>>) -> Result<()> {
        // Hub-less: a ring in case the event is multi-emission (the service then names this
        // node among its emitters and tells the other subscribers to read the ring).
        let ring = self.new_ring(event);
        lock(&self.inner.emitter_of).remove(event);
        if self.inner.remote {
            lock(&self.inner.forwarders).insert(event.to_owned(), BTreeSet::new());
        }
        let readers = self.with_subscription(event, handler, || {
            self.request(code::SUBSCRIBE, &[event.as_bytes()])
        });
        if self.inner.remote {
            // Hub-less service: `readers` ring writers were asked to forward to this node.
            let n = *readers.as_ref().unwrap_or(&0) as usize;
            self.inner.wait_for_forwarders(event, n);
        }
        let readers = readers?;
        if lock(&self.inner.emitter_of).remove(event)
            && let Some(mut ring) = ring
        {
            ring.wait_for_readers(readers, self.inner.timeout);
            self.keep_ring(event, Some(ring), None);
        }
        Ok(())
    }

    fn with_subscription(
        &self,
        event: &str,
        handler: Option<Box<EventFn>>,
        req: impl FnOnce() -> Result<u32>,
    ) -> Result<u32> {
        // Registered before the request, so that no emission after the OK misses it.
        let had = lock(&self.inner.subs).contains(event);
        let old = handler.map(|h| {
            lock(&self.inner.handlers)
                .events
                .insert(event.to_owned(), Arc::new(Mutex::new(h)))
        });
        lock(&self.inner.subs).insert(event.to_owned());
        match req() {
            Ok(n) => Ok(n),
            Err(e) => {
                let mut hs = lock(&self.inner.handlers);
                match old {
                    Some(Some(prev)) => {
                        hs.events.insert(event.to_owned(), prev);
                    }
                    Some(None) => {
                        hs.events.remove(event);
                    }
                    None => {}
                }
                if !had {
                    lock(&self.inner.subs).remove(event);
                }
                Err(e)
            }
        }
    }

    fn forget(&self, event: &str) {
        lock(&self.inner.subs).remove(event);
        lock(&self.inner.handlers).events.remove(event);
    }

    /// Ends the subscription to `event`. An error when the event is unknown or dissolved, or
    /// not subscribed.
    pub fn unsubscribe(&self, event: &str) -> Result<()> {
        check_id(event)?;
        self.request(code::UNSUBSCRIBE, &[event.as_bytes()])?;
        if !lock(&self.inner.created).contains_key(event) {
            lock(&self.inner.rings).remove(event);
            lock(&self.inner.remote_readers).remove(event);
        }
        self.forget(event);
        self.inner.detach_event(event);
        Ok(())
    }

    /// The events this node is subscribed to, sorted (PyIPC's `get_subscriptions()`).
    pub fn subscriptions(&self) -> Vec<String> {
        lock(&self.inner.subs).iter().cloned().collect()
    }

    /// Handler calls that panicked (each is caught and logged; the thread goes on).
    pub fn handler_panics(&self) -> u64 {
        self.inner.handler_panics.load(Ordering::Relaxed)
    }

    /// The next queued delivery, waiting up to `timeout` ([`Error::NoDelivery`] then).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Delivery> {
        let end = std::time::Instant::now() + timeout;
        let rx = lock(&self.inner.queue_rx);
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(d) => {
                    if let Some(d) = self.fix(d) {
                        return Ok(d);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(Error::NoDelivery),
                Err(RecvTimeoutError::Disconnected) => return Err(Error::Closed),
            }
        }
    }

    /// The next queued delivery, if one is there ([`Error::NoDelivery`] otherwise).
    pub fn try_recv(&self) -> Result<Delivery> {
        let rx = lock(&self.inner.queue_rx);
        loop {
            match rx.try_recv() {
                Ok(d) => {
                    if let Some(d) = self.fix(d) {
                        return Ok(d);
                    }
                }
                Err(TryRecvError::Empty) => return Err(Error::NoDelivery),
                Err(TryRecvError::Disconnected) => return Err(Error::Closed),
            }
        }
    }

    /// A queued signal stands for every signal received until it is taken; one whose
    /// signals were already taken (by a handler set meanwhile) is dropped.
    fn fix(&self, d: Delivery) -> Option<Delivery> {
        match d {
            Delivery::Signal(_) => {
                let count = self.inner.signals.swap(0, Ordering::AcqRel);
                (count > 0).then_some(Delivery::Signal(Signals { count }))
            }
            d => Some(d),
        }
    }
}

impl Inner {
    fn send(&self, frames: &[&[u8]]) -> Result<()> {
        self.last_send
            .store(self.born.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.senders.fetch_add(1, Ordering::AcqRel);
        let r = lock(&self.dealer).send_multipart(frames);
        self.senders.fetch_sub(1, Ordering::AcqRel);
        r.map_err(|e| match e {
            // No service to send to within the request timeout.
            crate::Error::Timeout => Error::Timeout,
            e => Error::Socket(e),
        })
    }

    /// `n` signals arrived by the doorbell: added to the pending count; whoever moves it from
    /// zero delivers (here, on the doorbell thread, when a handler is set).
    fn ring(&self, n: u64) {
        // SYNC: AcqRel pairs with the swap of whoever takes the count.
        if self.signals.fetch_add(n, Ordering::AcqRel) != 0 {
            return;
        }
        let h = lock(&self.handlers).signal.clone();
        match h {
            Some(h) => {
                let count = self.signals.swap(0, Ordering::AcqRel);
                if count > 0 {
                    call(self, &h, Signals { count });
                }
            }
            None => self.queue(Delivery::Signal(Signals { count: n })),
        }
    }

    pub(super) fn queue(&self, d: Delivery) {
        let _ = lock(&self.queue_tx).send(d);
    }

    fn job(&self, j: Job) {
        let _ = lock(&self.jobs).send(j);
    }

    fn dispatch(&self, frames: &[&[u8]]) {
        let msg = match ServiceMsg::parse(frames) {
            Ok(m) => m,
            Err(e) => {
                log::warn!(target: "ringwire::events", "node {}: bad message from the service: {e}", self.id);
                return;
            }
        };
        match msg {
            ServiceMsg::Ok { seq, count, flags } => self.answer(seq, Reply::Ok(count, flags)),
            ServiceMsg::Emitter { event, emitter } => {
                let event = String::from_utf8_lossy(event).into_owned();
                let from = NodeId::from_wire(emitter);
                if self.remote {
                    // A ring writer forwards the event to this (remote) node from now on.
                    let mut w = lock(&self.forwarders);
                    if let Some(set) = w.get_mut(&event) {
                        set.insert(from);
                        self.forwarders_moved.notify_all();
                    }
                } else if from == self.id {
                    lock(&self.emitter_of).insert(event);
                } else if !lock(&self.reading).contains(&(event.clone(), from.clone()))
                    && let Some(r) =
                        RingIn::attach(self.instance.load(Ordering::Relaxed), &event, from)
                {
                    // Already read (a re-join after a service restart): the ring kept its name.
                    self.control(Ctl::Attach(Box::new(r)));
                }
            }
            ServiceMsg::RemoteReaders {
                event,
                count,
                generation,
            } => {
                let name = String::from_utf8_lossy(event).into_owned();
                {
                    let mut m = lock(&self.remote_readers);
                    if count == 0 {
                        m.remove(&name);
                    } else {
                        m.insert(name, count);
                    }
                }
                // Every emission from here on is forwarded: say so (the remote subscriber
                // that caused this waits for it).
                if count > 0 && generation != 0 {
                    let head = wire::header(code::FORWARDING, 0);
                    if let Err(e) = self.send(&[&head, event, &generation.to_le_bytes()]) {
                        log::warn!(target: "ringwire::events", "node {}: FORWARDING: {e}", self.id);
                    }
                }
            }
            ServiceMsg::ReaderGone { .. } => {
                // SYNC: Release pairs with the Acquire load in `OwnRing::emit`.
                self.readers_epoch.fetch_add(1, Ordering::Release);
            }
            ServiceMsg::EmitterGone { event, emitter } => {
                self.control(Ctl::Detach {
                    event: String::from_utf8_lossy(event).into_owned(),
                    from: Some(NodeId::from_wire(emitter)),
                    ack: None,
                });
            }
            ServiceMsg::Error { seq, code, message } => {
                let m = String::from_utf8_lossy(message).into_owned();
                self.answer(seq, Reply::Refused(code, m));
            }
            ServiceMsg::Event { event, from, data } => {
                let event = String::from_utf8_lossy(event).into_owned();
                let e = Emitted {
                    event,
                    from: NodeId::from_wire(from),
                    data: data.to_vec(),
                };
                if lock(&self.handlers).events.contains_key(&e.event) {
                    self.job(Job::Event(e));
                } else if lock(&self.subs).contains(&e.event) {
                    self.queue(Delivery::Event(e));
                } else {
                    log::debug!(target: "ringwire::events", "node {}: emission of {:?} after unsubscribing", self.id, e.event);
                }
            }
            ServiceMsg::Direct { from, data } => self.direct(from, data),
            ServiceMsg::Signalled { .. } => {
                // SYNC: the AcqRel pairs with the swap of whoever takes the count.
                if self.signals.fetch_add(1, Ordering::AcqRel) == 0 {
                    if lock(&self.handlers).signal.is_some() {
                        self.job(Job::Signal);
                    } else {
                        self.queue(Delivery::Signal(Signals { count: 1 }));
                    }
                }
            }
            ServiceMsg::Dissolved { event } => {
                let event = String::from_utf8_lossy(event).into_owned();
                let was_sub = lock(&self.subs).remove(&event);
                let had_handler = lock(&self.handlers).events.remove(&event).is_some();
                lock(&self.created).remove(&event);
                lock(&self.remote_readers).remove(&event);
                if self.hubless.load(Ordering::Acquire) {
                    lock(&self.rings).remove(&event);
                    self.control(Ctl::Detach {
                        event: event.clone(),
                        from: None,
                        ack: None,
                    });
                }
                if was_sub && !had_handler {
                    self.queue(Delivery::Dissolved(event));
                }
            }
        }
    }

    fn direct(&self, from: &[u8], data: &[u8]) {
        let d = Direct {
            from: NodeId::from_wire(from),
            data: data.to_vec(),
        };
        if lock(&self.handlers).direct.is_some() {
            self.job(Job::Direct(d));
        } else {
            self.queue(Delivery::Direct(d));
        }
    }

    /// Tells the events thread (hub-less services) and wakes it.
    fn control(&self, c: Ctl) {
        match &c {
            Ctl::Attach(r) => {
                lock(&self.reading).insert((r.event.clone(), r.from.clone()));
            }
            Ctl::Detach { event, from, .. } => lock(&self.reading)
                .retain(|(e, f)| !(e == event && from.as_ref().is_none_or(|x| x == f))),
            Ctl::Stop => {}
        }
        let sent = lock(&self.ctl)
            .as_ref()
            .is_some_and(|tx| tx.send(c).is_ok());
        if sent && let Some(w) = lock(&self.waker).as_mut() {
            w.wake();
        }
    }

    /// Stops reading `event`'s rings; waits until done unless called on the events thread
    /// (a handler that unsubscribes: done right after it returns).
    fn detach_event(&self, event: &str) {
        if !self.hubless.load(Ordering::Acquire) {
            return;
        }
        let on_events_thread = *lock(&self.events_thread) == Some(std::thread::current().id());
        let (tx, rx) = mpsc::sync_channel(1);
        self.control(Ctl::Detach {
            event: event.to_owned(),
            from: None,
            ack: (!on_events_thread).then_some(tx),
        });
        if !on_events_thread {
            let _ = rx.recv_timeout(self.timeout);
        }
    }

    /// Waits (up to the request timeout) until `n` ring writers of `event` said they forward
    /// it to this remote node, then stops listening for them.
    fn wait_for_forwarders(&self, event: &str, n: usize) {
        let end = std::time::Instant::now() + self.timeout;
        let mut w = lock(&self.forwarders);
        loop {
            let got = w.get(event).map_or(n, BTreeSet::len);
            let left = end.saturating_duration_since(std::time::Instant::now());
            if got >= n || left.is_zero() || self.stop.load(Ordering::Relaxed) {
                if got < n {
                    log::warn!(target: "ringwire::events", "node {}: {got} of {n} ring writers of {event:?} said they forward it", self.id);
                }
                w.remove(event);
                return;
            }
            w = self
                .forwarders_moved
                .wait_timeout(w, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn answer(&self, seq: u32, r: Reply) {
        if let Some(tx) = lock(&self.pending).remove(&seq) {
            let _ = tx.send(r);
        }
    }
}

fn io_loop(inner: &Arc<Inner>, monitor: Receiver<SocketEvent>) {
    let mut down = false;
    while !inner.stop.load(Ordering::Relaxed) {
        while let Ok(ev) = monitor.try_recv() {
            match ev {
                SocketEvent::Disconnected { .. } => down = true,
                // The connection came back after a loss: a restarted service knows
                // nothing of this node. Re-join on a thread of its own (this one carries
                // the replies).
                SocketEvent::HandshakeSucceeded { .. } if down => {
                    down = false;
                    if lock(&inner.rejoining).is_none() {
                        let h = NodeHandle {
                            inner: inner.clone(),
                        };
                        let t = std::thread::Builder::new()
                            .name("ringwire-node-rejoin".into())
                            .spawn(move || h.rejoin());
                        match t {
                            Ok(t) => *lock(&inner.rejoining) = Some(t),
                            Err(e) => {
                                log::warn!(target: "ringwire::events", "node {}: cannot re-join: {e}", inner.id)
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        // Step aside for senders (a send may block up to the request timeout when the
        // service is gone: yield a little, then sleep).
        let mut spins = 0u32;
        while inner.senders.load(Ordering::Acquire) != 0 {
            if spins < 64 {
                std::thread::yield_now();
                spins += 1;
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let since_send = (inner.born.elapsed().as_micros() as u64)
            .saturating_sub(inner.last_send.load(Ordering::Relaxed));
        let slice = if since_send < ACTIVE_FOR.as_micros() as u64 {
            ACTIVE_SLICE
        } else {
            IO_SLICE
        };
        let r = lock(&inner.dealer).recv_multipart_timeout(slice);
        match r {
            Ok(m) => {
                let frames: Vec<&[u8]> = m.frames().iter().map(Vec::as_slice).collect();
                inner.dispatch(&frames);
            }
            Err(crate::Error::Timeout) => {}
            Err(e) => {
                log::warn!(target: "ringwire::events", "node {}: receive: {e}", inner.id);
                std::thread::sleep(IO_SLICE);
            }
        }
    }
}

/// Reads the shared-memory inbox: `[sender id, data]` messages other nodes pushed.
fn inbox_loop(inner: &Inner, mut puller: Puller) {
    while !inner.stop.load(Ordering::Relaxed) {
        match puller.recv_multipart_timeout(Duration::from_millis(100)) {
            Ok(m) => match m.frames() {
                [from, data] if !from.is_empty() && from.len() <= 64 => inner.direct(from, data),
                _ => {
                    log::warn!(target: "ringwire::events", "node {}: a malformed inbox message", inner.id)
                }
            },
            Err(crate::Error::Timeout | crate::Error::WouldBlock) => {}
            Err(e) => {
                log::warn!(target: "ringwire::events", "node {}: inbox: {e}", inner.id);
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

pub(super) fn call<T>(inner: &Inner, h: &Mutex<Box<dyn FnMut(T) + Send>>, v: T) {
    let mut f = lock(h);
    if catch_unwind(AssertUnwindSafe(|| (f)(v))).is_err() {
        inner.handler_panics.fetch_add(1, Ordering::Relaxed);
        log::error!(target: "ringwire::events", "node {}: a handler panicked", inner.id);
    }
}

fn handler_loop(inner: &Inner, jobs: Receiver<Job>) {
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Stop => break,
            Job::Direct(d) => {
                let h = lock(&inner.handlers).direct.clone();
                match h {
                    Some(h) => call(inner, &h, d),
                    None => inner.queue(Delivery::Direct(d)),
                }
            }
            Job::Event(e) => {
                let h = lock(&inner.handlers).events.get(&e.event).cloned();
                if let Some(h) = h {
                    call(inner, &h, e);
                }
            }
            Job::Signal => {
                let h = lock(&inner.handlers).signal.clone();
                let count = inner.signals.swap(0, Ordering::AcqRel);
                if let (Some(h), true) = (h, count > 0) {
                    call(inner, &h, Signals { count });
                }
            }
        }
    }
}
