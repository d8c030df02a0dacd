//! The `ringwire` command-line tool: publish, subscribe, request, reply, push and pull
//! from a shell, against ringwire or any ZeroMQ peer; `ringwire bench` measures the
//! shared-memory round trip.
//!
//! Exit status: 0 success, 1 timeout, 2 usage error (bad arguments or endpoint),
//! 3 runtime failure (e.g. the address is in use). Received messages print one per
//! line, frames joined by a TAB; stdin lines (for `pub` and `push`) lose their `\n`
//! and a trailing `\r`, empty lines are empty frames, and a last line without a
//! newline still counts.
#![forbid(unsafe_code)]

#[path = "ringwire/bench.rs"]
mod bench;

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use ringwire::{Endpoint, Error, Message, zmtp};

/// ringwire: messaging for robotics control loops.
#[derive(Parser)]
#[command(name = "ringwire", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where a socket goes: exactly one of `--bind EP` / `--connect EP`.
#[derive(Args, Clone)]
#[group(required = true, multiple = false)]
struct Place {
    /// Bind this endpoint (tcp://*:PORT, tcp://127.0.0.1:PORT, ipc:///path.sock).
    #[arg(long)]
    bind: Option<String>,
    /// Connect to this endpoint (retried in the background until the peer is up).
    #[arg(long)]
    connect: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the shm:// round trip (p50/p99/p99.9) and throughput against a copy of this
    /// program; a few seconds with the defaults.
    Bench(bench::BenchArgs),
    /// The benchmark's peer process (started by `ringwire bench`).
    #[command(hide = true)]
    BenchPeer(ringwire::bench::PeerArgs),
    /// Print messages whose first frame starts with a --topic prefix (all if none).
    Sub {
        #[command(flatten)]
        place: Place,
        /// Topic prefix to subscribe to (repeatable).
        #[arg(long)]
        topic: Vec<String>,
        /// Exit 0 after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without a message.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Publish [TOPIC, line] for each stdin line, or --message S --count N times.
    Pub {
        #[command(flatten)]
        place: Place,
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
    },
    /// Send MESSAGE, print the reply.
    Req {
        #[command(flatten)]
        place: Place,
        /// The request.
        message: String,
        /// Exit 1 if no reply arrives in this many ms.
        #[arg(long, default_value_t = 5000)]
        timeout_ms: u64,
    },
    /// Answer requests: echo them (default) or upper-case ASCII letters.
    Rep {
        #[command(flatten)]
        place: Place,
        /// Reply with the request unchanged (the default).
        #[arg(long, conflicts_with = "upper")]
        echo: bool,
        /// Reply with a-z upper-cased.
        #[arg(long)]
        upper: bool,
        /// Exit 0 after this many replies.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Push each stdin line as a message.
    Push {
        #[command(flatten)]
        place: Place,
    },
    /// Print pulled messages.
    Pull {
        #[command(flatten)]
        place: Place,
        /// Exit 0 after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Exit 1 when this many ms pass without a message.
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
}

/// How the tool ended.
enum Failure {
    Timeout,
    Usage(String),
    Runtime(Error),
    /// A benchmark run failed (already reported, or with this message).
    Bench(String),
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
            e => Failure::Runtime(e),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Runtime(Error::Io(e))
    }
}

/// The transports the CLI can open. Every role goes through [`transport`], so a new
/// transport (shm://) is one arm there plus its socket types.
enum Transport {
    /// ZMTP over tcp:// and ipc:// (`ringwire::zmtp`).
    Zmtp,
}

fn transport(ep: &str) -> Result<Transport, Failure> {
    match ep
        .parse::<Endpoint>()
        .map_err(|e| Failure::Usage(e.to_string()))?
    {
        Endpoint::Tcp { .. } | Endpoint::Ipc(_) => Ok(Transport::Zmtp),
        other => Err(Failure::Usage(format!(
            "{other}: this build of the CLI speaks tcp:// and ipc://"
        ))),
    }
}

/// Opens a ZMTP socket of type `S` at `place`, with a linger long enough to deliver
/// what a short-lived command queued.
fn open_zmtp<S: zmtp::ZmtpSocket>(place: &Place) -> Result<S, Failure> {
    open_zmtp_with(
        place,
        zmtp::Builder::<S>::new().linger(Duration::from_secs(5)),
    )
}

fn open_zmtp_with<S: zmtp::ZmtpSocket>(place: &Place, b: zmtp::Builder<S>) -> Result<S, Failure> {
    Ok(match (&place.bind, &place.connect) {
        (Some(ep), _) => b.bind(ep)?,
        (_, Some(ep)) => b.connect(ep)?,
        _ => return Err(Failure::Usage("give --bind or --connect".into())),
    })
}

fn endpoint_of(place: &Place) -> &str {
    place
        .bind
        .as_deref()
        .or(place.connect.as_deref())
        .unwrap_or("")
}

/// Prints a message's frames joined by TAB, one line, flushed.
fn print(out: &mut impl Write, m: &Message) -> io::Result<()> {
    for (i, f) in m.frames().iter().enumerate() {
        if i > 0 {
            out.write_all(b"\t")?;
        }
        out.write_all(f)?;
    }
    out.write_all(b"\n")?;
    out.flush()
}

/// Reads stdin lines as frames (`\n` and a trailing `\r` removed).
fn for_each_line(mut f: impl FnMut(&[u8]) -> Result<(), Failure>) -> Result<(), Failure> {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        f(&line)?;
    }
}

/// Receives and prints until `count` messages (exit 0) or `timeout` of silence (exit 1).
fn print_until(
    mut recv: impl FnMut(Duration) -> Result<Message, Error>,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    let mut seen = 0;
    while count.is_none_or(|n| seen < n) {
        let m = match timeout {
            Some(t) => recv(t)?,
            None => recv(Duration::from_secs(3600)).or_else(|e| match e {
                Error::Timeout => Ok(Message::new()),
                e => Err(e),
            })?,
        };
        if m.is_empty() {
            continue;
        }
        print(&mut out, &m)?;
        seen += 1;
    }
    Ok(())
}

fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Bench(args) => match bench::lead(&args)? {
            true => Ok(()),
            false => Err(Failure::Bench("a benchmark run failed".into())),
        },
        Command::BenchPeer(args) => Ok(bench::peer(&args)?),
        Command::Sub {
            place,
            topic,
            count,
            timeout_ms,
        } => match transport(endpoint_of(&place))? {
            Transport::Zmtp => {
                let mut s: zmtp::Sub = open_zmtp(&place)?;
                if topic.is_empty() {
                    s.subscribe(b"")?;
                }
                for t in &topic {
                    s.subscribe(t.as_bytes())?;
                }
                print_until(
                    |t| s.recv_multipart_timeout(t),
                    count,
                    timeout_ms.map(Duration::from_millis),
                )
            }
        },
        Command::Pull {
            place,
            count,
            timeout_ms,
        } => match transport(endpoint_of(&place))? {
            Transport::Zmtp => {
                let mut s: zmtp::Pull = open_zmtp(&place)?;
                print_until(
                    |t| s.recv_multipart_timeout(t),
                    count,
                    timeout_ms.map(Duration::from_millis),
                )
            }
        },
        Command::Pub {
            place,
            topic,
            count,
            interval_ms,
            message,
        } => {
            match transport(endpoint_of(&place))? {
                Transport::Zmtp => {
                    let mut s: zmtp::Pub = open_zmtp(&place)?;
                    // Give a subscriber the chance to subscribe before the first message.
                    let _ = s.wait_for_subscribers(1, Duration::from_secs(2));
                    let interval = Duration::from_millis(interval_ms);
                    let mut send = |body: &[u8]| -> Result<(), Failure> {
                        s.send_multipart(&[topic.as_bytes(), body])?;
                        if !interval.is_zero() {
                            thread::sleep(interval);
                        }
                        Ok(())
                    };
                    match count {
                        Some(n) => (0..n).try_for_each(|_| send(message.as_bytes())),
                        None => for_each_line(send),
                    }
                }
            }
        }
        Command::Push { place } => match transport(endpoint_of(&place))? {
            Transport::Zmtp => {
                let mut s: zmtp::Push = open_zmtp(&place)?;
                for_each_line(|line| Ok(s.send_bytes(line)?))
            }
        },
        Command::Req {
            place,
            message,
            timeout_ms,
        } => match transport(endpoint_of(&place))? {
            Transport::Zmtp => {
                let timeout = Duration::from_millis(timeout_ms);
                // Waiting for a peer to send to counts against the same timeout.
                let b = zmtp::Req::builder()
                    .send_timeout(timeout)
                    .linger(Duration::ZERO);
                let mut s: zmtp::Req = open_zmtp_with(&place, b)?;
                s.send_bytes(message.as_bytes())?;
                let reply = s.recv_multipart_timeout(timeout)?;
                Ok(print(&mut io::stdout().lock(), &reply)?)
            }
        },
        Command::Rep {
            place,
            echo: _,
            upper,
            count,
        } => match transport(endpoint_of(&place))? {
            Transport::Zmtp => {
                let mut s: zmtp::Rep = open_zmtp(&place)?;
                let mut served = 0;
                while count.is_none_or(|n| served < n) {
                    let m = match s.recv_multipart_timeout(Duration::from_secs(3600)) {
                        Ok(m) => m,
                        Err(Error::Timeout) => continue,
                        Err(e) => return Err(e.into()),
                    };
                    let frames: Vec<Vec<u8>> = m
                        .into_frames()
                        .into_iter()
                        .map(|mut f| {
                            if upper {
                                f.make_ascii_uppercase();
                            }
                            f
                        })
                        .collect();
                    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
                    s.send_multipart(&refs)?;
                    served += 1;
                }
                // Dropping `s` lingers until the last reply is written.
                Ok(())
            }
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let started = Instant::now();
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
        Err(Failure::Bench(e)) => {
            eprintln!("ringwire: {e}");
            ExitCode::from(3)
        }
    }
}
