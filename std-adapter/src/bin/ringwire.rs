//! The `ringwire` command-line tool: publish, subscribe, request, reply, push and pull over
//! `shm://`, `tcp://` and `ipc://` (through the `ringwire::{Publisher, ...}` façade)
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use ringwire::{
    Error, Message, Publisher, Puller, Pusher, Replier, Requester, Subscriber, Transport, shm, zmtp,
};

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
    /// Bind this endpoint (shm://NAME, tcp://*:PORT, tcp://127.0.0.1:PORT, ipc:///path.sock).
    #[arg(long)]
    bind: Option<String>,
    /// Connect to this endpoint (sockets retry in the background until the peer is up;
    /// shm:// waits up to --timeout-ms, or 60 s, for the binding side).
    #[arg(long)]
    connect: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the shm:// round trip (p50/p99/p99.9) and throughput against a copy of this
    /// program; a few seconds with the defaults.
    Bench(bench::BenchArgs),
    /// Bridge a serial link to firmware onto an endpoint: every frame is published on a PUB
    /// bound at --to under `serial/{topic}` (acks: `serial/ack/{topic}`); with --commands,
    /// `[serial/cmd/{topic}, payload]` messages published there are sent to the firmware.
    /// Ends (exit 0, statistics on stderr) when the link is closed or after --for-ms.
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
        /// Stop after this many ms (default: run until the link closes).
        #[arg(long)]
        for_ms: Option<u64>,
    },
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

/// The endpoint of `place` and whether to bind it.
fn endpoint_of(place: &Place) -> Result<(&str, bool), Failure> {
    match (&place.bind, &place.connect) {
        (Some(ep), _) => Ok((ep, true)),
        (_, Some(ep)) => Ok((ep, false)),
        _ => Err(Failure::Usage("give --bind or --connect".into())),
    }
}

/// How long an `shm://` connect waits for the binding side when the command has no timeout
/// of its own (sockets retry in the background instead).
const SHM_CONNECT_WAIT: Duration = Duration::from_secs(60);

/// Opens the socket of role `F` at `place` through the façade's transports: `shm://` with the
/// shm builder `shm` (its connect waits up to `wait` for the binding side), `tcp://` and
/// `ipc://` with the ZMTP builder `zmtp`. Every role goes through here, so each command
/// behaves the same on every transport.
fn open<F, S, Z>(
    place: &Place,
    shm: shm::Builder<S>,
    zmtp: zmtp::Builder<Z>,
    wait: Option<Duration>,
) -> Result<F, Failure>
where
    F: From<S> + From<Z>,
    S: shm::ShmSocket,
    Z: zmtp::ZmtpSocket,
{
    let (ep, bind) = endpoint_of(place)?;
    Ok(match ringwire::transport_of(ep)? {
        Transport::Shm => {
            let b = shm.connect_timeout(wait.unwrap_or(SHM_CONNECT_WAIT));
            F::from(if bind { b.bind(ep)? } else { b.connect(ep)? })
        }
        _ => F::from(if bind {
            zmtp.bind(ep)?
        } else {
            zmtp.connect(ep)?
        }),
    })
}

