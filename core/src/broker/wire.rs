//! The messages a broker receives and sends, for each protocol it speaks, classified from a
//! borrowed frame list (the frames after the ROUTER's routing-id frame) and built as short
//! header lists that the caller sends in front of a body it holds.
//!
//! Workers:
//! - **load-balancing** (the guide's `lbbroker`, a REQ socket): `"", "READY"` once, then
//!   requests arrive as `"", address, "", body…` and replies leave as the same (a REQ socket
//!   adds and strips the leading `""`); it cannot heartbeat while it waits;
//! - **Paranoid Pirate** (spec 6, a DEALER): `0x01` READY and `0x02` HEARTBEAT as one-frame
//!   messages both ways, requests and replies as `address, "", body…`;
//! - **Majordomo** 0.1 or 0.2 (see [`super::mdp`]), with a service name.
//!
//! Clients: a plain request is `"", body…` from a REQ socket (or `body…` from a DEALER); a
//! Majordomo request is an MDP/Client REQUEST. The reply goes back in the same form.
//!
//! The address frame the broker puts in a worker's request is a [`RequestId`]'s 8-byte token,
//! not the client's identity: the worker echoes it, and the broker finds the request from it.

use core::fmt;

use super::RequestId;
use super::mdp::{self, ClientCommand, MdpError, Version, WorkerCommand};

/// The load-balancing worker's READY body.
pub const LB_READY: &[u8] = b"READY";
/// Paranoid Pirate READY (spec 6).
pub const PPP_READY: &[u8] = &[0x01];
/// Paranoid Pirate HEARTBEAT (spec 6).
pub const PPP_HEARTBEAT: &[u8] = &[0x02];

const EMPTY: &[u8] = &[];

/// How a worker talks to the broker (learnt from its READY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WorkerProtocol {
    /// The guide's load-balancing worker on a REQ socket (no heartbeats).
    LoadBalancing,
    /// Paranoid Pirate (spec 6).
    ParanoidPirate,
    /// Majordomo of this version.
    Majordomo(Version),
}

impl WorkerProtocol {
    /// Whether workers of this protocol heartbeat (and may be expired for silence).
    pub const fn heartbeats(self) -> bool {
        !matches!(self, WorkerProtocol::LoadBalancing)
    }
}

/// How a client talks to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientProtocol {
    /// A bare request body; the reply is a bare body.
    Plain,
    /// An MDP/Client REQUEST of this version.
    Majordomo(Version),
}

/// What a reply to a client must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClientEnvelope {
    /// The request began with an empty delimiter frame (a REQ socket): the reply must too.
    pub delimited: bool,
    /// The client's protocol.
    pub protocol: ClientProtocol,
}

/// A client's request, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    /// How the reply must be framed.
    pub envelope: ClientEnvelope,
    /// The service asked for (empty for a plain request).
    pub service: &'a [u8],
    /// The body is `frames[body_from..]` (at least one frame).
    pub body_from: usize,
}

/// A worker's message, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerMessage<'a> {
    /// The worker is ready for `service` (empty unless Majordomo).
    Ready {
        /// Its protocol.
        protocol: WorkerProtocol,
        /// The service it serves.
        service: &'a [u8],
    },
    /// A reply to the request whose token is `token`; the body is `frames[body_from..]`.
    Reply {
        /// Its protocol.
        protocol: WorkerProtocol,
        /// The address frame echoed from the request.
        token: &'a [u8],
        /// Where the body starts.
        body_from: usize,
        /// False for a Majordomo PARTIAL (more replies follow).
        last: bool,
    },
    /// A heartbeat.
    Heartbeat {
        /// Its protocol.
        protocol: WorkerProtocol,
    },
    /// Majordomo DISCONNECT: the worker leaves.
    Disconnect {
        /// Its Majordomo version.
        version: Version,
    },
    /// A valid Majordomo command a worker must not send (REQUEST): the spec says to answer
    /// with DISCONNECT.
    Unexpected {
        /// Its Majordomo version.
        version: Version,
    },
}

impl WorkerMessage<'_> {
    /// The protocol the message is in.
    pub fn protocol(&self) -> WorkerProtocol {
        match *self {
            WorkerMessage::Ready { protocol, .. }
            | WorkerMessage::Reply { protocol, .. }
            | WorkerMessage::Heartbeat { protocol } => protocol,
            WorkerMessage::Disconnect { version } | WorkerMessage::Unexpected { version } => {
                WorkerProtocol::Majordomo(version)
            }
        }
    }
}

