//! The Majordomo Protocol's commands as typed values: decoded from a borrowed list of frames
//! and encoded back into one, with an error (never a panic) for any malformed list.
//!
//! Two versions are spoken, because both are in use:
//! - MDP/0.1 (rfc.zeromq.org spec 7, `MDPC01`/`MDPW01`), what the ZeroMQ guide's Majordomo
//!   examples speak: every command starts with an empty frame (a REQ socket's delimiter), and a
//!   worker answers with one REPLY;
//! - MDP/0.2 (rfc.zeromq.org spec 18, `MDPC02`/`MDPW02`): no leading empty frame, the command
//!   is a one-byte frame on the client side too, and a request may be answered by any number of
//!   PARTIAL commands and one FINAL.
//!
//! The frames are those after the ROUTER's routing-id frame (the spec shows them so too). A
//! body is the tail of the input list, never copied. MDP/0.1's REPLY is decoded as
//! [`WorkerCommand::Final`] / [`ClientCommand::Final`], the one answer it has.
//!
//! | command (0.2)  | frames                                                   |
//! |----------------|----------------------------------------------------------|
//! | C: REQUEST     | `"MDPC02"`, `0x01`, service, body (1 or more)            |
//! | B: PARTIAL     | `"MDPC02"`, `0x02`, service, body (1 or more)            |
//! | B: FINAL       | `"MDPC02"`, `0x03`, service, body (1 or more)            |
//! | W: READY       | `"MDPW02"`, `0x01`, service                              |
//! | B: REQUEST     | `"MDPW02"`, `0x02`, client address, `""`, body (1+)      |
//! | W: PARTIAL     | `"MDPW02"`, `0x03`, client address, `""`, body (1+)      |
//! | W: FINAL       | `"MDPW02"`, `0x04`, client address, `""`, body (1+)      |
//! | HEARTBEAT      | `"MDPW02"`, `0x05`                                       |
//! | DISCONNECT     | `"MDPW02"`, `0x06`                                       |
//!
//! MDP/0.1 puts `""` before the header, has no command frame on the client side (REQUEST and
//! REPLY are both `"", "MDPC01", service, body`), and numbers the worker commands READY 1,
//! REQUEST 2, REPLY 3, HEARTBEAT 4, DISCONNECT 5.
//!
//! ```
//! use ringwire_core::broker::mdp::{self, Version, WorkerCommand};
//!
//! let frames: [&[u8]; 3] = [b"MDPW02", &[0x01], b"echo"];
//! let (v, cmd) = mdp::decode_worker(&frames).unwrap();
//! assert_eq!(v, Version::V0_2);
//! assert_eq!(cmd, WorkerCommand::Ready { service: b"echo" });
//!
//! let mut out: [&[u8]; 8] = [&[]; 8];
//! let n = cmd.encode(v, &mut out).unwrap();
//! assert_eq!(&out[..n], &frames[..]);
//! ```

use core::fmt;

/// MDP/0.1 client header.
pub const MDPC01: &[u8] = b"MDPC01";
/// MDP/0.1 worker header.
pub const MDPW01: &[u8] = b"MDPW01";
/// MDP/0.2 client header.
pub const MDPC02: &[u8] = b"MDPC02";
/// MDP/0.2 worker header.
pub const MDPW02: &[u8] = b"MDPW02";

/// The empty frame (an envelope delimiter).
const EMPTY: &[u8] = &[];

/// The command-byte frames, so encoded commands can borrow them for any lifetime.
const CMD: [&[u8]; 7] = [&[0], &[1], &[2], &[3], &[4], &[5], &[6]];

/// A version of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Version {
    /// MDP/0.1 (spec 7).
    V0_1,
    /// MDP/0.2 (spec 18).
    V0_2,
}

/// Why a list of frames is not a valid command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MdpError {
    /// The list does not start with a known protocol header.
    NotMdp,
    /// The command frame is not one byte.
    BadCommandFrame,
    /// The command byte names no command of this version and side.
    UnknownCommand(u8),
    /// Fewer frames than the command needs (a missing body included).
    TooFewFrames,
    /// More frames than the command has.
    TooManyFrames,
    /// The client address is not followed by an empty delimiter frame.
    MissingDelimiter,
    /// The command does not exist in this version (PARTIAL in MDP/0.1).
    NotInVersion,
    /// The output list is too short for the encoded command.
    OutputTooSmall,
}

