//! The application server: a ROUTER on a thread of its own driving the core's registry
//! ([`ringwire_core::apps::server`]), which holds the application and channel tables, the
//! connections and their subscriptions and decides every answer. This layer moves frames,
//! maps routing ids to the registry's connections and runs the handlers.

use crate::stop_thread::StopThread;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::apps::server::{
    Accepted, AppId, ChannelId, Conn, ConnSlot, Decision, Limits, NameError, NameSlot, Refusal,
    Registry, SubSlot,
};
use ringwire_core::apps::{self as wire, Encoding, ErrorCode, kind};

pub use ringwire_core::apps::MessageType;
pub use ringwire_core::apps::server::AppStats;

use super::{Error, Result, check_name};
use crate::zmtp::{Router, SocketEvent};

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Options of an [`AppServer`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppServerOptions {
    /// ZMTP PING interval towards every client.
    pub heartbeat_interval: Duration,
    /// A client silent this long (no message, no PONG) is disconnected and forgotten with
    /// its subscriptions.
    pub heartbeat_timeout: Duration,
    /// Largest payload accepted; a larger one is answered ERROR [`ErrorCode::Oversized`].
    /// (A message over 4 times this, or 64 MiB, closes the connection at the ZMTP layer.)
    pub max_payload: usize,
    /// Messages queued per client for sending: a client that does not read loses what does
    /// not fit (counted in [`AppStats::dropped`]).
    pub send_hwm: usize,
    /// Subscriptions one connection may hold; one more is refused ERROR
    /// [`ErrorCode::Full`].
    pub max_subscriptions: usize,
    /// Connections the server's table holds: the messages of a connection beyond it are
    /// refused ERROR `Full` until one leaves.
    pub max_connections: usize,
    /// Applications and channels, together, the server holds: one more is
    /// [`Error::Refused`] `Full`.
    pub max_names: usize,
    /// Subscriptions of all connections together: one more is refused ERROR `Full`.
    pub max_total_subscriptions: usize,
    /// How often the server thread looks at its stop flag and at server-side publishes when
    /// nothing arrives.
    pub slice: Duration,
}

impl Default for AppServerOptions {
    fn default() -> Self {
        AppServerOptions {
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            max_payload: 1 << 20,
            send_hwm: 10_000,
            max_subscriptions: 1024,
            max_connections: 1024,
            max_names: 1024,
            max_total_subscriptions: 16 * 1024,
            slice: Duration::from_millis(5),
        }
    }
}

/// A message as a channel handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// What kind of message it is.
    pub kind: MessageType,
    /// The application.
    pub app: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// The sending connection ([`AppServer::connections`]).
    pub connection: u32,
    /// How the payload is encoded.
    pub encoding: Encoding,
    /// The payload.
    pub payload: &'a [u8],
}

impl Message<'_> {
    /// The payload decoded in its encoding (postcard or JSON). The error is a sentence, so
    /// a handler can return it with `?`.
    pub fn decode<T: DeserializeOwned>(&self) -> std::result::Result<T, String> {
        super::decode(self.encoding, self.payload).map_err(|e| e.to_string())
    }

    /// The payload as a JSON value (JSON payloads only).
    pub fn json(&self) -> std::result::Result<serde_json::Value, String> {
        match self.encoding {
            Encoding::Json => self.decode(),
            Encoding::Postcard => Err("the payload is postcard, not JSON".into()),
        }
    }

    /// A reply holding `value` in the requester's encoding.
    pub fn reply<T: Serialize + ?Sized>(&self, value: &T) -> std::result::Result<Reply, String> {
        Ok(Reply {
            encoding: self.encoding,
            payload: super::encode(self.encoding, value).map_err(|e| e.to_string())?,
        })
    }
}

/// A request handler's answer: a payload and its encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The encoding.
    pub encoding: Encoding,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Reply {
    /// Raw bytes, flagged as postcard/raw.
    pub fn bytes(payload: Vec<u8>) -> Reply {
        Reply {
            encoding: Encoding::Postcard,
            payload,
        }
    }
}

