//! `ringwire-bench`: measures ringwire side by side with its peers (iceoryx2, libzmq) and with
//! the physical limits (a bare atomic ping-pong in shared memory, raw sockets), in one run on
//! one machine, so that the report can be read as ratios.
//!
//! The program is its own peer: for every run it re-executes itself with the hidden `peer`
//! subcommand, the two processes connect over the transport under test, and the leader measures
//! round trips and one-way throughput (see [`measure`]). `docs/benchmarks.md` describes each
//! case and what exactly is measured.
#![deny(unsafe_code)]

mod link;
mod measure;
mod stats;
mod transport;

use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use rustix::process::{Pid, Signal};

use link::{BenchError, Kind, Params, Result, Transport, fail};
use stats::{Latency, Row};

/// Message size of the throughput runs.
const THROUGHPUT_SIZE: usize = 8;

/// Latency and throughput of ringwire, iceoryx2, libzmq and the bare limits, side by side.
#[derive(Parser, Debug)]
#[command(name = "ringwire-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    peer: Option<PeerCommand>,

    /// Case groups or transport ids to run, comma-separated (default: all compiled in).
    /// Groups: bare, raw-socket, iceoryx2, libzmq; `--list` shows the ids.
    #[arg(long, value_delimiter = ',')]
    case: Vec<String>,

    /// Recorded round trips per run.
    #[arg(long, default_value_t = 100_000)]
    iters: u64,

    /// Unrecorded round trips before them.
    #[arg(long, default_value_t = 10_000)]
    warmup: u64,

    /// Messages per throughput run (a warm-up burst of a tenth of this goes first).
    #[arg(long, default_value_t = 1_000_000)]
    thr_msgs: u64,

    /// Runs of every case; the report shows the median of each statistic.
    #[arg(long, default_value_t = 1)]
    repeat: usize,

    /// Print JSON instead of the text table.
    #[arg(long)]
    json: bool,

    /// CPU placement of the two processes.
    #[arg(long, value_enum, default_value_t = Pin::Split)]
    pin: Pin,

    /// Seconds after which a run is considered hung: the peer is killed and the program fails.
    #[arg(long, default_value_t = 120)]
    timeout: u64,

    /// List the transports compiled in and exit.
    #[arg(long)]
    list: bool,
}

#[derive(Subcommand, Debug)]
enum PeerCommand {
    /// The peer process (started by the benchmark itself).
    #[command(hide = true)]
    Peer {
        #[arg(long)]
        transport: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        size: usize,
        #[arg(long)]
        kind: String,
        #[arg(long)]
        cpu: Option<usize>,
    },
}

/// Where the two processes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Pin {
    /// Leader on the first CPU this process may use, peer on the second (falls back to `none`
    /// with a single CPU).
    Split,
    /// Both on the first CPU: every hand-over is a context switch (busy-spinning cases crawl).
    Same,
    /// No pinning: the scheduler decides.
    None,
}

/// The CPUs this process may run on (its affinity mask), ascending.
fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => Vec::new(),
    }
}

impl Pin {
    /// (leader CPU, peer CPU).
    fn cpus(self, allowed: &[usize]) -> (Option<usize>, Option<usize>) {
        match (self, allowed) {
            (Pin::Split, [a, b, ..]) => (Some(*a), Some(*b)),
            (Pin::Same, [a, ..]) => (Some(*a), Some(*a)),
            _ => (None, None),
        }
    }
}

fn pin_to(cpu: Option<usize>) -> Result<()> {
    if let Some(cpu) = cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set).map_err(|e| fail("sched_setaffinity", e))?;
    }
    Ok(())
}

fn find(id: &str) -> Result<&'static dyn Transport> {
    transport::all()
        .into_iter()
        .find(|t| t.id() == id)
        .ok_or_else(|| BenchError(format!("unknown transport {id:?} (not compiled in?)")))
}

/// The peer process: connect, serve until told to stop.
fn peer(transport: &str, address: &str, params: Params, cpu: Option<usize>) -> Result<()> {
    // Die with the leader, so that a killed benchmark leaves no spinning peer behind.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| fail("prctl", e))?;
    pin_to(cpu)?;
    let mut link = find(transport)?.connect(address, params)?;
    measure::serve(&mut *link, params.kind)
}

/// The result of one leader run.
enum Outcome {
    Rtt(Latency),
    Throughput(f64),
}

struct Config {
    iters: u64,
    warmup: u64,
    thr_msgs: u64,
    peer_cpu: Option<usize>,
    timeout: Duration,
}

fn spawn_peer(t: &dyn Transport, params: Params, address: &str, cfg: &Config) -> Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(["peer", "--transport", t.id(), "--address", address])
        .args([
            "--size",
            &params.size.to_string(),
            "--kind",
            params.kind.as_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(cpu) = cfg.peer_cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    Ok(cmd.spawn()?)
}

/// Kills the peer and ends the program if a run takes longer than the timeout. Dropping the
/// returned sender disarms it.
fn watchdog(child: u32, what: String, timeout: Duration) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
            eprintln!("ringwire-bench: {what} hung for {timeout:?}; killing the peer");
            if let Some(pid) = Pid::from_raw(child as i32) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            std::process::exit(3);
        }
    });
    done
}