impl fmt::Display for MdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MdpError::NotMdp => f.write_str("not a Majordomo command (no MDPC0x/MDPW0x header)"),
            MdpError::BadCommandFrame => f.write_str("Majordomo command frame is not one byte"),
            MdpError::UnknownCommand(c) => write!(f, "unknown Majordomo command 0x{c:02x}"),
            MdpError::TooFewFrames => f.write_str("Majordomo command has too few frames"),
            MdpError::TooManyFrames => f.write_str("Majordomo command has too many frames"),
            MdpError::MissingDelimiter => {
                f.write_str("Majordomo client address not followed by an empty frame")
            }
            MdpError::NotInVersion => f.write_str("command does not exist in this MDP version"),
            MdpError::OutputTooSmall => f.write_str("output frame list too short"),
        }
    }
}

impl core::error::Error for MdpError {}

/// A command of MDP/Client (between a client and the broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCommand<'a, F> {
    /// Client to broker: a request for `service`.
    Request {
        /// The service name.
        service: &'a [u8],
        /// The request body (at least one frame).
        body: &'a [F],
    },
    /// Broker to client (0.2 only): one of several replies; more follow.
    Partial {
        /// The service name.
        service: &'a [u8],
        /// The reply body (at least one frame).
        body: &'a [F],
    },
    /// Broker to client: the last (0.1: the only) reply.
    Final {
        /// The service name.
        service: &'a [u8],
        /// The reply body (at least one frame).
        body: &'a [F],
    },
}

/// A command of MDP/Worker (between a worker and the broker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerCommand<'a, F> {
    /// Worker to broker: it serves `service`.
    Ready {
        /// The service name.
        service: &'a [u8],
    },
    /// Broker to worker: a request from `client`.
    Request {
        /// The client address (echoed in the reply).
        client: &'a [u8],
        /// The request body (at least one frame).
        body: &'a [F],
    },
    /// Worker to broker (0.2 only): a partial reply; more follow.
    Partial {
        /// The client address from the request.
        client: &'a [u8],
        /// The reply body (at least one frame).
        body: &'a [F],
    },
    /// Worker to broker: the last (0.1: the only) reply to the request.
    Final {
        /// The client address from the request.
        client: &'a [u8],
        /// The reply body (at least one frame).
        body: &'a [F],
    },
    /// Either way: the peer is alive.
    Heartbeat,
    /// Either way: the logical connection ends.
    Disconnect,
}

fn one_byte(frame: &[u8]) -> Result<u8, MdpError> {
    match frame {
        [c] => Ok(*c),
        _ => Err(MdpError::BadCommandFrame),
    }
}

/// Strips the version's header (`""` + header for 0.1, header for 0.2); returns the version
/// and the frames after it.
fn header<'a, F: AsRef<[u8]>>(
    frames: &'a [F],
    v01: &[u8],
    v02: &[u8],
) -> Result<(Version, &'a [F]), MdpError> {
    match frames {
        [first, rest @ ..] if first.as_ref() == v02 => Ok((Version::V0_2, rest)),
        [first, second, rest @ ..] if first.as_ref().is_empty() && second.as_ref() == v01 => {
            Ok((Version::V0_1, rest))
        }
        _ => Err(MdpError::NotMdp),
    }
}

/// Decodes an MDP/Client command (either direction).
pub fn decode_client<F: AsRef<[u8]>>(
    frames: &[F],
) -> Result<(Version, ClientCommand<'_, F>), MdpError> {
    let (version, rest) = header(frames, MDPC01, MDPC02)?;
    let (kind, rest) = match version {
        // 0.1 has no command frame: REQUEST and REPLY share one layout.
        Version::V0_1 => (1, rest),
        Version::V0_2 => {
            let (c, rest) = rest.split_first().ok_or(MdpError::TooFewFrames)?;
            (one_byte(c.as_ref())?, rest)
        }
    };
    let (service, body) = rest.split_first().ok_or(MdpError::TooFewFrames)?;
    if body.is_empty() {
        return Err(MdpError::TooFewFrames);
    }
    let service = service.as_ref();
    let cmd = match kind {
        1 => ClientCommand::Request { service, body },
        2 => ClientCommand::Partial { service, body },
        3 => ClientCommand::Final { service, body },
        c => return Err(MdpError::UnknownCommand(c)),
    };
    Ok((version, cmd))
}

