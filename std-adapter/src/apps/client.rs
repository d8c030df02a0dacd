//! The Rust client: a DEALER to the server, a thread that reads publishes while nothing else
//! does, a thread that runs subscription handlers.
//!
//! One call (request, publish, subscribe, notify) is outstanding at a time per client; the
//! calling thread sends and waits for its own answer, handing any publish it reads meanwhile
//! to the handler thread. A call gets the core's Lazy Pirate rule: wait
//! [`AppClientOptions::timeout`], send again (same id: a late first answer still counts), up
//! to [`AppClientOptions::retries`] times.

use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::apps::{self as wire, Encoding, ErrorCode, ServerMsg, kind};
use ringwire_core::broker::lazy::{LazyAction, LazyPirate};

use super::{Error, Result, check_name, decode, encode};
use crate::zmtp::Dealer;

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long the reading thread waits for a message in one go (a call that starts meanwhile
/// waits for the rest of it).
const IO_SLICE: Duration = Duration::from_millis(5);
/// How long the reading thread sleeps when a call holds the socket and does not say it is
/// done (a missed wake-up costs at most this).
const STEP_ASIDE: Duration = Duration::from_millis(50);
/// How long one send may wait for a connection before the call waits and tries again.
const SEND_WAIT: Duration = Duration::from_millis(50);

/// Options of an [`AppClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AppClientOptions {
    /// How long each attempt of a call waits for the server's answer.
    pub timeout: Duration,
    /// Sends of a call after the first before it fails with [`Error::NoReply`].
    pub retries: u32,
    /// While the client has subscriptions, it says HELLO this often; an answer naming a new
    /// session (the server restarted, or dropped and re-accepted the connection) makes it
    /// subscribe to everything again.
    pub heartbeat: Duration,
    /// First reconnect delay; it doubles after each failed attempt…
    pub reconnect_initial: Duration,
    /// …up to this.
    pub reconnect_max: Duration,
}

impl Default for AppClientOptions {
    fn default() -> Self {
        AppClientOptions {
            timeout: Duration::from_millis(2500),
            retries: 2,
            heartbeat: Duration::from_secs(1),
            reconnect_initial: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
        }
    }
}

/// A publish on a channel this client subscribed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The application.
    pub app: String,
    /// The channel.
    pub channel: String,
    /// How the payload is encoded.
    pub encoding: Encoding,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Publication {
    /// The payload decoded in its encoding.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        decode(self.encoding, &self.payload)
    }
}

type Handler = Arc<Mutex<Box<dyn FnMut(Publication) + Send>>>;
type Key = (String, String);

enum Answer {
    Response(Encoding, Vec<u8>),
    Ack(u32),
    Welcome,
}

enum Job {
    Publication(Publication),
    Stop,
}

struct Inner {
    endpoint: String,
    opts: AppClientOptions,
    dealer: Mutex<Dealer>,
    /// One call at a time.
    call: Mutex<()>,
    /// Threads waiting for the dealer: the reading thread steps aside while this is not 0.
    senders: AtomicUsize,
    next_id: AtomicU32,
    stop: AtomicBool,
    session: AtomicU64,
    subs: Mutex<BTreeSet<Key>>,
    handlers: Mutex<HashMap<Key, Handler>>,
    jobs: Mutex<Sender<Job>>,
    /// The reading thread sleeps on this while there are no subscriptions.
    wake: (Mutex<()>, Condvar),
    resubscribed: AtomicU64,
    handler_panics: AtomicU64,
}

/// A client of an [`AppServer`](super::AppServer). It owns two threads (reading publishes
/// while no call is outstanding, and running subscription handlers); it reconnects on its
/// own (exponential back-off) and subscribes again after a reconnect. Dropping it (or
/// [`disconnect`](Self::disconnect)) closes the connection.
pub struct AppClient {
    inner: Arc<Inner>,
    io: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for AppClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppClient")
            .field("endpoint", &self.inner.endpoint)
            .finish()
    }
}

impl AppClient {
    /// Connects to the server at `ep` and checks that it answers (HELLO).
    pub fn connect(ep: &str) -> Result<AppClient> {
        Self::connect_with(ep, AppClientOptions::default())
    }

