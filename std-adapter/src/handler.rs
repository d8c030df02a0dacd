//! Handlers: register a function per request or per topic instead of writing the receive loop.
//!
//! The Python libraries ringwire replaces registered callbacks (`listen(handler)`,
//! `subscribe(event, handler)`, `set_handler(REQUEST, fn)`); this module is that style over
//! the transport-neutral sockets:
//!
//! - [`Replier::serve`] turns a replier into a [`Responder`] that answers each request with
//!   what the handler returns (typed with postcard, any [`Codec`] with
//!   [`serve_with`](Replier::serve_with), or raw frames with
//!   [`serve_bytes`](Replier::serve_bytes)); a ROUTER has the same three
//!   ([`zmtp::Router::serve`]) and answers REQ and DEALER peers with their envelope.
//! - [`Subscriber::on`] turns a subscriber into a [`Dispatcher`] with one handler per topic;
//!   each `on` also subscribes to its topic.
//!
//! Either runs **on a thread it owns** ([`spawn`](Responder::spawn) gives a
//! [`ServiceHandle`]: `stop()`, `join()`, and dropping it stops and joins), or **in the
//! caller's loop** ([`poll_once`](Responder::poll_once) handles at most one message,
//! [`run_until`](Responder::run_until) runs until a flag is set). A service waits for messages
//! in slices of [`Responder::slice`] (default [`DEFAULT_SLICE`]), so a stop is seen within one
//! slice.
//!
//! **Dispatch** is every-match, ZeroMQ's own rule: a message goes to every handler whose topic
//! is a prefix of its first frame, in registration order, each decoding its own copy (so
//! `on("", ..)` sees everything beside the specific handlers). Matching is the core's
//! [`Subscriptions`] matcher, one per handler. A message no handler matches (possible only
//! when the subscriber was also subscribed by hand) is counted in
//! [`ServiceStats::unmatched`].
//!
//! **Errors.** A handler returns `Result<_, HandlerError>`; any error converts into
//! [`HandlerError`] with `?`. A request or message that does not decode is a handler error
//! too, and so is a message a peer framed wrongly ([`Error::Protocol`]). Every such error is
//! logged (`log::warn!`, target `ringwire::handler`) and counted in
//! [`ServiceStats::failed`]; then the [`OnError`] policy decides: [`OnError::Continue`]
//! (the default) goes on with the next message, [`OnError::Stop`] ends the service with
//! [`ServiceError::Handler`]. A **panicking** handler is caught (`catch_unwind`), logged at
//! error level, counted in [`ServiceStats::panicked`], and always ends the service with
//! [`ServiceError::Panicked`], whatever the policy: the handler's captured state may be half
//! updated, so it is not called again. Nothing is poisoned: the socket stays usable (see
//! [`Responder::into_socket`]). A peer that went away ([`Error::Disconnected`]) is logged at
//! info level and the service goes on (twice in a row without a message between ends it);
//! any other socket error (I/O, segment) ends the service with [`ServiceError::Socket`].
//!
//! A requester is never left waiting: when the handler fails or panics, the responder sends
//! an **empty reply frame**. A typed `request` then fails to decode (postcard: unless the
//! reply type is `()` or has no fields); handlers that want to tell the requester why return
//! a reply type that carries the error (`Result<A, String>` encodes fine in every codec).
//! A reply larger than the socket allows ([`Error::TooLarge`]) fails that request the same
//! way, not the service.
//!
//! ```
//! use std::time::Duration;
//! use ringwire::{Replier, Requester};
//! use ringwire::handler::HandlerError;
//!
//! let endpoint = format!("shm://handler-doc-{}", std::process::id());
//! let replier = Replier::bind(&endpoint)?;
//! let service = replier
//!     .serve(|n: u32| -> Result<u32, HandlerError> { Ok(n * 2) })
//!     .spawn();
//! let mut requester = Requester::connect(&endpoint)?;
//! let answer: u32 = requester.request(&21u32, Duration::from_secs(10))?;
//! assert_eq!(answer, 42);
//! service.stop();
//! service.join().expect("the service ended cleanly");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::pattern::req::split_envelope;
use ringwire_core::pattern::subscription::Subscriptions;

use crate::codec::{Codec, Postcard};
use crate::error::Error;
use crate::message::Message;
use crate::{Replier, Subscriber, zmtp};

/// What a handler returns when it fails: any error, boxed (`?` converts into it).
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// How long a service waits for a message before it looks at its stop flag again.
pub const DEFAULT_SLICE: Duration = Duration::from_millis(50);

