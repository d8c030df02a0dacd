//! [`Builder`]: socket construction with options.

use std::time::Duration;

use super::engine::Engine;
use super::options::{HwmPolicy, Options};
use super::sockets::{ZmtpSocket, sealed};
use crate::error::Result;

/// Builds a socket with options: `Pub::builder().send_hwm(10_000).bind("tcp://*:5556")`.
#[derive(Debug, Clone)]
pub struct Builder<S> {
    opts: Options,
    _socket: std::marker::PhantomData<fn() -> S>,
}

impl<S: ZmtpSocket> Builder<S> {
    /// A builder with default options.
    pub fn new() -> Self {
        Builder {
            opts: Options::default(),
            _socket: std::marker::PhantomData,
        }
    }

    /// Replaces every option at once.
    pub fn options(mut self, opts: Options) -> Self {
        self.opts = opts;
        self
    }

    /// Per-peer send high-water mark, in messages.
    pub fn send_hwm(mut self, n: usize) -> Self {
        self.opts.send_hwm = n;
        self
    }

    /// Most bytes queued for sending on all connections together
    /// ([`Options::max_queued_bytes`]).
    pub fn max_queued_bytes(mut self, n: usize) -> Self {
        self.opts.max_queued_bytes = n;
        self
    }

    /// Receive high-water mark, in messages.
    pub fn recv_hwm(mut self, n: usize) -> Self {
        self.opts.recv_hwm = n;
        self
    }

    /// What a send does at the high-water mark.
    pub fn hwm_policy(mut self, p: HwmPolicy) -> Self {
        self.opts.hwm_policy = Some(p);
        self
    }

    /// ZMTP PING every `interval` of peer silence; close after `timeout` of silence.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.opts.heartbeat_interval = Some(interval);
        self.opts.heartbeat_timeout = Some(timeout);
        self
    }

    /// How long a drop keeps writing queued messages.
    pub fn linger(mut self, d: Duration) -> Self {
        self.opts.linger = d;
        self
    }

    /// Identity sent to peers (ROUTER peers route by it).
    pub fn identity(mut self, id: &[u8]) -> Self {
        self.opts.identity = id.to_vec();
        self
    }

    /// Handshake timeout for new connections.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.opts.handshake_timeout = d;
        self
    }

    /// Close connections silent for this long.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.opts.idle_timeout = Some(d);
        self
    }

    /// Blocking sends give up after this long.
    pub fn send_timeout(mut self, d: Duration) -> Self {
        self.opts.send_timeout = Some(d);
        self
    }

    /// Most simultaneous connections.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.opts.max_connections = n;
        self
    }

    /// Reconnect back-off from `initial`, doubling up to `max`.
    pub fn reconnect(mut self, initial: Duration, max: Duration) -> Self {
        self.opts.reconnect_interval = initial;
        self.opts.reconnect_interval_max = max;
        self
    }

    /// Size limits on what peers send.
    pub fn limits(mut self, limits: ringwire_core::zmtp::Limits) -> Self {
        self.opts.limits = limits;
        self
    }

    /// Cork every send (see [`Options::batch`]).
    pub fn batch(mut self, on: bool) -> Self {
        self.opts.batch = on;
        self
    }

    /// The socket with no endpoints yet (add them with `add_bind` / `add_connect`).
    pub fn build(self) -> S {
        <S as sealed::Sealed>::from_engine(Engine::new(S::TYPE, self.opts))
    }

    /// The socket, bound to `ep`.
    pub fn bind(self, ep: &str) -> Result<S> {
        let mut s = self.build();
        s.with_engine(|e| e.bind(ep))?;
        Ok(s)
    }

    /// The socket, connecting to `ep` (retried in the background of later calls if the
    /// peer is not up yet).
    pub fn connect(self, ep: &str) -> Result<S> {
        let mut s = self.build();
        s.with_engine(|e| e.connect(ep))?;
        Ok(s)
    }
}

impl<S: ZmtpSocket> Default for Builder<S> {
    fn default() -> Self {
        Self::new()
    }
}
