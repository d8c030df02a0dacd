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

use super::{ClientMsg, ErrorCode, MAX_NAME, WireError, kind, session};
use crate::segment::fnv1a64;

#[cfg(test)]
mod tests;

/// "No entry" in a link.
const NONE: u32 = u32::MAX;

/// The message types of the seed: what a channel handler is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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

impl MessageType {
    const fn bit(self) -> u8 {
        match self {
            MessageType::Request => 1,
            MessageType::Publish => 2,
            MessageType::Subscribe | MessageType::Unsubscribe => 4,
            MessageType::Notification => 8,
        }
    }

    const fn of_kind(k: u8) -> Option<MessageType> {
        match k {
            kind::REQUEST => Some(MessageType::Request),
            kind::PUBLISH => Some(MessageType::Publish),
            kind::SUBSCRIBE => Some(MessageType::Subscribe),
            kind::UNSUBSCRIBE => Some(MessageType::Unsubscribe),
            kind::NOTIFY => Some(MessageType::Notification),
            _ => None,
        }
    }
}

/// What the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest payload accepted; a larger one is refused [`ErrorCode::Oversized`].
    pub max_payload: usize,
    /// Subscriptions one connection may hold; one more is refused [`ErrorCode::Full`].
    pub max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload: 1 << 20,
            max_subscriptions: 1024,
        }
    }
}

impl Limits {
    /// Limits of `max_payload` bytes and `max_subscriptions` per connection.
    pub const fn new(max_payload: usize, max_subscriptions: usize) -> Self {
        Limits {
            max_payload,
            max_subscriptions,
        }
    }
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
    /// Messages the transport dropped for clients that do not read (their queue was full).
    /// The registry never drops anything; its driver fills this in.
    pub dropped: u64,
    /// Connections closed (left, died, or missed heartbeats).
    pub disconnected: u64,
    /// Of those: closed because they missed heartbeats.
    pub expired: u64,
}

/// A connection: its slot in the connection table and its number (a slot is reused by a
/// later connection, the number is not, so an old handle is recognised as gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Conn {
    slot: u32,
    number: u32,
}

impl Conn {
    /// Its slot, below the connection table's length: a driver keeps its per-connection
    /// transport data (routing id, peer address) in a table of the same length.
    pub const fn index(self) -> usize {
        self.slot as usize
    }

    /// Its number (1, 2, …): what the WELCOME session and the handlers show.
    pub const fn number(self) -> u32 {
        self.number
    }
}

/// An application: its slot in the name table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AppId(u32);

/// A channel: its slot in the name table (channels are never removed, so a driver may key
/// its handlers by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId(u32);

impl AppId {
    /// Its slot in the name table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl ChannelId {
    /// Its slot in the name table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// An entry of the connection table (storage for [`Registry`]).
#[derive(Debug, Clone, Copy)]
pub struct ConnSlot {
    /// 0: free.
    number: u32,
    since: u64,
    subs: u32,
    /// First subscription of the connection.
    head: u32,
}

impl ConnSlot {
    /// A free entry.
    pub const EMPTY: ConnSlot = ConnSlot {
        number: 0,
        since: 0,
        subs: 0,
        head: NONE,
    };
}

/// An entry of the name table (storage for [`Registry`]).
#[derive(Clone, Copy)]
pub struct NameSlot {
    /// 0: free.
    len: u8,
    bytes: [u8; MAX_NAME],
    /// The application of a channel; [`NONE`] for an application.
    parent: u32,
    /// [`MessageType::bit`]s of the handlers a channel has.
    handlers: u8,
    subs: u32,
    head: u32,
    tail: u32,
}

impl fmt::Debug for NameSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameSlot({:?}, parent {})", self.name(), self.parent)
    }
}

impl NameSlot {
    /// A free entry.
    pub const EMPTY: NameSlot = NameSlot {
        len: 0,
        bytes: [0; MAX_NAME],
        parent: NONE,
        handlers: 0,
        subs: 0,
        head: NONE,
        tail: NONE,
    };

    fn name(&self) -> &str {
        // Only whole `&str`s of at most MAX_NAME bytes are ever copied in.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// An entry of the subscription table (storage for [`Registry`]).
#[derive(Debug, Clone, Copy)]
pub struct SubSlot {
    /// Connection slot; [`NONE`]: free (then `chan_next` links the free list).
    conn: u32,
    channel: u32,
    chan_prev: u32,
    chan_next: u32,
    conn_prev: u32,
    conn_next: u32,
}

impl SubSlot {
    /// A free entry.
    pub const EMPTY: SubSlot = SubSlot {
        conn: NONE,
        channel: NONE,
        chan_prev: NONE,
        chan_next: NONE,
        conn_prev: NONE,
        conn_next: NONE,
    };
}

/// Why an application or channel could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty or longer than [`MAX_NAME`] bytes.
    Invalid,
    /// One of that name exists (in that application, for a channel).
    Exists,
    /// The name table is full (its length is the capacity).
    Full {
        /// Applications and channels the table holds.
        capacity: usize,
    },
    /// The application handle is not an application of this registry.
    UnknownApplication,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Invalid => write!(f, "names are 1 to {MAX_NAME} bytes"),
            NameError::Exists => f.write_str("the name exists"),
            NameError::Full { capacity } => write!(
                f,
                "the server's name table is full ({capacity} applications and channels)"
            ),
            NameError::UnknownApplication => f.write_str("no such application"),
        }
    }
}

