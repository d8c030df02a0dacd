//! The `ringwire` command-line tool: publish, subscribe, request, reply, push and pull over
//! `shm://`, `tcp://` and `ipc://` (through the `ringwire::{Publisher, ...}` façade)
//! from a shell, against ringwire or any ZeroMQ peer; `ringwire bench` measures the
//! shared-memory round trip; `ringwire bridge` puts a serial link on an endpoint.
//!
//! The contract (docs/cli.md): exit status 0 success, 1 timed out (`--timeout-ms`; "timed
//! out" on stderr), 2 usage error (bad arguments, a malformed endpoint, an invalid shm name,
//! a host that does not resolve), 3 runtime failure (e.g. the address is in use, a line over
//! the message size limit), 130 after SIGINT and 143 after SIGTERM (sockets closed, shm
//! segments this command created removed, counters on stderr). Received messages print one
//! per line, frames joined by a TAB; stdin lines (for `pub` and `push`) lose their `\n` and a
//! trailing `\r`, empty lines are empty frames, and a last line without a newline still
//! counts. No input is dropped silently: a line that cannot be sent ends the command with
//! an error naming it.
#![forbid(unsafe_code)]

mod bench;
mod broker;
mod commands;
mod launch;
mod ops;
mod stop;

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use ringwire::Error;

use crate::stop::Stopped;

/// ringwire: messaging for robotics control loops.
///
/// Exit status: 0 success; 1 timed out (--timeout-ms); 2 usage error (bad arguments, a
/// malformed endpoint, an invalid shm name, a host that does not resolve); 3 runtime failure
/// (e.g. address in use, a line over the message size limit); 130 after SIGINT and 143
/// after SIGTERM (sockets closed cleanly, counters on stderr).
#[derive(Parser)]
#[command(name = "ringwire", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Publish the connection events of this command's tcp/ipc socket on a PUB bound at EP
    /// (watch them with `ringwire monitor EP`). Ignored for shm:// sockets, which have no
    /// connections.
    #[arg(long, global = true, value_name = "EP")]
    events: Option<String>,
    /// Write log records to rotated files in DIR (daily and at 16 MiB, 7 kept; warnings also
    /// on stderr) instead of stderr; default $RINGWIRE_LOG_DIR. The level is $RINGWIRE_LOG
    /// (error, warn (default), info, debug, trace, off, or e.g. `warn,ringwire::broker=debug`).
    #[arg(long, global = true, value_name = "DIR")]
    log_dir: Option<std::path::PathBuf>,
}

/// Where a socket goes: exactly one of `--bind EP` / `--connect EP`.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
pub struct Place {
    /// Bind this endpoint (shm://NAME, tcp://*:PORT, tcp://127.0.0.1:PORT, ipc:///path.sock).
    #[arg(long)]
    bind: Option<String>,
    /// Connect to this endpoint (sockets retry in the background until the peer is up;
    /// shm:// waits up to --timeout-ms, or 60 s, for the binding side).
    #[arg(long)]
    connect: Option<String>,
}

