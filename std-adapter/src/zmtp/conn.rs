//! One ZMTP connection: its stream, the core's connection machine, reassembly of
//! multipart messages and a batching write buffer.
//!
//! The protocol itself (greeting, handshake, socket-type check, PING/PONG, heartbeat
//! timers) is [`zmtp::Connection`], a sans-IO machine in the core; this file only moves
//! bytes between it, the stream and the socket's inbox. Reads go into the socket's one
//! 64 KiB read buffer (lent to the reading connection through [`Sink`], so an idle
//! connection holds no read buffer) and through the machine; frame parts are
//! appended to the socket's [`Inbox`] (its open message), so a peer's announced size never decides an
//! allocation (the decoder has already checked it against the limits, and the buffer
//! grows only as bytes arrive, at most [`DIRECT_MAX`] ahead). The rest of a large frame
//! is received straight into the inbox, skipping the read buffer's copy. Writes append
//! whole frames to `wbuf`; `flush` writes as much as the kernel takes, and what is left
//! goes out when the socket is writable. A large message with nothing queued before it
//! is written from the caller's frames in one vectored call and only its unsent rest
//! is copied.
//!
//! An `inproc://` connection has no machine and no bytes: its [`Stream::Pipe`] carries
//! whole messages (see `pipe.rs`). Writes push the frames onto the peer's queue, reads move
//! them into the inbox as they are, and the same [`Verdict`] decides what a message is for
//! (a subscription to a publisher, kept, or filtered out).

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use ringwire_core::pattern::heartbeat::Heartbeat;
use ringwire_core::pattern::socket_type::SocketType;
use ringwire_core::pattern::subscription::Subscriptions;
use ringwire_core::zmtp::{self, Connection, ConnectionError, DecodeError, Event, Limits, Tick};

use super::inbox::{Carry, Inbox};
use super::outgoing::Outgoing;
use super::pipe::Item;
use super::transport::Stream;

mod inproc;
use crate::endpoint::Endpoint;

/// Bytes of command (READY with properties, SUBSCRIBE) a connection accepts.
const COMMAND_BUF: usize = 4096;
/// Size of the socket's read buffer.
const READ_BUF: usize = 64 * 1024;
/// Reads per connection per pump, so one fast peer cannot starve the others.
const READS_PER_PUMP: usize = 4;
/// A frame body with at least this much still to come is received straight into the
/// inbox rather than through the read buffer.
const DIRECT_MIN: u64 = 16 * 1024;
/// Room made for one direct read: the inbox grows by at most this much ahead of bytes
/// that actually arrived, whatever size the peer announced.
const DIRECT_MAX: u64 = 256 * 1024;
/// What a plain read takes while the peer's messages are large: enough for the frame
/// headers and a little data, so the body's header is decoded before most of the body
/// has been read, and the rest of it is received straight into the inbox. (A full
/// [`READ_BUF`] read would take a whole 64 KiB message into the read buffer and copy it
/// into the inbox afterwards: one extra syscall costs less than that copy.)
const HEADER_READ: usize = 4 * 1024;
/// A message at least this large, queued with nothing waiting before it, is written
/// from the caller's frames (one vectored write) rather than copied into `wbuf` first.
const WRITE_THROUGH_MIN: usize = 16 * 1024;
/// Slices of one vectored write: a header and a body per frame.
const MAX_IOV: usize = 16;
/// Items a pipe read takes at most (like [`READS_PER_PUMP`], so one busy peer cannot
/// starve the others).
const PIPE_BATCH: usize = 256;

/// Where a read puts what it decodes: events in `out`, messages in `inbox` (a
/// subscriber's only when `filter` matches their first frame); `rbuf` is the socket's
/// read buffer, shared by its connections (allocated at the first read). A pipe takes at
/// most `room` messages (the inbox's room below the receive HWM).
pub struct Sink<'a> {
    pub out: &'a mut Vec<Incoming>,
    pub inbox: &'a mut Inbox,
    pub filter: Option<&'a Subscriptions<Box<[u8]>>>,
    pub rbuf: &'a mut Box<[u8]>,
    pub room: usize,
}