const LOG_TARGET: &str = "ringwire::handler";

/// What a service does after a handler returns an error (panics always stop it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnError {
    /// Log, count, and go on with the next message.
    #[default]
    Continue,
    /// Log, count, and end the service with [`ServiceError::Handler`].
    Stop,
}

/// Why a service ended (or why one [`poll_once`](Responder::poll_once) failed).
#[derive(Debug)]
#[non_exhaustive]
pub enum ServiceError {
    /// The socket failed (I/O, segment, a disconnect reported twice in a row, ...); the
    /// service cannot go on.
    Socket(Error),
    /// A handler returned an error and the policy is [`OnError::Stop`].
    Handler {
        /// The handler's topic (`Dispatcher`) or `"request"` (`Responder`).
        what: String,
        /// The handler's error.
        error: HandlerError,
    },
    /// A handler panicked; the service stops so the handler is not called again.
    Panicked {
        /// The handler's topic or `"request"`.
        what: String,
        /// The panic's message, if it was a string.
        message: String,
    },
    /// The service's thread ended without a result (a panic outside any handler).
    Thread(String),
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceError::Socket(e) => write!(f, "service socket failed: {e}"),
            ServiceError::Handler { what, error } => {
                write!(f, "handler for {what} failed: {error}")
            }
            ServiceError::Panicked { what, message } => {
                write!(f, "handler for {what} panicked: {message}")
            }
            ServiceError::Thread(message) => write!(f, "service thread panicked: {message}"),
        }
    }
}

impl std::error::Error for ServiceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServiceError::Socket(e) => Some(e),
            ServiceError::Handler { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for ServiceError {
    fn from(e: Error) -> Self {
        ServiceError::Socket(e)
    }
}

/// A service's counters, readable while it runs (from its [`ServiceHandle`] too).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// Handler calls that returned `Ok`.
    pub handled: u64,
    /// Handler calls that returned `Err`, and messages that could not be decoded.
    pub failed: u64,
    /// Handler calls that panicked (at most 1: a panic ends the service).
    pub panicked: u64,
    /// Messages that no handler's topic matched.
    pub unmatched: u64,
}

