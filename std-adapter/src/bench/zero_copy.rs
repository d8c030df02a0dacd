//! `ringwire-shm` zero-copy round trips: REQ/REP over `ringwire::shm`, where both directions
//! are single-producer rings whose slots are read in place.
//!
//! The sender loans the next slot with `Requester::loan_with` / `Replier::loan_with` and writes
//! the whole message (64 KiB by default) into it in place, its sequence number first — the same
//! work as iceoryx2's sender, which copies the message into a loaned sample. The receiver reads
//! the sequence number in place with `recv_with` (an SPSC slot belongs to its one reader until
//! released, so nothing is copied out), as iceoryx2's receiver does. So this case is the
//! like-for-like counterpart of the iceoryx2 rows; the PUB/SUB case next to it
//! ([`crate::bench::shm`]) copies the message into a broadcast slot and reads its sequence
//! number in place too, through the seqlock-checked `Subscriber::recv_in_place`. The leader is the requester (it binds), the peer the replier; there is no
//! throughput run (REQ/REP strictly alternates).

use std::time::{Duration, Instant};

use crate::bench::link::{
    BenchError, CONNECT_TIMEOUT, Link, PROBE, Params, Prepared, Ready, Result, Transport, fail,
    read_seq, unique_name,
};
use crate::bench::shm::{ADAPTIVE, BLOCKING, BUSY, Mode, RingwireShm};
use crate::shm::{Replier, Requester};

/// Zero-copy REQ/REP in one of ringwire's wait modes.
pub struct ZeroCopy {
    base: &'static RingwireShm,
}

/// Busy polling.
pub const ZERO_COPY_BUSY: ZeroCopy = ZeroCopy { base: &BUSY };
/// Futex wait.
pub const ZERO_COPY_BLOCKING: ZeroCopy = ZeroCopy { base: &BLOCKING };
/// Adaptive (the default wait mode).
pub const ZERO_COPY_ADAPTIVE: ZeroCopy = ZeroCopy { base: &ADAPTIVE };

enum Side {
    Req(Requester),
    Rep(Replier),
}

struct ZeroCopyLink {
    side: Side,
    /// The message written into each loaned slot (its first 8 bytes are the sequence number).
    message: Vec<u8>,
}

impl Link for ZeroCopyLink {
    fn send(&mut self, seq: u64) -> Result<()> {
        self.message[..8].copy_from_slice(&seq.to_le_bytes());
        let message = &self.message;
        // Writes the whole message in place; the slot must hold it.
        let fill = |slot: &mut [u8]| {
            slot.get_mut(..message.len())?.copy_from_slice(message);
            Some(message.len())
        };
        let sent = match &mut self.side {
            Side::Req(s) => s.loan_with(fill),
            Side::Rep(s) => s.loan_with(fill),
        }
        .map_err(|e| fail("ringwire shm zero-copy send", e))?;
        if sent {
            Ok(())
        } else {
            Err(fail(
                "ringwire shm zero-copy send",
                "the message does not fit the slot",
            ))
        }
    }

    fn recv(&mut self) -> Result<u64> {
        let got = match &mut self.side {
            Side::Req(s) => s.recv_with(|m| read_seq(m.payload())),
            Side::Rep(s) => s.recv_with(|m| read_seq(m.payload())),
        };
        got.map_err(|e| fail("ringwire shm zero-copy recv", e))?
    }

    /// Waits for the replier to attach, then one probe round trip.
    fn handshake(&mut self) -> Result<()> {
        if let Side::Req(s) = &self.side {
            let deadline = Instant::now() + CONNECT_TIMEOUT;
            while !s.peer_alive() {
                if Instant::now() > deadline {
                    return Err(BenchError("ringwire shm zero-copy: no replier".into()));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.send(PROBE)?;
        while self.recv()? != PROBE {}
        Ok(())
    }
}

impl Transport for ZeroCopy {
    fn id(&self) -> &'static str {
        match self.base.mode {
            Mode::Busy => "ringwire-shm-zc-busy",
            Mode::Blocking => "ringwire-shm-zc-blocking",
            Mode::Adaptive => "ringwire-shm-zc-adaptive",
        }
    }

    fn group(&self) -> &'static str {
        "ringwire-shm"
    }

    fn label(&self) -> &'static str {
        match self.base.mode {
            Mode::Busy => "busy poll: loaned REQ/REP",
            Mode::Blocking => "futex wait: loaned REQ/REP",
            Mode::Adaptive => "adaptive: loaned REQ/REP",
        }
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[65536]
    }

    fn throughput(&self) -> bool {
        false
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let address = unique_name("zc");
        let s = Requester::builder()
            .options(self.base.options(params))
            .bind(&format!("shm://{address}"))
            .map_err(|e| fail("ringwire shm requester", e))?;
        let link = ZeroCopyLink {
            side: Side::Req(s),
            message: vec![0x5a; params.size.max(8)],
        };
        Ok(Box::new(Ready { link, address }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        let s = Replier::builder()
            .options(self.base.options(params))
            .connect(&format!("shm://{address}"))
            .map_err(|e| fail("ringwire shm replier", e))?;
        Ok(Box::new(ZeroCopyLink {
            side: Side::Rep(s),
            message: vec![0x5a; params.size.max(8)],
        }))
    }
}
