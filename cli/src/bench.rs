//! `ringwire bench`: the shared-memory round trip and throughput, measured between this
//! process and a copy of itself (started with the hidden `bench-peer` subcommand), with the
//! engine of `ringwire::bench`, then the slow-subscriber section (`ringwire::bench::slow`, in
//! this process). Defaults finish in a few seconds.
//!
//! Besides the table: `--json [FILE]` (the whole report with the machine description),
//! `--plot FILE.svg` (`ringwire::bench::plot`), a progress bar on a terminal for runs longer
//! than two seconds, and `--compare`, which runs the iceoryx2/libzmq cases of a
//! `ringwire-bench` program found next to this one (or on `PATH`) and prints the ratios.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ringwire::bench::{
    self, BenchError, Case, Event, Latency, Options, PeerArgs, Pin, Progress, Row, SlowOptions,
    Transport, shm, stats, zero_copy,
};
use serde_json::Value;

use crate::Failure;

/// Message bytes per run at most (`Options::max_bytes`): large messages get fewer round trips.
const MAX_BYTES_PER_RUN: u64 = 4 << 30;
/// A run expected to take longer than this shows a progress bar (on a terminal).
const BAR_AFTER: Duration = Duration::from_secs(2);
/// How to get the comparison program.
const BUILD_PEER: &str = "cargo build --release -p ringwire-bench --features iceoryx2,libzmq";

/// Arguments of `ringwire bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Recorded round trips per run [default: 20000; 2000 with --interval-us].
    #[arg(long)]
    iters: Option<u64>,
    /// Unrecorded round trips before them [default: 2000; 100 with --interval-us].
    #[arg(long)]
    warmup: Option<u64>,
    /// Round-trip message sizes, comma-separated (at least 8 bytes; suffixes K and M allowed).
    #[arg(long, value_delimiter = ',', value_parser = size_arg, default_values_t = [8usize, 65536])]
    size: Vec<usize>,
    /// Sizes of the loaned REQ/REP round trips, comma-separated (the sender writes the whole
    /// message into the loaned slot, the receiver reads it in place).
    #[arg(long, value_delimiter = ',', value_parser = size_arg, default_values_t = [65536usize])]
    loan_sizes: Vec<usize>,
    /// Payload sweep: round trips and one-way throughput at each of these sizes, one row per
    /// size (e.g. `8,64,1K,64K,1M,4M`); replaces --size and --loan-sizes. Large messages get
    /// fewer round trips (at most 4 GiB of messages per run).
    #[arg(long, value_delimiter = ',', value_parser = size_arg)]
    sizes: Vec<usize>,
    /// Low-rate mode: one round trip every N microseconds, sleeping in between (as a control
    /// loop sends), so caches and CPUs go cold; the same percentiles are reported.
    #[arg(long, value_name = "N")]
    interval_us: Option<u64>,
    /// Receive modes to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mode::Busy, Mode::Blocking, Mode::Adaptive])]
    mode: Vec<Mode>,
    /// Messages per throughput run (PUSH/PULL, 8 bytes or each --sizes size; 0 skips
    /// throughput). Messages of 16 bytes or more carry send timestamps: the age columns.
    #[arg(long, default_value_t = 200_000)]
    thr_msgs: u64,
    /// Messages per run of the slow-subscriber section (shm PUB/SUB at 2x overload: the share
    /// delivered and the loss counter; the lossless publisher's rate with 1 and 4
    /// subscribers), run in this process after the table's cases; 0 skips it. The overload
    /// run takes 20 us per message (0.4 s with the default).
    #[arg(long, default_value_t = 20_000)]
    slow_msgs: u64,
    /// Runs of every case; the table shows the median of each statistic.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Write the report as JSON (every statistic, the percentile curves and the machine) to
    /// FILE; without FILE (or with `-`), print JSON on stdout instead of the table.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<PathBuf>,
    /// Draw the latency distribution per transport and throughput by payload size into an
    /// SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Also run the iceoryx2 and libzmq cases of `ringwire-bench` (next to this program or on
    /// PATH) with the same sizes and counts, and print the ratios ringwire/peer.
    #[arg(long)]
    compare: bool,
    /// Seconds after which a run counts as hung (the peer is killed, exit 3).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