/// Decodes an MDP/Worker command (either direction).
pub fn decode_worker<F: AsRef<[u8]>>(
    frames: &[F],
) -> Result<(Version, WorkerCommand<'_, F>), MdpError> {
    let (version, rest) = header(frames, MDPW01, MDPW02)?;
    let (c, rest) = rest.split_first().ok_or(MdpError::TooFewFrames)?;
    let c = one_byte(c.as_ref())?;
    // Normalise to the 0.2 numbering: 1 READY, 2 REQUEST, 3 PARTIAL, 4 FINAL, 5 HB, 6 DISC.
    let kind = match (version, c) {
        (Version::V0_1, 1 | 2) => c,
        (Version::V0_1, 3..=5) => c + 1,
        (Version::V0_2, 1..=6) => c,
        _ => return Err(MdpError::UnknownCommand(c)),
    };
    let exact = |n: usize| match rest.len() {
        l if l < n => Err(MdpError::TooFewFrames),
        l if l > n => Err(MdpError::TooManyFrames),
        _ => Ok(()),
    };
    let cmd = match kind {
        1 => {
            exact(1)?;
            WorkerCommand::Ready {
                service: rest[0].as_ref(),
            }
        }
        5 => {
            exact(0)?;
            WorkerCommand::Heartbeat
        }
        6 => {
            exact(0)?;
            WorkerCommand::Disconnect
        }
        _ => {
            let [client, delimiter, body @ ..] = rest else {
                return Err(MdpError::TooFewFrames);
            };
            if !delimiter.as_ref().is_empty() {
                return Err(MdpError::MissingDelimiter);
            }
            if body.is_empty() {
                return Err(MdpError::TooFewFrames);
            }
            let client = client.as_ref();
            match kind {
                2 => WorkerCommand::Request { client, body },
                3 => WorkerCommand::Partial { client, body },
                _ => WorkerCommand::Final { client, body },
            }
        }
    };
    Ok((version, cmd))
}

/// Appends frames to an output list, failing without a partial write.
struct Out<'o, 'a> {
    out: &'o mut [&'a [u8]],
    n: usize,
}

impl<'a> Out<'_, 'a> {
    fn fits(&self, count: usize) -> Result<(), MdpError> {
        if self.out.len() < count {
            Err(MdpError::OutputTooSmall)
        } else {
            Ok(())
        }
    }

    fn push(&mut self, frame: &'a [u8]) {
        self.out[self.n] = frame;
        self.n += 1;
    }

    fn body<F: AsRef<[u8]>>(&mut self, body: &'a [F]) {
        for f in body {
            self.push(f.as_ref());
        }
    }
}

