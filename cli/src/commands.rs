//! The socket commands: each opens one socket through [`open`] and waits in slices
//! ([`crate::stop::Watch`]), so `--timeout-ms` and SIGINT/SIGTERM end every blocking call.

use std::io::{self, BufRead, Write};
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use ringwire::socket::Socket;
use ringwire::zmtp::SocketEvent;
use ringwire::zmtp::ZmtpSocket;
use ringwire::{
    Endpoint, Error, Message, ProtocolError, Publisher, Puller, Pusher, Replier, Requester,
    SocketBuilder, Subscriber, Transport,
};

use crate::stop::{self, SLICE, Stopped, Watch};
use crate::{Failure, Place, Size};

/// The message size limit of shm segments the CLI creates when `--max-message-size` is not
/// given: lines up to 64 KiB (the library's default slot is 4 KiB).
pub const DEFAULT_SHM_MESSAGE: usize = 64 * 1024;

/// How long an `shm://` connect waits for the binding side when the command has no timeout
/// of its own (sockets retry in the background instead).
const SHM_CONNECT_WAIT: Duration = Duration::from_secs(60);

/// How long a socket that sent something keeps delivering it after the command ends.
const LINGER: Duration = Duration::from_secs(5);

/// `--timeout-ms` as a duration.
pub fn ms(timeout_ms: Option<u64>) -> Option<Duration> {
    timeout_ms.map(Duration::from_millis)
}

/// The endpoint of `place` and whether to bind it.
fn endpoint_of(place: &Place) -> Result<(&str, bool), Failure> {
    match (&place.bind, &place.connect) {
        (Some(ep), _) => Ok((ep, true)),
        (_, Some(ep)) => Ok((ep, false)),
        _ => Err(Failure::Usage("give --bind or --connect".into())),
    }
}

/// Checks `ep` before any socket is opened, so that a mistake in it is a usage error (exit 2)
/// with a clear line: it must parse, name a transport the CLI has, an shm name must be valid,
/// and a tcp host must resolve. Returns its transport.
pub fn check_endpoint(ep: &str) -> Result<Transport, Failure> {
    let transport = ringwire::transport_of(ep)?;
    match ep.parse::<Endpoint>() {
        Ok(Endpoint::Shm(name)) => {
            ringwire_platform::SegmentName::new(&name)
                .map_err(|e| Failure::Usage(format!("invalid endpoint {ep:?}: {e}")))?;
        }
        Ok(Endpoint::Tcp { host, port }) if host != "*" => {
            let found = (host.as_str(), port)
                .to_socket_addrs()
                .map(|mut a| a.next().is_some());
            match found {
                Ok(true) => {}
                Ok(false) => {
                    return Err(Failure::Usage(format!(
                        "invalid endpoint {ep:?}: host {host:?} has no address"
                    )));
                }
                Err(e) => {
                    return Err(Failure::Usage(format!(
                        "invalid endpoint {ep:?}: cannot resolve host {host:?} ({e})"
                    )));
                }
            }
        }
        Ok(_) => {}
        Err(e) => return Err(Failure::Usage(e.to_string())),
    }
    Ok(transport)
}

/// Opens the socket of role `F` at `place` with `builder` and the `--max-message-size` of
/// `size` (on shm the CLI's default, [`DEFAULT_SHM_MESSAGE`], without it). An `shm://`
/// connect waits up to `wait` (or [`SHM_CONNECT_WAIT`]) for the binding side, in slices, so a
/// signal ends the wait. Every role goes through here, so each command behaves the same on
/// every transport.
fn open<F: Socket>(
    place: &Place,
    builder: impl Fn() -> SocketBuilder<F>,
    size: Size,
    wait: Option<Duration>,
) -> Result<F, Failure> {
    let (ep, bind) = endpoint_of(place)?;
    let shm = check_endpoint(ep)? == Transport::Shm;
    let builder = || match size.max_message_size {
        Some(n) => builder().max_message_size(n),
        None if shm => builder().max_message_size(DEFAULT_SHM_MESSAGE),
        None => builder(),
    };
    let mut socket = open_socket(builder, ep, bind, shm, wait)?;
    publish_events(&mut socket)?;
    Ok(socket)
}

/// Where `--events` publishes (set once at start).
static EVENTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
/// The running event publishers (they stop when their socket is dropped).
static PUBLISHERS: std::sync::Mutex<Vec<ringwire::zmtp::EventPublisher>> =
    std::sync::Mutex::new(Vec::new());

