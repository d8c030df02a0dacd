//! The application server's tables and decisions, sans-IO: the std layer says "these frames
//! arrived from connection X", "a connection opened / closed / missed its heartbeats", and
//! carries out the [`Decision`] it gets back (send an ERROR, a WELCOME, run a channel's
//! handler and answer, deliver a publish to the channel's subscribers).
//!
//! Every table is storage the caller provides (a fixed array on firmware, a `Vec` sized once
//! on a host; the registry never grows it):
//!
//! - **connections** ([`ConnSlot`]): a connection number (1, 2, …, never reused while the
//!   number does not wrap), when it opened (the caller's clock), its subscriptions;
//! - **names** ([`NameSlot`]): applications and channels together, an open-addressed hash
//!   table keyed by (application, name); names are 1 to [`MAX_NAME`] bytes and are never
//!   removed; a channel records which handlers it has ([`MessageType`]);
//! - **subscriptions** ([`SubSlot`]): one entry per (connection, channel), linked both into
//!   the channel's subscriber list (in subscription order: the delivery order) and into the
//!   connection's list, so a publish, a subscribe and a disconnect never scan the table.
//!
//! A table that is full refuses, never panics: a connection beyond the connection table has
//! every message answered ERROR [`ErrorCode::Full`]; a subscription beyond
//! [`Limits::max_subscriptions`] or beyond the subscription table is ERROR `Full`; an
//! application or channel beyond the name table is [`NameError::Full`].
//!
//! ```
//! use ringwire_core::apps::server::{ConnSlot, Decision, Limits, NameSlot, Registry, SubSlot};
//! use ringwire_core::apps::{header, kind, MessageType};
//!
//! let mut reg = Registry::new(
//!     [ConnSlot::EMPTY; 4],
//!     [NameSlot::EMPTY; 8],
//!     [SubSlot::EMPTY; 8],
//!     Limits::default(),
//!     7, // this server's instance number (in every WELCOME)
//! );
//! let app = reg.add_application("chat").unwrap();
//! let room = reg.add_channel(app, "room").unwrap();
//! let (a, b) = (reg.connect(0).unwrap(), reg.connect(0).unwrap());
//! let sub = header(kind::SUBSCRIBE, 0, 0, 1);
//! let frames: [&[u8]; 4] = [&sub, b"chat", b"room", b""];
//! let d = reg.on_message(a, &frames);
//! assert!(matches!(d, Decision::Accept(m) if m.kind == MessageType::Subscribe));
//! let publish = header(kind::PUBLISH, 0, 0, 2);
//! let frames: [&[u8]; 4] = [&publish, b"chat", b"room", b"hi"];
//! let Decision::Accept(m) = reg.on_message(b, &frames) else { panic!() };
//! assert_eq!((m.kind, m.channel), (MessageType::Publish, room));
//! // The driver runs the channel's publish handler, if any, then delivers and acks.
//! assert_eq!(reg.deliver(room).collect::<Vec<_>>(), [a]);
//! // No request handler on the channel: refused.
//! let req = header(kind::REQUEST, 0, 0, 3);
//! let frames: [&[u8]; 4] = [&req, b"chat", b"room", b""];
//! let Decision::Refuse { id: 3, refusal } = reg.on_message(b, &frames) else { panic!() };
//! assert_eq!(refusal.code(), ringwire_core::apps::ErrorCode::NoHandler);
//! assert!(reg.disconnect(a, false));
//! assert_eq!(reg.deliver(room).count(), 0);
//! ```

use core::fmt;

use super::{ClientMsg, ErrorCode, MAX_NAME, session};
use crate::segment::fnv1a64;

mod check;
#[cfg(test)]
mod tests;
mod types;

pub use types::{
    Accepted, AppId, AppStats, ChannelId, Conn, ConnSlot, ConnectionView, Decision, Limits,
    MessageType, NameError, NameSlot, Recipients, Refusal, SubSlot, Subscriptions,
};

/// "No entry" in a link.
const NONE: u32 = u32::MAX;

/// The application server's tables and rules over storage the caller provides: `C` the
/// connection table, `N` the name table (applications and channels), `S` the subscription
/// table (`[T; n]` on firmware, `Vec<T>` on a host). Their lengths are the capacities (at
/// most `u32::MAX - 1` entries of each are used).
pub struct Registry<C, N, S> {
    conns: C,
    names: N,
    subs: S,
    limits: Limits,
    instance: u32,
    next_number: u32,
    free_sub: u32,
    conn_count: usize,
    name_count: usize,
    sub_count: usize,
    stats: AppStats,
    changed: bool,
}