#[derive(Debug, Default)]
struct Counters {
    handled: AtomicU64,
    failed: AtomicU64,
    panicked: AtomicU64,
    unmatched: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> ServiceStats {
        // Plain counters: no other memory is published through them.
        ServiceStats {
            handled: self.handled.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
            unmatched: self.unmatched.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Policy, slice and counters: what both kinds of service share.
#[derive(Debug, Clone)]
struct Control {
    /// The last receive said `Disconnected`.
    disconnected: bool,
    policy: OnError,
    slice: Duration,
    counters: Arc<Counters>,
}

impl Default for Control {
    fn default() -> Self {
        Control {
            disconnected: false,
            policy: OnError::default(),
            slice: DEFAULT_SLICE,
            counters: Arc::default(),
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

impl Control {
    /// Runs one handler call, logging and counting a failure or panic: `Ok(true)` if it
    /// succeeded (the caller counts it as handled once its work is done), `Ok(false)` if it
    /// failed and the service goes on, `Err` if the service must end (a panic, or an error
    /// under [`OnError::Stop`]).
    fn call(
        &self,
        what: &dyn Fn() -> String,
        handler: impl FnOnce() -> Result<(), HandlerError>,
    ) -> Result<bool, ServiceError> {
        match catch_unwind(AssertUnwindSafe(handler)) {
            Ok(Ok(())) => Ok(true),
            Ok(Err(error)) => self.failed(what(), error).map(|()| false),
            Err(payload) => {
                Counters::bump(&self.counters.panicked);
                let what = what();
                let message = panic_message(payload.as_ref());
                log::error!(target: LOG_TARGET, "handler for {what} panicked: {message}; stopping the service");
                Err(ServiceError::Panicked { what, message })
            }
        }
    }

    /// Logs and counts a failure; `Err` under [`OnError::Stop`].
    fn failed(&self, what: String, error: HandlerError) -> Result<(), ServiceError> {
        Counters::bump(&self.counters.failed);
        match self.policy {
            OnError::Continue => {
                log::warn!(target: LOG_TARGET, "handler for {what} failed: {error}; continuing");
                Ok(())
            }
            OnError::Stop => {
                log::warn!(target: LOG_TARGET, "handler for {what} failed: {error}; stopping the service");
                Err(ServiceError::Handler { what, error })
            }
        }
    }

    /// Sorts a receive's error: a peer's bad message is a failure under the policy; a peer
    /// that went away ([`Error::Disconnected`]: an shm replier re-attached to a new
    /// requester) is logged and the service goes on, unless the previous receive said so
    /// too (a socket that keeps saying it would make the service spin); any other error ends
    /// the service.
    fn recv_failed(&mut self, error: Error) -> Result<(), ServiceError> {
        match error {
            Error::Disconnected if !self.disconnected => {
                self.disconnected = true;
                log::info!(target: LOG_TARGET, "a peer went away ({error}); the service goes on");
                Ok(())
            }
            Error::Protocol(_) | Error::Decode(_) => {
                self.failed("a received message".to_owned(), Box::new(error))
            }
            other => Err(ServiceError::Socket(other)),
        }
    }
}

/// One step of a service: wait up to a timeout for one message and handle it.
trait Step: Send + 'static {
    fn control(&self) -> &Control;
    fn step(&mut self, timeout: Duration) -> Result<bool, ServiceError>;
}

fn run_until<S: Step>(service: &mut S, stop: &AtomicBool) -> Result<(), ServiceError> {
    // SYNC: the flag publishes nothing but itself; Relaxed would do, Acquire pairs with the
    // Release store in `ServiceHandle::stop` for readers who expect it to.
    while !stop.load(Ordering::Acquire) {
        let slice = service.control().slice;
        service.step(slice)?;
    }
    Ok(())
}

fn spawn<S: Step>(mut service: S, name: &str) -> ServiceHandle {
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::clone(&service.control().counters);
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = run_until(&mut service, &flag);
            if let Err(e) = &result {
                log::debug!(target: LOG_TARGET, "service thread ends: {e}");
            }
            result
        });
    let (thread, spawn_error) = match thread {
        Ok(t) => (Some(t), None),
        Err(e) => (None, Some(e)),
    };
    ServiceHandle {
        stop,
        counters,
        thread,
        spawn_error,
    }
}

/// A service running on its own thread. Dropping the handle stops the service and waits for
/// its thread (at most about one [slice](Responder::slice) plus the handler call in flight).
#[derive(Debug)]
pub struct ServiceHandle {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<Result<(), ServiceError>>>,
    spawn_error: Option<std::io::Error>,
}

impl ServiceHandle {
    /// Asks the service to stop; it does within one slice (after the handler call in flight).
    pub fn stop(&self) {
        // SYNC: pairs with the Acquire load in `run_until`.
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the service's thread has ended (stopped, or ended by an error).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// The service's counters now.
    pub fn stats(&self) -> ServiceStats {
        self.counters.snapshot()
    }

    /// Waits for the service's thread to end and returns what ended it: `Ok` after
    /// [`stop`](Self::stop), the error otherwise. Call `stop` first unless the service is
    /// expected to end by itself, or this waits for ever.
    pub fn join(mut self) -> Result<(), ServiceError> {
        self.join_thread()
    }

    fn join_thread(&mut self) -> Result<(), ServiceError> {
        if let Some(e) = self.spawn_error.take() {
            return Err(ServiceError::Socket(Error::Io(e)));
        }
        match self.thread.take() {
            None => Ok(()),
            Some(thread) => thread.join().unwrap_or_else(|payload| {
                Err(ServiceError::Thread(panic_message(payload.as_ref())))
            }),
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.stop();
        if let Err(e) = self.join_thread() {
            log::warn!(target: LOG_TARGET, "a dropped service had ended: {e}");
        }
    }
}

/// The methods both services have, written once.
macro_rules! service_methods {
    ([$($generics:tt)*] $name:ty, $socket:ty, $thread:literal) => {
        impl<$($generics)*> $name {
            /// What to do when a handler returns an error (default [`OnError::Continue`]).
            pub fn on_error(mut self, policy: OnError) -> Self {
                self.control.policy = policy;
                self
            }

            /// How long [`run_until`](Self::run_until) and a spawned service wait for a
            /// message before looking at the stop flag again (default [`DEFAULT_SLICE`]).
            pub fn slice(mut self, slice: Duration) -> Self {
                self.control.slice = slice;
                self
            }

            /// Waits up to `timeout` for one message and handles it: `Ok(true)` if one came
            /// (even if its handler failed under [`OnError::Continue`]), `Ok(false)` if the
            /// timeout passed. `Err` is what would end the service.
            pub fn poll_once(&mut self, timeout: Duration) -> Result<bool, ServiceError> {
                Step::step(self, timeout)
            }

            /// Handles messages until `stop` is set (checked at least once per slice) or an
            /// error ends the service.
            pub fn run_until(&mut self, stop: &AtomicBool) -> Result<(), ServiceError> {
                run_until(self, stop)
            }

            /// Runs the service on a new thread it owns.
            pub fn spawn(self) -> ServiceHandle {
                spawn(self, $thread)
            }

            /// The counters so far.
            pub fn stats(&self) -> ServiceStats {
                self.control.counters.snapshot()
            }

            /// Takes the socket back (after the caller's loop ended), dropping the handlers.
            pub fn into_socket(self) -> $socket {
                self.socket
            }
        }
    };
}

mod sealed {
    use std::time::Duration;

    use crate::error::Result;
    use crate::message::Message;

    /// A socket a [`Responder`](super::Responder) can serve: REP-like (one reply per
    /// request) or ROUTER (the reply goes back with the request's envelope).
    pub trait ServeSocket: Send + 'static {
        fn recv_request(&mut self, timeout: Duration) -> Result<Message>;
        fn send_reply(&mut self, request: &Message, reply: &[u8]) -> Result<()>;
    }
}

use sealed::ServeSocket;

impl ServeSocket for Replier {
    fn recv_request(&mut self, timeout: Duration) -> crate::Result<Message> {
        self.recv_multipart_timeout(timeout)
    }

    fn send_reply(&mut self, _request: &Message, reply: &[u8]) -> crate::Result<()> {
        self.send_bytes(reply)
    }
}

impl ServeSocket for zmtp::Router {
    fn recv_request(&mut self, timeout: Duration) -> crate::Result<Message> {
        self.recv_multipart_timeout(timeout)
    }

    /// Replies with the request's envelope: the routing id and, from a REQ (or a DEALER that
    /// sends one), everything up to the empty delimiter.
    fn send_reply(&mut self, request: &Message, reply: &[u8]) -> crate::Result<()> {
        let frames = request.frames();
        let envelope = split_envelope(frames)
            .filter(|&n| n < frames.len())
            .unwrap_or(1);
        let mut out: Vec<&[u8]> = frames[..envelope].iter().map(Vec::as_slice).collect();
        out.push(reply);
        self.send_multipart(&out)
    }
}

type RequestFn = Box<dyn FnMut(&Message, &mut Vec<u8>) -> Result<(), HandlerError> + Send>;

/// A socket answering every request with a handler: a [`Replier`] (made by
/// [`Replier::serve`]) or a ROUTER (made by [`zmtp::Router::serve`]).
pub struct Responder<S = Replier> {
    socket: S,
    handler: RequestFn,
    reply: Vec<u8>,
    control: Control,
}

impl<S: fmt::Debug> fmt::Debug for Responder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("socket", &self.socket)
            .field("control", &self.control)
            .finish_non_exhaustive()
    }
}

impl<S: ServeSocket> Step for Responder<S> {
    fn control(&self) -> &Control {
        &self.control
    }

    fn step(&mut self, timeout: Duration) -> Result<bool, ServiceError> {
        let request = match self.socket.recv_request(timeout) {
            Ok(m) => {
                self.control.disconnected = false;
                m
            }
            Err(Error::Timeout) => return Ok(false),
            Err(e) => return self.control.recv_failed(e).map(|()| true),
        };
        self.reply.clear();
        let handler = &mut self.handler;
        let reply = &mut self.reply;
        let mut outcome = self
            .control
            .call(&|| "request".to_owned(), || handler(&request, reply));
        let succeeded = matches!(outcome, Ok(true));
        if !succeeded {
            // The requester still gets an answer (empty, not a half-encoded one), before the
            // service goes on or ends.
            self.reply.clear();
        }
        if succeeded {
            // Counted before the reply leaves, so a requester that has its answer sees it.
            Counters::bump(&self.control.counters.handled);
        }
        match self.socket.send_reply(&request, &self.reply) {
            Err(e @ Error::TooLarge { .. }) if succeeded => {
                // The handler's answer does not fit: a failure of this request, not of the
                // socket. The requester gets the empty reply.
                self.control
                    .counters
                    .handled
                    .fetch_sub(1, Ordering::Relaxed);
                outcome = self
                    .control
                    .failed("request".to_owned(), Box::new(e))
                    .map(|()| false);
                self.socket.send_reply(&request, &[])?;
            }
            Err(Error::Disconnected) => {
                log::info!(target: LOG_TARGET, "the requester went away before its reply");
            }
            other => other?,
        }
        outcome.map(|_| true)
    }
}

service_methods!([S: ServeSocket] Responder<S>, S, "ringwire-responder");

/// A request handler decoding the request's last frame and encoding the reply with `C`.
fn typed_request<C, Q, A, F>(mut handler: F) -> RequestFn
where
    C: Codec,
    Q: DeserializeOwned,
    A: Serialize,
    F: FnMut(Q) -> Result<A, HandlerError> + Send + 'static,
{
    Box::new(move |request: &Message, reply: &mut Vec<u8>| {
        let bytes = request.payload().unwrap_or_default();
        let answer = handler(C::decode(bytes)?)?;
        C::encode_into(&answer, reply)?;
        Ok(())
    })
}

/// A message handler decoding the message's last frame with `C`.
fn typed_message<C, T, F>(mut handler: F) -> MessageFn
where
    C: Codec,
    T: DeserializeOwned,
    F: FnMut(T) -> Result<(), HandlerError> + Send + 'static,
{
    Box::new(move |message: &Message| handler(C::decode(message.payload().unwrap_or_default())?))
}

/// `serve`, `serve_with` and `serve_bytes` for each socket that can answer requests.
macro_rules! serve_methods {
    ($socket:ty, $what:literal) => {
        impl $socket {
            #[doc = concat!("Answers each request with `handler(request)`, both postcard-encoded", $what)]
            pub fn serve<Q, A, F>(self, handler: F) -> Responder<Self>
            where
                Q: DeserializeOwned,
                A: Serialize,
                F: FnMut(Q) -> Result<A, HandlerError> + Send + 'static,
            {
                self.serve_with(Postcard, handler)
            }

            /// Like [`serve`](Self::serve), decoding requests (their last frame) and encoding
            /// replies with `codec`.
            pub fn serve_with<C, Q, A, F>(self, codec: C, handler: F) -> Responder<Self>
            where
                C: Codec,
                Q: DeserializeOwned,
                A: Serialize,
                F: FnMut(Q) -> Result<A, HandlerError> + Send + 'static,
            {
                let _ = codec;
                self.serve_raw(typed_request::<C, Q, A, F>(handler))
            }

            /// Answers each request (all its frames as received) with the one frame
            /// `handler` returns.
            pub fn serve_bytes<F>(self, mut handler: F) -> Responder<Self>
            where
                F: FnMut(&Message) -> Result<Vec<u8>, HandlerError> + Send + 'static,
            {
                self.serve_raw(Box::new(move |request: &Message, reply: &mut Vec<u8>| {
                    *reply = handler(request)?;
                    Ok(())
                }))
            }

            fn serve_raw(self, handler: RequestFn) -> Responder<Self> {
                Responder {
                    socket: self,
                    handler,
                    reply: Vec::new(),
                    control: Control::default(),
                }
            }
        }
    };
}

serve_methods!(Replier, ".");
serve_methods!(
    zmtp::Router,
    ": requests from REQ peers, and from DEALER peers with or without the empty delimiter, are \
     answered with the same envelope (routing id, delimiter). The frames `serve_bytes` sees \
     start with the routing id."
);

type MessageFn = Box<dyn FnMut(&Message) -> Result<(), HandlerError> + Send>;

struct Route {
    topic: String,
    filter: Subscriptions<Box<[u8]>>,
    handler: MessageFn,
}

/// A [`Subscriber`] calling a handler per topic (made by [`Subscriber::on`] or
/// [`Subscriber::dispatcher`]); dispatch is every-match (see [the module](self)).
pub struct Dispatcher {
    socket: Subscriber,
    routes: Vec<Route>,
    control: Control,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let topics: Vec<&str> = self.routes.iter().map(|r| r.topic.as_str()).collect();
        f.debug_struct("Dispatcher")
            .field("socket", &self.socket)
            .field("topics", &topics)
            .field("control", &self.control)
            .finish()
    }
}

impl Dispatcher {
    /// Calls `handler` with every message whose first frame starts with `topic`, its last
    /// frame decoded as postcard `T`; subscribes to `topic`.
    pub fn on<T, F>(self, topic: impl AsRef<[u8]>, handler: F) -> crate::Result<Self>
    where
        T: DeserializeOwned,
        F: FnMut(T) -> Result<(), HandlerError> + Send + 'static,
    {
        self.on_with(Postcard, topic, handler)
    }

