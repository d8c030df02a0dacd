//! `ringwire-bench broker`: request/reply through a load-balancing broker, ringwire's
//! [`Router`] over tcp, ipc and shm against a broker written on
//! libzmq (feature `libzmq`) after the ZeroMQ guide's description of its load-balancing
//! broker (chapter 3: a ROUTER frontend for REQ clients, a ROUTER backend for REQ workers
//! that say READY, a queue of ready workers, the frontend polled only while a worker is free),
//! plus direct REQ/REP (no broker) for reference.
//!
//! Layout: the broker runs in a child process (this program again, with the hidden `--serve`);
//! clients and workers are threads of the leading process, every wait a blocking one (the
//! library defaults: shm sockets spin 50 µs, then sleep on the futex). Each client sends
//! `requests` echo requests of `size` bytes, one at a time, after a warm-up; the round trips
//! of all clients give p50/p99 and the wall time gives requests per second. Memory: the
//! broker process's resident set (`VmRSS`) with `idle` idle clients, then with `idle`
//! registered workers, minus the resident set with none, per peer.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Args;
use ringwire::bench::BenchError;
use ringwire::broker::{Client, Handlers, Router, Worker};
use ringwire::shm::{self, ShmOptions, WaitMode};
use ringwire::zmtp;

type Result<T> = std::result::Result<T, BenchError>;

fn fail(what: &str, e: impl std::fmt::Display) -> BenchError {
    BenchError(format!("{what}: {e}"))
}

/// Options of `ringwire-bench broker`.
#[derive(Args, Debug)]
pub struct BrokerArgs {
    /// Timed requests per client (after the warm-up).
    #[arg(long, default_value_t = 5_000)]
    requests: u64,
    /// Untimed requests per client before them.
    #[arg(long, default_value_t = 500)]
    warmup: u64,
    /// Request and reply payload, bytes.
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Client counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    clients: Vec<usize>,
    /// Worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    workers: Vec<usize>,
    /// Cases, comma-separated (default: all compiled in): ringwire-tcp, ringwire-ipc,
    /// ringwire-shm, libzmq-tcp, libzmq-ipc, direct-shm (a table of as many client channels as
    /// clients: one client is the 1:1 link), direct-shm-64 (a table of 64), direct-tcp.
    #[arg(long, value_delimiter = ',')]
    case: Vec<String>,
    /// Runs of every row; the report shows the median of each figure.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Idle clients and workers for the memory figures (0: skip them).
    #[arg(long, default_value_t = 50)]
    idle: usize,
    /// How ringwire's shm sockets (router, clients, workers, direct REQ/REP) wait: `blocking`
    /// (sleep on the futex at once: fair on a machine with fewer cores than busy threads) or
    /// `adaptive` (the library default: spin 50 µs, then sleep).
    #[arg(long, default_value = "blocking")]
    wait: String,
    /// Internal: serve as the broker process (`KIND FRONTEND BACKEND`).
    #[arg(long, hide = true, num_args = 3)]
    serve: Vec<String>,
}

impl BrokerArgs {
    fn shm(&self) -> ShmOptions {
        let wait = match self.wait.as_str() {
            "adaptive" => WaitMode::default(),
            "busy" => WaitMode::BusyPoll,
            _ => WaitMode::Blocking,
        };
        ShmOptions::new().wait(wait)
    }
}

const CASES: &[&str] = &[
    "ringwire-tcp",
    "ringwire-ipc",
    "ringwire-shm",
    #[cfg(feature = "libzmq")]
    "libzmq-tcp",
    #[cfg(feature = "libzmq")]
    "libzmq-ipc",
    "direct-shm",
    "direct-shm-64",
    "direct-tcp",
];

