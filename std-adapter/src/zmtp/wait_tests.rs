//! Tests of a receive that sleeps in a blocking `recv` on its one connection (see
//! `Engine::sleeper`): it still ends at its deadline, notices a closed peer, and a
//! focused REQ keeps accepting and handshaking newcomers while it waits.

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringwire_core::pattern::heartbeat::Heartbeat;
use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::zmtp::{self, Limits, Version};

use super::conn::{Conn, Incoming, Origin, Sink};
use super::inbox::Inbox;
use super::transport::Stream;
use super::{Rep, Req};
use crate::endpoint::Endpoint;
use crate::error::Error;

/// A fresh `ipc://` endpoint in the temporary directory.
fn unique_ipc(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!(
        "ringwire-wait-{what}-{}-{n}.sock",
        std::process::id()
    ));
    format!("ipc://{}", path.display())
}

#[test]
fn a_waiting_read_times_out_then_takes_the_message() {
    let (a, mut peer) = UnixStream::pair().unwrap();
    let mut c = Conn::new(
        1,
        Stream::Unix(a),
        (Endpoint::Ipc("/unused".into()), None),
        Origin::Accepted,
        SocketType::Pull,
        b"",
        Limits::default(),
        Heartbeat::new(0, 0, 0),
        0,
    );
    let clock = Instant::now();
    let mut incoming = Vec::new();
    let mut inbox = Inbox::default();
    let mut sink = Sink {
        out: &mut incoming,
        inbox: &mut inbox,
        filter: None,
        rbuf: &mut Box::default(),
        room: usize::MAX,
    };
    // Nothing comes: the wait ends (by SO_RCVTIMEO) with nothing read.
    let (_, came) = c.wait_and_read(Some(Duration::from_millis(20)), clock, &mut sink);
    assert!(!came && sink.out.is_empty() && sink.inbox.is_empty() && c.dead.is_none());

    let mut wire = [0u8; 128];
    let mut n = zmtp::encode_greeting(&mut wire, Version::V3_1, false).unwrap();
    n += zmtp::encode_ready(&mut wire[n..], &[(b"Socket-Type", b"PUSH")]).unwrap();
    n += zmtp::encode_frame(&mut wire[n..], false, b"hello").unwrap();
    std::io::Write::write_all(&mut peer, &wire[..n]).unwrap();
    while sink.inbox.is_empty() {
        c.wait_and_read(None, clock, &mut sink);
    }
    assert!(matches!(sink.out.as_slice(), [Incoming::Ready]));
    assert_eq!(sink.inbox.pop_front(), Some((1, vec![b"hello".to_vec()])));

    drop(peer);
    let (_, came) = c.wait_and_read(None, clock, &mut sink);
    assert!(came && c.dead.is_some());
}

#[test]
fn a_lone_connection_receive_honours_its_timeout() {
    let ep = unique_ipc("timeout");
    let mut req = Req::bind(&ep).unwrap();
    let mut rep = Rep::connect(&ep).unwrap();
    req.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    rep.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    // Long enough for the blocking-recv path (not the short-wait `poll` path).
    assert!(matches!(
        rep.recv_bytes_timeout(Duration::from_millis(120)),
        Err(Error::Timeout)
    ));
    req.send_bytes(b"ping").unwrap();
    assert_eq!(rep.recv_bytes().unwrap(), b"ping");
    rep.send_bytes(b"pong").unwrap();
    assert_eq!(req.recv_bytes().unwrap(), b"pong");
}

#[test]
fn a_waiting_req_notices_its_peer_leave() {
    let ep = unique_ipc("leave");
    let mut req = Req::bind(&ep).unwrap();
    let mut rep = Rep::connect(&ep).unwrap();
    req.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    req.send_bytes(b"ping").unwrap();
    let server = thread::spawn(move || {
        assert_eq!(rep.recv_bytes().unwrap(), b"ping");
        // Gone without answering.
    });
    let r = req.recv_bytes_timeout(Duration::from_secs(10));
    server.join().unwrap();
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
}

