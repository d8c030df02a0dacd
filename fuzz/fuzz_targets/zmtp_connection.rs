//! Fuzzes the ZMTP connection machine (`zmtp::Connection`) two ways:
//! 1. arbitrary peer bytes in chunk sizes drawn from the input, with heartbeat ticks
//!    between chunks, some frame bodies taken by the "caller" and accounted with
//!    `on_body_bytes`, and the control queue drained only sometimes: the machine must
//!    never panic, must make progress, must report events in protocol order (one
//!    greeting, then at most one READY, frames only after it, consistent frame offsets),
//!    and must stay failed with the same error after one;
//! 2. a valid session built from the input (a compatible peer's handshake, messages,
//!    SUBSCRIBE and PING commands between them) must come out identically whatever
//!    the chunking, with one PONG echoing each PING's context.
//!
//! Input: `cfg` (bits 0-3: our socket type index, 0x40 as-server, 0x80 heartbeats),
//! `n`, then `n % 16` chunk-size bytes, then the wire bytes (or the session's spec).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::pattern::heartbeat::Heartbeat;
use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::zmtp::{self, Config, Connection, Event, Limits, Tick, Version};

type Conn = Connection<512>;

fn chunks<'a>(data: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = (u8, &'a [u8])> {
    let mut rest = data;
    let mut i = 0;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let s = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(7);
        i += 1;
        let n = (usize::from(s) % 97 + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        rest = b;
        Some((s, a))
    })
}

fn config(cfg: u8) -> Config<'static> {
    let mut c = Config::new(SocketType::ALL[usize::from(cfg & 0x0f) % SocketType::ALL.len()]);
    c.identity = b"fuzz-id";
    c.as_server = cfg & 0x40 != 0;
    c.limits = Limits {
        max_frame: 1 << 16,
        max_message: 1 << 17,
        max_parts: 64,
        max_command: 300,
    };
    if cfg & 0x80 != 0 {
        c.heartbeat = Heartbeat::new(50, 200, 0);
    }
    c
}

/// An event without its borrows, so the machine can be inspected after it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Nothing,
    Greeting(Version),
    Ready(SocketType, Vec<u8>),
    Frame {
        more: bool,
        len: u64,
        offset: u64,
        data: Vec<u8>,
    },
    Subscribe(Vec<u8>),
    Cancel(Vec<u8>),
    Ping,
    Pong(Vec<u8>),
    PeerError,
}

fn seen(e: Option<Event<'_>>) -> Seen {
    match e {
        None => Seen::Nothing,
        Some(Event::Greeting(v)) => Seen::Greeting(v),
        Some(Event::HandshakeDone {
            peer_type,
            identity,
        }) => Seen::Ready(peer_type, identity.to_vec()),
        Some(Event::Frame(p)) => Seen::Frame {
            more: p.more,
            len: p.len,
            offset: p.offset,
            data: p.data.to_vec(),
        },
        Some(Event::Subscribe(p)) => Seen::Subscribe(p.to_vec()),
        Some(Event::Cancel(p)) => Seen::Cancel(p.to_vec()),
        Some(Event::Ping) => Seen::Ping,
        Some(Event::Pong(c)) => Seen::Pong(c.to_vec()),
        Some(Event::PeerError(_)) => Seen::PeerError,
        Some(_) => Seen::Nothing,
    }
}

/// Protocol-order bookkeeping over the events of one connection.
#[derive(Default)]
struct Order {
    greeting: bool,
    ready: bool,
    /// (len, next offset) of the frame being received.
    frame: Option<(u64, u64)>,
    peer_error: bool,
}