fn run_once(t: &dyn Transport, params: Params, cfg: &Config) -> Result<Outcome> {
    let prepared = t.prepare(params)?;
    let mut child = spawn_peer(t, params, &prepared.address(), cfg)?;
    let what = format!("{} {:?} {} B", t.id(), params.kind, params.size);
    let _armed = watchdog(child.id(), what, cfg.timeout);
    let mut link = None;
    let result: Result<Outcome> = (|| {
        let link = link.insert(prepared.accept()?);
        link.handshake()?;
        let outcome = match params.kind {
            Kind::Rtt => {
                let mut samples = measure::rtt(&mut **link, cfg.warmup, cfg.iters)?;
                Outcome::Rtt(Latency::from_samples(&mut samples))
            }
            Kind::Throughput => Outcome::Throughput(measure::throughput(
                &mut **link,
                cfg.thr_msgs / 10,
                cfg.thr_msgs,
            )?),
        };
        measure::finish(&mut **link)?;
        Ok(outcome)
    })();
    if result.is_err() {
        let _ = child.kill();
    }
    // The link stays open until the peer has exited: some transports lose what is still in
    // flight (the final BYE) when the sending port goes away.
    let status = child.wait()?;
    drop(link);
    let outcome = result?;
    if !status.success() {
        return Err(BenchError(format!("peer exited with {status}")));
    }
    Ok(outcome)
}

/// One report row being filled across repeats.
struct Slot {
    transport: &'static dyn Transport,
    size: usize,
    rtt: Vec<Latency>,
    rates: Vec<f64>,
}

fn lead(cli: &Cli) -> Result<bool> {
    let selected: Vec<&'static dyn Transport> = transport::all()
        .into_iter()
        .filter(|t| cli.case.is_empty() || cli.case.iter().any(|c| c == t.group() || c == t.id()))
        .collect();
    if selected.is_empty() {
        return Err(BenchError(format!(
            "no transport matches --case {:?}; see --list",
            cli.case
        )));
    }
    let allowed = allowed_cpus();
    let cpus = allowed.len();
    let (leader_cpu, peer_cpu) = cli.pin.cpus(&allowed);
    pin_to(leader_cpu)?;
    let cfg = Config {
        iters: cli.iters.max(1),
        warmup: cli.warmup,
        thr_msgs: cli.thr_msgs.max(1),
        peer_cpu,
        timeout: Duration::from_secs(cli.timeout),
    };
    let mut slots = Vec::new();
    let mut plan = Vec::new();
    for &t in &selected {
        for &size in t.rtt_sizes() {
            plan.push((
                slots.len(),
                Params {
                    size,
                    kind: Kind::Rtt,
                },
            ));
            slots.push(Slot {
                transport: t,
                size,
                rtt: vec![],
                rates: vec![],
            });
        }
        if t.throughput() {
            let size = THROUGHPUT_SIZE;
            let index = match slots
                .iter()
                .position(|s| s.transport.id() == t.id() && s.size == size)
            {
                Some(i) => i,
                None => {
                    slots.push(Slot {
                        transport: t,
                        size,
                        rtt: vec![],
                        rates: vec![],
                    });
                    slots.len() - 1
                }
            };
            plan.push((
                index,
                Params {
                    size,
                    kind: Kind::Throughput,
                },
            ));
        }
    }
    let repeat = cli.repeat.max(1);
    let mut ok = true;
    // Repeats are the outer loop, so that a noisy minute spreads over all cases.
    for round in 1..=repeat {
        for &(index, params) in &plan {
            let slot = &mut slots[index];
            let t = slot.transport;
            let name = format!(
                "{} {} {:?} {}",
                t.group(),
                t.label(),
                params.kind,
                stats::format_size(params.size)
            );
            match run_once(t, params, &cfg) {
                Ok(Outcome::Rtt(l)) => {
                    eprintln!(
                        "[{round}/{repeat}] {name}: p50 {} p99 {} p99.9 {}",
                        stats::format_ns(l.p50),
                        stats::format_ns(l.p99),
                        stats::format_ns(l.p999)
                    );
                    slot.rtt.push(l);
                }
                Ok(Outcome::Throughput(r)) => {
                    eprintln!("[{round}/{repeat}] {name}: {} msg/s", stats::format_rate(r));
                    slot.rates.push(r);
                }
                Err(e) => {
                    eprintln!("[{round}/{repeat}] {name}: FAILED: {e}");
                    ok = false;
                }
            }
        }
    }
    let rows: Vec<Row> = slots
        .iter()
        .map(|s| Row {
            group: s.transport.group().to_string(),
            label: s.transport.label().to_string(),
            size: s.size,
            rtt: stats::median_latency(&s.rtt),
            msgs_per_sec: stats::median(&s.rates),
            runs: s.rtt.len().max(s.rates.len()),
        })
        .collect();
    let setup = stats::Setup {
        iters: cfg.iters,
        warmup: cfg.warmup,
        thr_msgs: cfg.thr_msgs,
        repeat,
        pin: format!("{:?}", cli.pin).to_lowercase(),
        cpus: (leader_cpu, peer_cpu),
        available_cpus: cpus,
    };
    if cli.json {
        print!("{}", stats::json(&setup, &rows));
    } else {
        println!("{}", setup.header());
        print!("{}", stats::table(&rows));
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.peer {
        Some(PeerCommand::Peer {
            transport,
            address,
            size,
            kind,
            cpu,
        }) => match Kind::parse(kind) {
            Some(kind) => peer(transport, address, Params { size: *size, kind }, *cpu),
            None => Err(BenchError(format!("unknown kind {kind:?}"))),
        }
        .map(|()| true),
        None if cli.list => {
            for t in transport::all() {
                println!("{:<16} {:<12} {}", t.id(), t.group(), t.label());
            }
            Ok(true)
        }
        None => lead(&cli),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let role = if cli.peer.is_some() { "peer" } else { "leader" };
            eprintln!("ringwire-bench ({role}): {e}");
            ExitCode::FAILURE
        }
    }
}