    /// Like [`on`](Self::on), decoding with `codec`.
    pub fn on_with<C, T, F>(
        self,
        codec: C,
        topic: impl AsRef<[u8]>,
        handler: F,
    ) -> crate::Result<Self>
    where
        C: Codec,
        T: DeserializeOwned,
        F: FnMut(T) -> Result<(), HandlerError> + Send + 'static,
    {
        let _ = codec;
        self.route(topic.as_ref(), typed_message::<C, T, F>(handler))
    }

    /// Calls `handler` with every whole message (all frames) whose first frame starts with
    /// `topic`; subscribes to `topic`.
    pub fn on_message<F>(self, topic: impl AsRef<[u8]>, handler: F) -> crate::Result<Self>
    where
        F: FnMut(&Message) -> Result<(), HandlerError> + Send + 'static,
    {
        self.route(topic.as_ref(), Box::new(handler))
    }

    fn route(mut self, topic: &[u8], handler: MessageFn) -> crate::Result<Self> {
        let mut filter = Subscriptions::new(vec![0u8; topic.len() + 6].into_boxed_slice());
        filter.subscribe(topic).map_err(|_| Error::TooLarge {
            size: topic.len(),
            limit: usize::from(u16::MAX),
        })?;
        self.socket.subscribe(topic)?;
        self.routes.push(Route {
            topic: String::from_utf8_lossy(topic).into_owned(),
            filter,
            handler,
        });
        Ok(self)
    }