fn size_arg(s: &str) -> Result<usize, String> {
    stats::parse_size(s)
}

/// A receive mode of `ringwire::shm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `WaitMode::BusyPoll`: spin on the ring.
    Busy,
    /// `WaitMode::Blocking`: sleep on the futex at once.
    Blocking,
    /// `WaitMode::default()`: spin briefly, then the futex.
    Adaptive,
}

impl Mode {
    fn transport(self) -> &'static dyn Transport {
        match self {
            Mode::Busy => &shm::BUSY,
            Mode::Blocking => &shm::BLOCKING,
            Mode::Adaptive => &shm::ADAPTIVE,
        }
    }

    fn zero_copy(self) -> &'static dyn Transport {
        match self {
            Mode::Busy => &zero_copy::ZERO_COPY_BUSY,
            Mode::Blocking => &zero_copy::ZERO_COPY_BLOCKING,
            Mode::Adaptive => &zero_copy::ZERO_COPY_ADAPTIVE,
        }
    }
}

/// Every transport `ringwire bench` can measure (the peer looks its id up here).
fn transports() -> Vec<&'static dyn Transport> {
    [Mode::Busy, Mode::Blocking, Mode::Adaptive]
        .into_iter()
        .flat_map(|m| [m.transport(), m.zero_copy()])
        .collect()
}

/// The cases of the arguments: each mode's PUB/SUB (+ PUSH/PULL throughput) and loaned
/// REQ/REP transport.
fn cases(a: &BenchArgs) -> Vec<Case> {
    let mut modes = a.mode.clone();
    modes.dedup();
    let mut cases = Vec::new();
    for m in &modes {
        if a.sizes.is_empty() {
            cases.push(Case {
                transport: m.transport(),
                sizes: a.size.clone(),
                throughput: a.thr_msgs > 0,
                thr_sizes: Vec::new(),
            });
            if !a.loan_sizes.is_empty() {
                cases.push(Case {
                    transport: m.zero_copy(),
                    sizes: a.loan_sizes.clone(),
                    throughput: false,
                    thr_sizes: Vec::new(),
                });
            }
        } else {
            let mut sweep = Case::sweep(m.transport(), &a.sizes);
            sweep.throughput &= a.thr_msgs > 0;
            cases.push(sweep);
            cases.push(Case::sweep(m.zero_copy(), &a.sizes));
        }
    }
    cases
}

/// Whether a run of `total` runs, `done` of them over after `elapsed`, is expected to last
/// longer than [`BAR_AFTER`]; before the first run ends, `guess` is the estimate.
fn expect_long(elapsed: Duration, done: usize, total: usize, guess: Duration) -> bool {
    let expected = if done == 0 {
        guess
    } else {
        elapsed.mul_f64(total as f64 / done as f64)
    };
    expected > BAR_AFTER
}

/// The progress bar: hidden until the run is expected to last more than [`BAR_AFTER`] (and
/// never drawn unless stderr is a terminal); each run's result line goes above it.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    shown: AtomicBool,
    terminal: bool,
    guess: Duration,
}

impl Bar {
    fn new(guess: Duration) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed} (eta {eta}) {msg}")
        {
            bar.set_style(style);
        }
        Bar {
            bar,
            started: Instant::now(),
            shown: AtomicBool::new(false),
            terminal: std::io::stderr().is_terminal(),
            guess,
        }
    }

    fn event(&self, e: &Event<'_>) {
        let (done, total) = match *e {
            Event::Start { done, total, name } => {
                self.bar.set_message(name.to_string());
                (done, total)
            }
            Event::Done { done, total, line } => {
                if self.shown.load(Ordering::Relaxed) {
                    self.bar.println(line);
                } else {
                    eprintln!("{line}");
                }
                (done, total)
            }
        };
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        if self.terminal
            && !self.shown.load(Ordering::Relaxed)
            && expect_long(self.started.elapsed(), done, total, self.guess)
        {
            self.shown.store(true, Ordering::Relaxed);
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            // Redrawn between events too, so that the elapsed time moves during a long run.
            self.bar.enable_steady_tick(Duration::from_millis(250));
        }
    }
}

