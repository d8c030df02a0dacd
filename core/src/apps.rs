//! The envelope of applications and channels (the IPC Framework seed): every message between
//! a client (a DEALER) and the application server (a ROUTER) is one ZMTP multipart message
//! whose first frame is an 8-byte header (the ROUTER's routing-id frame is not part of it):
//!
//! ```text
//! byte 0      version, 0x01
//! byte 1      kind (below)
//! byte 2      flags: bit 0 set = the payload is JSON (UTF-8), clear = postcard or raw bytes;
//!             the other bits are 0
//! byte 3      error code in an ERROR reply ([`ErrorCode`]), else 0
//! bytes 4..8  message id, u32 little-endian: a client numbers the messages it wants answered
//!             from 1; the server echoes the id in the one reply each of them gets. Id 0 asks
//!             for no reply at all (fire and forget; a refusal is only counted).
//! ```
//!
//! | kind | direction  | name        | frames after the header                      | reply      |
//! |------|------------|-------------|----------------------------------------------|------------|
//! | 0x01 | client → s | REQUEST     | application, channel, payload                | RESPONSE   |
//! | 0x02 | client → s | PUBLISH     | application, channel, payload                | ACK (count: subscribers reached) |
//! | 0x03 | client → s | SUBSCRIBE   | application, channel, (empty)                | ACK (0)    |
//! | 0x04 | client → s | UNSUBSCRIBE | application, channel, (empty)                | ACK (0)    |
//! | 0x05 | client → s | NOTIFY      | application, channel, payload                | ACK (0)    |
//! | 0x06 | client → s | HELLO       | — (connect check and heartbeat)              | WELCOME    |
//! | 0x81 | s → client | RESPONSE    | application, channel, payload                |            |
//! | 0x82 | s → client | ACK         | count (u32 LE)                               |            |
//! | 0x83 | s → client | ERROR       | message (UTF-8); the code is header byte 3   |            |
//! | 0x84 | s → client | MESSAGE     | application, channel, payload (a publish to a channel the client subscribed to; id 0) | |
//! | 0x86 | s → client | WELCOME     | session (8 bytes: server instance u32 LE, connection number u32 LE) | |
//!
//! Application and channel names are 1 to [`MAX_NAME`] bytes of UTF-8. A message with another
//! frame count, an unknown version or kind, non-zero reserved bits or a bad name is
//! [`WireError`]: the server answers ERROR [`ErrorCode::Malformed`] when it could read an id.
//!
//! A client compares the WELCOME's session with the previous one: a different session means
//! a new connection (the server restarted, or dropped the old connection), which has no
//! subscriptions, so the client subscribes again.

use core::fmt;

pub mod server;

pub use server::MessageType;

/// Envelope version this code speaks.
pub const VERSION: u8 = 0x01;
/// Length of the header frame.
pub const HEADER_LEN: usize = 8;
/// Longest application or channel name, in bytes.
pub const MAX_NAME: usize = 64;
/// Header flag: the payload is JSON.
pub const FLAG_JSON: u8 = 0x01;

/// Message kinds (byte 1 of the header).
#[allow(missing_docs)]
pub mod kind {
    pub const REQUEST: u8 = 0x01;
    pub const PUBLISH: u8 = 0x02;
    pub const SUBSCRIBE: u8 = 0x03;
    pub const UNSUBSCRIBE: u8 = 0x04;
    pub const NOTIFY: u8 = 0x05;
    pub const HELLO: u8 = 0x06;
    pub const RESPONSE: u8 = 0x81;
    pub const ACK: u8 = 0x82;
    pub const ERROR: u8 = 0x83;
    pub const MESSAGE: u8 = 0x84;
    pub const WELCOME: u8 = 0x86;
}

/// How a payload is encoded (header flag bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Encoding {
    /// postcard (Rust to Rust) or bytes the application defines.
    Postcard,
    /// JSON text (Python and Node.js clients).
    Json,
}

impl Encoding {
    /// The header flags of this encoding.
    pub const fn flags(self) -> u8 {
        match self {
            Encoding::Postcard => 0,
            Encoding::Json => FLAG_JSON,
        }
    }
}

