//! Fan-out: one publisher in the leader, N subscriber processes.
//!
//! Every message is 24 bytes: a kind, a sequence number and the `CLOCK_MONOTONIC` time it was
//! sent ([`mono_ns`]). A run has three phases:
//!
//! 1. **Latency**: after a short warm-up (which also lets lazily connecting ports connect),
//!    `lat_msgs` messages, one every `interval` (the leader sleeps between them). Each
//!    subscriber stores `receive time − send time` per message and answers its p50 and p99;
//!    the point's p50/p99 are the medians over the subscribers.
//! 2. **Throughput**: `burst_msgs` messages back to back. Each subscriber counts what it
//!    received and when the last one came; delivered messages per second is the sum of the
//!    counts over (last arrival among the subscribers − start of the burst). Neither system's
//!    publisher waits for slow subscribers here: what a subscriber misses is counted as lost,
//!    not as delivered.
//! 3. End markers, repeated every millisecond until every subscriber has answered and left.
//!
//! Both systems wait in the kernel while idle, since a machine with fewer cores than
//! subscribers cannot afford spinning ones: ringwire subscribers use `WaitMode::Blocking`
//! (futex on the segment's event word; the publisher wakes all waiters with one syscall, only
//! if one is registered); iceoryx2 subscribers block in an event service's
//! `Listener::blocking_wait`, and the publisher notifies that service after every message —
//! iceoryx2's documented way of waiting for samples. Both rings hold 1,024 messages per
//! subscriber and overwrite the oldest when full (ringwire's lossy default; iceoryx2's safe
//! overflow).

use std::time::{Duration, Instant};

use ringwire::bench::{BenchError, Result, link::unique_name};
use ringwire::shm::{Publisher, ShmOptions, Subscriber, WaitMode};

use super::proc::{Peer, answer, die_with_parent, mono_ns, parse_numbers};
use super::{median, percentile};

/// Message kinds (first word of a message).
const WARM: u64 = 1;
const LAT: u64 = 2;
const END_LAT: u64 = 3;
const THR: u64 = 4;
const BYE: u64 = 5;

/// Message size.
const SIZE: usize = 24;
/// Messages a subscriber's ring or queue holds.
pub const DEPTH: usize = 1024;
/// Warm-up before the latency phase.
const WARMUP: Duration = Duration::from_millis(100);

/// How a fan-out run is paced.
#[derive(Clone, Debug)]
pub struct Options {
    pub lat_msgs: u64,
    pub interval: Duration,
    pub burst_msgs: u64,
    pub timeout: Duration,
}

/// One point of a fan-out curve.
#[derive(Clone, Debug)]
pub struct Point {
    pub subs: usize,
    pub p50_ns: f64,
    pub p99_ns: f64,
    pub delivered_per_s: f64,
    /// Messages lost over all subscribers (both phases).
    pub lost: u64,
}

impl Point {
    /// The median of each statistic over repeated runs.
    pub fn median_of(runs: &[Point]) -> Option<Point> {
        let first = runs.first()?;
        let m = |f: fn(&Point) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
        Some(Point {
            subs: first.subs,
            p50_ns: m(|p| p.p50_ns)?,
            p99_ns: m(|p| p.p99_ns)?,
            delivered_per_s: m(|p| p.delivered_per_s)?,
            lost: m(|p| p.lost as f64)? as u64,
        })
    }
}

fn encode(kind: u64, seq: u64) -> [u8; SIZE] {
    let mut m = [0u8; SIZE];
    m[..8].copy_from_slice(&kind.to_le_bytes());
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    m[16..].copy_from_slice(&mono_ns().to_le_bytes());
    m
}

fn word(m: &[u8; SIZE], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&m[i * 8..i * 8 + 8]);
    u64::from_le_bytes(w)
}

/// The publishing side of one system.
trait FanPub {
    fn send(&mut self, msg: &[u8; SIZE]) -> Result<()>;
}

/// The subscribing side of one system.
trait FanSub {
    /// The next message, waiting in the kernel while there is none.
    fn recv(&mut self) -> Result<[u8; SIZE]>;
}

