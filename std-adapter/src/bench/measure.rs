//! The measurement loops, written once against [`Link`]: the leader's round-trip and
//! throughput runs, and the peer's echo/count loop.
//!
//! Round trip (RTT): the leader reads the monotonic clock ([`Instant`], `CLOCK_MONOTONIC` via
//! the vDSO), sends message `i`, waits for the peer to send it back, reads the clock again and
//! stores the difference in nanoseconds; one sample per round trip, after `warmup` unrecorded
//! round trips. So one RTT is one message each way, each written once by its sender.
//!
//! Each round trip's time is recorded after the clock is read the second time (into a
//! [`Histogram`], or a vector for [`rtt`]), so recording is not part of the measured time. In
//! the low-rate mode (`interval`) the leader sleeps after each round trip until the next one is
//! due (one every `interval`, as a control loop runs; a late round trip is not made up for), so
//! caches and CPUs go cold between messages.
//!
//! Throughput: after a warm-up burst, the leader reads the clock, sends `count` messages back to
//! back, then [`SYNC`]; the peer answers the sync with the number of data messages it received
//! since the previous sync, and the leader reads the clock when that answer arrives. The rate is
//! `count / elapsed`, and a count that differs from what was sent is an error (a transport that
//! drops messages under load does not get a rate).
//!
//! Message age ([`throughput_aged`]): over a link that [`stamps`](Link::stamps), with messages of
//! at least 16 bytes, every [`AGE_EVERY`]th message carries its send time
//! ([`clock::now_ns`]) after the sequence number; the peer records `now - sent` into a
//! histogram when it receives it, and after the measured burst the leader asks for the
//! summary ([`AGES`]). Sampling keeps the clock reads (about 20 ns each with the vDSO) off most
//! messages, so the rate is not the clock's. Under a full-speed burst the age is mostly the time
//! a message waits in the queue behind the ones sent before it.

use std::thread;
use std::time::{Duration, Instant};

use crate::bench::clock;
use crate::bench::hist::Histogram;
use crate::bench::link::{AGE_FIELDS, AGES, BYE, BenchError, Kind, Link, PROBE, Result, SYNC};
use crate::bench::stats::Latency;

/// One in this many throughput messages carries a send timestamp (when the link
/// [`stamps`](Link::stamps) and messages have room).
pub const AGE_EVERY: u64 = 16;

/// A check the leader's loops call between messages: `true` ends the run early (e.g. a
/// signal handler's flag).
pub type Stop = fn() -> bool;

/// A [`Stop`] that never stops.
pub fn never() -> bool {
    false
}

/// Messages of a throughput burst between two [`Stop`] checks.
pub const STOP_EVERY: u64 = 256;

/// The error a loop ends with when its [`Stop`] check said so.
pub fn stopped() -> BenchError {
    BenchError("stopped".into())
}

/// Receives the next message that is not a surplus handshake echo.
fn recv_data(link: &mut dyn Link) -> Result<u64> {
    loop {
        let seq = link.recv()?;
        if seq != PROBE {
            return Ok(seq);
        }
    }
}

/// Leader: `warmup` unrecorded round trips, then `iters` recorded ones. Returns the round-trip
/// times in nanoseconds, in the order measured; [`stopped`] once `stop` says so.
pub fn rtt(link: &mut dyn Link, warmup: u64, iters: u64, stop: Stop) -> Result<Vec<u64>> {
    let mut samples = Vec::with_capacity(iters as usize);
    rtt_each(link, warmup, iters, None, stop, |ns| samples.push(ns))?;
    Ok(samples)
}

/// Leader: [`rtt`] into a [`Histogram`]; with `interval`, one round trip every `interval`
/// (the leader sleeps in between; warm-up round trips too).
pub fn rtt_histogram(
    link: &mut dyn Link,
    warmup: u64,
    iters: u64,
    interval: Option<Duration>,
    stop: Stop,
) -> Result<Histogram> {
    let mut h = Histogram::new();
    rtt_each(link, warmup, iters, interval, stop, |ns| h.record(ns))?;
    Ok(h)
}

/// The round-trip loop: `record` gets each recorded round trip's nanoseconds after the clock
/// was read.
fn rtt_each(
    link: &mut dyn Link,
    warmup: u64,
    iters: u64,
    interval: Option<Duration>,
    stop: Stop,
    mut record: impl FnMut(u64),
) -> Result<()> {
    let mut due = Instant::now();
    for seq in 0..warmup + iters {
        if stop() {
            return Err(stopped());
        }
        let start = Instant::now();
        link.send(seq)?;
        link.flush()?;
        let echoed = recv_data(link)?;
        let elapsed = start.elapsed();
        if echoed != seq {
            return Err(BenchError(format!(
                "round trip {seq}: the peer echoed {echoed}"
            )));
        }
        if seq >= warmup {
            record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        }
        if let Some(interval) = interval {
            due += interval;
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            } else {
                // Late: the next one is due one interval from now, not at once.
                due = now;
            }
        }
    }
    Ok(())
}