impl<'a, F: AsRef<[u8]>> ClientCommand<'a, F> {
    /// Writes the command's frames into `out` (borrowing from the command and static
    /// constants); returns how many. PARTIAL has no MDP/0.1 form.
    pub fn encode(&self, version: Version, out: &mut [&'a [u8]]) -> Result<usize, MdpError> {
        let (kind, service, body) = match *self {
            ClientCommand::Request { service, body } => (1, service, body),
            ClientCommand::Partial { service, body } => (2, service, body),
            ClientCommand::Final { service, body } => (3, service, body),
        };
        let mut o = Out { out, n: 0 };
        match version {
            Version::V0_1 => {
                if kind == 2 {
                    return Err(MdpError::NotInVersion);
                }
                o.fits(3 + body.len())?;
                o.push(EMPTY);
                o.push(MDPC01);
            }
            Version::V0_2 => {
                o.fits(3 + body.len())?;
                o.push(MDPC02);
                o.push(CMD[kind]);
            }
        }
        o.push(service);
        o.body(body);
        Ok(o.n)
    }
}

impl<'a, F: AsRef<[u8]>> WorkerCommand<'a, F> {
    /// Writes the command's frames into `out`; returns how many. PARTIAL has no MDP/0.1 form.
    pub fn encode(&self, version: Version, out: &mut [&'a [u8]]) -> Result<usize, MdpError> {
        // The 0.2 command byte, and what follows it: a service, or an address and a body.
        let (kind, service, routed) = match *self {
            WorkerCommand::Ready { service } => (1, Some(service), None),
            WorkerCommand::Request { client, body } => (2, None, Some((client, body))),
            WorkerCommand::Partial { client, body } => (3, None, Some((client, body))),
            WorkerCommand::Final { client, body } => (4, None, Some((client, body))),
            WorkerCommand::Heartbeat => (5, None, None),
            WorkerCommand::Disconnect => (6, None, None),
        };
        let code = match version {
            Version::V0_2 => kind,
            Version::V0_1 if kind == 3 => return Err(MdpError::NotInVersion),
            Version::V0_1 if kind > 3 => kind - 1,
            Version::V0_1 => kind,
        };
        let head = if version == Version::V0_1 { 3 } else { 2 };
        let extra = match (service, routed) {
            (Some(_), _) => 1,
            (None, Some((_, body))) => 2 + body.len(),
            (None, None) => 0,
        };
        let mut o = Out { out, n: 0 };
        o.fits(head + extra)?;
        if version == Version::V0_1 {
            o.push(EMPTY);
            o.push(MDPW01);
        } else {
            o.push(MDPW02);
        }
        o.push(CMD[code]);
        if let Some(service) = service {
            o.push(service);
        }
        if let Some((client, body)) = routed {
            o.push(client);
            o.push(EMPTY);
            o.body(body);
        }
        Ok(o.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    type Frames<'a> = &'a [&'a [u8]];

    fn enc_w(cmd: WorkerCommand<'_, &[u8]>, v: Version) -> Vec<Vec<u8>> {
        let mut out: [&[u8]; 16] = [&[]; 16];
        let n = cmd.encode(v, &mut out).unwrap();
        out[..n].iter().map(|f| f.to_vec()).collect()
    }

    fn enc_c(cmd: ClientCommand<'_, &[u8]>, v: Version) -> Vec<Vec<u8>> {
        let mut out: [&[u8]; 16] = [&[]; 16];
        let n = cmd.encode(v, &mut out).unwrap();
        out[..n].iter().map(|f| f.to_vec()).collect()
    }

    fn owned(frames: Frames<'_>) -> Vec<Vec<u8>> {
        frames.iter().map(|f| f.to_vec()).collect()
    }

    /// Spec 18's layouts, byte for byte, both ways.
    #[test]
    fn mdp02_worker_golden() {
        let body: &[&[u8]] = &[b"hello", b"world"];
        let cases: [(Frames<'_>, WorkerCommand<'_, &[u8]>); 6] = [
            (
                &[b"MDPW02", &[0x01], b"echo"],
                WorkerCommand::Ready { service: b"echo" },
            ),
            (
                &[
                    b"MDPW02",
                    &[0x02],
                    b"\x00\x6b\x8b\x45\x67",
                    b"",
                    b"hello",
                    b"world",
                ],
                WorkerCommand::Request {
                    client: b"\x00\x6b\x8b\x45\x67",
                    body,
                },
            ),
            (
                &[b"MDPW02", &[0x03], b"C1", b"", b"hello", b"world"],
                WorkerCommand::Partial {
                    client: b"C1",
                    body,
                },
            ),
            (
                &[b"MDPW02", &[0x04], b"C1", b"", b"hello", b"world"],
                WorkerCommand::Final {
                    client: b"C1",
                    body,
                },
            ),
            (&[b"MDPW02", &[0x05]], WorkerCommand::Heartbeat),
            (&[b"MDPW02", &[0x06]], WorkerCommand::Disconnect),
        ];
        for (frames, cmd) in cases {
            assert_eq!(decode_worker(frames), Ok((Version::V0_2, cmd)));
            assert_eq!(enc_w(cmd, Version::V0_2), owned(frames));
        }
    }

    /// Spec 7's layouts (MDP/0.1, the guide's): leading empty frame, other command numbers.
    #[test]
    fn mdp01_worker_golden() {
        let body: &[&[u8]] = &[b"hi"];
        let cases: [(Frames<'_>, WorkerCommand<'_, &[u8]>); 5] = [
            (
                &[b"", b"MDPW01", &[0x01], b"echo"],
                WorkerCommand::Ready { service: b"echo" },
            ),
            (
                &[b"", b"MDPW01", &[0x02], b"C", b"", b"hi"],
                WorkerCommand::Request { client: b"C", body },
            ),
            (
                &[b"", b"MDPW01", &[0x03], b"C", b"", b"hi"],
                WorkerCommand::Final { client: b"C", body },
            ),
            (&[b"", b"MDPW01", &[0x04]], WorkerCommand::Heartbeat),
            (&[b"", b"MDPW01", &[0x05]], WorkerCommand::Disconnect),
        ];
        for (frames, cmd) in cases {
            assert_eq!(decode_worker(frames), Ok((Version::V0_1, cmd)));
            assert_eq!(enc_w(cmd, Version::V0_1), owned(frames));
        }
        let mut out: [&[u8]; 8] = [&[]; 8];
        assert_eq!(
            WorkerCommand::Partial { client: b"C", body }.encode(Version::V0_1, &mut out),
            Err(MdpError::NotInVersion)
        );
        let f: Frames<'_> = &[b"", b"MDPW01", &[0x06]];
        assert_eq!(decode_worker(f), Err(MdpError::UnknownCommand(6)));
    }

    #[test]
    fn client_golden() {
        let body: &[&[u8]] = &[b"ping"];
        let f: Frames<'_> = &[b"MDPC02", &[0x01], b"echo", b"ping"];
        let req = ClientCommand::Request {
            service: b"echo",
            body,
        };
        assert_eq!(decode_client(f), Ok((Version::V0_2, req)));
        assert_eq!(enc_c(req, Version::V0_2), owned(f));
        let partial = ClientCommand::Partial {
            service: b"echo",
            body,
        };
        let f: Frames<'_> = &[b"MDPC02", &[0x02], b"echo", b"ping"];
        assert_eq!(enc_c(partial, Version::V0_2), owned(f));
        assert_eq!(decode_client(f), Ok((Version::V0_2, partial)));
        let fin = ClientCommand::Final {
            service: b"echo",
            body,
        };
        let f: Frames<'_> = &[b"MDPC02", &[0x03], b"echo", b"ping"];
        assert_eq!(enc_c(fin, Version::V0_2), owned(f));
        // MDP/0.1: one layout for REQUEST and REPLY.
        let f: Frames<'_> = &[b"", b"MDPC01", b"echo", b"ping"];
        assert_eq!(decode_client(f), Ok((Version::V0_1, req)));
        assert_eq!(enc_c(req, Version::V0_1), owned(f));
        assert_eq!(enc_c(fin, Version::V0_1), owned(f));
    }

    /// The READY of spec 18 on a ZMTP wire (after the ROUTER's identity frame): three short
    /// frames, MORE on all but the last.
    #[test]
    fn mdp02_ready_on_the_wire() {
        let mut out: [&[u8]; 4] = [&[]; 4];
        let ready: WorkerCommand<'_, &[u8]> = WorkerCommand::Ready { service: b"echo" };
        let n = ready.encode(Version::V0_2, &mut out).unwrap();
        let mut wire = [0u8; 32];
        let mut at = 0;
        for (i, f) in out[..n].iter().enumerate() {
            at += crate::zmtp::encode_frame(&mut wire[at..], i + 1 < n, f).unwrap();
        }
        assert_eq!(
            &wire[..at],
            b"\x01\x06MDPW02\x01\x01\x01\x00\x04echo".as_slice()
        );
    }

    #[test]
    fn malformed_is_an_error() {
        let bad: [(Frames<'_>, MdpError); 12] = [
            (&[], MdpError::NotMdp),
            (&[b"MDPW03", &[1], b"s"], MdpError::NotMdp),
            (&[b"MDPW01", &[1], b"s"], MdpError::NotMdp),
            (&[b"MDPW02"], MdpError::TooFewFrames),
            (&[b"MDPW02", &[1, 2], b"s"], MdpError::BadCommandFrame),
            (&[b"MDPW02", &[], b"s"], MdpError::BadCommandFrame),
            (&[b"MDPW02", &[7]], MdpError::UnknownCommand(7)),
            (&[b"MDPW02", &[1]], MdpError::TooFewFrames),
            (&[b"MDPW02", &[1], b"s", b"x"], MdpError::TooManyFrames),
            (&[b"MDPW02", &[5], b"x"], MdpError::TooManyFrames),
            (
                &[b"MDPW02", &[4], b"C", b"x", b"b"],
                MdpError::MissingDelimiter,
            ),
            (&[b"MDPW02", &[4], b"C", b""], MdpError::TooFewFrames),
        ];
        for (f, e) in bad {
            assert_eq!(decode_worker(f).map(|_| ()), Err(e), "{f:?}");
        }
        let bad: [(Frames<'_>, MdpError); 5] = [
            (&[b"MDPC02", &[1], b"echo"], MdpError::TooFewFrames),
            (
                &[b"MDPC02", &[4], b"echo", b"x"],
                MdpError::UnknownCommand(4),
            ),
            (&[b"MDPC02"], MdpError::TooFewFrames),
            (&[b"", b"MDPC01", b"echo"], MdpError::TooFewFrames),
            (&[b"MDPC01", b"echo", b"x"], MdpError::NotMdp),
        ];
        for (f, e) in bad {
            assert_eq!(decode_client(f).map(|_| ()), Err(e), "{f:?}");
        }
        let mut small: [&[u8]; 3] = [&[]; 3];
        let body: &[&[u8]] = &[b"x"];
        assert_eq!(
            WorkerCommand::Final { client: b"C", body }.encode(Version::V0_2, &mut small),
            Err(MdpError::OutputTooSmall)
        );
    }
}