type RequestFn = dyn Fn(&Message<'_>) -> std::result::Result<Reply, String> + Send + Sync;
type SeeFn = dyn Fn(&Message<'_>) + Send + Sync;

#[derive(Default)]
struct Handlers {
    request: Option<Arc<RequestFn>>,
    publish: Option<Arc<SeeFn>>,
    subscribe: Option<Arc<SeeFn>>,
    notification: Option<Arc<SeeFn>>,
}

#[derive(Default)]
struct ChannelState {
    handlers: Mutex<Handlers>,
}

/// Who is connected, as [`AppServer::connections`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection's number on this server (1, 2, …; never reused).
    pub id: u32,
    /// The peer's address (`tcp://ip:port`), where it has one.
    pub peer: Option<String>,
    /// When the server saw it first.
    pub since: SystemTime,
    /// Its subscriptions, as (application, channel).
    pub subscriptions: Vec<(String, String)>,
}

type Reg = Registry<Vec<ConnSlot>, Vec<NameSlot>, Vec<SubSlot>>;

struct Shared {
    /// The registry: the server thread drives it, the API threads add names and handlers.
    /// Lock order: `reg` before `channels`; never held while a handler runs.
    reg: Mutex<Reg>,
    /// Every channel's handlers, by the registry's channel id.
    channels: RwLock<HashMap<ChannelId, Arc<ChannelState>>>,
    stats: Mutex<AppStats>,
    conns: Mutex<Vec<ConnectionInfo>>,
    publish: Mutex<Sender<Outgoing>>,
}

/// A server-side publish on its way to the server thread.
struct Outgoing {
    channel: ChannelId,
    app: String,
    name: String,
    encoding: Encoding,
    payload: Vec<u8>,
}

/// The application server on a thread it owns. Dropping it stops it.
pub struct AppServer {
    endpoint: String,
    shared: Arc<Shared>,
    thread: StopThread<()>,
}

impl std::fmt::Debug for AppServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// An application of an [`AppServer`].
#[derive(Clone)]
pub struct Application {
    name: String,
    id: AppId,
    shared: Arc<Shared>,
}

/// A channel of an [`Application`]: set its handlers, publish on it.
#[derive(Clone)]
pub struct Channel {
    app: String,
    name: String,
    id: ChannelId,
    state: Arc<ChannelState>,
    shared: Arc<Shared>,
}

/// A name the registry refused, as this API's error.
fn name_error(e: NameError, what: String) -> Error {
    match e {
        NameError::Full { .. } => Error::Refused {
            code: ErrorCode::Full,
            message: e.to_string(),
        },
        NameError::Exists => Error::BadName(format!("{what} exists")),
        _ => Error::BadName(format!("{what}: {e}")),
    }
}

impl AppServer {
    /// A server bound at `ep` (`tcp://127.0.0.1:0`, `ipc:///tmp/apps.sock`, `inproc://name`).
    pub fn bind(ep: &str) -> Result<AppServer> {
        Self::bind_with(ep, AppServerOptions::default())
    }

    /// [`bind`](Self::bind) with options.
    pub fn bind_with(ep: &str, opts: AppServerOptions) -> Result<AppServer> {
        let most =
            u64::try_from(opts.max_payload.saturating_mul(4).max(64 << 20)).unwrap_or(u64::MAX);
        let limits = ringwire_core::zmtp::Limits {
            max_frame: most,
            max_message: most,
            ..Default::default()
        };
        let mut router = Router::builder()
            .heartbeat(opts.heartbeat_interval, opts.heartbeat_timeout)
            .send_hwm(opts.send_hwm)
            .limits(limits)
            .linger(Duration::ZERO)
            .bind(ep)?;
        let monitor = router.monitor();
        let endpoint = router.endpoint();
        let (tx, rx) = mpsc::channel();
        let reg = Registry::new(
            vec![ConnSlot::EMPTY; opts.max_connections],
            vec![NameSlot::EMPTY; opts.max_names],
            vec![SubSlot::EMPTY; opts.max_total_subscriptions],
            Limits::new(opts.max_payload, opts.max_subscriptions),
            instance(),
        );
        let shared = Arc::new(Shared {
            reg: Mutex::new(reg),
            channels: RwLock::new(HashMap::new()),
            stats: Mutex::new(AppStats::default()),
            conns: Mutex::new(Vec::new()),
            publish: Mutex::new(tx),
        });
        let mut state = State {
            router,
            monitor,
            outgoing: rx,
            shared: shared.clone(),
            by_rid: HashMap::new(),
            links: vec![None; opts.max_connections],
            dirty: true,
        };
        let thread = StopThread::spawn("ringwire-apps", move |stop| {
            while !stop.load(Ordering::Relaxed) {
                state.turn(opts.slice);
            }
            state.publish_stats();
        })
        .map_err(crate::Error::Io)?;
        Ok(AppServer {
            endpoint,
            shared,
            thread,
        })
    }

    /// The bound endpoint (port 0 resolved): what clients connect to.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Makes an application (an error if one of that name exists).
    pub fn create_application(&self, name: &str) -> Result<Application> {
        check_name("application", name)?;
        let id = lock(&self.shared.reg)
            .add_application(name)
            .map_err(|e| name_error(e, format!("application {name:?}")))?;
        Ok(Application {
            name: name.to_owned(),
            id,
            shared: self.shared.clone(),
        })
    }

    /// The application called `name`, if it exists.
    pub fn application(&self, name: &str) -> Option<Application> {
        let id = lock(&self.shared.reg).application(name)?;
        Some(Application {
            name: name.to_owned(),
            id,
            shared: self.shared.clone(),
        })
    }

    /// Who is connected now (refreshed by the server thread at every message and every
    /// slice), in connection order.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        lock(&self.shared.conns).clone()
    }

    /// Counters and table sizes.
    pub fn stats(&self) -> AppStats {
        *lock(&self.shared.stats)
    }

    /// Stops the server thread and waits for it; the socket closes (clients reconnect to the
    /// next server bound at the endpoint). Returns the final counters.
    pub fn stop(mut self) -> AppStats {
        let _ = self.thread.halt();
        self.stats()
    }
}