/// Runs the benchmark (or, with `--serve`, the broker process).
pub fn run(args: &BrokerArgs) -> Result<bool> {
    if let [kind, front, back] = &args.serve[..] {
        serve(kind, front, back, args.shm())?;
        return Ok(true);
    }
    let cases: Vec<&str> = CASES
        .iter()
        .copied()
        .filter(|c| args.case.is_empty() || args.case.iter().any(|a| a == c))
        .collect();
    if cases.is_empty() {
        return Err(BenchError(format!(
            "no case matches --case {:?}; compiled in: {CASES:?}",
            args.case
        )));
    }
    println!(
        "# brokered echo, {} B, {} requests per client ({} warm-up), median of {} run(s), \
         shm waits {}",
        args.size,
        args.requests,
        args.warmup,
        args.repeat.max(1),
        args.wait
    );
    println!(
        "{:<14} {:>7} {:>7} {:>10} {:>10} {:>12}",
        "case", "workers", "clients", "p50 us", "p99 us", "req/s"
    );
    for case in &cases {
        let direct = case.starts_with("direct");
        let worker_counts: &[usize] = if direct { &[1] } else { &args.workers };
        for &w in worker_counts {
            for &c in &args.clients {
                let runs = (0..args.repeat.max(1))
                    .map(|_| {
                        if direct {
                            direct_run(case, c, args)
                        } else {
                            brokered_run(case, w, c, args)
                        }
                    })
                    .collect::<Result<Vec<_>>>()?;
                let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
                println!(
                    "{case:<14} {w:>7} {c:>7} {:>10.1} {:>10.1} {:>12.0}",
                    m(|r| r.p50_us),
                    m(|r| r.p99_us),
                    m(|r| r.per_sec)
                );
            }
        }
    }
    if args.idle > 0 {
        println!("# broker process memory (VmRSS), {} idle peers", args.idle);
        println!(
            "{:<14} {:>12} {:>16} {:>16}",
            "case", "base KiB", "per client KiB", "per worker KiB"
        );
        for case in cases.iter().filter(|c| !c.starts_with("direct")) {
            let (base, client, worker) = memory(case, args.idle, &args.wait)?;
            println!("{case:<14} {base:>12} {client:>16.1} {worker:>16.1}");
        }
    }
    Ok(true)
}

struct Figures {
    p50_us: f64,
    p99_us: f64,
    per_sec: f64,
}

fn median(v: Vec<f64>) -> f64 {
    ringwire::bench::stats::median(&v).unwrap_or(0.0)
}

fn figures(mut rtts: Vec<u64>, total: u64, wall: Duration) -> Figures {
    rtts.sort_unstable();
    let at = |per_mille: u64| ringwire::bench::stats::percentile(&rtts, per_mille) as f64 / 1000.0;
    Figures {
        p50_us: at(500),
        p99_us: at(990),
        per_sec: total as f64 / wall.as_secs_f64().max(1e-9),
    }
}

/// Endpoints for one run of `case`.
fn endpoints(case: &str) -> (String, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let tag = format!(
        "rwb-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    match case.rsplit('-').next() {
        Some("shm") => (format!("shm://{tag}-f"), format!("shm://{tag}-b")),
        Some("ipc") => {
            let dir = std::env::temp_dir();
            let p = |s| format!("ipc://{}", dir.join(format!("{tag}-{s}.sock")).display());
            (p("f"), p("b"))
        }
        _ => ("tcp://127.0.0.1:0".into(), "tcp://127.0.0.1:0".into()),
    }
}

/// The broker child process: started, its resolved endpoints read, stopped by closing its
/// standard input.
struct BrokerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    front: String,
    back: String,
}

impl BrokerProcess {
    fn start(case: &str, wait: &str) -> Result<BrokerProcess> {
        let kind = case.split('-').next().unwrap_or("ringwire");
        let (f, b) = endpoints(case);
        let exe = std::env::current_exe().map_err(|e| fail("current_exe", e))?;
        let mut child = Command::new(exe)
            .args(["broker", "--wait", wait, "--serve", kind, &f, &b])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| fail("spawn the broker process", e))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| fail("read the broker's endpoints", e))?;
        }
        let mut words = line.split_whitespace().skip(1);
        let (Some(front), Some(back)) = (words.next(), words.next()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(BenchError(format!(
                "the {kind} broker did not start: {line:?}"
            )));
        };
        Ok(BrokerProcess {
            front: front.to_string(),
            back: back.to_string(),
            child,
            stdin,
        })
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .map_err(|e| fail("read the broker's /proc status", e))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| BenchError("no VmRSS in /proc status".into()))
    }

    fn stop(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(|e| fail("wait for the broker", e))?;
        for ep in [&self.front, &self.back] {
            if let Some(path) = ep.strip_prefix("ipc://") {
                let _ = std::fs::remove_file(path);
            }
        }
        if status.success() {
            Ok(())
        } else {
            Err(BenchError(format!("the broker process failed: {status}")))
        }
    }
}

