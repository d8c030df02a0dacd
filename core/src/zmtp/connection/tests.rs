//! The connection machine driven with byte vectors only: no sockets, threads or clocks.

use super::*;
use crate::zmtp::{
    GREETING_LEN, encode_cancel, encode_command, encode_frame, encode_frame_header,
    encode_subscribe,
};
use std::string::String;
use std::vec;
use std::vec::Vec;

type Conn = Connection<512>;

/// An owned copy of an event, for comparisons across chunkings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Greeting(Version),
    Ready(SocketType, Vec<u8>),
    /// A whole frame: MORE and body.
    Frame(bool, Vec<u8>),
    Subscribe(Vec<u8>),
    Cancel(Vec<u8>),
    Ping,
    Pong(Vec<u8>),
    PeerError(Vec<u8>),
    Failed(ConnectionError),
}

/// Feeds `input` in chunks of the given sizes (cycled); collects events, gluing frame
/// parts into whole frames, and stops at the first error.
fn feed_chunked(conn: &mut Conn, input: &[u8], sizes: &[usize]) -> Vec<Got> {
    let mut got = Vec::new();
    let mut body = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        let (mut chunk, tail) = rest.split_at(n);
        rest = tail;
        while !chunk.is_empty() {
            let (used, event) = match conn.on_bytes(chunk, 0) {
                Ok(x) => x,
                Err(e) => {
                    got.push(Got::Failed(e));
                    return got;
                }
            };
            assert!(used <= chunk.len());
            match event {
                None => assert!(used > 0, "no progress without an event"),
                Some(Event::Greeting(v)) => got.push(Got::Greeting(v)),
                Some(Event::HandshakeDone {
                    peer_type,
                    identity,
                }) => got.push(Got::Ready(peer_type, identity.to_vec())),
                Some(Event::Frame(p)) => {
                    assert_eq!(p.offset, body.len() as u64);
                    body.extend_from_slice(p.data);
                    if p.is_last() {
                        got.push(Got::Frame(p.more, core::mem::take(&mut body)));
                    }
                }
                Some(Event::Subscribe(p)) => got.push(Got::Subscribe(p.to_vec())),
                Some(Event::Cancel(p)) => got.push(Got::Cancel(p.to_vec())),
                Some(Event::Ping) => got.push(Got::Ping),
                Some(Event::Pong(c)) => got.push(Got::Pong(c.to_vec())),
                Some(Event::PeerError(r)) => got.push(Got::PeerError(r.to_vec())),
            }
            chunk = &chunk[used..];
        }
    }
    got
}

fn feed(conn: &mut Conn, input: &[u8]) -> Vec<Got> {
    feed_chunked(conn, input, &[usize::MAX])
}

/// Appends what `encode` writes to `wire`.
fn put(wire: &mut Vec<u8>, encode: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>) {
    let mut buf = [0u8; 1024];
    let n = encode(&mut buf).unwrap();
    wire.extend_from_slice(&buf[..n]);
}

/// A peer's greeting and READY.
fn hello(version: Version, socket_type: &[u8], identity: Option<&[u8]>) -> Vec<u8> {
    let mut wire = Vec::new();
    put(&mut wire, |b| encode_greeting(b, version, true));
    let mut props: Vec<(&[u8], &[u8])> = vec![(b"Socket-Type", socket_type)];
    if let Some(id) = identity {
        props.push((b"Identity", id));
    }
    put(&mut wire, |b| encode_ready(b, &props));
    wire
}

fn conn(kind: SocketType) -> Conn {
    let mut c = Conn::new(Config::new(kind)).unwrap();
    let n = c.transmit().len();
    c.advance_transmit(n);
    c
}

/// A connection with a finished handshake with a 3.1 peer of type `peer`.
fn ready(kind: SocketType, peer: &[u8]) -> Conn {
    let mut c = conn(kind);
    let got = feed(&mut c, &hello(Version::V3_1, peer, None));
    assert!(matches!(got.last(), Some(Got::Ready(..))), "{got:?}");
    c
}