impl Application {
    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes a channel (an error if one of that name exists in this application).
    pub fn create_channel(&self, name: &str) -> Result<Channel> {
        check_name("channel", name)?;
        let mut reg = lock(&self.shared.reg);
        let id = reg.add_channel(self.id, name).map_err(|e| {
            name_error(
                e,
                format!("channel {name:?} in application {:?}", self.name),
            )
        })?;
        let state = Arc::new(ChannelState::default());
        // Inserted under the registry's lock: the server thread finds the handlers of every
        // channel the registry knows.
        self.shared
            .channels
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, state.clone());
        drop(reg);
        Ok(Channel {
            app: self.name.clone(),
            name: name.to_owned(),
            id,
            state,
            shared: self.shared.clone(),
        })
    }

    /// The channel called `name`, if it exists.
    pub fn channel(&self, name: &str) -> Option<Channel> {
        let id = lock(&self.shared.reg).channel(self.id, name)?;
        let chans = self
            .shared
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner());
        chans.get(&id).map(|state| Channel {
            app: self.name.clone(),
            name: name.to_owned(),
            id,
            state: state.clone(),
            shared: self.shared.clone(),
        })
    }
}

impl Channel {
    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the request handler: its `Ok` reply goes to the requesting connection, its
    /// `Err` sentence comes back as ERROR [`ErrorCode::Handler`]. It runs on the server
    /// thread, one message at a time. Without one, requests are refused
    /// ([`ErrorCode::NoHandler`]).
    pub fn on_request(
        &self,
        f: impl Fn(&Message<'_>) -> std::result::Result<Reply, String> + Send + Sync + 'static,
    ) {
        lock(&self.state.handlers).request = Some(Arc::new(f));
        self.has(MessageType::Request);
    }

    /// Tells the registry the channel has a handler for `kind` (after the handler is set:
    /// the server thread runs it once the registry accepts a message for it).
    fn has(&self, kind: MessageType) {
        lock(&self.shared.reg).set_handler(self.id, kind);
    }

    /// Sets a handler that sees every publish on the channel (they reach the subscribers
    /// with or without it).
    pub fn on_publish(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).publish = Some(Arc::new(f));
        self.has(MessageType::Publish);
    }

