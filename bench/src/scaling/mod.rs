//! `ringwire-bench scaling`: how cost grows with work, side by side with a peer in one run.
//!
//! - **Fan-out** ([`fanout`]): one shared-memory publisher, N subscriber processes. Each
//!   message carries its send time (`CLOCK_MONOTONIC`, which every process on a Linux machine
//!   reads alike), so every subscriber measures one-way latency itself, at a fixed rate; an
//!   unpaced burst then gives the messages delivered per second summed over the subscribers.
//!   ringwire PUB/SUB against iceoryx2 publish-subscribe (feature `iceoryx2`), both blocking
//!   in the kernel while idle.
//! - **Connections** ([`conns`]): one REP socket on `tcp://127.0.0.1` holding N idle ZMTP
//!   connections (made by hand from one peer process, [`idle`]) and one active REQ peer
//!   measuring round trips; memory per idle connection from the server's `VmRSS`. ringwire
//!   against libzmq (feature `libzmq`).
//!
//! Every process is this program: the leader re-executes itself with the hidden
//! `scaling-peer` subcommand for each subscriber, server and idle-connection holder, reads
//! their one-line results from their standard output, and prints a table and (`--json FILE`)
//! the curves as series. `docs/benchmarks.md` ("Scaling") describes the method and figures.

pub mod conns;
pub mod fanout;
pub mod idle;
mod proc;

use std::fmt::Write as _;

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use ringwire::bench::{BenchError, Result};

/// The `scaling` subcommand's options.
#[derive(ClapArgs, Debug, Clone)]
pub struct Args {
    /// What to run, comma-separated: fanout, conns.
    #[arg(long, value_delimiter = ',', default_value = "fanout,conns")]
    only: Vec<Part>,

    /// Subscriber counts of the fan-out runs.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    subs: Vec<usize>,

    /// Idle-connection counts of the connection runs.
    #[arg(long, value_delimiter = ',', default_value = "0,10,100,1000")]
    idle: Vec<usize>,

    /// Paced messages per fan-out latency run.
    #[arg(long, default_value_t = 5_000)]
    lat_msgs: u64,

    /// Microseconds between two paced messages.
    #[arg(long, default_value_t = 100)]
    interval_us: u64,

    /// Messages of the unpaced fan-out burst.
    #[arg(long, default_value_t = 200_000)]
    burst_msgs: u64,

    /// Recorded round trips of the active peer per connection run.
    #[arg(long, default_value_t = 20_000)]
    iters: u64,

    /// Unrecorded round trips before them.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,

    /// Runs of every point; the report shows the median of each statistic.
    #[arg(long, default_value_t = 1)]
    repeat: usize,

    /// Also write the curves as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,

    /// Also draw the curves as an SVG file: fan-out latency and delivered rate against
    /// subscribers, round trip and memory against idle connections, one line per system.
    #[arg(long)]
    plot: Option<std::path::PathBuf>,

    /// Seconds after which a run is considered hung and fails.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// A part of the scaling benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    /// PUB/SUB fan-out over shared memory.
    Fanout,
    /// Idle connections on one ZMTP socket.
    Conns,
}

/// The processes the leader starts (hidden `scaling-peer` subcommand).
#[derive(Subcommand, Debug)]
pub enum Role {
    /// One fan-out subscriber.
    FanSub {
        /// `ringwire` or `iceoryx2`.
        #[arg(long)]
        system: String,
        /// Segment or service name.
        #[arg(long)]
        address: String,
    },
    /// The REP server of a connection run.
    ConnServer {
        /// `ringwire` or `libzmq`.
        #[arg(long)]
        system: String,
    },
    /// Holder of the idle ZMTP connections.
    Idle {
        /// `host:port` of the server.
        #[arg(long)]
        address: String,
        /// Connections to open.
        #[arg(long)]
        count: usize,
    },
}

/// Runs one peer role.
pub fn serve(role: &Role) -> Result<()> {
    match role {
        Role::FanSub { system, address } => fanout::subscriber(system, address),
        Role::ConnServer { system } => conns::server(system),
        Role::Idle { address, count } => idle::hold(address, *count),
    }
}

/// The fan-out systems compiled in.
fn fanout_systems() -> Vec<&'static str> {
    let mut v = vec!["ringwire"];
    if cfg!(feature = "iceoryx2") {
        v.push("iceoryx2");
    }
    v
}

/// The connection-run servers compiled in.
fn conn_systems() -> Vec<&'static str> {
    let mut v = vec!["ringwire"];
    if cfg!(feature = "libzmq") {
        v.push("libzmq");
    }
    v
}

pub(crate) use ringwire::bench::stats::{median, percentile};

/// A JSON number, or `null` for a missing or non-finite value.
fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            if x.fract() == 0.0 && x.abs() < 1e15 {
                format!("{x:.0}")
            } else {
                format!("{x:.3}")
            }
        }
        _ => "null".into(),
    }
}

fn opt_ns(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.1} µs", x / 1000.0))
}

