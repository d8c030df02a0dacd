//! The event service's envelope: every message between a node and the service is one ZMTP
//! multipart message (a DEALER at the node, a ROUTER at the service; the ROUTER's routing-id
//! frame is not part of it) whose first frame is a 6-byte header:
//!
//! ```text
//! byte 0      version, 0x01
//! byte 1      command code (below)
//! bytes 2..6  sequence number, u32 little-endian: a node numbers its requests from 1,
//!             the service echoes the number in the OK or ERROR reply; 0 in deliveries
//! ```
//!
//! The header is followed by exactly the argument frames listed for the command; a different
//! count, an unknown version or code, an empty or over-long id, or a bad kind frame is
//! [`WireError`] and the service answers ERROR `Malformed` (when it could read a sequence
//! number) and counts it. Ids are 1 to [`MAX_ID`] bytes; node ids are a process id in decimal
//! ASCII by default, or any name.
//!
//! | code | direction | name         | argument frames                                 |
//! |------|-----------|--------------|-------------------------------------------------|
//! | 0x01 | node → s. | JOIN         | node id; optionally flags (1 byte: [`JOIN_REMOTE`]) |
//! | 0x02 | node → s. | LEAVE        | —                                               |
//! | 0x03 | node → s. | CREATE_EVENT | event id, kind (2 bytes: 0 single / 1 multi, then 0/1 "the creator subscribes") |
//! | 0x04 | node → s. | DISSOLVE     | event id                                        |
//! | 0x05 | node → s. | SUBSCRIBE    | event id                                        |
//! | 0x06 | node → s. | UNSUBSCRIBE  | event id                                        |
//! | 0x07 | node → s. | EMIT         | event id, data                                  |
//! | 0x08 | node → s. | CONTACT      | target node id, data                            |
//! | 0x09 | node → s. | SIGNAL       | target node id                                  |
//! | 0x0A | node → s. | FORWARD      | event id, data (hub-less: an emission already written into the emitter's ring, for the remote subscribers; sequence 0, never answered) |
//! | 0x0B | node → s. | FORWARDING   | event id, generation (u32 LE, from REMOTE_READERS: the node forwards the event from now on; sequence 0, never answered) |
//! | 0x81 | s. → node | OK           | count (u32 LE: deliveries made; for JOIN the service instance, see [`super::doorbell`]; else 0) |
//! | 0x82 | s. → node | ERROR        | code (1 byte, [`ErrorCode`]), message (UTF-8)   |
//! | 0x83 | s. → node | EVENT        | event id, emitter node id, data                 |
//! | 0x84 | s. → node | DIRECT       | sender node id, data                            |
//! | 0x85 | s. → node | SIGNALLED    | sender node id                                  |
//! | 0x86 | s. → node | DISSOLVED    | event id (an event the node subscribed to ended)|
//! | 0x87 | s. → node | EMITTER      | event id, emitter node id (hub-less: read its ring) |
//! | 0x88 | s. → node | EMITTER_GONE | event id, emitter node id (hub-less: stop reading it) |
//! | 0x89 | s. → node | READER_GONE  | event id, subscriber node id (hub-less: it left or died; recount the ring's readers) |
//! | 0x8A | s. → node | REMOTE_READERS | event id, count (u32 LE: the event's subscribers that joined remote; hub-less: FORWARD your emissions of it while not 0), generation (u32 LE; when not 0 and the count is not 0, answer FORWARDING with it) |
//!
//! To a node that joined remote, EMITTER means "this ring writer forwards the event to you
//! from now on" (it answered the REMOTE_READERS your SUBSCRIBE caused).
//!
//! The OK to a JOIN may carry a second frame, one byte of flags: [`JOIN_HUBLESS`] says the
//! service is hub-less (events travel in shared-memory rings, see `docs/events.md`). A JOIN
//! may carry a second frame too, one byte of flags: [`JOIN_REMOTE`] says the node cannot map
//! the service's shared memory (another machine); a hub-less service then serves it routed.
//! The other bits are reserved (sent 0, ignored).
//!
//! Every request gets exactly one OK or ERROR with its sequence number, except FORWARD,
//! which is never answered (the emitter does not wait for it); deliveries (0x83 to 0x8A)
//! carry sequence 0 and are never answered.

