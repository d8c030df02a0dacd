//! `ringwire-bench events`: emit → handler and signal → handler latency of the event service,
//! side by side with a plain shm PUB/SUB and with iceoryx2's event service, in one run.
//!
//! Every case is **one-way latency**: the sender reads `CLOCK_MONOTONIC` (the same clock in
//! every process of the machine) just before it sends, the receiver reads it on entry to its
//! handler (or right after its receive returns), and the sample is the difference. Emissions
//! and PUB/SUB messages carry the send stamp in their first 8 bytes; signals carry nothing, so
//! the signalling process keeps its send stamps and the signalled one prints its receive
//! stamps (paired in order). Senders pace themselves (`--interval-us`, times N/4 with N
//! subscribers) so that every receiver is asleep again when the next message comes: this is
//! the latency of an idle system with blocking waits (futex), not of a flood. Receivers are
//! separate processes (this program with the hidden `--role`).
//!
//! Cases: `emit-shm` (a hub-less service, `shm://`: one ring write), `emit-tcp` (the service
//! routes each emission over ZMTP/TCP), `pubsub-shm` (a bare `ringwire::shm` Publisher and
//! blocking Subscribers: the baseline of `emit-shm`), `signal-shm` (a node's doorbell), and
//! with the `iceoryx2` feature `signal-iceoryx2` (iceoryx2 0.10 event service: `Notifier::
//! notify` → `Listener::blocking_wait`). Each statistic is the median over `--repeat` runs.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use ringwire::events::{Emission, Emitted, Node, NodeId, Service, Signals};
use ringwire::shm::{Publisher, ShmOptions, ShmSocket, Subscriber, WaitMode};

/// Options of `ringwire-bench events`.
#[derive(clap::Args, Debug, Clone)]
pub struct EventsArgs {
    /// Recorded messages per case and run.
    #[arg(long, default_value_t = 2000)]
    pub iters: u64,
    /// Unrecorded messages before them.
    #[arg(long, default_value_t = 200)]
    pub warmup: u64,
    /// Subscriber process counts of the emit and PUB/SUB cases, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 4, 16])]
    pub subs: Vec<usize>,
    /// Message size in bytes (at least 16: the stamp and the sequence number).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Pause between two messages in microseconds (times N/4 with N > 4 subscribers).
    #[arg(long, default_value_t = 300)]
    pub interval_us: u64,
    /// Runs of every case; the report shows the median of each statistic.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Cases to run, comma-separated (default: all compiled in): emit-shm, emit-tcp,
    /// pubsub-shm, signal-shm, signal-iceoryx2.
    #[arg(long, value_delimiter = ',')]
    pub case: Vec<String>,
    /// Print JSON lines instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Internal: the receiving process's role.
    #[arg(long, hide = true)]
    pub role: Option<String>,
    /// Internal: what the receiving process connects to.
    #[arg(long, hide = true)]
    pub ep: Option<String>,
}

type Res<T> = Result<T, String>;

const END: u64 = u64::MAX;
const PROBE: u64 = u64::MAX - 1;
const EVENT: &str = "bench";

use ringwire::bench::clock::now_ns;

fn message(size: usize, seq: u64) -> Vec<u8> {
    let mut m = vec![0u8; size.max(16)];
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    m
}

fn stamp(m: &mut [u8]) {
    m[..8].copy_from_slice(&now_ns().to_le_bytes());
}