/// The broker process: binds, prints `ready FRONTEND BACKEND`, serves until stdin closes.
fn serve(kind: &str, front: &str, back: &str, shm: ShmOptions) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let watch = std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        stop2.store(true, Ordering::Relaxed);
    });
    match kind {
        "ringwire" => {
            let router = Router::builder(front, back)
                .shm_options(shm.max_clients(128))
                .spawn()
                .map_err(|e| fail("bind the ringwire router", e))?;
            let f = router.frontend_endpoints()[0].to_string();
            let b = router.backend_endpoints()[0].to_string();
            say_ready(&f, &b);
            let _ = watch.join();
            router.stop().map_err(|e| fail("router", e))?;
        }
        #[cfg(feature = "libzmq")]
        "libzmq" => {
            libzmq::broker(front, back, &stop)?;
            let _ = watch.join();
        }
        other => return Err(BenchError(format!("no broker of kind {other}"))),
    }
    Ok(())
}

fn say_ready(front: &str, back: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready {front} {back}");
    let _ = out.flush();
}

/// One peer's request loop: `warmup` then `requests` timed round trips.
trait Requesting: Send {
    fn request(&mut self, payload: &[u8]) -> Result<()>;
}

impl Requesting for Client {
    fn request(&mut self, payload: &[u8]) -> Result<()> {
        let reply = self
            .request_bytes("echo", payload)
            .map_err(|e| fail("ringwire request", e))?;
        check_echo(payload, &reply)
    }
}

fn check_echo(sent: &[u8], got: &[u8]) -> Result<()> {
    if sent == got {
        Ok(())
    } else {
        Err(BenchError(
            "an echo reply does not match its request".into(),
        ))
    }
}

/// Runs `n` clients made by `make` at once; their round trips and the wall time of the timed
/// part.
fn drive(
    n: usize,
    args: &BrokerArgs,
    make: &(dyn Fn(usize) -> Result<Box<dyn Requesting>> + Sync),
) -> Result<Figures> {
    let start = Barrier::new(n + 1);
    let end = Barrier::new(n + 1);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..n)
            .map(|k| {
                let (start, end) = (&start, &end);
                s.spawn(move || -> Result<Vec<u64>> {
                    let made = make(k);
                    let payload = vec![k as u8; args.size];
                    let mut rtts = Vec::with_capacity(args.requests as usize);
                    let result = made.and_then(|mut peer| {
                        for _ in 0..args.warmup {
                            peer.request(&payload)?;
                        }
                        Ok(peer)
                    });
                    start.wait();
                    let result = result.and_then(|mut peer| {
                        for _ in 0..args.requests {
                            let t = Instant::now();
                            peer.request(&payload)?;
                            rtts.push(t.elapsed().as_nanos() as u64);
                        }
                        Ok(())
                    });
                    end.wait();
                    result.map(|()| rtts)
                })
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        end.wait();
        let wall = t0.elapsed();
        let mut all = Vec::new();
        for t in threads {
            all.extend(
                t.join()
                    .map_err(|_| BenchError("a client panicked".into()))??,
            );
        }
        Ok(figures(all, n as u64 * args.requests, wall))
    })
}

fn brokered_run(case: &str, workers: usize, clients: usize, args: &BrokerArgs) -> Result<Figures> {
    let broker = BrokerProcess::start(case, &args.wait)?;
    let (front, back) = (broker.front.clone(), broker.back.clone());
    let result = if case.starts_with("libzmq") {
        libzmq_run(&front, &back, workers, clients, args)
    } else {
        let handlers = Handlers::new().any(|b| b.to_vec());
        let ws = (0..workers)
            .map(|_| {
                Worker::builder(&back)
                    .shm_options(args.shm())
                    .spawn(handlers.clone())
            })
            .collect::<ringwire::Result<Vec<_>>>()
            .map_err(|e| fail("start a worker", e))?;
        let figures = drive(clients, args, &|_| {
            let c = Client::builder(&front)
                .shm_options(args.shm())
                .timeout(Duration::from_secs(30))
                .connect()
                .map_err(|e| fail("connect a client", e))?;
            Ok(Box::new(c) as Box<dyn Requesting>)
        });
        for w in ws {
            w.stop().map_err(|e| fail("worker", e))?;
        }
        figures
    };
    broker.stop()?;
    result
}

