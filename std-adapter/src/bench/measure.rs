//! The measurement loops, written once against [`Link`]: the leader's round-trip and
//! throughput runs, and the peer's echo/count loop.
//!
//! Round trip (RTT): the leader reads the monotonic clock ([`Instant`], `CLOCK_MONOTONIC` via
//! the vDSO), sends message `i`, waits for the peer to send it back, reads the clock again and
//! stores the difference in nanoseconds; one sample per round trip, after `warmup` unrecorded
//! round trips. So one RTT is one message each way, each written once by its sender.
//!
//! Throughput: after a warm-up burst, the leader reads the clock, sends `count` messages back to
//! back, then [`SYNC`]; the peer answers the sync with the number of data messages it received
//! since the previous sync, and the leader reads the clock when that answer arrives. The rate is
//! `count / elapsed`, and a count that differs from what was sent is an error (a transport that
//! drops messages under load does not get a rate).

use std::time::Instant;

use crate::bench::link::{BYE, BenchError, Kind, Link, PROBE, Result, SYNC};

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
/// times in nanoseconds, in the order measured.
pub fn rtt(link: &mut dyn Link, warmup: u64, iters: u64) -> Result<Vec<u64>> {
    let mut samples = Vec::with_capacity(iters as usize);
    for seq in 0..warmup + iters {
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
            samples.push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        }
    }
    Ok(samples)
}

/// Leader: sends `count` messages and waits for the peer's count; returns messages per second.
fn burst(link: &mut dyn Link, first: u64, count: u64) -> Result<f64> {
    let start = Instant::now();
    for seq in first..first + count {
        link.send(seq)?;
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

/// Leader: a warm-up burst of `warmup` messages, then a measured burst of `count`.
pub fn throughput(link: &mut dyn Link, warmup: u64, count: u64) -> Result<f64> {
    if warmup > 0 {
        burst(link, 0, warmup)?;
    }
    burst(link, warmup, count)
}

/// Leader: tells the peer the run is over.
pub fn finish(link: &mut dyn Link) -> Result<()> {
    link.send(BYE)?;
    link.flush()
}

/// Peer: answers probes, echoes (RTT) or counts (throughput) until [`BYE`].
pub fn serve(link: &mut dyn Link, kind: Kind) -> Result<()> {
    let mut received: u64 = 0;
    let mut expected: u64 = 0;
    loop {
        let seq = link.recv()?;
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
            }
            _ if kind == Kind::Rtt => {
                link.send(seq)?;
                link.flush()?;
            }
            _ => {
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
