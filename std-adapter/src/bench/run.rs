//! The leader's plan and the peer process: spawning the peer (the program re-executing itself),
//! CPU pinning, the watchdog that kills a hung peer, and the repeat loop that fills the report.

use std::fmt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(unix)]
use rustix::process::{Pid, Signal};

use crate::bench::hist::Histogram;
use crate::bench::link::{BenchError, Kind, Params, Result, Transport, fail};
use crate::bench::measure::{self, Stop};
use crate::bench::slow::SlowReport;
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
#[cfg(target_os = "linux")]
fn allowed_cpus() -> Vec<usize> {
    match rustix::thread::sched_getaffinity(None) {
        Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// None where the OS has no affinity masks: no [`Pin`] then pins anything.
#[cfg(not(target_os = "linux"))]
fn allowed_cpus() -> Vec<usize> {
    Vec::new()
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn pin_to(cpu: Option<usize>) -> Result<()> {
    match cpu {
        Some(_) => Err(fail("CPU pinning", "only implemented on Linux")),
        None => Ok(()),
    }
}

#[cfg(target_os = "linux")]
pub(crate) fn pin_to(cpu: Option<usize>) -> Result<()> {
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
    /// Also measure one-way throughput, at each of [`thr_sizes`](Case::thr_sizes).
    pub throughput: bool,
    /// Message sizes of the throughput runs (empty: [`THROUGHPUT_SIZE`]).
    pub thr_sizes: Vec<usize>,
}

impl Case {
    /// The transport's own sizes and throughput choice.
    pub fn of(transport: &'static dyn Transport) -> Case {
        Case {
            transport,
            sizes: transport.rtt_sizes().to_vec(),
            throughput: transport.throughput(),
            thr_sizes: Vec::new(),
        }
    }

    /// A payload sweep: round trips and (if the transport measures throughput) throughput at
    /// each of `sizes`, one report row per size.
    pub fn sweep(transport: &'static dyn Transport, sizes: &[usize]) -> Case {
        Case {
            transport,
            sizes: sizes.to_vec(),
            throughput: transport.throughput(),
            thr_sizes: sizes.to_vec(),
        }
    }
}

/// What [`run`] tells a [`Progress`] hook.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// A run starts; `done` of the plan's `total` runs are over.
    Start {
        /// Runs over.
        done: usize,
        /// Runs in the plan (cases × sizes × repeats).
        total: usize,
        /// The run, e.g. `ringwire-shm busy poll: ... Rtt 8 B`.
        name: &'a str,
    },
    /// A run ended; `line` is what [`run`] prints on stderr without a hook.
    Done {
        /// Runs over, this one included.
        done: usize,
        /// Runs in the plan.
        total: usize,
        /// The run's result, e.g. `[1/3] ringwire-shm ... Rtt 8 B: p50 320 ns ...`.
        line: &'a str,
    },
}

/// A progress hook for [`Options::progress`] (e.g. a progress bar): called before and after
/// every run.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&Event<'_>) + Send + Sync>);

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Progress(..)")
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
    /// Checked between messages and between runs (`None`: never): once it returns `true`,
    /// the run in progress ends between two messages, the peer is told the run is over (and
    /// killed if it has not exited a second later), the leader's sockets are dropped (its
    /// segments removed) and [`run`] returns [`measure::stopped`]. A program that stops on
    /// SIGINT/SIGTERM passes a check of its signal flag.
    pub stop: Option<Stop>,
    /// Low-rate mode: one round trip every `interval` (the leader sleeps in between, warm-up
    /// included), as a control loop sends; `None`: back to back. Throughput runs ignore it.
    pub interval: Option<Duration>,
    /// At most this many message bytes per run (one way): at large sizes a run makes
    /// `max(max_bytes / size, 64)` round trips (and sends that many throughput messages) if
    /// that is fewer than `iters` (`thr_msgs`), warm-up scaled alike; `None`: no limit.
    pub max_bytes: Option<u64>,
    /// Told about every run as it starts and ends (`None`: each result goes to stderr as a
    /// line).
    pub progress: Option<Progress>,
}

/// `ringwire bench`'s defaults; [`peer_args`](Options::peer_args) is empty and must be set.
impl Default for Options {
    fn default() -> Self {
        Options {
            iters: 20_000,
            warmup: 2_000,
            thr_msgs: 200_000,
            repeat: 1,
            pin: Pin::Split,
            timeout: Duration::from_secs(60),
            peer_args: Vec::new(),
            program: "ringwire bench".into(),
            stop: None,
            interval: None,
            max_bytes: None,
            progress: None,
        }
    }
}

/// The fewest round trips (or throughput messages) [`Options::max_bytes`] leaves a run.
pub const MIN_PER_RUN: u64 = 64;

/// `(count, warmup)` of a run of `size`-byte messages under [`Options::max_bytes`].
fn scaled(count: u64, warmup: u64, size: usize, max_bytes: Option<u64>) -> (u64, u64) {
    let Some(budget) = max_bytes else {
        return (count, warmup);
    };
    let fit = (budget / size.max(1) as u64).max(MIN_PER_RUN);
    if fit >= count {
        (count, warmup)
    } else {
        let w = u64::try_from(u128::from(warmup) * u128::from(fit) / u128::from(count.max(1)))
            .unwrap_or(warmup);
        (fit, w)
    }
}

impl Options {
    fn stop_check(&self) -> Stop {
        self.stop.unwrap_or(measure::never)
    }
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
    // Die with the leader, so that a killed benchmark leaves no spinning peer behind (Linux
    // only; elsewhere the watchdog and the end-of-run message stop it).
    #[cfg(target_os = "linux")]
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

/// The peer's command line: what the leader appends to [`Options::peer_args`]
/// (`--transport ID --address A --size N --kind K [--cpu C]`). A program passes the arguments
/// that follow its hidden peer subcommand to [`PeerArgs::parse`] and calls [`PeerArgs::serve`];
/// the library parses them itself so that it needs no argument-parsing crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerArgs {
    /// [`Transport::id`] of the transport to connect with.
    pub transport: String,
    /// What the leader's [`Prepared::address`](crate::bench::Prepared::address) returned.
    pub address: String,
    /// Message size in bytes.
    pub size: usize,
    /// [`Kind::as_str`] of the run.
    pub kind: String,
    /// CPU to pin the peer to.
    pub cpu: Option<usize>,
}

impl PeerArgs {
    /// Parses the peer's arguments (each `--name value` or `--name=value`, in any order).
    pub fn parse<I, S>(args: I) -> Result<PeerArgs>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (mut transport, mut address, mut size, mut kind, mut cpu) =
            (None, None, None, None, None);
        let mut args = args.into_iter().map(|a| a.as_ref().to_owned());
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (arg, None),
            };
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(BenchError(format!("peer: {name} needs a value"))),
            };
            let number = |v: &str| {
                v.parse::<usize>()
                    .map_err(|_| BenchError(format!("peer: {name} {v:?} is not a number")))
            };
            match name.as_str() {
                "--transport" => transport = Some(value),
                "--address" => address = Some(value),
                "--size" => size = Some(number(&value)?),
                "--kind" => kind = Some(value),
                "--cpu" => cpu = Some(number(&value)?),
                _ => return Err(BenchError(format!("peer: unknown argument {name:?}"))),
            }
        }
        let missing = |what: &str| BenchError(format!("peer: {what} is missing"));
        Ok(PeerArgs {
            transport: transport.ok_or_else(|| missing("--transport"))?,
            address: address.ok_or_else(|| missing("--address"))?,
            size: size.ok_or_else(|| missing("--size"))?,
            kind: kind.ok_or_else(|| missing("--kind"))?,
            cpu,
        })
    }

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
    Rtt(Histogram),
    Throughput(f64, Option<Latency>),
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
            #[cfg(unix)]
            if let Some(pid) = i32::try_from(child).ok().and_then(Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
            // No kill by process id in std: the peer is left to its own timeouts.
            #[cfg(not(unix))]
            let _ = child;
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
    let mut link: Option<Box<dyn crate::bench::Link>> = None;
    let stop = o.stop_check();
    let result: Result<Outcome> = (|| {
        let link = link.insert(prepared.accept()?);
        link.handshake()?;
        let outcome = match params.kind {
            Kind::Rtt => {
                let (iters, warmup) = scaled(o.iters.max(1), o.warmup, params.size, o.max_bytes);
                Outcome::Rtt(measure::rtt_histogram(
                    &mut **link,
                    warmup,
                    iters,
                    o.interval,
                    stop,
                )?)
            }
            Kind::Throughput => {
                let (count, _) = scaled(o.thr_msgs.max(1), 0, params.size, o.max_bytes);
                let (rate, age) =
                    measure::throughput_aged(&mut **link, params.size, count / 10, count, stop)?;
                Outcome::Throughput(rate, age)
            }
        };
        measure::finish(&mut **link)?;
        Ok(outcome)
    })();
    match (&result, &mut link) {
        (Ok(_), _) => {}
        // Stopped between two messages: the peer can still be told to leave, and drops its
        // sockets itself; it is killed if it does not go within a second.
        (Err(_), Some(link)) if stop() => {
            if measure::finish(&mut **link).is_err() || !exits_within(&mut child, PEER_GRACE)? {
                let _ = child.kill();
            }
        }
        (Err(_), _) => {
            let _ = child.kill();
        }
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

/// How long a stopped run's peer may take to leave after being told to.
const PEER_GRACE: Duration = Duration::from_secs(1);

/// Whether `child` exits within `grace` (polled every millisecond).
fn exits_within(child: &mut Child, grace: Duration) -> Result<bool> {
    let until = Instant::now() + grace;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(true);
        }
        if Instant::now() >= until {
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// One report row being filled across repeats.
struct Slot {
    transport: &'static dyn Transport,
    size: usize,
    rtt: Vec<Latency>,
    /// Every run's round trips.
    hist: Histogram,
    rates: Vec<f64>,
    ages: Vec<Latency>,
}

/// Runs every case `repeat` times (repeats are the outer loop, so that a noisy minute spreads
/// over all cases), printing each run's result on stderr (or telling [`Options::progress`]).
/// Returns the setup, one row per transport and
/// size (medians over the repeats), and whether every run succeeded; a failed run is reported
/// on stderr and leaves its row's statistics out. Once [`Options::stop`] says so, the run in
/// progress ends cleanly and this returns [`measure::stopped`].
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
                hist: Histogram::new(),
                rates: vec![],
                ages: vec![],
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
            let kind = Kind::Throughput;
            let default = [THROUGHPUT_SIZE];
            let sizes = match case.thr_sizes.is_empty() {
                true => &default[..],
                false => &case.thr_sizes[..],
            };
            for &size in sizes {
                plan.push((slot_of(&mut slots, t, size), Params { size, kind }));
            }
        }
    }
    let repeat = o.repeat.max(1);
    let stop = o.stop_check();
    let total = plan.len() * repeat;
    let mut done = 0;
    let tell = |event: Event<'_>| match (&o.progress, event) {
        (Some(p), e) => (p.0)(&e),
        (None, Event::Done { line, .. }) => eprintln!("{line}"),
        (None, Event::Start { .. }) => {}
    };
    let mut ok = true;
    for round in 1..=repeat {
        for &(index, params) in &plan {
            if stop() {
                return Err(measure::stopped());
            }
            let slot = &mut slots[index];
            let t = slot.transport;
            let name = format!(
                "{} {} {:?} {}",
                t.group(),
                t.label(),
                params.kind,
                stats::format_size(params.size)
            );
            tell(Event::Start {
                done,
                total,
                name: &name,
            });
            let result = run_once(t, params, peer_cpu, o);
            done += 1;
            let line = match result {
                Ok(Outcome::Rtt(h)) => {
                    let l = h.latency().unwrap_or_default();
                    slot.rtt.push(l);
                    slot.hist.merge(&h);
                    format!(
                        "[{round}/{repeat}] {name}: p50 {} p99 {} p99.9 {} max {}",
                        stats::format_ns(l.p50),
                        stats::format_ns(l.p99),
                        stats::format_ns(l.p999),
                        stats::format_ns(l.max)
                    )
                }
                Ok(Outcome::Throughput(r, age)) => {
                    slot.rates.push(r);
                    let age = match age {
                        Some(a) => {
                            slot.ages.push(a);
                            format!(
                                ", age p50 {} p99 {}",
                                stats::format_ns(a.p50),
                                stats::format_ns(a.p99)
                            )
                        }
                        None => String::new(),
                    };
                    format!(
                        "[{round}/{repeat}] {name}: {} msg/s{age}",
                        stats::format_rate(r)
                    )
                }
                Err(_) if stop() => {
                    tell(Event::Done {
                        done,
                        total,
                        line: &format!("[{round}/{repeat}] {name}: stopped"),
                    });
                    return Err(measure::stopped());
                }
                Err(e) => {
                    ok = false;
                    format!("[{round}/{repeat}] {name}: FAILED: {e}")
                }
            };
            tell(Event::Done {
                done,
                total,
                line: &line,
            });
        }
    }
    let rows = slots
        .iter()
        .map(|s| Row {
            group: s.transport.group().to_string(),
            id: s.transport.id().to_string(),
            label: s.transport.label().to_string(),
            size: s.size,
            rtt: stats::median_latency(&s.rtt),
            rtt_runs: s.rtt.clone(),
            rtt_curve: s.hist.curve(),
            msgs_per_sec: stats::median(&s.rates),
            rate_runs: s.rates.clone(),
            age: stats::median_latency(&s.ages),
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
        interval_us: o
            .interval
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX)),
        max_bytes: o.max_bytes,
    };
    Ok((setup, rows, ok))
}