impl Order {
    fn check(&mut self, c: &Conn, s: &Seen) {
        assert!(!self.peer_error, "no event after the peer's ERROR");
        match s {
            Seen::Greeting(v) => {
                assert!(!self.greeting, "one greeting");
                self.greeting = true;
                assert_eq!(c.peer_version(), Some(*v));
            }
            Seen::Ready(peer, _) => {
                assert!(
                    self.greeting && !self.ready,
                    "READY once, after the greeting"
                );
                self.ready = true;
                assert!(c.is_ready());
                assert!(c.socket_type().is_compatible(*peer));
                assert_eq!(c.peer_type(), Some(*peer));
            }
            Seen::Frame {
                len, offset, data, ..
            } => {
                assert!(self.ready, "frames only after READY");
                let (flen, next) = self.frame.unwrap_or((*len, 0));
                assert_eq!((flen, next), (*len, *offset), "frame parts in order");
                let end = offset + data.len() as u64;
                assert!(end <= *len);
                self.frame = (end < *len).then_some((*len, end));
                assert_eq!(c.frame_body_left(), len - end);
            }
            Seen::PeerError => {
                self.peer_error = true;
                assert!(!c.is_ready());
            }
            Seen::Nothing => {}
            Seen::Subscribe(_) | Seen::Cancel(_) | Seen::Ping | Seen::Pong(_) => {
                assert!(self.greeting);
                assert!(self.frame.is_none(), "no command inside a frame");
            }
        }
        assert!(c.transmit().len() <= 512);
    }

    /// The caller took `took` body bytes itself.
    fn took(&mut self, took: u64, ended: Option<bool>) {
        if took == 0 {
            return;
        }
        let (len, next) = self.frame.expect("body bytes only inside a frame");
        let end = next + took;
        assert!(end <= len);
        assert_eq!(ended.is_some(), end == len);
        self.frame = (end < len).then_some((len, end));
    }
}

fn raw(cfg: u8, sizes: &[u8], wire: &[u8]) {
    let mut c = Conn::new(config(cfg)).expect("a 7-byte identity fits");
    assert!(c.transmit().len() > 64 && !c.is_ready());
    let mut order = Order::default();
    let mut now = 0u64;
    for (s, piece) in chunks(wire, sizes) {
        now += u64::from(s) * 3;
        match c.on_tick(now) {
            Tick::Transmit => {
                assert!(c.is_ready() && c.speaks_3_1());
                assert!(c.transmit().ends_with(b"\x04\x07\x04PING\x00\x02"));
            }
            Tick::TimedOut | Tick::Idle => {}
        }
        if cfg & 0x80 != 0 {
            assert!(c.next_deadline().is_some());
        }
        if s & 0x10 != 0 {
            let n = c.transmit().len();
            c.advance_transmit(n);
        }
        let mut input = piece;
        let left = c.frame_body_left();
        if left > 0 && s & 0x20 != 0 {
            // Received straight into the caller's buffer, a little beyond the frame.
            let k = input.len().min(left as usize + 2);
            let (took, ended) = c.on_body_bytes(k as u64, now);
            assert!(took <= left && took <= k as u64);
            order.took(took, ended);
            input = &input[took as usize..];
        }
        while !input.is_empty() {
            match c.on_bytes(input, now) {
                Ok((used, event)) => {
                    assert!(used <= input.len());
                    let s = seen(event);
                    assert!(used > 0 || s != Seen::Nothing, "no progress");
                    order.check(&c, &s);
                    input = &input[used..];
                }
                Err(e) => {
                    assert_eq!(c.error(), Some(e));
                    assert_eq!(c.on_bytes(b"\x00", now), Err(e));
                    assert_eq!(c.on_bytes(b"", now), Err(e));
                    assert_eq!(c.frame_body_left(), 0);
                    assert_eq!(c.on_body_bytes(1, now), (0, None));
                    assert!(!c.is_ready());
                    assert!(c.transmit().len() <= 512);
                    return;
                }
            }
        }
    }
}

fn put(wire: &mut Vec<u8>, encode: impl FnOnce(&mut [u8]) -> Result<usize, zmtp::EncodeError>) {
    let mut buf = [0u8; 600];
    let n = encode(&mut buf).expect("fits");
    wire.extend_from_slice(&buf[..n]);
}

