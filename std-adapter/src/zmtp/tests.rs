//! Unit tests of one connection over a socket pair: the handshake gate, reassembly,
//! limits and PING handling, without a socket type or a poll loop around it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use ringwire_core::pattern::heartbeat::Heartbeat;
use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::zmtp::{self, Limits, Version};

use super::conn::{Conn, Incoming, Origin, Sink};
use super::inbox::Inbox;
use super::outgoing::Outgoing;
use super::transport::Stream;
use crate::endpoint::Endpoint;

fn pair(kind: SocketType, limits: Limits) -> (Conn, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let ep = Endpoint::Ipc("/unused".into());
    let hb = Heartbeat::new(0, 0, 0);
    let c = Conn::new(
        1,
        Stream::Unix(a),
        (ep, None),
        Origin::Accepted,
        kind,
        b"",
        limits,
        hb,
        0,
    );
    (c, b)
}

/// One non-blocking read of `c`: its events, its messages into `inbox`.
fn read(c: &mut Conn, inbox: &mut Inbox) -> Vec<Incoming> {
    let mut out = Vec::new();
    c.read(
        0,
        &mut Sink {
            out: &mut out,
            inbox,
            filter: None,
            rbuf: &mut Box::default(),
            room: usize::MAX,
        },
    );
    out
}

fn peer_hello(minor: u8, socket_type: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let mut n = zmtp::encode_greeting(&mut buf, Version { major: 3, minor }, false).unwrap();
    n += zmtp::encode_ready(&mut buf[n..], &[(b"Socket-Type", socket_type)]).unwrap();
    buf[..n].to_vec()
}