/// Why the server refused a message (header byte 3 of an ERROR reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// 1: the message is not in the envelope form.
    Malformed,
    /// 2: no application of that name.
    UnknownApplication,
    /// 3: the application has no channel of that name.
    UnknownChannel,
    /// 4: the payload is larger than the server accepts.
    Oversized,
    /// 5: the channel has no handler for this kind of message.
    NoHandler,
    /// 6: the handler refused the message (its own error, or a payload it could not decode).
    Handler,
    /// 7: a table of the server is full (connections or subscriptions).
    Full,
    /// 8: UNSUBSCRIBE of a channel the connection is not subscribed to.
    NotSubscribed,
    /// A code this version does not know.
    Other(u8),
}

impl ErrorCode {
    /// The code byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::UnknownApplication => 2,
            ErrorCode::UnknownChannel => 3,
            ErrorCode::Oversized => 4,
            ErrorCode::NoHandler => 5,
            ErrorCode::Handler => 6,
            ErrorCode::Full => 7,
            ErrorCode::NotSubscribed => 8,
            ErrorCode::Other(b) => b,
        }
    }

    /// The code of a byte.
    pub const fn from_byte(b: u8) -> Self {
        match b {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::UnknownApplication,
            3 => ErrorCode::UnknownChannel,
            4 => ErrorCode::Oversized,
            5 => ErrorCode::NoHandler,
            6 => ErrorCode::Handler,
            7 => ErrorCode::Full,
            8 => ErrorCode::NotSubscribed,
            b => ErrorCode::Other(b),
        }
    }

    /// What the code means, in a sentence.
    pub const fn message(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed message",
            ErrorCode::UnknownApplication => "no such application",
            ErrorCode::UnknownChannel => "no such channel in the application",
            ErrorCode::Oversized => "payload larger than the server accepts",
            ErrorCode::NoHandler => "the channel has no handler for this kind of message",
            ErrorCode::Handler => "the handler refused the message",
            ErrorCode::Full => "a table of the server is full",
            ErrorCode::NotSubscribed => "not subscribed to the channel",
            ErrorCode::Other(_) => "unknown error code",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Why frames are not a valid envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// No frames at all.
    Empty,
    /// The header frame is not [`HEADER_LEN`] bytes.
    HeaderLength(usize),
    /// An envelope version this code does not speak.
    Version(u8),
    /// A kind this code does not know, or one the other side never sends.
    Kind(u8),
    /// Flag bits that are not defined, or a non-zero code byte outside an ERROR.
    Reserved,
    /// The kind takes another number of frames.
    FrameCount {
        /// The kind.
        kind: u8,
        /// Frames it takes (the header included).
        want: usize,
        /// Frames that came.
        got: usize,
    },
    /// An application or channel name is empty, longer than [`MAX_NAME`] or not UTF-8.
    BadName,
    /// A fixed-size argument (count, session) has the wrong length.
    BadArgument,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Empty => f.write_str("no frames"),
            WireError::HeaderLength(n) => {
                write!(f, "header frame is {n} bytes, not {HEADER_LEN}")
            }
            WireError::Version(v) => {
                write!(f, "envelope version {v}, this server speaks {VERSION}")
            }
            WireError::Kind(k) => write!(f, "unknown or misdirected message kind 0x{k:02x}"),
            WireError::Reserved => f.write_str("reserved header bits set"),
            WireError::FrameCount { kind, want, got } => {
                write!(
                    f,
                    "kind 0x{kind:02x} takes {want} frames, this message has {got}"
                )
            }
            WireError::BadName => write!(
                f,
                "application and channel names are 1 to {MAX_NAME} bytes of UTF-8"
            ),
            WireError::BadArgument => f.write_str("a fixed-size argument has the wrong length"),
        }
    }
}

impl core::error::Error for WireError {}

/// The header frame of a message.
pub const fn header(kind: u8, flags: u8, code: u8, id: u32) -> [u8; HEADER_LEN] {
    let i = id.to_le_bytes();
    [VERSION, kind, flags, code, i[0], i[1], i[2], i[3]]
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The kind.
    pub kind: u8,
    /// The flags.
    pub flags: u8,
    /// The error code byte.
    pub code: u8,
    /// The message id.
    pub id: u32,
}

