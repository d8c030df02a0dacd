//! The interop matrix: every ringwire socket type against its real ZeroMQ peer
//! (pyzmq or zeromq.js), ringwire binding and the peer binding, over tcp and ipc, with
//! the binary payloads of [`SIZES`].

use std::time::Duration;

use ringwire::zmtp::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Sub};

use crate::interop::{Peer, PeerProcess, SIZES, payload, spawn_peer};
use crate::unique_ipc;

const T: Duration = Duration::from_secs(15);

/// One pairing: the ringwire socket type and the peer's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// ringwire PUB → peer SUB.
    PubToSub,
    /// peer PUB → ringwire SUB.
    SubFromPub,
    /// ringwire REQ → peer REP.
    ReqToRep,
    /// peer REQ → ringwire REP.
    RepFromReq,
    /// ringwire DEALER → peer ROUTER.
    DealerToRouter,
    /// peer DEALER → ringwire ROUTER.
    RouterFromDealer,
    /// ringwire PUSH → peer PULL.
    PushToPull,
    /// peer PUSH → ringwire PULL.
    PullFromPush,
    /// ringwire PAIR ↔ peer PAIR.
    Pair,
}

fn matrix<S>(
    peer: Peer,
    py_role: &str,
    make: impl Fn(&str, bool) -> S,
    bound: impl Fn(&S) -> String,
    scenario: impl Fn(&mut S, &mut PeerProcess),
) {
    for (bind_ep, peer_bind_ep) in [
        (
            "tcp://127.0.0.1:0".to_string(),
            "tcp://127.0.0.1:*".to_string(),
        ),
        (unique_ipc(py_role), unique_ipc(py_role)),
    ] {
        for rust_binds in [true, false] {
            let (mut sock, mut running) = if rust_binds {
                let s = make(&bind_ep, true);
                let ep = bound(&s);
                let r = PeerProcess::attach(spawn_peer(peer, py_role, "connect", &ep));
                (s, r)
            } else {
                let r = PeerProcess::attach(spawn_peer(peer, py_role, "bind", &peer_bind_ep));
                (make(&r.ep, false), r)
            };
            eprintln!(
                "{peer:?} {py_role}: rust_binds={rust_binds} ep={}",
                running.ep
            );
            scenario(&mut sock, &mut running);
            if py_role != "pub" {
                running.finish();
            }
        }
    }
}

macro_rules! make {
    ($ty:ty) => {
        |ep: &str, bind: bool| {
            if bind {
                <$ty>::bind(ep).expect("bind")
            } else {
                <$ty>::connect(ep).expect("connect")
            }
        }
    };
}

/// Runs one pairing against `peer` in all four transport × direction combinations.
pub fn run(peer: Peer, case: Case) {
    match case {
        Case::PubToSub => matrix(
            peer,
            "sub",
            make!(Pub),
            |s| s.endpoint(),
            |publ, r| {
                while !r.exited() {
                    for n in SIZES {
                        publ.send_multipart(&[b"other", b"x"]).expect("send");
                        publ.send_multipart(&[b"topic", &payload(n)]).expect("send");
                    }
                    publ.flush().expect("flush");
                    std::thread::sleep(Duration::from_millis(10));
                }
            },
        ),
        Case::SubFromPub => matrix(
            peer,
            "pub",
            make!(Sub),
            |s| s.endpoint(),
            |sub, _| {
                sub.subscribe(b"topic").expect("subscribe");
                let mut seen = std::collections::BTreeSet::new();
                while seen.len() < SIZES.len() {
                    let m = sub.recv_multipart_timeout(T).expect("recv");
                    assert_eq!(m.frames()[0], b"topic");
                    let body = &m.frames()[1];
                    assert_eq!(*body, payload(body.len()));
                    seen.insert(body.len());
                }
            },
        ),
        Case::ReqToRep => matrix(
            peer,
            "rep",
            make!(Req),
            |s| s.endpoint(),
            |req, _| {
                for n in SIZES {
                    req.send_bytes(&payload(n)).expect("send");
                    assert_eq!(req.recv_bytes_timeout(T).expect("recv"), payload(n));
                }
            },
        ),
        Case::RepFromReq => matrix(
            peer,
            "req",
            make!(Rep),
            |s| s.endpoint(),
            |rep, _| {
                for n in SIZES {
                    let q = rep.recv_bytes_timeout(T).expect("recv");
                    assert_eq!(q, payload(n));
                    rep.send_bytes(&q).expect("send");
                }
            },
        ),
        Case::DealerToRouter => matrix(
            peer,
            "router",
            make!(Dealer),
            |s| s.endpoint(),
            |d, _| {
                for n in SIZES {
                    d.send_multipart(&[b"", &payload(n)]).expect("send");
                    let m = d.recv_multipart_timeout(T).expect("recv");
                    assert_eq!(m.frames(), &[Vec::new(), payload(n)]);
                }
            },
        ),
        Case::RouterFromDealer => {
            let id: &[u8] = if peer == Peer::Python {
                b"py-dealer"
            } else {
                b"js-dealer"
            };
            matrix(
                peer,
                "dealer",
                make!(Router),
                |s| s.endpoint(),
                |r, _| {
                    for n in SIZES {
                        let m = r.recv_multipart_timeout(T).expect("recv");
                        assert_eq!(m.frames(), &[id.to_vec(), Vec::new(), payload(n)]);
                        let frames: Vec<&[u8]> = m.frames().iter().map(Vec::as_slice).collect();
                        r.send_multipart(&frames).expect("send");
                    }
                },
            )
        }
        Case::PushToPull => matrix(
            peer,
            "pull",
            make!(Push),
            |s| s.endpoint(),
            |p, _| {
                for n in SIZES {
                    p.send_multipart(&[b"part", &payload(n)]).expect("send");
                }
            },
        ),
        Case::PullFromPush => matrix(
            peer,
            "push",
            make!(Pull),
            |s| s.endpoint(),
            |p, _| {
                for n in SIZES {
                    let m = p.recv_multipart_timeout(T).expect("recv");
                    assert_eq!(m.frames(), &[b"part".to_vec(), payload(n)]);
                }
            },
        ),
        Case::Pair => matrix(
            peer,
            "pair",
            make!(Pair),
            |s| s.endpoint(),
            |p, _| {
                for n in SIZES {
                    let got = p.recv_bytes_timeout(T).expect("recv");
                    assert_eq!(got, payload(n));
                    p.send_bytes(&got).expect("send");
                }
            },
        ),
    }
}