    /// The topics with a handler, in registration order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|r| r.topic.as_str())
    }
}

impl Step for Dispatcher {
    fn control(&self) -> &Control {
        &self.control
    }

    fn step(&mut self, timeout: Duration) -> Result<bool, ServiceError> {
        let message = match self.socket.recv_multipart_timeout(timeout) {
            Ok(m) => {
                self.control.disconnected = false;
                m
            }
            Err(Error::Timeout) => return Ok(false),
            Err(e) => return self.control.recv_failed(e).map(|()| true),
        };
        let topic = message.frames().first().map_or(&[][..], Vec::as_slice);
        let mut matched = false;
        for route in &mut self.routes {
            if !route.filter.matches(topic) {
                continue;
            }
            matched = true;
            let handler = &mut route.handler;
            let name = &route.topic;
            if self
                .control
                .call(&|| format!("topic {name:?}"), || handler(&message))?
            {
                Counters::bump(&self.control.counters.handled);
            }
        }
        if !matched {
            Counters::bump(&self.control.counters.unmatched);
        }
        Ok(true)
    }
}

service_methods!([] Dispatcher, Subscriber, "ringwire-dispatcher");

impl Subscriber {
    /// A [`Dispatcher`] over this subscriber with no handler yet.
    pub fn dispatcher(self) -> Dispatcher {
        Dispatcher {
            socket: self,
            routes: Vec::new(),
            control: Control::default(),
        }
    }