/// Runs the benchmark and prints the report; `Ok(false)` if a run failed.
pub fn lead(a: &BenchArgs) -> Result<bool, Failure> {
    for (flag, sizes) in [
        ("--size", &a.size),
        ("--loan-sizes", &a.loan_sizes),
        ("--sizes", &a.sizes),
    ] {
        if let Some(bad) = sizes.iter().find(|&&s| s < 8) {
            return Err(Failure::Usage(format!(
                "{flag} {bad}: messages carry an 8-byte sequence number"
            )));
        }
    }
    // Before measuring anything: a missing peer program is a usage error (exit 2).
    let compare_with = match a.compare {
        true => Some(peer_program()?),
        false => None,
    };
    let interval = a.interval_us.map(Duration::from_micros);
    let low_rate = interval.is_some();
    let iters = a.iters.unwrap_or(if low_rate { 2_000 } else { 20_000 });
    let warmup = a.warmup.unwrap_or(if low_rate { 100 } else { 2_000 });
    let cases = cases(a);
    let rtt_runs: usize = cases.iter().map(|c| c.sizes.len()).sum::<usize>() * a.repeat.max(1);
    let guess = interval.map_or(Duration::ZERO, |i| {
        i.saturating_mul(u32::try_from((iters + warmup) * rtt_runs as u64).unwrap_or(u32::MAX))
    });
    let bar = Arc::new(Bar::new(guess));
    let hook = Arc::clone(&bar);
    let options = Options {
        iters,
        warmup,
        thr_msgs: a.thr_msgs,
        repeat: a.repeat,
        pin: Pin::Split,
        timeout: Duration::from_secs(a.timeout.max(1)),
        peer_args: vec!["bench-peer".into()],
        program: "ringwire bench".into(),
        // SIGINT/SIGTERM end the run between two messages: the peer is told to leave, the
        // sockets are dropped and their segments removed (exit 130/143).
        stop: Some(crate::stop::signalled),
        interval,
        max_bytes: Some(MAX_BYTES_PER_RUN),
        progress: Some(Progress(Arc::new(move |e| hook.event(e)))),
    };
    let result = bench::run(&cases, &options);
    bar.bar.finish_and_clear();
    let (setup, rows, mut ok) = result?;
    let slow = match a.slow_msgs {
        0 => None,
        msgs => match bench::slow::run(&SlowOptions {
            msgs,
            repeat: a.repeat,
            cpus: setup.cpus,
            stop: options.stop,
        }) {
            Ok(slow) => Some(slow),
            Err(e) if crate::stop::signalled() => return Err(e.into()),
            // The table is still worth printing.
            Err(e) => {
                eprintln!("ringwire bench: slow-subscriber section FAILED: {e}");
                ok = false;
                None
            }
        },
    };
    let compared = match &compare_with {
        Some((program, groups)) => match compare(program, groups, a, iters, warmup) {
            Ok(c) => Some(c),
            Err(e) if crate::stop::signalled() => return Err(e.into()),
            Err(e) => {
                eprintln!("ringwire bench --compare: {e}");
                ok = false;
                None
            }
        },
        None => None,
    };
    let stdout_json = a.json.as_deref() == Some(Path::new("-"));
    let mut sections: Vec<(&str, String)> = Vec::new();
    if let Some(s) = &slow {
        sections.push(("slow_subscribers", s.json()));
    }
    if let Some(c) = &compared {
        sections.push(("compare", c.json(&rows)));
    }
    let json = stats::json_with(&setup, &rows, &sections);
    if stdout_json {
        print!("{json}");
    } else {
        print!("{}", bench::report(&setup, &rows, slow.as_ref(), false));
        if let Some(c) = &compared {
            print!("\n{}", c.table(&rows));
        }
        if let Some(path) = &a.json {
            write_file(path, &json)?;
        }
    }
    if let Some(path) = &a.plot {
        let mut all = rows.clone();
        if let Some(c) = &compared {
            all.extend(c.rows.iter().cloned());
        }
        bench::plot::report(path, &all)?;
    }
    Ok(ok)
}

fn write_file(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))
}

