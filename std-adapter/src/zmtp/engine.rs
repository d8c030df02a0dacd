//! The caller-driven I/O engine shared by every ZMTP socket type.
//!
//! There is no background thread: every public call (send, receive, flush, drop)
//! pumps the engine — accept, connect and reconnect, read and decode, write queued
//! bytes, heartbeats and timeouts — with one `poll(2)` over the socket's listeners
//! and connections (`engine/pump.rs`). A blocked receive sleeps in that `poll`, or in
//! a blocking `recv` when one connection is all it waits on, and decodes the reply in
//! the caller's own thread, so a request/reply round trip costs the two kernel
//! socket hops and nothing else (libzmq adds two I/O-thread hand-offs).

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use rustix::fd::{AsFd, BorrowedFd};

use ringwire_core::pattern::backoff::Backoff;
use ringwire_core::pattern::heartbeat::Heartbeat;
use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::pattern::subscription::Subscriptions;
use ringwire_platform::readiness::{Interest, Readiness};

use super::conn::{Conn, Incoming, Origin};
use super::inbox::Inbox;
use super::options::{HwmPolicy, Options, SocketEvent, Stats};
use super::outgoing::Outgoing;
use super::pipe;
use super::transport::{Listener, Stream};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

mod budget;
mod pump;
mod ready_set;

/// Write buffers flush on their own once this many bytes are pending.
const FLUSH_AT: usize = 64 * 1024;
/// Sending-only calls pump (accept, read subscriptions) at most this often.
const PUMP_EVERY: Duration = Duration::from_millis(1);
/// Sends closer together than this are a burst: after the first, messages are corked
/// and written together by the driver (see `driver.rs`); isolated sends (a request, a
/// control-loop publish) are written at once.
pub const CORK_WINDOW: Duration = Duration::from_micros(5);
/// First pause of accepting after `accept` ran out of descriptors (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM); it doubles up to [`ACCEPT_PAUSE_MAX`] while the shortage lasts.
const ACCEPT_PAUSE_MIN: u64 = 10;
/// Longest pause of accepting (ms) while descriptors are short.
const ACCEPT_PAUSE_MAX: u64 = 500;

/// What [`Engine::send_to`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Queued (and written, unless corked or held back).
    Yes,
    /// The peer's queue holds `send_hwm` messages.
    Full,
    /// The socket's queued bytes would pass [`Options::max_queued_bytes`].
    OverBudget,
}

struct Connector {
    endpoint: Endpoint,
    backoff: Backoff,
    conn: Option<usize>,
}

