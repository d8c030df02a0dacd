//! ringwire's broker against pyzmq peers written from the ZeroMQ guide
//! (`tests/src/broker_peer.py`): the load-balancing, Paranoid Pirate and Majordomo workers and
//! the Lazy Pirate and Majordomo clients behind ringwire's `Router`, and ringwire's worker and
//! client behind the guide's load-balancing broker.
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::broker::{Client, Handlers, Router, Worker, WorkerProtocol};
use ringwire_tests::interop::{PeerProcess, spawn_python};
use ringwire_tests::watchdog;

const PEER: &str = include_str!("../src/broker_peer.py");

fn peer(args: &[&str]) -> PeerProcess {
    PeerProcess::attach(spawn_python(PEER, args))
}

fn wait_until(mut f: impl FnMut() -> bool) {
    while !f() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn guide_workers_and_clients_behind_ringwire_router() {
    let _w = watchdog(300);
    let router = Router::bind("tcp://127.0.0.1:0", "tcp://127.0.0.1:0").unwrap();
    let front = router.frontend_endpoints()[0].to_string();
    let back = router.backend_endpoints()[0].to_string();
    let _lb = peer(&["lbworker", &back]);
    let _ppp = peer(&["pppworker", &back]);
    let _mdp = peer(&["mdpworker", &back, "svc"]);
    wait_until(|| router.worker_count() == 3);
    // ringwire clients: plain requests go to the load-balancing and Paranoid Pirate workers,
    // a Majordomo one to the Majordomo worker.
    let mut plain = Client::builder(&front)
        .timeout(Duration::from_secs(30))
        .connect()
        .unwrap();
    for i in 0..20 {
        let q = format!("plain {i}");
        let r = plain.request_bytes("shout", q.as_bytes()).unwrap();
        assert_eq!(r, q.to_uppercase().as_bytes());
    }
    let mut mdp = Client::builder(&front)
        .service("svc")
        .timeout(Duration::from_secs(30))
        .connect()
        .unwrap();
    for i in 0..10 {
        let q = format!("mdp {i}");
        assert_eq!(
            mdp.request_bytes("shout", q.as_bytes()).unwrap(),
            q.to_uppercase().as_bytes()
        );
    }
    // Python clients from the guide against ringwire's router.
    peer(&["lpclient", &front, "20"]).finish();
    peer(&["mdpclient", &front, "svc", "10"]).finish();
    let s = router.stop().unwrap();
    assert_eq!(s.replies, 60, "{s:?}");
    assert_eq!(
        (s.malformed, s.failed, s.workers_expired),
        (0, 0, 0),
        "{s:?}"
    );
}

#[test]
fn ringwire_worker_and_client_behind_the_guides_lbbroker() {
    let _w = watchdog(300);
    let broker = peer(&["lbbroker", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*"]);
    let (front, back) = broker.ep.split_once(' ').expect("two endpoints");
    let worker = Worker::builder(back)
        .protocol(WorkerProtocol::LoadBalancing)
        .spawn(Handlers::new().on_bytes("shout", |p| p.to_ascii_uppercase()))
        .unwrap();
    let mut c = Client::builder(front)
        .timeout(Duration::from_secs(30))
        .connect()
        .unwrap();
    for i in 0..10 {
        let q = format!("via python {i}");
        let r = c.request_bytes("shout", q.as_bytes()).unwrap();
        assert_eq!(r, q.to_uppercase().as_bytes());
    }
    assert_eq!(worker.stop().unwrap().handled, 10);
}
