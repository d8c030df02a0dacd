//! `ringwire::broker` with real sockets, threads and processes: many clients over several
//! workers of each protocol and transport, a worker `kill -9`ed holding a request, heartbeat
//! expiry counted in missed beats, hostile peers on both sides.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ringwire::broker::{
    Client, ErrorKind, Handlers, Liveness, Router, RouterBuilder, Stats, Worker, WorkerProtocol,
};
use ringwire::zmtp;
use ringwire_core::broker::mdp::Version;
use ringwire_tests::{unique_ipc, watchdog};

const MDP: WorkerProtocol = WorkerProtocol::Majordomo(Version::V0_2);
const LONG: Duration = Duration::from_secs(30);

/// Frontend and backend endpoints for each transport (tcp binds port 0).
fn endpoint_pairs(tag: &str) -> Vec<(String, String)> {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    vec![
        ("tcp://127.0.0.1:0".into(), "tcp://127.0.0.1:0".into()),
        (
            unique_ipc(&format!("{tag}-f")),
            unique_ipc(&format!("{tag}-b")),
        ),
        (
            format!("inproc://{tag}-f-{pid}-{n}"),
            format!("inproc://{tag}-b-{pid}-{n}"),
        ),
        (
            format!("shm://t-br-{tag}-f-{pid}-{n}"),
            format!("shm://t-br-{tag}-b-{pid}-{n}"),
        ),
    ]
}

/// Starts a router and returns it with its resolved frontend and backend endpoints.
fn start(builder: RouterBuilder) -> (Router, String, String) {
    let r = builder.spawn().expect("router binds");
    let f = r.frontend_endpoints()[0].to_string();
    let b = r.backend_endpoints()[0].to_string();
    (r, f, b)
}

/// Log records of this test binary (every test's: assertions look for a kind of record).
static LOGS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if r.level() <= log::Level::Info {
            LOGS.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static LOGGER: Capture = Capture;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

fn logged(pattern: &[&str]) -> bool {
    let logs = LOGS.lock().unwrap();
    logs.iter().any(|l| pattern.iter().all(|p| l.contains(p)))
}

/// Polls `f` until it holds (the test's watchdog bounds the wait; nothing asserts on time).
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let mut n = 0u64;
    while !f() {
        std::thread::sleep(Duration::from_millis(5));
        n += 1;
        if n.is_multiple_of(2000) {
            eprintln!("still waiting for {what}");
        }
    }
}

/// Worker `k`'s handlers: `job (client, i)` answers `(client, i, k)`.
fn job_handlers(k: u32) -> Handlers {
    Handlers::new().on("job", move |(c, i): (u32, u32)| (c, i, k))
}

fn many_clients(protocol: WorkerProtocol, front: &str, back: &str, router: &Router) {
    let service = if protocol == MDP { "svc" } else { "" };
    let workers: Vec<Worker> = (0..3)
        .map(|k| {
            Worker::builder(back)
                .protocol(protocol)
                .service(service)
                .spawn(job_handlers(k))
                .unwrap()
        })
        .collect();
    wait_until("3 workers", || router.worker_count() == 3);
    let clients: Vec<_> = (0..20u32)
        .map(|c| {
            let front = front.to_string();
            let service = service.to_string();
            std::thread::spawn(move || {
                let mut b = Client::builder(&front).timeout(LONG);
                if !service.is_empty() {
                    b = b.service(&service);
                }
                let mut client = b.connect().unwrap();
                let mut used = BTreeSet::new();
                for i in 0..10u32 {
                    let (rc, ri, k): (u32, u32, u32) = client.request("job", &(c, i)).unwrap();
                    assert_eq!((rc, ri), (c, i), "reply to the right request");
                    used.insert(k);
                }
                used
            })
        })
        .collect();
    let mut used = BTreeSet::new();
    for c in clients {
        used.extend(c.join().unwrap());
    }
    let handled: u64 = workers.into_iter().map(|w| w.stop().unwrap().handled).sum();
    assert_eq!(handled, 200);
    assert_eq!(used, BTreeSet::from([0, 1, 2]), "every worker used");
}