    /// A [`Dispatcher`] calling `handler` with every message on `topic` (postcard `T`);
    /// subscribes to `topic`. Add more topics with [`Dispatcher::on`].
    pub fn on<T, F>(self, topic: impl AsRef<[u8]>, handler: F) -> crate::Result<Dispatcher>
    where
        T: DeserializeOwned,
        F: FnMut(T) -> Result<(), HandlerError> + Send + 'static,
    {
        self.dispatcher().on(topic, handler)
    }
}

impl<C: Codec> crate::codec::Coded<Replier, C> {
    /// [`Replier::serve_with`] this socket's codec.
    pub fn serve<Q, A, F>(self, handler: F) -> Responder<Replier>
    where
        Q: DeserializeOwned,
        A: Serialize,
        F: FnMut(Q) -> Result<A, HandlerError> + Send + 'static,
    {
        self.into_inner()
            .serve_raw(typed_request::<C, Q, A, F>(handler))
    }
}

impl<C: Codec> crate::codec::Coded<Subscriber, C> {
    /// [`Dispatcher::on_with`] this socket's codec; later `on` calls on the dispatcher are
    /// postcard unless they say `on_with`.
    pub fn on<T, F>(self, topic: impl AsRef<[u8]>, handler: F) -> crate::Result<Dispatcher>
    where
        T: DeserializeOwned,
        F: FnMut(T) -> Result<(), HandlerError> + Send + 'static,
    {
        self.into_inner()
            .dispatcher()
            .route(topic.as_ref(), typed_message::<C, T, F>(handler))
    }
}