/// Why a message could not be classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// No frames, or no body frame.
    NoBody,
    /// The address frame is not followed by an empty delimiter.
    MissingDelimiter,
    /// Not a message of any worker protocol.
    UnknownWorkerMessage,
    /// A Majordomo header with a malformed command.
    Mdp(MdpError),
    /// A Majordomo command the sender's side never sends (a client's FINAL, a broker's
    /// READY).
    UnexpectedCommand,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::NoBody => f.write_str("message has no body frame"),
            WireError::MissingDelimiter => f.write_str("address frame not followed by \"\""),
            WireError::UnknownWorkerMessage => f.write_str("not a message of any worker protocol"),
            WireError::Mdp(e) => write!(f, "malformed Majordomo command: {e}"),
            WireError::UnexpectedCommand => {
                f.write_str("a Majordomo command the sender's side never sends")
            }
        }
    }
}

impl core::error::Error for WireError {}

impl From<MdpError> for WireError {
    fn from(e: MdpError) -> Self {
        WireError::Mdp(e)
    }
}

/// Classifies a message from a client (the frames after its routing id).
pub fn decode_client_message<F: AsRef<[u8]>>(frames: &[F]) -> Result<ClientRequest<'_>, WireError> {
    let delimited = frames.first().is_some_and(|f| f.as_ref().is_empty());
    let rest = if delimited { &frames[1..] } else { frames };
    let mdp = match rest.first().map(AsRef::as_ref) {
        Some(h) if h == mdp::MDPC01 && delimited => Some(mdp::decode_client(frames)?),
        Some(h) if h == mdp::MDPC02 => Some(mdp::decode_client(rest)?),
        _ => None,
    };
    match mdp {
        Some((version, ClientCommand::Request { service, body })) => Ok(ClientRequest {
            envelope: ClientEnvelope {
                delimited,
                protocol: ClientProtocol::Majordomo(version),
            },
            service,
            body_from: frames.len() - body.len(),
        }),
        Some(_) => Err(WireError::UnexpectedCommand),
        None if rest.is_empty() => Err(WireError::NoBody),
        None => Ok(ClientRequest {
            envelope: ClientEnvelope {
                delimited,
                protocol: ClientProtocol::Plain,
            },
            service: &[],
            body_from: frames.len() - rest.len(),
        }),
    }
}

/// `address, "", body…` (at least one body frame) at `frames[at..]`.
fn routed<F: AsRef<[u8]>>(frames: &[F], at: usize) -> Result<(&[u8], usize), WireError> {
    match frames.get(at..) {
        Some([token, delimiter, _, ..]) if delimiter.as_ref().is_empty() => {
            Ok((token.as_ref(), at + 2))
        }
        Some([_, _, _, ..]) => Err(WireError::MissingDelimiter),
        _ => Err(WireError::NoBody),
    }
}

/// Classifies a message from a worker (the frames after its routing id).
pub fn decode_worker_message<F: AsRef<[u8]>>(frames: &[F]) -> Result<WorkerMessage<'_>, WireError> {
    let first = frames.first().map(AsRef::as_ref).ok_or(WireError::NoBody)?;
    let second = frames.get(1).map(AsRef::as_ref);
    let is_mdp = first == mdp::MDPW02 || (first.is_empty() && second == Some(mdp::MDPW01));
    if is_mdp {
        let (version, cmd) = mdp::decode_worker(frames)?;
        let protocol = WorkerProtocol::Majordomo(version);
        let reply = |client, body: &[F], last| WorkerMessage::Reply {
            protocol,
            token: client,
            body_from: frames.len() - body.len(),
            last,
        };
        return Ok(match cmd {
            WorkerCommand::Ready { service } => WorkerMessage::Ready { protocol, service },
            WorkerCommand::Partial { client, body } => reply(client, body, false),
            WorkerCommand::Final { client, body } => reply(client, body, true),
            WorkerCommand::Heartbeat => WorkerMessage::Heartbeat { protocol },
            WorkerCommand::Disconnect => WorkerMessage::Disconnect { version },
            WorkerCommand::Request { .. } => WorkerMessage::Unexpected { version },
        });
    }
    if first.is_empty() {
        let protocol = WorkerProtocol::LoadBalancing;
        if frames.len() == 2 && second == Some(LB_READY) {
            return Ok(WorkerMessage::Ready {
                protocol,
                service: &[],
            });
        }
        let (token, body_from) = routed(frames, 1)?;
        return Ok(WorkerMessage::Reply {
            protocol,
            token,
            body_from,
            last: true,
        });
    }
    let protocol = WorkerProtocol::ParanoidPirate;
    if frames.len() == 1 {
        return match first {
            PPP_READY => Ok(WorkerMessage::Ready {
                protocol,
                service: &[],
            }),
            PPP_HEARTBEAT => Ok(WorkerMessage::Heartbeat { protocol }),
            _ => Err(WireError::UnknownWorkerMessage),
        };
    }
    let (token, body_from) = routed(frames, 0)?;
    Ok(WorkerMessage::Reply {
        protocol,
        token,
        body_from,
        last: true,
    })
}