use core::fmt;

/// Envelope version this code speaks.
pub const VERSION: u8 = 0x01;
/// Longest node or event id, in bytes.
pub const MAX_ID: usize = 64;
/// Length of the header frame.
pub const HEADER_LEN: usize = 6;

/// Command codes (byte 1 of the header).
#[allow(missing_docs)]
pub mod code {
    pub const JOIN: u8 = 0x01;
    pub const LEAVE: u8 = 0x02;
    pub const CREATE_EVENT: u8 = 0x03;
    pub const DISSOLVE: u8 = 0x04;
    pub const SUBSCRIBE: u8 = 0x05;
    pub const UNSUBSCRIBE: u8 = 0x06;
    pub const EMIT: u8 = 0x07;
    pub const CONTACT: u8 = 0x08;
    pub const SIGNAL: u8 = 0x09;
    pub const FORWARD: u8 = 0x0A;
    pub const FORWARDING: u8 = 0x0B;
    pub const OK: u8 = 0x81;
    pub const ERROR: u8 = 0x82;
    pub const EVENT: u8 = 0x83;
    pub const DIRECT: u8 = 0x84;
    pub const SIGNALLED: u8 = 0x85;
    pub const DISSOLVED: u8 = 0x86;
    pub const EMITTER: u8 = 0x87;
    pub const EMITTER_GONE: u8 = 0x88;
    pub const READER_GONE: u8 = 0x89;
    pub const REMOTE_READERS: u8 = 0x8A;
}

/// Flag of a JOIN's OK (its optional second frame): the service is hub-less.
pub const JOIN_HUBLESS: u8 = 0x01;

/// Flag of a JOIN (its optional second frame): the node cannot map the service's shared
/// memory (it is on another machine); a hub-less service serves it as a routed one would.
pub const JOIN_REMOTE: u8 = 0x01;

/// Who may emit an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Emission {
    /// Only the creator emits (PyIPC's `SINGLE_EMISSION`).
    Single,
    /// The creator and every subscriber emit (PyIPC's `MULTI_EMISSION`).
    Multi,
}

/// Why the service refused a request (the ERROR reply's code byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1: the request could not be parsed.
    Malformed,
    /// 2: the connection has not joined (JOIN first).
    NotJoined,
    /// 3: this connection already joined.
    AlreadyJoined,
    /// 4: another live node has this id.
    NodeIdTaken,
    /// 5: no node with that id is joined (never was, or left or died).
    UnknownNode,
    /// 6: no event with that id exists (never did, or was dissolved).
    UnknownEvent,
    /// 7: an event with that id already exists.
    EventExists,
    /// 8: only the creator may dissolve an event.
    NotCreator,
    /// 9: this node may not emit the event (single emission and not the creator, or multi
    /// emission and neither creator nor subscriber).
    MayNotEmit,
    /// 10: the node is already subscribed.
    AlreadySubscribed,
    /// 11: the node is not subscribed.
    NotSubscribed,
    /// 12: a table of the service is full (nodes, events or subscriptions).
    Full,
    /// Any code this version does not know (kept for display).
    Other(u8),
}