fn drain(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn messages_wait_for_the_peers_ready() {
    let (mut c, mut peer) = pair(SocketType::Push, Limits::default());
    c.queue_message(&[], &mut Outgoing::Slices(&[b"early"]));
    c.flush();
    let hello = drain(&mut peer);
    assert_eq!(hello.len(), 64 + 2 + 25 + 1); // greeting + READY with Socket-Type=PUSH
    assert!(c.has_pending() && !c.wants_write());
    peer.write_all(&peer_hello(1, b"PULL")).unwrap();
    let incoming = read(&mut c, &mut Inbox::default());
    assert!(matches!(incoming.as_slice(), [Incoming::Ready]));
    assert!(c.ready && c.speaks_3_1());
    assert_eq!(drain(&mut peer), b"\x00\x05early");
}

#[test]
fn multipart_messages_are_reassembled() {
    let (mut c, mut peer) = pair(SocketType::Pull, Limits::default());
    let mut wire = peer_hello(0, b"PUSH");
    let mut buf = vec![0u8; 70_000];
    let n = zmtp::encode_frame(&mut buf, true, b"a").unwrap();
    wire.extend_from_slice(&buf[..n]);
    let big = vec![9u8; 65_000];
    let n = zmtp::encode_frame(&mut buf, false, &big).unwrap();
    wire.extend_from_slice(&buf[..n]);
    peer.write_all(&wire).unwrap();
    let mut inbox = Inbox::default();
    let mut incoming = Vec::new();
    while inbox.is_empty() {
        incoming.extend(read(&mut c, &mut inbox));
    }
    assert!(!c.speaks_3_1());
    assert!(matches!(incoming.as_slice(), [Incoming::Ready]));
    assert_eq!(inbox.pop_front(), Some((1, vec![b"a".to_vec(), big])));
}

#[test]
fn limits_and_incompatible_peers_kill_the_connection() {
    let limits = Limits {
        max_frame: 10,
        ..Limits::default()
    };
    let (mut c, mut peer) = pair(SocketType::Pull, limits);
    let mut wire = peer_hello(1, b"PUSH");
    wire.extend_from_slice(&[0x00, 11]);
    peer.write_all(&wire).unwrap();
    read(&mut c, &mut Inbox::default());
    assert!(
        c.dead
            .as_deref()
            .is_some_and(|r| r.starts_with("protocol error"))
    );

    let (mut c, mut peer) = pair(SocketType::Pull, Limits::default());
    peer.write_all(&peer_hello(1, b"PUB")).unwrap();
    read(&mut c, &mut Inbox::default());
    assert!(
        c.dead
            .as_deref()
            .is_some_and(|r| r.starts_with("incompatible"))
    );
}

#[test]
fn pings_are_answered_with_their_context() {
    let (mut c, mut peer) = pair(SocketType::Rep, Limits::default());
    c.flush();
    drain(&mut peer);
    let mut wire = peer_hello(1, b"REQ");
    let mut buf = [0u8; 32];
    let n = zmtp::encode_ping(&mut buf, 10, b"xyz").unwrap();
    wire.extend_from_slice(&buf[..n]);
    peer.write_all(&wire).unwrap();
    read(&mut c, &mut Inbox::default());
    c.flush();
    let n = zmtp::encode_pong(&mut buf, b"xyz").unwrap();
    assert_eq!(drain(&mut peer), &buf[..n]);
}

/// A byte pattern that tells messages and offsets apart.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn large_frames_read_straight_into_the_inbox_arrive_whole_and_in_order() {
    let (mut c, mut peer) = pair(SocketType::Pull, Limits::default());
    peer.set_nonblocking(false).unwrap();
    // Large and small frames back to back: direct reads run past the end of a large
    // frame into the next header, and those bytes must still reach the decoder.
    let messages: Vec<Vec<Vec<u8>>> = vec![
        vec![pattern(1, 20_000), pattern(2, 3)],
        vec![pattern(3, 100_000)],
        vec![pattern(4, 5)],
        vec![pattern(5, 16_384), pattern(6, 300_000)],
        vec![pattern(7, 70_000)],
        vec![pattern(8, 0)],
    ];
    let mut wire = peer_hello(1, b"PUSH");
    for m in &messages {
        for (i, f) in m.iter().enumerate() {
            let mut h = [0u8; 9];
            let n = zmtp::encode_frame_header(&mut h, i + 1 < m.len(), f.len() as u64).unwrap();
            wire.extend_from_slice(&h[..n]);
            wire.extend_from_slice(f);
        }
    }
    let writer = std::thread::spawn(move || {
        // Uneven pieces, so reads stop at every kind of place.
        for piece in wire.chunks(7_001) {
            peer.write_all(piece).unwrap();
        }
        peer
    });
    let mut inbox = Inbox::default();
    let mut got = Vec::new();
    while got.len() < messages.len() {
        read(&mut c, &mut inbox);
        assert!(c.dead.is_none(), "{:?}", c.dead);
        while let Some((_, frames)) = inbox.pop_front() {
            got.push(frames);
        }
        std::thread::yield_now();
    }
    drop(writer.join().unwrap());
    assert_eq!(got, messages);
}

/// The wire bytes of one message.
fn encode_message(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let mut h = [0u8; 9];
        let n = zmtp::encode_frame_header(&mut h, i + 1 < frames.len(), f.len() as u64).unwrap();
        wire.extend_from_slice(&h[..n]);
        wire.extend_from_slice(f);
    }
    wire
}

#[test]
fn after_a_large_message_the_next_ones_body_skips_the_read_buffer() {
    // A REQ/REP exchange of 64 KiB messages: each arrives whole before the reader wakes.
    let (mut c, mut peer) = pair(SocketType::Rep, Limits::default());
    peer.write_all(&peer_hello(1, b"REQ")).unwrap();
    let mut inbox = Inbox::default();
    read(&mut c, &mut inbox);
    let mut buffered = Vec::new();
    for seed in 0..3 {
        let frames = vec![Vec::new(), pattern(seed, 64 * 1024)];
        peer.write_all(&encode_message(&frames)).unwrap();
        let before = c.buffered_bytes;
        while inbox.is_empty() {
            read(&mut c, &mut inbox);
            assert!(c.dead.is_none(), "{:?}", c.dead);
        }
        buffered.push(c.buffered_bytes - before);
        assert_eq!(inbox.pop_front().map(|m| m.1), Some(frames));
    }
    // The first message is read whole into the read buffer (nothing says it is large
    // before its header is decoded); after it, only the headers and a little data are,
    // and the body is received straight into the inbox.
    assert!(buffered[0] > 60 * 1024, "{buffered:?}");
    assert!(buffered[1..].iter().all(|&b| b <= 4096), "{buffered:?}");
}

