//! `ringwire::broker` over shm with processes killed at random points: clients `kill -9`ed
//! mid-request leave no stuck client channel in the router, and a `kill -9`ed server is
//! reported to every client waiting on it (as a lost connection, not a timeout: the clients
//! wait far longer than the test's watchdog allows).
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringwire::Error;
use ringwire::broker::{Client, ErrorKind, Handlers, Router, Server, Worker};
use ringwire::shm::ShmOptions;
use ringwire_tests::watchdog;

/// Removes a killed server's segments: its endpoint's and its workers' (`NAME@server`).
fn unlink_server(ep: &str) {
    for name in [ep.to_string(), format!("{ep}@server")] {
        let name = name.strip_prefix("shm://").unwrap_or(&name).to_string();
        if let Ok(name) = ringwire_platform::SegmentName::new(&name) {
            let _ = ringwire_platform::segment::Segment::unlink(&name);
        }
    }
}

/// Far longer than the watchdog: a client that returns got its answer from the liveness
/// checks, never from this timeout.
const LONG: Duration = Duration::from_secs(600);

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("shm://t-brs-{tag}-{}-{n}", std::process::id())
}

/// A number below `bound` from the clock (enough to spread the kill points).
fn random_below(bound: u64) -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let x = u64::from(t).wrapping_mul(6_364_136_223_846_793_005) >> 17;
    x % bound.max(1)
}

/// A `broker_peer` process, killed when dropped.
struct Peer(Child, Lines<BufReader<ChildStdout>>);

impl Peer {
    fn spawn(args: &[&str]) -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_broker_peer"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn broker_peer");
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        Peer(child, out)
    }

    fn expect(&mut self, line: &str) {
        match self.1.next() {
            Some(Ok(l)) => assert_eq!(l, line),
            other => panic!("broker_peer ended before {line:?}: {other:?}"),
        }
    }

    fn kill(&mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn job_handlers() -> Handlers {
    Handlers::new().on("job", |(c, i): (u32, u32)| (c, i, 0u32))
}

/// Rounds of four client processes (the frontend's every channel), each killed at a random
/// point of its stream of requests; then four new clients still get a channel each and every
/// answer.
#[test]
fn killed_clients_leave_no_stuck_channel() {
    let _w = watchdog(240);
    let (f, b) = (unique("cf"), unique("cb"));
    let options = ShmOptions::new()
        .max_clients(4)
        .liveness_interval(Duration::from_millis(20));
    let router = Router::builder(&f, &b)
        .shm_options(options)
        .spawn()
        .unwrap();
    let workers: Vec<Worker> = (0..2)
        .map(|_| Worker::builder(&b).spawn(job_handlers()).unwrap())
        .collect();
    let mut victims = 0;
    for _ in 0..6 {
        let mut round: Vec<Peer> = (0..4)
            .map(|_| Peer::spawn(&["client", &f, "1000000000"]))
            .collect();
        for p in &mut round {
            p.expect("ready");
        }
        std::thread::sleep(Duration::from_millis(random_below(20)));
        for p in &mut round {
            p.kill();
            victims += 1;
        }
    }
    assert_eq!(victims, 24);
    let clients: Vec<_> = (0..4u32)
        .map(|c| {
            let f = f.clone();
            std::thread::spawn(move || {
                let mut client = Client::builder(&f).timeout(LONG).connect().unwrap();
                for i in 0..20u32 {
                    let r: (u32, u32, u32) = client.request("job", &(c, i)).unwrap();
                    assert_eq!((r.0, r.1), (c, i));
                }
                client.retries_made()
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), 0, "answered without retries");
    }
    for w in workers {
        w.stop().unwrap();
    }
    let s = router.stop().unwrap();
    assert_eq!(s.failed, 0, "{s:?}");
    assert!(s.replies >= 80, "{s:?}");
}

/// A server process `kill -9`ed while six clients wait on it (two in its handlers, the rest
/// queued): every client's request fails as a lost connection.
#[test]
fn a_killed_server_is_reported_to_every_waiting_client() {
    let _w = watchdog(120);
    let ep = unique("srv");
    let mut server = Peer::spawn(&["server", &ep]);
    server.expect("ready");
    let n = 6;
    let sent = Arc::new(Barrier::new(n + 1));
    let clients: Vec<_> = (0..n as u32)
        .map(|c| {
            let (ep, sent) = (ep.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut client = Client::builder(&ep)
                    .timeout(LONG)
                    .retries(0)
                    .connect()
                    .unwrap();
                let r: (u32, u32, u32) = client.request("job", &(c, 0)).unwrap();
                assert_eq!((r.0, r.1), (c, 0));
                sent.wait();
                client.request::<_, u32>("hang", &()).unwrap_err()
            })
        })
        .collect();
    sent.wait();
    server.expect("got");
    server.expect("got");
    std::thread::sleep(Duration::from_millis(50)); // the others' requests reach the queue
    server.kill();
    for c in clients {
        let e = c.join().unwrap();
        assert!(matches!(e, Error::Disconnected), "{e}");
        assert_eq!(ErrorKind::of(&e), ErrorKind::Connection);
    }
    unlink_server(&ep);
}

/// A server killed at a random point of four clients' streams, five times over at one
/// endpoint: each client's stream ends in a lost connection (never a hang, never a wrong
/// reply), and a server bound again at the endpoint serves a new client.
#[test]
fn servers_killed_at_random_points_end_every_stream_cleanly() {
    let _w = watchdog(240);
    let ep = unique("rnd");
    for _ in 0..5 {
        let mut server = Peer::spawn(&["server", &ep]);
        server.expect("ready");
        let started = Arc::new(Barrier::new(5));
        let clients: Vec<_> = (0..4u32)
            .map(|c| {
                let (ep, started) = (ep.clone(), started.clone());
                std::thread::spawn(move || {
                    let mut client = Client::builder(&ep)
                        .timeout(LONG)
                        .retries(0)
                        .connect()
                        .unwrap();
                    let mut i = 0u32;
                    let first: (u32, u32, u32) = client.request("job", &(c, i)).unwrap();
                    assert_eq!((first.0, first.1), (c, 0));
                    started.wait();
                    loop {
                        i += 1;
                        match client.request::<_, (u32, u32, u32)>("job", &(c, i)) {
                            Ok(r) => assert_eq!((r.0, r.1), (c, i)),
                            Err(e) => return e,
                        }
                    }
                })
            })
            .collect();
        started.wait();
        std::thread::sleep(Duration::from_millis(random_below(30)));
        server.kill();
        for c in clients {
            let e = c.join().unwrap();
            assert_eq!(ErrorKind::of(&e), ErrorKind::Connection, "{e}");
        }
    }
    let server = Server::bind(&ep, job_handlers()).unwrap();
    let mut client = Client::builder(&ep).timeout(LONG).connect().unwrap();
    let r: (u32, u32, u32) = client.request("job", &(9u32, 9u32)).unwrap();
    assert_eq!(r, (9, 9, 0));
    drop(client);
    server.stop().unwrap();
}
