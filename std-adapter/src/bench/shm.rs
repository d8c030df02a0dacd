//! `ringwire-shm`: ringwire's shared-memory sockets (`ringwire::shm`), the same cases as
//! the `iceoryx2` transport so the two compare one to one, in each of ringwire's receive modes
//! (`WaitMode::BusyPoll`, `Blocking` = futex at once, `Adaptive` = spin 50 µs then futex).
//!
//! Round trips: a PUB/SUB segment per direction (`ping`: leader publisher binds, peer
//! subscriber connects; `pong` the other way round). Sending fills a loaned slot in place
//! (`Publisher::loan_with`: one copy from the sender's buffer); receiving is
//! `Subscriber::recv_in_place`, which copies the 8-byte sequence number out of the broadcast
//! slot and leaves the rest in place, validated by the seqlock afterwards (as iceoryx2's
//! receiver reads its sample in place).
//!
//! Throughput: a PUB never waits for subscribers (it overwrites and they count the loss), so
//! the lossless one-way case uses PUSH/PULL instead (`FullPolicy::Block`: a full queue holds
//! the sender back), sending with `Pusher::send_bytes` (which encodes straight into the slot:
//! one copy) and receiving in place with `recv_with` (the slot is borrowed, not copied); the answers go back over a second PUSH/PULL queue.

use std::time::{Duration, Instant};

use crate::shm::{Publisher, Puller, Pusher, ShmOptions, Subscriber, WaitMode};

use crate::bench::link::{
    BenchError, CONNECT_TIMEOUT, Kind, Link, PROBE, Params, Prepared, Ready, Result, Transport,
    fail, message_buffer, read_seq, read_time, stamp, stamp_time, unique_name,
};

/// Room per slot beyond the payload (frame header and slack).
const SLOT_SLACK: usize = 64;
/// Slots of the throughput queue.
const THROUGHPUT_SLOTS: usize = 1024;
/// Large messages get fewer slots, so that a ring stays under this many bytes (but keeps at
/// least [`MIN_SLOTS`]): 1024 slots of 4 MiB would not fit most `/dev/shm`s.
const RING_BYTES: usize = 64 << 20;
/// The fewest slots a ring gets.
const MIN_SLOTS: usize = 4;
/// The pattern's default slot count (PUB/SUB, PUSH/PULL).
const DEFAULT_SLOTS: usize = 64;

/// Slots of `slot_size` bytes that fit [`RING_BYTES`] (at least [`MIN_SLOTS`]).
fn ring_fit(slot_size: usize) -> usize {
    (RING_BYTES / slot_size.max(1)).max(MIN_SLOTS)
}

/// One of ringwire's wait modes.
pub struct RingwireShm {
    pub(crate) mode: Mode,
}

/// A receive mode of `ringwire::shm`.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    Busy,
    Blocking,
    Adaptive,
}

impl Mode {
    /// The [`WaitMode`] it stands for.
    pub(crate) fn wait(self) -> WaitMode {
        match self {
            Mode::Busy => WaitMode::BusyPoll,
            Mode::Blocking => WaitMode::Blocking,
            Mode::Adaptive => WaitMode::default(),
        }
    }
}

/// `WaitMode::BusyPoll`.
pub const BUSY: RingwireShm = RingwireShm { mode: Mode::Busy };
/// `WaitMode::Blocking`.
pub const BLOCKING: RingwireShm = RingwireShm {
    mode: Mode::Blocking,
};
/// `WaitMode::default()` (adaptive).
pub const ADAPTIVE: RingwireShm = RingwireShm {
    mode: Mode::Adaptive,
};

fn rerr(what: &'static str) -> impl FnOnce(crate::Error) -> BenchError {
    move |e| fail(what, e)
}

enum Tx {
    Pub(Publisher),
    Push(Pusher),
}

enum Rx {
    Sub(Subscriber),
    Pull(Puller),
}

struct ShmLink {
    tx: Tx,
    rx: Rx,
    buf: Vec<u8>,
}