impl ErrorCode {
    /// The code byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::NotJoined => 2,
            ErrorCode::AlreadyJoined => 3,
            ErrorCode::NodeIdTaken => 4,
            ErrorCode::UnknownNode => 5,
            ErrorCode::UnknownEvent => 6,
            ErrorCode::EventExists => 7,
            ErrorCode::NotCreator => 8,
            ErrorCode::MayNotEmit => 9,
            ErrorCode::AlreadySubscribed => 10,
            ErrorCode::NotSubscribed => 11,
            ErrorCode::Full => 12,
            ErrorCode::Other(b) => b,
        }
    }

    /// The code for a byte (unknown bytes are [`ErrorCode::Other`]).
    pub const fn from_byte(b: u8) -> Self {
        match b {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::NotJoined,
            3 => ErrorCode::AlreadyJoined,
            4 => ErrorCode::NodeIdTaken,
            5 => ErrorCode::UnknownNode,
            6 => ErrorCode::UnknownEvent,
            7 => ErrorCode::EventExists,
            8 => ErrorCode::NotCreator,
            9 => ErrorCode::MayNotEmit,
            10 => ErrorCode::AlreadySubscribed,
            11 => ErrorCode::NotSubscribed,
            12 => ErrorCode::Full,
            b => ErrorCode::Other(b),
        }
    }

    /// A sentence saying what went wrong.
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed request",
            ErrorCode::NotJoined => "this node has not joined the service",
            ErrorCode::AlreadyJoined => "this connection already joined the service",
            ErrorCode::NodeIdTaken => "another node already uses this node id",
            ErrorCode::UnknownNode => "no node with this id is joined (unknown, left or died)",
            ErrorCode::UnknownEvent => "no event with this id exists (unknown or dissolved)",
            ErrorCode::EventExists => "an event with this id already exists",
            ErrorCode::NotCreator => "only the event's creator may dissolve it",
            ErrorCode::MayNotEmit => {
                "this node may not emit the event (single emission: only its creator; \
                 multi emission: its creator and subscribers)"
            }
            ErrorCode::AlreadySubscribed => "this node is already subscribed to the event",
            ErrorCode::NotSubscribed => "this node is not subscribed to the event",
            ErrorCode::Full => "a table of the event service is full",
            ErrorCode::Other(_) => "unknown error code",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// A frame list that is not a valid envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// No frames, or a header frame that is not 6 bytes.
    BadHeader,
    /// A version other than [`VERSION`].
    Version(u8),
    /// A command code unknown in this direction.
    UnknownCommand(u8),
    /// The command has the wrong number of argument frames.
    FrameCount,
    /// An id frame is empty or longer than [`MAX_ID`].
    BadId,
    /// A kind, count or error-code frame has the wrong length or value.
    BadField,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadHeader => f.write_str("event envelope: the header frame is not 6 bytes"),
            WireError::Version(v) => write!(f, "event envelope: unknown version {v}"),
            WireError::UnknownCommand(c) => write!(f, "event envelope: unknown command 0x{c:02x}"),
            WireError::FrameCount => f.write_str("event envelope: wrong number of frames"),
            WireError::BadId => write!(f, "event envelope: an id is empty or over {MAX_ID} bytes"),
            WireError::BadField => f.write_str("event envelope: a field has a bad length or value"),
        }
    }
}

impl core::error::Error for WireError {}

/// The header frame for `cmd` with sequence `seq`.
pub const fn header(cmd: u8, seq: u32) -> [u8; HEADER_LEN] {
    let s = seq.to_le_bytes();
    [VERSION, cmd, s[0], s[1], s[2], s[3]]
}

/// Reads a header frame: (command code, sequence).
pub fn parse_header(frame: &[u8]) -> Result<(u8, u32), WireError> {
    let [v, cmd, a, b, c, d] = *frame else {
        return Err(WireError::BadHeader);
    };
    if v != VERSION {
        return Err(WireError::Version(v));
    }
    Ok((cmd, u32::from_le_bytes([a, b, c, d])))
}

/// The kind frame of CREATE_EVENT.
pub const fn kind_frame(emission: Emission, creator_subscribes: bool) -> [u8; 2] {
    let k = match emission {
        Emission::Single => 0,
        Emission::Multi => 1,
    };
    [k, creator_subscribes as u8]
}

fn u32_frame(frame: &[u8]) -> Result<u32, WireError> {
    let b: [u8; 4] = frame.try_into().map_err(|_| WireError::BadField)?;
    Ok(u32::from_le_bytes(b))
}