/// Up to five frames to send in front of a body (or alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    frames: [&'a [u8]; 5],
    len: usize,
}

impl<'a> Header<'a> {
    pub(super) fn of(parts: &[&'a [u8]]) -> Self {
        let mut frames = [EMPTY; 5];
        let len = parts.len().min(5);
        frames[..len].copy_from_slice(&parts[..len]);
        Header { frames, len }
    }

    /// The frames.
    pub fn as_slice(&self) -> &[&'a [u8]] {
        &self.frames[..self.len]
    }
}

/// The frames that go before a request's body to a worker; `token` is
/// [`RequestId::token`]'s.
pub fn request_header(protocol: WorkerProtocol, token: &[u8; 8]) -> Header<'_> {
    match protocol {
        WorkerProtocol::LoadBalancing => Header::of(&[EMPTY, token, EMPTY]),
        WorkerProtocol::ParanoidPirate => Header::of(&[token, EMPTY]),
        WorkerProtocol::Majordomo(Version::V0_1) => {
            Header::of(&[EMPTY, mdp::MDPW01, &[0x02], token, EMPTY])
        }
        WorkerProtocol::Majordomo(Version::V0_2) => {
            Header::of(&[mdp::MDPW02, &[0x02], token, EMPTY])
        }
    }
}

/// The heartbeat message to a worker (empty for the load-balancing protocol, which has none).
pub fn heartbeat_message(protocol: WorkerProtocol) -> Header<'static> {
    match protocol {
        WorkerProtocol::LoadBalancing => Header::of(&[]),
        WorkerProtocol::ParanoidPirate => Header::of(&[PPP_HEARTBEAT]),
        WorkerProtocol::Majordomo(Version::V0_1) => Header::of(&[EMPTY, mdp::MDPW01, &[0x04]]),
        WorkerProtocol::Majordomo(Version::V0_2) => Header::of(&[mdp::MDPW02, &[0x05]]),
    }
}

/// The Majordomo DISCONNECT message to a worker.
pub fn disconnect_message(version: Version) -> Header<'static> {
    match version {
        Version::V0_1 => Header::of(&[EMPTY, mdp::MDPW01, &[0x05]]),
        Version::V0_2 => Header::of(&[mdp::MDPW02, &[0x06]]),
    }
}

/// The frames that go before a reply body to a client: `last` is false for a partial reply.
/// `None` when the client cannot receive a partial reply (MDP/0.1 and plain clients get only
/// the final one).
pub fn reply_header(envelope: ClientEnvelope, service: &[u8], last: bool) -> Option<Header<'_>> {
    let lead: &[&[u8]] = if envelope.delimited { &[EMPTY] } else { &[] };
    let mut h = Header::of(lead);
    let mut push = |f| {
        h.frames[h.len] = f;
        h.len += 1;
    };
    match envelope.protocol {
        ClientProtocol::Plain | ClientProtocol::Majordomo(Version::V0_1) if !last => return None,
        ClientProtocol::Plain => {}
        ClientProtocol::Majordomo(Version::V0_1) => {
            push(mdp::MDPC01);
            push(service);
        }
        ClientProtocol::Majordomo(Version::V0_2) => {
            push(mdp::MDPC02);
            push(if last { &[0x03] } else { &[0x02] });
            push(service);
        }
    }
    Some(h)
}

