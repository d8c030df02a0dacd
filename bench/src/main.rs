//! `ringwire-bench`: measures ringwire side by side with its peers (iceoryx2, libzmq) and with
//! the physical limits (a bare atomic ping-pong in shared memory, raw sockets), in one run on
//! one machine, so that the report can be read as ratios.
//!
//! The program is its own peer: for every run it re-executes itself with the hidden `peer`
//! subcommand, the two processes connect over the transport under test, and the leader measures
//! round trips and one-way throughput (see `ringwire::bench`, which also holds the
//! transport-neutral parts and ringwire's shared-memory transport). `docs/benchmarks.md` describes each
//! case and what exactly is measured.
#![deny(unsafe_code)]

mod broker;
mod events;
mod scaling;
mod transport;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ringwire::bench::{self, BenchError, Case, Options, Result};

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

    /// Round-trip sizes of every case except `bare` (whose messages are only the sequence
    /// number), comma-separated, suffixes K and M allowed (default: each transport's own).
    #[arg(long, value_delimiter = ',', value_parser = bench::stats::parse_size)]
    size: Vec<usize>,

    /// Payload sweep: round trips and throughput at each of these sizes for every case except
    /// `bare`, one row per size (e.g. `8,64,1K,64K,1M,4M`).
    #[arg(long, value_delimiter = ',', value_parser = bench::stats::parse_size)]
    sizes: Vec<usize>,

    /// Low-rate mode: one round trip every N microseconds, sleeping in between.
    #[arg(long, value_name = "N")]
    interval_us: Option<u64>,

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
        /// `ringwire::bench::PeerArgs`, as the leader appends them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Request/reply through a broker (ringwire's router over tcp, ipc and shm; libzmq's
    /// load-balancing broker), with direct REQ/REP for reference, and the broker's memory.
    Broker(broker::BrokerArgs),
    /// Fan-out and idle-connection scaling, side by side with iceoryx2 and libzmq.
    Scaling(scaling::Args),
    /// A process of the scaling runs (started by the benchmark itself).
    #[command(hide = true)]
    ScalingPeer {
        #[command(subcommand)]
        role: scaling::Role,
    },
    /// Event service latency: emit → handler and signal → handler (`bench/src/events.rs`).
    Events(events::EventsArgs),
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

impl From<Pin> for bench::Pin {
    fn from(p: Pin) -> bench::Pin {
        match p {
            Pin::Split => bench::Pin::Split,
            Pin::Same => bench::Pin::Same,
            Pin::None => bench::Pin::None,
        }
    }
}

fn lead(cli: &Cli) -> Result<bool> {
    let cases: Vec<Case> = transport::all()
        .into_iter()
        .filter(|t| cli.case.is_empty() || cli.case.iter().any(|c| c == t.group() || c == t.id()))
        .map(
            |t| match (t.group(), cli.size.is_empty(), cli.sizes.is_empty()) {
                ("bare", _, _) | (_, true, true) => Case::of(t),
                (_, _, false) => Case::sweep(t, &cli.sizes),
                (_, false, true) => Case {
                    sizes: cli.size.clone(),
                    ..Case::of(t)
                },
            },
        )
        .collect();
    if let Some(bad) = cli.size.iter().chain(&cli.sizes).find(|&&s| s < 8) {
        return Err(BenchError(format!(
            "size {bad}: messages carry an 8-byte sequence number"
        )));
    }
    if cases.is_empty() {
        return Err(BenchError(format!(
            "no transport matches --case {:?}; see --list",
            cli.case
        )));
    }
    let options = Options {
        iters: cli.iters,
        warmup: cli.warmup,
        thr_msgs: cli.thr_msgs,
        repeat: cli.repeat,
        pin: cli.pin.into(),
        timeout: Duration::from_secs(cli.timeout),
        peer_args: vec!["peer".into()],
        program: "ringwire-bench".into(),
        stop: None,
        interval: cli.interval_us.map(Duration::from_micros),
        // With chosen sizes, large messages get fewer round trips (sweeps up to MiB sizes);
        // the default cases keep their counts.
        max_bytes: (!cli.size.is_empty() || !cli.sizes.is_empty()).then_some(4 << 30),
        ..Options::default()
    };
    let (setup, rows, ok) = bench::run(&cases, &options)?;
    print!("{}", bench::report(&setup, &rows, None, cli.json));
    Ok(ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.peer {
        Some(PeerCommand::Peer { args }) => bench::PeerArgs::parse(args)
            .and_then(|a| a.serve(&transport::all()))
            .map(|()| true),
        Some(PeerCommand::Broker(args)) => broker::run(args),
        Some(PeerCommand::Scaling(args)) => scaling::run(args, "ringwire-bench"),
        Some(PeerCommand::ScalingPeer { role }) => scaling::serve(role).map(|()| true),
        Some(PeerCommand::Events(args)) => events::main(args).map(|()| true).map_err(BenchError),
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
            let role = match cli.peer {
                Some(PeerCommand::Peer { .. } | PeerCommand::ScalingPeer { .. }) => "peer",
                _ => "leader",
            };
            eprintln!("ringwire-bench ({role}): {e}");
            ExitCode::FAILURE
        }
    }
}