/// The shared I/O engine (internal).
pub struct Engine {
    pub kind: SocketType,
    pub opts: Options,
    start: Instant,
    listeners: Vec<(Listener, Endpoint)>,
    connectors: Vec<Connector>,
    pub conns: Vec<Option<Conn>>,
    rr: usize,
    /// Received messages with the uid of the connection they came from.
    pub inbox: Inbox,
    /// The read buffer every connection reads through, one at a time (allocated at the
    /// first read).
    rbuf: Box<[u8]>,
    next_uid: u64,
    last_pump: Instant,
    /// The driver's wait set, where new descriptors are registered, and its waker,
    /// woken when bytes are corked.
    readiness: Option<Arc<Readiness>>,
    last_send: Instant,
    burst: bool,
    corked: bool,
    scratch: Vec<Incoming>,
    pub stats: Stats,
    /// Every receiver handed out by `monitor` and still held.
    monitors: Vec<mpsc::Sender<SocketEvent>>,
    next_id: u32,
    /// A subscriber's own subscriptions, re-sent to every new publisher connection.
    pub own_subs: Option<Subscriptions<Box<[u8]>>>,
    /// The connection (uid) a receive waits on while set: only its messages can end
    /// the wait (a REQ waiting for its reply), so the wait may sleep on it alone.
    pub focus: Option<u64>,
    /// Accepting is paused until this time (ms) because `accept` ran out of
    /// descriptors: the listeners are not watched meanwhile (level-triggered, a pending
    /// connection nobody can accept would wake every `poll` at once).
    accept_paused: Option<u64>,
    /// The current pause length (ms), doubled per failure in one shortage episode; 0
    /// while accepting works (so the episode's warning is logged once).
    accept_pause: u64,
    /// The owner's readiness set ([`ready_set`]): what a pump that waits for any
    /// descriptor asks instead of polling each (`None`: not made yet, or unavailable).
    ready_set: Option<ready_set::ReadySet>,
    /// The most descriptors one `poll(2)` of a pump was handed since the last reset
    /// (tests check that waits stay off `poll` when the readiness set is there).
    /// Slots whose connection the bookkeeping walks (reaping, interest syncing,
    /// flushing, timers) must look at: every connection touched since it was last seen
    /// settled. A connection off the list is alive, has nothing to write, is registered
    /// with the driver and the readiness set as it wants, and has no timer due before
    /// [`timer_floor`](Self::timer_floor); so a walk costs what is going on, not how many
    /// peers are connected. Connections leave it only where the readiness set is synced
    /// (without one, every connection stays on it and the walks cover all, as before).
    unsettled: Vec<usize>,
    /// Per slot: whether it is on `unsettled`.
    listed: Vec<bool>,
    /// No connection off `unsettled` has a timer (handshake timeout, heartbeat) due
    /// before this (ms); when it passes, `timers` looks at every connection.
    timer_floor: u64,
    /// Whether the inbox had room when the readiness set was last synced (a change
    /// changes every connection's read interest).
    synced_read_ok: Option<bool>,
    /// The slot of each connection by uid.
    slots: HashMap<u64, usize>,
    #[cfg(test)]
    pub poll_fds_max: usize,
    /// Connections the engine's bookkeeping walks looked at since the last reset
    /// (tests check that a round trip looks at O(1) of them, however many are idle).
    #[cfg(test)]
    pub visited: std::cell::Cell<usize>,
}

impl Engine {
    pub fn new(kind: SocketType, opts: Options) -> Engine {
        let own_subs = matches!(kind, SocketType::Sub | SocketType::XSub)
            .then(|| Subscriptions::new(vec![0u8; opts.max_subscription_bytes].into_boxed_slice()));
        Engine {
            kind,
            opts,
            start: Instant::now(),
            listeners: Vec::new(),
            connectors: Vec::new(),
            conns: Vec::new(),
            rr: 0,
            inbox: Inbox::default(),
            rbuf: Box::default(),
            scratch: Vec::new(),
            next_uid: 1,
            last_pump: Instant::now(),
            readiness: None,
            last_send: Instant::now(),
            burst: false,
            corked: false,
            stats: Stats::default(),
            monitors: Vec::new(),
            next_id: rand_seed(),
            own_subs,
            focus: None,
            accept_paused: None,
            accept_pause: 0,
            ready_set: None,
            unsettled: Vec::new(),
            listed: Vec::new(),
            timer_floor: 0,
            synced_read_ok: None,
            slots: HashMap::new(),
            #[cfg(test)]
            poll_fds_max: 0,
            #[cfg(test)]
            visited: std::cell::Cell::new(0),
        }
    }

    /// Registers future descriptors with the idle-time driver's wait set.
    pub fn set_readiness(&mut self, readiness: Arc<Readiness>) {
        self.readiness = Some(readiness);
    }

    /// Registration (or re-registration) of `fd` with the driver (edge-triggered epoll
    /// on Linux; elsewhere the driver asks [`watch_list`](Self::watch_list) instead).
    fn register(&self, fd: BorrowedFd<'_>, interest: Interest, modify: bool) {
        if let Some(r) = &self.readiness {
            r.register(fd, interest, modify);
        }
    }

