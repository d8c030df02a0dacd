//! [`Worker`]: connects to a router's backend, registers with READY and runs [`Handlers`] on
//! the requests it is given. The protocol's frames and the heartbeat rule are the core's
//! [`WorkerSession`]; this file owns the socket, the clock and the reconnects.

use crate::stop_thread::StopThread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringwire_core::broker::wire::Header;
use ringwire_core::broker::worker::{WorkerEvent, WorkerSession, WorkerTick};
use ringwire_core::broker::{Liveness, WorkerProtocol};
use ringwire_core::pattern::backoff::Backoff;

use super::{Handlers, NodeId, ms_since};
use crate::error::{Error, Result};
use crate::shm::reqrep::DealerEnd;
use crate::shm::{FullPolicy, ShmOptions};
use crate::zmtp;

/// The longest a worker waits before it checks for a stop.
const SLICE: Duration = Duration::from_millis(50);

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Requests handled (replies sent).
    pub handled: u64,
    /// Times it opened a new socket and registered again (the router went silent, said
    /// DISCONNECT, or the connection closed).
    pub reconnects: u64,
    /// Messages from the router that were not of its protocol (dropped).
    pub malformed: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
}

/// How to make a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerBuilder {
    endpoint: String,
    protocol: WorkerProtocol,
    service: Vec<u8>,
    heartbeat: Liveness,
    identity: Option<Vec<u8>>,
    reconnect: (Duration, Duration),
    shm: ShmOptions,
}

impl WorkerBuilder {
    /// The worker protocol (default Paranoid Pirate, which heartbeats both ways).
    pub fn protocol(mut self, p: WorkerProtocol) -> Self {
        self.protocol = p;
        self
    }

    /// The service it serves (Majordomo only; the others serve the unnamed service).
    pub fn service(mut self, name: &str) -> Self {
        self.service = name.as_bytes().to_vec();
        self
    }

    /// Heartbeats: interval, timeout, max missed (default 1 s, 5 s, 1; unused by the
    /// load-balancing protocol).
    pub fn heartbeat(mut self, l: Liveness) -> Self {
        self.heartbeat = l;
        self
    }

    /// The routing id of its sockets (so the router knows it again after a reconnect).
    pub fn identity(mut self, id: &NodeId) -> Self {
        self.identity = Some(id.as_bytes().to_vec());
        self
    }

    /// The back-off between reconnects: first `initial`, doubling to `max` (default
    /// 100 ms, 2 s).
    pub fn reconnect(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect = (initial, max);
        self
    }

    /// Options of an `shm://` backend's channel (its wait mode, liveness interval).
    pub fn shm_options(mut self, options: ShmOptions) -> Self {
        self.shm = options;
        self
    }

    /// Runs the worker on a thread of its own until [`Worker::stop`].
    pub fn spawn(self, handlers: Handlers) -> Result<Worker> {
        let stats = Arc::new(Mutex::new(WorkerStats::default()));
        let stats2 = stats.clone();
        let thread = StopThread::spawn("ringwire-worker", move |stop| {
            self.run_with(&handlers, &stop, &stats2)
        })?;
        Ok(Worker { thread, stats })
    }

    /// Runs the worker in this thread until `stop` is set (checked every few tens of ms).
    pub fn run(self, handlers: &Handlers, stop: &AtomicBool) -> Result<WorkerStats> {
        self.run_with(handlers, stop, &Mutex::new(WorkerStats::default()))
    }

    fn run_with(
        self,
        handlers: &Handlers,
        stop: &AtomicBool,
        shared: &Mutex<WorkerStats>,
    ) -> Result<WorkerStats> {
        let mut w = Running {
            epoch: Instant::now(),
            session: WorkerSession::new(self.protocol, self.heartbeat, 0),
            backoff: Backoff::new(
                super::ms(self.reconnect.0).max(1),
                super::ms(self.reconnect.1),
            ),
            socket: None,
            stats: WorkerStats::default(),
            config: self,
        };
        let result = w.run(handlers, stop, shared);
        if let Ok(mut s) = shared.lock() {
            *s = w.stats;
        }
        result.map(|()| w.stats)
    }
}

/// A worker running on its own thread.
#[derive(Debug)]
pub struct Worker {
    thread: StopThread<Result<WorkerStats>>,
    stats: Arc<Mutex<WorkerStats>>,
}

