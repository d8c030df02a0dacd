//! `libzmq` (feature `libzmq`): the system libzmq through the `zmq` crate, over `tcp://`
//! (loopback) and `ipc://` (Unix sockets).
//!
//! Round trips use REQ (leader, binds) and REP (peer, connects). Throughput uses PUB/SUB for the
//! data (leader PUB binds, peer SUB connects and subscribes to everything) plus a PUSH/PULL pair
//! back to the leader for the handshake and the final count. PUB drops messages when a
//! subscriber's queue reaches its high-water mark (and the `zmq` crate does not expose
//! `ZMQ_XPUB_NODROP`), so both PUB and SUB set their high-water mark to 0 (unlimited): nothing
//! is dropped and the run ends when the last message has arrived (a dropped message would fail
//! the run). Since PUB/SUB only starts delivering once the subscription has
//! reached the publisher, the handshake repeats its probe every 10 ms until the echo arrives.
//!
//! `zmq_send` copies the message into a libzmq message (the one copy); `zmq_msg_recv` hands a
//! message that libzmq's I/O thread copied out of the kernel, and the receiver reads its first
//! eight bytes in place. libzmq's I/O thread sits between each application thread and its
//! socket, as in every libzmq program.

use std::time::Instant;

use ringwire::bench::link::{
    BenchError, CONNECT_TIMEOUT, Kind, Link, PROBE, Params, Prepared, Ready, Result, Transport,
    fail, message_buffer, read_seq, stamp, unique_name,
};

/// How long closing a socket may wait for unsent messages.
const LINGER_MS: i32 = 1000;

/// libzmq over one kind of endpoint.
pub struct Libzmq {
    ipc: bool,
}

/// `tcp://127.0.0.1`.
pub const TCP: Libzmq = Libzmq { ipc: false };
/// `ipc:///tmp/...`.
pub const IPC: Libzmq = Libzmq { ipc: true };

fn zmq_err(what: &str) -> impl FnOnce(zmq::Error) -> BenchError + '_ {
    move |e| fail(what, e)
}

/// A pair of sockets: `tx` sends, `rx` receives (the same socket for REQ/REP).
struct ZmqLink {
    tx: zmq::Socket,
    rx: Option<zmq::Socket>,
    buf: Vec<u8>,
    msg: zmq::Message,
    // Dropped last: terminating the context waits for its sockets.
    _ctx: zmq::Context,
    /// The leader's `ipc://` socket files (libzmq leaves them behind).
    _files: Vec<RemoveOnDrop>,
}

impl ZmqLink {
    fn rx(&self) -> &zmq::Socket {
        self.rx.as_ref().unwrap_or(&self.tx)
    }
}

impl Link for ZmqLink {
    fn send(&mut self, seq: u64) -> Result<()> {
        stamp(&mut self.buf, seq);
        self.tx.send(&self.buf[..], 0).map_err(zmq_err("zmq send"))
    }

    fn recv(&mut self) -> Result<u64> {
        let rx = self.rx.as_ref().unwrap_or(&self.tx);
        rx.recv(&mut self.msg, 0).map_err(zmq_err("zmq recv"))?;
        read_seq(&self.msg)
    }

    fn handshake(&mut self) -> Result<()> {
        if self.rx.is_none() {
            // REQ/REP queues the request until the connection is up: one probe is enough.
            self.send(PROBE)?;
            return match self.recv()? {
                PROBE => Ok(()),
                other => Err(BenchError(format!("zmq handshake: got {other}"))),
            };
        }
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        stamp(&mut self.buf, PROBE);
        while Instant::now() < deadline {
            match self.tx.send(&self.buf[..], zmq::DONTWAIT) {
                Ok(()) | Err(zmq::Error::EAGAIN) => {}
                Err(e) => return Err(fail("zmq send", e)),
            }
            if self
                .rx()
                .poll(zmq::POLLIN, 10)
                .map_err(zmq_err("zmq poll"))?
                > 0
                && self.recv()? == PROBE
            {
                return Ok(());
            }
        }
        Err(BenchError("zmq: the subscriber never answered".into()))
    }
}