/// Why a message is refused: the ERROR reply's code ([`Refusal::code`]) and sentence (its
/// `Display`, "the code's message: the particulars").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal<'m> {
    /// Not in the envelope form.
    Malformed(WireError),
    /// The payload is larger than [`Limits::max_payload`].
    Oversized {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No application of that name.
    UnknownApplication {
        /// The application named.
        app: &'m str,
    },
    /// The application has no channel of that name.
    UnknownChannel {
        /// The application.
        app: &'m str,
        /// The channel named.
        channel: &'m str,
    },
    /// The channel has no handler for a request or a notification.
    NoHandler {
        /// Which.
        kind: MessageType,
        /// The application.
        app: &'m str,
        /// The channel.
        channel: &'m str,
    },
    /// UNSUBSCRIBE of a channel the connection is not subscribed to.
    NotSubscribed {
        /// The application.
        app: &'m str,
        /// The channel.
        channel: &'m str,
    },
    /// The connection holds [`Limits::max_subscriptions`] already.
    SubscriptionLimit {
        /// The limit.
        max: usize,
    },
    /// The subscription table is full.
    SubscriptionTable {
        /// Its capacity.
        capacity: usize,
    },
    /// The connection is not in the connection table (it was full when the connection came).
    ConnectionTable {
        /// Its capacity.
        capacity: usize,
    },
    /// The channel's handler refused the message with this sentence.
    Handler(&'m str),
}

impl Refusal<'_> {
    /// The ERROR reply's code.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Refusal::Malformed(_) => ErrorCode::Malformed,
            Refusal::Oversized { .. } => ErrorCode::Oversized,
            Refusal::UnknownApplication { .. } => ErrorCode::UnknownApplication,
            Refusal::UnknownChannel { .. } => ErrorCode::UnknownChannel,
            Refusal::NoHandler { .. } => ErrorCode::NoHandler,
            Refusal::NotSubscribed { .. } => ErrorCode::NotSubscribed,
            Refusal::SubscriptionLimit { .. }
            | Refusal::SubscriptionTable { .. }
            | Refusal::ConnectionTable { .. } => ErrorCode::Full,
            Refusal::Handler(_) => ErrorCode::Handler,
        }
    }
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.code().message())?;
        match *self {
            Refusal::Malformed(e) => write!(f, "{e}"),
            Refusal::Oversized { len, max } => write!(f, "{len} bytes, at most {max} accepted"),
            Refusal::UnknownApplication { app } => write!(f, "{app:?}"),
            Refusal::UnknownChannel { app, channel } | Refusal::NotSubscribed { app, channel } => {
                write!(f, "{channel:?} in application {app:?}")
            }
            Refusal::NoHandler { kind, app, channel } => {
                let what = match kind {
                    MessageType::Request => "request",
                    _ => "notification",
                };
                write!(f, "{what} to {channel:?} in application {app:?}")
            }
            Refusal::SubscriptionLimit { max } => write!(f, "{max} subscriptions per connection"),
            Refusal::SubscriptionTable { capacity } => {
                write!(f, "{capacity} subscriptions in all")
            }
            Refusal::ConnectionTable { capacity } => write!(f, "{capacity} connections"),
            Refusal::Handler(s) => f.write_str(s),
        }
    }
}

/// A message the registry accepted: what the driver does depends on its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted<'m> {
    /// - `Request`: run the channel's request handler (the registry checked it has one);
    ///   its reply goes back as RESPONSE (id ≠ 0), its error as ERROR
    ///   [`Refusal::Handler`]; then call [`Registry::request_done`].
    /// - `Publish`: let the channel's publish handler see it, if it has one; send MESSAGE to
    ///   every connection of [`Registry::deliver`]; ACK with their number.
    /// - `Subscribe`, `Unsubscribe`: the subscription is made (or was held) / gone; tell the
    ///   channel's subscribe handler, if it has one; ACK 0.
    /// - `Notification`: run the channel's notification handler (it has one); ACK 0.
    pub kind: MessageType,
    /// The channel.
    pub channel: ChannelId,
    /// The sending connection's number.
    pub connection: u32,
    /// The message (its header holds the id to answer; 0: no answer).
    pub message: ClientMsg<'m>,
}

/// What the driver does with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'m> {
    /// Answer ERROR `refusal.code()` with the sentence `refusal` (only when `id` ≠ 0: id 0
    /// asks for no answer). The refusal is counted already.
    Refuse {
        /// The message's id (0 when the header was unreadable).
        id: u32,
        /// Why.
        refusal: Refusal<'m>,
    },
    /// Answer WELCOME with this session.
    Welcome {
        /// The HELLO's id.
        id: u32,
        /// The session (server instance, connection number).
        session: [u8; 8],
    },
    /// Carry out [`Accepted`].
    Accept(Accepted<'m>),
}

