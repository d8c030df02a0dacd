//! The engine's pump: one round of reconnects, timers, a `poll` (or a blocking `recv`
//! on the one connection a wait depends on), reads, writes and accepts; and the waits
//! built on it.

use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::fd::AsFd;

use ringwire_platform::readiness::{poll, timespec};

use super::super::conn::{Conn, Origin, Sink};
use super::super::options::SocketEvent;
use super::{Engine, Peer, sub_filter};
use crate::error::{Error, Result};

/// A receive sleeps in a blocking `recv` (see [`Engine::sleeper`]) only when it may
/// wait at least this long: `SO_RCVTIMEO` counts scheduler ticks and may run over by
/// a few ms, so shorter waits stay in `poll`, whose timeout is exact.
const SLEEP_MIN: Duration = Duration::from_millis(50);
/// How much earlier than the deadline a blocking `recv` gives up; `poll` waits the
/// rest exactly.
const SLEEP_MARGIN: Duration = Duration::from_millis(25);
/// The longest a focused receive sleeps in `recv` while other descriptors (listeners,
/// other connections) go unwatched: the idle-time driver's tick.
const SLEEP_CAP: Duration = Duration::from_millis(25);

/// A blocking `recv` a pump may sleep in (see [`Engine::sleeper`]).
struct Sleep {
    /// The connection's slot.
    id: usize,
    /// How long it may sleep (`None`: until bytes come).
    timeout: Option<Duration>,
    /// Whether other descriptors go unwatched meanwhile (then `timeout` is capped and
    /// a sleep that ends empty-handed is followed by a non-blocking `poll` of all).
    others: bool,
}

impl Engine {
    /// Pumps until `done` holds or the deadline passes; returns whether `done` held.
    pub fn wait(
        &mut self,
        deadline: Option<Instant>,
        done: impl Fn(&Engine) -> bool,
    ) -> Result<bool> {
        self.flush_all();
        loop {
            if done(self) {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // One last non-blocking look.
                self.pump(Some(Instant::now()))?;
                return Ok(done(self));
            }
            self.pump(deadline)?;
        }
    }

