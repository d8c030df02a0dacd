//! The slow-subscriber section of `ringwire bench`'s report: shm PUB/SUB with a subscriber
//! that cannot keep up, and the lossless publisher's cost, run in one process with the
//! cases of [`overload`].
//!
//! - **Overload**: the publisher sends [`OVERLOAD_RATIO`] times as fast as the subscriber
//!   drains (one message every [`OVERLOAD_PERIOD`], the subscriber spending twice that on each)
//!   over [`OVERLOAD_SLOTS`] slots, with the default [`LagPolicy::HalfRing`]. Reported: the
//!   fraction of messages delivered and the loss counter (`delivered + lost == sent`). At 2x
//!   a subscriber that runs at the same time as its publisher delivers about half.
//! - **Lossless**: a [lossless](crate::shm::ShmOptions::lossless) publisher sends 8-byte
//!   messages as fast as it can over [`LOSSLESS_SLOTS`] slots to 1 and to 4 subscribers in the
//!   default wait mode, each of which must receive every message; reported in messages per
//!   second.
//!
//! The publisher runs on the leader's CPU and the subscribers on the peer's (as the two
//! processes of the other cases are pinned). With fewer free cores than threads (4 subscribers
//! on one core), the threads take turns and the figures measure the scheduler as much as the
//! ring; see `docs/benchmarks.md`.

use std::time::Duration;

use crate::bench::link::{BenchError, Result, fail};
use crate::bench::measure::{self, Stop};
use crate::bench::overload::{self, Overload};
use crate::bench::run::pin_to;
use crate::bench::stats;
use crate::shm::{LagPolicy, WaitMode};

/// How much faster the overload case's publisher sends than its subscriber drains.
pub const OVERLOAD_RATIO: u32 = 2;
/// The overload case's publisher sends one message per period.
pub const OVERLOAD_PERIOD: Duration = Duration::from_micros(20);
/// Slots of the overload case's ring.
pub const OVERLOAD_SLOTS: usize = 256;
/// Slots of the lossless case's ring.
pub const LOSSLESS_SLOTS: usize = 1024;
/// Subscriber counts of the lossless case.
pub const LOSSLESS_SUBSCRIBERS: [usize; 2] = [1, 4];

/// How the section runs.
#[derive(Clone, Debug)]
pub struct SlowOptions {
    /// Messages per run (the overload run takes `msgs` × [`OVERLOAD_PERIOD`]).
    pub msgs: u64,
    /// Runs of each case; the report shows the median.
    pub repeat: usize,
    /// CPU of the publisher (the calling thread) and of the subscribers' threads (`None`:
    /// not pinned). [`Setup::cpus`](crate::bench::Setup::cpus) of the run before puts them
    /// where that run's leader and peer were.
    pub cpus: (Option<usize>, Option<usize>),
    /// Checked between runs (`None`: never); once it returns `true` the section ends with
    /// [`measure::stopped`]. A run in progress finishes first (under a second with the
    /// `ringwire bench` defaults).
    pub stop: Option<Stop>,
}

/// What the section measured (medians over the repeats).
#[derive(Clone, Debug, PartialEq)]
pub struct SlowReport {
    /// Messages per run.
    pub msgs: u64,
    /// Runs the medians are taken over.
    pub runs: usize,
    /// CPU of the publisher and of the subscribers, if pinned.
    pub cpus: (Option<usize>, Option<usize>),
    /// The overload run with the median delivered share.
    pub overload: Overload,
    /// (subscribers, messages per second) of the lossless runs.
    pub lossless: Vec<(usize, f64)>,
}

impl SlowReport {
    /// The share of messages the overloaded subscriber delivered (0 to 1).
    pub fn delivered_fraction(&self) -> f64 {
        self.overload.delivered as f64 / self.overload.sent.max(1) as f64
    }

    /// The section as text: a comment line and one line per case.
    pub fn table(&self) -> String {
        let cpu = |c: Option<usize>| c.map_or_else(|| "any".to_string(), |c| c.to_string());
        let mut out = format!(
            "# shm PUB/SUB slow subscribers (one process): {} msgs per run; median of {} run(s); \
             publisher cpu {}, subscribers cpu {}\n",
            self.msgs,
            self.runs,
            cpu(self.cpus.0),
            cpu(self.cpus.1)
        );
        let o = &self.overload;
        out.push_str(&format!(
            "overload {OVERLOAD_RATIO}x, lag_policy HalfRing:  delivered {:.2} ({} of {}), \
             lost {}\n",
            self.delivered_fraction(),
            o.delivered,
            o.sent,
            o.lost
        ));
        for &(n, rate) in &self.lossless {
            let who = if n == 1 { "subscriber" } else { "subscribers" };
            out.push_str(&format!(
                "lossless, {n} {who}:{:pad$}{} msg/s\n",
                "",
                stats::format_rate(rate),
                pad = 14 - who.len()
            ));
        }
        out
    }

