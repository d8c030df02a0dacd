//! The registry's types: handles, table entries, limits, counters, refusals and decisions.

use core::fmt;

use super::NONE;
use crate::apps::{ClientMsg, ErrorCode, MAX_NAME, WireError, kind};

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
    pub(super) const fn bit(self) -> u8 {
        match self {
            MessageType::Request => 1,
            MessageType::Publish => 2,
            MessageType::Subscribe | MessageType::Unsubscribe => 4,
            MessageType::Notification => 8,
        }
    }

    pub(super) const fn of_kind(k: u8) -> Option<MessageType> {
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
    pub(super) slot: u32,
    pub(super) number: u32,
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
pub struct AppId(pub(super) u32);

/// A channel: its slot in the name table (channels are never removed, so a driver may key
/// its handlers by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId(pub(super) u32);

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

/// An entry of the connection table (storage for [`Registry`](super::Registry)).
#[derive(Debug, Clone, Copy)]
pub struct ConnSlot {
    /// 0: free.
    pub(super) number: u32,
    pub(super) since: u64,
    pub(super) subs: u32,
    /// First subscription of the connection.
    pub(super) head: u32,
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

/// An entry of the name table (storage for [`Registry`](super::Registry)).
#[derive(Clone, Copy)]
pub struct NameSlot {
    /// 0: free.
    pub(super) len: u8,
    pub(super) bytes: [u8; MAX_NAME],
    /// The application of a channel; [`NONE`] for an application.
    pub(super) parent: u32,
    /// [`MessageType::bit`]s of the handlers a channel has.
    pub(super) handlers: u8,
    pub(super) subs: u32,
    pub(super) head: u32,
    pub(super) tail: u32,
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

    pub(super) fn name(&self) -> &str {
        // Only whole `&str`s of at most MAX_NAME bytes are ever copied in.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// An entry of the subscription table (storage for [`Registry`](super::Registry)).
#[derive(Debug, Clone, Copy)]
pub struct SubSlot {
    /// Connection slot; [`NONE`]: free (then `chan_next` links the free list).
    pub(super) conn: u32,
    pub(super) channel: u32,
    pub(super) chan_prev: u32,
    pub(super) chan_next: u32,
    pub(super) conn_prev: u32,
    pub(super) conn_next: u32,
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
    ///   [`Refusal::Handler`]; then call [`Registry::request_done`](super::Registry::request_done).
    /// - `Publish`: let the channel's publish handler see it, if it has one; send MESSAGE to
    ///   every connection of [`Registry::deliver`](super::Registry::deliver); ACK with their number.
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

/// A connection as [`Registry::connections`](super::Registry::connections) lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionView {
    /// The handle.
    pub conn: Conn,
    /// When it came, on the clock the driver passed to [`Registry::connect`](super::Registry::connect).
    pub since: u64,
    /// Subscriptions it holds.
    pub subscriptions: usize,
}

/// The connections a publish goes to, in subscription order.
#[derive(Debug, Clone)]
pub struct Recipients<'r> {
    pub(super) subs: &'r [SubSlot],
    pub(super) conns: &'r [ConnSlot],
    pub(super) next: u32,
    pub(super) left: usize,
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
    pub(super) subs: &'r [SubSlot],
    pub(super) next: u32,
}

impl Iterator for Subscriptions<'_> {
    type Item = ChannelId;

    fn next(&mut self) -> Option<ChannelId> {
        let s = self.subs.get(self.next as usize)?;
        self.next = s.conn_next;
        Some(ChannelId(s.channel))
    }
}