/// Leader: sends `count` messages and waits for the peer's count; returns messages per second.
/// `stamped`: every [`AGE_EVERY`]th message carries the send time (the others 0).
fn burst(link: &mut dyn Link, first: u64, count: u64, stop: Stop, stamped: bool) -> Result<f64> {
    let start = Instant::now();
    for seq in first..first + count {
        if seq.is_multiple_of(STOP_EVERY) && stop() {
            return Err(stopped());
        }
        if stamped {
            let sent = if seq.is_multiple_of(AGE_EVERY) {
                clock::now_ns()
            } else {
                0
            };
            link.send_stamped(seq, sent)?;
        } else {
            link.send(seq)?;
        }
    }
    link.send(SYNC)?;
    link.flush()?;
    let received = recv_data(link)?;
    let elapsed = start.elapsed();
    if received != count {
        return Err(BenchError(format!(
            "throughput: sent {count} messages, the peer received {received}"
        )));
    }
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// Leader: a warm-up burst of `warmup` messages, then a measured burst of `count`;
/// [`stopped`] once `stop` says so.
pub fn throughput(link: &mut dyn Link, warmup: u64, count: u64, stop: Stop) -> Result<f64> {
    if warmup > 0 {
        burst(link, 0, warmup, stop, false)?;
    }
    burst(link, warmup, count, stop, false)
}

/// Leader: [`throughput`], and the age of the measured burst's messages at the peer if the
/// link [`stamps`](Link::stamps) and `size` (the run's message size) leaves room for the
/// timestamp (at least 16 bytes) and the clock is shared between processes
/// ([`clock::SHARED`]); `None` otherwise.
pub fn throughput_aged(
    link: &mut dyn Link,
    size: usize,
    warmup: u64,
    count: u64,
    stop: Stop,
) -> Result<(f64, Option<Latency>)> {
    let stamped = link.stamps() && size >= 16 && clock::SHARED;
    if warmup > 0 {
        burst(link, 0, warmup, stop, stamped)?;
    }
    let rate = burst(link, warmup, count, stop, stamped)?;
    if !stamped {
        return Ok((rate, None));
    }
    link.send(AGES)?;
    link.flush()?;
    let mut v = [0u64; AGE_FIELDS];
    for value in &mut v {
        *value = recv_data(link)?;
    }
    let [samples, min, mean, p50, p90, p99, p999, max] = v;
    let age = (samples > 0).then_some(Latency {
        samples,
        min,
        mean,
        p50,
        p90,
        p99,
        p999,
        max,
    });
    Ok((rate, age))
}

/// Leader: tells the peer the run is over.
pub fn finish(link: &mut dyn Link) -> Result<()> {
    link.send(BYE)?;
    link.flush()
}

/// Peer: answers probes, echoes (RTT) or counts (throughput) until [`BYE`]; records the age of
/// every throughput message that carries a timestamp and answers [`AGES`] with the summary of
/// the burst before the last [`SYNC`].
pub fn serve(link: &mut dyn Link, kind: Kind) -> Result<()> {
    let mut received: u64 = 0;
    let mut expected: u64 = 0;
    // This burst's ages and the previous (completed) burst's.
    let (mut ages, mut last) = (Histogram::new(), Histogram::new());
    loop {
        let (seq, sent) = match kind {
            Kind::Rtt => (link.recv()?, 0),
            Kind::Throughput => link.recv_stamped()?,
        };
        match seq {
            BYE => return Ok(()),
            PROBE => {
                link.send(PROBE)?;
                link.flush()?;
            }
            SYNC => {
                link.send(received)?;
                link.flush()?;
                received = 0;
                std::mem::swap(&mut ages, &mut last);
                ages.clear();
            }
            AGES => {
                let l = last.latency().unwrap_or_default();
                for v in [l.samples, l.min, l.mean, l.p50, l.p90, l.p99, l.p999, l.max] {
                    link.send(v)?;
                }
                link.flush()?;
            }
            _ if kind == Kind::Rtt => {
                link.send(seq)?;
                link.flush()?;
            }
            _ => {
                if sent != 0 {
                    ages.record(clock::now_ns().saturating_sub(sent));
                }
                if seq != expected {
                    return Err(BenchError(format!(
                        "throughput: expected message {expected}, got {seq}"
                    )));
                }
                expected += 1;
                received += 1;
            }
        }
    }
}
