//! The leader's plan and the peer process: spawning the peer (the program re-executing itself),
//! CPU pinning, the watchdog that kills a hung peer, and the repeat loop that fills the report.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::process::{Pid, Signal};

use crate::bench::link::{BenchError, Kind, Params, Result, Transport, fail};
use crate::bench::measure;
use crate::bench::stats::{self, Latency, Row, Setup};

/// Message size of the throughput runs.
pub const THROUGHPUT_SIZE: usize = 8;

/// Where the two processes run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    /// Leader on the first CPU this process may use, peer on the second (falls back to `None`
    /// with a single CPU).
    Split,
    /// Both on the first CPU: every hand-over is a context switch (busy-spinning cases crawl).
    Same,
    /// No pinning: the scheduler decides.
    None,
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

/// The CPUs this process may run on (its affinity mask), ascending.
fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => Vec::new(),
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

/// One transport to measure: round trips at each of `sizes`, and optionally throughput.
#[derive(Clone)]
pub struct Case {
    /// The transport.
    pub transport: &'static dyn Transport,
    /// Message sizes of the round-trip runs.
    pub sizes: Vec<usize>,
    /// Also measure one-way throughput of [`THROUGHPUT_SIZE`]-byte messages.
    pub throughput: bool,
}

impl Case {
    /// The transport's own sizes and throughput choice.
    pub fn of(transport: &'static dyn Transport) -> Case {
        Case {
            transport,
            sizes: transport.rtt_sizes().to_vec(),
            throughput: transport.throughput(),
        }
    }
}

/// How the leader runs its plan.
#[derive(Clone, Debug)]
pub struct Options {
    /// Recorded round trips per run (at least 1).
    pub iters: u64,
    /// Unrecorded round trips before them.
    pub warmup: u64,
    /// Messages per throughput run (a warm-up burst of a tenth of this goes first).
    pub thr_msgs: u64,
    /// Runs of every case; the report shows the median of each statistic.
    pub repeat: usize,
    /// CPU placement of the two processes.
    pub pin: Pin,
    /// A run taking longer than this is hung: the peer is killed and the program exits (3).
    pub timeout: Duration,
    /// Arguments that start this program as the peer (a hidden subcommand); the leader appends
    /// `--transport ID --address A --size N --kind K [--cpu C]`, which the peer hands to
    /// [`peer`].
    pub peer_args: Vec<String>,
    /// Program name for progress and error messages.
    pub program: String,
}

/// The peer process: connects to `address` with the transport called `id` among `transports`
/// and serves until the leader says the run is over.
pub fn peer(
    transports: &[&'static dyn Transport],
    id: &str,
    address: &str,
    params: Params,
    cpu: Option<usize>,
) -> Result<()> {
    // Die with the leader, so that a killed benchmark leaves no spinning peer behind.
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))
        .map_err(|e| fail("prctl", e))?;
    pin_to(cpu)?;
    let t = transports
        .iter()
        .find(|t| t.id() == id)
        .ok_or_else(|| BenchError(format!("unknown transport {id:?} (not compiled in?)")))?;
    let mut link = t.connect(address, params)?;
    measure::serve(&mut *link, params.kind)
}

/// The peer's command line: what the leader appends to [`Options::peer_args`]. A program
/// flattens it into its hidden peer subcommand and calls [`PeerArgs::serve`].
#[derive(clap::Args, Clone, Debug)]
pub struct PeerArgs {
    /// [`Transport::id`] of the transport to connect with.
    #[arg(long)]
    transport: String,
    /// What the leader's [`Prepared::address`](crate::bench::Prepared::address) returned.
    #[arg(long)]
    address: String,
    /// Message size in bytes.
    #[arg(long)]
    size: usize,
    /// [`Kind::as_str`] of the run.
    #[arg(long)]
    kind: String,
    /// CPU to pin the peer to.
    #[arg(long)]
    cpu: Option<usize>,
}

