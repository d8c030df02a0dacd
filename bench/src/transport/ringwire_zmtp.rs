//! `ringwire-zmtp`: ringwire's own ZMTP 3.1 sockets (`ringwire::zmtp`) over `tcp://` and
//! `ipc://`, the same cases as the `libzmq` transport so the two compare one to one.
//!
//! Round trips: REQ (leader, binds) and REP (peer, connects), `send_bytes` / `recv_bytes`.
//! Throughput: PUB (leader, binds, `HwmPolicy::Block` so that nothing is dropped) to SUB (peer,
//! subscribed to everything), with a PUSH/PULL pair back to the leader for the handshake and
//! the final count; the probe is repeated every 10 ms until the subscription has reached the
//! publisher. `send_bytes` copies the message into the socket's write buffer (the one copy);
//! `recv_bytes` returns the message as a fresh `Vec` (ringwire's public receive API). There is
//! no I/O thread: every call does its own `poll`/`read`/`write`.

use std::time::{Duration, Instant};

use ringwire::zmtp::{HwmPolicy, Pub, Pull, Push, Rep, Req, Sub};

use ringwire::bench::link::{
    BenchError, CONNECT_TIMEOUT, Kind, Link, PROBE, Params, Prepared, Result, Transport, fail,
    message_buffer, read_seq, stamp, unique_name,
};

/// ringwire ZMTP over one kind of endpoint.
pub struct RingwireZmtp {
    ipc: bool,
}

/// `tcp://127.0.0.1`.
pub const TCP: RingwireZmtp = RingwireZmtp { ipc: false };
/// `ipc:///tmp/...`.
pub const IPC: RingwireZmtp = RingwireZmtp { ipc: true };

fn zerr(what: &'static str) -> impl FnOnce(ringwire::Error) -> BenchError {
    move |e| fail(what, e)
}

/// The sockets of one side.
enum Sockets {
    Req(Req),
    Rep(Rep),
    /// Leader of a throughput run: data out, answers in.
    PubPull(Pub, Pull),
    /// Peer of a throughput run: data in, answers out.
    SubPush(Sub, Push),
}

struct ZmtpLink {
    sockets: Sockets,
    buf: Vec<u8>,
}

impl Link for ZmtpLink {
    fn send(&mut self, seq: u64) -> Result<()> {
        stamp(&mut self.buf, seq);
        let buf = &self.buf[..];
        match &mut self.sockets {
            Sockets::Req(s) => s.send_bytes(buf),
            Sockets::Rep(s) => s.send_bytes(buf),
            Sockets::PubPull(s, _) => s.send_bytes(buf),
            Sockets::SubPush(_, s) => s.send_bytes(buf),
        }
        .map_err(zerr("ringwire zmtp send"))
    }

    fn recv(&mut self) -> Result<u64> {
        let msg = match &mut self.sockets {
            Sockets::Req(s) => s.recv_bytes(),
            Sockets::Rep(s) => s.recv_bytes(),
            // With no I/O thread, the publisher's write buffer only drains while the publisher
            // is called: a burst's tail (and the SYNC behind it) may still sit there when the
            // leader starts waiting for the answer, so keep pumping it while waiting.
            Sockets::PubPull(publisher, pull) => loop {
                publisher.process().map_err(zerr("ringwire zmtp process"))?;
                match pull.recv_bytes_timeout(Duration::from_micros(100)) {
                    Err(ringwire::Error::Timeout) => continue,
                    other => break other,
                }
            },
            Sockets::SubPush(s, _) => s.recv_bytes(),
        }
        .map_err(zerr("ringwire zmtp recv"))?;
        read_seq(&msg)
    }

    fn flush(&mut self) -> Result<()> {
        match &mut self.sockets {
            Sockets::PubPull(s, _) => s.flush(),
            Sockets::SubPush(_, s) => s.flush(),
            // REQ/REP write each message at once.
            Sockets::Req(_) | Sockets::Rep(_) => Ok(()),
        }
        .map_err(zerr("ringwire zmtp flush"))
    }