/// What a socket does with a whole message that arrived (one rule for both transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Queue it for the owner.
    Keep,
    /// Drop it (a subscriber's filter refused it; a publisher's peer sent a message that
    /// is not a subscription).
    Drop,
    /// A 3.0-style subscription to the prefix after the first byte (to a publisher).
    Subscribe,
    /// Likewise, a cancelled one.
    Cancel,
}

impl Verdict {
    /// A publisher's peer sends subscriptions (3.0 style, `\x01`/`\x00` + prefix), other
    /// sockets keep messages (a subscriber only if its own subscriptions match).
    fn of(
        kind: SocketType,
        filter: Option<&Subscriptions<Box<[u8]>>>,
        frames: usize,
        first: &[u8],
    ) -> Verdict {
        if matches!(kind, SocketType::Pub | SocketType::XPub) {
            match first.first() {
                Some(1) if frames == 1 => Verdict::Subscribe,
                Some(0) if frames == 1 => Verdict::Cancel,
                _ => Verdict::Drop,
            }
        } else if filter.is_none_or(|s| s.matches(first)) {
            Verdict::Keep
        } else {
            Verdict::Drop
        }
    }
}

/// Where a connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Accepted,
    Connected(usize),
}

/// What a connection reports to its socket after reading.
#[derive(Debug)]
pub enum Incoming {
    /// The handshake completed.
    Ready,
    /// A subscription (a 3.1 command, or a 3.0 `\x01` message to a publisher).
    Subscribe(Vec<u8>),
    /// A cancelled subscription (likewise).
    Cancel(Vec<u8>),
}

pub struct Conn {
    /// Unique for the socket's lifetime (slots are reused, uids are not).
    pub uid: u64,
    pub stream: Stream,
    /// The socket's endpoint this connection belongs to (bound or connected).
    pub endpoint: Endpoint,
    /// The peer's address, where it has one (see [`super::SocketEvent`]).
    pub peer: Option<Endpoint>,
    pub origin: Origin,
    kind: SocketType,
    /// The protocol machine (taken out while a read feeds it).
    machine: Option<Box<Connection<COMMAND_BUF>>>,
    wbuf: Vec<u8>,
    wpos: usize,
    ends: VecDeque<usize>,
    /// The peer's READY arrived (mirrors the machine, for the socket's bookkeeping).
    pub ready: bool,
    /// Routing id (the peer's `Identity`, or one the socket assigned).
    pub routing_id: Vec<u8>,
    /// The part of a message received when the last read ended.
    carry: Carry,
    /// Bytes a direct read took beyond its frame, on their way to the decoder.
    spill: Vec<u8>,
    /// The last whole message had a frame of at least [`DIRECT_MIN`] bytes: the next
    /// plain read takes only [`HEADER_READ`] bytes, so a large body goes direct.
    large_messages: bool,
    /// The open message has such a frame.
    open_is_large: bool,
    /// Bytes taken by plain reads (through the read buffer), for tests.
    #[cfg(test)]
    pub buffered_bytes: usize,
    /// The peer's subscriptions (publishers only).
    pub subs: Option<Subscriptions<Box<[u8]>>>,
    pub created_ms: u64,
    /// Why the connection must close, once it must.
    pub dead: Option<String>,
    /// The size a peer announced beyond the limits (the connection closes for it).
    pub too_large: Option<u64>,
    /// The kernel refused bytes at the last flush (the driver waits for writability).
    pub blocked: bool,
    /// Interest registered with the driver: (read, write).
    pub registered: (bool, bool),
    /// The interest this connection has in the engine's readiness set (`None`: not in it).
    pub owner_interest: Option<(bool, bool)>,
    /// A pipe's items not yet sent (the pipe's form of unwritten bytes, corked like them:
    /// `flush` sends them in one go) and their bytes.
    outbox: Vec<Item>,
    outbox_bytes: usize,
    /// The size limits of what the peer sends (a pipe checks them per message; ZMTP's
    /// decoder as bytes arrive).
    limits: Limits,
    /// When the machine's timers next need a look (ms; `u64::MAX`: never, 0: at once).
    /// Only fed bytes and ticks change the machine, so until then a pump need not touch
    /// it: with a thousand idle connections that look was most of a round trip's work.
    tick_at: u64,
    /// End of our greeting and READY in `wbuf`.
    handshake_end: usize,
    /// The receive timeout set on the stream (`None`: none, a waiting read sleeps
    /// until bytes arrive).
    recv_timeout: Option<Duration>,
}