/// The message size limit every socket command takes.
#[derive(Args, Clone, Copy)]
pub struct Size {
    /// The largest message in bytes (its frames together, the topic included). shm: sizes
    /// the slots of a segment this command creates (default 65536; a connecting command uses
    /// the creator's size and a larger line is an error); tcp/ipc: the largest message
    /// accepted from a peer (default 64 MiB; a larger one closes that peer's connection,
    /// reported on stderr).
    #[arg(long, visible_alias = "slot-size", value_name = "BYTES")]
    max_message_size: Option<usize>,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the shm:// round trip (p50/p99/p99.9) and throughput against a copy of this
    /// program; a few seconds with the defaults. SIGINT/SIGTERM stop it between two messages
    /// (exit 130/143: the peer is told to leave, the run's segments are removed).
    Bench(bench::BenchArgs),
    /// A request/reply broker: clients connect to --frontend, workers (load-balancing,
    /// Paranoid Pirate, Majordomo) to --backend. Runs until SIGINT/SIGTERM, then prints its
    /// counters on stderr and exits 0.
    Broker(broker::BrokerArgs),
    /// A worker behind a broker that echoes (or upper-cases) each request's payload. Runs
    /// until SIGINT/SIGTERM, then prints its counters on stderr and exits 0.
    Worker(broker::WorkerArgs),
    /// Start the processes of a launch file (TOML, docs/process.md) and keep them running:
    /// restarts, start order, liveness deadlines; a status line per change. Exit status: the
    /// first failure's code (on_failure = "stop-all"), 0 when all ended cleanly, 2 for a bad
    /// file (the error names its line and key), 130/143 after SIGINT/SIGTERM.
    Launch(launch::LaunchArgs),
    /// Bridge a serial link to firmware onto an endpoint: every frame is published on a PUB
    /// bound at --to under `serial/{topic}` (acks: `serial/ack/{topic}`); with --commands,
    /// `[serial/cmd/{topic}, payload]` messages published there are sent to the firmware.
    /// Ends (exit 0, statistics on stderr) when the link is closed or after --for-ms;
    /// SIGINT/SIGTERM stop it with its statistics too (exit 130/143).
    Bridge {
        /// The link: a tty/pty path (raw 8N1) or tcp://host:port.
        #[arg(long)]
        serial: String,
        /// Baud rate of a tty (default: left as it is).
        #[arg(long)]
        baud: Option<u32>,
        /// Endpoint the PUB binds (shm://NAME, tcp://..., ipc://...).
        #[arg(long)]
        to: String,
        /// Endpoint a SUB connects to for commands (its publisher binds it).
        #[arg(long)]
        commands: Option<String>,
        /// Stop after this many ms and exit 0 (default: run until the link closes).
        #[arg(long)]
        for_ms: Option<u64>,
        /// Stop after this many ms and exit 1 ("timed out"): a bound for a bridge that is
        /// expected to end by itself (the link closing, or --for-ms).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// The benchmark's peer process (started by `ringwire bench`; the arguments are
    /// `ringwire::bench::PeerArgs`).
    #[command(hide = true)]
    BenchPeer {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Print messages whose first frame starts with a --topic prefix (all if none).
    /// SIGINT/SIGTERM print `received N` (and `lost N` on shm) on stderr.
    Sub {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// Topic prefix to subscribe to (repeatable).
        #[arg(long)]
        topic: Vec<String>,
        /// Exit 0 after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without a message (an shm --connect also waits at
        /// most this long for the publisher's segment).
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// shm only: also receive up to N messages published before this subscriber
        /// attached (the publisher's history; a ZMTP publisher keeps none).
        #[arg(long, value_name = "N")]
        history: Option<usize>,
    },
    /// Publish [TOPIC, line] for each stdin line, or --message S --count N times.
    Pub {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// The topic (first frame).
        #[arg(long)]
        topic: String,
        /// Publish --message this many times instead of reading stdin.
        #[arg(long)]
        count: Option<u64>,
        /// Pause between messages.
        #[arg(long, default_value_t = 0)]
        interval_ms: u64,
        /// The message for --count.
        #[arg(long, default_value = "")]
        message: String,
        /// Wait until N subscribers are there before the first message (on shm: attached;
        /// on tcp/ipc: subscribed). Without it a tcp/ipc publisher waits up to 2 s for one.
        #[arg(long, value_name = "N")]
        wait_subscribers: Option<usize>,
        /// Exit 1 when --wait-subscribers, an shm --connect waiting for the segment, or
        /// (tcp/ipc) the final wait for the kernel to take what was published takes longer
        /// than this many ms.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// shm only: make the ring hold at least N messages, so that a subscriber asking for
        /// them (`sub --history N`) still gets them; what a late subscriber receives is its
        /// own `--history`, capped by what the ring holds.
        #[arg(long, value_name = "N")]
        history: Option<usize>,
    },
    /// Send MESSAGE, print the reply.
    Req {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// The request.
        message: String,
        /// Exit 1 if the whole exchange (finding the replier, sending, the reply) takes
        /// longer than this many ms.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Answer requests: echo them (default) or upper-case ASCII letters.
    /// SIGINT/SIGTERM print `served N` on stderr.
    Rep {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// Reply with the request unchanged (the default).
        #[arg(long, conflicts_with = "upper")]
        echo: bool,
        /// Reply with a-z upper-cased.
        #[arg(long)]
        upper: bool,
        /// Exit 0 after this many replies.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without a request.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Push each stdin line as a message; on shm, wait until a puller has taken them all.
    Push {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// Exit 1 when connecting, one send (waiting for room) or the final wait for a
        /// puller (shm) or the kernel (tcp/ipc) to take what is queued takes longer than
        /// this many ms.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// List every ringwire shm segment on this machine: its creator (alive or dead), ring,
    /// slot size and count, writer, registered subscribers, messages written, backlog and
    /// messages subscribers were overrun by.
    Ls {
        /// Print a JSON array instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Remove the shm segments whose creator died (never one whose creator runs), saying
    /// what was removed.
    Clean {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the connection events a socket publishes (`--events EP` of another ringwire
    /// command, or `publish_events` in a program), one line each: kind, the socket's
    /// endpoint, the peer, details.
    Monitor {
        /// The event endpoint to connect to.
        endpoint: String,
        /// Exit 0 after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without an event.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Show one shm segment in detail, refreshed every --interval-ms until --count prints or
    /// SIGINT/SIGTERM.
    Stat {
        /// The segment: shm://NAME.
        endpoint: String,
        /// Time between refreshes.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Exit 0 after this many prints.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Print pulled messages. SIGINT/SIGTERM print `received N` on stderr.
    Pull {
        #[command(flatten)]
        place: Place,
        #[command(flatten)]
        size: Size,
        /// Exit 0 after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without a message (an shm --connect also waits at
        /// most this long for the pusher's segment).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
}

/// How the tool ended.
pub enum Failure {
    /// `--timeout-ms` passed (exit 1).
    Timeout,
    /// Bad arguments or endpoint (exit 2).
    Usage(String),
    /// A socket operation failed (exit 3; boxed: the library's error is large).
    Runtime(Box<Error>),
    /// Something else failed, with this message (exit 3).
    Failed(String),
    /// A benchmark run failed (already reported, or with this message; exit 3).
    Bench(String),
    /// SIGINT or SIGTERM stopped the command (exit 128 + signal).
    Signal(i32),
}

impl From<ringwire::bench::BenchError> for Failure {
    fn from(e: ringwire::bench::BenchError) -> Self {
        Failure::Bench(e.0)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        match e {
            Error::Timeout => Failure::Timeout,
            Error::Endpoint(e) => Failure::Usage(e.to_string()),
            Error::Unsupported(s) => Failure::Usage(s.to_string()),
            Error::Segment(ringwire_platform::SegmentError::Name(e)) => {
                Failure::Usage(format!("invalid shm endpoint: {e}"))
            }
            e => Failure::Runtime(Box::new(e)),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Runtime(Box::new(Error::Io(e)))
    }
}

impl From<Stopped> for Failure {
    fn from(s: Stopped) -> Self {
        match s {
            Stopped::Signal(sig) => Failure::Signal(sig),
            Stopped::Timeout => Failure::Timeout,
        }
    }
}

fn run(cmd: Command) -> Result<(), Failure> {
    use commands::*;
    match cmd {
        Command::Bench(args) => match (bench::lead(&args), stop::caught()) {
            (_, Some(sig)) => Err(Failure::Signal(sig)),
            (Ok(true), None) => Ok(()),
            (Ok(false), None) => Err(Failure::Bench("a benchmark run failed".into())),
            (Err(e), None) => Err(e),
        },
        Command::BenchPeer { args } => Ok(bench::peer(&args)?),
        Command::Broker(args) => broker::broker(&args),
        Command::Worker(args) => broker::worker(&args),
        Command::Ls { json } => ops::ls(json),
        Command::Monitor {
            endpoint,
            count,
            timeout_ms,
        } => commands::monitor(&endpoint, count, ms(timeout_ms)),
        Command::Clean { dry_run } => ops::clean(dry_run),
        Command::Stat {
            endpoint,
            interval_ms,
            count,
        } => ops::stat(
            &endpoint,
            std::time::Duration::from_millis(interval_ms),
            count,
        ),
        // `main` runs it before installing the CLI's own signal handlers; this is a fallback.
        Command::Launch(args) => match launch::main(&args) {
            0 => Ok(()),
            code => Err(Failure::Failed(format!(
                "launch ended with exit code {code}"
            ))),
        },
        Command::Bridge {
            serial,
            baud,
            to,
            commands,
            for_ms,
            timeout_ms,
        } => bridge(
            &serial,
            baud,
            &to,
            commands.as_deref(),
            for_ms,
            ms(timeout_ms),
        ),
        Command::Sub {
            place,
            size,
            topic,
            count,
            timeout_ms,
            history,
        } => sub(&place, size, &topic, count, ms(timeout_ms), history),
        Command::Pull {
            place,
            size,
            count,
            timeout_ms,
        } => pull(&place, size, count, ms(timeout_ms)),
        Command::Pub {
            place,
            size,
            topic,
            count,
            interval_ms,
            message,
            wait_subscribers,
            timeout_ms,
            history,
        } => publish(
            &place,
            size,
            &topic,
            count.map(|n| (n, message)),
            interval_ms,
            wait_subscribers,
            ms(timeout_ms),
            history,
        ),
        Command::Push {
            place,
            size,
            timeout_ms,
        } => push(&place, size, ms(timeout_ms)),
        Command::Req {
            place,
            size,
            message,
            timeout_ms,
        } => req(&place, size, &message, ms(Some(timeout_ms))),
        Command::Rep {
            place,
            size,
            echo: _,
            upper,
            count,
            timeout_ms,
        } => rep(&place, size, upper, count, ms(timeout_ms)),
    }
}

/// Parses the command line. Help and version go to stdout (exit 0); a usage error is one line
/// on stderr naming the fault and where the help is (exit 2), not clap's multi-line page.
fn parse_args() -> Result<(Cli, String), ExitCode> {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, m)));
    match parsed {
        Ok((cli, matches)) => {
            let name = matches.subcommand_name().unwrap_or("ringwire").to_owned();
            Ok((cli, name))
        }
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                let sub = std::env::args()
                    .skip(1)
                    .find(|a| Cli::command().find_subcommand(a).is_some());
                eprintln!("ringwire: {}", usage_line(&e.render().to_string(), sub));
                Err(ExitCode::from(2))
            }
        },
    }
}

/// clap's error text as one line: the message and its indented items joined, without the
/// usage block and the tips, ending with where to read the help.
fn usage_line(rendered: &str, subcommand: Option<String>) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() || line.starts_with("tip:") {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    let mut text = parts.join(" ");
    if text.ends_with(':') {
        text.pop();
    }
    let help = match subcommand {
        Some(s) => format!("ringwire {s} --help"),
        None => "ringwire --help".to_owned(),
    };
    format!("{text} (see `{help}`)")
}

fn main() -> ExitCode {
    let (cli, command_name) = match parse_args() {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let log_dir = cli
        .log_dir
        .clone()
        .or_else(|| std::env::var_os("RINGWIRE_LOG_DIR").map(Into::into));
    let _log = match ringwire::logging::setup_logging_with(ringwire::logging::LogOptions {
        dir: log_dir,
        basename: Some(format!("ringwire-{command_name}")),
        ..Default::default()
    }) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("ringwire: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(ep) = cli.events {
        commands::publish_events_on(ep);
    }
    let started = Instant::now();
    // The process manager handles SIGINT/SIGTERM itself (it stops the processes first).
    if let Command::Launch(args) = &cli.command {
        return ExitCode::from(launch::main(args));
    }
    // Every command stops cleanly on SIGINT/SIGTERM; the benchmark's peer leaves that to the
    // benchmark, which tells it to stop.
    let handlers = match cli.command {
        Command::BenchPeer { .. } => stop::ignore(),
        _ => stop::install(),
    };
    if let Err(e) = handlers {
        eprintln!("ringwire: cannot install the SIGINT/SIGTERM handlers: {e}");
        return ExitCode::from(3);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Timeout) => {
            eprintln!("ringwire: timed out after {:?}", started.elapsed());
            ExitCode::from(1)
        }
        Err(Failure::Usage(s)) => {
            eprintln!("ringwire: {s}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(e)) => {
            eprintln!("ringwire: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Failed(e) | Failure::Bench(e)) => {
            eprintln!("ringwire: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Signal(sig)) => {
            eprintln!("ringwire: stopped by {}", stop::name(sig));
            ExitCode::from(u8::try_from(128 + sig).unwrap_or(1))
        }
    }
}