impl Header {
    /// The payload's encoding.
    pub const fn encoding(&self) -> Encoding {
        if self.flags & FLAG_JSON != 0 {
            Encoding::Json
        } else {
            Encoding::Postcard
        }
    }
}

/// Reads a header frame (the version, length and reserved bits checked; the kind not).
pub fn parse_header(frame: &[u8]) -> Result<Header, WireError> {
    let &[version, kind, flags, code, a, b, c, d] = frame else {
        return Err(WireError::HeaderLength(frame.len()));
    };
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    if flags & !FLAG_JSON != 0 || (code != 0 && kind != kind::ERROR) {
        return Err(WireError::Reserved);
    }
    Ok(Header {
        kind,
        flags,
        code,
        id: u32::from_le_bytes([a, b, c, d]),
    })
}

fn name(frame: &[u8]) -> Result<&str, WireError> {
    if frame.is_empty() || frame.len() > MAX_NAME {
        return Err(WireError::BadName);
    }
    core::str::from_utf8(frame).map_err(|_| WireError::BadName)
}

fn count(kind: u8, frames: usize, want: usize) -> Result<(), WireError> {
    if frames == want {
        Ok(())
    } else {
        Err(WireError::FrameCount {
            kind,
            want,
            got: frames,
        })
    }
}

/// A message from a client, decoded (it borrows the frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientMsg<'a> {
    /// The header (kind is one of REQUEST to HELLO).
    pub header: Header,
    /// The application (empty for HELLO).
    pub app: &'a str,
    /// The channel (empty for HELLO).
    pub channel: &'a str,
    /// The payload (empty for SUBSCRIBE, UNSUBSCRIBE, HELLO).
    pub payload: &'a [u8],
}

impl<'a> ClientMsg<'a> {
    /// Decodes a client's message. On error, the id is returned too when the header could be
    /// read (so the server can answer ERROR).
    pub fn parse<F: AsRef<[u8]>>(frames: &'a [F]) -> Result<Self, (Option<u32>, WireError)> {
        let first = frames.first().ok_or((None, WireError::Empty))?;
        let header = parse_header(first.as_ref()).map_err(|e| (None, e))?;
        let id = Some(header.id);
        let fail = |e| (id, e);
        match header.kind {
            kind::HELLO => {
                count(header.kind, frames.len(), 1).map_err(fail)?;
                Ok(ClientMsg {
                    header,
                    app: "",
                    channel: "",
                    payload: &[],
                })
            }
            kind::REQUEST | kind::PUBLISH | kind::SUBSCRIBE | kind::UNSUBSCRIBE | kind::NOTIFY => {
                count(header.kind, frames.len(), 4).map_err(fail)?;
                let app = name(frames[1].as_ref()).map_err(fail)?;
                let channel = name(frames[2].as_ref()).map_err(fail)?;
                Ok(ClientMsg {
                    header,
                    app,
                    channel,
                    payload: frames[3].as_ref(),
                })
            }
            k => Err(fail(WireError::Kind(k))),
        }
    }
}

/// A message from the server, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMsg<'a> {
    /// The answer to REQUEST `id`.
    Response {
        /// The request's id.
        id: u32,
        /// The payload's encoding.
        encoding: Encoding,
        /// The payload.
        payload: &'a [u8],
    },
    /// PUBLISH, SUBSCRIBE, UNSUBSCRIBE or NOTIFY `id` was done; `count` subscribers were
    /// reached by a publish.
    Ack {
        /// The message's id.
        id: u32,
        /// Deliveries made (publish), else 0.
        count: u32,
    },
    /// Message `id` was refused.
    Error {
        /// The message's id.
        id: u32,
        /// Why.
        code: ErrorCode,
        /// The server's sentence.
        message: &'a [u8],
    },
    /// A publish on a subscribed channel.
    Message {
        /// The application.
        app: &'a str,
        /// The channel.
        channel: &'a str,
        /// The payload's encoding.
        encoding: Encoding,
        /// The payload.
        payload: &'a [u8],
    },
    /// The answer to HELLO `id`, naming this connection's session.
    Welcome {
        /// The HELLO's id.
        id: u32,
        /// The session: differs for every connection and every server instance.
        session: u64,
    },
}