/// `--events EP`: the sockets this command opens publish their connection events there.
pub fn publish_events_on(ep: String) {
    let _ = EVENTS.set(ep);
}

fn publish_events<F: Socket>(socket: &mut F) -> Result<(), Failure> {
    let (Some(ep), Some(z)) = (EVENTS.get(), socket.zmtp_mut()) else {
        return Ok(());
    };
    let publisher = z.publish_events_at(ep).map_err(|e| match e {
        Error::Endpoint(e) => Failure::Usage(format!("--events: {e}")),
        e => Failure::Failed(format!("--events {ep}: {e}")),
    })?;
    PUBLISHERS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(publisher);
    Ok(())
}

fn open_socket<F: Socket>(
    builder: impl Fn() -> SocketBuilder<F>,
    ep: &str,
    bind: bool,
    shm: bool,
    wait: Option<Duration>,
) -> Result<F, Failure> {
    if bind {
        // The library refuses to bind an `ipc://` path that holds anything but a stale socket
        // (AlreadyExists): that is the user's data and a usage error, not a runtime failure.
        return builder().bind(ep).map_err(|e| match e {
            Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
                Failure::Usage(format!("invalid endpoint {ep:?}: {io}"))
            }
            e => e.into(),
        });
    }
    if !shm {
        return Ok(builder().connect(ep)?);
    }
    let watch = Watch::new(Some(wait.unwrap_or(SHM_CONNECT_WAIT)));
    loop {
        let b = builder();
        let options = b.shm_options().connect_timeout(watch.slice()?);
        match b.shm(options).connect(ep) {
            Err(Error::Timeout) => continue,
            socket => return Ok(socket?),
        }
    }
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

/// Stdin, read line by line on a thread of its own so that a command waiting for input
/// still sees a signal (`\n` and a trailing `\r` removed).
struct Lines {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Lines handed out so far (the number of the last one).
    number: u64,
}