/// A connection as [`Registry::connections`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionView {
    /// The handle.
    pub conn: Conn,
    /// When it came, on the clock the driver passed to [`Registry::connect`].
    pub since: u64,
    /// Subscriptions it holds.
    pub subscriptions: usize,
}

/// The connections a publish goes to, in subscription order.
#[derive(Debug, Clone)]
pub struct Recipients<'r> {
    subs: &'r [SubSlot],
    conns: &'r [ConnSlot],
    next: u32,
    left: usize,
}

impl Iterator for Recipients<'_> {
    type Item = Conn;

    fn next(&mut self) -> Option<Conn> {
        let s = self.subs.get(self.next as usize)?;
        self.next = s.chan_next;
        self.left = self.left.saturating_sub(1);
        let number = self.conns.get(s.conn as usize).map_or(0, |c| c.number);
        Some(Conn {
            slot: s.conn,
            number,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Recipients<'_> {}

/// The channels a connection is subscribed to (no particular order).
#[derive(Debug, Clone)]
pub struct Subscriptions<'r> {
    subs: &'r [SubSlot],
    next: u32,
}

impl Iterator for Subscriptions<'_> {
    type Item = ChannelId;

    fn next(&mut self) -> Option<ChannelId> {
        let s = self.subs.get(self.next as usize)?;
        self.next = s.conn_next;
        Some(ChannelId(s.channel))
    }
}

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

    /// Checks the tables' invariants (for tests and fuzzing; it walks every table): counts
    /// within capacities and equal to the entries in use; every subscription on both its
    /// connection's and its channel's list, once, and the lists' lengths equal to their
    /// counts; the free list holds exactly the free entries; no connection over
    /// [`Limits::max_subscriptions`]; no (connection, channel) twice; every name findable.
    pub fn check(&self) -> Result<(), &'static str> {
        let (c, n, s) = (self.c(), self.n(), self.s());
        if c.iter().filter(|x| x.number != 0).count() != self.conn_count {
            return Err("connection count");
        }
        if n.iter().filter(|x| x.len != 0).count() != self.name_count {
            return Err("name count");
        }
        if s.iter().filter(|x| x.conn != NONE).count() != self.sub_count {
            return Err("subscription count");
        }
        let mut free = 0usize;
        let mut at = self.free_sub;
        while at != NONE {
            let x = s.get(at as usize).ok_or("free list runs off the table")?;
            if x.conn != NONE {
                return Err("a used entry on the free list");
            }
            free += 1;
            if free > s.len() {
                return Err("free list loops");
            }
            at = x.chan_next;
        }
        if free + self.sub_count != s.len() {
            return Err("free list length");
        }
        for (i, e) in n.iter().enumerate() {
            if e.len == 0 {
                continue;
            }
            if self.find_name(e.parent, e.name()) != Ok(i) {
                return Err("a name not found where it is");
            }
            if e.parent != NONE && !n.get(e.parent as usize).is_some_and(|p| p.len != 0) {
                return Err("a channel of no application");
            }
            let (mut len, mut prev, mut at) = (0usize, NONE, e.head);
            while at != NONE {
                let x = s.get(at as usize).ok_or("channel list runs off the table")?;
                if x.channel != i as u32 || x.chan_prev != prev || x.conn == NONE {
                    return Err("channel list link");
                }
                len += 1;
                if len > s.len() {
                    return Err("channel list loops");
                }
                (prev, at) = (at, x.chan_next);
            }
            if e.tail != prev || len != e.subs as usize {
                return Err("channel list tail or length");
            }
        }
        for (i, x) in c.iter().enumerate() {
            if x.number == 0 {
                if x.head != NONE {
                    return Err("a free connection with subscriptions");
                }
                continue;
            }
            if x.subs as usize > self.limits.max_subscriptions {
                return Err("a connection over its subscription limit");
            }
            let (mut len, mut prev, mut at) = (0usize, NONE, x.head);
            while at != NONE {
                let y = s.get(at as usize).ok_or("connection list runs off the table")?;
                if y.conn != i as u32 || y.conn_prev != prev {
                    return Err("connection list link");
                }
                if !n.get(y.channel as usize).is_some_and(|e| e.len != 0 && e.parent != NONE) {
                    return Err("a subscription to no channel");
                }
                // The same channel further on the list would be a duplicate.
                let mut later = y.conn_next;
                while let Some(z) = s.get(later as usize) {
                    if z.channel == y.channel {
                        return Err("a connection subscribed twice");
                    }
                    later = z.conn_next;
                }
                len += 1;
                if len > s.len() {
                    return Err("connection list loops");
                }
                (prev, at) = (at, y.conn_next);
            }
            if len != x.subs as usize {
                return Err("connection list length");
            }
        }
        for x in s.iter().filter(|x| x.conn != NONE) {
            if c.get(x.conn as usize).is_none_or(|k| k.number == 0) {
                return Err("a subscription of no connection");
            }
        }
        Ok(())
    }
}