/// (send stamp, sequence) of a received message; `None` if too short.
fn read(m: &[u8]) -> Option<(u64, u64)> {
    let ts = u64::from_le_bytes(m.get(..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(m.get(8..16)?.try_into().ok()?);
    Some((ts, seq))
}

fn cases(args: &EventsArgs) -> Vec<&'static str> {
    let mut all = vec!["pubsub-shm", "emit-shm", "emit-tcp", "signal-shm"];
    if cfg!(feature = "iceoryx2") {
        all.push("signal-iceoryx2");
    }
    all.retain(|c| args.case.is_empty() || args.case.iter().any(|a| a == c));
    all
}

/// Runs the benchmark (or, with `--role`, one receiving process).
pub fn main(args: &EventsArgs) -> Res<()> {
    if let Some(role) = &args.role {
        let ep = args.ep.clone().ok_or("--role needs --ep")?;
        return receiver(role, &ep, args);
    }
    if args.size < 16 {
        return Err("--size must be at least 16".into());
    }
    let mut rows = Vec::new();
    for case in cases(args) {
        let counts: Vec<usize> = if case.starts_with("signal") {
            vec![1]
        } else {
            args.subs.clone()
        };
        for n in counts {
            let mut p50 = Vec::new();
            let mut p99 = Vec::new();
            for run in 0..args.repeat.max(1) {
                let mut s = match case {
                    "emit-shm" | "emit-tcp" => emit_run(args, case, n, run)?,
                    "pubsub-shm" => pubsub_run(args, n, run)?,
                    "signal-shm" => signal_run(args, run)?,
                    _ => iceoryx2_run(args, run)?,
                };
                if s.is_empty() {
                    return Err(format!("{case} with {n} subscriber(s): no samples"));
                }
                s.sort_unstable();
                p50.push(pct(&s, 500));
                p99.push(pct(&s, 990));
            }
            rows.push(Row {
                case,
                subs: n,
                p50: median(p50),
                p99: median(p99),
            });
        }
    }
    print_rows(args, &rows);
    Ok(())
}

struct Row {
    case: &'static str,
    subs: usize,
    p50: u64,
    p99: u64,
}

use ringwire::bench::stats::percentile as pct;

/// The median run's figure (rounded to the nanosecond).
fn median(v: Vec<u64>) -> u64 {
    let v: Vec<f64> = v.into_iter().map(|x| x as f64).collect();
    ringwire::bench::stats::median(&v).map_or(0, |m| m.round() as u64)
}

fn print_rows(args: &EventsArgs, rows: &[Row]) {
    let base = |case: &str, n: usize| rows.iter().find(|r| r.case == case && r.subs == n);
    let mut out = std::io::stdout().lock();
    if !args.json {
        let _ = writeln!(
            out,
            "one-way latency, {} B, median of {} run(s) of {} messages",
            args.size, args.repeat, args.iters
        );
        let _ = writeln!(
            out,
            "{:<16} {:>5} {:>10} {:>10}  ratio (p50, p99)",
            "case", "subs", "p50 µs", "p99 µs"
        );
    }
    for r in rows {
        let against = match r.case {
            "emit-shm" | "emit-tcp" => base("pubsub-shm", r.subs),
            "signal-shm" => base("signal-iceoryx2", 1),
            _ => None,
        };
        let ratio = against.map(|b| {
            (
                r.p50 as f64 / b.p50.max(1) as f64,
                r.p99 as f64 / b.p99.max(1) as f64,
            )
        });
        if args.json {
            let ratio = ratio.map_or(String::new(), |(a, b)| {
                format!(
                    ", \"vs\": \"{}\", \"ratio_p50\": {a:.2}, \"ratio_p99\": {b:.2}",
                    against.map_or("", |b| b.case)
                )
            });
            let _ = writeln!(
                out,
                "{{\"case\": \"{}\", \"subscribers\": {}, \"size\": {}, \"p50_ns\": {}, \"p99_ns\": {}{ratio}}}",
                r.case, r.subs, args.size, r.p50, r.p99
            );
        } else {
            let ratio = ratio.map_or(String::new(), |(a, b)| {
                format!("  {a:.2}x, {b:.2}x of {}", against.map_or("", |b| b.case))
            });
            let _ = writeln!(
                out,
                "{:<16} {:>5} {:>10.1} {:>10.1}{ratio}",
                r.case,
                r.subs,
                r.p50 as f64 / 1000.0,
                r.p99 as f64 / 1000.0
            );
        }
    }
}

/// Receiving processes, killed on drop.
struct Kids(Vec<Child>);

impl Kids {
    fn spawn(args: &EventsArgs, role: &str, ep: &str, n: usize) -> Res<Kids> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut kids = Kids(Vec::new());
        for _ in 0..n {
            let child = Command::new(&exe)
                .args(["events", "--role", role, "--ep", ep])
                .args(["--iters", &args.iters.to_string()])
                .args(["--warmup", &args.warmup.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .map_err(|e| format!("spawn {role}: {e}"))?;
            kids.0.push(child);
        }
        Ok(kids)
    }

    /// Waits for a "ready" line from each.
    fn ready(&mut self) -> Res<Vec<BufReader<std::process::ChildStdout>>> {
        let mut outs = Vec::new();
        for c in &mut self.0 {
            let mut out = BufReader::new(c.stdout.take().ok_or("no stdout")?);
            let mut l = String::new();
            out.read_line(&mut l).map_err(|e| e.to_string())?;
            if l.trim() != "ready" {
                return Err(format!("receiver said {l:?}"));
            }
            outs.push(out);
        }
        Ok(outs)
    }

    fn all_exited(&mut self) -> bool {
        self.0
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(Some(_))))
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The samples (or stamps) every receiver printed: lines `S v v v ...`.
fn collect(outs: Vec<BufReader<std::process::ChildStdout>>) -> Vec<Vec<u64>> {
    outs.into_iter()
        .map(|out| {
            out.lines()
                .map_while(|l| l.ok())
                .filter_map(|l| l.strip_prefix("S ").map(str::to_owned))
                .flat_map(|l| {
                    l.split_whitespace()
                        .filter_map(|v| v.parse().ok())
                        .collect::<Vec<u64>>()
                })
                .collect()
        })
        .collect()
}

fn interval(args: &EventsArgs, n: usize) -> Duration {
    Duration::from_micros(args.interval_us * (n as u64 / 4).max(1))
}

/// Sends END until every receiver exited (they may have missed one: lossy rings).
fn finish(kids: &mut Kids, mut send_end: impl FnMut()) -> Res<()> {
    let end = Instant::now() + Duration::from_secs(60);
    while !kids.all_exited() {
        if Instant::now() > end {
            return Err("receivers did not finish".into());
        }
        send_end();
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn emit_run(args: &EventsArgs, case: &str, n: usize, run: usize) -> Res<Vec<u64>> {
    let ep = if case == "emit-shm" {
        format!("shm://rwbev-{}-{run}-{n}", std::process::id())
    } else {
        "tcp://127.0.0.1:0".to_owned()
    };
    let service = Service::bind(&ep).map_err(|e| e.to_string())?;
    let ep = service.endpoint();
    let node = Node::connect(&ep, NodeId::name("emitter")).map_err(|e| e.to_string())?;
    node.create_event(EVENT, Emission::Single)
        .map_err(|e| e.to_string())?;
    let mut kids = Kids::spawn(args, "emit", &ep, n)?;
    let outs = kids.ready()?;
    let probe = message(args.size, PROBE);
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.emit(EVENT, &probe).map_err(|e| e.to_string())? < n as u32 {
        if Instant::now() > deadline {
            return Err("subscribers did not all subscribe".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let pause = interval(args, n);
    for i in 0..args.warmup + args.iters {
        let mut m = message(args.size, i);
        stamp(&mut m);
        node.emit(EVENT, &m).map_err(|e| e.to_string())?;
        std::thread::sleep(pause);
    }
    let end = message(args.size, END);
    finish(&mut kids, || {
        let _ = node.emit(EVENT, &end);
    })?;
    Ok(collect(outs).concat())
}

fn pubsub_run(args: &EventsArgs, n: usize, run: usize) -> Res<Vec<u64>> {
    let ep = format!("shm://rwbps-{}-{run}-{n}", std::process::id());
    let mut publisher = Publisher::bind_with(&ep, ShmOptions::default().slot_size(4096))
        .map_err(|e| e.to_string())?;
    let mut kids = Kids::spawn(args, "pubsub", &ep, n)?;
    let outs = kids.ready()?;
    publisher
        .wait_for_subscribers(n, Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let pause = interval(args, n);
    for i in 0..args.warmup + args.iters {
        let mut m = message(args.size, i);
        stamp(&mut m);
        publisher.send_bytes(&m).map_err(|e| e.to_string())?;
        std::thread::sleep(pause);
    }
    let end = message(args.size, END);
    finish(&mut kids, || {
        let _ = publisher.send_bytes(&end);
    })?;
    Ok(collect(outs).concat())
}

/// Pairs the sender's stamps with the receiver's (in order; a coalesced delivery printed one
/// stamp per signal it stood for).
fn pair(sent: &[u64], got: &[u64], warmup: u64) -> Vec<u64> {
    sent.iter()
        .zip(got)
        .skip(warmup as usize)
        .map(|(s, r)| r.saturating_sub(*s))
        .collect()
}

fn signal_run(args: &EventsArgs, run: usize) -> Res<Vec<u64>> {
    let ep = format!("shm://rwbsg-{}-{run}", std::process::id());
    let service = Service::bind(&ep).map_err(|e| e.to_string())?;
    let ep = service.endpoint();
    let node = Node::connect(&ep, NodeId::name("signaller")).map_err(|e| e.to_string())?;
    let mut kids = Kids::spawn(args, "signal", &ep, 1)?;
    let outs = kids.ready()?;
    let peer = NodeId::name("signalled");
    let pause = interval(args, 1);
    let mut sent = Vec::with_capacity((args.warmup + args.iters) as usize);
    for _ in 0..args.warmup + args.iters {
        sent.push(now_ns());
        node.signal(&peer).map_err(|e| e.to_string())?;
        std::thread::sleep(pause);
    }
    finish(&mut kids, || {})?;
    if node.signals_rung_locally() == 0 {
        return Err("signals went through the service, not the doorbell".into());
    }
    Ok(pair(&sent, &collect(outs).concat(), args.warmup))
}

#[cfg(feature = "iceoryx2")]
fn iceoryx2_run(args: &EventsArgs, run: usize) -> Res<Vec<u64>> {
    use iceoryx2::prelude::*;
    let name = format!("ringwire-bench/events-{}-{run}", std::process::id());
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|e| format!("{e:?}"))?;
    let service = node
        .service_builder(&ServiceName::new(&name).map_err(|e| format!("{e:?}"))?)
        .event()
        .open_or_create()
        .map_err(|e| format!("{e:?}"))?;
    let notifier = service
        .notifier_builder()
        .create()
        .map_err(|e| format!("{e:?}"))?;
    let mut kids = Kids::spawn(args, "iceoryx2", &name, 1)?;
    let outs = kids.ready()?;
    let pause = interval(args, 1);
    let mut sent = Vec::with_capacity((args.warmup + args.iters) as usize);
    for _ in 0..args.warmup + args.iters {
        sent.push(now_ns());
        notifier.notify().map_err(|e| format!("{e:?}"))?;
        std::thread::sleep(pause);
    }
    finish(&mut kids, || {})?;
    Ok(pair(&sent, &collect(outs).concat(), args.warmup))
}

#[cfg(not(feature = "iceoryx2"))]
fn iceoryx2_run(_: &EventsArgs, _: usize) -> Res<Vec<u64>> {
    Err("built without the iceoryx2 feature".into())
}

fn ready() {
    println!("ready");
    let _ = std::io::stdout().flush();
}

fn print_samples(s: &[u64]) {
    let line: Vec<String> = s.iter().map(u64::to_string).collect();
    println!("S {}", line.join(" "));
    let _ = std::io::stdout().flush();
}

/// One receiving process.
fn receiver(role: &str, ep: &str, args: &EventsArgs) -> Res<()> {
    let total = args.warmup + args.iters;
    match role {
        "emit" => {
            let node = Node::connect(ep, NodeId::process()).map_err(|e| e.to_string())?;
            let samples = Arc::new(Mutex::new(Vec::with_capacity(args.iters as usize)));
            let (done_tx, done) = mpsc::channel::<()>();
            let (s, warmup) = (samples.clone(), args.warmup);
            node.subscribe(EVENT, move |e: Emitted| {
                let now = now_ns();
                match read(&e.data) {
                    Some((_, END)) => {
                        let _ = done_tx.send(());
                    }
                    Some((_, PROBE)) | None => {}
                    Some((ts, seq)) if seq >= warmup => {
                        s.lock().unwrap().push(now.saturating_sub(ts));
                    }
                    Some(_) => {}
                }
            })
            .map_err(|e| e.to_string())?;
            ready();
            done.recv_timeout(Duration::from_secs(600))
                .map_err(|e| e.to_string())?;
            print_samples(&samples.lock().unwrap());
        }
        "pubsub" => {
            let opts = ShmOptions::default().wait(WaitMode::Blocking);
            let mut sub = Subscriber::connect_with(ep, opts).map_err(|e| e.to_string())?;
            sub.subscribe(b"").map_err(|e| e.to_string())?;
            ready();
            let mut samples = Vec::with_capacity(args.iters as usize);
            loop {
                let m = sub.recv_bytes().map_err(|e| e.to_string())?;
                let now = now_ns();
                match read(&m) {
                    Some((_, END)) => break,
                    Some((ts, seq)) if seq >= args.warmup && seq != PROBE => {
                        samples.push(now.saturating_sub(ts));
                    }
                    _ => {}
                }
            }
            print_samples(&samples);
        }
        "signal" => {
            let node = Node::connect(ep, NodeId::name("signalled")).map_err(|e| e.to_string())?;
            let stamps = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
            let (done_tx, done) = mpsc::channel::<()>();
            let s = stamps.clone();
            node.on_signal(move |sig: Signals| {
                let now = now_ns();
                let mut s = s.lock().unwrap();
                for _ in 0..sig.count {
                    s.push(now);
                }
                if s.len() as u64 >= total {
                    let _ = done_tx.send(());
                }
            });
            ready();
            done.recv_timeout(Duration::from_secs(600))
                .map_err(|e| e.to_string())?;
            print_samples(&stamps.lock().unwrap());
        }
        #[cfg(feature = "iceoryx2")]
        "iceoryx2" => {
            use iceoryx2::prelude::*;
            let node = NodeBuilder::new()
                .create::<ipc::Service>()
                .map_err(|e| format!("{e:?}"))?;
            let service = node
                .service_builder(&ServiceName::new(ep).map_err(|e| format!("{e:?}"))?)
                .event()
                .open_or_create()
                .map_err(|e| format!("{e:?}"))?;
            let listener = service
                .listener_builder()
                .create()
                .map_err(|e| format!("{e:?}"))?;
            ready();
            let mut stamps = Vec::with_capacity(total as usize);
            while (stamps.len() as u64) < total {
                let mut n = 0u64;
                listener
                    .blocking_wait(|a| n += a.count)
                    .map_err(|e| format!("{e:?}"))?;
                let now = now_ns();
                for _ in 0..n {
                    stamps.push(now);
                }
            }
            print_samples(&stamps);
        }
        r => return Err(format!("unknown role {r}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_pairing() {
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!((pct(&s, 500), pct(&s, 990)), (50, 99));
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(pair(&[10, 20, 30], &[15, 27, 31], 1), [7, 1]);
        let mut m = message(16, 7);
        stamp(&mut m);
        assert_eq!(read(&m).map(|(_, s)| s), Some(7));
    }
}