    /// Sets a handler told of every subscribe and unsubscribe (the message's
    /// [`kind`](Message::kind) says which).
    pub fn on_subscribe(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).subscribe = Some(Arc::new(f));
        self.has(MessageType::Subscribe);
    }

    /// Sets the notification handler. Without one, notifications are refused
    /// ([`ErrorCode::NoHandler`]).
    pub fn on_notification(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).notification = Some(Arc::new(f));
        self.has(MessageType::Notification);
    }

    /// Publishes `value` (postcard) from the server to the channel's subscribers (sent by
    /// the server thread within one [`AppServerOptions::slice`]).
    pub fn publish<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.publish_bytes(
            Encoding::Postcard,
            super::encode(Encoding::Postcard, value)?,
        )
    }

    /// Publishes `value` as JSON (for Python and Node.js subscribers).
    pub fn publish_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.publish_bytes(Encoding::Json, super::encode(Encoding::Json, value)?)
    }

    /// Publishes a payload already encoded.
    pub fn publish_bytes(&self, encoding: Encoding, payload: Vec<u8>) -> Result<()> {
        lock(&self.shared.publish)
            .send(Outgoing {
                channel: self.id,
                app: self.app.clone(),
                name: self.name.clone(),
                encoding,
                payload,
            })
            .map_err(|_| Error::Closed)
    }
}

/// What the transport knows of a connection the registry holds.
#[derive(Clone)]
struct Link {
    rid: Vec<u8>,
    peer: Option<String>,
}

struct State {
    router: Router,
    monitor: Receiver<SocketEvent>,
    outgoing: Receiver<Outgoing>,
    shared: Arc<Shared>,
    /// Routing id → the registry's connection.
    by_rid: HashMap<Vec<u8>, Conn>,
    /// By the registry's connection slot: routing id and peer address.
    links: Vec<Option<Link>>,
    /// A peer address changed since the connection list was last published.
    dirty: bool,
}

/// The time now, on the registry's clock (nanoseconds since the UNIX epoch).
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A number unlikely to be any other server's: hashed from the process id, the time and a
/// per-process random key; never 0.
fn instance() -> u32 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    std::process::id().hash(&mut h);
    SystemTime::now().hash(&mut h);
    (h.finish() as u32).max(1)
}

impl State {
    fn turn(&mut self, slice: Duration) {
        self.events();
        while let Ok(o) = self.outgoing.try_recv() {
            self.deliver(o.channel, &o.app, &o.name, o.encoding, &o.payload);
        }
        match self.router.recv_multipart_timeout(slice) {
            Ok(msg) => {
                let frames = msg.into_frames();
                if let [rid, rest @ ..] = frames.as_slice() {
                    self.events();
                    self.on_message(rid, rest);
                }
            }
            Err(crate::Error::Timeout) => {}
            Err(e) => {
                log::warn!(target: "ringwire::apps", "server receive: {e}");
                std::thread::sleep(slice);
            }
        }
        self.publish_stats();
    }

