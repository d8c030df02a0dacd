//! The application server: a ROUTER on a thread of its own, the application and channel
//! tables, the connections and their subscriptions.

use crate::stop_thread::StopThread;
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::apps::{self as wire, ClientMsg, Encoding, ErrorCode, kind};

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
    /// Subscriptions one connection may hold.
    pub max_subscriptions: usize,
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
            slice: Duration::from_millis(5),
        }
    }
}

/// The seed's message types: what a channel handler is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// A request: the handler's reply goes back to the requesting connection.
    Request,
    /// A publish: delivered to the channel's subscribers.
    Publish,
    /// A subscription to the channel.
    Subscribe,
    /// The end of a subscription.
    Unsubscribe,
    /// A one-way notification.
    Notification,
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

#[derive(Default)]
struct AppState {
    channels: RwLock<HashMap<String, Arc<ChannelState>>>,
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

/// What a server did, and its tables now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppStats {
    /// Connections now.
    pub connections: usize,
    /// Subscriptions now (all connections).
    pub subscriptions: usize,
    /// Requests answered by a handler.
    pub responses: u64,
    /// Publishes accepted.
    pub publishes: u64,
    /// Publish deliveries to subscribers.
    pub delivered: u64,
    /// Notifications handed to a handler.
    pub notifications: u64,
    /// Messages refused (every ERROR reply, and refusals of id-0 messages).
    pub errors: u64,
    /// Of those: malformed envelopes.
    pub malformed: u64,
    /// Of those: unknown applications.
    pub unknown_application: u64,
    /// Of those: unknown channels.
    pub unknown_channel: u64,
    /// Of those: oversized payloads.
    pub oversized: u64,
    /// Of those: no handler for the message type.
    pub no_handler: u64,
    /// Of those: a handler's own error (or panic).
    pub handler_errors: u64,
    /// Messages dropped for clients that do not read (their queue was full).
    pub dropped: u64,
    /// Connections closed (left, died, or missed heartbeats).
    pub disconnected: u64,
    /// Of those: closed because they missed heartbeats.
    pub expired: u64,
}

struct Shared {
    apps: RwLock<HashMap<String, Arc<AppState>>>,
    stats: Mutex<AppStats>,
    conns: Mutex<Vec<ConnectionInfo>>,
    publish: Mutex<Sender<Outgoing>>,
}

struct Outgoing {
    app: String,
    channel: String,
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
    state: Arc<AppState>,
    shared: Arc<Shared>,
}

/// A channel of an [`Application`]: set its handlers, publish on it.
#[derive(Clone)]
pub struct Channel {
    app: String,
    name: String,
    state: Arc<ChannelState>,
    shared: Arc<Shared>,
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
        let shared = Arc::new(Shared {
            apps: RwLock::new(HashMap::new()),
            stats: Mutex::new(AppStats::default()),
            conns: Mutex::new(Vec::new()),
            publish: Mutex::new(tx),
        });
        let mut state = State {
            router,
            monitor,
            outgoing: rx,
            shared: shared.clone(),
            opts: opts.clone(),
            conns: HashMap::new(),
            subs: HashMap::new(),
            next_conn: 1,
            instance: instance(),
            stats: AppStats::default(),
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
        let mut apps = self.shared.apps.write().unwrap_or_else(|p| p.into_inner());
        if apps.contains_key(name) {
            return Err(Error::BadName(format!("application {name:?} exists")));
        }
        let state = Arc::new(AppState::default());
        apps.insert(name.to_owned(), state.clone());
        Ok(Application {
            name: name.to_owned(),
            state,
            shared: self.shared.clone(),
        })
    }

    /// The application called `name`, if it exists.
    pub fn application(&self, name: &str) -> Option<Application> {
        let apps = self.shared.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.get(name).map(|state| Application {
            name: name.to_owned(),
            state: state.clone(),
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
        let mut chans = self
            .state
            .channels
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if chans.contains_key(name) {
            return Err(Error::BadName(format!(
                "channel {name:?} exists in application {:?}",
                self.name
            )));
        }
        let state = Arc::new(ChannelState::default());
        chans.insert(name.to_owned(), state.clone());
        Ok(Channel {
            app: self.name.clone(),
            name: name.to_owned(),
            state,
            shared: self.shared.clone(),
        })
    }

    /// The channel called `name`, if it exists.
    pub fn channel(&self, name: &str) -> Option<Channel> {
        let chans = self
            .state
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner());
        chans.get(name).map(|state| Channel {
            app: self.name.clone(),
            name: name.to_owned(),
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
    }

    /// Sets a handler that sees every publish on the channel (they reach the subscribers
    /// with or without it).
    pub fn on_publish(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).publish = Some(Arc::new(f));
    }

    /// Sets a handler told of every subscribe and unsubscribe (the message's
    /// [`kind`](Message::kind) says which).
    pub fn on_subscribe(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).subscribe = Some(Arc::new(f));
    }

    /// Sets the notification handler. Without one, notifications are refused
    /// ([`ErrorCode::NoHandler`]).
    pub fn on_notification(&self, f: impl Fn(&Message<'_>) + Send + Sync + 'static) {
        lock(&self.state.handlers).notification = Some(Arc::new(f));
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
                app: self.app.clone(),
                channel: self.name.clone(),
                encoding,
                payload,
            })
            .map_err(|_| Error::Closed)
    }
}