/// The peer process, with the arguments the leader gave it.
pub fn peer(args: &[String]) -> Result<(), BenchError> {
    PeerArgs::parse(args)?.serve(&transports())
}

/// `ringwire-bench` next to this program, else on `PATH`.
fn find_peer_program() -> Option<PathBuf> {
    let name = format!("ringwire-bench{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join(&name)));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(&name))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside.into_iter().chain(on_path).find(|p| p.is_file())
}

/// The comparison: the peer program's rows.
struct Compared {
    program: PathBuf,
    rows: Vec<Row>,
}

/// The `ringwire-bench` program to compare with and its peer groups (iceoryx2, libzmq)
/// compiled in; a usage error saying how to build it if there is none.
fn peer_program() -> Result<(PathBuf, Vec<&'static str>), Failure> {
    let Some(program) = find_peer_program() else {
        return Err(Failure::Usage(format!(
            "bench --compare: no ringwire-bench next to this program or on PATH; build it with \
             `{BUILD_PEER}` and run target/release/ringwire bench --compare"
        )));
    };
    let list = Command::new(&program)
        .arg("--list")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure::Failed(format!("cannot run {}: {e}", program.display())))?;
    let listed = String::from_utf8_lossy(&list.stdout);
    let groups: Vec<&str> = ["iceoryx2", "libzmq"]
        .into_iter()
        .filter(|g| {
            listed
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(g))
        })
        .collect();
    if groups.is_empty() {
        return Err(Failure::Usage(format!(
            "bench --compare: {} has neither iceoryx2 nor libzmq compiled in; build it with \
             `{BUILD_PEER}`",
            program.display()
        )));
    }
    Ok((program, groups))
}

/// Runs `program`'s `groups` cases with the same sizes and counts.
fn compare(
    program: &Path,
    groups: &[&str],
    a: &BenchArgs,
    iters: u64,
    warmup: u64,
) -> Result<Compared, BenchError> {
    let join = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let mut cmd = Command::new(program);
    cmd.args(["--case", &groups.join(",")])
        .args([
            "--iters",
            &iters.to_string(),
            "--warmup",
            &warmup.to_string(),
        ])
        .args(["--thr-msgs", &a.thr_msgs.max(1).to_string()])
        .args(["--repeat", &a.repeat.max(1).to_string(), "--json"]);
    if a.sizes.is_empty() {
        cmd.args(["--size", &join(&a.size)]);
    } else {
        cmd.args(["--sizes", &join(&a.sizes)]);
    }
    if let Some(us) = a.interval_us {
        cmd.args(["--interval-us", &us.to_string()]);
    }
    eprintln!(
        "ringwire bench --compare: running {} ({})",
        program.display(),
        groups.join(", ")
    );
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| BenchError(format!("cannot run {}: {e}", program.display())))?;
    if !out.status.success() {
        return Err(BenchError(format!(
            "{} failed ({})",
            program.display(),
            out.status
        )));
    }
    let doc: Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| BenchError(format!("{}: unreadable JSON: {e}", program.display())))?;
    let rows = doc["rows"]
        .as_array()
        .map(|rows| rows.iter().filter_map(row_from_json).collect())
        .unwrap_or_default();
    Ok(Compared {
        program: program.to_path_buf(),
        rows,
    })
}

/// A report row from its JSON form (`ringwire::bench::stats::json`).
pub fn row_from_json(v: &Value) -> Option<Row> {
    let latency = |v: &Value| -> Option<Latency> {
        let f = |k: &str| v.get(k).and_then(Value::as_u64);
        Some(Latency {
            samples: f("samples")?,
            min: f("min_ns")?,
            mean: f("mean_ns")?,
            p50: f("p50_ns")?,
            p90: f("p90_ns")?,
            p99: f("p99_ns")?,
            p999: f("p999_ns")?,
            max: f("max_ns")?,
        })
    };
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
    let list = |k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    Some(Row {
        group: s("case")?,
        id: s("id").unwrap_or_default(),
        label: s("transport")?,
        size: usize::try_from(v.get("size")?.as_u64()?).ok()?,
        rtt: v.get("rtt").and_then(latency),
        rtt_runs: list("rtt_runs").iter().filter_map(latency).collect(),
        rtt_curve: list("rtt_curve")
            .iter()
            .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_u64()?)))
            .collect(),
        msgs_per_sec: v.get("msgs_per_sec").and_then(Value::as_f64),
        rate_runs: list("rate_runs").iter().filter_map(Value::as_f64).collect(),
        age: v.get("age").and_then(latency),
        runs: usize::try_from(v.get("runs").and_then(Value::as_u64).unwrap_or(0)).unwrap_or(0),
    })
}

