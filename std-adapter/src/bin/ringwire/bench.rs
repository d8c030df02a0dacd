//! `ringwire bench`: the shared-memory round trip and throughput, measured between this
//! process and a copy of itself (started with the hidden `bench-peer` subcommand), with the
//! engine of `ringwire::bench`. Defaults finish in a few seconds.

use std::time::Duration;

use clap::{Args, ValueEnum};
use ringwire::bench::{self, BenchError, Case, Options, PeerArgs, Pin, Transport, shm, zero_copy};

/// Arguments of `ringwire bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Recorded round trips per run.
    #[arg(long, default_value_t = 20_000)]
    iters: u64,
    /// Unrecorded round trips before them.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Round-trip message sizes in bytes, comma-separated (at least 8).
    #[arg(long, value_delimiter = ',', default_values_t = [8usize, 65536])]
    size: Vec<usize>,
    /// Sizes of the loaned REQ/REP round trips, comma-separated (the sender writes the whole
    /// message into the loaned slot, the receiver reads it in place).
    #[arg(long, value_delimiter = ',', default_values_t = [65536usize])]
    loan_sizes: Vec<usize>,
    /// Receive modes to measure, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Mode::Busy, Mode::Blocking, Mode::Adaptive])]
    mode: Vec<Mode>,
    /// Messages per throughput run (8-byte PUSH/PULL; 0 skips throughput).
    #[arg(long, default_value_t = 200_000)]
    thr_msgs: u64,
    /// Runs of every case; the table shows the median of each statistic.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Seconds after which a run counts as hung (the peer is killed, exit 3).
    #[arg(long, default_value_t = 60)]
    timeout: u64,
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

/// Runs the benchmark and prints the report; `Ok(false)` if a run failed.
pub fn lead(a: &BenchArgs) -> Result<bool, BenchError> {
    if let Some(bad) = a.size.iter().chain(&a.loan_sizes).find(|&&s| s < 8) {
        return Err(BenchError(format!(
            "--size {bad}: messages carry an 8-byte sequence number"
        )));
    }
    let mut modes = a.mode.clone();
    modes.dedup();
    let mut cases = Vec::new();
    for m in &modes {
        cases.push(Case {
            transport: m.transport(),
            sizes: a.size.clone(),
            throughput: a.thr_msgs > 0,
        });
        if !a.loan_sizes.is_empty() {
            cases.push(Case {
                transport: m.zero_copy(),
                sizes: a.loan_sizes.clone(),
                throughput: false,
            });
        }
    }
    let options = Options {
        iters: a.iters,
        warmup: a.warmup,
        thr_msgs: a.thr_msgs,
        repeat: a.repeat,
        pin: Pin::Split,
        timeout: Duration::from_secs(a.timeout.max(1)),
        peer_args: vec!["bench-peer".into()],
        program: "ringwire bench".into(),
    };
    let (setup, rows, ok) = bench::run(&cases, &options)?;
    print!("{}", bench::report(&setup, &rows, a.json));
    Ok(ok)
}

/// The peer process.
pub fn peer(a: &PeerArgs) -> Result<(), BenchError> {
    a.serve(&transports())
}