#[cfg(feature = "libzmq")]
fn libzmq_run(
    front: &str,
    back: &str,
    workers: usize,
    clients: usize,
    args: &BrokerArgs,
) -> Result<Figures> {
    let ctx = zmq::Context::new();
    let stop = Arc::new(AtomicBool::new(false));
    let ws = (0..workers)
        .map(|_| libzmq::worker(&ctx, back, stop.clone()))
        .collect::<Result<Vec<_>>>()?;
    let figures = drive(clients, args, &|_| libzmq::client(&ctx, front));
    stop.store(true, Ordering::Relaxed);
    for w in ws {
        let _ = w.join();
    }
    figures
}

#[cfg(not(feature = "libzmq"))]
fn libzmq_run(_: &str, _: &str, _: usize, _: usize, _: &BrokerArgs) -> Result<Figures> {
    Err(BenchError("built without the libzmq feature".into()))
}

/// A replier of the direct case: shm or ZMTP.
trait Replying: Send + 'static {
    fn recv(&mut self, timeout: Duration) -> ringwire::Result<Vec<u8>>;
    fn send(&mut self, bytes: &[u8]) -> ringwire::Result<()>;
}

impl Replying for shm::Replier {
    fn recv(&mut self, timeout: Duration) -> ringwire::Result<Vec<u8>> {
        self.recv_bytes_timeout(timeout)
    }
    fn send(&mut self, bytes: &[u8]) -> ringwire::Result<()> {
        self.send_bytes(bytes)
    }
}

impl Replying for zmtp::Rep {
    fn recv(&mut self, timeout: Duration) -> ringwire::Result<Vec<u8>> {
        self.recv_bytes_timeout(timeout)
    }
    fn send(&mut self, bytes: &[u8]) -> ringwire::Result<()> {
        self.send_bytes(bytes)
    }
}

/// Echoes every request on a thread of its own until `stop` (or a socket error).
fn echo(mut rep: impl Replying, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match rep.recv(Duration::from_millis(50)) {
                Ok(b) => {
                    if rep.send(&b).is_err() {
                        return;
                    }
                }
                Err(ringwire::Error::Timeout) => {}
                Err(_) => return,
            }
        }
    })
}

/// Direct REQ/REP, no broker: `clients` requesters against one replier thread.
fn direct_run(case: &str, clients: usize, args: &BrokerArgs) -> Result<Figures> {
    let stop = Arc::new(AtomicBool::new(false));
    let (ep, server) = if case.starts_with("direct-shm") {
        let (ep, _) = endpoints("shm");
        let table = if case == "direct-shm-64" {
            64
        } else {
            clients.max(1)
        };
        let options = args.shm().max_clients(table);
        let rep = shm::Replier::builder()
            .options(options)
            .bind(&ep)
            .map_err(|e| fail("bind the shm replier", e))?;
        (ep, echo(rep, stop.clone()))
    } else {
        let rep = zmtp::Rep::bind("tcp://127.0.0.1:0").map_err(|e| fail("bind rep", e))?;
        let ep = rep.endpoint();
        (ep, echo(rep, stop.clone()))
    };
    struct ShmReq(shm::Requester);
    impl Requesting for ShmReq {
        fn request(&mut self, payload: &[u8]) -> Result<()> {
            self.0.send_bytes(payload).map_err(|e| fail("send", e))?;
            let got = self.0.recv_bytes().map_err(|e| fail("recv", e))?;
            check_echo(payload, &got)
        }
    }
    struct TcpReq(zmtp::Req);
    impl Requesting for TcpReq {
        fn request(&mut self, payload: &[u8]) -> Result<()> {
            self.0.send_bytes(payload).map_err(|e| fail("send", e))?;
            let got = self.0.recv_bytes().map_err(|e| fail("recv", e))?;
            check_echo(payload, &got)
        }
    }
    let shm = case.starts_with("direct-shm");
    let figures = drive(clients, args, &|_| {
        Ok(if shm {
            Box::new(ShmReq(
                shm::Requester::builder()
                    .options(args.shm())
                    .connect(&ep)
                    .map_err(|e| fail("connect", e))?,
            )) as Box<dyn Requesting>
        } else {
            Box::new(TcpReq(
                zmtp::Req::connect(&ep).map_err(|e| fail("connect", e))?,
            ))
        })
    });
    stop.store(true, Ordering::Relaxed);
    let _ = server.join();
    figures
}