fn id(frame: &[u8]) -> Result<&[u8], WireError> {
    if frame.is_empty() || frame.len() > MAX_ID {
        Err(WireError::BadId)
    } else {
        Ok(frame)
    }
}

/// A node's request, borrowed from its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Request<'a> {
    Join {
        node: &'a [u8],
        /// The JOIN carried [`JOIN_REMOTE`].
        remote: bool,
    },
    Leave,
    CreateEvent {
        event: &'a [u8],
        emission: Emission,
        creator_subscribes: bool,
    },
    Dissolve {
        event: &'a [u8],
    },
    Subscribe {
        event: &'a [u8],
    },
    Unsubscribe {
        event: &'a [u8],
    },
    Emit {
        event: &'a [u8],
        data: &'a [u8],
    },
    Contact {
        to: &'a [u8],
        data: &'a [u8],
    },
    Signal {
        to: &'a [u8],
    },
    /// Sequence 0 and never answered.
    Forward {
        event: &'a [u8],
        data: &'a [u8],
    },
    /// Sequence 0 and never answered.
    Forwarding {
        event: &'a [u8],
        generation: u32,
    },
}

impl<'a> Request<'a> {
    /// Parses a node's message: (sequence, request). When the header was readable but the
    /// rest is not, the error comes with the sequence so the service can answer it.
    pub fn parse(frames: &[&'a [u8]]) -> Result<(u32, Request<'a>), (Option<u32>, WireError)> {
        let [head, args @ ..] = frames else {
            return Err((None, WireError::BadHeader));
        };
        let (cmd, seq) = parse_header(head).map_err(|e| (None, e))?;
        Self::parse_args(cmd, args)
            .map(|r| (seq, r))
            .map_err(|e| (Some(seq), e))
    }

    fn parse_args(cmd: u8, args: &[&'a [u8]]) -> Result<Request<'a>, WireError> {
        Ok(match (cmd, args) {
            (code::JOIN, [n]) => Request::Join {
                node: id(n)?,
                remote: false,
            },
            (code::JOIN, [n, f]) => {
                let [f] = **f else {
                    return Err(WireError::BadField);
                };
                Request::Join {
                    node: id(n)?,
                    remote: f & JOIN_REMOTE != 0,
                }
            }
            (code::LEAVE, []) => Request::Leave,
            (code::CREATE_EVENT, [e, k]) => {
                let (emission, sub) = match **k {
                    [0, s @ (0 | 1)] => (Emission::Single, s == 1),
                    [1, s @ (0 | 1)] => (Emission::Multi, s == 1),
                    _ => return Err(WireError::BadField),
                };
                Request::CreateEvent {
                    event: id(e)?,
                    emission,
                    creator_subscribes: sub,
                }
            }
            (code::DISSOLVE, [e]) => Request::Dissolve { event: id(e)? },
            (code::SUBSCRIBE, [e]) => Request::Subscribe { event: id(e)? },
            (code::UNSUBSCRIBE, [e]) => Request::Unsubscribe { event: id(e)? },
            (code::EMIT, [e, d]) => Request::Emit {
                event: id(e)?,
                data: d,
            },
            (code::CONTACT, [n, d]) => Request::Contact {
                to: id(n)?,
                data: d,
            },
            (code::SIGNAL, [n]) => Request::Signal { to: id(n)? },
            (code::FORWARD, [e, d]) => Request::Forward {
                event: id(e)?,
                data: d,
            },
            (code::FORWARDING, [e, g]) => Request::Forwarding {
                event: id(e)?,
                generation: u32_frame(g)?,
            },
            (
                code::JOIN
                | code::LEAVE
                | code::CREATE_EVENT
                | code::DISSOLVE
                | code::SUBSCRIBE
                | code::UNSUBSCRIBE
                | code::EMIT
                | code::CONTACT
                | code::SIGNAL
                | code::FORWARD
                | code::FORWARDING,
                _,
            ) => return Err(WireError::FrameCount),
            (c, _) => return Err(WireError::UnknownCommand(c)),
        })
    }
}

/// A message from the service to a node, borrowed from its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ServiceMsg<'a> {
    Ok {
        seq: u32,
        count: u32,
        /// The OK's optional flags frame (a JOIN's: [`JOIN_HUBLESS`]); 0 without one.
        flags: u8,
    },
    Error {
        seq: u32,
        code: ErrorCode,
        message: &'a [u8],
    },
    Event {
        event: &'a [u8],
        from: &'a [u8],
        data: &'a [u8],
    },
    Direct {
        from: &'a [u8],
        data: &'a [u8],
    },
    Signalled {
        from: &'a [u8],
    },
    Dissolved {
        event: &'a [u8],
    },
    Emitter {
        event: &'a [u8],
        emitter: &'a [u8],
    },
    EmitterGone {
        event: &'a [u8],
        emitter: &'a [u8],
    },
    ReaderGone {
        event: &'a [u8],
        reader: &'a [u8],
    },
    RemoteReaders {
        event: &'a [u8],
        count: u32,
        generation: u32,
    },
}

impl<'a> ServiceMsg<'a> {
    /// Parses a message the service sent.
    pub fn parse(frames: &[&'a [u8]]) -> Result<ServiceMsg<'a>, WireError> {
        let [head, args @ ..] = frames else {
            return Err(WireError::BadHeader);
        };
        let (cmd, seq) = parse_header(head)?;
        Ok(match (cmd, args) {
            (code::OK, [c, rest @ ..]) if rest.len() <= 1 => {
                let c: [u8; 4] = (**c).try_into().map_err(|_| WireError::BadField)?;
                let flags = match rest {
                    [] => 0,
                    [f] => match **f {
                        [f] => f,
                        _ => return Err(WireError::BadField),
                    },
                    _ => return Err(WireError::FrameCount),
                };
                ServiceMsg::Ok {
                    seq,
                    count: u32::from_le_bytes(c),
                    flags,
                }
            }
            (code::ERROR, [c, m]) => {
                let [c] = **c else {
                    return Err(WireError::BadField);
                };
                ServiceMsg::Error {
                    seq,
                    code: ErrorCode::from_byte(c),
                    message: m,
                }
            }
            (code::EVENT, [e, n, d]) => ServiceMsg::Event {
                event: id(e)?,
                from: id(n)?,
                data: d,
            },
            (code::DIRECT, [n, d]) => ServiceMsg::Direct {
                from: id(n)?,
                data: d,
            },
            (code::SIGNALLED, [n]) => ServiceMsg::Signalled { from: id(n)? },
            (code::DISSOLVED, [e]) => ServiceMsg::Dissolved { event: id(e)? },
            (code::EMITTER, [e, n]) => ServiceMsg::Emitter {
                event: id(e)?,
                emitter: id(n)?,
            },
            (code::EMITTER_GONE, [e, n]) => ServiceMsg::EmitterGone {
                event: id(e)?,
                emitter: id(n)?,
            },
            (code::READER_GONE, [e, n]) => ServiceMsg::ReaderGone {
                event: id(e)?,
                reader: id(n)?,
            },
            (code::REMOTE_READERS, [e, c, g]) => ServiceMsg::RemoteReaders {
                event: id(e)?,
                count: u32_frame(c)?,
                generation: u32_frame(g)?,
            },
            (
                code::OK
                | code::ERROR
                | code::EVENT
                | code::DIRECT
                | code::SIGNALLED
                | code::DISSOLVED
                | code::EMITTER
                | code::EMITTER_GONE
                | code::READER_GONE
                | code::REMOTE_READERS,
                _,
            ) => return Err(WireError::FrameCount),
            (c, _) => return Err(WireError::UnknownCommand(c)),
        })
    }
}