    fn events(&mut self) {
        while let Ok(ev) = self.monitor.try_recv() {
            match ev {
                SocketEvent::HandshakeSucceeded {
                    peer, routing_id, ..
                } => {
                    let shared = self.shared.clone();
                    let mut reg = lock(&shared.reg);
                    if let Some(c) = self.conn(&mut reg, &routing_id)
                        && let Some(Some(l)) = self.links.get_mut(c.index())
                    {
                        l.peer = peer.map(|p| p.to_string());
                        self.dirty = true;
                    }
                }
                SocketEvent::Disconnected {
                    routing_id, reason, ..
                } => {
                    if let Some(c) = self.by_rid.remove(&routing_id) {
                        if let Some(l) = self.links.get_mut(c.index()) {
                            *l = None;
                        }
                        // The ZMTP layer closes a connection silent past the heartbeat
                        // timeout with "peer silent too long".
                        lock(&self.shared.reg).disconnect(c, reason.contains("silent"));
                    }
                }
                _ => {}
            }
        }
    }

    /// The registry's connection of routing id `rid`, registered if new; `None` while the
    /// connection table is full.
    fn conn(&mut self, reg: &mut Reg, rid: &[u8]) -> Option<Conn> {
        if let Some(c) = self.by_rid.get(rid) {
            return Some(*c);
        }
        match reg.connect(now()) {
            Ok(c) => {
                self.by_rid.insert(rid.to_vec(), c);
                if let Some(l) = self.links.get_mut(c.index()) {
                    *l = Some(Link {
                        rid: rid.to_vec(),
                        peer: None,
                    });
                }
                Some(c)
            }
            Err(capacity) => {
                log::warn!(target: "ringwire::apps", "connection table full ({capacity}): refusing a connection's messages");
                None
            }
        }
    }

    /// Publishes the counters, and the connection list when it changed.
    fn publish_stats(&mut self) {
        let rs = self.router.stats();
        let mut reg = lock(&self.shared.reg);
        let mut stats = reg.stats();
        stats.dropped = rs.dropped_hwm + rs.dropped_budget;
        let changed = reg.take_changed() | std::mem::take(&mut self.dirty);
        let list = changed.then(|| {
            let mut list: Vec<ConnectionInfo> = reg
                .connections()
                .map(|v| {
                    let mut subscriptions: Vec<(String, String)> = reg
                        .subscriptions_of(v.conn)
                        .map(|ch| {
                            let (a, c) = reg.channel_names(ch);
                            (a.to_owned(), c.to_owned())
                        })
                        .collect();
                    subscriptions.sort_unstable();
                    ConnectionInfo {
                        id: v.conn.number(),
                        peer: self
                            .links
                            .get(v.conn.index())
                            .and_then(|l| l.as_ref()?.peer.clone()),
                        since: UNIX_EPOCH + Duration::from_nanos(v.since),
                        subscriptions,
                    }
                })
                .collect();
            list.sort_by_key(|c| c.id);
            list
        });
        drop(reg);
        *lock(&self.shared.stats) = stats;
        if let Some(list) = list {
            *lock(&self.shared.conns) = list;
        }
    }

    /// Sends a reply; the counters and the connection list are published first, so that a
    /// client that got its answer reads statistics that include it.
    fn send(&mut self, rid: &[u8], frames: &[&[u8]]) {
        self.publish_stats();
        let mut all: Vec<&[u8]> = Vec::with_capacity(frames.len() + 1);
        all.push(rid);
        all.extend_from_slice(frames);
        if let Err(e) = self.router.send_multipart(&all) {
            log::warn!(target: "ringwire::apps", "server send: {e}");
        }
    }

    /// Answers ERROR for a refusal the registry has counted.
    fn refuse(&mut self, rid: &[u8], id: u32, refusal: &Refusal<'_>) {
        log::debug!(target: "ringwire::apps", "refused message {id}: {refusal}");
        if id != 0 {
            let head = wire::header(kind::ERROR, 0, refusal.code().to_byte(), id);
            let text = refusal.to_string();
            self.send(rid, &[&head, text.as_bytes()]);
        }
    }

    fn ack(&mut self, rid: &[u8], id: u32, count: u32) {
        if id != 0 {
            let head = wire::header(kind::ACK, 0, 0, id);
            self.send(rid, &[&head, &count.to_le_bytes()]);
        }
    }

