//! Hostile conditions against live ZMTP sockets, each of which once cost CPU, memory or
//! messages without a trace: descriptor exhaustion while clients knock (`accept` failing
//! with EMFILE), messages over the receiver's size limit, idle connections and peers that
//! never read their replies. Each test checks the work or memory spent, not wall time.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use std::sync::Mutex;

use ringwire::zmtp::{Pull, Push, Rep, Req, Router, SocketEvent};
use ringwire::{Endpoint, Error};
use ringwire_core::zmtp::{self, Limits, Version};
use ringwire_tests::watchdog;

const T: Duration = Duration::from_secs(10);

fn tcp_addr(ep: &Endpoint) -> String {
    match ep {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        other => panic!("not tcp: {other}"),
    }
}

/// Log records of this test process (every test's: tests pick theirs by content).
static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

/// A logger keeping every record in [`RECORDS`].
struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        RECORDS.lock().unwrap().push((record.level(), line));
    }
    fn flush(&self) {}
}

/// Installs [`Capture`] (once per process).
fn capture_logs() {
    static LOGGER: Capture = Capture;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// The captured records at `level` whose text contains every one of `words`.
/// Whether `line` holds `word` not followed by a digit: the address `127.0.0.1:4123` must not
/// match another test's `127.0.0.1:41234` in the log this binary's tests share.
fn holds(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(at, _)| {
        !line[at + word.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

fn records(level: log::Level, words: &[&str]) -> Vec<String> {
    let all = RECORDS.lock().unwrap();
    all.iter()
        .filter(|(l, line)| *l == level && words.iter().all(|w| holds(line, w)))
        .map(|(_, line)| line.clone())
        .collect()
}

/// A raw peer's handshake: greeting and READY with `socket_type` (and an identity).
fn handshake(socket_type: &str, identity: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let v = Version { major: 3, minor: 1 };
    let mut n = zmtp::encode_greeting(&mut buf, v, false).unwrap();
    let props: &[(&[u8], &[u8])] = &[
        (b"Socket-Type", socket_type.as_bytes()),
        (b"Identity", identity),
    ];
    n += zmtp::encode_ready(&mut buf[n..], props).unwrap();
    buf[..n].to_vec()
}

/// Receives events until one matches `want` (panics after [`T`]).
fn event_where(
    rx: &std::sync::mpsc::Receiver<SocketEvent>,
    want: impl Fn(&SocketEvent) -> bool,
) -> SocketEvent {
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = rx.recv_timeout(left).expect("event did not come");
        if want(&e) {
            return e;
        }
    }
}

/// A REQ in its own thread that keeps asking until it gets an answer.
fn ask_until_answered(ep: String) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut req = Req::connect(&ep).unwrap();
        loop {
            match req.request::<_, String>(&"hello", Duration::from_millis(500)) {
                Ok(a) => return a,
                Err(Error::Timeout | Error::Disconnected) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
}

/// CPU time (user + system) this process has used, read from `/proc/self/stat`
/// (fields 14 and 15, in clock ticks of 10 ms), opened once so that reading it needs no
/// free descriptor.
struct CpuClock(std::fs::File);

impl CpuClock {
    fn new() -> CpuClock {
        CpuClock(std::fs::File::open("/proc/self/stat").unwrap())
    }

    fn ms(&self) -> u64 {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 1024];
        let n = self.0.read_at(&mut buf, 0).unwrap();
        let stat = std::str::from_utf8(&buf[..n]).unwrap();
        // The command name may hold spaces: count fields after its closing parenthesis.
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state).
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 10
    }
}

/// Set in the environment of the child process [`rep_backs_off_while_out_of_descriptors`]
/// runs [`emfile_child`] in.
const EMFILE_CHILD: &str = "RINGWIRE_TEST_EMFILE_CHILD";
/// How long the child's REP keeps receiving while no descriptor is free.
const EPISODE: Duration = Duration::from_secs(1);

/// Not a test of its own: the body of the child process that
/// [`rep_backs_off_while_out_of_descriptors`] starts (it returns at once elsewhere). It
/// lowers its descriptor limit, binds a REP, takes every free descriptor, then receives
/// for [`EPISODE`] while a client knocks, reports the CPU time that took, frees the
/// descriptors and serves one request.
#[test]
fn emfile_child() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    if std::env::var_os(EMFILE_CHILD).is_none() {
        return;
    }
    let old = getrlimit(Resource::Nofile);
    let limit = Rlimit {
        current: Some(256),
        maximum: old.maximum,
    };
    setrlimit(Resource::Nofile, limit).unwrap();
    // The default connection limit stays below the descriptor limit.
    let max = ringwire::zmtp::Options::default().max_connections;
    assert!(max < 256, "max_connections {max} with 256 descriptors");
    let cpu = CpuClock::new();
    let mut rep = Rep::bind("tcp://127.0.0.1:0").unwrap();
    println!("EP {}", rep.bound_endpoints()[0]);
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }
    println!("FULL {}", hog.len());
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "CONNECTED");
    let (cpu0, t0) = (cpu.ms(), Instant::now());
    while t0.elapsed() < EPISODE {
        match rep.recv_timeout::<String>(Duration::from_millis(100)) {
            Err(Error::Timeout) => {}
            other => panic!("nothing can be accepted yet: {other:?}"),
        }
    }
    println!("CPU {}", cpu.ms() - cpu0);
    drop(hog);
    let q: String = rep.recv_timeout(T).unwrap();
    rep.send(&q.to_uppercase()).unwrap();
    rep.flush().unwrap();
    println!("SERVED");
}

