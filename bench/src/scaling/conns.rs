//! Idle connections: one REP server process bound on `tcp://127.0.0.1`, a peer process
//! holding N idle ZMTP connections to it ([`super::idle`]), and the leader as the one active
//! REQ peer measuring round trips of 8-byte messages.
//!
//! After the round trips the leader reads the server's resident memory (`VmRSS` of
//! `/proc/PID/status`); memory per idle connection is (RSS with N − RSS with 0) / N. The
//! server of each point is a fresh process, so every figure starts from the same state. For
//! ringwire the server is a `ringwire::zmtp::Rep` and the active peer a `ringwire::zmtp::Req`;
//! for libzmq (feature `libzmq`) both are libzmq sockets.

use std::time::{Duration, Instant};

use ringwire::bench::{BenchError, Result};
use ringwire::zmtp::{Rep, Req};

use super::proc::{Peer, answer, die_with_parent, raise_fd_limit, vm_rss};
use super::{median, percentile};

/// The message that ends a server.
const BYE: &[u8] = b"BYE";
/// Time for the server to settle after the idle connections are up.
const SETTLE: Duration = Duration::from_millis(200);

/// How a connection run is done.
#[derive(Clone, Debug)]
pub struct Options {
    pub iters: u64,
    pub warmup: u64,
    pub timeout: Duration,
}

/// One point of a connection curve.
#[derive(Clone, Debug)]
pub struct Point {
    pub idle: usize,
    pub rtt_p50_ns: f64,
    pub rtt_p99_ns: f64,
    /// Server RSS after the round trips.
    pub rss_bytes: f64,
    /// (RSS with N − RSS with 0) / N; filled in by the caller.
    pub bytes_per_idle: Option<f64>,
}

impl Point {
    /// The median of each statistic over repeated runs.
    pub fn median_of(runs: &[Point]) -> Option<Point> {
        let first = runs.first()?;
        let m = |f: fn(&Point) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        Some(Point {
            idle: first.idle,
            rtt_p50_ns: m(|p| p.rtt_p50_ns)?,
            rtt_p99_ns: m(|p| p.rtt_p99_ns)?,
            rss_bytes: m(|p| p.rss_bytes)?,
            bytes_per_idle: None,
        })
    }
}

fn zerr(what: &'static str) -> impl FnOnce(ringwire::Error) -> BenchError {
    move |e| BenchError(format!("{what}: {e}"))
}

/// The active peer's side.
trait Client {
    fn round_trip(&mut self, msg: &[u8]) -> Result<()>;
}

impl Client for Req {
    fn round_trip(&mut self, msg: &[u8]) -> Result<()> {
        self.send_bytes(msg).map_err(zerr("ringwire send"))?;
        let echo = self.recv_bytes().map_err(zerr("ringwire recv"))?;
        if echo != msg {
            return Err(BenchError("the server echoed something else".into()));
        }
        Ok(())
    }
}

fn client(system: &str, endpoint: &str) -> Result<Box<dyn Client>> {
    match system {
        "ringwire" => Ok(Box::new(
            Req::connect(endpoint).map_err(zerr("ringwire connect"))?,
        )),
        #[cfg(feature = "libzmq")]
        "libzmq" => Ok(Box::new(zmq_side::ZmqClient::connect(endpoint)?)),
        other => Err(BenchError(format!("unknown server {other:?}"))),
    }
}