/// [`open`] with default options, and a linger long enough to deliver what a short-lived
/// command queued on a socket.
fn open_default<F, S, Z>(place: &Place, wait: Option<Duration>) -> Result<F, Failure>
where
    F: From<S> + From<Z>,
    S: shm::ShmSocket,
    Z: zmtp::ZmtpSocket,
{
    let linger = Duration::from_secs(5);
    open(
        place,
        shm::Builder::<S>::new(),
        zmtp::Builder::<Z>::new().linger(linger),
        wait,
    )
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

/// `ringwire bridge`: [`ringwire::serial::bridge_to_endpoint`] until the link closes or
/// `for_ms` passes; prints the link statistics to stderr.
fn bridge(
    serial: &str,
    baud: Option<u32>,
    to: &str,
    commands: Option<&str>,
    for_ms: Option<u64>,
) -> Result<(), Failure> {
    for ep in std::iter::once(to).chain(commands) {
        ringwire::transport_of(ep)?;
    }
    let stop = AtomicBool::new(false);
    let stats = thread::scope(|scope| {
        if let Some(ms) = for_ms {
            let stop = &stop;
            let (_done, wait) = mpsc::channel::<()>();
            scope.spawn(move || {
                let _ = wait.recv_timeout(Duration::from_millis(ms));
                stop.store(true, Ordering::Relaxed);
            });
            // `_done` drops when the bridge returns, which wakes the timer thread at once.
            return ringwire::serial::bridge_to_endpoint(serial, baud, to, commands, stop);
        }
        ringwire::serial::bridge_to_endpoint(serial, baud, to, commands, &stop)
    });
    match stats {
        Ok(stats) => {
            eprintln!("ringwire: bridge stopped: {stats:?}");
            Ok(())
        }
        Err(Error::Disconnected) => {
            eprintln!("ringwire: {serial} closed by the other end");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Bench(args) => match bench::lead(&args)? {
            true => Ok(()),
            false => Err(Failure::Bench("a benchmark run failed".into())),
        },
        Command::BenchPeer(args) => Ok(bench::peer(&args)?),
        Command::Bridge {
            serial,
            baud,
            to,
            commands,
            for_ms,
        } => bridge(&serial, baud, &to, commands.as_deref(), for_ms),
        Command::Sub {
            place,
            topic,
            count,
            timeout_ms,
        } => {
            let timeout = timeout_ms.map(Duration::from_millis);
            let mut s: Subscriber = open_default::<_, shm::Subscriber, zmtp::Sub>(&place, timeout)?;
            if topic.is_empty() {
                s.subscribe(b"")?;
            }
            for t in &topic {
                s.subscribe(t.as_bytes())?;
            }
            print_until(|t| s.recv_multipart_timeout(t), count, timeout)
        }
        Command::Pull {
            place,
            count,
            timeout_ms,
        } => {
            let timeout = timeout_ms.map(Duration::from_millis);
            let mut s: Puller = open_default::<_, shm::Puller, zmtp::Pull>(&place, timeout)?;
            print_until(|t| s.recv_multipart_timeout(t), count, timeout)
        }
        Command::Pub {
            place,
            topic,
            count,
            interval_ms,
            message,
        } => {
            let mut s: Publisher = open_default::<_, shm::Publisher, zmtp::Pub>(&place, None)?;
            // Give a socket subscriber the chance to subscribe before the first message (an
            // shm:// subscriber is subscribed as soon as it has attached: start it first).
            if let Some(z) = s.as_zmtp() {
                let _ = z.wait_for_subscribers(1, Duration::from_secs(2));
            }
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
        Command::Push { place } => {
            let mut s: Pusher = open_default::<_, shm::Pusher, zmtp::Push>(&place, None)?;
            for_each_line(|line| Ok(s.send_bytes(line)?))?;
            // The shm:// linger: the queue lives as long as its sockets, so wait (at most as
            // long as a socket lingers) until a puller has taken what was pushed.
            if let Some(q) = s.as_shm() {
                let deadline = Instant::now() + Duration::from_secs(5);
                while q.queued() > 0 && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
            }
            Ok(())
        }
        Command::Req {
            place,
            message,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            // Waiting for a peer to send to counts against the same timeout.
            let z = zmtp::Req::builder()
                .send_timeout(timeout)
                .linger(Duration::ZERO);
            let mut s: Requester = open(&place, shm::Requester::builder(), z, Some(timeout))?;
            s.send_bytes(message.as_bytes())?;
            let reply = s.recv_multipart_timeout(timeout)?;
            Ok(print(&mut io::stdout().lock(), &reply)?)
        }
        Command::Rep {
            place,
            echo: _,
            upper,
            count,
        } => {
            let mut s: Replier = open_default::<_, shm::Replier, zmtp::Rep>(&place, None)?;
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