impl Worker {
    /// Settings for a worker of the router backend at `endpoint`.
    pub fn builder(endpoint: &str) -> WorkerBuilder {
        WorkerBuilder {
            endpoint: endpoint.to_string(),
            protocol: WorkerProtocol::ParanoidPirate,
            service: Vec::new(),
            heartbeat: Liveness::default(),
            identity: None,
            reconnect: (Duration::from_millis(100), Duration::from_secs(2)),
            shm: ShmOptions::new(),
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> WorkerStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Stops it (after the request it is running, if any) and returns what it did.
    pub fn stop(mut self) -> Result<WorkerStats> {
        match self.thread.halt() {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::State("the worker thread panicked (in a handler?)")),
            None => Ok(self.stats()),
        }
    }
}

/// The worker's socket: REQ for the load-balancing protocol, DEALER for the others; over
/// shm one client channel, which carries the same frames (the load-balancing protocol's with
/// the empty delimiter a REQ socket would add and strip).
enum Socket {
    Req(zmtp::Req),
    Dealer(zmtp::Dealer),
    Shm { end: DealerEnd, req: bool },
}

impl Socket {
    fn send(&mut self, header: Header<'_>, body: &[Vec<u8>]) -> Result<()> {
        let mut frames: Vec<&[u8]> = Vec::with_capacity(1 + header.as_slice().len() + body.len());
        if matches!(self, Socket::Shm { req: true, .. }) {
            frames.push(&[]);
        }
        frames.extend_from_slice(header.as_slice());
        frames.extend(body.iter().map(Vec::as_slice));
        match self {
            Socket::Req(s) => s.send_multipart(&frames),
            Socket::Dealer(s) => s.send_multipart(&frames),
            Socket::Shm { end, .. } => end.send_multipart(&frames),
        }
    }

    fn recv(&mut self, wait: Duration) -> Result<Vec<Vec<u8>>> {
        match self {
            Socket::Req(s) => s.recv_multipart_timeout(wait),
            Socket::Dealer(s) => s.recv_multipart_timeout(wait),
            Socket::Shm { end, req } => {
                let mut frames = end.recv_multipart_timeout(wait)?.into_frames();
                if *req && frames.first().is_some_and(Vec::is_empty) {
                    frames.remove(0);
                }
                return Ok(frames);
            }
        }
        .map(crate::Message::into_frames)
    }

    /// A REQ socket (or its shm stand-in) that failed to send or took a bad message starts
    /// over with READY on a new socket.
    fn is_req(&self) -> bool {
        matches!(self, Socket::Req(_) | Socket::Shm { req: true, .. })
    }
}

/// Opens an shm worker channel: `Ok(None)` while no router serves the endpoint (tried again
/// after the back-off, as a ZMTP socket reconnects).
fn open_shm(endpoint: &str, options: &ShmOptions, req: bool) -> Result<Option<Socket>> {
    let options = options
        .clone()
        .connect_timeout(SLICE)
        .full(FullPolicy::BlockFor(SLICE));
    match DealerEnd::connect(endpoint, options) {
        Ok(end) => Ok(Some(Socket::Shm { end, req })),
        Err(e @ Error::Endpoint(_)) => Err(e),
        Err(e) => {
            log::debug!("worker: {endpoint} not served yet: {e}");
            Ok(None)
        }
    }
}

struct Running {
    config: WorkerBuilder,
    epoch: Instant,
    session: WorkerSession,
    backoff: Backoff,
    socket: Option<Socket>,
    stats: WorkerStats,
}

impl Running {
    fn now(&self) -> u64 {
        ms_since(self.epoch)
    }