/// One run: `system`'s server with `idle` idle connections.
pub fn run(system: &str, idle: usize, o: &Options) -> Result<Point> {
    let deadline = Instant::now() + o.timeout;
    let mut server = Peer::spawn(&["conn-server", "--system", system])?;
    let endpoint = server.line(deadline)?;
    let address = endpoint
        .strip_prefix("tcp://")
        .ok_or_else(|| BenchError(format!("server said {endpoint:?}")))?
        .to_string();
    let holder = if idle > 0 {
        let mut h = Peer::spawn(&["idle", "--address", &address, "--count", &idle.to_string()])?;
        let l = h.line(deadline)?;
        if l != "ready" {
            return Err(BenchError(format!("idle holder said {l:?}")));
        }
        Some(h)
    } else {
        None
    };
    std::thread::sleep(SETTLE);
    let mut c = client(system, &endpoint)?;
    let msg = 0x5eed_u64.to_le_bytes();
    let mut samples = Vec::with_capacity(o.iters as usize);
    for i in 0..o.warmup + o.iters {
        let t = Instant::now();
        c.round_trip(&msg)?;
        if i >= o.warmup {
            samples.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        if i % 1024 == 0 && Instant::now() >= deadline {
            return Err(BenchError("round trips took too long".into()));
        }
    }
    let rss = vm_rss(server.child.id())?;
    c.round_trip(BYE)?;
    server.finish(deadline)?;
    if let Some(h) = holder {
        h.finish(deadline)?;
    }
    samples.sort_unstable();
    Ok(Point {
        idle,
        rtt_p50_ns: percentile(&samples, 500) as f64,
        rtt_p99_ns: percentile(&samples, 990) as f64,
        rss_bytes: rss,
        bytes_per_idle: None,
    })
}

/// The server process: binds, answers its endpoint, echoes until [`BYE`].
pub fn server(system: &str) -> Result<()> {
    die_with_parent();
    raise_fd_limit();
    match system {
        "ringwire" => {
            let mut rep = Rep::bind("tcp://127.0.0.1:0").map_err(zerr("ringwire bind"))?;
            let ep = rep
                .bound_endpoints()
                .first()
                .map(|e| e.to_string())
                .ok_or_else(|| BenchError("nothing bound".into()))?;
            answer(&ep)?;
            loop {
                let m = rep.recv_bytes().map_err(zerr("ringwire recv"))?;
                rep.send_bytes(&m).map_err(zerr("ringwire send"))?;
                if m == BYE {
                    // The echo is written; give it a moment to leave before closing.
                    std::thread::sleep(Duration::from_millis(50));
                    return Ok(());
                }
            }
        }
        #[cfg(feature = "libzmq")]
        "libzmq" => zmq_side::serve(),
        other => Err(BenchError(format!("unknown server {other:?}"))),
    }
}

#[cfg(feature = "libzmq")]
mod zmq_side {
    use super::{BYE, Client, answer};
    use ringwire::bench::{BenchError, Result};

    fn zerr(what: &'static str) -> impl FnOnce(zmq::Error) -> BenchError {
        move |e| BenchError(format!("zmq {what}: {e}"))
    }

    pub struct ZmqClient {
        req: zmq::Socket,
        msg: zmq::Message,
        _ctx: zmq::Context,
    }

    impl ZmqClient {
        pub fn connect(endpoint: &str) -> Result<ZmqClient> {
            let ctx = zmq::Context::new();
            let req = ctx.socket(zmq::REQ).map_err(zerr("socket"))?;
            req.set_linger(1000).map_err(zerr("linger"))?;
            req.connect(endpoint).map_err(zerr("connect"))?;
            Ok(ZmqClient {
                req,
                msg: zmq::Message::new(),
                _ctx: ctx,
            })
        }
    }

    impl Client for ZmqClient {
        fn round_trip(&mut self, msg: &[u8]) -> Result<()> {
            self.req.send(msg, 0).map_err(zerr("send"))?;
            self.req.recv(&mut self.msg, 0).map_err(zerr("recv"))?;
            if &self.msg[..] != msg {
                return Err(BenchError("the server echoed something else".into()));
            }
            Ok(())
        }
    }

    pub fn serve() -> Result<()> {
        let ctx = zmq::Context::new();
        let rep = ctx.socket(zmq::REP).map_err(zerr("socket"))?;
        rep.set_linger(1000).map_err(zerr("linger"))?;
        rep.bind("tcp://127.0.0.1:*").map_err(zerr("bind"))?;
        let ep = rep
            .get_last_endpoint()
            .map_err(zerr("last endpoint"))?
            .map_err(|_| BenchError("endpoint is not UTF-8".into()))?;
        answer(&ep)?;
        let mut msg = zmq::Message::new();
        loop {
            rep.recv(&mut msg, 0).map_err(zerr("recv"))?;
            rep.send(&msg[..], 0).map_err(zerr("send"))?;
            if &msg[..] == BYE {
                return Ok(());
            }
        }
    }
}