impl Lines {
    fn stdin() -> Self {
        let (tx, rx) = mpsc::sync_channel(64);
        thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut line = Vec::new();
                let line = match stdin.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        Ok(line)
                    }
                    Err(e) => Err(e),
                };
                let failed = line.is_err();
                if tx.send(line).is_err() || failed {
                    return;
                }
            }
        });
        Self { rx, number: 0 }
    }

    /// The next line, `None` at the end of input.
    fn next(&mut self) -> Result<Option<Vec<u8>>, Failure> {
        let watch = Watch::new(None);
        loop {
            match self.rx.recv_timeout(watch.slice()?) {
                Ok(line) => {
                    self.number += 1;
                    return Ok(Some(line?));
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}

/// Sends with `send` (a socket whose send timeout is [`SLICE`]) until it is taken, `watch`
/// ends or a signal arrives. A message over the limit names `what` in its error.
fn send_patiently(
    mut send: impl FnMut() -> Result<(), Error>,
    watch: &Watch,
    what: impl FnOnce() -> String,
) -> Result<(), Failure> {
    loop {
        watch.check()?;
        match send() {
            Err(Error::Timeout) => continue,
            Err(Error::TooLarge { size, limit }) => return Err(too_large(&what(), size, limit)),
            sent => return Ok(sent?),
        }
    }
}

/// The error for a message (`what`) over the endpoint's size limit.
fn too_large(what: &str, size: usize, limit: usize) -> Failure {
    Failure::Failed(format!(
        "{what} is {size} bytes, over this endpoint's limit of {limit}; it and everything \
         after it were not sent (the side that creates an shm segment sets the limit with \
         --max-message-size)"
    ))
}

/// Reports what a ZMTP receiver lost: a message over its `--max-message-size` (the library's
/// `MessageTooLarge` event; the sending connection is closed with it), and connections closed
/// for breaking the protocol.
fn report(events: Option<&mpsc::Receiver<SocketEvent>>) {
    let Some(events) = events else { return };
    while let Ok(event) = events.try_recv() {
        match event {
            SocketEvent::MessageTooLarge {
                endpoint,
                peer,
                size,
                limit,
            } => {
                let from = peer.map_or_else(String::new, |p| format!(" from {p}"));
                eprintln!(
                    "ringwire: lost a message{from} on {endpoint}: {size} bytes exceeds the \
                     limit of {limit} (raise it with --max-message-size); the connection was closed"
                );
            }
            SocketEvent::Disconnected {
                endpoint,
                reason,
                peer,
                ..
            }
            | SocketEvent::HandshakeFailed {
                endpoint,
                reason,
                peer,
            } => {
                // An oversized message was already reported by its own event above.
                let protocol =
                    reason.starts_with("protocol error") || reason.starts_with("incompatible");
                if protocol && !reason.contains("exceeds the limit") {
                    let from = peer.map_or_else(String::new, |p| format!(" with {p}"));
                    eprintln!("ringwire: closed a connection{from} on {endpoint}: {reason}");
                }
            }
            _ => {}
        }
    }
}

/// What a receiving command counted.
#[derive(Debug, Default)]
struct Tally {
    /// Messages handled.
    received: u64,
    /// Corrupt messages skipped ([`spoils_one_message`]).
    corrupt: u64,
}

impl Tally {
    /// `", corrupt N"` when some were skipped, for the counters line.
    fn corrupt_suffix(&self) -> String {
        match self.corrupt {
            0 => String::new(),
            n => format!(", corrupt {n}"),
        }
    }
}

/// Whether `e` spoils one received message only, so that the socket goes on with the next
/// (as the library's docs say its sockets do): a corrupt shm message, as opposed to a corrupt
/// ring, a lost peer or an I/O failure, which end the command.
fn spoils_one_message(e: &Error) -> bool {
    matches!(
        e,
        Error::Protocol(ProtocolError::Frame(_) | ProtocolError::MissingRequestId)
    )
}

/// Handles a receive error: counts and reports a corrupt message (the caller goes on),
/// returns any other error but a timeout.
fn skip_or_fail(e: Error, tally: &mut Tally) -> Result<(), Failure> {
    match e {
        Error::Timeout => Ok(()),
        e if spoils_one_message(&e) => {
            tally.corrupt += 1;
            eprintln!("ringwire: skipped a corrupt message: {e}");
            Ok(())
        }
        e => Err(e.into()),
    }
}

/// Receives with `recv` until `count` messages (exit 0), `timeout` of silence (exit 1) or a
/// signal, handing each message to `each`; `tally` counts them.
fn receive(
    mut recv: impl FnMut(Duration) -> Result<Message, Error>,
    mut each: impl FnMut(Message) -> Result<(), Failure>,
    events: Option<&mpsc::Receiver<SocketEvent>>,
    count: Option<u64>,
    timeout: Option<Duration>,
    tally: &mut Tally,
) -> Result<(), Failure> {
    let mut watch = Watch::new(timeout);
    while count.is_none_or(|n| tally.received < n) {
        let m = recv(watch.slice()?);
        report(events);
        match m {
            Ok(m) => {
                each(m)?;
                tally.received += 1;
                if timeout.is_some() {
                    watch.restart(timeout);
                }
            }
            Err(e) => skip_or_fail(e, tally)?,
        }
    }
    Ok(())
}

/// `ringwire monitor EP`: prints every event published at `endpoint` (see
/// `ringwire::zmtp::events`) as one line, the non-empty frames joined by a space.
pub fn monitor(
    endpoint: &str,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    if check_endpoint(endpoint)? == Transport::Shm {
        return Err(Failure::Usage(
            "monitor connects to a tcp://, ipc:// or inproc:// event endpoint (`--events EP` of the watched command)".into(),
        ));
    }
    let mut sub = Subscriber::connect(endpoint)?;
    sub.subscribe(b"")?;
    let mut tally = Tally::default();
    let out = &mut io::stdout();
    let result = receive(
        |t| sub.recv_multipart_timeout(t),
        |m| {
            let line: Vec<String> = m
                .frames()
                .iter()
                .filter(|f| !f.is_empty())
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            let mut out = out.lock();
            writeln!(out, "{}", line.join(" "))?;
            Ok(out.flush()?)
        },
        None,
        count,
        timeout,
        &mut tally,
    );
    on_signal(&result, || format!("received {}", tally.received));
    result
}

/// Prints `counters` on stderr if a signal ended `result`.
fn on_signal(result: &Result<(), Failure>, counters: impl FnOnce() -> String) {
    if let Err(Failure::Signal(sig)) = result {
        eprintln!("ringwire: {}: {}", stop::name(*sig), counters());
    }
}

/// `ringwire sub`.
pub fn sub(
    place: &Place,
    size: Size,
    topics: &[String],
    count: Option<u64>,
    timeout: Option<Duration>,
    history: Option<usize>,
) -> Result<(), Failure> {
    if history.is_some() {
        only_on_shm(place, "--history")?;
    }
    let builder = || {
        let b = Subscriber::builder();
        match history {
            Some(n) => b.history(n),
            None => b,
        }
    };
    let mut s: Subscriber = open(place, builder, size, timeout)?;
    if topics.is_empty() {
        s.subscribe(b"")?;
    }
    for t in topics {
        s.subscribe(t.as_bytes())?;
    }
    let events = s.as_zmtp().map(|z| z.monitor());
    let mut out = io::stdout().lock();
    let mut tally = Tally::default();
    let result = receive(
        |t| s.recv_multipart_timeout(t),
        |m| Ok(print(&mut out, &m)?),
        events.as_ref(),
        count,
        timeout,
        &mut tally,
    );
    on_signal(&result, || {
        let lost = s.as_shm().map(|shm| format!(", lost {}", shm.lost()));
        let (got, rest) = (tally.received, tally.corrupt_suffix());
        format!("received {got}{}{rest}", lost.unwrap_or_default())
    });
    result
}

/// `ringwire pull`.
pub fn pull(
    place: &Place,
    size: Size,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut s: Puller = open(place, Puller::builder, size, timeout)?;
    let events = s.as_zmtp().map(|z| z.monitor());
    let mut out = io::stdout().lock();
    let mut tally = Tally::default();
    let result = receive(
        |t| s.recv_multipart_timeout(t),
        |m| Ok(print(&mut out, &m)?),
        events.as_ref(),
        count,
        timeout,
        &mut tally,
    );
    on_signal(&result, || {
        format!("received {}{}", tally.received, tally.corrupt_suffix())
    });
    result
}

/// Fails with a usage error unless `place` is an shm endpoint (`option` works only there).
fn only_on_shm(place: &Place, option: &str) -> Result<(), Failure> {
    let (ep, _) = endpoint_of(place)?;
    match check_endpoint(ep)? {
        Transport::Shm => Ok(()),
        _ => Err(Failure::Usage(format!(
            "{option} works on shm:// endpoints only (a ZMTP publisher keeps no history)"
        ))),
    }
}

/// `ringwire pub`: `messages` is `--count N --message S`, else stdin lines are published.
#[allow(clippy::too_many_arguments)]
pub fn publish(
    place: &Place,
    size: Size,
    topic: &str,
    messages: Option<(u64, String)>,
    interval_ms: u64,
    wait_subscribers: Option<usize>,
    timeout: Option<Duration>,
    history: Option<usize>,
) -> Result<(), Failure> {
    if history.is_some() {
        only_on_shm(place, "--history")?;
    }
    let builder = || {
        // No linger: the end waits for delivery explicitly ([`flush`]).
        let b = Publisher::builder()
            .send_timeout(SLICE)
            .linger(Duration::ZERO);
        match history {
            Some(n) => b.history(n),
            None => b,
        }
    };
    let mut s: Publisher = open(place, builder, size, timeout)?;
    if let (Some(p), Some(n)) = (s.as_shm(), wait_subscribers) {
        // Waits for them to attach, in slices, so that a signal ends the wait.
        let watch = Watch::new(timeout);
        loop {
            match p.wait_for_subscribers(n, watch.slice()?) {
                Err(Error::Timeout) => continue,
                done => break done?,
            }
        }
    }
    if let Some(z) = s.as_zmtp() {
        match wait_subscribers {
            // Waits for them in slices, so that a signal ends the wait.
            Some(n) => {
                let watch = Watch::new(timeout);
                loop {
                    match z.wait_for_subscribers(n, watch.slice()?) {
                        Err(Error::Timeout) => continue,
                        done => break done?,
                    }
                }
            }
            // Give a socket subscriber the chance to subscribe before the first message (an
            // shm:// subscriber is subscribed as soon as it has attached: start it first).
            None => {
                let watch = Watch::new(Some(Duration::from_secs(2)));
                while let Ok(slice) = watch.slice() {
                    if z.wait_for_subscribers(1, slice).is_ok() {
                        break;
                    }
                }
                stop::caught().map_or(Ok(()), |sig| Err(Failure::Signal(sig)))?;
            }
        }
    }
    let interval = Duration::from_millis(interval_ms);
    let mut send = |body: &[u8], what: &dyn Fn() -> String| -> Result<(), Failure> {
        Watch::new(None).check()?;
        send_patiently(
            || s.send_multipart(&[topic.as_bytes(), body]),
            &Watch::new(None),
            what,
        )?;
        if !interval.is_zero() {
            // The pause, in slices, so that a signal ends it.
            let pause = Watch::new(Some(interval));
            loop {
                match pause.slice() {
                    Ok(slice) => thread::sleep(slice),
                    Err(Stopped::Timeout) => break,
                    Err(s) => return Err(s.into()),
                }
            }
        }
        Ok(())
    };
    match messages {
        Some((n, message)) => (0..n).try_for_each(|_| {
            send(message.as_bytes(), &|| {
                format!("--message with topic {topic:?}")
            })
        })?,
        None => {
            let mut lines = Lines::stdin();
            while let Some(line) = lines.next()? {
                let n = lines.number;
                send(&line, &|| format!("line {n} with topic {topic:?}"))?;
            }
        }
    }
    match s.as_zmtp() {
        Some(z) => flush(|| z.flush(), timeout),
        None => Ok(()),
    }
}

/// Waits until a ZMTP socket's kernel buffers have taken every byte it queued (`flush`, whose
/// socket's send timeout is [`SLICE`]), so that exit 0 never hides messages a drop would
/// lose; `timeout` bounds the wait (exit 1, and stderr says what is left).
fn flush(
    mut flush: impl FnMut() -> Result<(), Error>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let watch = Watch::new(timeout);
    loop {
        if let Err(stop) = watch.check() {
            eprintln!("ringwire: a peer has not taken everything sent");
            return Err(stop.into());
        }
        match flush() {
            Err(Error::Timeout) => continue,
            flushed => return Ok(flushed?),
        }
    }
}

/// `ringwire push`.
pub fn push(place: &Place, size: Size, timeout: Option<Duration>) -> Result<(), Failure> {
    // No linger: success waits for delivery explicitly below; a failure is reported.
    let builder = || Pusher::builder().send_timeout(SLICE).linger(Duration::ZERO);
    let mut s: Pusher = open(place, builder, size, timeout)?;
    let mut lines = Lines::stdin();
    let mut pushed = 0u64;
    let result = (|| {
        while let Some(line) = lines.next()? {
            let n = lines.number;
            // Checked here too, so that an oversized line does not take a slot on shm.
            if let Some(limit) = s.as_shm().map(|q| q.max_message_size())
                && line.len() > limit
            {
                return Err(too_large(&format!("line {n}"), line.len(), limit));
            }
            send_patiently(
                || s.send_bytes(&line),
                &Watch::new(timeout),
                || format!("line {n}"),
            )?;
            pushed += 1;
        }
        // The shm queue lives as long as its sockets: wait until a puller has taken what
        // was pushed.
        if let Some(q) = s.as_shm() {
            let watch = Watch::new(timeout);
            while q.queued() > 0 {
                thread::sleep(watch.slice()?.min(Duration::from_millis(1)));
            }
        }
        match s.as_zmtp() {
            Some(z) => flush(|| z.flush(), timeout),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        let queued = s.as_shm().map_or(0, |q| q.queued().min(pushed));
        if queued > 0 {
            eprintln!(
                "ringwire: {queued} of the {pushed} pushed messages were not taken by a puller"
            );
        }
    }
    on_signal(&result, || format!("pushed {pushed}"));
    result
}

/// `ringwire req`: the whole exchange within `timeout`.
pub fn req(
    place: &Place,
    size: Size,
    message: &str,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let watch = Watch::new(timeout);
    let builder = || {
        Requester::builder()
            .send_timeout(SLICE)
            .linger(Duration::ZERO)
    };
    let mut s: Requester = open(place, builder, size, timeout)?;
    send_patiently(
        || s.send_bytes(message.as_bytes()),
        &watch,
        || "the request".into(),
    )?;
    let events = s.as_zmtp().map(|z| z.monitor());
    let reply = loop {
        let r = s.recv_multipart_timeout(watch.slice()?);
        report(events.as_ref());
        match r {
            Err(Error::Timeout) => continue,
            r => break r?,
        }
    };
    Ok(print(&mut io::stdout().lock(), &reply)?)
}

/// `ringwire rep`.
pub fn rep(
    place: &Place,
    size: Size,
    upper: bool,
    count: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    let mut s: Replier = open(place, || Replier::builder().linger(LINGER), size, timeout)?;
    let events = s.as_zmtp().map(|z| z.monitor());
    let mut tally = Tally::default();
    let mut watch = Watch::new(timeout);
    let result = (|| {
        while count.is_none_or(|n| tally.received < n) {
            let m = s.recv_multipart_timeout(watch.slice()?);
            report(events.as_ref());
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    skip_or_fail(e, &mut tally)?;
                    continue;
                }
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
            tally.received += 1;
            watch.restart(timeout);
        }
        Ok(())
    })();
    on_signal(&result, || {
        format!("served {}{}", tally.received, tally.corrupt_suffix())
    });
    // Dropping `s` lingers until the last reply is written.
    result
}

/// Refuses to bridge to an `ipc://` path that exists and is not a socket (a usage error,
/// named before the serial link opens; the library refuses it too, so this is only the
/// earlier, clearer message).
fn check_ipc_bind(ep: &str) -> Result<(), Failure> {
    #[cfg(unix)]
    if let Ok(Endpoint::Ipc(path)) = ep.parse::<Endpoint>()
        && let Ok(meta) = std::fs::symlink_metadata(&path)
    {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(Failure::Usage(format!(
                "invalid endpoint {ep:?}: {} exists and is not a socket; refusing to bind \
                 over it",
                path.display()
            )));
        }
    }
    Ok(())
}

/// `ringwire bridge`: [`ringwire::serial::bridge_to_endpoint`] until the link closes,
/// `for_ms` passes (exit 0), `timeout` passes (exit 1) or a signal arrives; prints the link
/// statistics to stderr.
pub fn bridge(
    serial: &str,
    baud: Option<u32>,
    to: &str,
    commands: Option<&str>,
    for_ms: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(), Failure> {
    for ep in std::iter::once(to).chain(commands) {
        check_endpoint(ep)?;
    }
    check_ipc_bind(to)?;
    let stop = AtomicBool::new(false);
    let (stats, why) = thread::scope(|scope| {
        let (done, wait) = mpsc::channel::<()>();
        let stop = &stop;
        let watcher = scope.spawn(move || {
            let planned = Watch::new(ms(for_ms));
            let bound = Watch::new(timeout);
            loop {
                // `done` drops when the bridge returns, which wakes this thread at once.
                if wait.recv_timeout(SLICE) != Err(RecvTimeoutError::Timeout) {
                    return None;
                }
                let why = match (bound.check(), planned.check()) {
                    (Err(s), _) => Some(s),
                    (Ok(()), Err(Stopped::Timeout)) => None,
                    (Ok(()), Err(s)) => Some(s),
                    (Ok(()), Ok(())) => continue,
                };
                stop.store(true, Ordering::Relaxed);
                return why;
            }
        });
        let stats = ringwire::serial::bridge_to_endpoint(serial, baud, to, commands, stop);
        drop(done);
        (stats, watcher.join().unwrap_or(None))
    });
    match stats {
        Ok(stats) => eprintln!("ringwire: bridge stopped: {stats:?}"),
        Err(Error::Disconnected) => eprintln!("ringwire: {serial} closed by the other end"),
        Err(e) => return Err(e.into()),
    }
    why.map_or(Ok(()), |s| Err(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corrupt message is skipped and counted; a corrupt ring, a lost peer or an I/O error
    /// end the command; a timeout is only the end of a slice.
    #[test]
    fn only_a_corrupt_message_is_skipped() {
        let mut tally = Tally::default();
        let corrupt = Error::Protocol(ProtocolError::MissingRequestId);
        assert!(skip_or_fail(corrupt, &mut tally).is_ok());
        assert!(skip_or_fail(Error::Timeout, &mut tally).is_ok());
        assert_eq!(tally.corrupt, 1);
        assert_eq!(tally.corrupt_suffix(), ", corrupt 1");
        for fatal in [
            Error::Disconnected,
            Error::Io(io::Error::other("x")),
            Error::State("s"),
        ] {
            assert!(skip_or_fail(fatal, &mut tally).is_err());
        }
        assert_eq!(tally.corrupt, 1);
    }
}