impl<'a> ServerMsg<'a> {
    /// Decodes a message from the server.
    pub fn parse<F: AsRef<[u8]>>(frames: &'a [F]) -> Result<Self, WireError> {
        let first = frames.first().ok_or(WireError::Empty)?;
        let h = parse_header(first.as_ref())?;
        let id = h.id;
        match h.kind {
            kind::RESPONSE => {
                count(h.kind, frames.len(), 4)?;
                Ok(ServerMsg::Response {
                    id,
                    encoding: h.encoding(),
                    payload: frames[3].as_ref(),
                })
            }
            kind::ACK => {
                count(h.kind, frames.len(), 2)?;
                let c: [u8; 4] = frames[1]
                    .as_ref()
                    .try_into()
                    .map_err(|_| WireError::BadArgument)?;
                Ok(ServerMsg::Ack {
                    id,
                    count: u32::from_le_bytes(c),
                })
            }
            kind::ERROR => {
                count(h.kind, frames.len(), 2)?;
                Ok(ServerMsg::Error {
                    id,
                    code: ErrorCode::from_byte(h.code),
                    message: frames[1].as_ref(),
                })
            }
            kind::MESSAGE => {
                count(h.kind, frames.len(), 4)?;
                Ok(ServerMsg::Message {
                    app: name(frames[1].as_ref())?,
                    channel: name(frames[2].as_ref())?,
                    encoding: h.encoding(),
                    payload: frames[3].as_ref(),
                })
            }
            kind::WELCOME => {
                count(h.kind, frames.len(), 2)?;
                let s: [u8; 8] = frames[1]
                    .as_ref()
                    .try_into()
                    .map_err(|_| WireError::BadArgument)?;
                Ok(ServerMsg::Welcome {
                    id,
                    session: u64::from_le_bytes(s),
                })
            }
            k => Err(WireError::Kind(k)),
        }
    }
}

