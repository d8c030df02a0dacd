//! Options for shm sockets and the builder that applies them.

use std::time::Duration;

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

/// What `send` does when the ring has no free slot (PUSH, REQ and REP; a publisher never
/// waits: slow subscribers lose the oldest messages and count them instead).
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

/// Options of an shm socket. Geometry (`slot_size`, `slot_count`, `history`) matters only to
/// the side that creates the segment; the other side reads it from the segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShmOptions {
    /// Largest encoded message (all frames plus 8 bytes per frame) a slot holds, in bytes.
    pub slot_size: usize,
    /// Slots per ring (rounded up to a power of two, at least 2); `None`: the pattern's default,
    /// 64 for PUB/SUB and PUSH/PULL, 4 per direction for REQ/REP (lock-step: one request in
    /// flight).
    pub slot_count: Option<usize>,
    /// PUB/SUB: how many of the latest messages a subscriber that connects late still gets.
    pub history: usize,
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
}

impl Default for ShmOptions {
    fn default() -> Self {
        Self {
            slot_size: 4096,
            slot_count: None,
            history: 0,
            wait: WaitMode::default(),
            full: FullPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            liveness_interval: Duration::from_millis(100),
            unlink_on_drop: true,
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

    setters! {
        /// Sets [`ShmOptions::slot_size`].
        slot_size: usize,
        /// Sets [`ShmOptions::history`].
        history: usize,
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

    builder_setters! {
        /// Largest encoded message per slot, in bytes.
        slot_size: usize,
        /// Messages kept for late-joining subscribers.
        history: usize,
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