#[test]
fn both_roles_queue_greeting_and_ready_then_complete_the_handshake_with_each_other() {
    let mut client_cfg = Config::new(SocketType::Req);
    client_cfg.identity = b"me";
    let mut server_cfg = Config::new(SocketType::Router);
    server_cfg.as_server = true;
    server_cfg.identity = b"router-id";
    let mut client = Conn::new(client_cfg).unwrap();
    let mut server = Conn::new(server_cfg).unwrap();

    // What each queued: greeting (with its as-server flag) then READY.
    let mut want = Vec::new();
    put(&mut want, |b| encode_greeting(b, Version::V3_1, false));
    put(&mut want, |b| {
        encode_ready(b, &[(b"Socket-Type", b"REQ"), (b"Identity", b"me")])
    });
    assert_eq!(client.transmit(), &want[..]);
    assert_eq!(
        server.transmit()[32],
        1,
        "the accepting side sets as-server"
    );
    assert!(!client.is_ready() && client.peer_version().is_none());

    let to_server = client.transmit().to_vec();
    let mut to_client = [0u8; 512];
    let n = server.poll_transmit(&mut to_client);
    assert!(server.transmit().is_empty());
    client.advance_transmit(to_server.len());
    assert!(client.transmit().is_empty());

    assert_eq!(
        feed(&mut server, &to_server),
        [
            Got::Greeting(Version::V3_1),
            Got::Ready(SocketType::Req, b"me".to_vec())
        ]
    );
    assert_eq!(
        feed(&mut client, &to_client[..n]),
        [
            Got::Greeting(Version::V3_1),
            Got::Ready(SocketType::Router, b"router-id".to_vec())
        ]
    );
    for c in [&client, &server] {
        assert!(c.is_ready() && c.speaks_3_1() && c.error().is_none());
    }
    assert_eq!(server.peer_type(), Some(SocketType::Req));
    assert!(client.transmit().is_empty() && server.transmit().is_empty());
}

#[test]
fn identity_is_sent_by_req_dealer_router_only_and_at_most_255_bytes() {
    let id = [b'x'; MAX_IDENTITY];
    for kind in SocketType::ALL {
        let mut cfg = Config::new(kind);
        cfg.identity = &id;
        let c = Conn::new(cfg).unwrap();
        // Decode what `c` queued as a peer would (skipping the compatibility check).
        let mut dec: Decoder<1024> = Decoder::new(Limits::default());
        let mut input = c.transmit();
        let mut sent_id = None;
        while !input.is_empty() {
            let (used, item) = dec.decode(input).unwrap();
            if let Some(Item::Command(Command::Ready(p))) = item {
                assert_eq!(p.socket_type(), Some(kind.name().as_bytes()));
                sent_id = p.identity().map(<[u8]>::to_vec);
            }
            input = &input[used..];
        }
        let sends = matches!(
            kind,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        );
        assert_eq!(sent_id.is_some(), sends, "{kind:?}");
    }
    let long = [0u8; MAX_IDENTITY + 1];
    let mut cfg = Config::new(SocketType::Dealer);
    cfg.identity = &long;
    assert_eq!(
        Conn::new(cfg).unwrap_err(),
        ConnectionError::IdentityTooLong
    );
}

#[test]
fn an_incompatible_peer_gets_an_error_command_and_the_connection_fails() {
    let mut c = conn(SocketType::Pub);
    let got = feed(&mut c, &hello(Version::V3_1, b"PUSH", None));
    let e = ConnectionError::IncompatibleSocketType {
        ours: SocketType::Pub,
        peer: SocketType::Push,
    };
    assert_eq!(got, [Got::Greeting(Version::V3_1), Got::Failed(e)]);
    assert_eq!(
        std::format!("{e}"),
        "incompatible peer socket type PUSH for PUB"
    );
    let mut want = Vec::new();
    put(&mut want, |b| encode_error(b, b"Invalid socket type"));
    assert_eq!(c.transmit(), &want[..]);
    assert!(!c.is_ready() && c.peer_type().is_none());
    // Failed for good.
    assert_eq!(c.error(), Some(e));
    assert_eq!(c.on_bytes(b"\x00\x00", 1).unwrap_err(), e);
    assert_eq!(c.frame_body_left(), 0);
}