/// The 8-byte session of connection number `conn` of server `instance`.
pub const fn session(instance: u32, conn: u32) -> [u8; 8] {
    let i = instance.to_le_bytes();
    let c = conn.to_le_bytes();
    [i[0], i[1], i[2], i[3], c[0], c[1], c[2], c[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The golden bytes of `docs/apps.md`.
    #[test]
    fn golden_headers() {
        assert_eq!(
            header(kind::REQUEST, FLAG_JSON, 0, 7),
            [0x01, 0x01, 0x01, 0x00, 0x07, 0x00, 0x00, 0x00]
        );
        assert_eq!(
            header(
                kind::ERROR,
                0,
                ErrorCode::UnknownChannel.to_byte(),
                0x0102_0304
            ),
            [0x01, 0x83, 0x00, 0x03, 0x04, 0x03, 0x02, 0x01]
        );
        assert_eq!(session(2, 5), [2, 0, 0, 0, 5, 0, 0, 0]);
    }

    #[test]
    fn a_request_parses_and_borrows() {
        let h = header(kind::REQUEST, FLAG_JSON, 0, 9);
        let frames: [&[u8]; 4] = [&h, b"my_app", b"api", br#"{"action":"get_data"}"#];
        let m = ClientMsg::parse(&frames).unwrap();
        assert_eq!((m.app, m.channel, m.header.id), ("my_app", "api", 9));
        assert_eq!(m.header.encoding(), Encoding::Json);
        assert_eq!(m.payload, br#"{"action":"get_data"}"#);
        let hello = header(kind::HELLO, 0, 0, 1);
        let frames = [&hello[..]];
        let m = ClientMsg::parse(&frames).unwrap();
        assert_eq!(m.header.kind, kind::HELLO);
    }

    #[test]
    fn malformed_messages_say_why_and_keep_the_id_when_readable() {
        let empty: [&[u8]; 0] = [];
        assert_eq!(ClientMsg::parse(&empty), Err((None, WireError::Empty)));
        assert_eq!(
            ClientMsg::parse(&[&b"short"[..]]),
            Err((None, WireError::HeaderLength(5)))
        );
        let mut h = header(kind::REQUEST, 0, 0, 3);
        h[0] = 9;
        assert_eq!(
            ClientMsg::parse(&[&h[..]]),
            Err((None, WireError::Version(9)))
        );
        let h = header(kind::REQUEST, 0x80, 0, 3);
        assert_eq!(
            ClientMsg::parse(&[&h[..]]),
            Err((None, WireError::Reserved))
        );
        let h = header(kind::REQUEST, 0, 0, 3);
        assert_eq!(
            ClientMsg::parse(&[&h[..], b"a", b"b"]),
            Err((
                Some(3),
                WireError::FrameCount {
                    kind: kind::REQUEST,
                    want: 4,
                    got: 3
                }
            ))
        );
        let long = [b'x'; MAX_NAME + 1];
        assert_eq!(
            ClientMsg::parse(&[&h[..], &long, b"c", b""]),
            Err((Some(3), WireError::BadName))
        );
        assert_eq!(
            ClientMsg::parse(&[&h[..], b"", b"c", b""]),
            Err((Some(3), WireError::BadName))
        );
        assert_eq!(
            ClientMsg::parse(&[&h[..], &[0xff][..], b"c", b""]),
            Err((Some(3), WireError::BadName))
        );
        let resp = header(kind::RESPONSE, 0, 0, 3);
        assert_eq!(
            ClientMsg::parse(&[&resp[..]]),
            Err((Some(3), WireError::Kind(kind::RESPONSE)))
        );
    }

    #[test]
    fn server_messages_round_trip() {
        let h = header(kind::ACK, 0, 0, 4);
        let c = 12u32.to_le_bytes();
        assert_eq!(
            ServerMsg::parse(&[&h[..], &c]),
            Ok(ServerMsg::Ack { id: 4, count: 12 })
        );
        assert_eq!(
            ServerMsg::parse(&[&h[..], b"abc"]),
            Err(WireError::BadArgument)
        );
        let h = header(kind::ERROR, 0, 2, 5);
        assert_eq!(
            ServerMsg::parse(&[&h[..], b"no"]),
            Ok(ServerMsg::Error {
                id: 5,
                code: ErrorCode::UnknownApplication,
                message: b"no"
            })
        );
        let h = header(kind::WELCOME, 0, 0, 6);
        let s = session(1, 2);
        assert_eq!(
            ServerMsg::parse(&[&h[..], &s]),
            Ok(ServerMsg::Welcome {
                id: 6,
                session: 0x0000_0002_0000_0001
            })
        );
        let h = header(kind::MESSAGE, FLAG_JSON, 0, 0);
        assert_eq!(
            ServerMsg::parse(&[&h[..], b"a", b"c", b"1"]),
            Ok(ServerMsg::Message {
                app: "a",
                channel: "c",
                encoding: Encoding::Json,
                payload: b"1"
            })
        );
        for b in 0..=255u8 {
            assert_eq!(ErrorCode::from_byte(b).to_byte(), b);
        }
    }

    /// Arbitrary frames (a fixed-seed xorshift) never panic either parser, and whatever
    /// parses as a client message has names within the limits.
    #[test]
    fn arbitrary_frames_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut bufs = [[0u8; 80]; 5];
        // Miri runs this too, a thousand times slower: a sample there.
        let rounds = if cfg!(miri) { 300 } else { 20_000 };
        for _ in 0..rounds {
            let n = (next() % 6) as usize;
            let mut lens = [0usize; 5];
            for (b, len) in bufs.iter_mut().zip(lens.iter_mut()) {
                *len = (next() % 81) as usize;
                for byte in b.iter_mut() {
                    *byte = next() as u8;
                }
                // Often a valid header, so the later checks are reached.
                if next() % 2 == 0 {
                    b[0] = VERSION;
                    b[1] = [
                        kind::REQUEST,
                        kind::HELLO,
                        kind::ACK,
                        kind::MESSAGE,
                        kind::WELCOME,
                    ][(next() % 5) as usize];
                    b[2] &= FLAG_JSON;
                    b[3] = 0;
                    *len = if next() % 2 == 0 { HEADER_LEN } else { *len };
                }
            }
            let frames: [&[u8]; 5] = core::array::from_fn(|i| &bufs[i][..lens[i]]);
            if let Ok(m) = ClientMsg::parse(&frames[..n]) {
                assert!(m.app.len() <= MAX_NAME && m.channel.len() <= MAX_NAME);
            }
            let _ = ServerMsg::parse(&frames[..n]);
        }
    }
}