fn rerr(what: &'static str) -> impl FnOnce(ringwire::Error) -> BenchError {
    move |e| BenchError(format!("{what}: {e}"))
}

fn shm_options() -> ShmOptions {
    ShmOptions::new()
        .wait(WaitMode::Blocking)
        .slot_size(SIZE + 64)
        .slot_count(DEPTH)
        .connect_timeout(ringwire::bench::link::CONNECT_TIMEOUT)
}

impl FanPub for Publisher {
    fn send(&mut self, msg: &[u8; SIZE]) -> Result<()> {
        self.loan_with(|slot| {
            if slot.len() < SIZE {
                return None;
            }
            slot.copy_from_slice(msg);
            Some(SIZE)
        })
        .map_err(rerr("ringwire publish"))?;
        Ok(())
    }
}

impl FanSub for Subscriber {
    fn recv(&mut self) -> Result<[u8; SIZE]> {
        self.recv_in_place(|m| m.read_at::<SIZE>(0))
            .map_err(rerr("ringwire receive"))?
            .ok_or_else(|| BenchError("short message".into()))
    }
}

fn open_pub(system: &str, address: &str) -> Result<Box<dyn FanPub>> {
    match system {
        "ringwire" => Ok(Box::new(
            Publisher::builder()
                .options(shm_options())
                .bind(&format!("shm://{address}"))
                .map_err(rerr("ringwire publisher"))?,
        )),
        #[cfg(feature = "iceoryx2")]
        "iceoryx2" => Ok(Box::new(ice::IcePub::open(address)?)),
        other => Err(BenchError(format!("unknown fan-out system {other:?}"))),
    }
}

fn open_sub(system: &str, address: &str) -> Result<Box<dyn FanSub>> {
    match system {
        "ringwire" => {
            let mut s = Subscriber::builder()
                .options(shm_options())
                .connect(&format!("shm://{address}"))
                .map_err(rerr("ringwire subscriber"))?;
            s.subscribe(b"").map_err(rerr("ringwire subscribe"))?;
            Ok(Box::new(s))
        }
        #[cfg(feature = "iceoryx2")]
        "iceoryx2" => Ok(Box::new(ice::IceSub::open(address)?)),
        other => Err(BenchError(format!("unknown fan-out system {other:?}"))),
    }
}

/// Sleeps until `t` (the scheduler's granularity decides how close).
fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// Sends `kind` every millisecond until every subscriber answered a line starting with `tag`;
/// returns the lines in subscriber order.
fn repeat_until_answered(
    publisher: &mut dyn FanPub,
    peers: &mut [Peer],
    kind: u64,
    deadline: Instant,
) -> Result<Vec<String>> {
    let mut answers: Vec<Option<String>> = vec![None; peers.len()];
    let mut seq = 0;
    while answers.iter().any(Option::is_none) {
        if Instant::now() >= deadline {
            return Err(BenchError("subscribers did not answer in time".into()));
        }
        publisher.send(&encode(kind, seq))?;
        seq += 1;
        std::thread::sleep(Duration::from_millis(1));
        for (a, p) in answers.iter_mut().zip(peers.iter_mut()) {
            if a.is_none() {
                *a = p.try_line();
            }
            // Exited: its last line (or the reason it has none) is on its way.
            if a.is_none() && p.child.try_wait()?.is_some() {
                *a = Some(p.line(deadline)?);
            }
        }
    }
    Ok(answers.into_iter().flatten().collect())
}