#[test]
fn twenty_clients_ten_requests_three_workers_every_protocol_and_transport() {
    let _w = watchdog(300);
    for protocol in [
        WorkerProtocol::LoadBalancing,
        WorkerProtocol::ParanoidPirate,
        MDP,
    ] {
        for (f, b) in endpoint_pairs("many") {
            let (router, front, back) = start(Router::builder(&f, &b));
            many_clients(protocol, &front, &back, &router);
            let s = router.stop().unwrap();
            assert_eq!(
                (s.requests, s.replies, s.failed),
                (200, 200, 0),
                "{f} {protocol:?}"
            );
            assert_eq!(s.malformed, 0);
        }
    }
}

#[test]
fn every_strategy_serves_every_worker() {
    use ringwire::broker::Strategy;
    let _w = watchdog(300);
    for strategy in [Strategy::RoundRobin, Strategy::LeastLoaded] {
        for (f, b) in [
            (
                "tcp://127.0.0.1:0".to_string(),
                "tcp://127.0.0.1:0".to_string(),
            ),
            endpoint_pairs("strategy").pop().unwrap(),
        ] {
            let (router, front, back) = start(Router::builder(&f, &b).strategy(strategy));
            many_clients(WorkerProtocol::ParanoidPirate, &front, &back, &router);
            assert_eq!(router.stop().unwrap().replies, 200, "{f}");
        }
    }
}

/// A worker process that takes a request and hangs.
struct Victim(std::process::Child, BufReader<std::process::ChildStdout>);