#[test]
fn rep_backs_off_while_out_of_descriptors() {
    let _watchdog = watchdog(60);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_child", "--nocapture", "--test-threads=1"])
        .env(EMFILE_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = |tag: &str| loop {
        let line = lines.next().expect("child ended early").unwrap();
        // The harness may print `test emfile_child ... ` on the same line first.
        if let Some(at) = line.find(tag) {
            return line[at + tag.len()..].trim().to_string();
        }
    };
    let ep: Endpoint = next("EP ").parse().unwrap();
    next("FULL ");
    // A raw connection sits in the backlog (the kernel completed it); `accept` fails.
    let _knock = TcpStream::connect(tcp_addr(&ep)).unwrap();
    let asker = ask_until_answered(ep.to_string());
    writeln!(to_child, "CONNECTED").unwrap();
    let cpu: u64 = next("CPU ").parse().unwrap();
    eprintln!("{cpu} ms of CPU in a {EPISODE:?} episode of EMFILE");
    next("SERVED");
    assert_eq!(asker.join().unwrap(), "HELLO");
    assert!(child.wait().unwrap().success());
    // A spinning pump burns the whole episode (hundreds of ms even on a loaded machine);
    // backing off costs a few wake-ups.
    assert!(
        cpu < EPISODE.as_millis() as u64 / 4,
        "{cpu} ms of CPU in a {EPISODE:?} episode of EMFILE"
    );
}

#[test]
fn a_message_over_the_size_limit_is_counted_logged_and_reported() {
    let _watchdog = watchdog(60);
    capture_logs();
    let limits = Limits {
        max_frame: 1000,
        max_message: 1000,
        ..Limits::default()
    };
    let mut pull = Pull::builder()
        .limits(limits)
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let events = pull.monitor();
    let ep = pull.bound_endpoints()[0].clone();
    let mut push = Push::connect(&ep.to_string()).unwrap();
    push.send_bytes(&[1u8; 100]).unwrap();
    push.send_bytes(&[2u8; 5000]).unwrap();
    push.flush().unwrap();
    assert_eq!(pull.recv_bytes_timeout(T).unwrap(), [1u8; 100]);
    let e = event_where(&events, |e| {
        matches!(e, SocketEvent::MessageTooLarge { .. })
    });
    let SocketEvent::MessageTooLarge {
        endpoint,
        peer,
        size,
        limit,
    } = e
    else {
        unreachable!()
    };
    assert_eq!((endpoint, size, limit), (ep.clone(), 5000, 1000));
    let peer = peer.expect("a tcp peer has an address").to_string();
    assert_ne!(peer, ep.to_string());
    assert_eq!(pull.stats().too_large, 1);
    let found = records(log::Level::Warn, &[&ep.to_string(), &peer, "5000", "1000"]);
    assert_eq!(found.len(), 1, "{found:?}");
}

#[test]
fn events_and_logs_name_the_peer_and_its_routing_id() {
    let _watchdog = watchdog(60);
    capture_logs();
    let mut router = Router::builder()
        .heartbeat(Duration::from_millis(50), Duration::from_millis(300))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let events = router.monitor();
    let ep = router.bound_endpoints()[0].clone();
    let addr = tcp_addr(&ep);
    // Two workers: one leaves cleanly, one goes silent (it never answers PINGs).
    let mut leaving = TcpStream::connect(&addr).unwrap();
    leaving
        .write_all(&handshake("DEALER", b"w-leaving"))
        .unwrap();
    let mut silent = TcpStream::connect(&addr).unwrap();
    silent.write_all(&handshake("DEALER", b"w-silent")).unwrap();
    let leaving_at = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: leaving.local_addr().unwrap().port(),
    };
    let silent_at = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: silent.local_addr().unwrap().port(),
    };
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|e| matches!(e, SocketEvent::HandshakeSucceeded { .. }))
        .count()
        < 2
    {
        seen.push(events.recv_timeout(T).expect("events did not come"));
    }
    for (at, id) in [(&leaving_at, &b"w-leaving"[..]), (&silent_at, b"w-silent")] {
        let accepted = SocketEvent::Accepted {
            endpoint: ep.clone(),
            peer: Some(at.clone()),
        };
        assert!(seen.contains(&accepted), "{seen:?}");
        assert!(
            seen.iter().any(
                |e| matches!(e, SocketEvent::HandshakeSucceeded { peer, routing_id, .. }
                if peer.as_ref() == Some(at) && routing_id == id)
            ),
            "{seen:?}"
        );
    }
    drop(leaving);
    let mut disconnected = Vec::new();
    while disconnected.len() < 2 {
        // The ROUTER must be pumped to notice (a broker is always receiving).
        let _ = router.recv_multipart_timeout(Duration::from_millis(20));
        while let Ok(e) = events.try_recv() {
            if let SocketEvent::Disconnected {
                peer, routing_id, ..
            } = e
            {
                disconnected.push((peer.unwrap(), routing_id));
            }
        }
    }
    assert!(disconnected.contains(&(leaving_at.clone(), b"w-leaving".to_vec())));
    assert!(disconnected.contains(&(silent_at.clone(), b"w-silent".to_vec())));
    // The log tells the same story.
    let (leaving_at, silent_at) = (leaving_at.to_string(), silent_at.to_string());
    assert_eq!(
        records(log::Level::Info, &[&leaving_at, "disconnected"]).len(),
        1
    );
    assert_eq!(
        records(log::Level::Warn, &[&silent_at, "silent too long"]).len(),
        1
    );
    assert_eq!(
        records(log::Level::Info, &[&silent_at, "disconnected"]).len(),
        1
    );
    assert_eq!(
        records(log::Level::Info, &[&leaving_at, "handshake"]).len(),
        1
    );
    assert_eq!(
        records(log::Level::Debug, &[&leaving_at, "accepted"]).len(),
        1
    );
    // A failed handshake, and a connect.
    let mut garbage = TcpStream::connect(&addr).unwrap();
    let garbage_at = format!("127.0.0.1:{}", garbage.local_addr().unwrap().port());
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    event_where(&events, |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    let failed = records(log::Level::Warn, &[&garbage_at, "handshake", "failed"]);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let _req = Req::connect(&ep.to_string()).unwrap();
    assert!(!records(log::Level::Debug, &["connected to", &ep.to_string()]).is_empty());
}