impl ShmLink {
    /// The next message's sequence number and, if `STAMPED` and the messages have room, its
    /// send timestamp (else 0), or `None` if `timeout` passed first. A const parameter, so
    /// that the round trips' receive (`STAMPED` false) compiles to the plain 8-byte read.
    #[inline]
    fn recv_within<const STAMPED: bool>(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<(u64, u64)>> {
        let stamped = STAMPED && self.buf.len() >= 16;
        // In place: the sequence number (and timestamp) is copied out of the slot, the rest
        // stays there (as iceoryx2's receiver reads its sample in place).
        let in_place = |m: &crate::shm::InPlace<'_>| {
            if stamped {
                match m.read_at::<16>(0) {
                    Some(head) => Ok((read_seq(&head)?, read_time(&head))),
                    None => read_seq(&[]).map(|s| (s, 0)),
                }
            } else {
                match m.read_at::<8>(0) {
                    Some(seq) => Ok((u64::from_le_bytes(seq), 0)),
                    None => read_seq(&[]).map(|s| (s, 0)),
                }
            }
        };
        let pulled = |m: crate::shm::MessageRef<'_>| {
            let p = m.payload();
            Ok((read_seq(p)?, if stamped { read_time(p) } else { 0 }))
        };
        let got = match (&mut self.rx, timeout) {
            (Rx::Sub(s), None) => s.recv_in_place(in_place),
            (Rx::Sub(s), Some(t)) => s.recv_in_place_timeout(t, in_place),
            (Rx::Pull(s), None) => s.recv_with(pulled),
            (Rx::Pull(s), Some(t)) => s.recv_with_timeout(t, pulled),
        };
        match got {
            Ok(seq) => seq.map(Some),
            Err(crate::Error::Timeout | crate::Error::WouldBlock) => Ok(None),
            Err(e) => Err(fail("ringwire shm recv", e)),
        }
    }

    /// Sends the message buffer as it is.
    #[inline]
    fn send_buf(&mut self) -> Result<()> {
        let msg = &self.buf[..];
        match &mut self.tx {
            Tx::Pub(p) => {
                p.loan_with(|slot| {
                    if slot.len() < msg.len() {
                        return None;
                    }
                    slot.copy_from_slice(msg);
                    Some(msg.len())
                })
                .map_err(rerr("ringwire shm publish"))?;
            }
            // `send_bytes` encodes straight into the loaned slot (one copy) and, with
            // `FullPolicy::Block`, waits while the queue is full.
            Tx::Push(p) => p.send_bytes(msg).map_err(rerr("ringwire shm push"))?,
        }
        Ok(())
    }

    /// The next message, waiting as long as it takes.
    #[inline]
    fn recv_any<const STAMPED: bool>(&mut self) -> Result<(u64, u64)> {
        loop {
            if let Some(got) = self.recv_within::<STAMPED>(None)? {
                return Ok(got);
            }
        }
    }
}

impl Link for ShmLink {
    fn send(&mut self, seq: u64) -> Result<()> {
        stamp(&mut self.buf, seq);
        self.send_buf()
    }

    fn recv(&mut self) -> Result<u64> {
        Ok(self.recv_any::<false>()?.0)
    }

    fn stamps(&self) -> bool {
        true
    }

    fn send_stamped(&mut self, seq: u64, sent_ns: u64) -> Result<()> {
        stamp(&mut self.buf, seq);
        stamp_time(&mut self.buf, sent_ns);
        self.send_buf()
    }

    fn recv_stamped(&mut self) -> Result<(u64, u64)> {
        self.recv_any::<true>()
    }

    /// A subscriber only sees what is published after it attached: probe every 10 ms.
    fn handshake(&mut self) -> Result<()> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while Instant::now() < deadline {
            self.send(PROBE)?;
            if self
                .recv_within::<false>(Some(Duration::from_millis(10)))?
                .is_some_and(|(seq, _)| seq == PROBE)
            {
                return Ok(());
            }
        }
        Err(BenchError("ringwire shm: the peer never answered".into()))
    }
}