/// The broker's resident set: with no peer, with `n` idle clients, with `n` workers (KiB; per
/// peer for the last two).
fn memory(case: &str, n: usize, wait: &str) -> Result<(u64, f64, f64)> {
    let settle = || std::thread::sleep(Duration::from_millis(500));
    let broker = BrokerProcess::start(case, wait)?;
    settle();
    let base = broker.rss_kib()?;
    let per = |rss: u64| (rss as f64 - base as f64) / n as f64;
    let libzmq = case.starts_with("libzmq");
    let clients = if libzmq {
        Peers::of(libzmq_idle(&broker.front, n, false)?)
    } else if case.ends_with("shm") {
        let reqs = (0..n)
            .map(|_| shm::Requester::connect(&broker.front))
            .collect::<ringwire::Result<Vec<_>>>()
            .map_err(|e| fail("connect an idle client", e))?;
        Peers::of(reqs)
    } else {
        let reqs = (0..n)
            .map(|_| zmtp::Req::connect(&broker.front))
            .collect::<ringwire::Result<Vec<_>>>()
            .map_err(|e| fail("connect an idle client", e))?;
        Peers::of(reqs)
    };
    settle();
    let with_clients = broker.rss_kib()?;
    drop(clients);
    settle();
    let before_workers = broker.rss_kib()?;
    let workers = if libzmq {
        Peers::of(libzmq_idle(&broker.back, n, true)?)
    } else {
        let handlers = Handlers::new().any(|b| b.to_vec());
        let ws = (0..n)
            .map(|_| Worker::builder(&broker.back).spawn(handlers.clone()))
            .collect::<ringwire::Result<Vec<_>>>()
            .map_err(|e| fail("start an idle worker", e))?;
        Peers::of(ws)
    };
    settle();
    settle();
    let with_workers = broker.rss_kib()?;
    drop(workers);
    broker.stop()?;
    Ok((
        base,
        per(with_clients),
        (with_workers as f64 - before_workers as f64) / n as f64,
    ))
}

/// Idle peers kept alive while the broker's memory is read.
struct Peers(#[allow(dead_code)] Box<dyn std::any::Any>);

impl Peers {
    fn of<T: 'static>(t: T) -> Peers {
        Peers(Box::new(t))
    }
}