    fn handshake(&mut self) -> Result<()> {
        let Sockets::PubPull(publisher, pull) = &mut self.sockets else {
            self.send(PROBE)?;
            return match self.recv()? {
                PROBE => Ok(()),
                other => Err(BenchError(format!("zmtp handshake: got {other}"))),
            };
        };
        stamp(&mut self.buf, PROBE);
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        while Instant::now() < deadline {
            publisher
                .send_bytes(&self.buf)
                .map_err(zerr("ringwire zmtp send"))?;
            match pull.recv_bytes_timeout(Duration::from_millis(10)) {
                Ok(m) if read_seq(&m)? == PROBE => return Ok(()),
                Ok(_) | Err(ringwire::Error::Timeout) => {}
                Err(e) => return Err(fail("ringwire zmtp recv", e)),
            }
        }
        Err(BenchError(
            "ringwire zmtp: the subscriber never answered".into(),
        ))
    }
}

struct Pending {
    link: ZmtpLink,
    address: String,
}

impl Prepared for Pending {
    fn address(&self) -> String {
        self.address.clone()
    }

    fn accept(mut self: Box<Self>) -> Result<Box<dyn Link>> {
        let peers = match &mut self.link.sockets {
            Sockets::Req(s) => s.wait_for_peers(1, CONNECT_TIMEOUT),
            Sockets::PubPull(_, pull) => pull.wait_for_peers(1, CONNECT_TIMEOUT),
            Sockets::Rep(_) | Sockets::SubPush(..) => Ok(()),
        };
        peers.map_err(zerr("ringwire zmtp: waiting for the peer"))?;
        Ok(Box::new(self.link))
    }
}

impl RingwireZmtp {
    fn endpoint(&self) -> String {
        if self.ipc {
            let path = std::env::temp_dir().join(unique_name("zmtp.sock"));
            format!("ipc://{}", path.display())
        } else {
            "tcp://127.0.0.1:0".to_string()
        }
    }
}

fn bound(endpoints: Vec<ringwire::Endpoint>) -> Result<String> {
    endpoints
        .first()
        .map(|e| e.to_string())
        .ok_or_else(|| BenchError("ringwire zmtp: nothing bound".into()))
}

impl Transport for RingwireZmtp {
    fn id(&self) -> &'static str {
        if self.ipc {
            "ringwire-zmtp-ipc"
        } else {
            "ringwire-zmtp-tcp"
        }
    }

    fn group(&self) -> &'static str {
        "ringwire-zmtp"
    }

    fn label(&self) -> &'static str {
        if self.ipc {
            "ipc: REQ/REP, PUB/SUB"
        } else {
            "tcp: REQ/REP, PUB/SUB"
        }
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8, 65536]
    }

    fn throughput(&self) -> bool {
        true
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let (sockets, address) = match params.kind {
            Kind::Rtt => {
                let req = Req::bind(&self.endpoint()).map_err(zerr("ringwire zmtp bind"))?;
                let address = bound(req.bound_endpoints())?;
                (Sockets::Req(req), address)
            }
            Kind::Throughput => {
                let publisher = Pub::builder()
                    .hwm_policy(HwmPolicy::Block)
                    .bind(&self.endpoint())
                    .map_err(zerr("ringwire zmtp bind"))?;
                let pull = Pull::bind(&self.endpoint()).map_err(zerr("ringwire zmtp bind"))?;
                let address = format!(
                    "{} {}",
                    bound(publisher.bound_endpoints())?,
                    bound(pull.bound_endpoints())?
                );
                (Sockets::PubPull(publisher, pull), address)
            }
        };
        let link = ZmtpLink {
            sockets,
            buf: message_buffer(params.size),
        };
        Ok(Box::new(Pending { link, address }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        let sockets = match params.kind {
            Kind::Rtt => {
                Sockets::Rep(Rep::connect(address).map_err(zerr("ringwire zmtp connect"))?)
            }
            Kind::Throughput => {
                let (pub_ep, pull_ep) = address
                    .split_once(' ')
                    .ok_or_else(|| BenchError(format!("bad address {address:?}")))?;
                let mut sub = Sub::connect(pub_ep).map_err(zerr("ringwire zmtp connect"))?;
                sub.subscribe(b"")
                    .map_err(zerr("ringwire zmtp subscribe"))?;
                let push = Push::connect(pull_ep).map_err(zerr("ringwire zmtp connect"))?;
                Sockets::SubPush(sub, push)
            }
        };
        Ok(Box::new(ZmtpLink {
            sockets,
            buf: message_buffer(params.size),
        }))
    }
}