/// One fan-out run of `system` with `n` subscribers.
pub fn run(system: &str, n: usize, o: &Options) -> Result<Point> {
    let deadline = Instant::now() + o.timeout;
    let address = unique_name("fan");
    let mut publisher = open_pub(system, &address)?;
    let mut peers = (0..n)
        .map(|_| Peer::spawn(&["fan-sub", "--system", system, "--address", &address]))
        .collect::<Result<Vec<_>>>()?;
    for p in &mut peers {
        let l = p.line(deadline)?;
        if l != "ready" {
            return Err(BenchError(format!("subscriber said {l:?}")));
        }
    }
    // Warm-up: ports connect, pages and caches warm.
    let warm_end = Instant::now() + WARMUP;
    let mut seq = 0;
    while Instant::now() < warm_end {
        publisher.send(&encode(WARM, seq))?;
        seq += 1;
        std::thread::sleep(o.interval);
    }
    let start = Instant::now();
    for i in 0..o.lat_msgs {
        sleep_until(start + o.interval * u32::try_from(i).unwrap_or(u32::MAX));
        publisher.send(&encode(LAT, i))?;
    }
    let lat = repeat_until_answered(&mut *publisher, &mut peers, END_LAT, deadline)?;
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut lost = 0.0;
    for l in &lat {
        let v = parse_numbers(l, "lat", 3)?;
        if v[0] == 0.0 {
            return Err(BenchError(
                "a subscriber received no latency message".into(),
            ));
        }
        p50s.push(v[1]);
        p99s.push(v[2]);
        lost += o.lat_msgs as f64 - v[0];
    }
    std::thread::sleep(Duration::from_millis(20));
    let burst_start = mono_ns();
    for i in 0..o.burst_msgs {
        publisher.send(&encode(THR, i))?;
    }
    let thr = repeat_until_answered(&mut *publisher, &mut peers, BYE, deadline)?;
    let mut delivered = 0.0;
    let mut last = burst_start;
    for l in &thr {
        let v = parse_numbers(l, "thr", 2)?;
        delivered += v[0];
        lost += o.burst_msgs as f64 - v[0];
        last = last.max(v[1] as u64);
    }
    for p in peers {
        p.finish(deadline)?;
    }
    let secs = (last.saturating_sub(burst_start)) as f64 / 1e9;
    Ok(Point {
        subs: n,
        p50_ns: median(&p50s).unwrap_or(f64::NAN),
        p99_ns: median(&p99s).unwrap_or(f64::NAN),
        delivered_per_s: if secs > 0.0 { delivered / secs } else { 0.0 },
        lost: lost as u64,
    })
}

/// A subscriber process: answers `ready`, then `lat COUNT P50 P99` after the latency phase and
/// `thr RECEIVED LAST_NS` after the burst. What it did not receive counts as lost.
pub fn subscriber(system: &str, address: &str) -> Result<()> {
    die_with_parent();
    let mut sub = open_sub(system, address)?;
    answer("ready")?;
    let mut samples: Vec<u64> = Vec::new();
    let mut lat_done = false;
    let mut received: u64 = 0;
    let mut last_ns: u64 = 0;
    loop {
        let m = sub.recv()?;
        let now = mono_ns();
        match word(&m, 0) {
            LAT => samples.push(now.saturating_sub(word(&m, 2))),
            END_LAT if !lat_done => {
                lat_done = true;
                samples.sort_unstable();
                answer(&format!(
                    "lat {} {} {}",
                    samples.len(),
                    percentile(&samples, 500),
                    percentile(&samples, 990),
                ))?;
            }
            THR => {
                received += 1;
                last_ns = now;
            }
            BYE => {
                answer(&format!("thr {received} {last_ns}"))?;
                return Ok(());
            }
            _ => {}
        }
    }
}

/// iceoryx2 0.10 publish-subscribe with an event service for the wake-ups.
#[cfg(feature = "iceoryx2")]
mod ice {
    use iceoryx2::node::Node;
    use iceoryx2::port::listener::Listener;
    use iceoryx2::port::notifier::Notifier;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::port::subscriber::Subscriber;
    use iceoryx2::prelude::*;

    use super::{DEPTH, FanPub, FanSub, SIZE};
    use ringwire::bench::{BenchError, Result};

    type Ipc = ipc::Service;

    /// Room for the largest run (16 subscribers) plus the leader.
    const MAX_PORTS: usize = 64;

    fn ierr(what: &'static str) -> impl FnOnce(String) -> BenchError {
        move |e| BenchError(format!("iceoryx2 {what}: {e}"))
    }