impl<C, N, S> fmt::Debug for Registry<C, N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("connections", &self.conn_count)
            .field("names", &self.name_count)
            .field("subscriptions", &self.sub_count)
            .finish()
    }
}

fn cap(len: usize) -> usize {
    len.min(NONE as usize - 1)
}

fn name_hash(parent: u32, name: &str) -> u64 {
    fnv1a64(name.as_bytes()) ^ u64::from(parent).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl<C, N, S> Registry<C, N, S>
where
    C: AsRef<[ConnSlot]> + AsMut<[ConnSlot]>,
    N: AsRef<[NameSlot]> + AsMut<[NameSlot]>,
    S: AsRef<[SubSlot]> + AsMut<[SubSlot]>,
{
    /// A registry over the given tables (whatever they hold is cleared), with `limits`;
    /// `instance` is this server's number in every WELCOME session (a driver picks one
    /// unlikely to be another server's).
    pub fn new(mut conns: C, mut names: N, mut subs: S, limits: Limits, instance: u32) -> Self {
        conns.as_mut().fill(ConnSlot::EMPTY);
        names.as_mut().fill(NameSlot::EMPTY);
        let s = subs.as_mut();
        let n = cap(s.len());
        for (i, slot) in s.iter_mut().enumerate() {
            *slot = SubSlot::EMPTY;
            if i + 1 < n {
                slot.chan_next = (i + 1) as u32;
            }
        }
        Registry {
            conns,
            names,
            subs,
            limits,
            instance,
            next_number: 1,
            free_sub: if n > 0 { 0 } else { NONE },
            conn_count: 0,
            name_count: 0,
            sub_count: 0,
            stats: AppStats::default(),
            changed: true,
        }
    }

    fn c(&self) -> &[ConnSlot] {
        let c = self.conns.as_ref();
        &c[..cap(c.len())]
    }

    fn n(&self) -> &[NameSlot] {
        let n = self.names.as_ref();
        &n[..cap(n.len())]
    }

    fn s(&self) -> &[SubSlot] {
        let s = self.subs.as_ref();
        &s[..cap(s.len())]
    }

    /// The limits.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Capacities of the (connection, name, subscription) tables.
    pub fn capacities(&self) -> (usize, usize, usize) {
        (self.c().len(), self.n().len(), self.s().len())
    }

    /// Counters and table sizes (`dropped` is 0: the driver's to fill in).
    pub fn stats(&self) -> AppStats {
        AppStats {
            connections: self.conn_count,
            subscriptions: self.sub_count,
            ..self.stats
        }
    }

    /// Whether the connection list (connections, their subscriptions) changed since the last
    /// call; a driver republishes its list when it did.
    pub fn take_changed(&mut self) -> bool {
        core::mem::replace(&mut self.changed, false)
    }

    // ---- names ----

    /// The slot of (parent, name): `Ok` where it is, `Err` the free slot where it would go
    /// (`Err(None)`: absent and no room).
    fn find_name(&self, parent: u32, name: &str) -> Result<usize, Option<usize>> {
        let names = self.n();
        if names.is_empty() {
            return Err(None);
        }
        let start = (name_hash(parent, name) % names.len() as u64) as usize;
        for i in 0..names.len() {
            let at = (start + i) % names.len();
            let e = &names[at];
            if e.len == 0 {
                return Err(Some(at));
            }
            if e.parent == parent && e.name() == name {
                return Ok(at);
            }
        }
        Err(None)
    }

    fn add_name(&mut self, parent: u32, name: &str) -> Result<u32, NameError> {
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(NameError::Invalid);
        }
        let capacity = self.n().len();
        match self.find_name(parent, name) {
            Ok(_) => Err(NameError::Exists),
            Err(None) => Err(NameError::Full { capacity }),
            Err(Some(at)) => {
                let e = &mut self.names.as_mut()[at];
                *e = NameSlot::EMPTY;
                e.bytes[..name.len()].copy_from_slice(name.as_bytes());
                e.len = name.len() as u8;
                e.parent = parent;
                self.name_count += 1;
                Ok(at as u32)
            }
        }
    }

    fn is_app(&self, a: AppId) -> bool {
        self.n()
            .get(a.index())
            .is_some_and(|e| e.len != 0 && e.parent == NONE)
    }

    fn is_channel(&self, c: ChannelId) -> bool {
        self.n()
            .get(c.index())
            .is_some_and(|e| e.len != 0 && e.parent != NONE)
    }

    /// Makes an application.
    pub fn add_application(&mut self, name: &str) -> Result<AppId, NameError> {
        self.add_name(NONE, name).map(AppId)
    }

    /// The application called `name`.
    pub fn application(&self, name: &str) -> Option<AppId> {
        self.find_name(NONE, name).ok().map(|i| AppId(i as u32))
    }

    /// Makes a channel of application `app`.
    pub fn add_channel(&mut self, app: AppId, name: &str) -> Result<ChannelId, NameError> {
        if !self.is_app(app) {
            return Err(NameError::UnknownApplication);
        }
        self.add_name(app.0, name).map(ChannelId)
    }

    /// The channel called `name` of application `app`.
    pub fn channel(&self, app: AppId, name: &str) -> Option<ChannelId> {
        if !self.is_app(app) {
            return None;
        }
        self.find_name(app.0, name)
            .ok()
            .map(|i| ChannelId(i as u32))
    }

    /// The name of application `app` ("" for a handle that is not one).
    pub fn app_name(&self, app: AppId) -> &str {
        if self.is_app(app) {
            self.n()[app.index()].name()
        } else {
            ""
        }
    }

    /// The (application, channel) names of `ch` (empty for a handle that is not one).
    pub fn channel_names(&self, ch: ChannelId) -> (&str, &str) {
        if !self.is_channel(ch) {
            return ("", "");
        }
        let e = &self.n()[ch.index()];
        let app = self.n().get(e.parent as usize).map_or("", |a| a.name());
        (app, e.name())
    }

    /// Records that channel `ch` has a handler for `kind` (handlers are never removed).
    /// Requests and notifications to a channel without their handler are refused
    /// [`ErrorCode::NoHandler`]; publishes and subscriptions need none.
    pub fn set_handler(&mut self, ch: ChannelId, kind: MessageType) {
        if self.is_channel(ch) {
            self.names.as_mut()[ch.index()].handlers |= kind.bit();
        }
    }

    /// Whether channel `ch` has a handler for `kind`.
    pub fn has_handler(&self, ch: ChannelId, kind: MessageType) -> bool {
        self.is_channel(ch) && self.n()[ch.index()].handlers & kind.bit() != 0
    }

    // ---- connections ----

    fn live(&self, conn: Conn) -> bool {
        conn.number != 0
            && self
                .c()
                .get(conn.index())
                .is_some_and(|c| c.number == conn.number)
    }

    /// A connection opened at `now` (the driver's clock, any unit). `Err` carries the
    /// connection table's capacity when it is full: answer that connection's messages with
    /// [`refuse_unconnected`](Self::refuse_unconnected) (and try `connect` again later).
    pub fn connect(&mut self, now: u64) -> Result<Conn, usize> {
        let capacity = self.c().len();
        let Some(slot) = self.c().iter().position(|c| c.number == 0) else {
            return Err(capacity);
        };
        let number = self.next_number;
        self.next_number = self.next_number.wrapping_add(1).max(1);
        self.conns.as_mut()[slot] = ConnSlot {
            number,
            since: now,
            subs: 0,
            head: NONE,
        };
        self.conn_count += 1;
        self.changed = true;
        Ok(Conn {
            slot: slot as u32,
            number,
        })
    }

    /// Connection `conn` closed (`expired`: it missed its heartbeats): it is forgotten with
    /// its subscriptions. Returns whether it was connected.
    pub fn disconnect(&mut self, conn: Conn, expired: bool) -> bool {
        if !self.live(conn) {
            return false;
        }
        while self.c()[conn.index()].head != NONE {
            let s = self.c()[conn.index()].head;
            self.unlink(s);
        }
        self.conns.as_mut()[conn.index()] = ConnSlot::EMPTY;
        self.conn_count -= 1;
        self.stats.disconnected += 1;
        if expired {
            self.stats.expired += 1;
        }
        self.changed = true;
        true
    }

    /// Every connection, in table order.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionView> + '_ {
        self.c()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.number != 0)
            .map(|(i, c)| ConnectionView {
                conn: Conn {
                    slot: i as u32,
                    number: c.number,
                },
                since: c.since,
                subscriptions: c.subs as usize,
            })
    }

    /// The channels `conn` is subscribed to.
    pub fn subscriptions_of(&self, conn: Conn) -> Subscriptions<'_> {
        let next = if self.live(conn) {
            self.c()[conn.index()].head
        } else {
            NONE
        };
        Subscriptions {
            subs: self.s(),
            next,
        }
    }

    // ---- subscriptions ----

    fn sub_of(&self, conn: Conn, ch: ChannelId) -> Option<u32> {
        let mut at = self.c()[conn.index()].head;
        while let Some(s) = self.s().get(at as usize) {
            if s.channel == ch.0 {
                return Some(at);
            }
            at = s.conn_next;
        }
        None
    }

    /// Links a new subscription (the caller checked it is absent and that there is room).
    fn link(&mut self, conn: Conn, ch: ChannelId) -> Result<(), Refusal<'static>> {
        let capacity = self.s().len();
        let at = self.free_sub;
        if at == NONE {
            return Err(Refusal::SubscriptionTable { capacity });
        }
        let (ci, chi) = (conn.index(), ch.index());
        let (conn_head, chan_tail) = (self.c()[ci].head, self.n()[chi].tail);
        let subs = self.subs.as_mut();
        self.free_sub = subs[at as usize].chan_next;
        subs[at as usize] = SubSlot {
            conn: conn.slot,
            channel: ch.0,
            chan_prev: chan_tail,
            chan_next: NONE,
            conn_prev: NONE,
            conn_next: conn_head,
        };
        if chan_tail != NONE {
            subs[chan_tail as usize].chan_next = at;
        }
        if conn_head != NONE {
            subs[conn_head as usize].conn_prev = at;
        }
        let c = &mut self.conns.as_mut()[ci];
        c.head = at;
        c.subs += 1;
        let e = &mut self.names.as_mut()[chi];
        if e.head == NONE {
            e.head = at;
        }
        e.tail = at;
        e.subs += 1;
        self.sub_count += 1;
        Ok(())
    }

    /// Unlinks subscription `at` from both lists and frees it.
    fn unlink(&mut self, at: u32) {
        let s = self.s()[at as usize];
        let subs = self.subs.as_mut();
        match s.chan_prev {
            NONE => self.names.as_mut()[s.channel as usize].head = s.chan_next,
            p => subs[p as usize].chan_next = s.chan_next,
        }
        match s.chan_next {
            NONE => self.names.as_mut()[s.channel as usize].tail = s.chan_prev,
            n => subs[n as usize].chan_prev = s.chan_prev,
        }
        match s.conn_prev {
            NONE => self.conns.as_mut()[s.conn as usize].head = s.conn_next,
            p => subs[p as usize].conn_next = s.conn_next,
        }
        if s.conn_next != NONE {
            subs[s.conn_next as usize].conn_prev = s.conn_prev;
        }
        subs[at as usize] = SubSlot {
            chan_next: self.free_sub,
            ..SubSlot::EMPTY
        };
        self.free_sub = at;
        self.names.as_mut()[s.channel as usize].subs -= 1;
        self.conns.as_mut()[s.conn as usize].subs -= 1;
        self.sub_count -= 1;
    }

    /// The subscribers of `ch`, in subscription order (nothing counted).
    pub fn subscribers(&self, ch: ChannelId) -> Recipients<'_> {
        let (next, left) = if self.is_channel(ch) {
            let e = &self.n()[ch.index()];
            (e.head, e.subs as usize)
        } else {
            (NONE, 0)
        };
        Recipients {
            subs: self.s(),
            conns: self.c(),
            next,
            left,
        }
    }

    /// A publish on `ch` (a client's accepted one, or the server's own): the connections to
    /// send it to, counted as delivered. Its `len()` is the count a client's ACK carries.
    pub fn deliver(&mut self, ch: ChannelId) -> Recipients<'_> {
        let r = self.subscribers(ch).len();
        self.stats.delivered += r as u64;
        self.subscribers(ch)
    }

    // ---- messages ----

    fn refuse<'m>(&mut self, id: u32, refusal: Refusal<'m>) -> Decision<'m> {
        self.count_refusal(refusal.code());
        Decision::Refuse { id, refusal }
    }

    fn count_refusal(&mut self, code: ErrorCode) {
        let s = &mut self.stats;
        s.errors += 1;
        match code {
            ErrorCode::Malformed => s.malformed += 1,
            ErrorCode::UnknownApplication => s.unknown_application += 1,
            ErrorCode::UnknownChannel => s.unknown_channel += 1,
            ErrorCode::Oversized => s.oversized += 1,
            ErrorCode::NoHandler => s.no_handler += 1,
            ErrorCode::Handler => s.handler_errors += 1,
            _ => {}
        }
    }

    /// A request handler ran for an [`Accepted`] request: `ok` — it answered (counted in
    /// `responses`); else it refused or panicked (counted as an error of the handler; the
    /// driver answers ERROR [`Refusal::Handler`]).
    pub fn request_done(&mut self, ok: bool) {
        if ok {
            self.stats.responses += 1;
        } else {
            self.count_refusal(ErrorCode::Handler);
        }
    }

    /// Frames from a connection that is not in the table (it was full when the connection
    /// came): refused [`ErrorCode::Full`] (counted).
    pub fn refuse_unconnected<'m, F: AsRef<[u8]>>(&mut self, frames: &'m [F]) -> Decision<'m> {
        let id = frames
            .first()
            .and_then(|f| super::parse_header(f.as_ref()).ok())
            .map_or(0, |h| h.id);
        let capacity = self.c().len();
        self.refuse(id, Refusal::ConnectionTable { capacity })
    }

    /// Frames arrived from `conn`: the checks, in order — the envelope (malformed), HELLO
    /// (welcome), the payload's size, the application, the channel, then by kind: a handler
    /// for requests and notifications, the subscription tables for SUBSCRIBE, the
    /// subscription for UNSUBSCRIBE. Subscriptions change here; counters are kept here.
    pub fn on_message<'m, F: AsRef<[u8]>>(&mut self, conn: Conn, frames: &'m [F]) -> Decision<'m> {
        if !self.live(conn) {
            return self.refuse_unconnected(frames);
        }
        let m = match ClientMsg::parse(frames) {
            Ok(m) => m,
            Err((id, e)) => return self.refuse(id.unwrap_or(0), Refusal::Malformed(e)),
        };
        let id = m.header.id;
        let Some(kind) = MessageType::of_kind(m.header.kind) else {
            // ClientMsg::parse lets through only the client kinds: this is HELLO.
            return Decision::Welcome {
                id,
                session: session(self.instance, conn.number),
            };
        };
        if m.payload.len() > self.limits.max_payload {
            let (len, max) = (m.payload.len(), self.limits.max_payload);
            return self.refuse(id, Refusal::Oversized { len, max });
        }
        let (app, channel) = (m.app, m.channel);
        let Some(a) = self.application(app) else {
            return self.refuse(id, Refusal::UnknownApplication { app });
        };
        let Some(ch) = self.channel(a, channel) else {
            return self.refuse(id, Refusal::UnknownChannel { app, channel });
        };
        match kind {
            MessageType::Request | MessageType::Notification => {
                if !self.has_handler(ch, kind) {
                    return self.refuse(id, Refusal::NoHandler { kind, app, channel });
                }
                if kind == MessageType::Notification {
                    self.stats.notifications += 1;
                }
            }
            MessageType::Publish => self.stats.publishes += 1,
            MessageType::Subscribe => {
                if self.sub_of(conn, ch).is_none() {
                    let max = self.limits.max_subscriptions;
                    if self.c()[conn.index()].subs as usize >= max {
                        return self.refuse(id, Refusal::SubscriptionLimit { max });
                    }
                    if let Err(r) = self.link(conn, ch) {
                        return self.refuse(id, r);
                    }
                }
                self.changed = true;
            }
            MessageType::Unsubscribe => {
                let Some(s) = self.sub_of(conn, ch) else {
                    return self.refuse(id, Refusal::NotSubscribed { app, channel });
                };
                self.unlink(s);
                self.changed = true;
            }
        }
        Decision::Accept(Accepted {
            kind,
            channel: ch,
            connection: conn.number,
            message: m,
        })
    }
}