impl RequestId {
    /// The 8-byte address frame that stands for this request in a worker's messages.
    pub fn token(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    /// The request a worker's echoed address frame names (`None` unless 8 bytes).
    pub fn from_token(frame: &[u8]) -> Option<RequestId> {
        let bytes: [u8; 8] = frame.try_into().ok()?;
        Some(RequestId(u64::from_le_bytes(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Frames<'a> = &'a [&'a [u8]];

    #[test]
    fn worker_messages_of_each_protocol() {
        let lb = WorkerProtocol::LoadBalancing;
        let ppp = WorkerProtocol::ParanoidPirate;
        let m2 = WorkerProtocol::Majordomo(Version::V0_2);
        let cases: [(Frames<'_>, WorkerMessage<'_>); 8] = [
            (
                &[b"", b"READY"],
                WorkerMessage::Ready {
                    protocol: lb,
                    service: b"",
                },
            ),
            (
                &[b"", b"tok", b"", b"r"],
                WorkerMessage::Reply {
                    protocol: lb,
                    token: b"tok",
                    body_from: 3,
                    last: true,
                },
            ),
            (
                &[&[1]],
                WorkerMessage::Ready {
                    protocol: ppp,
                    service: b"",
                },
            ),
            (&[&[2]], WorkerMessage::Heartbeat { protocol: ppp }),
            (
                &[b"tok", b"", b"r", b"s"],
                WorkerMessage::Reply {
                    protocol: ppp,
                    token: b"tok",
                    body_from: 2,
                    last: true,
                },
            ),
            (
                &[b"MDPW02", &[1], b"echo"],
                WorkerMessage::Ready {
                    protocol: m2,
                    service: b"echo",
                },
            ),
            (
                &[b"MDPW02", &[3], b"tok", b"", b"r"],
                WorkerMessage::Reply {
                    protocol: m2,
                    token: b"tok",
                    body_from: 4,
                    last: false,
                },
            ),
            (
                &[b"MDPW02", &[2], b"tok", b"", b"r"],
                WorkerMessage::Unexpected {
                    version: Version::V0_2,
                },
            ),
        ];
        for (f, m) in cases {
            assert_eq!(decode_worker_message(f), Ok(m), "{f:?}");
        }
        let bad: [(Frames<'_>, WireError); 7] = [
            (&[], WireError::NoBody),
            (&[&[3]], WireError::UnknownWorkerMessage),
            (&[b"", b"READY", b"x", b"y"], WireError::MissingDelimiter),
            (&[b"", b"READY", b"x"], WireError::NoBody),
            (&[b"tok", b"x", b"r"], WireError::MissingDelimiter),
            (&[b"tok", b""], WireError::NoBody),
            (
                &[b"MDPW02", &[9]],
                WireError::Mdp(MdpError::UnknownCommand(9)),
            ),
        ];
        for (f, e) in bad {
            assert_eq!(decode_worker_message(f), Err(e), "{f:?}");
        }
    }

    #[test]
    fn client_messages() {
        let f: Frames<'_> = &[b"", b"hello"];
        let r = decode_client_message(f).unwrap();
        assert_eq!(
            (r.envelope.delimited, r.envelope.protocol),
            (true, ClientProtocol::Plain)
        );
        assert_eq!((r.service, r.body_from), (&b""[..], 1));
        let f: Frames<'_> = &[b"MDPC02", &[1], b"echo", b"a", b"b"];
        let r = decode_client_message(f).unwrap();
        assert_eq!(
            r.envelope.protocol,
            ClientProtocol::Majordomo(Version::V0_2)
        );
        assert_eq!(
            (r.service, r.body_from, r.envelope.delimited),
            (&b"echo"[..], 3, false)
        );
        let f: Frames<'_> = &[b"", b"MDPC01", b"echo", b"a"];
        let r = decode_client_message(f).unwrap();
        assert_eq!(
            r.envelope.protocol,
            ClientProtocol::Majordomo(Version::V0_1)
        );
        assert_eq!((r.service, r.body_from), (&b"echo"[..], 3));
        let f: Frames<'_> = &[b"MDPC02", &[3], b"echo", b"a"];
        assert_eq!(decode_client_message(f), Err(WireError::UnexpectedCommand));
        let f: Frames<'_> = &[b""];
        assert_eq!(decode_client_message(f), Err(WireError::NoBody));
    }

    #[test]
    fn headers() {
        let tok = RequestId(0x0807_0605_0403_0201).token();
        assert_eq!(tok, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(
            RequestId::from_token(&tok),
            Some(RequestId(0x0807_0605_0403_0201))
        );
        assert_eq!(RequestId::from_token(&tok[1..]), None);
        let t: &[u8] = &tok;
        fn same(h: Header<'_>, want: Frames<'_>) {
            assert_eq!(h.as_slice(), want);
        }
        same(
            request_header(WorkerProtocol::LoadBalancing, &tok),
            &[b"", t, b""],
        );
        same(
            request_header(WorkerProtocol::ParanoidPirate, &tok),
            &[t, b""],
        );
        let m2 = WorkerProtocol::Majordomo(Version::V0_2);
        same(request_header(m2, &tok), &[b"MDPW02", &[2], t, b""]);
        let m1 = WorkerProtocol::Majordomo(Version::V0_1);
        same(request_header(m1, &tok), &[b"", b"MDPW01", &[2], t, b""]);
        same(heartbeat_message(WorkerProtocol::LoadBalancing), &[]);
        same(heartbeat_message(WorkerProtocol::ParanoidPirate), &[&[2]]);
        same(heartbeat_message(m2), &[b"MDPW02", &[5]]);
        same(heartbeat_message(m1), &[b"", b"MDPW01", &[4]]);
        same(disconnect_message(Version::V0_2), &[b"MDPW02", &[6]]);
        same(disconnect_message(Version::V0_1), &[b"", b"MDPW01", &[5]]);
        let env = |delimited, protocol| ClientEnvelope {
            delimited,
            protocol,
        };
        let plain = env(true, ClientProtocol::Plain);
        same(reply_header(plain, b"", true).unwrap(), &[b""]);
        assert_eq!(reply_header(plain, b"", false), None);
        let dealer = env(false, ClientProtocol::Plain);
        same(reply_header(dealer, b"", true).unwrap(), &[]);
        let c2 = env(false, ClientProtocol::Majordomo(Version::V0_2));
        same(
            reply_header(c2, b"echo", false).unwrap(),
            &[b"MDPC02", &[2], b"echo"],
        );
        same(
            reply_header(c2, b"echo", true).unwrap(),
            &[b"MDPC02", &[3], b"echo"],
        );
        let c1 = env(true, ClientProtocol::Majordomo(Version::V0_1));
        same(
            reply_header(c1, b"echo", true).unwrap(),
            &[b"", b"MDPC01", b"echo"],
        );
        assert_eq!(reply_header(c1, b"echo", false), None);
    }

    /// docs/broker.md's protocol table shows these frames; keep the two in step.
    #[test]
    fn docs_show_the_frames_we_send() {
        const DOC: &str = include_str!("../../../docs/broker.md");
        let tok = [0xAB; 8];
        let render = |frames: &[&[u8]], tail: &str| {
            let mut parts: std::vec::Vec<std::string::String> = frames
                .iter()
                .map(|f| match *f {
                    [] => "\"\"".into(),
                    [b] => std::format!("0x{b:02x}"),
                    f if f == tok => "token".into(),
                    b"service" => "service".into(),
                    f => std::format!("\"{}\"", core::str::from_utf8(f).unwrap()),
                })
                .collect();
            if !tail.is_empty() {
                parts.push(tail.into());
            }
            parts.join(", ")
        };
        let body = "body…";
        let mut want = std::vec::Vec::new();
        for p in [
            WorkerProtocol::LoadBalancing,
            WorkerProtocol::ParanoidPirate,
            WorkerProtocol::Majordomo(Version::V0_1),
            WorkerProtocol::Majordomo(Version::V0_2),
        ] {
            want.push(render(request_header(p, &tok).as_slice(), body));
            if p.heartbeats() {
                want.push(render(heartbeat_message(p).as_slice(), ""));
            }
        }
        for v in [Version::V0_1, Version::V0_2] {
            want.push(render(disconnect_message(v).as_slice(), ""));
            let mut out: [&[u8]; 4] = [&[]; 4];
            let ready: WorkerCommand<'_, &[u8]> = WorkerCommand::Ready {
                service: b"service",
            };
            let n = ready.encode(v, &mut out).unwrap();
            want.push(render(&out[..n], ""));
        }
        want.push(render(&[b"", LB_READY], ""));
        for w in want {
            assert!(
                DOC.contains(&std::format!("`{w}`")),
                "docs/broker.md lacks `{w}`"
            );
        }
    }
}