#[test]
fn a_req_waiting_for_its_reply_still_accepts_newcomers() {
    let ep = unique_ipc("newcomer");
    let mut req = Req::bind(&ep).unwrap();
    let mut first = Rep::connect(&ep).unwrap();
    req.wait_for_peers(1, Duration::from_secs(5)).unwrap();
    let (joined_tx, joined_rx) = mpsc::channel();
    let ep2 = ep.clone();
    let first_server = thread::spawn(move || {
        let q = first.recv_bytes().unwrap();
        // Answer only once the second server has finished its handshake, which needs
        // the REQ (blocked waiting for this answer) to accept it and answer its greeting.
        let joined: Result<(), Error> = joined_rx.recv().unwrap();
        first.send_bytes(&q).unwrap();
        (first, joined)
    });
    let second_server = thread::spawn(move || {
        let mut second = Rep::connect(&ep2).unwrap();
        let joined = second.wait_for_peers(1, Duration::from_secs(5));
        joined_tx.send(joined).unwrap();
        let q = second.recv_bytes_timeout(Duration::from_secs(5));
        if let Ok(q) = &q {
            second.send_bytes(q).unwrap();
        }
        q
    });
    req.send_bytes(b"one").unwrap();
    assert_eq!(req.recv_bytes().unwrap(), b"one");
    let (_first, joined) = first_server.join().unwrap();
    joined.unwrap();
    // Round robin: the next request goes to the newcomer.
    req.send_bytes(b"two").unwrap();
    assert_eq!(req.recv_bytes().unwrap(), b"two");
    assert_eq!(second_server.join().unwrap().unwrap(), b"two");
}

/// A REP with many idle peers waits for the next request without handing every
/// descriptor to `poll(2)` (which made each round trip cost O(connections): 15× the
/// no-idle round trip with 1,000 idle peers on loopback). Checked by the engine's count of
/// the most descriptors one `poll` was given during the round trips.
/// A REP with `idle` silent REQ peers and one more REQ, every peer connected and handshaken.
#[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
fn rep_with_idle_peers(tag: &str, idle: usize) -> (Rep, Vec<Req>, Req) {
    use super::sockets::sealed::Sealed;
    let ep = unique_ipc(tag);
    let mut rep = Rep::bind(&ep).unwrap();
    let idle_peers: Vec<Req> = (0..idle).map(|_| Req::connect(&ep).unwrap()).collect();
    let req = Req::connect(&ep).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let _ = rep.recv_bytes_timeout(Duration::from_millis(5));
        let all =
            rep.with_engine(|e| e.conns.iter().flatten().filter(|c| c.ready).count() == idle + 1);
        if all {
            break;
        }
        assert!(Instant::now() < deadline, "peers never connected");
    }
    (rep, idle_peers, req)
}

// The readiness set's property: the `poll` backend hands every descriptor to `poll(2)`
// and walks every connection, by design.
#[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
#[test]
fn a_rep_with_idle_peers_waits_without_polling_each() {
    use super::sockets::sealed::Sealed;
    const IDLE: usize = 24;
    let (mut rep, _idle, mut req) = rep_with_idle_peers("idle", IDLE);
    rep.with_engine(|e| e.poll_fds_max = 0);
    for i in 0..20u8 {
        req.send_bytes(&[i]).unwrap();
        let m = rep.recv_bytes().unwrap();
        rep.send_bytes(&m).unwrap();
        assert_eq!(req.recv_bytes().unwrap(), [i]);
    }
    let polled = rep.with_engine(|e| e.poll_fds_max);
    assert!(
        polled <= 2,
        "a wait handed {polled} descriptors to poll(2) with {IDLE} idle peers"
    );
}

/// A REP with many idle peers looks at O(1) connections per round trip: reaping, interest
/// syncing, flushing, timers and finding the requester's slot keep lists of the
/// connections that need a look instead of walking every one (which cost 1.9× the no-idle
/// round trip with 1,000 idle peers). Checked by the engine's count of connections its
/// bookkeeping walks looked at.
// The readiness set's property: the `poll` backend hands every descriptor to `poll(2)`
// and walks every connection, by design.
#[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
#[test]
fn a_rep_with_idle_peers_looks_at_o1_connections_per_round_trip() {
    use super::sockets::sealed::Sealed;
    const IDLE: usize = 48;
    const ROUNDS: usize = 20;
    let (mut rep, _idle, mut req) = rep_with_idle_peers("idle-walks", IDLE);
    // Settle: one round trip lets every handshaken connection leave the lists.
    req.send_bytes(b"x").unwrap();
    let m = rep.recv_bytes().unwrap();
    rep.send_bytes(&m).unwrap();
    assert_eq!(req.recv_bytes().unwrap(), b"x");
    rep.with_engine(|e| e.visited.set(0));
    for i in 0..ROUNDS as u8 {
        req.send_bytes(&[i]).unwrap();
        let m = rep.recv_bytes().unwrap();
        rep.send_bytes(&m).unwrap();
        assert_eq!(req.recv_bytes().unwrap(), [i]);
    }
    let per_trip = rep.with_engine(|e| e.visited.get()) / ROUNDS;
    assert!(
        per_trip <= 16,
        "a round trip looked at {per_trip} connections with {IDLE} idle peers"
    );
}