fn round_trip(cfg: u8, sizes: &[u8], spec: &[u8]) {
    let config = config(cfg);
    let ours = config.socket_type;
    let Some(peer) = SocketType::ALL.into_iter().find(|&t| ours.is_compatible(t)) else {
        return;
    };
    let version = if cfg & 0x20 != 0 {
        Version::V3_0
    } else {
        Version::V3_1
    };
    let mut wire = Vec::new();
    put(&mut wire, |b| zmtp::encode_greeting(b, version, true));
    put(&mut wire, |b| {
        zmtp::encode_ready(
            b,
            &[
                (b"Socket-Type", peer.name().as_bytes()),
                (b"Identity", b"peer"),
            ],
        )
    });
    let mut want = vec![Seen::Greeting(version), Seen::Ready(peer, b"peer".to_vec())];
    let mut pongs = Vec::new();
    // spec: repeated [kind, len, bytes...]: a frame (MORE from bit 0, +200 bytes from
    // bit 1), a SUBSCRIBE (kind 4) or a PING (kind 8) between messages.
    let mut rest = spec;
    let mut in_message = false;
    while rest.len() >= 2 && want.len() < 40 {
        let (kind, len) = (rest[0], usize::from(rest[1]));
        rest = &rest[2..];
        let bytes: Vec<u8> = (0..len)
            .map(|i| rest.get(i % rest.len().max(1)).copied().unwrap_or(i as u8))
            .collect();
        match kind % 12 {
            4 if !in_message => {
                put(&mut wire, |b| zmtp::encode_subscribe(b, &bytes));
                want.push(Seen::Subscribe(bytes));
            }
            8 if !in_message => {
                let ctx = &bytes[..len.min(16)];
                put(&mut wire, |b| zmtp::encode_ping(b, 0, ctx));
                put(&mut pongs, |b| zmtp::encode_pong(b, ctx));
                want.push(Seen::Ping);
            }
            k => {
                let more = k & 1 != 0;
                let body: Vec<u8> = if k & 2 != 0 {
                    [&bytes[..], &[9; 200]].concat()
                } else {
                    bytes
                };
                put(&mut wire, |b| {
                    zmtp::encode_frame_header(b, more, body.len() as u64)
                });
                wire.extend_from_slice(&body);
                in_message = more;
                want.push(Seen::Frame {
                    more,
                    len: body.len() as u64,
                    offset: 0,
                    data: body,
                });
            }
        }
    }
    if in_message {
        put(&mut wire, |b| zmtp::encode_frame(b, false, b"end"));
        want.push(Seen::Frame {
            more: false,
            len: 3,
            offset: 0,
            data: b"end".to_vec(),
        });
    }

    let mut c = Conn::new(config).expect("fits");
    let n = c.transmit().len();
    c.advance_transmit(n);
    let mut got: Vec<Seen> = Vec::new();
    let mut body = Vec::new();
    let mut sent = Vec::new();
    for (s, piece) in chunks(&wire, sizes) {
        let mut input = piece;
        let left = c.frame_body_left();
        if left > 0 && s & 0x20 != 0 {
            let k = input.len().min(left as usize);
            let (took, ended) = c.on_body_bytes(k as u64, 0);
            assert_eq!(took, k as u64);
            body.extend_from_slice(&input[..k]);
            if let Some(more) = ended {
                let data = std::mem::take(&mut body);
                got.push(Seen::Frame {
                    more,
                    len: data.len() as u64,
                    offset: 0,
                    data,
                });
            }
            input = &input[k..];
        }
        while !input.is_empty() {
            let (used, event) = c.on_bytes(input, 0).expect("a valid session decodes");
            match seen(event) {
                Seen::Frame {
                    more, len, data, ..
                } => {
                    body.extend_from_slice(&data);
                    if body.len() as u64 == len {
                        let data = std::mem::take(&mut body);
                        got.push(Seen::Frame {
                            more,
                            len,
                            offset: 0,
                            data,
                        });
                    }
                }
                Seen::Nothing => {}
                s => got.push(s),
            }
            input = &input[used..];
        }
        let n = c.transmit().len();
        sent.extend_from_slice(c.transmit());
        c.advance_transmit(n);
    }
    assert_eq!(got, want);
    assert_eq!(sent, pongs);
}

fuzz_target!(|data: &[u8]| {
    let [cfg, n, rest @ ..] = data else { return };
    let split = usize::from(n % 16).min(rest.len());
    let (sizes, body) = rest.split_at(split);
    raw(*cfg, sizes, body);
    round_trip(*cfg, sizes, body);
});