    /// Duplicates of the descriptors the driver must hear about, with the interest
    /// the Linux backend registers (for the level-triggered backends). A connection
    /// whose bytes the pump would leave in the kernel (the inbox is full) is left out of
    /// the reads: level-triggered, it would wake the driver again at once.
    pub fn watch_list(&self) -> Vec<(rustix::fd::OwnedFd, Interest)> {
        let read_ok = self.inbox.len() < self.opts.recv_hwm;
        let accepting = self.accepting(self.now_ms());
        let l = self
            .listeners
            .iter()
            .map(|(l, _)| (l.as_fd(), (accepting, false)));
        let c = self.conns.iter().flatten().map(|c| {
            let (read, write) = c.registered;
            (c.stream.as_fd(), (read && (read_ok || !c.ready), write))
        });
        l.chain(c)
            .filter(|(_, (r, w))| *r || *w)
            .filter_map(|(fd, i)| Some((fd.try_clone_to_owned().ok()?, i)))
            .collect()
    }

    /// What the driver must hear about a connection: reads while the handshake runs
    /// (and always for publishers, whose peers send subscriptions), writability only
    /// while the kernel refused bytes. Nothing else, so a busy connection never wakes
    /// the driver (a write-space event per message would).
    fn wanted_interest(&self, c: &Conn) -> (bool, bool) {
        let publisher = matches!(self.kind, SocketType::Pub | SocketType::XPub);
        (!c.ready || publisher, c.blocked)
    }

    /// Re-registers connection `id` with the driver if its interest changed.
    fn sync_interest(&mut self, id: usize) {
        self.visit();
        let Some(c) = self.conns.get(id).and_then(Option::as_ref) else {
            return;
        };
        let want = self.wanted_interest(c);
        if want != c.registered {
            self.register(c.stream.as_fd(), want, true);
            if let Some(c) = self.conns[id].as_mut() {
                c.registered = want;
            }
        }
    }

    /// [`sync_interest`](Self::sync_interest) for every connection that may need it
    /// (those on [`unsettled`](Self::unsettled)).
    fn sync_all(&mut self) {
        for k in 0..self.unsettled.len() {
            self.sync_interest(self.unsettled[k]);
        }
    }

    /// Puts connection `id` on the list the bookkeeping walks look at: call it whenever
    /// its state may change (bytes queued, read, written, marked dead).
    pub fn touch(&mut self, id: usize) {
        if self.listed.len() <= id {
            self.listed.resize(id + 1, false);
        }
        if !self.listed[id] {
            self.listed[id] = true;
            self.unsettled.push(id);
        }
    }

    /// [`touch`](Self::touch) for every connection.
    fn touch_all(&mut self) {
        for id in 0..self.conns.len() {
            if self.conns[id].is_some() {
                self.touch(id);
            }
        }
    }