impl PeerArgs {
    /// Runs the peer ([`peer`]) with the transport called `--transport` among `transports`.
    pub fn serve(&self, transports: &[&'static dyn Transport]) -> Result<()> {
        let kind = Kind::parse(&self.kind)
            .ok_or_else(|| BenchError(format!("unknown kind {:?}", self.kind)))?;
        let params = Params {
            size: self.size,
            kind,
        };
        peer(transports, &self.transport, &self.address, params, self.cpu)
    }
}

/// The result of one leader run.
enum Outcome {
    Rtt(Latency),
    Throughput(f64),
}

fn spawn_peer(
    t: &dyn Transport,
    params: Params,
    address: &str,
    peer_cpu: Option<usize>,
    o: &Options,
) -> Result<Child> {
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.args(&o.peer_args)
        .args(["--transport", t.id(), "--address", address])
        .args([
            "--size",
            &params.size.to_string(),
            "--kind",
            params.kind.as_str(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(cpu) = peer_cpu {
        cmd.args(["--cpu", &cpu.to_string()]);
    }
    Ok(cmd.spawn()?)
}

/// Kills the peer and ends the program if a run takes longer than the timeout. Dropping the
/// returned sender disarms it.
fn watchdog(child: u32, what: String, o: &Options) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    let (timeout, program) = (o.timeout, o.program.clone());
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
            eprintln!("{program}: {what} hung for {timeout:?}; killing the peer");
            if let Some(pid) = i32::try_from(child).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            std::process::exit(3);
        }
    });
    done
}

fn run_once(
    t: &dyn Transport,
    params: Params,
    peer_cpu: Option<usize>,
    o: &Options,
) -> Result<Outcome> {
    let prepared = t.prepare(params)?;
    let mut child = spawn_peer(t, params, &prepared.address(), peer_cpu, o)?;
    let what = format!("{} {:?} {} B", t.id(), params.kind, params.size);
    let _armed = watchdog(child.id(), what, o);
    let mut link = None;
    let result: Result<Outcome> = (|| {
        let link = link.insert(prepared.accept()?);
        link.handshake()?;
        let outcome = match params.kind {
            Kind::Rtt => {
                let mut samples = measure::rtt(&mut **link, o.warmup, o.iters.max(1))?;
                Outcome::Rtt(Latency::from_samples(&mut samples))
            }
            Kind::Throughput => {
                let count = o.thr_msgs.max(1);
                Outcome::Throughput(measure::throughput(&mut **link, count / 10, count)?)
            }
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

/// Runs every case `repeat` times (repeats are the outer loop, so that a noisy minute spreads
/// over all cases), printing progress to stderr. Returns the setup, one row per transport and
/// size (medians over the repeats), and whether every run succeeded; a failed run is reported
/// on stderr and leaves its row's statistics out.
pub fn run(cases: &[Case], o: &Options) -> Result<(Setup, Vec<Row>, bool)> {
    let allowed = allowed_cpus();
    let (leader_cpu, peer_cpu) = o.pin.cpus(&allowed);
    pin_to(leader_cpu)?;
    let mut slots: Vec<Slot> = Vec::new();
    let mut plan = Vec::new();
    let slot_of = |slots: &mut Vec<Slot>, t: &'static dyn Transport, size: usize| match slots
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
    for case in cases {
        let t = case.transport;
        for &size in &case.sizes {
            let kind = Kind::Rtt;
            plan.push((slot_of(&mut slots, t, size), Params { size, kind }));
        }
        if case.throughput {
            let (size, kind) = (THROUGHPUT_SIZE, Kind::Throughput);
            plan.push((slot_of(&mut slots, t, size), Params { size, kind }));
        }
    }
    let repeat = o.repeat.max(1);
    let mut ok = true;
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
            match run_once(t, params, peer_cpu, o) {
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
    let rows = slots
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
    let setup = Setup {
        iters: o.iters.max(1),
        warmup: o.warmup,
        thr_msgs: o.thr_msgs.max(1),
        repeat,
        pin: format!("{:?}", o.pin).to_lowercase(),
        cpus: (leader_cpu, peer_cpu),
        available_cpus: allowed.len(),
    };
    Ok((setup, rows, ok))
}

/// The report as printed: JSON, or the setup line followed by the aligned table.
pub fn report(setup: &Setup, rows: &[Row], json: bool) -> String {
    if json {
        stats::json(setup, rows)
    } else {
        format!("{}\n{}", setup.header(), stats::table(rows))
    }
}
