//! Interop with real libzmq through pyzmq beyond the socket matrix: ringwire XPUB against a
//! pyzmq SUB and ringwire XSUB against a pyzmq XPUB (subscriptions and cancels as messages),
//! and ZMTP heartbeats both ways (libzmq pinging an idle ringwire socket, ringwire pinging
//! libzmq), over tcp and ipc, with the interop payloads. The peer is `src/peer.py`.
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::zmtp::{Rep, Req, SocketEvent, XPub, XSub};
use ringwire_tests::interop::{Peer, PeerProcess, SIZES, payload, spawn_peer};
use ringwire_tests::{transports, unique_ipc, watchdog};

const T: Duration = Duration::from_secs(15);
/// Starts the pyzmq `peer.py ROLE MODE EP`.
fn start(role: &str, mode: &str, ep: &str) -> PeerProcess {
    PeerProcess::attach(spawn_peer(Peer::Python, role, mode, ep))
}

#[test]
fn xpub_serves_a_pyzmq_sub() {
    let _watchdog = watchdog(120);
    for ep in transports("xpub") {
        let mut xpub = XPub::bind(&ep).expect("bind");
        let ep = xpub.bound_endpoints()[0].to_string();
        let peer = start("sub", "connect", &ep);
        // The SUB's subscription arrives as a message.
        assert_eq!(
            xpub.recv_bytes_timeout(T).expect("subscription"),
            b"\x01topic"
        );
        // Publish (libzmq-style filtering happens here, at the XPUB) until the cancel.
        loop {
            for n in SIZES {
                xpub.send_multipart(&[b"other", b"x"]).expect("send");
                xpub.send_multipart(&[b"topic", &payload(n)]).expect("send");
            }
            xpub.flush().expect("flush");
            match xpub.recv_bytes_timeout(Duration::from_millis(10)) {
                Ok(m) => {
                    assert_eq!(m, b"\x00topic", "only the cancel may arrive");
                    break;
                }
                Err(ringwire::Error::Timeout) => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        peer.finish();
    }
}

#[test]
fn xsub_subscribes_to_a_pyzmq_xpub() {
    let _watchdog = watchdog(120);
    for ep in ["tcp://127.0.0.1:*".to_string(), unique_ipc("xsub")] {
        let peer = start("xpub", "bind", &ep);
        let mut xsub = XSub::connect(&peer.ep).expect("connect");
        xsub.send_bytes(b"\x01topic").expect("subscribe");
        let mut seen = std::collections::BTreeSet::new();
        while seen.len() < SIZES.len() {
            let m = xsub.recv_multipart_timeout(T).expect("recv");
            // libzmq's XPUB filtered by our subscription: "other" never comes.
            assert_eq!(m.frames()[0], b"topic");
            let body = &m.frames()[1];
            assert_eq!(*body, payload(body.len()));
            seen.insert(body.len());
        }
        xsub.send_bytes(b"\x00topic").expect("cancel");
        xsub.flush().expect("flush");
        peer.finish();
    }
}

#[test]
fn an_idle_ringwire_socket_answers_libzmq_heartbeats() {
    let _watchdog = watchdog(120);
    for ep in transports("hb-rep") {
        let mut rep = Rep::bind(&ep).expect("bind");
        let ep = rep.bound_endpoints()[0].to_string();
        let peer = start("hb-req", "connect", &ep);
        // The owner is away (not in any call) while libzmq pings every 100 ms and would drop
        // the connection after 1 s of silence: the driver thread must answer.
        std::thread::sleep(Duration::from_millis(3500));
        for n in SIZES {
            let q = rep.recv_bytes_timeout(T).expect("request after idle");
            assert_eq!(q, payload(n));
            rep.send_bytes(&q).expect("reply");
        }
        rep.flush().expect("flush");
        peer.finish();
    }
}

#[test]
fn ringwire_heartbeats_keep_a_libzmq_connection() {
    let _watchdog = watchdog(120);
    for ep in ["tcp://127.0.0.1:*".to_string(), unique_ipc("hb-req")] {
        let peer = start("rep", "bind", &ep);
        let mut req = Req::builder()
            // The timeout is far above any scheduling delay of a loaded machine and far
            // below the idle time: only PONGs keep the connection.
            .heartbeat(Duration::from_millis(100), Duration::from_millis(1000))
            .connect(&peer.ep)
            .expect("connect");
        let events = req.monitor();
        req.wait_for_peers(1, T).expect("connected");
        // Idle for 3 s: libzmq answers our PINGs with PONGs, so the heartbeat timeout
        // never fires.
        std::thread::sleep(Duration::from_millis(3000));
        // Checked before the exchange: the peer exits (a disconnect) once it has echoed.
        let stats = req.stats();
        assert_eq!(stats.idle_timeouts, 0, "{stats:?}");
        assert_eq!(stats.disconnected, 0, "{stats:?}");
        let dropped: Vec<SocketEvent> = events
            .try_iter()
            .filter(|e| matches!(e, SocketEvent::Disconnected { .. }))
            .collect();
        assert!(dropped.is_empty(), "{dropped:?}");
        for n in SIZES {
            req.send_bytes(&payload(n)).expect("send");
            assert_eq!(req.recv_bytes_timeout(T).expect("reply"), payload(n));
        }
        peer.finish();
    }
}