#[test]
fn bad_greetings_mechanisms_and_handshakes_fail_with_clear_errors() {
    // Not a ZMTP signature: fails at the first byte.
    let mut c = conn(SocketType::Sub);
    assert_eq!(
        c.on_bytes(b"GET / HTTP/1.1\r\n", 0).unwrap_err(),
        ConnectionError::Decode(DecodeError::BadSignature)
    );
    // ZMTP 2.0.
    let mut c = conn(SocketType::Sub);
    let mut g = hello(Version::V3_1, b"PUB", None);
    g[10] = 2;
    assert_eq!(
        feed(&mut c, &g),
        [Got::Failed(ConnectionError::Decode(
            DecodeError::UnsupportedVersion(2)
        ))]
    );
    // Another mechanism.
    let mut c = conn(SocketType::Sub);
    let mut g = hello(Version::V3_1, b"PUB", None);
    g[12..17].copy_from_slice(b"CURVE");
    assert_eq!(
        feed(&mut c, &g),
        [Got::Failed(ConnectionError::UnsupportedMechanism)]
    );
    // READY without a Socket-Type, or with an unknown one.
    for ty in [&b"pub"[..], b"WHAT"] {
        let mut c = conn(SocketType::Sub);
        let got = feed(&mut c, &hello(Version::V3_1, ty, None));
        assert_eq!(got[1], Got::Failed(ConnectionError::MissingSocketType));
    }
    // A second READY.
    let mut c = ready(SocketType::Sub, b"PUB");
    let mut w = Vec::new();
    put(&mut w, |b| encode_ready(b, &[(b"Socket-Type", b"PUB")]));
    assert_eq!(
        feed(&mut c, &w),
        [Got::Failed(ConnectionError::DuplicateReady)]
    );
    assert!(c.error().unwrap().is_protocol_error());
    // A message before READY.
    let mut c = conn(SocketType::Sub);
    let mut w = Vec::new();
    put(&mut w, |b| encode_greeting(b, Version::V3_1, true));
    put(&mut w, |b| encode_frame(b, false, b"early"));
    assert_eq!(
        feed(&mut c, &w)[1],
        Got::Failed(ConnectionError::Decode(DecodeError::MessageBeforeReady))
    );
    // The peer refuses us.
    let mut c = conn(SocketType::Sub);
    let mut w = Vec::new();
    put(&mut w, |b| encode_greeting(b, Version::V3_1, true));
    put(&mut w, |b| encode_error(b, b"go away"));
    put(&mut w, |b| encode_frame(b, false, b"ignored"));
    assert_eq!(
        feed(&mut c, &w),
        [
            Got::Greeting(Version::V3_1),
            Got::PeerError(b"go away".to_vec()),
            Got::Failed(ConnectionError::PeerError)
        ]
    );
}

/// A whole session from a PUB's point of view: handshake, commands of every kind,
/// single and multipart messages, empty and long frames.
fn session() -> (Vec<u8>, Vec<Got>) {
    let mut w = hello(Version::V3_1, b"SUB", Some(b"sub-id"));
    put(&mut w, |b| encode_subscribe(b, b"topic"));
    put(&mut w, |b| encode_ping(b, 10, b"ctx"));
    put(&mut w, |b| encode_frame(b, true, b"a"));
    put(&mut w, |b| encode_frame(b, true, b""));
    let long = [7u8; 300];
    put(&mut w, |b| encode_frame(b, false, &long));
    put(&mut w, |b| encode_command(b, b"X-UNKNOWN", &[b"data"]));
    put(&mut w, |b| encode_cancel(b, b"topic"));
    put(&mut w, |b| encode_frame(b, false, b"z"));
    put(&mut w, |b| super::super::encode_pong(b, b"p"));
    let want = vec![
        Got::Greeting(Version::V3_1),
        Got::Ready(SocketType::Sub, b"sub-id".to_vec()),
        Got::Subscribe(b"topic".to_vec()),
        Got::Ping,
        Got::Frame(true, b"a".to_vec()),
        Got::Frame(true, Vec::new()),
        Got::Frame(false, long.to_vec()),
        Got::Cancel(b"topic".to_vec()),
        Got::Frame(false, b"z".to_vec()),
        Got::Pong(b"p".to_vec()),
    ];
    (w, want)
}

#[test]
fn a_session_decodes_the_same_split_at_every_byte_boundary() {
    let (wire, want) = session();
    let mut c = conn(SocketType::Pub);
    assert_eq!(feed(&mut c, &wire), want);
    let pong = c.transmit().to_vec();
    assert_eq!(feed_chunked(&mut conn(SocketType::Pub), &wire, &[1]), want);
    // Every boundary (every 13th under Miri, which is slow and checks no unsafe here).
    let step = if cfg!(miri) { 13 } else { 1 };
    for at in (0..=wire.len()).step_by(step) {
        let mut c = conn(SocketType::Pub);
        assert_eq!(
            feed_chunked(&mut c, &wire, &[at.max(1), usize::MAX]),
            want,
            "split at {at}"
        );
        assert_eq!(c.transmit(), &pong[..]);
    }
}