/// The report as printed: JSON, or the setup line followed by the aligned table; with the
/// slow-subscriber section after the table (JSON: `"slow_subscribers"`) if it was run.
pub fn report(setup: &Setup, rows: &[Row], slow: Option<&SlowReport>, json: bool) -> String {
    match (json, slow) {
        (true, None) => stats::json(setup, rows),
        (true, Some(slow)) => stats::json_with(setup, rows, &[("slow_subscribers", slow.json())]),
        (false, None) => format!("{}\n{}", setup.header(), stats::table(rows)),
        (false, Some(slow)) => format!(
            "{}\n{}\n{}",
            setup.header(),
            stats::table(rows),
            slow.table()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_bytes_scales_large_runs_only() {
        assert_eq!(scaled(20_000, 2_000, 8, None), (20_000, 2_000));
        assert_eq!(scaled(20_000, 2_000, 65536, Some(4 << 30)), (20_000, 2_000));
        // 4 MiB messages, 4 GiB: 1024 round trips, the warm-up scaled alike.
        assert_eq!(scaled(20_000, 2_000, 4 << 20, Some(4 << 30)), (1024, 102));
        // Never below the minimum.
        assert_eq!(scaled(20_000, 2_000, 4 << 20, Some(1)), (MIN_PER_RUN, 6));
    }

    #[test]
    fn peer_args_parse_what_the_leader_appends() {
        let args = PeerArgs::parse([
            "--transport",
            "shm-busy",
            "--address=shm://x",
            "--size",
            "64",
            "--kind",
            "rtt",
            "--cpu",
            "1",
        ])
        .unwrap();
        assert_eq!(
            args,
            PeerArgs {
                transport: "shm-busy".into(),
                address: "shm://x".into(),
                size: 64,
                kind: "rtt".into(),
                cpu: Some(1),
            }
        );
        let err = |a: &[&str]| PeerArgs::parse(a).unwrap_err().0;
        assert!(err(&["--transport", "t", "--address", "a", "--kind", "rtt"]).contains("--size"));
        assert!(err(&["--size", "x"]).contains("not a number"));
        assert!(err(&["--bogus", "1"]).contains("unknown argument"));
        assert!(err(&["--size"]).contains("needs a value"));
    }
}