    fn names(base: &str) -> Result<(ServiceName, ServiceName)> {
        let data = ServiceName::new(&format!("ringwire-bench/{base}"))
            .map_err(|e| ierr("service name")(format!("{e:?}")))?;
        let event = ServiceName::new(&format!("ringwire-bench/{base}-event"))
            .map_err(|e| ierr("service name")(format!("{e:?}")))?;
        Ok((data, event))
    }

    fn node() -> Result<Node<Ipc>> {
        set_log_level(LogLevel::Error);
        NodeBuilder::new()
            .create::<Ipc>()
            .map_err(|e| ierr("node")(format!("{e:?}")))
    }

    pub struct IcePub {
        publisher: Publisher<Ipc, [u8], ()>,
        notifier: Notifier<Ipc>,
        _node: Node<Ipc>,
    }

    impl IcePub {
        pub fn open(base: &str) -> Result<IcePub> {
            let node = node()?;
            let (data, event) = names(base)?;
            let service = node
                .service_builder(&data)
                .publish_subscribe::<[u8]>()
                .max_subscribers(MAX_PORTS)
                .max_nodes(MAX_PORTS)
                .subscriber_max_buffer_size(DEPTH)
                .enable_safe_overflow(true)
                .create()
                .map_err(|e| ierr("service")(format!("{e:?}")))?;
            let publisher = service
                .publisher_builder()
                .initial_max_slice_len(SIZE)
                .create()
                .map_err(|e| ierr("publisher")(format!("{e:?}")))?;
            let notifier = node
                .service_builder(&event)
                .event()
                .max_listeners(MAX_PORTS)
                .max_nodes(MAX_PORTS)
                .create()
                .map_err(|e| ierr("event service")(format!("{e:?}")))?
                .notifier_builder()
                .create()
                .map_err(|e| ierr("notifier")(format!("{e:?}")))?;
            Ok(IcePub {
                publisher,
                notifier,
                _node: node,
            })
        }
    }

    impl FanPub for IcePub {
        fn send(&mut self, msg: &[u8; SIZE]) -> Result<()> {
            let sample = self
                .publisher
                .loan_slice_uninit(SIZE)
                .map_err(|e| ierr("loan")(format!("{e:?}")))?;
            sample
                .write_from_slice(msg)
                .send()
                .map_err(|e| ierr("send")(format!("{e:?}")))?;
            self.notifier
                .notify()
                .map_err(|e| ierr("notify")(format!("{e:?}")))?;
            Ok(())
        }
    }

    pub struct IceSub {
        subscriber: Subscriber<Ipc, [u8], ()>,
        listener: Listener<Ipc>,
        _node: Node<Ipc>,
    }

    impl IceSub {
        pub fn open(base: &str) -> Result<IceSub> {
            let node = node()?;
            let (data, event) = names(base)?;
            let subscriber = node
                .service_builder(&data)
                .publish_subscribe::<[u8]>()
                .open()
                .map_err(|e| ierr("service")(format!("{e:?}")))?
                .subscriber_builder()
                .buffer_size(DEPTH)
                .create()
                .map_err(|e| ierr("subscriber")(format!("{e:?}")))?;
            let listener = node
                .service_builder(&event)
                .event()
                .open()
                .map_err(|e| ierr("event service")(format!("{e:?}")))?
                .listener_builder()
                .create()
                .map_err(|e| ierr("listener")(format!("{e:?}")))?;
            Ok(IceSub {
                subscriber,
                listener,
                _node: node,
            })
        }
    }

    impl FanSub for IceSub {
        fn recv(&mut self) -> Result<[u8; SIZE]> {
            loop {
                match self.subscriber.receive() {
                    Ok(Some(sample)) => {
                        let p = sample.payload();
                        let mut m = [0u8; SIZE];
                        let got = p
                            .get(..SIZE)
                            .ok_or_else(|| BenchError("short message".into()))?;
                        m.copy_from_slice(got);
                        return Ok(m);
                    }
                    Ok(None) => {
                        self.listener
                            .blocking_wait(|_| {})
                            .map_err(|e| ierr("wait")(format!("{e:?}")))?;
                    }
                    Err(e) => return Err(ierr("receive")(format!("{e:?}"))),
                }
            }
        }
    }
}
