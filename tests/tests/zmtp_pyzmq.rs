//! Interop with real libzmq through pyzmq: every socket type against its pyzmq peer,
//! both directions (ringwire binds / pyzmq binds), over tcp and ipc, with binary
//! payloads of 0, 1, 255, 256 bytes and 1 MiB. pyzmq is installed into
//! `target/interop-venv` on first use by `ringwire_tests::interop`.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout};
use std::time::Duration;

use ringwire::zmtp::{Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, Sub};
use ringwire_tests::interop::{PEER_PY, SIZES, payload, spawn_python};
use ringwire_tests::{unique_ipc, watchdog};

const T: Duration = Duration::from_secs(15);

struct Peer {
    child: Child,
    out: BufReader<ChildStdout>,
    ep: String,
}

impl Peer {
    fn start(role: &str, mode: &str, ep: &str) -> Peer {
        let mut child = spawn_python(PEER_PY, &[role, mode, ep]);
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let ep = line
            .strip_prefix("EP ")
            .unwrap_or_else(|| panic!("peer said {line:?}"))
            .trim()
            .to_string();
        Peer { child, out, ep }
    }

    /// Waits for the peer to finish and asserts it verified everything.
    fn finish(mut self) {
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            status.success() && rest.contains("OK"),
            "pyzmq peer failed: {status} {rest:?}"
        );
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scenario` for both transports and both bind directions.
/// `make(ep, bind)` builds the ringwire socket.
fn matrix<S>(
    tag: &str,
    py_role: &str,
    make: impl Fn(&str, bool) -> S,
    bound: impl Fn(&S) -> String,
    scenario: impl Fn(&mut S, &mut Peer),
) {
    for (bind_ep, py_bind_ep) in [
        (
            "tcp://127.0.0.1:0".to_string(),
            "tcp://127.0.0.1:*".to_string(),
        ),
        (unique_ipc(tag), unique_ipc(tag)),
    ] {
        for rust_binds in [true, false] {
            let (mut sock, mut peer) = if rust_binds {
                let s = make(&bind_ep, true);
                let ep = bound(&s);
                let p = Peer::start(py_role, "connect", &ep);
                (s, p)
            } else {
                let p = Peer::start(py_role, "bind", &py_bind_ep);
                (make(&p.ep, false), p)
            };
            eprintln!("{tag}: rust_binds={rust_binds} ep={}", peer.ep);
            scenario(&mut sock, &mut peer);
            if py_role != "pub" {
                peer.finish();
            }
        }
    }
}

macro_rules! make {
    ($ty:ty) => {
        |ep: &str, bind: bool| {
            if bind {
                <$ty>::bind(ep).unwrap()
            } else {
                <$ty>::connect(ep).unwrap()
            }
        }
    };
}

#[test]
fn pyzmq_sub_receives_from_ringwire_pub() {
    watchdog(240);
    matrix(
        "py-sub",
        "sub",
        make!(Pub),
        |s| s.bound_endpoints()[0].to_string(),
        |publ, peer| {
            while !peer.exited() {
                for n in SIZES {
                    publ.send_multipart(&[b"other", b"x"]).unwrap();
                    publ.send_multipart(&[b"topic", &payload(n)]).unwrap();
                }
                publ.flush().unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        },
    );
}

#[test]
fn ringwire_sub_receives_from_pyzmq_pub() {
    watchdog(240);
    matrix(
        "py-pub",
        "pub",
        make!(Sub),
        |s| s.bound_endpoints()[0].to_string(),
        |sub, _peer| {
            sub.subscribe(b"topic").unwrap();
            let mut seen = std::collections::BTreeSet::new();
            while seen.len() < SIZES.len() {
                let m = sub.recv_multipart_timeout(T).unwrap();
                assert_eq!(m.frames()[0], b"topic");
                let body = &m.frames()[1];
                assert_eq!(*body, payload(body.len()));
                seen.insert(body.len());
            }
        },
    );
}

#[test]
fn ringwire_req_to_pyzmq_rep() {
    watchdog(240);
    matrix(
        "py-rep",
        "rep",
        make!(Req),
        |s| s.bound_endpoints()[0].to_string(),
        |req, _| {
            for n in SIZES {
                req.send_bytes(&payload(n)).unwrap();
                assert_eq!(req.recv_bytes_timeout(T).unwrap(), payload(n));
            }
        },
    );
}

#[test]
fn pyzmq_req_to_ringwire_rep() {
    watchdog(240);
    matrix(
        "py-req",
        "req",
        make!(Rep),
        |s| s.bound_endpoints()[0].to_string(),
        |rep, _| {
            for n in SIZES {
                let q = rep.recv_bytes_timeout(T).unwrap();
                assert_eq!(q, payload(n));
                rep.send_bytes(&q).unwrap();
            }
        },
    );
}

#[test]
fn ringwire_dealer_to_pyzmq_router() {
    watchdog(240);
    matrix(
        "py-router",
        "router",
        make!(Dealer),
        |s| s.bound_endpoints()[0].to_string(),
        |d, _| {
            for n in SIZES {
                d.send_multipart(&[b"", &payload(n)]).unwrap();
                let m = d.recv_multipart_timeout(T).unwrap();
                assert_eq!(m.frames(), &[Vec::new(), payload(n)]);
            }
        },
    );
}

#[test]
fn pyzmq_dealer_to_ringwire_router() {
    watchdog(240);
    matrix(
        "py-dealer",
        "dealer",
        make!(Router),
        |s| s.bound_endpoints()[0].to_string(),
        |r, _| {
            for n in SIZES {
                let m = r.recv_multipart_timeout(T).unwrap();
                assert_eq!(m.frames(), &[b"py-dealer".to_vec(), Vec::new(), payload(n)]);
                let frames: Vec<&[u8]> = m.frames().iter().map(Vec::as_slice).collect();
                r.send_multipart(&frames).unwrap();
            }
        },
    );
}

#[test]
fn ringwire_push_to_pyzmq_pull() {
    watchdog(240);
    matrix(
        "py-pull",
        "pull",
        make!(Push),
        |s| s.bound_endpoints()[0].to_string(),
        |p, _| {
            for n in SIZES {
                p.send_multipart(&[b"part", &payload(n)]).unwrap();
            }
        },
    );
}

#[test]
fn pyzmq_push_to_ringwire_pull() {
    watchdog(240);
    matrix(
        "py-push",
        "push",
        make!(Pull),
        |s| s.bound_endpoints()[0].to_string(),
        |p, _| {
            for n in SIZES {
                let m = p.recv_multipart_timeout(T).unwrap();
                assert_eq!(m.frames(), &[b"part".to_vec(), payload(n)]);
            }
        },
    );
}

#[test]
fn ringwire_pair_with_pyzmq_pair() {
    watchdog(240);
    matrix(
        "py-pair",
        "pair",
        make!(Pair),
        |s| s.bound_endpoints()[0].to_string(),
        |p, _| {
            for n in SIZES {
                let got = p.recv_bytes_timeout(T).unwrap();
                assert_eq!(got, payload(n));
                p.send_bytes(&got).unwrap();
            }
        },
    );
}