struct Conn {
    id: u32,
    peer: Option<String>,
    since: SystemTime,
    subs: BTreeSet<(String, String)>,
}

struct State {
    router: Router,
    monitor: Receiver<SocketEvent>,
    outgoing: Receiver<Outgoing>,
    shared: Arc<Shared>,
    opts: AppServerOptions,
    /// Routing id → connection.
    conns: HashMap<Vec<u8>, Conn>,
    /// (application, channel) → the routing ids subscribed, in subscription order.
    subs: HashMap<(String, String), Vec<Vec<u8>>>,
    next_conn: u32,
    instance: u32,
    stats: AppStats,
    /// The connection list changed since it was last published.
    dirty: bool,
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

enum Refusal {
    Code(ErrorCode, String),
}

impl State {
    fn turn(&mut self, slice: Duration) {
        self.events();
        while let Ok(o) = self.outgoing.try_recv() {
            self.deliver(&o.app, &o.channel, o.encoding, &o.payload);
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
                    let c = self.conn(&routing_id);
                    c.peer = peer.map(|p| p.to_string());
                    self.dirty = true;
                }
                SocketEvent::Disconnected {
                    routing_id, reason, ..
                } => {
                    // The ZMTP layer closes a connection silent past the heartbeat timeout
                    // with "peer silent too long".
                    if reason.contains("silent") {
                        self.stats.expired += 1;
                    }
                    self.disconnected(&routing_id);
                }
                _ => {}
            }
        }
    }

    fn conn(&mut self, rid: &[u8]) -> &mut Conn {
        if !self.conns.contains_key(rid) {
            let id = self.next_conn;
            self.next_conn = self.next_conn.wrapping_add(1).max(1);
            self.conns.insert(
                rid.to_vec(),
                Conn {
                    id,
                    peer: None,
                    since: SystemTime::now(),
                    subs: BTreeSet::new(),
                },
            );
            self.dirty = true;
        }
        self.conns.get_mut(rid).expect("inserted above")
    }

    fn disconnected(&mut self, rid: &[u8]) {
        let Some(c) = self.conns.remove(rid) else {
            return;
        };
        self.stats.disconnected += 1;
        for key in c.subs {
            if let Some(v) = self.subs.get_mut(&key) {
                v.retain(|r| r != rid);
                if v.is_empty() {
                    self.subs.remove(&key);
                }
            }
        }
        self.dirty = true;
    }

    fn publish_stats(&mut self) {
        let rs = self.router.stats();
        let mut s = lock(&self.shared.stats);
        *s = AppStats {
            connections: self.conns.len(),
            subscriptions: self.conns.values().map(|c| c.subs.len()).sum(),
            dropped: rs.dropped_hwm + rs.dropped_budget,
            ..self.stats
        };
        drop(s);
        if self.dirty {
            self.dirty = false;
            let mut list: Vec<ConnectionInfo> = self
                .conns
                .values()
                .map(|c| ConnectionInfo {
                    id: c.id,
                    peer: c.peer.clone(),
                    since: c.since,
                    subscriptions: c.subs.iter().cloned().collect(),
                })
                .collect();
            list.sort_by_key(|c| c.id);
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

    fn refuse(&mut self, rid: &[u8], id: u32, code: ErrorCode, what: &str) {
        self.stats.errors += 1;
        match code {
            ErrorCode::Malformed => self.stats.malformed += 1,
            ErrorCode::UnknownApplication => self.stats.unknown_application += 1,
            ErrorCode::UnknownChannel => self.stats.unknown_channel += 1,
            ErrorCode::Oversized => self.stats.oversized += 1,
            ErrorCode::NoHandler => self.stats.no_handler += 1,
            ErrorCode::Handler => self.stats.handler_errors += 1,
            _ => {}
        }
        log::debug!(target: "ringwire::apps", "refused message {id}: {code}: {what}");
        if id != 0 {
            let head = wire::header(kind::ERROR, 0, code.to_byte(), id);
            let text = format!("{}: {what}", code.message());
            self.send(rid, &[&head, text.as_bytes()]);
        }
    }

    fn ack(&mut self, rid: &[u8], id: u32, count: u32) {
        if id != 0 {
            let head = wire::header(kind::ACK, 0, 0, id);
            self.send(rid, &[&head, &count.to_le_bytes()]);
        }
    }

    fn channel(&self, app: &str, channel: &str) -> std::result::Result<Arc<ChannelState>, Refusal> {
        let apps = self.shared.apps.read().unwrap_or_else(|p| p.into_inner());
        let Some(a) = apps.get(app) else {
            return Err(Refusal::Code(
                ErrorCode::UnknownApplication,
                format!("{app:?}"),
            ));
        };
        let chans = a.channels.read().unwrap_or_else(|p| p.into_inner());
        chans.get(channel).cloned().ok_or_else(|| {
            Refusal::Code(
                ErrorCode::UnknownChannel,
                format!("{channel:?} in application {app:?}"),
            )
        })
    }

    /// Sends a publish to every subscriber of the channel; returns how many.
    fn deliver(&mut self, app: &str, channel: &str, encoding: Encoding, payload: &[u8]) -> u32 {
        let key = (app.to_owned(), channel.to_owned());
        let head = wire::header(kind::MESSAGE, encoding.flags(), 0, 0);
        let State {
            router,
            subs,
            stats,
            ..
        } = self;
        let Some(rids) = subs.get(&key) else {
            return 0;
        };
        let mut n = 0u32;
        for rid in rids {
            let f: [&[u8]; 5] = [rid, &head, app.as_bytes(), channel.as_bytes(), payload];
            if let Err(e) = router.send_multipart(&f) {
                log::warn!(target: "ringwire::apps", "server publish: {e}");
            }
            n += 1;
        }
        stats.delivered += u64::from(n);
        n
    }

    fn on_message(&mut self, rid: &[u8], frames: &[Vec<u8>]) {
        let conn = self.conn(rid).id;
        let m = match ClientMsg::parse(frames) {
            Ok(m) => m,
            Err((id, e)) => {
                self.refuse(rid, id.unwrap_or(0), ErrorCode::Malformed, &e.to_string());
                return;
            }
        };
        let id = m.header.id;
        if m.header.kind == kind::HELLO {
            let head = wire::header(kind::WELCOME, 0, 0, id);
            let s = wire::session(self.instance, conn);
            self.send(rid, &[&head, &s]);
            return;
        }
        if m.payload.len() > self.opts.max_payload {
            let what = format!(
                "{} bytes, at most {} accepted",
                m.payload.len(),
                self.opts.max_payload
            );
            self.refuse(rid, id, ErrorCode::Oversized, &what);
            return;
        }
        let ch = match self.channel(m.app, m.channel) {
            Ok(c) => c,
            Err(Refusal::Code(c, what)) => {
                self.refuse(rid, id, c, &what);
                return;
            }
        };
        let kind_of = match m.header.kind {
            kind::REQUEST => MessageType::Request,
            kind::PUBLISH => MessageType::Publish,
            kind::SUBSCRIBE => MessageType::Subscribe,
            kind::UNSUBSCRIBE => MessageType::Unsubscribe,
            _ => MessageType::Notification,
        };
        let msg = Message {
            kind: kind_of,
            app: m.app,
            channel: m.channel,
            connection: conn,
            encoding: m.header.encoding(),
            payload: m.payload,
        };
        let (request, publish, subscribe, notification) = {
            let h = lock(&ch.handlers);
            (
                h.request.clone(),
                h.publish.clone(),
                h.subscribe.clone(),
                h.notification.clone(),
            )
        };
        let what = || format!("{:?} in application {:?}", m.channel, m.app);
        match kind_of {
            MessageType::Request => {
                let Some(f) = request else {
                    self.refuse(
                        rid,
                        id,
                        ErrorCode::NoHandler,
                        &format!("request to {}", what()),
                    );
                    return;
                };
                match catch_unwind(AssertUnwindSafe(|| f(&msg))) {
                    Ok(Ok(reply)) => {
                        self.stats.responses += 1;
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
                    Ok(Err(e)) => self.refuse(rid, id, ErrorCode::Handler, &e),
                    Err(_) => self.refuse(rid, id, ErrorCode::Handler, "the handler panicked"),
                }
            }
            MessageType::Publish => {
                self.stats.publishes += 1;
                if let Some(f) = publish {
                    see(&*f, &msg);
                }
                let n = self.deliver(m.app, m.channel, msg.encoding, m.payload);
                self.ack(rid, id, n);
            }
            MessageType::Subscribe | MessageType::Unsubscribe => {
                let key = (m.app.to_owned(), m.channel.to_owned());
                let max = self.opts.max_subscriptions;
                let c = self.conn(rid);
                if kind_of == MessageType::Subscribe {
                    if !c.subs.contains(&key) {
                        if c.subs.len() >= max {
                            let what = format!("{max} subscriptions per connection");
                            self.refuse(rid, id, ErrorCode::Full, &what);
                            return;
                        }
                        c.subs.insert(key.clone());
                        self.subs.entry(key).or_default().push(rid.to_vec());
                    }
                } else {
                    if !c.subs.remove(&key) {
                        self.refuse(rid, id, ErrorCode::NotSubscribed, &what());
                        return;
                    }
                    if let Some(v) = self.subs.get_mut(&key) {
                        v.retain(|r| r != rid);
                        if v.is_empty() {
                            self.subs.remove(&key);
                        }
                    }
                }
                self.dirty = true;
                if let Some(f) = subscribe {
                    see(&*f, &msg);
                }
                self.ack(rid, id, 0);
            }
            MessageType::Notification => {
                let Some(f) = notification else {
                    let what = format!("notification to {}", what());
                    self.refuse(rid, id, ErrorCode::NoHandler, &what);
                    return;
                };
                self.stats.notifications += 1;
                see(&*f, &msg);
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