#[test]
fn a_thousand_idle_connections_hold_little_memory() {
    let _watchdog = watchdog(120);
    let mut rep = Rep::builder()
        .handshake_timeout(Duration::from_secs(100))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let addr = tcp_addr(&rep.bound_endpoints()[0]);
    let before = rep.held_bytes();
    // Half of them send half a greeting, the rest nothing.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap();
            if i % 2 == 0 {
                s.write_all(&[0xFF, 0, 0, 0, 0]).unwrap();
            }
            s
        })
        .collect();
    while rep.connection_count() < idle.len() {
        rep.process().unwrap();
        thread::sleep(Duration::from_millis(1));
    }
    // Let every connection read what its peer sent.
    for _ in 0..10 {
        rep.process().unwrap();
    }
    let per_conn = rep.held_bytes().saturating_sub(before) / idle.len();
    eprintln!("{per_conn} bytes held per idle connection");
    // Design: no read buffer of its own (reads go through the socket's one buffer),
    // the protocol machine (~5 KiB: a 4 KiB command buffer and a 512-byte transmit
    // queue) and a 4 KiB write buffer: well under 16 KiB per idle connection.
    assert!(
        per_conn <= 16 * 1024,
        "{per_conn} bytes per idle connection"
    );
}

#[test]
fn a_peer_that_never_reads_cannot_make_rep_hold_more_than_its_budget() {
    let _watchdog = watchdog(120);
    const BUDGET: usize = 1 << 20;
    let mut rep = Rep::builder()
        .max_queued_bytes(BUDGET)
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let addr = tcp_addr(&rep.bound_endpoints()[0]);
    // A requester that sends 1000 requests at once and never reads a reply.
    let mut peer = TcpStream::connect(&addr).unwrap();
    let mut out = handshake("REQ", b"");
    for i in 0..1000u32 {
        let mut buf = [0u8; 32];
        let mut n = zmtp::encode_frame(&mut buf, true, b"").unwrap();
        n += zmtp::encode_frame(&mut buf[n..], false, &i.to_be_bytes()).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    peer.write_all(&out).unwrap();
    let reply = vec![7u8; 64 * 1024];
    let mut most = 0;
    let mut served = 0;
    // 1000 replies of 64 KiB are 64 MiB: more than the kernel's buffers take (at most the
    // tcp_wmem and tcp_rmem maxima; a receive buffer nobody reads stays far smaller).
    while rep.recv_bytes_timeout(Duration::from_millis(500)).is_ok() {
        rep.send_bytes(&reply).unwrap();
        served += 1;
        most = most.max(rep.held_bytes());
    }
    assert!(served > 0);
    // Design: queued bytes stay within the budget (one message may go over it when
    // nothing else is queued); a write buffer's capacity may be twice what it holds,
    // plus the inbox and per-connection state.
    let bound = 2 * (BUDGET + reply.len()) + 512 * 1024;
    assert!(most <= bound, "REP held {most} bytes (bound {bound})");
    let s = rep.stats();
    assert!(s.dropped_budget >= 1, "{s:?}");
    // The peer held more than half the budget: it was closed.
    assert_eq!(rep.connection_count(), 0);
    drop(peer);
}