#[test]
fn subscribe_and_cancel_are_reported_with_their_prefix() {
    let mut c = ready(SocketType::XPub, b"XSUB");
    let mut w = Vec::new();
    put(&mut w, |b| encode_subscribe(b, b""));
    put(&mut w, |b| encode_subscribe(b, b"A"));
    put(&mut w, |b| encode_cancel(b, b"A"));
    assert_eq!(
        feed(&mut c, &w),
        [
            Got::Subscribe(Vec::new()),
            Got::Subscribe(b"A".to_vec()),
            Got::Cancel(b"A".to_vec())
        ]
    );
    assert!(c.transmit().is_empty());
}

#[test]
fn an_oversized_frame_fails_at_its_header_before_any_body_byte() {
    let mut cfg = Config::new(SocketType::Pull);
    cfg.limits.max_frame = 100;
    let mut c = Conn::new(cfg).unwrap();
    c.advance_transmit(usize::MAX);
    feed(&mut c, &hello(Version::V3_1, b"PUSH", None));
    let mut w = Vec::new();
    put(&mut w, |b| encode_frame_header(b, false, 100));
    w.extend_from_slice(&[1; 100]);
    put(&mut w, |b| encode_frame_header(b, false, 101));
    assert_eq!(
        feed(&mut c, &w),
        [
            Got::Frame(false, vec![1; 100]),
            Got::Failed(ConnectionError::Decode(DecodeError::FrameTooLarge(101)))
        ]
    );
    // A command beyond the decoder's buffer, likewise.
    let mut c = ready(SocketType::Pull, b"PUSH");
    let mut w = Vec::new();
    put(&mut w, |b| encode_command(b, b"BIG", &[&[0; 600]]));
    assert!(matches!(
        feed(&mut c, &w[..9])[..],
        [Got::Failed(ConnectionError::Decode(
            DecodeError::CommandTooLarge(_)
        ))]
    ));
}

#[test]
fn a_ping_is_answered_with_a_pong_echoing_its_context_and_its_ttl_applies() {
    let mut c = ready(SocketType::Dealer, b"ROUTER");
    let mut w = Vec::new();
    put(&mut w, |b| encode_ping(b, 5, b"ab"));
    assert_eq!(feed(&mut c, &w), [Got::Ping]);
    // Golden PONG from docs/zmtp.md.
    assert_eq!(c.transmit(), b"\x04\x07\x04PONGab");
    let mut out = [0u8; 4];
    assert_eq!(c.poll_transmit(&mut out), 4);
    assert_eq!(&out, b"\x04\x07\x04P");
    assert_eq!(c.transmit(), b"ONGab");
    // The peer's TTL (0.5 s from the ping at t = 0) bounds its silence.
    assert_eq!(c.next_deadline(), Some(500));
    assert_eq!(c.on_tick(499), Tick::Idle);
    assert_eq!(c.on_tick(500), Tick::TimedOut);
    // An undrained queue drops PONGs rather than growing or failing.
    for _ in 0..100 {
        assert_eq!(feed(&mut c, &w), [Got::Ping]);
    }
    assert!(c.transmit().len() <= TX_CAP);
    assert!(c.transmit().starts_with(b"ONGab\x04\x07\x04PONGab"));
}

#[test]
fn heartbeat_pings_a_silent_3_1_peer_then_times_it_out() {
    let mut cfg = Config::new(SocketType::Req);
    cfg.heartbeat = Heartbeat::new(100, 300, 0);
    let mut c = Conn::new(cfg).unwrap();
    c.advance_transmit(usize::MAX);
    // Before the handshake: no PING, but silence still counts.
    assert_eq!(c.on_tick(100), Tick::Idle);
    feed(&mut c, &hello(Version::V3_1, b"REP", None));
    assert_eq!(
        c.on_bytes(b"", 150).unwrap(),
        (0, None),
        "no bytes, no life"
    );
    // Bytes arrived at 0 (`feed` says t = 0); the ping slot of t = 100 went by
    // before the handshake, so the first PING goes at 200, then every 100 ms.
    assert_eq!(c.on_tick(199), Tick::Idle);
    assert_eq!(c.on_tick(200), Tick::Transmit);
    assert_eq!(c.transmit(), b"\x04\x07\x04PING\x00\x03");
    c.advance_transmit(usize::MAX);
    assert_eq!(c.on_tick(250), Tick::Idle);
    assert_eq!(c.next_deadline(), Some(300));
    assert_eq!(c.on_tick(300), Tick::TimedOut);
    // Bytes from the peer, a direct body read included, push the deadline.
    let mut c = Conn::new(cfg).unwrap();
    feed(&mut c, &hello(Version::V3_1, b"REP", None));
    assert_eq!(c.on_bytes(b"\x00\x0a", 280).unwrap(), (2, None));
    assert_eq!(c.on_tick(300), Tick::Idle);
    assert_eq!(c.on_body_bytes(5, 1000), (5, None));
    assert_eq!(c.on_tick(1099), Tick::Idle);
    assert_eq!(c.on_tick(1100), Tick::Transmit);
    assert_eq!(c.on_tick(1200), Tick::Transmit);
    assert_eq!(c.on_tick(1299), Tick::Idle);
    assert_eq!(c.on_tick(1300), Tick::TimedOut);
    // A 3.0 peer is never pinged (it does not know PING) but still times out.
    let mut c = Conn::new(cfg).unwrap();
    c.advance_transmit(usize::MAX);
    feed(&mut c, &hello(Version::V3_0, b"REP", None));
    assert!(!c.speaks_3_1());
    assert_eq!(c.on_tick(150), Tick::Idle);
    assert!(c.transmit().is_empty());
    assert_eq!(c.on_tick(300), Tick::TimedOut);
}