    /// Opens a socket and sends READY; false if it could not (tried again later).
    fn connect(&mut self) -> Result<bool> {
        let c = &self.config;
        macro_rules! open {
            ($kind:ty) => {{
                let mut b = <$kind>::builder()
                    .send_timeout(SLICE)
                    .linger(Duration::ZERO)
                    .reconnect(c.reconnect.0, c.reconnect.1);
                if let Some(id) = &c.identity {
                    b = b.identity(id);
                }
                b.connect(&c.endpoint)?
            }};
        }
        let req = c.protocol == WorkerProtocol::LoadBalancing;
        let mut socket = if c.endpoint.starts_with("shm://") {
            match open_shm(&c.endpoint, &c.shm, req)? {
                Some(s) => s,
                None => return Ok(false),
            }
        } else if req {
            Socket::Req(open!(zmtp::Req))
        } else {
            Socket::Dealer(open!(zmtp::Dealer))
        };
        let ready = self.session.ready_message(&c.service);
        match socket.send(ready, &[]) {
            Ok(()) => {}
            // Not connected yet (or the shm router went away): try again after the back-off.
            Err(Error::Timeout | Error::Disconnected | Error::WouldBlock) => return Ok(false),
            Err(e) => return Err(e),
        }
        let now = self.now();
        self.session.on_reconnected(now);
        self.session.on_sent(now);
        self.socket = Some(socket);
        log::info!("worker connected to {} and sent READY", c.endpoint);
        Ok(true)
    }

    fn run(
        &mut self,
        handlers: &Handlers,
        stop: &AtomicBool,
        shared: &Mutex<WorkerStats>,
    ) -> Result<()> {
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut s) = shared.lock() {
                *s = self.stats;
            }
            if self.socket.is_none() {
                if !first {
                    let now = self.now();
                    let at = self.backoff.on_failure(now);
                    sleep_until(self.epoch, at, stop);
                    self.stats.reconnects += 1;
                }
                first = false;
                if !self.connect()? {
                    continue;
                }
            }
            let now = self.now();
            match self.session.on_tick(now) {
                WorkerTick::Idle => {}
                WorkerTick::SendHeartbeat => {
                    let hb = self.session.heartbeat_message();
                    if let Some(s) = self.socket.as_mut() {
                        // A beat that cannot go out now is not an error: the next one will.
                        if s.send(hb, &[]).is_ok() {
                            self.stats.heartbeats_sent += 1;
                            self.session.on_sent(now);
                        }
                    }
                }
                WorkerTick::Reconnect => {
                    log::warn!(
                        "router at {} silent for {} beats: reconnecting",
                        self.config.endpoint,
                        self.session.missed()
                    );
                    self.socket = None;
                    continue;
                }
            }
            let wait = match self.session.next_deadline() {
                Some(d) => SLICE.min(Duration::from_millis(d.saturating_sub(now))),
                None => SLICE,
            };
            let Some(socket) = self.socket.as_mut() else {
                continue;
            };
            let frames = match socket.recv(wait) {
                Ok(f) => f,
                Err(Error::Timeout | Error::WouldBlock) => continue,
                Err(Error::Disconnected) => {
                    log::warn!("connection to {} lost: reconnecting", self.config.endpoint);
                    self.socket = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let now = ms_since(self.epoch);
            match self.session.on_message(&frames, now) {
                Ok(WorkerEvent::Request { address, body_from }) => {
                    self.backoff.on_success();
                    let reply = handlers.handle(&frames[body_from..]);
                    let Some(header) = self.session.reply_header(address, true) else {
                        continue;
                    };
                    match socket.send(header, &reply) {
                        Ok(()) => {
                            self.stats.handled += 1;
                            self.session.on_sent(ms_since(self.epoch));
                        }
                        Err(e) => {
                            log::warn!("reply could not be sent: {e}");
                            // A REQ socket that failed to send can never receive again.
                            if socket.is_req() {
                                self.socket = None;
                            }
                        }
                    }
                }
                Ok(WorkerEvent::Heartbeat) => self.backoff.on_success(),
                Ok(WorkerEvent::Disconnect) => {
                    log::info!(
                        "router at {} said DISCONNECT: registering again",
                        self.config.endpoint
                    );
                    self.socket = None;
                }
                Err(e) => {
                    self.stats.malformed += 1;
                    log::warn!("message from the router dropped: {e}");
                    // A REQ socket took it as the reply it waited for and cannot receive
                    // again until it sends: start over on a new socket with READY.
                    if socket.is_req() {
                        self.socket = None;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Sleeps until `at` (ms since `epoch`) in short slices, or until `stop`.
fn sleep_until(epoch: Instant, at: u64, stop: &AtomicBool) {
    loop {
        let now = ms_since(epoch);
        if now >= at || stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(SLICE.min(Duration::from_millis(at - now)));
    }
}