    /// One round: reconnects, timers, one `poll`, then reads, writes and accepts.
    pub fn pump(&mut self, deadline: Option<Instant>) -> Result<()> {
        let pumped = Instant::now();
        self.last_pump = pumped;
        let now = self.ms_at(pumped);
        let mut wake = self.timers(now);
        if let Some(at) = self.accept_paused {
            if now >= at {
                self.accept_paused = None;
            } else {
                wake = Some(wake.map_or(at, |w| w.min(at)));
            }
        }
        for i in 0..self.connectors.len() {
            if self.connectors[i].conn.is_none() {
                if self.connectors[i].backoff.is_due(now) {
                    self.try_connect(i, now);
                }
                if let Some(at) = self.connectors[i].backoff.next_at() {
                    wake = Some(wake.map_or(at, |w: u64| w.min(at)));
                }
            }
        }
        self.reap();
        let mut until = match wake {
            Some(w) => {
                let at = self.start + Duration::from_millis(w);
                Some(deadline.map_or(at, |d| d.min(at)))
            }
            None => deadline,
        };
        if let Some(sleep) = self.sleeper(until, pumped) {
            let id = sleep.id;
            self.touch(id);
            let mut scratch = std::mem::take(&mut self.scratch);
            let start = self.start;
            let filter = sub_filter(self.kind, &self.own_subs);
            let room = self.opts.recv_hwm.saturating_sub(self.inbox.len());
            let mut sink = Sink {
                out: &mut scratch,
                inbox: &mut self.inbox,
                filter,
                rbuf: &mut self.rbuf,
                room,
            };
            let (now, came) = match self.conns[id].as_mut() {
                Some(c) => c.wait_and_read(sleep.timeout, start, &mut sink),
                None => (now, false),
            };
            for inc in scratch.drain(..) {
                self.on_incoming(id, inc, now);
            }
            self.scratch = scratch;
            if came || !sleep.others {
                self.reap();
                self.sync_all();
                return Ok(());
            }
            // The capped sleep passed with nothing from the focused peer: look at the
            // rest (listeners, other connections) without blocking.
            until = Some(Instant::now());
        }
        let read_ok = self.inbox.len() < self.opts.recv_hwm;
        let mut ready: Vec<(bool, usize, PollFlags)> = Vec::new();
        if let Some(r) = self.wait_ready_set(read_ok, until) {
            ready = r;
        } else {
            let mut fds = Vec::with_capacity(self.listeners.len() + self.conns.len());
            let mut who = Vec::with_capacity(fds.capacity());
            if self.accept_paused.is_none() {
                for (i, (l, _)) in self.listeners.iter().enumerate() {
                    fds.push(PollFd::new(l, PollFlags::IN));
                    who.push((true, i));
                }
            }
            for (i, c) in self.conns.iter().enumerate() {
                let Some(c) = c else { continue };
                let mut f = PollFlags::empty();
                if read_ok || !c.ready {
                    f |= PollFlags::IN;
                }
                if c.wants_write() {
                    f |= PollFlags::OUT;
                }
                fds.push(PollFd::from_borrowed_fd(c.stream.as_fd(), f));
                who.push((false, i));
            }
            let now_i = Instant::now();
            let timeout = until.map(|u| {
                let d = u.saturating_duration_since(now_i);
                timespec(d)
            });
            #[cfg(test)]
            {
                self.poll_fds_max = self.poll_fds_max.max(fds.len());
            }
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return Ok(()),
                Err(e) => return Err(Error::Io(e.into())),
            }
            for (fd, &(is_l, i)) in fds.iter().zip(&who) {
                let r = fd.revents();
                if !r.is_empty() {
                    ready.push((is_l, i, r));
                }
            }
        }
        let now = self.now_ms();
        for (is_listener, i, r) in ready {
            if is_listener {
                self.accept(i, now);
                continue;
            }
            self.touch(i);
            let Some(c) = self.conns[i].as_mut() else {
                continue;
            };
            if r.intersects(PollFlags::OUT) {
                c.flush();
            }
            if r.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
                let mut scratch = std::mem::take(&mut self.scratch);
                let room = self.opts.recv_hwm.saturating_sub(self.inbox.len());
                let mut sink = Sink {
                    out: &mut scratch,
                    inbox: &mut self.inbox,
                    filter: sub_filter(self.kind, &self.own_subs),
                    rbuf: &mut self.rbuf,
                    room,
                };
                c.read(now, &mut sink);
                for inc in scratch.drain(..) {
                    self.on_incoming(i, inc, now);
                }
                self.scratch = scratch;
            }
        }
        self.reap();
        self.sync_all();
        Ok(())
    }

    /// The connection this pump may wait on in a blocking `recv` instead of `poll`
    /// (which wakes later, see `transport.rs`), with the longest it may sleep there.
    ///
    /// Only when that loses nothing: the connection is established with nothing to
    /// write and the inbox has room, and it is the only descriptor (no listener, no
    /// other connection) — or the wait is [`focus`](Self::focus)ed on it, and then
    /// the others are looked at least every [`SLEEP_CAP`] (and none of them may be
    /// handshaking or have bytes to write). The sleep ends
    /// [`SLEEP_MARGIN`] before `until` (the deadline or the next timer); a wait
    /// shorter than [`SLEEP_MIN`] uses `poll`.
    fn sleeper(&self, until: Option<Instant>, now: Instant) -> Option<Sleep> {
        if self.inbox.len() >= self.opts.recv_hwm {
            return None;
        }
        let mut live = self
            .conns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (i, c)));
        let (id, c, others) = match self.focus {
            Some(uid) => {
                // Others still handshaking or writing need prompt service: `poll`.
                let busy = |o: &Conn| o.uid != uid && (!o.ready || o.wants_write());
                if self.conns.iter().flatten().any(busy) {
                    return None;
                }
                let others = !self.listeners.is_empty() || self.active_conns() > 1;
                let (id, c) = live.find(|(_, c)| c.uid == uid)?;
                (id, c, others)
            }
            None => {
                let (id, c) = live.next()?;
                if live.next().is_some() || !self.listeners.is_empty() {
                    return None;
                }
                (id, c, false)
            }
        };
        if !c.ready || c.dead.is_some() || c.wants_write() {
            return None;
        }
        let timeout = match until {
            None => None,
            Some(u) => {
                let left = u.saturating_duration_since(now);
                if left < SLEEP_MIN {
                    return None;
                }
                Some(left - SLEEP_MARGIN)
            }
        };
        let timeout = if others {
            Some(timeout.map_or(SLEEP_CAP, |t| t.min(SLEEP_CAP)))
        } else {
            timeout
        };
        Some(Sleep {
            id,
            timeout,
            others,
        })
    }

    fn accept(&mut self, li: usize, now: u64) {
        if self.accept_paused.is_some() {
            return;
        }
        loop {
            let (stream, peer) = match self.listeners[li].0.accept() {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) if out_of_descriptors(&e) => {
                    self.pause_accepting(li, &e, now);
                    return;
                }
                Err(e) => {
                    // A connection reset before it was accepted, and the like: it is
                    // consumed, so the next round does not spin on it.
                    log::debug!("accept on {} failed: {e}", self.listeners[li].1);
                    return;
                }
            };
            if self.accept_pause > 0 {
                log::info!(
                    "accepting on {} again: descriptors are available",
                    self.listeners[li].1
                );
                self.accept_pause = 0;
            }
            self.stats.accepted += 1;
            let endpoint = self.listeners[li].1.clone();
            if self.active_conns() >= self.opts.max_connections {
                self.stats.rejected_connections += 1;
                log::debug!(
                    "{endpoint}: closed a connection from {} at once: {} connections are open",
                    Peer(peer.as_ref()),
                    self.opts.max_connections
                );
                self.event(SocketEvent::Rejected { endpoint, peer });
                drop(stream);
                continue;
            }
            log::debug!("{endpoint}: accepted {}", Peer(peer.as_ref()));
            let addrs = (endpoint.clone(), peer.clone());
            let id = self.add_conn(stream, addrs, Origin::Accepted, now);
            self.event(SocketEvent::Accepted { endpoint, peer });
            self.pipe_handshake(id, now);
        }
    }

    /// `accept` ran out of descriptors: a pending connection stays pending, so watching
    /// the listener would wake at once, again and again. Stop watching the listeners
    /// until a connection of this socket closes or the pause (doubling from
    /// [`ACCEPT_PAUSE_MIN`](super::ACCEPT_PAUSE_MIN) ms up to
    /// [`ACCEPT_PAUSE_MAX`](super::ACCEPT_PAUSE_MAX)) passes; warn once per episode.
    fn pause_accepting(&mut self, li: usize, e: &std::io::Error, now: u64) {
        if self.accept_pause == 0 {
            log::warn!(
                "cannot accept on {}: {e}; pausing accepts until a descriptor is free \
                 (lower max_connections or raise the descriptor limit)",
                self.listeners[li].1
            );
            self.accept_pause = super::ACCEPT_PAUSE_MIN;
        } else {
            self.accept_pause = (self.accept_pause * 2).min(super::ACCEPT_PAUSE_MAX);
        }
        self.stats.accept_paused += 1;
        self.accept_paused = Some(now + self.accept_pause);
    }

    /// Heartbeats and handshake timeouts; returns the earliest time they need a look
    /// (maybe earlier). Looks at the connections on [`unsettled`](Engine::unsettled)
    /// until [`timer_floor`](Engine::timer_floor) passes, then at every one.
    fn timers(&mut self, now: u64) -> Option<u64> {
        let hs = self.opts.handshake_timeout.as_millis() as u64;
        let all = now >= self.timer_floor;
        let mut wake: Option<u64> = None;
        let mut min = |t: u64| wake = Some(wake.map_or(t, |w| w.min(t)));
        let n = if all {
            self.conns.len()
        } else {
            self.unsettled.len()
        };
        for k in 0..n {
            let id = if all { k } else { self.unsettled[k] };
            self.visit();
            let Some(c) = self.conns[id].as_mut() else {
                continue;
            };
            if !c.ready {
                if now.saturating_sub(c.created_ms) >= hs {
                    self.stats.handshake_timeouts += 1;
                    c.dead.get_or_insert_with(|| "handshake timed out".into());
                } else {
                    min(c.created_ms + hs);
                }
            }
            if c.heartbeat_timed_out(now) && c.dead.is_none() {
                self.stats.idle_timeouts += 1;
                log::warn!(
                    "{}: {} was silent too long (heartbeat or idle timeout): closing",
                    c.endpoint,
                    Peer(c.peer.as_ref())
                );
                c.dead = Some("peer silent too long".into());
            }
            if let Some(t) = c.heartbeat_deadline() {
                min(t);
            }
            if all && (c.dead.is_some() || c.has_pending()) {
                self.touch(id);
            }
        }
        if all {
            self.timer_floor = wake.unwrap_or(u64::MAX);
        } else if self.timer_floor != u64::MAX {
            min(self.timer_floor);
        }
        wake
    }

    /// Closes dead connections, reports them and schedules reconnects.
    fn reap(&mut self) {
        let mut now = None;
        for k in 0..self.unsettled.len() {
            let i = self.unsettled[k];
            self.visit();
            let Some(reason) = self.conns[i].as_ref().and_then(|c| c.dead.clone()) else {
                continue;
            };
            let now = *now.get_or_insert_with(|| self.now_ms());
            let Some(c) = self.conns[i].take() else {
                continue;
            };
            self.forget_ready(&c);
            self.slots.remove(&c.uid);
            // A descriptor is free again: accepting may resume.
            self.accept_paused = None;
            self.stats.disconnected += 1;
            if reason.starts_with("protocol error") || reason.starts_with("incompatible") {
                self.stats.protocol_errors += 1;
            }
            if let Some(size) = c.too_large {
                let limits = self.opts.limits;
                let limit = if size > limits.max_frame {
                    limits.max_frame
                } else {
                    limits.max_message
                };
                self.stats.too_large += 1;
                log::warn!(
                    "{}: {} sent a message of {size} bytes, over the limit of {limit}: \
                     message lost, connection closed",
                    c.endpoint,
                    Peer(c.peer.as_ref())
                );
                self.event(SocketEvent::MessageTooLarge {
                    endpoint: c.endpoint.clone(),
                    peer: c.peer.clone(),
                    size,
                    limit,
                });
            }
            let (endpoint, peer) = (c.endpoint.clone(), c.peer.clone());
            if c.ready {
                log::info!(
                    "{endpoint}: disconnected from {}: {reason}",
                    Peer(peer.as_ref())
                );
                self.event(SocketEvent::Disconnected {
                    endpoint,
                    peer,
                    routing_id: c.routing_id.clone(),
                    reason,
                });
            } else {
                // A peer that just went away (a port scan, an abandoned connect) is
                // ordinary; a broken or timed-out handshake is worth a warning.
                let level = if reason == "peer closed the connection" {
                    log::Level::Info
                } else {
                    log::Level::Warn
                };
                log::log!(
                    level,
                    "{endpoint}: handshake with {} failed: {reason}",
                    Peer(peer.as_ref())
                );
                self.event(SocketEvent::HandshakeFailed {
                    endpoint,
                    peer,
                    reason,
                });
            }
            if !c.ready {
                self.inbox.retain(|uid, _| uid != c.uid);
            }
            if let Origin::Connected(k) = c.origin {
                self.schedule_retry(k, now);
            }
        }
    }
}

/// Whether a failed `accept` ran out of descriptors or kernel memory (the pending
/// connection stays queued): EMFILE, ENFILE, ENOBUFS, ENOMEM.
fn out_of_descriptors(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    e.raw_os_error().is_some_and(|n| {
        let n = Errno::from_raw_os_error(n);
        #[cfg(not(windows))]
        if n == Errno::NFILE || n == Errno::NOMEM {
            return true;
        }
        n == Errno::MFILE || n == Errno::NOBUFS
    })
}