impl Victim {
    fn spawn(back: &str, protocol: &str) -> Victim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_broker_peer"))
            .args(["hang", back, protocol])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn broker_peer");
        let out = BufReader::new(child.stdout.take().unwrap());
        Victim(child, out)
    }

    fn wait_for_request(&mut self) {
        let mut line = String::new();
        self.1.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "got");
    }

    fn kill(&mut self) {
        self.0.kill().unwrap(); // SIGKILL
        self.0.wait().unwrap();
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn worker_killed_holding_a_request_its_request_goes_to_another() {
    let _w = watchdog(300);
    capture_logs();
    let transports = [
        (
            "tcp://127.0.0.1:0".to_string(),
            "tcp://127.0.0.1:0".to_string(),
        ),
        endpoint_pairs("victim").pop().unwrap(),
    ];
    for (protocol, (f, b)) in ["lb", "ppp", "mdp"]
        .into_iter()
        .flat_map(|p| transports.iter().map(move |t| (p, t)))
    {
        // Heartbeats slow enough that only the kill can drop the victim.
        let beat = Liveness {
            interval_ms: 100,
            timeout_ms: 10_000,
            max_missed: 3,
        };
        let (router, front, back) = start(Router::builder(f, b).heartbeat(beat));
        let mut victim = Victim::spawn(&back, protocol);
        wait_until("the victim to register", || router.worker_count() == 1);
        let service = if protocol == "mdp" { "svc" } else { "" };
        let clients: Vec<_> = (0..10u32)
            .map(|c| {
                let front = front.clone();
                let service = service.to_string();
                std::thread::spawn(move || {
                    let mut b = Client::builder(&front).timeout(LONG).retries(0);
                    if !service.is_empty() {
                        b = b.service(&service);
                    }
                    let mut client = b.connect().unwrap();
                    let (rc, ri, _): (u32, u32, u32) = client.request("job", &(c, 7u32)).unwrap();
                    assert_eq!((rc, ri), (c, 7));
                })
            })
            .collect();
        victim.wait_for_request();
        let wp = match protocol {
            "lb" => WorkerProtocol::LoadBalancing,
            "ppp" => WorkerProtocol::ParanoidPirate,
            _ => MDP,
        };
        let helpers: Vec<Worker> = (0..2)
            .map(|k| {
                Worker::builder(&back)
                    .protocol(wp)
                    .service(service)
                    .heartbeat(beat)
                    .spawn(job_handlers(k))
                    .unwrap()
            })
            .collect();
        victim.kill();
        for c in clients {
            c.join().expect("every client answered");
        }
        for h in helpers {
            h.stop().unwrap();
        }
        let s = router.stop().unwrap();
        assert_eq!(s.replies, 10, "{protocol} {f}");
        assert!(
            s.requeued >= 1 && s.workers_lost >= 1,
            "{protocol} {f}: {s:?}"
        );
        assert_eq!(s.failed, 0);
    }
    assert!(logged(&["worker ", " registered"]));
    assert!(logged(&["worker ", " lost: connection closed"]));
    assert!(logged(&["worker ", " lost: its process ", " died"]));
    assert!(logged(&["request(s) of worker ", " requeued"]));
}

/// A worker process that stops on purpose and exits at once has left, over shm too: its
/// channel was given back, though its process is gone by the time the router looks.
#[test]
fn a_worker_process_that_stops_is_logged_as_left_not_lost() {
    let _w = watchdog(300);
    capture_logs();
    let (f, b) = endpoint_pairs("leaving").pop().unwrap();
    assert!(b.starts_with("shm://"), "{b}");
    let (router, _front, back) = start(Router::builder(&f, &b));
    let mut worker = Command::new(env!("CARGO_BIN_EXE_broker_peer"))
        .args(["until-eof", &back])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn broker_peer");
    wait_until("the worker to register", || router.worker_count() == 1);
    drop(worker.stdin.take());
    assert!(worker.wait().unwrap().success());
    wait_until("the worker to be gone", || router.worker_count() == 0);
    let s = router.stop().unwrap();
    // The routing id shows the channel and the owner id (the pid) in hex.
    let pid = format!("{:08x}", worker.id());
    assert!(logged(&[
        "worker ",
        &pid,
        " left: it gave its shm channel back"
    ]));
    assert!(!logged(&["worker ", &pid, " lost"]), "{s:?}");
}

#[test]
fn silent_worker_expires_by_missed_beats_and_its_request_is_requeued() {
    let _w = watchdog(300);
    capture_logs();
    let beat = Liveness {
        interval_ms: 10,
        timeout_ms: 30,
        max_missed: 3,
    };
    let (router, front, back) =
        start(Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0").heartbeat(beat));
    // A load-balancing worker registers first and stays idle longer than the silent one:
    // it cannot heartbeat, and must never be expired for that.
    let lb = Worker::builder(&back)
        .protocol(WorkerProtocol::LoadBalancing)
        .service("")
        .spawn(Handlers::new().on("other", |x: u32| x))
        .unwrap();
    wait_until("the lb worker", || router.worker_count() == 1);
    // A Paranoid Pirate worker that says READY and then nothing.
    let mut silent = zmtp::Dealer::connect(&back).unwrap();
    silent.send_multipart(&[&[0x01]]).unwrap();
    router_stats_until(&router, |s| s.workers_registered == 2);
    router_stats_until(&router, |s| s.workers_expired == 1);
    let s = router.stats();
    assert!(s.beats_missed >= 3, "expired after max_missed beats: {s:?}");
    assert_eq!(router.worker_count(), 1, "the load-balancing worker stays");
    assert_eq!(s.workers_expired, 1);
    assert!(logged(&["expired: it missed its heartbeats"]));
    drop(silent);
    lb.stop().unwrap();
    router.stop().unwrap();
    let _ = front;
}

#[test]
fn request_held_by_a_silent_worker_is_answered_after_it_expires() {
    let _w = watchdog(300);
    let beat = Liveness {
        interval_ms: 10,
        timeout_ms: 100,
        max_missed: 2,
    };
    let (router, front, back) =
        start(Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0").heartbeat(beat));
    let mut silent = zmtp::Dealer::connect(&back).unwrap();
    silent.send_multipart(&[&[0x01]]).unwrap();
    wait_until("the silent worker", || router.worker_count() == 1);
    let client = std::thread::spawn(move || {
        let mut c = Client::builder(&front).timeout(LONG).connect().unwrap();
        c.request::<_, (u32, u32, u32)>("job", &(1u32, 2u32))
            .unwrap()
    });
    // The worker heartbeats until the request reaches it (it is the only worker; were it
    // expired meanwhile, its next beat registers it again) ...
    loop {
        match silent.recv_multipart_timeout(Duration::from_millis(5)) {
            Ok(m) if m.frames().len() == 4 => break, // token, "", event, payload
            Ok(_) | Err(ringwire::Error::Timeout) => silent.send_multipart(&[&[0x02]]).unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    let expired_before = router.stats().workers_expired;
    // ... which then says nothing: it expires and its request goes back to the queue.
    router_stats_until(&router, |s| s.workers_expired == expired_before + 1);
    let w = Worker::builder(&back)
        .heartbeat(beat)
        .spawn(job_handlers(9))
        .unwrap();
    assert_eq!(client.join().unwrap(), (1, 2, 9));
    w.stop().unwrap();
    // The final counters (`stats()` is the router thread's last snapshot, which may not
    // include the reply the client already has).
    let s = router.stop().unwrap();
    assert_eq!((s.requeued, s.replies, s.failed), (1, 1, 0));
    assert!(s.beats_missed >= 2);
}

fn router_stats_until(router: &Router, f: impl Fn(&Stats) -> bool) {
    wait_until("router counters", || f(&router.stats()));
}

#[test]
fn hostile_peers_on_both_sides_are_counted_and_others_served() {
    let _w = watchdog(300);
    let (router, front, back) = start(Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0"));
    let worker = Worker::builder(&back).spawn(job_handlers(0)).unwrap();
    wait_until("the worker", || router.worker_count() == 1);
    // Clients: a DEALER's empty-delimiter-only message, an MDP command no client sends, an
    // MDP header alone, an MDP header with an unknown command.
    let mut bad_client = zmtp::Dealer::connect(&front).unwrap();
    let client_garbage: [&[&[u8]]; 4] = [
        &[b""],
        &[b"MDPC02", &[0x03], b"svc", b"x"],
        &[b"MDPC02"],
        &[b"MDPC02", &[0x7f]],
    ];
    for m in client_garbage {
        bad_client.send_multipart(m).unwrap();
    }
    // Workers: an unknown one-frame message, an address without a delimiter, an MDP
    // command with an unknown number, an MDP header alone.
    let mut bad_worker = zmtp::Dealer::connect(&back).unwrap();
    let worker_garbage: [&[&[u8]]; 4] = [
        &[b"hello"],
        &[b"12345678", b"not empty", b"x"],
        &[b"MDPW02", &[0x7f]],
        &[b"MDPW02"],
    ];
    for m in worker_garbage {
        bad_worker.send_multipart(m).unwrap();
    }
    router_stats_until(&router, |s| s.malformed >= 8);
    // A client that floods requests and never reads: refused past its quota.
    let mut flood = zmtp::Dealer::connect(&front).unwrap();
    for i in 0..10_000u32 {
        flood
            .send_multipart(&[b"", b"job", &i.to_le_bytes()])
            .unwrap();
    }
    // Everyone else is still served.
    let mut c = Client::builder(&front).timeout(LONG).connect().unwrap();
    for i in 0..10u32 {
        let r: (u32, u32, u32) = c.request("job", &(5u32, i)).unwrap();
        assert_eq!(r, (5, i, 0));
    }
    let s = router.stats();
    assert_eq!(s.malformed, 8, "{s:?}");
    assert_eq!(router.worker_count(), 1, "the worker was not disturbed");
    drop((bad_client, bad_worker, flood));
    worker.stop().unwrap();
    router.stop().unwrap();
}

#[test]
fn flooding_client_is_held_to_its_quota() {
    let _w = watchdog(300);
    // No workers: nothing is answered, so the flood's requests stay in the table.
    let (router, front, _back) =
        start(Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0").max_per_client(16));
    let mut flood = zmtp::Dealer::connect(&front).unwrap();
    for i in 0..10_000u32 {
        flood
            .send_multipart(&[b"", b"job", &i.to_le_bytes()])
            .unwrap();
    }
    router_stats_until(&router, |s| s.requests + s.refused == 10_000);
    let s = router.stats();
    assert_eq!((s.requests, s.refused), (16, 9_984));
    // Its refusals are status-2 replies (the ones its socket kept).
    let m = flood.recv_multipart_timeout(LONG).unwrap();
    assert_eq!(m.frames()[1], [2u8]);
    router.stop().unwrap();
}

#[test]
fn client_errors_have_their_kinds() {
    let _w = watchdog(120);
    capture_logs();
    let (router, front, back) = start(
        Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0")
            .queue_timeout(Duration::from_millis(20)),
    );
    let mut c = Client::builder(&front).timeout(LONG).connect().unwrap();
    // No worker: the router fails the request after its queue timeout.
    let err = c.request::<_, u32>("job", &1u32).unwrap_err();
    assert_eq!(ErrorKind::of(&err), ErrorKind::Client, "{err}");
    assert!(err.to_string().contains("no worker"), "{err}");
    assert!(logged(&["request of client ", " failed: no worker"]));
    let w = Worker::builder(&back).spawn(job_handlers(0)).unwrap();
    wait_until("the worker", || router.worker_count() == 1);
    // An event nobody handles.
    let err = c.request::<_, u32>("nope", &1u32).unwrap_err();
    assert_eq!(ErrorKind::of(&err), ErrorKind::Client, "{err}");
    // A reply that does not decode as the type asked for.
    let err = c
        .request::<_, (u32, u32, u32, u32)>("job", &(1u32, 2u32))
        .unwrap_err();
    assert_eq!(ErrorKind::of(&err), ErrorKind::Malformed, "{err}");
    w.stop().unwrap();
    router.stop().unwrap();
}

#[test]
fn two_hundred_concurrent_clients() {
    let _w = watchdog(300);
    let (router, front, back) = start(Router::builder("tcp://127.0.0.1:0", "tcp://127.0.0.1:0"));
    let workers: Vec<Worker> = (0..4)
        .map(|k| Worker::builder(&back).spawn(job_handlers(k)).unwrap())
        .collect();
    let clients: Vec<_> = (0..200u32)
        .map(|c| {
            let front = front.clone();
            std::thread::spawn(move || {
                let mut client = Client::builder(&front).timeout(LONG).connect().unwrap();
                for i in 0..2u32 {
                    let (rc, ri, _): (u32, u32, u32) = client.request("job", &(c, i)).unwrap();
                    assert_eq!((rc, ri), (c, i));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let handled: u64 = workers.into_iter().map(|w| w.stop().unwrap().handled).sum();
    assert_eq!(handled, 400);
    let s = router.stop().unwrap();
    assert_eq!(
        (s.requests, s.replies, s.failed, s.refused),
        (400, 400, 0, 0)
    );
}

#[test]
fn workers_survive_a_hostile_router() {
    let _w = watchdog(300);
    for protocol in [
        WorkerProtocol::LoadBalancing,
        WorkerProtocol::ParanoidPirate,
        MDP,
    ] {
        let mut router = zmtp::Router::bind("tcp://127.0.0.1:0").unwrap();
        let ep = router.bound_endpoints()[0].to_string();
        let w = Worker::builder(&ep)
            .protocol(protocol)
            .service("svc")
            .spawn(job_handlers(3))
            .unwrap();
        let ready = |router: &mut zmtp::Router| loop {
            let m = router.recv_multipart_timeout(LONG).unwrap();
            let f = m.frames();
            let is_ready = match protocol {
                WorkerProtocol::LoadBalancing => f[1..] == [b"".to_vec(), b"READY".to_vec()],
                WorkerProtocol::ParanoidPirate => f[1..] == [vec![1u8]],
                _ => f.len() == 4 && f[2] == [1u8],
            };
            if is_ready {
                return f[0].clone();
            }
        };
        let rid = ready(&mut router);
        // Garbage in the worker's protocol: a bare frame, an address without a delimiter,
        // an unknown Majordomo command.
        let garbage: [&[&[u8]]; 3] = [
            &[b"", b"junk"],
            &[b"", b"addr", b"not empty", b"x"],
            &[b"MDPW02", &[0x7f]],
        ];
        for g in garbage {
            let mut m: Vec<&[u8]> = vec![&rid];
            m.extend_from_slice(g);
            router.send_multipart(&m).unwrap();
        }
        // The worker is still there (a REQ worker registers again on a new socket): a real
        // request in its protocol is answered.
        let rid = if protocol == WorkerProtocol::LoadBalancing {
            ready(&mut router)
        } else {
            rid
        };
        let payload = [5u8, 6];
        let token = b"12345678";
        let request: Vec<&[u8]> = match protocol {
            WorkerProtocol::LoadBalancing => vec![&rid, b"", token, b"", b"job", &payload],
            WorkerProtocol::ParanoidPirate => vec![&rid, token, b"", b"job", &payload],
            _ => vec![&rid, b"MDPW02", &[0x02], token, b"", b"job", &payload],
        };
        router.send_multipart(&request).unwrap();
        let reply = loop {
            let m = router.recv_multipart_timeout(LONG).unwrap();
            if m.frames().iter().any(|f| f == token) {
                break m;
            }
        };
        let f = reply.frames();
        let body = &f[f.len() - 2..];
        assert_eq!(body[0], [0u8], "{protocol:?}: {f:?}");
        let got: (u32, u32, u32) = ringwire_core::msg::decode(&body[1]).unwrap();
        assert_eq!(got, (5, 6, 3), "{protocol:?}");
        let s = w.stop().unwrap();
        assert!(s.malformed >= 1, "{protocol:?}: {s:?}");
    }
}

#[test]
fn json_payloads_for_peers_that_are_not_rust() {
    use ringwire::broker::Server;
    use ringwire::codec::Json;
    let _w = watchdog(120);
    let handlers =
        Handlers::new().on_as::<Json, _, _, _>("sum", |v: Vec<i64>| v.iter().sum::<i64>());
    let server = Server::bind("tcp://127.0.0.1:0", handlers).unwrap();
    let ep = server.endpoints()[0].to_string();
    // What a Python peer sends: a REQ socket, event name, json.dumps(payload).
    let mut raw = zmtp::Req::connect(&ep).unwrap();
    raw.send_multipart(&[b"sum", b"[1,2,3]"]).unwrap();
    let reply = raw.recv_multipart_timeout(LONG).unwrap();
    assert_eq!(reply.frames(), &[vec![0u8], b"6".to_vec()]);
    let mut c = Client::builder(&ep).timeout(LONG).connect().unwrap();
    let sum: i64 = c.request_as::<Json, _, _>("sum", &[10, 20]).unwrap();
    assert_eq!(sum, 30);
    assert_eq!(server.stop().unwrap().replies, 2);
}

#[test]
fn worker_keeps_its_node_id_as_routing_id_across_reconnects() {
    use ringwire::broker::NodeId;
    let _w = watchdog(120);
    let file = std::env::temp_dir().join(format!("rw-broker-node-{}.ini", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let id = NodeId::load_or_create(&file).unwrap();
    assert_eq!(
        NodeId::load_or_create(&file).unwrap(),
        id,
        "stable across loads"
    );
    let ep = unique_ipc("node-id");
    let beat = Liveness {
        interval_ms: 20,
        timeout_ms: 50,
        max_missed: 2,
    };
    let ready_from = |router: &mut zmtp::Router| loop {
        let m = router.recv_multipart_timeout(LONG).unwrap();
        if m.frames()[1..] == [vec![1u8]] {
            return m.frames()[0].clone();
        }
    };
    let mut first = zmtp::Router::bind(&ep).unwrap();
    let w = Worker::builder(&ep)
        .identity(&id)
        .heartbeat(beat)
        .spawn(job_handlers(0))
        .unwrap();
    assert_eq!(ready_from(&mut first), id.as_bytes());
    // The router goes away and another takes its place: the worker finds it silent,
    // reconnects and registers under the same routing id.
    drop(first);
    let mut second = zmtp::Router::bind(&ep).unwrap();
    assert_eq!(ready_from(&mut second), id.as_bytes());
    wait_until("a reconnect", || w.stats().reconnects >= 1);
    w.stop().unwrap();
    std::fs::remove_file(&file).unwrap();
}