/// The ringwire transport ids a peer transport is compared with: the same way of waiting
/// (busy poll with busy poll, a blocking wait with the futex wait, libzmq with the default
/// adaptive mode), PUB/SUB and loaned REQ/REP.
fn counterparts(peer_id: &str) -> [&'static str; 2] {
    if peer_id.ends_with("-busy") {
        ["ringwire-shm-busy", "ringwire-shm-zc-busy"]
    } else if peer_id.starts_with("iceoryx2") {
        ["ringwire-shm-blocking", "ringwire-shm-zc-blocking"]
    } else {
        ["ringwire-shm-adaptive", "ringwire-shm-zc-adaptive"]
    }
}

/// One ratio line: a peer row against a ringwire row of the same size.
struct Ratio<'a> {
    peer: &'a Row,
    ours: &'a Row,
    p50: Option<f64>,
    p99: Option<f64>,
    rate: Option<f64>,
}

impl Compared {
    fn ratios<'a>(&'a self, ours: &'a [Row]) -> Vec<Ratio<'a>> {
        let mut out = Vec::new();
        for peer in &self.rows {
            for id in counterparts(&peer.id) {
                let Some(mine) = ours.iter().find(|r| r.id == id && r.size == peer.size) else {
                    continue;
                };
                let lat = |f: fn(&Latency) -> u64| match (mine.rtt, peer.rtt) {
                    (Some(m), Some(p)) if f(&p) > 0 => Some(f(&m) as f64 / f(&p) as f64),
                    _ => None,
                };
                let rate = match (mine.msgs_per_sec, peer.msgs_per_sec) {
                    (Some(m), Some(p)) if p > 0.0 => Some(m / p),
                    _ => None,
                };
                if lat(|l| l.p50).is_none() && rate.is_none() {
                    continue;
                }
                out.push(Ratio {
                    peer,
                    ours: mine,
                    p50: lat(|l| l.p50),
                    p99: lat(|l| l.p99),
                    rate,
                });
            }
        }
        out
    }