    /// The earliest time (ms) connection `c`'s timers need a look: its handshake
    /// timeout while the handshake runs, its heartbeat.
    fn conn_deadline(c: &Conn, handshake_ms: u64) -> Option<u64> {
        let hs = (!c.ready).then(|| c.created_ms + handshake_ms);
        match (hs, c.heartbeat_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Counts one connection looked at by a bookkeeping walk (tests only).
    #[inline]
    fn visit(&self) {
        #[cfg(test)]
        self.visited.set(self.visited.get() + 1);
    }

    /// Closes every listener and connection (the socket is being dropped).
    pub fn shutdown(&mut self) {
        self.conns.clear();
        self.slots.clear();
        self.unsettled.clear();
        self.listed.clear();
        self.listeners.clear();
        self.connectors.clear();
    }

    pub fn policy(&self) -> HwmPolicy {
        self.opts.hwm_policy.unwrap_or(match self.kind {
            SocketType::Pub | SocketType::XPub => HwmPolicy::DropAndCount,
            _ => HwmPolicy::Block,
        })
    }

    /// Whether listeners are watched at `now` (accepting is not paused for lack of
    /// descriptors).
    fn accepting(&self, now: u64) -> bool {
        self.accept_paused.is_none_or(|at| now >= at)
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// `at` in milliseconds since the engine started (what timers count in).
    fn ms_at(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_millis() as u64
    }

    pub fn monitor(&mut self) -> mpsc::Receiver<SocketEvent> {
        let (tx, rx) = mpsc::channel();
        for (_, ep) in &self.listeners {
            let _ = tx.send(SocketEvent::Listening(ep.clone()));
        }
        self.monitors.push(tx);
        rx
    }

    fn event(&mut self, e: SocketEvent) {
        // Receivers that were dropped stop receiving (and are forgotten).
        self.monitors.retain(|tx| tx.send(e.clone()).is_ok());
    }

    pub fn bind(&mut self, ep: &str) -> Result<Endpoint> {
        let ep: Endpoint = ep.parse()?;
        let (l, bound) = Listener::bind(&ep, &self.meta())?;
        self.event(SocketEvent::Listening(bound.clone()));
        self.register(l.as_fd(), (true, false), false);
        self.listeners.push((l, bound.clone()));
        Ok(bound)
    }

    /// The first bound endpoint, else the first connected one, as a string.
    pub fn first_endpoint(&self) -> String {
        self.listeners
            .first()
            .map(|(_, e)| e)
            .or(self.connectors.first().map(|c| &c.endpoint))
            .map_or_else(String::new, ToString::to_string)
    }

    /// Bound endpoints, with port 0 resolved.
    pub fn bound(&self) -> Vec<Endpoint> {
        self.listeners.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Adds an endpoint to connect to; a peer that is not up yet is retried with back-off.
    pub fn connect(&mut self, ep: &str) -> Result<()> {
        let endpoint: Endpoint = ep.parse()?;
        super::transport::check_endpoint(&endpoint)?;
        let backoff = Backoff::new(
            self.opts.reconnect_interval.as_millis() as u64,
            self.opts.reconnect_interval_max.as_millis() as u64,
        );
        self.connectors.push(Connector {
            endpoint,
            backoff,
            conn: None,
        });
        let i = self.connectors.len() - 1;
        self.try_connect(i, self.now_ms());
        Ok(())
    }

    /// What an `inproc://` peer is told of this socket when a pipe is made.
    fn meta(&self) -> pipe::Meta {
        pipe::Meta {
            kind: self.kind,
            identity: self.opts.identity.clone(),
        }
    }

    /// Completes an `inproc://` connection's handshake at once (see
    /// [`Conn::pipe_handshake`]); nothing for a ZMTP connection, whose READY is read.
    fn pipe_handshake(&mut self, id: usize, now: u64) {
        let kind = self.kind;
        let Some(c) = self.conns[id].as_mut() else {
            return;
        };
        match c.pipe_handshake(kind) {
            Ok(true) => self.on_ready(id, now),
            Ok(false) => {}
            Err(reason) => {
                c.dead = Some(reason);
                self.touch(id);
            }
        }
    }

    /// Asks every `inproc://` peer to wake this socket when it takes messages (a send
    /// that will wait found the byte budget spent: the pump then hears of room as it hears
    /// of a socket's writability; a full peer is asked alone, by `Conn::want_room`).
    fn want_room(&self) {
        for c in self.conns.iter().flatten() {
            c.want_room();
        }
    }

    fn heartbeat(&self, now: u64) -> Heartbeat {
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis() as u64);
        let timeout = match self.opts.heartbeat_interval {
            Some(ivl) => ms(self.opts.heartbeat_timeout.or(Some(ivl * 3))),
            None => 0,
        };
        let timeout = match (timeout, ms(self.opts.idle_timeout)) {
            (0, idle) => idle,
            (t, 0) => t,
            (t, idle) => t.min(idle),
        };
        Heartbeat::new(ms(self.opts.heartbeat_interval), timeout, now)
    }

    fn add_conn(
        &mut self,
        stream: Stream,
        addrs: (Endpoint, Option<Endpoint>),
        origin: Origin,
        now: u64,
    ) -> usize {
        self.next_uid += 1;
        let conn = Conn::new(
            self.next_uid,
            stream,
            addrs,
            origin,
            self.kind,
            &self.opts.identity,
            self.opts.limits,
            self.heartbeat(now),
            now,
        );
        let slot = match self.conns.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        self.register(conn.stream.as_fd(), conn.registered, false);
        self.slots.insert(conn.uid, slot);
        self.conns[slot] = Some(conn);
        self.touch(slot);
        if let Some(c) = self.conns[slot].as_mut() {
            c.flush();
        }
        self.sync_interest(slot);
        slot
    }

    fn try_connect(&mut self, i: usize, now: u64) {
        let ep = self.connectors[i].endpoint.clone();
        match Stream::connect(&ep, self.opts.connect_timeout, &self.meta()) {
            Ok(stream) => {
                let addrs = (ep.clone(), Some(ep.clone()));
                let id = self.add_conn(stream, addrs, Origin::Connected(i), now);
                self.connectors[i].conn = Some(id);
                log::debug!("{:?} connected to {ep}", self.kind);
                self.event(SocketEvent::Connected(ep));
                self.pipe_handshake(id, now);
            }
            Err(e) => {
                log::debug!("{:?} could not connect to {ep}: {e}; will retry", self.kind);
                self.schedule_retry(i, now);
            }
        }
    }

    fn schedule_retry(&mut self, i: usize, now: u64) {
        let at = self.connectors[i].backoff.on_failure(now);
        self.connectors[i].conn = None;
        self.event(SocketEvent::Retried {
            endpoint: self.connectors[i].endpoint.clone(),
            delay: Duration::from_millis(at - now),
        });
    }

    pub fn active_conns(&self) -> usize {
        self.conns.iter().flatten().count()
    }

    /// Whether any connection has completed its handshake.
    pub fn has_ready(&self) -> bool {
        self.conns
            .iter()
            .flatten()
            .any(|c| c.ready && c.dead.is_none())
    }

    /// Picks the next connection round-robin: a ready one below the HWM if any, else a
    /// ready one at the HWM, else one still handshaking (messages queue behind its
    /// greeting, as libzmq queues on a pipe before the peer answers).
    pub fn pick(&mut self) -> Option<usize> {
        let n = self.conns.len();
        let (mut full, mut pending) = (None, None);
        for k in 0..n {
            let i = (self.rr + k) % n;
            let Some(c) = &self.conns[i] else { continue };
            if c.dead.is_some() {
                continue;
            }
            if !c.ready {
                pending.get_or_insert(i);
            } else if self.opts.send_hwm == 0 || c.queued() < self.opts.send_hwm {
                self.rr = i + 1;
                return Some(i);
            } else {
                full.get_or_insert(i);
            }
        }
        let i = full.or(pending)?;
        self.rr = i + 1;
        Some(i)
    }

    /// Clears the driver's waker (the driver has flushed).
    pub fn drain_waker(&self) {
        if let Some(r) = &self.readiness {
            r.drain();
        }
    }

    /// Leaves queued bytes for the driver to write in one go shortly.
    fn cork(&mut self) {
        if !self.corked {
            self.corked = true;
            if let Some(r) = &self.readiness {
                r.wake();
            }
        }
    }

    /// Queues a message on one connection and writes it unless batching.
    /// A message sent within [`CORK_WINDOW`] of the previous one (a burst) is corked.
    /// Refuses it when the peer's queue holds `send_hwm` messages (0: no limit) or the
    /// socket's queued bytes would pass the budget. The budget is checked only when
    /// this connection cannot take the message at once (the kernel refused bytes, the
    /// handshake is running, or 64 KiB wait): bytes only pile up there, and the usual
    /// send pays nothing for the check.
    /// A queued message's given-up buffers are gone from `frames` (see
    /// [`Conn::queue_message`]); a refused one keeps them.
    pub fn send_to(&mut self, id: usize, prefix: &[&[u8]], frames: &mut Outgoing<'_>) -> Queued {
        let batch = self.opts.batch;
        let hwm = self.opts.send_hwm;
        let waits = self.policy() == HwmPolicy::Block;
        if self.conns.get(id).and_then(Option::as_ref).is_none() {
            return Queued::Full;
        }
        self.touch(id);
        let Some(c) = self.conns.get(id).and_then(Option::as_ref) else {
            return Queued::Full;
        };
        if c.blocked || !c.ready || c.pending_bytes() >= FLUSH_AT {
            let size = prefix.iter().map(|f| f.len()).sum::<usize>() + frames.size();
            if !self.within_budget(size) {
                if let Some(c) = self.conns[id].as_mut() {
                    c.flush();
                }
                if !self.within_budget(size) {
                    if waits {
                        self.want_room();
                    }
                    return Queued::OverBudget;
                }
            }
        }
        let Some(c) = self.conns.get_mut(id).and_then(Option::as_mut) else {
            return Queued::Full;
        };
        if hwm != 0 && c.queued() >= hwm {
            c.flush();
            if c.queued() >= hwm {
                if waits {
                    c.want_room();
                }
                return Queued::Full;
            }
        }
        let was_pending = c.has_pending();
        c.queue_message(prefix, frames);
        // An isolated send goes at once, a burst is corked (an inproc burst also goes
        // once it fills a batch).
        let now = (!was_pending && !self.burst) || c.pipe_batch_full().unwrap_or(false);
        // A blocked connection (the kernel refused bytes) is written when it signals
        // writability (the driver or a pump sees it), not by retrying on every send.
        if !c.blocked && (c.pending_bytes() >= FLUSH_AT || (!batch && now)) {
            c.flush();
            let blocked = c.blocked;
            if blocked != c.registered.1 {
                self.sync_interest(id);
            }
        } else if c.wants_write() {
            self.cork();
        }
        Queued::Yes
    }

    /// Sends to every ready peer subscribed to a prefix of the first frame (PUB, XPUB),
    /// dropping or blocking at each peer's HWM per the policy. `ids` is scratch space.
    /// The last of them takes given-up buffers, the others copy them (a pipe) or
    /// encode them (a byte stream).
    pub fn publish(&mut self, ids: &mut Vec<usize>, mut frames: Outgoing<'_>) -> Result<()> {
        let topic = frames.get(0);
        ids.clear();
        for (i, c) in self.conns.iter().enumerate() {
            if let Some(c) = c
                && c.ready
                && c.dead.is_none()
                && c.subs.as_ref().is_some_and(|s| s.matches(topic))
            {
                ids.push(i);
            }
        }
        if let Some((&last, rest)) = ids.split_last() {
            for &id in rest {
                self.publish_to(id, &mut frames.view())?;
            }
            self.publish_to(last, &mut frames)?;
        }
        Ok(())
    }

    /// [`publish`](Self::publish)'s send to one subscriber.
    fn publish_to(&mut self, id: usize, frames: &mut Outgoing<'_>) -> Result<()> {
        let q = self.send_to(id, &[], frames);
        if q == Queued::Yes {
            return Ok(());
        }
        if self.policy() == HwmPolicy::DropAndCount {
            self.count_drop(q);
            return Ok(());
        }
        let deadline = self.opts.send_timeout.map(|t| Instant::now() + t);
        let size = frames.size();
        self.wait(deadline, |e| e.has_room(id, size))?;
        if self.send_to(id, &[], frames) != Queued::Yes && self.conns[id].is_some() {
            return Err(Error::Timeout);
        }
        Ok(())
    }

    /// Sends to a connection chosen by `pick`, blocking (per the HWM policy) until one
    /// is ready and has room.
    pub fn send_round_robin(
        &mut self,
        prefix: &[&[u8]],
        mut frames: Outgoing<'_>,
    ) -> Result<usize> {
        self.begin_send()?;
        let mut deadline = None;
        loop {
            if let Some(id) = self.pick() {
                // Bytes left in the buffer (kernel back-pressure, a handshake still
                // running, a cork) are written by later calls or by the idle-time
                // driver, never stranded.
                let q = self.send_to(id, prefix, &mut frames);
                if q == Queued::Yes {
                    return Ok(id);
                }
                if self.policy() == HwmPolicy::DropAndCount {
                    self.count_drop(q);
                    return Ok(id);
                }
                // An inproc peer may have made room just before the refusal was noted
                // (see `Conn::want_room`): look again before sleeping.
                let size = prefix.iter().map(|f| f.len()).sum::<usize>() + frames.size();
                if self.has_room(id, size) {
                    continue;
                }
            }
            let now = Instant::now();
            let d = *deadline.get_or_insert_with(|| self.opts.send_timeout.map(|t| now + t));
            if d.is_some_and(|d| now >= d) {
                return Err(Error::Timeout);
            }
            let step = now + Duration::from_millis(50);
            self.pump(Some(d.map_or(step, |d| d.min(step))))?;
        }
    }

    /// A non-blocking pump at most every millisecond, for calls that only send.
    pub fn maybe_pump(&mut self) -> Result<()> {
        let now = Instant::now();
        self.maybe_pump_at(now)
    }

    fn maybe_pump_at(&mut self, now: Instant) -> Result<()> {
        if now.duration_since(self.last_pump) >= PUMP_EVERY {
            self.pump(Some(now))?;
        }
        Ok(())
    }

    /// Starts a user-level send with one clock read: notes bursts (see
    /// [`send_to`](Self::send_to)) and pumps at most every millisecond.
    pub fn begin_send(&mut self) -> Result<()> {
        let now = Instant::now();
        self.burst = now.duration_since(self.last_send) < CORK_WINDOW;
        self.last_send = now;
        self.maybe_pump_at(now)
    }

    /// The descriptors a poller waits on (readable) before calling `pump`.
    pub fn fds(&self) -> Result<Vec<rustix::fd::OwnedFd>> {
        let l = self.listeners.iter().map(|(l, _)| l.as_fd());
        let all = l.chain(self.conns.iter().flatten().map(|c| c.stream.as_fd()));
        Ok(all
            .map(|fd| fd.try_clone_to_owned())
            .collect::<std::io::Result<_>>()?)
    }

    /// Writes every pending buffer as far as the kernel takes it.
    pub fn flush_all(&mut self) {
        self.corked = false;
        self.flush_each();
        self.sync_all();
    }

    /// Writes every pending buffer and waits until the kernel has taken all of it,
    /// pumping (accepts, reads, handshakes) meanwhile. Bytes held behind a running
    /// handshake count: they wait for the handshake (bounded by the handshake timeout).
    /// Gives [`Error::Timeout`] when the send timeout passes first; a connection that
    /// dies meanwhile no longer counts (its bytes are lost, as its peer is).
    pub fn flush_blocking(&mut self) -> Result<()> {
        let deadline = self.opts.send_timeout.map(|t| Instant::now() + t);
        let pending = |e: &Engine| {
            e.conns
                .iter()
                .flatten()
                .any(|c| c.has_pending() && c.dead.is_none())
        };
        if self.wait(deadline, |e| !pending(e))? {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// Flushes the connections with bytes to write (only those on
    /// [`unsettled`](Self::unsettled) can have any).
    fn flush_each(&mut self) {
        for &id in &self.unsettled {
            self.visit();
            if let Some(c) = self.conns[id].as_mut()
                && c.has_pending()
            {
                c.flush();
            }
        }
    }

    /// The slot of the live connection with this uid.
    pub fn slot_of(&self, uid: u64) -> Option<usize> {
        self.visit();
        let &slot = self.slots.get(&uid)?;
        let live = |c: &Conn| c.uid == uid && c.dead.is_none();
        self.conns
            .get(slot)?
            .as_ref()
            .filter(|c| live(c))
            .map(|_| slot)
    }

    fn on_incoming(&mut self, id: usize, inc: Incoming, now: u64) {
        match inc {
            Incoming::Ready => self.on_ready(id, now),
            Incoming::Subscribe(p) => self.on_subscription(id, true, &p),
            Incoming::Cancel(p) => self.on_subscription(id, false, &p),
        }
    }

    fn on_subscription(&mut self, id: usize, subscribe: bool, prefix: &[u8]) {
        if !matches!(self.kind, SocketType::Pub | SocketType::XPub) {
            return;
        }
        let Some(c) = self.conns[id].as_mut() else {
            return;
        };
        let Some(subs) = c.subs.as_mut() else { return };
        let changed = if subscribe {
            match subs.subscribe(prefix) {
                Ok(new) => new,
                Err(_) => {
                    c.dead = Some("protocol error: too many subscriptions".into());
                    false
                }
            }
        } else {
            subs.cancel(prefix)
        };
        if self.kind == SocketType::XPub && changed {
            let mut m = Vec::with_capacity(prefix.len() + 1);
            m.push(u8::from(subscribe));
            m.extend_from_slice(prefix);
            let uid = c.uid;
            self.inbox.push(uid, &[&m]);
        }
    }

    fn on_ready(&mut self, id: usize, _now: u64) {
        let kind = self.kind;
        let sub_bytes = self.opts.max_subscription_bytes;
        if kind == SocketType::Router {
            let taken = |e: &Engine, rid: &[u8]| {
                e.conns.iter().enumerate().any(|(j, c)| {
                    j != id && c.as_ref().is_some_and(|c| c.ready && c.routing_id == rid)
                })
            };
            let rid = self.conns[id]
                .as_ref()
                .map(|c| c.routing_id.clone())
                .unwrap_or_default();
            if rid.is_empty() || taken(self, &rid) {
                self.next_id = self.next_id.wrapping_add(1);
                let mut generated = vec![0u8];
                generated.extend_from_slice(&self.next_id.to_be_bytes());
                if let Some(c) = self.conns[id].as_mut() {
                    c.routing_id = generated;
                }
            }
        }
        let own: Vec<Vec<u8>> = self
            .own_subs
            .as_ref()
            .map(|s| s.iter().map(<[u8]>::to_vec).collect())
            .unwrap_or_default();
        let Some(c) = self.conns[id].as_mut() else {
            return;
        };
        if matches!(kind, SocketType::Pub | SocketType::XPub) {
            c.subs = Some(Subscriptions::new(vec![0u8; sub_bytes].into_boxed_slice()));
        }
        for p in &own {
            c.queue_subscription(true, p);
        }
        c.flush();
        if let Origin::Connected(k) = c.origin {
            self.connectors[k].backoff.on_success();
        }
        let (endpoint, peer, routing_id) =
            (c.endpoint.clone(), c.peer.clone(), c.routing_id.clone());
        log::info!(
            "{:?} on {endpoint}: handshake with {} done",
            kind,
            Peer(peer.as_ref())
        );
        self.sync_interest(id);
        self.event(SocketEvent::HandshakeSucceeded {
            endpoint,
            peer,
            routing_id,
        });
    }

    /// Sends a subscription change to every ready publisher connection.
    pub fn broadcast_subscription(&mut self, subscribe: bool, prefix: &[u8]) {
        for id in 0..self.conns.len() {
            if let Some(c) = self.conns[id].as_mut()
                && c.ready
            {
                c.queue_subscription(subscribe, prefix);
                c.flush();
                self.touch(id);
            }
        }
    }

    /// Writes what is queued for at most `linger` (used on drop).
    pub fn linger(&mut self) {
        let deadline = Instant::now() + self.opts.linger;
        self.flush_all();
        while self
            .conns
            .iter()
            .flatten()
            .any(|c| c.has_pending() && c.dead.is_none())
            && Instant::now() < deadline
        {
            if self.pump(Some(deadline)).is_err() {
                break;
            }
        }
    }
}

/// The filter a subscriber's reads apply to arriving messages: its own subscriptions
/// (an XSUB keeps everything, as libzmq does).
fn sub_filter(
    kind: SocketType,
    own: &Option<Subscriptions<Box<[u8]>>>,
) -> Option<&Subscriptions<Box<[u8]>>> {
    if kind == SocketType::Sub {
        own.as_ref()
    } else {
        None
    }
}

/// A peer's address in log records (`an unnamed peer` where it has none).
pub(super) struct Peer<'a>(pub Option<&'a Endpoint>);

impl std::fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ep) => ep.fmt(f),
            None => f.write_str("an unnamed peer"),
        }
    }
}

/// A seed for generated routing ids (not security relevant).
fn rand_seed() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ std::process::id().rotate_left(16)
}