#[cfg(feature = "libzmq")]
fn libzmq_idle(ep: &str, n: usize, ready: bool) -> Result<(zmq::Context, Vec<zmq::Socket>)> {
    let ctx = zmq::Context::new();
    let socks = (0..n)
        .map(|_| {
            let s = ctx.socket(zmq::REQ).map_err(|e| fail("zmq socket", e))?;
            s.set_linger(0).map_err(|e| fail("zmq linger", e))?;
            s.connect(ep).map_err(|e| fail("zmq connect", e))?;
            if ready {
                s.send(libzmq::READY, 0).map_err(|e| fail("zmq send", e))?;
            }
            Ok(s)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((ctx, socks))
}

#[cfg(not(feature = "libzmq"))]
fn libzmq_idle(_: &str, _: usize, _: bool) -> Result<()> {
    Err(BenchError("built without the libzmq feature".into()))
}

#[cfg(feature = "libzmq")]
mod libzmq {
    //! The guide's load-balancing pattern on libzmq, written from its description.

    use std::collections::VecDeque;

    use super::*;

    /// What a worker sends first.
    pub(super) const READY: &[u8] = b"READY";

    fn z(what: &'static str) -> impl Fn(zmq::Error) -> BenchError {
        move |e| fail(what, e)
    }

    /// The broker: ROUTER frontend (clients), ROUTER backend (workers), a queue of free
    /// workers; the frontend is only read while a worker is free.
    pub(super) fn broker(front: &str, back: &str, stop: &AtomicBool) -> Result<()> {
        let ctx = zmq::Context::new();
        let frontend = ctx.socket(zmq::ROUTER).map_err(z("socket"))?;
        let backend = ctx.socket(zmq::ROUTER).map_err(z("socket"))?;
        for (s, ep) in [(&frontend, front), (&backend, back)] {
            s.set_linger(0).map_err(z("linger"))?;
            s.bind(&ep.replace(":0", ":*")).map_err(z("bind"))?;
        }
        let resolved = |s: &zmq::Socket| {
            s.get_last_endpoint()
                .map_err(z("endpoint"))
                .map(|e| e.unwrap_or_default())
        };
        say_ready(&resolved(&frontend)?, &resolved(&backend)?);
        let mut free: VecDeque<Vec<u8>> = VecDeque::new();
        while !stop.load(Ordering::Relaxed) {
            let mut items = [
                backend.as_poll_item(zmq::POLLIN),
                frontend.as_poll_item(zmq::POLLIN),
            ];
            let n = if free.is_empty() { 1 } else { 2 };
            zmq::poll(&mut items[..n], 100).map_err(z("poll"))?;
            let (from_workers, from_clients) =
                (items[0].is_readable(), n == 2 && items[1].is_readable());
            if from_workers {
                // [worker, "", READY] or [worker, "", client, "", reply...]
                let mut m = backend.recv_multipart(0).map_err(z("recv"))?;
                if m.len() < 3 {
                    continue;
                }
                free.push_back(m.remove(0));
                if m.len() >= 4 && m[1] != READY {
                    frontend.send_multipart(&m[1..], 0).map_err(z("send"))?;
                }
            }
            if from_clients && let Some(worker) = free.pop_front() {
                // [client, "", request...] to [worker, "", client, "", request...]
                let m = frontend.recv_multipart(0).map_err(z("recv"))?;
                let mut out: Vec<&[u8]> = vec![&worker, b""];
                out.extend(m.iter().map(Vec::as_slice));
                backend.send_multipart(out, 0).map_err(z("send"))?;
            }
        }
        Ok(())
    }

    /// A REQ worker: READY, then echo `[client, "", request]` until `stop`.
    pub(super) fn worker(
        ctx: &zmq::Context,
        back: &str,
        stop: Arc<AtomicBool>,
    ) -> Result<std::thread::JoinHandle<Result<()>>> {
        let s = ctx.socket(zmq::REQ).map_err(z("socket"))?;
        s.set_linger(0).map_err(z("linger"))?;
        s.set_rcvtimeo(50).map_err(z("rcvtimeo"))?;
        s.connect(back).map_err(z("connect"))?;
        s.send(READY, 0).map_err(z("send"))?;
        Ok(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match s.recv_multipart(0) {
                    Ok(m) => s.send_multipart(m, 0).map_err(z("send"))?,
                    Err(zmq::Error::EAGAIN) => {}
                    Err(e) => return Err(fail("recv", e)),
                }
            }
            Ok(())
        }))
    }

    struct ZmqClient(zmq::Socket, zmq::Message);

    impl Requesting for ZmqClient {
        fn request(&mut self, payload: &[u8]) -> Result<()> {
            self.0.send(payload, 0).map_err(z("send"))?;
            self.0.recv(&mut self.1, 0).map_err(z("recv"))?;
            check_echo(payload, &self.1)
        }
    }

    pub(super) fn client(ctx: &zmq::Context, front: &str) -> Result<Box<dyn Requesting>> {
        let s = ctx.socket(zmq::REQ).map_err(z("socket"))?;
        s.set_linger(0).map_err(z("linger"))?;
        s.connect(front).map_err(z("connect"))?;
        Ok(Box::new(ZmqClient(s, zmq::Message::new())))
    }
}