    /// The peer's table and the ratios, as text.
    fn table(&self, ours: &[Row]) -> String {
        let mut out = format!("# {} (same sizes and counts)\n", self.program.display());
        out.push_str(&stats::table(&self.rows));
        out.push_str(
            "\n# ratios ringwire / peer, same size (round trip: below 1 = ringwire faster; \
             msg/s: above 1 = ringwire faster)\n",
        );
        let ratio = |r: Option<f64>| r.map_or_else(|| "-".to_string(), |r| format!("{r:.2}x"));
        let header = ["size", "peer", "ringwire", "p50", "p99", "msg/s"].map(String::from);
        let lines: Vec<[String; 6]> = self
            .ratios(ours)
            .iter()
            .map(|r| {
                [
                    stats::format_size(r.peer.size),
                    format!("{} {}", r.peer.group, r.peer.label),
                    r.ours.label.clone(),
                    ratio(r.p50),
                    ratio(r.p99),
                    ratio(r.rate),
                ]
            })
            .collect();
        let mut widths = header.clone().map(|h| h.len());
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l) {
                *w = (*w).max(c.len());
            }
        }
        for l in std::iter::once(&header).chain(&lines) {
            let cells: Vec<String> = l
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (c, w))| match i {
                    1 | 2 => format!("{c:<w$}"),
                    _ => format!("{c:>w$}"),
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// The report's `"compare"` member: the peer program, its rows and the ratios.
    fn json(&self, ours: &[Row]) -> String {
        let num = |r: Option<f64>| r.map_or_else(|| "null".to_string(), |r| format!("{r:.4}"));
        let ratios: Vec<String> = self
            .ratios(ours)
            .iter()
            .map(|r| {
                format!(
                    "{{\"size\": {}, \"peer\": {}, \"ringwire\": {}, \"p50_ratio\": {}, \
                     \"p99_ratio\": {}, \"msgs_per_sec_ratio\": {}}}",
                    r.peer.size,
                    Value::from(r.peer.id.as_str()),
                    Value::from(r.ours.id.as_str()),
                    num(r.p50),
                    num(r.p99),
                    num(r.rate)
                )
            })
            .collect();
        let peer_doc = stats::json(&Default::default(), &self.rows);
        let peer_rows = serde_json::from_str::<Value>(&peer_doc)
            .map(|d| d["rows"].to_string())
            .unwrap_or_else(|_| "[]".into());
        format!(
            "{{\"program\": {}, \"rows\": {peer_rows}, \"ratios\": [{}]}}",
            Value::from(self.program.display().to_string()),
            ratios.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_only_for_long_runs() {
        let s = Duration::from_secs;
        // Nothing done yet: the guess decides (low-rate mode knows its length).
        assert!(!expect_long(s(0), 0, 10, Duration::ZERO));
        assert!(expect_long(s(0), 0, 10, s(5)));
        // 1 of 10 runs took 0.5 s: 5 s expected.
        assert!(expect_long(
            Duration::from_millis(500),
            1,
            10,
            Duration::ZERO
        ));
        // 5 of 6 took 1 s: 1.2 s expected.
        assert!(!expect_long(s(1), 5, 6, Duration::ZERO));
    }

    fn row(id: &str, size: usize, p50: u64, rate: Option<f64>) -> Row {
        Row {
            group: id.split('-').next().unwrap_or("").into(),
            id: id.into(),
            label: id.into(),
            size,
            rtt: Some(Latency {
                samples: 10,
                p50,
                p99: p50 * 2,
                ..Latency::default()
            }),
            msgs_per_sec: rate,
            ..Row::default()
        }
    }

    #[test]
    fn ratios_pair_like_with_like() {
        let ours = vec![
            row("ringwire-shm-busy", 8, 300, Some(9e6)),
            row("ringwire-shm-blocking", 8, 60_000, Some(8e6)),
            row("ringwire-shm-adaptive", 8, 320, Some(7e6)),
            row("ringwire-shm-zc-busy", 65536, 3_000, None),
        ];
        let c = Compared {
            program: "ringwire-bench".into(),
            rows: vec![
                row("iceoryx2-busy", 8, 900, Some(3e6)),
                row("iceoryx2-event", 8, 80_000, None),
                row("libzmq-tcp", 8, 120_000, Some(4e6)),
                row("iceoryx2-busy", 65536, 4_000, None),
            ],
        };
        let r = c.ratios(&ours);
        let pairs: Vec<(&str, &str, usize)> = r
            .iter()
            .map(|r| (r.peer.id.as_str(), r.ours.id.as_str(), r.peer.size))
            .collect();
        assert_eq!(
            pairs,
            [
                ("iceoryx2-busy", "ringwire-shm-busy", 8),
                ("iceoryx2-event", "ringwire-shm-blocking", 8),
                ("libzmq-tcp", "ringwire-shm-adaptive", 8),
                ("iceoryx2-busy", "ringwire-shm-zc-busy", 65536),
            ]
        );
        assert!((r[0].p50.unwrap() - 300.0 / 900.0).abs() < 1e-9);
        assert!((r[0].rate.unwrap() - 3.0).abs() < 1e-9);
        assert_eq!(r[1].rate, None);
        let t = c.table(&ours);
        assert!(t.contains("0.33x") && t.contains("3.00x"), "{t}");
        let j: Value = serde_json::from_str(&c.json(&ours)).unwrap();
        assert_eq!(j["ratios"].as_array().unwrap().len(), 4);
        assert_eq!(j["rows"].as_array().unwrap().len(), 4);
        // The rows survive the trip through JSON.
        let back: Vec<Row> = j["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(row_from_json)
            .collect();
        assert_eq!(back.len(), 4);
        assert_eq!(back[0].rtt, c.rows[0].rtt);
        assert_eq!(back[0].msgs_per_sec, c.rows[0].msgs_per_sec);
    }
}