fn socket(ctx: &zmq::Context, kind: zmq::SocketType) -> Result<zmq::Socket> {
    let s = ctx.socket(kind).map_err(zmq_err("zmq socket"))?;
    s.set_linger(LINGER_MS).map_err(zmq_err("zmq linger"))?;
    Ok(s)
}

fn bound_endpoint(s: &zmq::Socket) -> Result<String> {
    s.get_last_endpoint()
        .map_err(zmq_err("zmq last endpoint"))?
        .map_err(|_| BenchError("zmq endpoint is not UTF-8".into()))
}

/// An `ipc://` socket file the leader removes when its link is dropped (libzmq leaves it).
struct RemoveOnDrop(Option<std::path::PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The path of an `ipc://` endpoint, for [`RemoveOnDrop`].
fn ipc_path(endpoint: &str) -> Option<std::path::PathBuf> {
    endpoint.strip_prefix("ipc://").map(Into::into)
}

impl Libzmq {
    fn endpoint(&self) -> String {
        if self.ipc {
            let path = std::env::temp_dir().join(unique_name("zmq.sock"));
            format!("ipc://{}", path.display())
        } else {
            "tcp://127.0.0.1:*".to_string()
        }
    }
}

impl Transport for Libzmq {
    fn id(&self) -> &'static str {
        if self.ipc { "libzmq-ipc" } else { "libzmq-tcp" }
    }

    fn group(&self) -> &'static str {
        "libzmq"
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
        let ctx = zmq::Context::new();
        let (tx, rx, address) = match params.kind {
            Kind::Rtt => {
                let req = socket(&ctx, zmq::REQ)?;
                req.bind(&self.endpoint()).map_err(zmq_err("zmq bind"))?;
                let address = bound_endpoint(&req)?;
                (req, None, address)
            }
            Kind::Throughput => {
                let publisher = socket(&ctx, zmq::PUB)?;
                publisher.set_sndhwm(0).map_err(zmq_err("zmq sndhwm"))?;
                publisher
                    .bind(&self.endpoint())
                    .map_err(zmq_err("zmq bind"))?;
                let pull = socket(&ctx, zmq::PULL)?;
                pull.bind(&self.endpoint()).map_err(zmq_err("zmq bind"))?;
                let address = format!("{} {}", bound_endpoint(&publisher)?, bound_endpoint(&pull)?);
                (publisher, Some(pull), address)
            }
        };
        let files = address
            .split(' ')
            .map(|ep| RemoveOnDrop(ipc_path(ep)))
            .collect();
        let link = ZmqLink {
            tx,
            rx,
            buf: message_buffer(params.size),
            msg: zmq::Message::new(),
            _ctx: ctx,
            _files: files,
        };
        // Connections are made by libzmq in the background; the handshake waits for them.
        Ok(Box::new(Ready { link, address }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        let ctx = zmq::Context::new();
        let (tx, rx) = match params.kind {
            Kind::Rtt => {
                let rep = socket(&ctx, zmq::REP)?;
                rep.connect(address).map_err(zmq_err("zmq connect"))?;
                (rep, None)
            }
            Kind::Throughput => {
                let (pub_ep, pull_ep) = address
                    .split_once(' ')
                    .ok_or_else(|| BenchError(format!("bad address {address:?}")))?;
                let sub = socket(&ctx, zmq::SUB)?;
                sub.set_rcvhwm(0).map_err(zmq_err("zmq rcvhwm"))?;
                sub.set_subscribe(b"").map_err(zmq_err("zmq subscribe"))?;
                sub.connect(pub_ep).map_err(zmq_err("zmq connect"))?;
                let push = socket(&ctx, zmq::PUSH)?;
                push.connect(pull_ep).map_err(zmq_err("zmq connect"))?;
                (push, Some(sub))
            }
        };
        Ok(Box::new(ZmqLink {
            tx,
            rx,
            buf: message_buffer(params.size),
            msg: zmq::Message::new(),
            _ctx: ctx,
            _files: Vec::new(),
        }))
    }
}
