//! Options for shm sockets and the builder that applies them.

use std::time::Duration;

pub use ringwire_core::ring::broadcast::LagPolicy;

/// How a blocked receive (or a send waiting for room) waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitMode {
    /// Spin on the ring without ever sleeping: lowest latency, one core at 100 %.
    BusyPoll,
    /// Sleep on the segment's event word at once (futex): no CPU while idle, a few µs of
    /// wake-up latency.
    Blocking,
    /// Spin for `spin`, then sleep on the event word: the default.
    Adaptive {
        /// How long to spin before sleeping.
        spin: Duration,
    },
}

impl Default for WaitMode {
    fn default() -> Self {
        WaitMode::Adaptive {
            spin: Duration::from_micros(50),
        }
    }
}

/// What `send` does when the ring has no free slot (PUSH, REQ and REP, and a
/// [lossless](ShmOptions::lossless) publisher; a default publisher never waits: slow
/// subscribers lose messages and count them instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FullPolicy {
    /// Wait until a slot frees up (ZeroMQ's PUSH behaviour).
    #[default]
    Block,
    /// Wait at most this long, then fail with `Error::Timeout`.
    BlockFor(Duration),
    /// Fail at once with `Error::WouldBlock`.
    Error,
}

/// Options of an shm socket. Geometry (`slot_size`, `slot_count`) matters only to the side that
/// creates the segment; the other side reads it from the segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShmOptions {
    /// Largest one-frame message a socket can send, in bytes (`send_bytes`, a typed `send`,
    /// `loan_with`): the library adds its own framing on top when it sizes the ring's slots
    /// (an 8-byte frame header; on REQ/REP also the hidden request-id frame), and each socket's
    /// `max_message_size()` reads this value back. The extra frames of a multipart message
    /// (a topic, say) take 8 bytes each plus padding to a multiple of 8 out of this budget.
    pub slot_size: usize,
    /// Slots per ring (rounded up to a power of two, at least 2); `None`: the pattern's default,
    /// 64 for PUB/SUB and PUSH/PULL, 4 per direction for REQ/REP (lock-step: one request in
    /// flight).
    pub slot_count: Option<usize>,
    /// PUB/SUB: how many of the latest messages a subscriber that connects late still gets.
    /// It is the subscriber's request, the same whichever side creates the segment: a
    /// connecting subscriber starts up to `history` messages back, capped by what the ring
    /// holds (its slot count). A creator (either side) also makes the ring at least this big,
    /// so a publisher that binds with `history(n)` keeps `n` messages for subscribers that ask
    /// for them; it does not make subscribers ask.
    pub history: usize,
    /// PUB/SUB: where a subscriber that lagged (lost messages to the publisher) resumes:
    /// [`LagPolicy::HalfRing`] (default) half a ring behind the newest message, so a
    /// subscriber slower than the publisher keeps delivering its share; see [`LagPolicy`].
    pub lag_policy: LagPolicy,
    /// PUB/SUB publisher: never overwrite a message a live subscriber has not read yet; wait
    /// instead, as [`full`](Self::full) says (`Block`, `BlockFor`: `Error::Timeout`, `Error`:
    /// `Error::WouldBlock`), like libzmq's blocking high-water mark. The publisher then runs at
    /// the pace of its slowest subscriber; a dead subscriber stops holding it up within a
    /// liveness interval. Only subscribers in the segment's subscriber table (the first 64) are
    /// waited for. Off by default: a publisher never waits and slow subscribers count losses.
    pub lossless: bool,
    /// How blocked calls wait.
    pub wait: WaitMode,
    /// What a send does when the ring is full.
    pub full: FullPolicy,
    /// How long `connect` waits for the segment's creator to appear and finish initialising.
    pub connect_timeout: Duration,
    /// How often a blocked call checks that its peer process is still alive.
    pub liveness_interval: Duration,
    /// Whether the creating socket unlinks the segment's name when dropped.
    pub unlink_on_drop: bool,
    /// The name of the message type this socket carries, recorded in (or checked against) the
    /// segment header, so that two programs that disagree on the type fail at connect ("segment
    /// carries message type `X`, expected `Y`") instead of at decode. `None` (the default) is
    /// an untyped socket: it creates untyped segments and opens segments of any type. A typed
    /// socket opens segments of its own type and untyped ones.
    pub message_type: Option<String>,
    /// REQ/REP: how many requesters one replier serves at once (1..=256, default 8), set by the
    /// side that creates the segment. Each takes a client channel (a request ring and a reply
    /// ring of `slot_count` slots each) in the segment, so the segment grows with it: with
    /// 1 MiB slots and 4 slots per ring, 8 MiB per client. A requester past the limit is told
    /// so at connect; a dead requester's channel goes to the next one.
    pub max_clients: usize,
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self {
            slot_size: 4096,
            slot_count: None,
            history: 0,
            lag_policy: LagPolicy::HalfRing,
            lossless: false,
            wait: WaitMode::default(),
            full: FullPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            liveness_interval: Duration::from_millis(100),
            unlink_on_drop: true,
            message_type: None,
            max_clients: 8,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    )*};
}