/// Runs the chosen parts and prints the report; returns whether every run succeeded.
pub fn run(args: &Args, program: &str) -> Result<bool> {
    proc::raise_fd_limit();
    let mut ok = true;
    let mut fan: Vec<(&str, Vec<fanout::Point>)> = Vec::new();
    let mut con: Vec<(&str, Vec<conns::Point>)> = Vec::new();
    let timeout = std::time::Duration::from_secs(args.timeout);
    if args.only.contains(&Part::Fanout) {
        let o = fanout::Options {
            lat_msgs: args.lat_msgs.max(1),
            interval: std::time::Duration::from_micros(args.interval_us),
            burst_msgs: args.burst_msgs.max(1),
            timeout,
        };
        for system in fanout_systems() {
            let mut points = Vec::new();
            for &n in &args.subs {
                let mut runs = Vec::new();
                for round in 1..=args.repeat.max(1) {
                    match fanout::run(system, n.max(1), &o) {
                        Ok(p) => {
                            eprintln!(
                                "[{round}] fan-out {system} {n} subs: p50 {} p99 {} delivered {:.0}/s lost {}",
                                opt_ns(Some(p.p50_ns)),
                                opt_ns(Some(p.p99_ns)),
                                p.delivered_per_s,
                                p.lost
                            );
                            runs.push(p);
                        }
                        Err(e) => {
                            eprintln!("{program}: fan-out {system} {n} subs: FAILED: {e}");
                            ok = false;
                        }
                    }
                }
                if let Some(p) = fanout::Point::median_of(&runs) {
                    points.push(p);
                }
            }
            fan.push((system, points));
        }
    }
    if args.only.contains(&Part::Conns) {
        let o = conns::Options {
            iters: args.iters.max(1),
            warmup: args.warmup,
            timeout,
        };
        for system in conn_systems() {
            let mut points = Vec::new();
            let mut base_rss: Option<f64> = None;
            for &n in &args.idle {
                let mut runs = Vec::new();
                for round in 1..=args.repeat.max(1) {
                    match conns::run(system, n, &o) {
                        Ok(p) => {
                            eprintln!(
                                "[{round}] connections {system} {n} idle: rtt p50 {} p99 {} server RSS {} KiB",
                                opt_ns(Some(p.rtt_p50_ns)),
                                opt_ns(Some(p.rtt_p99_ns)),
                                p.rss_bytes / 1024.0
                            );
                            runs.push(p);
                        }
                        Err(e) => {
                            eprintln!("{program}: connections {system} {n} idle: FAILED: {e}");
                            ok = false;
                        }
                    }
                }
                if let Some(mut p) = conns::Point::median_of(&runs) {
                    if n == 0 {
                        base_rss = Some(p.rss_bytes);
                    }
                    p.bytes_per_idle = match (base_rss, n) {
                        (Some(b), n) if n > 0 => Some((p.rss_bytes - b) / n as f64),
                        _ => None,
                    };
                    points.push(p);
                }
            }
            con.push((system, points));
        }
    }
    print!("{}", table(&fan, &con));
    if let Some(path) = &args.json {
        std::fs::write(path, json(&fan, &con))
            .map_err(|e| BenchError(format!("writing {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.plot {
        ringwire::bench::plot::charts(path, &charts(&fan, &con))?;
    }
    Ok(ok)
}

/// The curves as charts, for `--plot`.
fn charts(
    fan: &[(&str, Vec<fanout::Point>)],
    con: &[(&str, Vec<conns::Point>)],
) -> Vec<ringwire::bench::plot::Chart> {
    use ringwire::bench::plot::{Chart, Series, format_bytes, format_nanos};
    fn lines<P>(
        list: &[(&str, Vec<P>)],
        label: &str,
        point: impl Fn(&P) -> (f64, f64),
    ) -> Vec<Series> {
        list.iter()
            .map(|(system, points)| Series {
                name: format!("{system} {label}").trim_end().to_owned(),
                points: points.iter().map(&point).collect(),
            })
            .collect()
    }
    let mut out = Vec::new();
    if !fan.is_empty() {
        let mut latency = Chart::new(
            "Fan-out over shared memory: per-subscriber one-way latency",
            "subscribers",
            "latency (median over subscribers)",
        );
        latency.log_x = true;
        latency.log_y = true;
        latency.y_format = format_nanos;
        latency.series = lines(fan, "p50", |p| (p.subs as f64, p.p50_ns));
        latency
            .series
            .extend(lines(fan, "p99", |p| (p.subs as f64, p.p99_ns)));
        let mut rate = Chart::new(
            "Fan-out over shared memory: messages delivered per second, all subscribers",
            "subscribers",
            "delivered msg/s",
        );
        rate.log_x = true;
        rate.series = lines(fan, "", |p| (p.subs as f64, p.delivered_per_s));
        out.extend([latency, rate]);
    }
    if !con.is_empty() {
        // A log axis has no 0: the no-idle point is drawn at 1.
        let x = |idle: usize| idle.max(1) as f64;
        let mut rtt = Chart::new(
            "Idle connections on one REP socket: the active peer's round trip",
            "idle connections (0 drawn at 1)",
            "round trip",
        );
        rtt.log_x = true;
        rtt.y_format = format_nanos;
        rtt.series = lines(con, "p50", |p| (x(p.idle), p.rtt_p50_ns));
        rtt.series
            .extend(lines(con, "p99", |p| (x(p.idle), p.rtt_p99_ns)));
        let mut memory = Chart::new(
            "Idle connections on one REP socket: server memory per idle connection",
            "idle connections",
            "bytes per idle connection (RSS)",
        );
        memory.log_x = true;
        memory.y_format = format_bytes;
        memory.series = lines(con, "", |p| {
            (p.idle as f64, p.bytes_per_idle.unwrap_or(f64::NAN))
        });
        for s in &mut memory.series {
            s.points.retain(|&(_, y)| y.is_finite());
        }
        out.extend([rtt, memory]);
    }
    out
}

fn table(fan: &[(&str, Vec<fanout::Point>)], con: &[(&str, Vec<conns::Point>)]) -> String {
    let mut s = String::new();
    if !fan.is_empty() {
        let _ = writeln!(
            s,
            "Fan-out over shared memory (per-subscriber one-way latency, median over subscribers)"
        );
        let _ = writeln!(
            s,
            "{:<10} {:>5} {:>12} {:>12} {:>16} {:>10}",
            "system", "subs", "p50", "p99", "delivered msg/s", "lost"
        );
        for (system, points) in fan {
            for p in points {
                let _ = writeln!(
                    s,
                    "{:<10} {:>5} {:>12} {:>12} {:>16.0} {:>10}",
                    system,
                    p.subs,
                    opt_ns(Some(p.p50_ns)),
                    opt_ns(Some(p.p99_ns)),
                    p.delivered_per_s,
                    p.lost
                );
            }
        }
    }
    if !con.is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        let _ = writeln!(
            s,
            "Idle connections on one REP socket (tcp://127.0.0.1; active REQ peer's round trip)"
        );
        let _ = writeln!(
            s,
            "{:<10} {:>5} {:>12} {:>12} {:>14} {:>14}",
            "system", "idle", "rtt p50", "rtt p99", "server RSS", "bytes/idle"
        );
        for (system, points) in con {
            for p in points {
                let _ = writeln!(
                    s,
                    "{:<10} {:>5} {:>12} {:>12} {:>10.0} KiB {:>14}",
                    system,
                    p.idle,
                    opt_ns(Some(p.rtt_p50_ns)),
                    opt_ns(Some(p.rtt_p99_ns)),
                    p.rss_bytes / 1024.0,
                    p.bytes_per_idle.map_or("-".into(), |b| format!("{b:.0}"))
                );
            }
        }
    }
    s
}

/// The curves as series (see the module docs for the shape).
fn json(fan: &[(&str, Vec<fanout::Point>)], con: &[(&str, Vec<conns::Point>)]) -> String {
    let mut s = String::from("{\n");
    let series = |s: &mut String, key: &str, list: Vec<(&str, Vec<String>)>, last: bool| {
        let _ = writeln!(s, "  \"{key}\": {{");
        let n = list.len();
        for (i, (system, rows)) in list.into_iter().enumerate() {
            let _ = write!(s, "    \"{system}\": [");
            for (j, r) in rows.iter().enumerate() {
                let _ = write!(s, "{}\n      {r}", if j == 0 { "" } else { "," });
            }
            let close = if rows.is_empty() { "]" } else { "\n    ]" };
            let _ = writeln!(s, "{close}{}", if i + 1 < n { "," } else { "" });
        }
        let _ = writeln!(s, "  }}{}", if last { "" } else { "," });
    };
    let fan_rows = fan
        .iter()
        .map(|(sys, pts)| {
            let rows = pts
                .iter()
                .map(|p| {
                    format!(
                        "{{\"subs\": {}, \"p50_ns\": {}, \"p99_ns\": {}, \"delivered_per_s\": {}, \"lost\": {}}}",
                        p.subs,
                        num(Some(p.p50_ns)),
                        num(Some(p.p99_ns)),
                        num(Some(p.delivered_per_s)),
                        p.lost
                    )
                })
                .collect();
            (*sys, rows)
        })
        .collect();
    let con_rows = con
        .iter()
        .map(|(sys, pts)| {
            let rows = pts
                .iter()
                .map(|p| {
                    format!(
                        "{{\"idle\": {}, \"rtt_p50_ns\": {}, \"rtt_p99_ns\": {}, \"rss_bytes\": {}, \"bytes_per_idle\": {}}}",
                        p.idle,
                        num(Some(p.rtt_p50_ns)),
                        num(Some(p.rtt_p99_ns)),
                        num(Some(p.rss_bytes)),
                        num(p.bytes_per_idle)
                    )
                })
                .collect();
            (*sys, rows)
        })
        .collect();
    series(&mut s, "fanout", fan_rows, false);
    series(&mut s, "connections", con_rows, true);
    s.push_str("}\n");
    s
}