    /// [`connect`](Self::connect) with options.
    pub fn connect_with(ep: &str, opts: AppClientOptions) -> Result<AppClient> {
        let dealer = Dealer::builder()
            .send_timeout(SEND_WAIT)
            .reconnect(opts.reconnect_initial, opts.reconnect_max)
            .linger(Duration::ZERO)
            .connect(ep)?;
        let (tx, rx) = mpsc::channel();
        let inner = Arc::new(Inner {
            endpoint: ep.to_owned(),
            opts,
            dealer: Mutex::new(dealer),
            call: Mutex::new(()),
            senders: AtomicUsize::new(0),
            next_id: AtomicU32::new(0),
            stop: AtomicBool::new(false),
            session: AtomicU64::new(0),
            subs: Mutex::new(BTreeSet::new()),
            handlers: Mutex::new(HashMap::new()),
            jobs: Mutex::new(tx),
            wake: (Mutex::new(()), Condvar::new()),
            resubscribed: AtomicU64::new(0),
            handler_panics: AtomicU64::new(0),
        });
        let i = inner.clone();
        let io = std::thread::Builder::new()
            .name("ringwire-apps-io".into())
            .spawn(move || io_loop(&i))
            .map_err(crate::Error::Io)?;
        let mut client = AppClient {
            inner,
            io: Some(io),
            worker: None,
        };
        let i = client.inner.clone();
        let worker = std::thread::Builder::new()
            .name("ringwire-apps-handlers".into())
            .spawn(move || handler_loop(&i, rx))
            .map_err(crate::Error::Io)?;
        client.worker = Some(worker);
        client
            .inner
            .call(kind::HELLO, "", "", Encoding::Postcard, &[])?;
        Ok(client)
    }

    /// Sends `payload` (postcard) to the request handler of `app`/`channel` and returns its
    /// reply, decoded.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &self,
        app: &str,
        channel: &str,
        payload: &Q,
    ) -> Result<A> {
        let (enc, bytes) = self.request_bytes(
            app,
            channel,
            Encoding::Postcard,
            &encode(Encoding::Postcard, payload)?,
        )?;
        decode(enc, &bytes)
    }

    /// A request whose payload and reply are JSON (as the Python and Node.js clients send).
    pub fn request_json(
        &self,
        app: &str,
        channel: &str,
        payload: &serde_json::Value,
    ) -> Result<serde_json::Value> {
        let (enc, bytes) = self.request_bytes(
            app,
            channel,
            Encoding::Json,
            &encode(Encoding::Json, payload)?,
        )?;
        decode(enc, &bytes)
    }

    /// A request with a payload already encoded; returns the reply's encoding and bytes.
    pub fn request_bytes(
        &self,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<(Encoding, Vec<u8>)> {
        names(app, channel)?;
        match self
            .inner
            .call(kind::REQUEST, app, channel, encoding, payload)?
        {
            Answer::Response(enc, bytes) => Ok((enc, bytes)),
            _ => Err(Error::Malformed(
                "a request was answered with an ACK".into(),
            )),
        }
    }

    /// Publishes `payload` (postcard) on `app`/`channel`; returns how many subscribers it
    /// reached.
    pub fn publish<T: Serialize + ?Sized>(
        &self,
        app: &str,
        channel: &str,
        payload: &T,
    ) -> Result<u32> {
        self.publish_bytes(
            app,
            channel,
            Encoding::Postcard,
            &encode(Encoding::Postcard, payload)?,
        )
    }

    /// Publishes `payload` as JSON.
    pub fn publish_json<T: Serialize + ?Sized>(
        &self,
        app: &str,
        channel: &str,
        payload: &T,
    ) -> Result<u32> {
        self.publish_bytes(
            app,
            channel,
            Encoding::Json,
            &encode(Encoding::Json, payload)?,
        )
    }

    /// Publishes a payload already encoded.
    pub fn publish_bytes(
        &self,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<u32> {
        names(app, channel)?;
        self.ack(kind::PUBLISH, app, channel, encoding, payload)
    }

    /// Sends a one-way notification (postcard) to the channel's notification handler; `Ok`
    /// once the server handed it over.
    pub fn notify<T: Serialize + ?Sized>(
        &self,
        app: &str,
        channel: &str,
        payload: &T,
    ) -> Result<()> {
        names(app, channel)?;
        let bytes = encode(Encoding::Postcard, payload)?;
        self.ack(kind::NOTIFY, app, channel, Encoding::Postcard, &bytes)
            .map(|_| ())
    }

    /// [`notify`](Self::notify) with a JSON payload.
    pub fn notify_json<T: Serialize + ?Sized>(
        &self,
        app: &str,
        channel: &str,
        payload: &T,
    ) -> Result<()> {
        names(app, channel)?;
        let bytes = encode(Encoding::Json, payload)?;
        self.ack(kind::NOTIFY, app, channel, Encoding::Json, &bytes)
            .map(|_| ())
    }

    /// Subscribes to `app`/`channel`; `handler` runs on the client's handler thread for
    /// every publish, one at a time, in arrival order. It may call this client (through an
    /// `Arc`). A second subscribe to the same channel replaces the handler.
    pub fn subscribe(
        &self,
        app: &str,
        channel: &str,
        handler: impl FnMut(Publication) + Send + 'static,
    ) -> Result<()> {
        names(app, channel)?;
        let key = (app.to_owned(), channel.to_owned());
        let h: Handler = Arc::new(Mutex::new(Box::new(handler)));
        let old = lock(&self.inner.handlers).insert(key.clone(), h);
        match self.ack(kind::SUBSCRIBE, app, channel, Encoding::Postcard, &[]) {
            Ok(_) => {
                lock(&self.inner.subs).insert(key);
                self.inner.wake.1.notify_all();
                Ok(())
            }
            Err(e) => {
                let mut hs = lock(&self.inner.handlers);
                match old {
                    Some(o) => hs.insert(key, o),
                    None => hs.remove(&key),
                };
                Err(e)
            }
        }
    }

    /// Ends the subscription to `app`/`channel` (an error, [`ErrorCode::NotSubscribed`], if
    /// there is none).
    pub fn unsubscribe(&self, app: &str, channel: &str) -> Result<()> {
        names(app, channel)?;
        let key = (app.to_owned(), channel.to_owned());
        let r = self.ack(kind::UNSUBSCRIBE, app, channel, Encoding::Postcard, &[]);
        if r.is_ok() || matches!(&r, Err(e) if e.code() == Some(ErrorCode::NotSubscribed)) {
            lock(&self.inner.subs).remove(&key);
            lock(&self.inner.handlers).remove(&key);
        }
        r.map(|_| ())
    }

    /// The channels subscribed to, as (application, channel).
    pub fn subscriptions(&self) -> Vec<(String, String)> {
        lock(&self.inner.subs).iter().cloned().collect()
    }

    /// How many times the client found itself on a new connection and subscribed again.
    pub fn resubscriptions(&self) -> u64 {
        self.inner.resubscribed.load(Ordering::Relaxed)
    }

    /// Subscription handler calls that panicked (each is logged and skipped).
    pub fn handler_panics(&self) -> u64 {
        self.inner.handler_panics.load(Ordering::Relaxed)
    }

    /// Closes the connection and stops the client's threads (as dropping it does).
    pub fn disconnect(self) {}

    fn ack(
        &self,
        k: u8,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<u32> {
        match self.inner.call(k, app, channel, encoding, payload)? {
            Answer::Ack(n) => Ok(n),
            _ => Err(Error::Malformed("expected an ACK".into())),
        }
    }
}

impl Drop for AppClient {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::Relaxed);
        self.inner.wake.1.notify_all();
        let _ = lock(&self.inner.jobs).send(Job::Stop);
        for t in [self.io.take(), self.worker.take()].into_iter().flatten() {
            let _ = t.join();
        }
    }
}