#[test]
fn large_bodies_can_be_received_by_the_caller_and_accounted_for() {
    let mut c = ready(SocketType::Pull, b"PUSH");
    let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut w = Vec::new();
    put(&mut w, |b| encode_frame_header(b, true, 1000));
    w.extend_from_slice(&body);
    put(&mut w, |b| encode_frame(b, false, b"tail"));
    // The header and the first 10 body bytes through on_bytes.
    let (used, ev) = c.on_bytes(&w[..9], 1).unwrap();
    assert_eq!((used, ev), (9, None));
    let (used, ev) = c.on_bytes(&w[9..19], 1).unwrap();
    let Some(Event::Frame(p)) = ev else {
        panic!("{ev:?}")
    };
    assert_eq!((used, p.offset, p.data), (10, 0, &body[..10]));
    assert_eq!(c.frame_body_left(), 990);
    // The caller received the rest plus 3 bytes beyond the frame itself.
    assert_eq!(c.on_body_bytes(993, 2), (990, Some(true)));
    assert_eq!(c.frame_body_left(), 0);
    let rest = &w[9 + 1000..];
    assert_eq!(feed(&mut c, rest), [Got::Frame(false, b"tail".to_vec())]);
    let mut s = String::new();
    for e in [
        ConnectionError::Decode(DecodeError::BadSignature),
        ConnectionError::PeerError,
    ] {
        s += &std::format!("{e};");
    }
    assert_eq!(
        s,
        "protocol error: not a ZMTP 3 greeting signature;peer sent ERROR;"
    );
    assert_eq!(GREETING_LEN, 64);
}

/// What a real libzmq 4.3 peer (pyzmq 27.3) sent to a raw server: its greeting (padding
/// `00…01`), READY and first message or PINGs; also seeds of the `zmtp_connection`
/// fuzz target.
fn libzmq(after_greeting: &[u8]) -> Vec<u8> {
    let mut w = vec![0u8; GREETING_LEN];
    w[0] = 0xFF;
    w[8] = 0x01;
    w[9] = 0x7F;
    w[10] = 3;
    w[11] = 1;
    w[12..16].copy_from_slice(b"NULL");
    w.extend_from_slice(after_greeting);
    w
}

#[test]
fn real_libzmq_peers_handshake_and_their_messages_and_pings_come_through() {
    // A REQ: READY with an empty Identity, then ["", "hello"].
    let req = libzmq(
        b"\x04\x26\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ\x08Identity\x00\x00\x00\x00\
          \x01\x00\x00\x05hello",
    );
    assert_eq!(
        feed_chunked(&mut conn(SocketType::Rep), &req, &[3]),
        [
            Got::Greeting(Version::V3_1),
            Got::Ready(SocketType::Req, Vec::new()),
            Got::Frame(true, Vec::new()),
            Got::Frame(false, b"hello".to_vec()),
        ]
    );
    // A PAIR with heartbeats on: PINGs with a 1 s TTL and no context.
    let pair = libzmq(
        b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PAIR\
          \x04\x07\x04PING\x00\x0a\x04\x07\x04PING\x00\x0a",
    );
    let mut c = conn(SocketType::Pair);
    assert_eq!(
        feed(&mut c, &pair)[1..],
        [
            Got::Ready(SocketType::Pair, Vec::new()),
            Got::Ping,
            Got::Ping
        ]
    );
    assert_eq!(c.transmit(), b"\x04\x05\x04PONG\x04\x05\x04PONG");
    assert_eq!(c.next_deadline(), Some(1000));
}