#[test]
fn a_large_message_is_written_from_the_callers_frames_and_the_rest_queued() {
    let (mut c, mut peer) = pair(SocketType::Push, Limits::default());
    c.flush();
    drain(&mut peer);
    peer.write_all(&peer_hello(1, b"PULL")).unwrap();
    read(&mut c, &mut Inbox::default());
    assert!(c.ready);
    // More than a socket pair's buffer takes at once: part goes out, the rest waits.
    let big = pattern(9, 1 << 20);
    // Given up (as `send_bytes_owned` does): a byte stream writes it like a borrowed one.
    c.queue_message(&[b"topic"], &mut Outgoing::Owned(vec![big.clone()]));
    assert!(c.has_pending(), "a 1 MiB message fits no socket buffer");
    c.queue_message(&[], &mut Outgoing::Slices(&[b"after"]));
    let mut received = Vec::new();
    while c.has_pending() {
        received.extend(drain(&mut peer));
        c.flush();
        assert!(c.dead.is_none());
    }
    received.extend(drain(&mut peer));
    let mut expected = vec![0x01, 5];
    expected.extend_from_slice(b"topic");
    let mut h = [0u8; 9];
    let n = zmtp::encode_frame_header(&mut h, false, big.len() as u64).unwrap();
    expected.extend_from_slice(&h[..n]);
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"\x00\x05after");
    assert!(received == expected, "the bytes on the wire differ");
}

#[test]
fn typed_sends_encode_into_one_reused_buffer() {
    let value = (1u32, "a string of some length, long enough", [7u8; 16]);
    let first = super::sockets::into::with_encoded(&value, |b| Ok(b.as_ptr() as usize)).unwrap();
    // A block of the same size stays taken meanwhile: a fresh allocation per send
    // could not land where the first one was.
    let hold = vec![0u8; 64];
    let second = super::sockets::into::with_encoded(&value, |b| {
        assert_eq!(b, postcard::to_allocvec(&value).unwrap());
        Ok(b.as_ptr() as usize)
    })
    .unwrap();
    drop(hold);
    assert_eq!(first, second, "the encoding buffer was not reused");
}

#[test]
fn an_inproc_message_reaches_the_receiver_as_the_buffer_the_pipe_carried() {
    use super::sockets::sealed::Sealed;
    use super::{Pull, Push};
    let mut pull = Pull::bind("inproc://unit-hand-over").unwrap();
    let mut push = Push::connect("inproc://unit-hand-over").unwrap();
    let body = pattern(3, 1 << 20);
    push.send_bytes(&body).unwrap();
    while !pull.has_message() {
        pull.process().unwrap();
    }
    // Queued in the inbox as the frame buffer the sender's pipe carried (the pipe's own
    // test shows that buffer is the one pushed) ...
    let at = pull.with_engine(|e| {
        let (_, mut frames) = e.inbox.front().unwrap();
        frames.next().unwrap().as_ptr()
    });
    // ... and received as that very buffer: no read buffer, no inbox bytes, no copy.
    let got = pull.recv_bytes().unwrap();
    assert_eq!(got.as_ptr(), at);
    assert_eq!(got, body);
    let held = pull.held_bytes();
    assert!(held < 64 * 1024, "no read buffer was allocated: {held}");
}