    /// Sends a publish to every subscriber of the channel; returns how many.
    fn deliver(
        &mut self,
        ch: ChannelId,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> u32 {
        let head = wire::header(kind::MESSAGE, encoding.flags(), 0, 0);
        let shared = self.shared.clone();
        let mut reg = lock(&shared.reg);
        let mut n = 0u32;
        for c in reg.deliver(ch) {
            n = n.saturating_add(1);
            let Some(Some(l)) = self.links.get(c.index()) else {
                continue;
            };
            let f: [&[u8]; 5] = [&l.rid, &head, app.as_bytes(), channel.as_bytes(), payload];
            if let Err(e) = self.router.send_multipart(&f) {
                log::warn!(target: "ringwire::apps", "server publish: {e}");
            }
        }
        n
    }

    fn on_message(&mut self, rid: &[u8], frames: &[Vec<u8>]) {
        let shared = self.shared.clone();
        let mut reg = lock(&shared.reg);
        let decision = match self.conn(&mut reg, rid) {
            Some(c) => reg.on_message(c, frames),
            None => reg.refuse_unconnected(frames),
        };
        drop(reg);
        match decision {
            Decision::Refuse { id, refusal } => self.refuse(rid, id, &refusal),
            Decision::Welcome { id, session } => {
                let head = wire::header(kind::WELCOME, 0, 0, id);
                self.send(rid, &[&head, &session]);
            }
            Decision::Accept(a) => self.accept(rid, a),
        }
    }

    /// Carries out a message the registry accepted: runs the channel's handler and answers.
    fn accept(&mut self, rid: &[u8], a: Accepted<'_>) {
        let m = a.message;
        let id = m.header.id;
        let msg = Message {
            kind: a.kind,
            app: m.app,
            channel: m.channel,
            connection: a.connection,
            encoding: m.header.encoding(),
            payload: m.payload,
        };
        let state = self
            .shared
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&a.channel)
            .cloned();
        let (request, publish, subscribe, notification) = match &state {
            Some(s) => {
                let h = lock(&s.handlers);
                (
                    h.request.clone(),
                    h.publish.clone(),
                    h.subscribe.clone(),
                    h.notification.clone(),
                )
            }
            None => (None, None, None, None),
        };
        match a.kind {
            MessageType::Request => {
                // The registry accepts a request only for a channel with a request handler.
                let answer = match request {
                    Some(f) => catch_unwind(AssertUnwindSafe(|| f(&msg)))
                        .unwrap_or_else(|_| Err("the handler panicked".into())),
                    None => Err("the request handler is gone".into()),
                };
                lock(&self.shared.reg).request_done(answer.is_ok());
                match answer {
                    Ok(reply) => {
                        if id != 0 {
                            let head = wire::header(kind::RESPONSE, reply.encoding.flags(), 0, id);
                            self.send(
                                rid,
                                &[
                                    &head,
                                    m.app.as_bytes(),
                                    m.channel.as_bytes(),
                                    &reply.payload,
                                ],
                            );
                        }
                    }
                    Err(e) => self.refuse(rid, id, &Refusal::Handler(&e)),
                }
            }
            MessageType::Publish => {
                if let Some(f) = publish {
                    see(&*f, &msg);
                }
                let n = self.deliver(a.channel, m.app, m.channel, msg.encoding, m.payload);
                self.ack(rid, id, n);
            }
            MessageType::Subscribe | MessageType::Unsubscribe => {
                if let Some(f) = subscribe {
                    see(&*f, &msg);
                }
                self.ack(rid, id, 0);
            }
            _ => {
                if let Some(f) = notification {
                    see(&*f, &msg);
                }
                self.ack(rid, id, 0);
            }
        }
    }
}

/// Runs a handler that returns nothing; a panic is logged.
fn see(f: &SeeFn, m: &Message<'_>) {
    if catch_unwind(AssertUnwindSafe(|| f(m))).is_err() {
        log::error!(target: "ringwire::apps", "a {:?} handler of {}/{} panicked", m.kind, m.app, m.channel);
    }
}