    /// The section as a JSON object (the report's `"slow_subscribers"`).
    pub fn json(&self) -> String {
        let o = &self.overload;
        let lossless: Vec<String> = self
            .lossless
            .iter()
            .map(|(n, rate)| format!("{{\"subscribers\": {n}, \"msgs_per_sec\": {rate:.0}}}"))
            .collect();
        format!(
            "{{\"msgs\": {}, \"runs\": {}, \"overload\": {{\"ratio\": {OVERLOAD_RATIO}, \
             \"lag_policy\": \"HalfRing\", \"sent\": {}, \"delivered\": {}, \"lost\": {}, \
             \"delivered_fraction\": {:.4}}}, \"lossless\": [{}]}}",
            self.msgs,
            self.runs,
            o.sent,
            o.delivered,
            o.lost,
            self.delivered_fraction(),
            lossless.join(", ")
        )
    }
}

/// Runs the section: `repeat` rounds of the overload case and the lossless case with each of
/// [`LOSSLESS_SUBSCRIBERS`], pinning the calling thread (the publisher) per
/// [`SlowOptions::cpus`].
pub fn run(o: &SlowOptions) -> Result<SlowReport> {
    let (publisher_cpu, subscriber_cpu) = o.cpus;
    pin_to(publisher_cpu)?;
    let stop = o.stop.unwrap_or(measure::never);
    let msgs = o.msgs.max(1);
    let repeat = o.repeat.max(1);
    let mut overloads = Vec::new();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); LOSSLESS_SUBSCRIBERS.len()];
    for round in 1..=repeat {
        if stop() {
            return Err(measure::stopped());
        }
        let r = overload::overload_on(
            msgs,
            OVERLOAD_SLOTS,
            OVERLOAD_PERIOD,
            OVERLOAD_RATIO,
            LagPolicy::HalfRing,
            subscriber_cpu,
        )
        .map_err(|e| fail("overload", e))?;
        eprintln!("[{round}/{repeat}] shm PUB/SUB overload {OVERLOAD_RATIO}x: {r}");
        overloads.push(r);
        for (i, &n) in LOSSLESS_SUBSCRIBERS.iter().enumerate() {
            if stop() {
                return Err(measure::stopped());
            }
            let rate =
                overload::lossless_on(msgs, LOSSLESS_SLOTS, n, WaitMode::default(), subscriber_cpu)
                    .map_err(|e| fail("lossless", e))?;
            eprintln!(
                "[{round}/{repeat}] shm PUB/SUB lossless, {n} subscriber(s): {} msg/s",
                stats::format_rate(rate)
            );
            rates[i].push(rate);
        }
    }
    overloads.sort_by_key(|r| r.delivered);
    let overload = overloads[overloads.len() / 2];
    let lossless = LOSSLESS_SUBSCRIBERS
        .iter()
        .zip(&rates)
        .map(|(&n, r)| {
            stats::median(r)
                .map(|m| (n, m))
                .ok_or_else(|| BenchError("lossless: no run".into()))
        })
        .collect::<Result<_>>()?;
    Ok(SlowReport {
        msgs,
        runs: repeat,
        cpus: (publisher_cpu, subscriber_cpu),
        overload,
        lossless,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SlowReport {
        SlowReport {
            msgs: 1000,
            runs: 1,
            cpus: (Some(0), Some(1)),
            overload: Overload {
                sent: 1000,
                delivered: 480,
                lost: 520,
            },
            lossless: vec![(1, 2.5e6), (4, 4.0e5)],
        }
    }

    #[test]
    fn section_formats() {
        let r = sample();
        assert_eq!(r.delivered_fraction(), 0.48);
        let t = r.table();
        assert!(t.starts_with("# shm PUB/SUB slow subscribers"), "{t}");
        assert!(
            t.contains("overload 2x, lag_policy HalfRing:  delivered 0.48 (480 of 1000), lost 520"),
            "{t}"
        );
        assert!(t.contains("lossless, 1 subscriber:    2.50 M msg/s"), "{t}");
        assert!(t.contains("lossless, 4 subscribers:   400 k msg/s"), "{t}");
        let j = r.json();
        assert!(j.contains("\"delivered_fraction\": 0.4800"), "{j}");
        assert!(
            j.contains("{\"subscribers\": 4, \"msgs_per_sec\": 400000}"),
            "{j}"
        );
    }
}