impl ShmOptions {
    /// The defaults: 4 KiB slots, the pattern's slot count, no history, adaptive waits,
    /// blocking when full.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ShmOptions::slot_count`].
    pub fn slot_count(mut self, value: usize) -> Self {
        self.slot_count = Some(value);
        self
    }

    /// Sets [`ShmOptions::message_type`].
    pub fn message_type(mut self, name: impl Into<String>) -> Self {
        self.message_type = Some(name.into());
        self
    }

    setters! {
        /// Sets [`ShmOptions::slot_size`].
        slot_size: usize,
        /// Sets [`ShmOptions::history`].
        history: usize,
        /// Sets [`ShmOptions::lag_policy`].
        lag_policy: LagPolicy,
        /// Sets [`ShmOptions::lossless`].
        lossless: bool,
        /// Sets [`ShmOptions::wait`].
        wait: WaitMode,
        /// Sets [`ShmOptions::full`].
        full: FullPolicy,
        /// Sets [`ShmOptions::connect_timeout`].
        connect_timeout: Duration,
        /// Sets [`ShmOptions::liveness_interval`].
        liveness_interval: Duration,
        /// Sets [`ShmOptions::unlink_on_drop`].
        unlink_on_drop: bool,
        /// Sets [`ShmOptions::max_clients`].
        max_clients: usize,
    }
}

/// A socket type that can be bound or connected with options.
pub trait ShmSocket: Sized {
    /// Creates the segment at `endpoint` (`shm://name`) with `options`.
    fn bind_with(endpoint: &str, options: ShmOptions) -> crate::Result<Self>;
    /// Opens the segment at `endpoint`, waiting up to `options.connect_timeout` for it.
    fn connect_with(endpoint: &str, options: ShmOptions) -> crate::Result<Self>;
}

/// Builder returned by `Publisher::builder()` and friends: set options, then bind or connect.
#[derive(Debug, Clone)]
pub struct Builder<S> {
    options: ShmOptions,
    _socket: std::marker::PhantomData<fn() -> S>,
}

impl<S: ShmSocket> Default for Builder<S> {
    fn default() -> Self {
        Self {
            options: ShmOptions::default(),
            _socket: std::marker::PhantomData,
        }
    }
}

macro_rules! builder_setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.options.$name = value;
            self
        }
    )*};
}

impl<S: ShmSocket> Builder<S> {
    /// A builder with default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces all options.
    pub fn options(mut self, options: ShmOptions) -> Self {
        self.options = options;
        self
    }

    /// Slots per ring (see [`ShmOptions::slot_count`]).
    pub fn slot_count(mut self, value: usize) -> Self {
        self.options.slot_count = Some(value);
        self
    }

    /// Names the message type `T` in the segment (see [`ShmOptions::message_type`]), as
    /// [`std::any::type_name`] spells it: the same in programs that share the crate defining
    /// `T`. Use [`message_type_named`](Self::message_type_named) for a name you version.
    pub fn message_type<T: ?Sized>(self) -> Self {
        self.message_type_named(std::any::type_name::<T>())
    }

    /// Names the message type in the segment (see [`ShmOptions::message_type`]).
    pub fn message_type_named(mut self, name: impl Into<String>) -> Self {
        self.options.message_type = Some(name.into());
        self
    }

    builder_setters! {
        /// Largest encoded message per slot, in bytes.
        slot_size: usize,
        /// Messages a late-joining subscriber asks for (see [`ShmOptions::history`]).
        history: usize,
        /// Where a lagging subscriber resumes (see [`ShmOptions::lag_policy`]).
        lag_policy: LagPolicy,
        /// A publisher that waits for its slowest subscriber (see [`ShmOptions::lossless`]).
        lossless: bool,
        /// How blocked calls wait.
        wait: WaitMode,
        /// What a send does when the ring is full.
        full: FullPolicy,
        /// How long `connect` waits for the segment.
        connect_timeout: Duration,
        /// How often a blocked call checks its peer's liveness.
        liveness_interval: Duration,
        /// Whether the creator unlinks the name on drop.
        unlink_on_drop: bool,
        /// REQ/REP: how many requesters at once (see [`ShmOptions::max_clients`]).
        max_clients: usize,
    }

    /// Creates the segment and returns the socket.
    pub fn bind(self, endpoint: &str) -> crate::Result<S> {
        S::bind_with(endpoint, self.options)
    }

    /// Opens the segment and returns the socket.
    pub fn connect(self, endpoint: &str) -> crate::Result<S> {
        S::connect_with(endpoint, self.options)
    }
}