impl RingwireShm {
    pub(crate) fn options(&self, params: Params) -> ShmOptions {
        let slot_size = params.size.max(8) + SLOT_SLACK;
        let options = ShmOptions::new()
            .wait(self.mode.wait())
            .slot_size(slot_size)
            .connect_timeout(CONNECT_TIMEOUT);
        match params.kind {
            Kind::Rtt => options,
            Kind::Throughput => options.slot_count(THROUGHPUT_SLOTS.min(ring_fit(slot_size))),
        }
    }

    /// This side's sockets; `leader` binds both segments.
    fn open(&self, base: &str, params: Params, leader: bool) -> Result<ShmLink> {
        let mut o = self.options(params);
        let fit = ring_fit(o.slot_size);
        if params.kind == Kind::Rtt && fit < DEFAULT_SLOTS {
            o = o.slot_count(fit);
        }
        let ping = format!("shm://{base}-ping");
        let pong = format!("shm://{base}-pong");
        let sub = |ep: &str, bind: bool| -> Result<Rx> {
            let b = Subscriber::builder().options(o.clone());
            let mut s = if bind { b.bind(ep) } else { b.connect(ep) }
                .map_err(rerr("ringwire shm subscriber"))?;
            s.subscribe(b"").map_err(rerr("ringwire shm subscribe"))?;
            Ok(Rx::Sub(s))
        };
        let publisher = |ep: &str, bind: bool| -> Result<Tx> {
            let b = Publisher::builder().options(o.clone());
            Ok(Tx::Pub(
                if bind { b.bind(ep) } else { b.connect(ep) }
                    .map_err(rerr("ringwire shm publisher"))?,
            ))
        };
        let pull = |ep: &str, bind: bool| -> Result<Rx> {
            let b = Puller::builder().options(o.clone());
            Ok(Rx::Pull(
                if bind { b.bind(ep) } else { b.connect(ep) }
                    .map_err(rerr("ringwire shm puller"))?,
            ))
        };
        let push = |ep: &str, bind: bool| -> Result<Tx> {
            let b = Pusher::builder().options(o.clone());
            Ok(Tx::Push(
                if bind { b.bind(ep) } else { b.connect(ep) }
                    .map_err(rerr("ringwire shm pusher"))?,
            ))
        };
        let (tx, rx) = match (params.kind, leader) {
            (Kind::Rtt, true) => (publisher(&ping, true)?, sub(&pong, true)?),
            (Kind::Rtt, false) => (publisher(&pong, false)?, sub(&ping, false)?),
            (Kind::Throughput, true) => (push(&ping, true)?, pull(&pong, true)?),
            (Kind::Throughput, false) => (push(&pong, false)?, pull(&ping, false)?),
        };
        Ok(ShmLink {
            tx,
            rx,
            buf: message_buffer(params.size),
        })
    }
}

impl Transport for RingwireShm {
    fn id(&self) -> &'static str {
        match self.mode {
            Mode::Busy => "ringwire-shm-busy",
            Mode::Blocking => "ringwire-shm-blocking",
            Mode::Adaptive => "ringwire-shm-adaptive",
        }
    }

    fn group(&self) -> &'static str {
        "ringwire-shm"
    }

    fn label(&self) -> &'static str {
        match self.mode {
            Mode::Busy => "busy poll: PUB/SUB, PUSH/PULL",
            Mode::Blocking => "futex wait: PUB/SUB, PUSH/PULL",
            Mode::Adaptive => "adaptive: PUB/SUB, PUSH/PULL",
        }
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8, 65536]
    }

    fn throughput(&self) -> bool {
        true
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let base = unique_name("shm");
        let link = self.open(&base, params, true)?;
        Ok(Box::new(Ready {
            link,
            address: base,
        }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        Ok(Box::new(self.open(address, params, false)?))
    }
}