fn names(app: &str, channel: &str) -> Result<()> {
    check_name("application", app)?;
    check_name("channel", channel)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    fn call(
        &self,
        k: u8,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<Answer> {
        let r = self.call_once(k, app, channel, encoding, payload);
        // The reading thread may take the socket again.
        self.wake.1.notify_all();
        r
    }

    fn call_once(
        &self,
        k: u8,
        app: &str,
        channel: &str,
        encoding: Encoding,
        payload: &[u8],
    ) -> Result<Answer> {
        let _one = lock(&self.call);
        if self.stop.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 {
                break id;
            }
        };
        let head = wire::header(k, encoding.flags(), 0, id);
        let frames: Vec<&[u8]> = if k == kind::HELLO {
            vec![&head]
        } else {
            vec![&head, app.as_bytes(), channel.as_bytes(), payload]
        };
        self.senders.fetch_add(1, Ordering::AcqRel);
        let mut d = lock(&self.dealer);
        self.senders.fetch_sub(1, Ordering::AcqRel);
        let epoch = Instant::now();
        let since = || ms(epoch.elapsed());
        let mut lazy = LazyPirate::new(ms(self.opts.timeout), self.opts.retries);
        let mut sent = send(&mut d, &frames);
        lazy.on_send(since())
            .map_err(|_| Error::Malformed("call state".into()))?;
        loop {
            let now = since();
            match lazy.on_tick(now) {
                LazyAction::Wait { until } => {
                    if !sent {
                        // No connection yet (or the server is restarting): keep trying to
                        // hand the message over until the attempt's deadline.
                        sent = send(&mut d, &frames);
                        if !sent {
                            continue;
                        }
                    }
                    let wait = Duration::from_millis(until.saturating_sub(now).max(1));
                    match d.recv_multipart_timeout(wait) {
                        Ok(m) => {
                            if let Some((got, answer)) = self.handle(&mut d, m.frames())
                                && got == id
                            {
                                lazy.on_reply();
                                return answer;
                            }
                        }
                        Err(crate::Error::Timeout) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                LazyAction::Retry { attempt } => {
                    log::info!(
                        target: "ringwire::apps",
                        "no answer from {} within {} ms: sending again (attempt {attempt})",
                        self.endpoint,
                        self.opts.timeout.as_millis()
                    );
                    sent = send(&mut d, &frames);
                }
                LazyAction::GiveUp { attempts } => return Err(Error::NoReply { attempts }),
                LazyAction::Idle => return Err(Error::Closed),
            }
        }
    }

    /// Handles one message from the server (the dealer held): publishes go to the handler
    /// thread, a new session resubscribes; answers are returned with their id.
    fn handle(&self, d: &mut Dealer, frames: &[Vec<u8>]) -> Option<(u32, Result<Answer>)> {
        let m = match ServerMsg::parse(frames) {
            Ok(m) => m,
            Err(e) => {
                log::warn!(target: "ringwire::apps", "malformed message from {}: {e}", self.endpoint);
                return None;
            }
        };
        match m {
            ServerMsg::Message {
                app,
                channel,
                encoding,
                payload,
            } => {
                let p = Publication {
                    app: app.to_owned(),
                    channel: channel.to_owned(),
                    encoding,
                    payload: payload.to_vec(),
                };
                let _ = lock(&self.jobs).send(Job::Publication(p));
                None
            }
            ServerMsg::Welcome { id, session } => {
                self.on_session(d, session);
                Some((id, Ok(Answer::Welcome)))
            }
            ServerMsg::Response {
                id,
                encoding,
                payload,
            } => Some((id, Ok(Answer::Response(encoding, payload.to_vec())))),
            ServerMsg::Ack { id, count } => Some((id, Ok(Answer::Ack(count)))),
            ServerMsg::Error { id, code, message } => Some((
                id,
                Err(Error::Refused {
                    code,
                    message: String::from_utf8_lossy(message).into_owned(),
                }),
            )),
        }
    }

    fn on_session(&self, d: &mut Dealer, session: u64) {
        let old = self.session.swap(session, Ordering::AcqRel);
        if old == 0 || old == session {
            return;
        }
        let subs: Vec<Key> = lock(&self.subs).iter().cloned().collect();
        for (app, channel) in &subs {
            let head = wire::header(kind::SUBSCRIBE, 0, 0, 0);
            let frames: [&[u8]; 4] = [&head, app.as_bytes(), channel.as_bytes(), &[]];
            send(d, &frames);
        }
        self.resubscribed.fetch_add(1, Ordering::Relaxed);
        log::info!(
            target: "ringwire::apps",
            "reconnected to {} (new session {session:016x}): subscribed again to {} channel(s)",
            self.endpoint,
            subs.len()
        );
    }
}

/// Sends; false when no connection took the message within [`SEND_WAIT`].
fn send(d: &mut Dealer, frames: &[&[u8]]) -> bool {
    match d.send_multipart(frames) {
        Ok(()) => true,
        Err(crate::Error::Timeout) => false,
        Err(e) => {
            log::warn!(target: "ringwire::apps", "send: {e}");
            std::thread::sleep(SEND_WAIT);
            false
        }
    }
}

fn io_loop(inner: &Inner) {
    let mut last_hello = Instant::now();
    let sleep = |d: Duration| {
        let g = lock(&inner.wake.0);
        let _ = inner
            .wake
            .1
            .wait_timeout(g, d)
            .unwrap_or_else(|p| p.into_inner());
    };
    while !inner.stop.load(Ordering::Relaxed) {
        if lock(&inner.subs).is_empty() {
            // Nothing to read for: calls read their own answers.
            sleep(inner.opts.heartbeat);
            continue;
        }
        if inner.senders.load(Ordering::Acquire) != 0 {
            sleep(STEP_ASIDE);
            continue;
        }
        let Ok(mut d) = inner.dealer.try_lock() else {
            sleep(STEP_ASIDE);
            continue;
        };
        if last_hello.elapsed() >= inner.opts.heartbeat {
            last_hello = Instant::now();
            let head = wire::header(kind::HELLO, 0, 0, 0);
            send(&mut d, &[&head]);
        }
        match d.recv_multipart_timeout(IO_SLICE) {
            Ok(m) => {
                let _ = inner.handle(&mut d, m.frames());
            }
            Err(crate::Error::Timeout) => {}
            Err(e) => {
                log::warn!(target: "ringwire::apps", "receive from {}: {e}", inner.endpoint);
                drop(d);
                std::thread::sleep(IO_SLICE);
            }
        }
    }
}

fn handler_loop(inner: &Inner, jobs: Receiver<Job>) {
    while let Ok(Job::Publication(p)) = jobs.recv() {
        let key = (p.app.clone(), p.channel.clone());
        let Some(h) = lock(&inner.handlers).get(&key).cloned() else {
            continue;
        };
        let mut f = lock(&h);
        if catch_unwind(AssertUnwindSafe(|| (f)(p))).is_err() {
            inner.handler_panics.fetch_add(1, Ordering::Relaxed);
            log::error!(target: "ringwire::apps", "a subscription handler of {}/{} panicked", key.0, key.1);
        }
    }
}