impl Conn {
    /// A new connection that has already queued its greeting and READY.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        uid: u64,
        stream: Stream,
        (endpoint, peer): (Endpoint, Option<Endpoint>),
        origin: Origin,
        kind: SocketType,
        identity: &[u8],
        limits: Limits,
        heartbeat: Heartbeat,
        now_ms: u64,
    ) -> Conn {
        let mut config = zmtp::Config::new(kind);
        config.identity = identity;
        config.limits = limits;
        config.heartbeat = heartbeat;
        config.as_server = origin == Origin::Accepted;
        let (machine, dead) = match Connection::new(config) {
            // A pipe has no protocol machine (its handshake is `pipe_handshake`).
            Ok(_) if matches!(stream, Stream::Pipe(_)) => (None, None),
            Ok(m) => (Some(Box::new(m)), None),
            Err(e) => (None, Some(e.to_string())),
        };
        // A pipe writes no bytes.
        let wbuf = Vec::with_capacity(if machine.is_some() { 4096 } else { 0 });
        let mut c = Conn {
            uid,
            stream,
            endpoint,
            peer,
            origin,
            kind,
            machine,
            wbuf,
            wpos: 0,
            ends: VecDeque::new(),
            ready: false,
            routing_id: Vec::new(),
            carry: Carry::default(),
            spill: Vec::new(),
            large_messages: false,
            open_is_large: false,
            #[cfg(test)]
            buffered_bytes: 0,
            subs: None,
            created_ms: now_ms,
            dead,
            too_large: None,
            handshake_end: 0,
            blocked: false,
            registered: (true, false),
            owner_interest: None,
            outbox: Vec::new(),
            outbox_bytes: 0,
            limits,
            tick_at: 0,
            recv_timeout: None,
        };
        if let Some(m) = c.machine.as_mut() {
            take_transmit(m, &mut c.wbuf, &mut c.ends);
        }
        c.handshake_end = c.wbuf.len();
        c
    }

    /// Bytes of memory this connection holds: its own state, the protocol machine and
    /// every buffer (allocated, used or not; a pipe's messages not yet taken by the peer);
    /// a publisher adds its peer's subscription table.
    pub fn held_bytes(&self) -> usize {
        let machine = self
            .machine
            .as_ref()
            .map_or(0, |_| size_of::<Connection<COMMAND_BUF>>());
        size_of::<Self>()
            + machine
            + self.wbuf.capacity()
            + self.ends.capacity() * size_of::<usize>()
            + self.carry.held_bytes()
            + self.spill.capacity()
            + self.routing_id.capacity()
            + self.outbox.capacity() * size_of::<Item>()
            + self.outbox_bytes
            + self.pipe().map_or(0, |end| end.queued().1)
    }

    /// Whether the peer understands SUBSCRIBE/CANCEL/PING commands.
    pub fn speaks_3_1(&self) -> bool {
        self.machine.as_ref().is_some_and(|m| m.speaks_3_1())
    }

    /// Queues a subscription change in the form the peer expects: an item of a pipe, a
    /// SUBSCRIBE/CANCEL command to a 3.1 peer, a `\x01`/`\x00` message to a 3.0 one.
    pub fn queue_subscription(&mut self, subscribe: bool, prefix: &[u8]) {
        if self.pipe().is_some() {
            let p = prefix.to_vec();
            self.push(if subscribe {
                Item::Subscribe(p)
            } else {
                Item::Cancel(p)
            });
        } else if self.speaks_3_1() {
            if subscribe {
                self.queue_command(prefix.len(), |b| zmtp::encode_subscribe(b, prefix));
            } else {
                self.queue_command(prefix.len(), |b| zmtp::encode_cancel(b, prefix));
            }
        } else {
            let mut m = Vec::with_capacity(prefix.len() + 1);
            m.push(u8::from(subscribe));
            m.extend_from_slice(prefix);
            self.queue_message(&[], &mut Outgoing::Slices(&[&m]));
        }
    }

    /// Runs the heartbeat at `now`: a PING due goes out (queued and flushed); returns
    /// whether the peer has been silent too long.
    pub fn heartbeat_timed_out(&mut self, now: u64) -> bool {
        if now < self.tick_at {
            return false;
        }
        let Some(m) = self.machine.as_mut() else {
            return false;
        };
        let tick = m.on_tick(now);
        if tick == Tick::Transmit {
            take_transmit(m, &mut self.wbuf, &mut self.ends);
        }
        self.tick_at = m.next_deadline().unwrap_or(u64::MAX);
        if tick == Tick::Transmit {
            self.flush();
        }
        tick == Tick::TimedOut
    }

    /// When [`heartbeat_timed_out`](Self::heartbeat_timed_out) next needs a call.
    pub fn heartbeat_deadline(&self) -> Option<u64> {
        if self.tick_at != 0 {
            return (self.tick_at != u64::MAX).then_some(self.tick_at);
        }
        self.machine.as_ref().and_then(|m| m.next_deadline())
    }

    /// Whether unsent bytes are waiting (on a pipe: the peer is owed a ring).
    pub fn has_pending(&self) -> bool {
        self.wpos < self.wbuf.len() || !self.outbox.is_empty()
    }

    /// How far `flush` may write: until the peer's READY arrives only our greeting and
    /// READY go out (libzmq treats any frame before its own handshake ends as an
    /// unexpected command); messages queued meanwhile wait behind them.
    fn write_limit(&self) -> usize {
        if self.ready {
            self.wbuf.len()
        } else {
            self.handshake_end.min(self.wbuf.len())
        }
    }

    /// Whether there are bytes `flush` may write now.
    pub fn wants_write(&self) -> bool {
        self.wpos < self.write_limit() || !self.outbox.is_empty()
    }

    /// Bytes waiting to be written (a pipe's: not yet taken by the peer).
    pub fn pending_bytes(&self) -> usize {
        match self.pipe() {
            Some(end) => end.queued().1 + self.outbox_bytes,
            None => self.wbuf.len() - self.wpos,
        }
    }

    /// Messages queued and not fully written (a pipe's: not yet taken by the peer).
    pub fn queued(&self) -> usize {
        match self.pipe() {
            Some(end) => end.queued().0 + self.outbox.len(),
            None => self.ends.len(),
        }
    }

    /// Queues one message: `prefix` frames then `frames`, all but the last with MORE.
    /// A large message with nothing queued before it goes straight to the kernel from
    /// the caller's frames; only what the kernel does not take now is copied. A pipe
    /// takes given-up buffers as they are ([`Outgoing::Owned`]: gone from `frames`
    /// afterwards) and copies borrowed ones; the peer's owner receives those buffers.
    pub fn queue_message(&mut self, prefix: &[&[u8]], frames: &mut Outgoing<'_>) {
        if self.pipe().is_some() {
            let all = frames.take_for_pipe(prefix);
            return self.push(Item::Message(all));
        }
        let frames = &*frames;
        let total = prefix.len() + frames.len();
        let all = || prefix.iter().copied().chain(frames.iter()).enumerate();
        let header = |i: usize, f: &[u8]| {
            let mut h = [0u8; 9];
            let n = zmtp::encode_frame_header(&mut h, i + 1 < total, f.len() as u64).unwrap_or(0);
            (h, n)
        };
        let mut skip = if total <= MAX_IOV / 2
            && self.ready
            && self.dead.is_none()
            && !self.has_pending()
            && all().map(|(_, f)| f.len()).sum::<usize>() >= WRITE_THROUGH_MIN
        {
            let mut headers = [([0u8; 9], 0usize); MAX_IOV / 2];
            for (i, f) in all() {
                headers[i] = header(i, f);
            }
            let mut iov = [io::IoSlice::new(&[]); MAX_IOV];
            for (i, f) in all() {
                iov[2 * i] = io::IoSlice::new(&headers[i].0[..headers[i].1]);
                iov[2 * i + 1] = io::IoSlice::new(f);
            }
            match self.stream.send_vectored(&iov[..2 * total]) {
                Ok(n) => n,
                // The usual path queues it all; `flush` notes the back-pressure.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    0
                }
                Err(e) => {
                    self.dead = Some(format!("write failed: {e}"));
                    return;
                }
            }
        } else {
            0
        };
        // Copy what was not written (everything, on the usual path).
        let before = self.wbuf.len();
        for (i, f) in all() {
            let (h, n) = header(i, f);
            for part in [&h[..n], f] {
                let written = skip.min(part.len());
                skip -= written;
                self.wbuf.extend_from_slice(&part[written..]);
            }
        }
        // A message wholly written above is not queued.
        if self.wbuf.len() > before || total == 0 {
            self.ends.push_back(self.wbuf.len());
        }
    }

    /// Queues a command frame written by `encode`.
    /// `room` is an upper bound of the command's encoded size beyond 64 bytes.
    pub fn queue_command(
        &mut self,
        room: usize,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, zmtp::EncodeError>,
    ) {
        let mut buf = vec![0u8; room + 64];
        if let Ok(n) = encode(&mut buf) {
            self.wbuf.extend_from_slice(&buf[..n]);
            self.ends.push_back(self.wbuf.len());
        }
    }

    /// Writes as much as the kernel takes (a pipe rings its peer if owed). Errors mark
    /// the connection dead.
    pub fn flush(&mut self) {
        if let Stream::Pipe(end) = &self.stream {
            if !self.outbox.is_empty() {
                self.outbox_bytes = 0;
                if end.send(&mut self.outbox).is_err() {
                    self.dead
                        .get_or_insert_with(|| "peer closed the connection".into());
                }
            }
            return;
        }
        let limit = self.write_limit();
        while self.wpos < limit {
            match self.stream.send(&self.wbuf[self.wpos..limit]) {
                Ok(0) => {
                    self.dead = Some("write returned 0".into());
                    return;
                }
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.blocked = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.dead = Some(format!("write failed: {e}"));
                    return;
                }
            }
        }
        while self.ends.front().is_some_and(|&e| e <= self.wpos) {
            self.ends.pop_front();
        }
        if self.wpos >= limit {
            self.blocked = false;
        }
        if self.wpos == self.wbuf.len() {
            self.handshake_end = self.handshake_end.saturating_sub(self.wpos);
            self.wbuf.clear();
            self.wpos = 0;
            self.ends.clear();
            if self.wbuf.capacity() > 1 << 20 {
                self.wbuf.shrink_to(64 * 1024);
            }
        } else if self.wpos > 1 << 20 {
            self.handshake_end = self.handshake_end.saturating_sub(self.wpos);
            self.wbuf.drain(..self.wpos);
            for e in &mut self.ends {
                *e -= self.wpos;
            }
            self.wpos = 0;
        }
    }

    /// Reads what is available and decodes it into `out`.
    pub fn read(&mut self, now_ms: u64, out: &mut Sink<'_>) {
        if self.pipe().is_some() {
            self.read_pipe(out);
            return;
        }
        let _ = self.read_from(None, now_ms, out);
    }

    /// Sleeps in `recv` until bytes arrive or `timeout` passes (`None`: no limit), then
    /// reads like [`read`](Self::read). `clock` is the socket's time origin: heartbeats
    /// note when the bytes came, not when the wait began. Returns that time (ms since
    /// `clock`) and whether anything came (bytes, the peer's close, an error) before the
    /// timeout.
    pub fn wait_and_read(
        &mut self,
        timeout: Option<Duration>,
        clock: Instant,
        out: &mut Sink<'_>,
    ) -> (u64, bool) {
        if let Some(end) = self.pipe() {
            end.wait(timeout);
            let now = clock.elapsed().as_millis() as u64;
            return (now, self.read_pipe(out));
        }
        if self.recv_timeout_at_most(timeout).is_err() {
            // No timeout could be set: never sleep unbounded, read what is there.
            let now = clock.elapsed().as_millis() as u64;
            return (now, self.read_from(None, now, out).1);
        }
        self.read_from(Some(clock), 0, out)
    }

    /// Makes the stream's receive timeout fit `want`: none for `None`, else at most
    /// `want` and at least half of it (kept when it already fits, so a steady wait
    /// costs no `setsockopt`).
    fn recv_timeout_at_most(&mut self, want: Option<Duration>) -> io::Result<()> {
        let fits = match (want, self.recv_timeout) {
            (None, None) => true,
            (Some(w), Some(t)) => t <= w && t >= w / 2,
            _ => false,
        };
        if !fits {
            let want = want.map(|w| w.max(Duration::from_millis(1)));
            self.stream.set_recv_timeout(want)?;
            self.recv_timeout = want;
        }
        Ok(())
    }

    /// The read loop: the first `recv` waits when `wait` holds the clock to take the
    /// time from afterwards; the rest only take what is there, at most
    /// [`READS_PER_PUMP`] buffers. Returns the time the bytes were noted at and whether
    /// the first `recv` found anything (bytes, a close, an error).
    fn read_from(
        &mut self,
        wait: Option<Instant>,
        mut now_ms: u64,
        out: &mut Sink<'_>,
    ) -> (u64, bool) {
        let Some(mut m) = self.machine.take() else {
            return (now_ms, false);
        };
        let mut rbuf = std::mem::take(out.rbuf);
        if rbuf.is_empty() {
            rbuf = vec![0u8; READ_BUF].into_boxed_slice();
        }
        let mut came = false;
        out.inbox.unstash(&mut self.carry);
        for k in 0..READS_PER_PUMP {
            let block = k == 0 && wait.is_some();
            // Deep inside a large frame: receive the rest straight into the inbox.
            let left = m.frame_body_left();
            let direct = (left >= DIRECT_MIN).then(|| left.min(DIRECT_MAX) as usize);
            let plain = if self.large_messages {
                HEADER_READ
            } else {
                READ_BUF
            };
            let r = match direct {
                Some(room) => out
                    .inbox
                    .recv_into(room, |v| self.stream.recv_spare(v, block)),
                None => self.stream.recv(&mut rbuf[..plain], block),
            };
            if k == 0 {
                if let Some(clock) = wait {
                    now_ms = clock.elapsed().as_millis() as u64;
                }
                came = !matches!(&r, Err(e) if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ));
            }
            let more = match (direct, r) {
                (Some(room), Ok(n)) if n > 0 => self.took_direct(&mut m, n, room, now_ms, out),
                (_, r) => self.take_in(&mut m, &rbuf[..plain], r, now_ms, out),
            };
            if !more {
                break;
            }
        }
        out.inbox.stash(&mut self.carry);
        self.machine = Some(m);
        // Fed bytes may have moved the machine's deadlines.
        self.tick_at = 0;
        *out.rbuf = rbuf;
        (now_ms, came)
    }

    /// Decodes the outcome of one `recv` into `buf`. Returns whether more may be
    /// waiting (the buffer filled up); not after a short read, nothing (the wait timed
    /// out, a signal interrupted it), a close or an error.
    fn take_in(
        &mut self,
        m: &mut Connection<COMMAND_BUF>,
        buf: &[u8],
        r: io::Result<usize>,
        now_ms: u64,
        out: &mut Sink<'_>,
    ) -> bool {
        match r {
            Ok(0) => {
                self.dead = Some("peer closed the connection".into());
                false
            }
            Ok(n) => {
                #[cfg(test)]
                {
                    self.buffered_bytes += n;
                }
                if let Err(e) = self.feed(m, &buf[..n], now_ms, out) {
                    self.dead = Some(e);
                    return false;
                }
                n == buf.len()
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                false
            }
            Err(e) => {
                self.dead = Some(format!("read failed: {e}"));
                false
            }
        }
    }

    /// Accounts for `n` bytes a direct read put into the inbox (`room` were asked for):
    /// they continue the current frame; any beyond it go through the decoder. Returns
    /// whether more may be waiting.
    fn took_direct(
        &mut self,
        m: &mut Connection<COMMAND_BUF>,
        n: usize,
        room: usize,
        now_ms: u64,
        out: &mut Sink<'_>,
    ) -> bool {
        let (took, ended) = m.on_body_bytes(n as u64, now_ms);
        // `took` <= `n`, a usize.
        let extra = n - took as usize;
        let mut spill = std::mem::take(&mut self.spill);
        if extra > 0 {
            out.inbox.take_tail(extra, &mut spill);
        }
        if let Some(more) = ended {
            out.inbox.end_frame();
            if !more {
                self.deliver(out);
            }
        }
        let fed = self.feed(m, &spill, now_ms, out);
        spill.clear();
        self.spill = spill;
        if let Err(e) = fed {
            self.dead = Some(e);
            return false;
        }
        n >= room
    }

    /// Feeds bytes to the machine and acts on what it reports; `Err` holds why the
    /// connection must close.
    fn feed(
        &mut self,
        m: &mut Connection<COMMAND_BUF>,
        mut input: &[u8],
        now_ms: u64,
        out: &mut Sink<'_>,
    ) -> Result<(), String> {
        while !input.is_empty() {
            let (used, event) = match m.on_bytes(input, now_ms) {
                Ok(x) => x,
                Err(e) => {
                    if let ConnectionError::Decode(DecodeError::FrameTooLarge(n)) = e {
                        self.too_large = Some(n);
                    }
                    return Err(self.failed(m, e));
                }
            };
            input = &input[used..];
            match event {
                Some(Event::Frame(part)) => {
                    if part.is_first() && part.len >= DIRECT_MIN {
                        self.open_is_large = true;
                    }
                    out.inbox.extend(part.data);
                    if part.is_last() {
                        out.inbox.end_frame();
                        if !part.more {
                            self.deliver(out);
                        }
                    }
                }
                Some(Event::HandshakeDone { identity, .. }) => {
                    self.routing_id = identity.to_vec();
                    self.ready = true;
                    self.flush();
                    out.out.push(Incoming::Ready);
                }
                Some(Event::Subscribe(p)) => out.out.push(Incoming::Subscribe(p.to_vec())),
                Some(Event::Cancel(p)) => out.out.push(Incoming::Cancel(p.to_vec())),
                Some(Event::Ping) => take_transmit(m, &mut self.wbuf, &mut self.ends),
                Some(Event::PeerError(reason)) => {
                    return Err(format!(
                        "peer sent ERROR: {}",
                        String::from_utf8_lossy(reason)
                    ));
                }
                // The greeting, PONGs, ignored commands.
                _ => {}
            }
        }
        Ok(())
    }

    /// The machine failed with `e`: what it queued for the peer (an ERROR to an
    /// incompatible peer) goes out as far as the handshake gate lets it; returns the
    /// reason to close with.
    fn failed(&mut self, m: &mut Connection<COMMAND_BUF>, e: ConnectionError) -> String {
        if !m.transmit().is_empty() {
            take_transmit(m, &mut self.wbuf, &mut self.ends);
            self.flush();
        }
        e.to_string()
    }

    /// A whole message is open in the inbox: a publisher's peer sends subscriptions
    /// (3.0 style, `\x01`/`\x00` + prefix), other sockets keep it (a subscriber only if
    /// its own subscriptions match).
    fn deliver(&mut self, out: &mut Sink<'_>) {
        self.large_messages = std::mem::take(&mut self.open_is_large);
        let first = out.inbox.open_first();
        match Verdict::of(self.kind, out.filter, out.inbox.open_frames(), first) {
            Verdict::Keep => return out.inbox.commit(self.uid),
            Verdict::Drop => {}
            Verdict::Subscribe => out.out.push(Incoming::Subscribe(first[1..].to_vec())),
            Verdict::Cancel => out.out.push(Incoming::Cancel(first[1..].to_vec())),
        }
        out.inbox.discard();
    }
}

/// Moves the control bytes the machine queued (greeting, READY, PONG, PING, ERROR)
/// into the write buffer, as one queued item.
fn take_transmit(m: &mut Connection<COMMAND_BUF>, wbuf: &mut Vec<u8>, ends: &mut VecDeque<usize>) {
    let t = m.transmit();
    if !t.is_empty() {
        wbuf.extend_from_slice(t);
        ends.push_back(wbuf.len());
        let n = t.len();
        m.advance_transmit(n);
    }
}
