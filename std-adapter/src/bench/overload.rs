//! Slow-subscriber cases of shm PUB/SUB, in one process (a publisher thread and subscriber
//! threads on one segment):
//!
//! - [`overload`]: the publisher sends `ratio` times as fast as the subscriber drains (each
//!   paced by a busy-wait, so neither sleeps); reports the share of messages the subscriber
//!   delivered and the exact loss count. With the default [`LagPolicy::HalfRing`] a subscriber
//!   at 2x overload delivers about half; [`LagPolicy::Oldest`] (the old behaviour) a few
//!   percent.
//! - [`lossless`]: a [lossless](crate::shm::ShmOptions::lossless) publisher and `n` subscribers
//!   draining as fast as they can; reports messages per second (every subscriber gets every
//!   message).
//!
//! Figures depend on the machine's load (both cases spin on every core they use). On a machine
//! with fewer free cores than threads, publisher and subscriber take turns instead of running
//! at once, and the overload case measures the scheduler: the publisher fills the ring while the
//! subscriber is descheduled, then the subscriber drains what is held while the publisher
//! waits, which favours [`LagPolicy::Oldest`] (it keeps the whole ring to read). The
//! step-by-step core test (`broadcast_lagging_reader_at_2x_overload_delivers_about_half`)
//! is the reference for truly concurrent overload.

use std::time::{Duration, Instant};

use crate::shm::{LagPolicy, Publisher, ShmOptions, Subscriber, WaitMode};

/// What an [`overload`] run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overload {
    /// Messages published.
    pub sent: u64,
    /// Messages the subscriber received.
    pub delivered: u64,
    /// Messages it lost (counted by the ring; `delivered + lost == sent`).
    pub lost: u64,
}

impl Overload {
    /// Delivered messages in percent of those sent.
    pub fn delivered_percent(&self) -> f64 {
        self.delivered as f64 * 100.0 / self.sent.max(1) as f64
    }
}

impl std::fmt::Display for Overload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sent {} delivered {} ({:.1}%) lost {}",
            self.sent,
            self.delivered,
            self.delivered_percent(),
            self.lost
        )
    }
}

fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn endpoint(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("shm://bench-{tag}-{}-{n}", std::process::id())
}

/// Publishes `sent` messages over `slots` slots, one every `period`, to a subscriber that
/// spends `period * ratio` on each message it receives, resuming per `policy` after a lag.
pub fn overload(
    sent: u64,
    slots: usize,
    period: Duration,
    ratio: u32,
    policy: LagPolicy,
) -> crate::Result<Overload> {
    overload_on(sent, slots, period, ratio, policy, None)
}

/// Runs `f` on a new thread pinned to `cpu` (where it can be pinned: the figure is only
/// less meaningful where it cannot).
fn spawn_on<T: Send + 'static>(
    cpu: Option<usize>,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        if let Err(e) = crate::bench::run::pin_to(cpu) {
            log::debug!("bench: cannot pin a subscriber thread: {e}");
        }
        f()
    })
}

/// [`overload`] with the subscriber thread on `reader_cpu` (the publisher stays on the
/// calling thread).
pub(crate) fn overload_on(
    sent: u64,
    slots: usize,
    period: Duration,
    ratio: u32,
    policy: LagPolicy,
    reader_cpu: Option<usize>,
) -> crate::Result<Overload> {
    let ep = endpoint("overload");
    let options = ShmOptions::new()
        .slot_count(slots)
        .slot_size(64)
        .wait(WaitMode::BusyPoll)
        .lag_policy(policy);
    let mut publisher = Publisher::builder().options(options.clone()).bind(&ep)?;
    let mut subscriber = Subscriber::builder().options(options).connect(&ep)?;
    subscriber.subscribe(b"")?;
    let reader = spawn_on(reader_cpu, move || -> crate::Result<(u64, u64)> {
        let mut delivered = 0u64;
        loop {
            let seq: u64 = subscriber.recv_timeout(Duration::from_secs(10))?;
            delivered += 1;
            if seq + 1 == sent {
                return Ok((delivered, subscriber.lost()));
            }
            spin_for(period * ratio);
        }
    });
    for seq in 0..sent {
        publisher.send(&seq)?;
        spin_for(period);
    }
    // The last message is always delivered: once the publisher stops, the ring keeps it and
    // every lag policy resumes at or before it.
    let (delivered, lost) = reader
        .join()
        .map_err(|_| crate::Error::State("overload reader panicked"))??;
    Ok(Overload {
        sent,
        delivered,
        lost,
    })
}

/// Messages per second of a lossless publisher sending `sent` messages of 8 bytes over
/// `slots` slots to `subscribers` subscriber threads (each receives all of them).
pub fn lossless(sent: u64, slots: usize, subscribers: usize) -> crate::Result<f64> {
    lossless_on(sent, slots, subscribers, WaitMode::BusyPoll, None)
}

/// [`lossless`] with the subscribers receiving in `wait` mode, their threads on `reader_cpu`
/// (the publisher stays on the calling thread).
pub(crate) fn lossless_on(
    sent: u64,
    slots: usize,
    subscribers: usize,
    wait: WaitMode,
    reader_cpu: Option<usize>,
) -> crate::Result<f64> {
    let ep = endpoint("lossless");
    let options = ShmOptions::new()
        .slot_count(slots)
        .slot_size(64)
        .wait(wait)
        .lossless(true);
    let mut publisher = Publisher::builder().options(options.clone()).bind(&ep)?;
    let readers: Vec<_> = (0..subscribers)
        .map(|_| {
            let mut s = Subscriber::builder()
                .options(options.clone())
                .connect(&ep)?;
            s.subscribe(b"")?;
            Ok(spawn_on(reader_cpu, move || -> crate::Result<u64> {
                for want in 0..sent {
                    let seq: u64 = s.recv_timeout(Duration::from_secs(30))?;
                    if seq != want {
                        return Err(crate::Error::State("lossless subscriber missed a message"));
                    }
                }
                Ok(s.lost())
            }))
        })
        .collect::<crate::Result<_>>()?;
    publisher.wait_for_subscribers(subscribers, Duration::from_secs(10))?;
    let start = Instant::now();
    for seq in 0..sent {
        publisher.send(&seq)?;
    }
    for r in readers {
        let lost = r
            .join()
            .map_err(|_| crate::Error::State("lossless reader panicked"))??;
        if lost != 0 {
            return Err(crate::Error::State("lossless subscriber lost messages"));
        }
    }
    Ok(sent as f64 / start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_and_lossless_cases_run_and_account_for_every_message() {
        let r = overload(2_000, 64, Duration::from_micros(2), 2, LagPolicy::HalfRing).unwrap();
        assert_eq!(r.delivered + r.lost, r.sent, "{r}");
        assert!(lossless(2_000, 64, 2).unwrap() > 0.0);
    }
}
