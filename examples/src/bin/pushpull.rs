//! PUSH/PULL: a work queue spread over competing worker processes (seed shm-comm's `jobs`).
//! Every job is processed exactly once; the workers report what they did and the demo checks
//! that the jobs add up.
//!
//! ```text
//! cargo run -p ringwire-examples --bin pushpull                       # 1 pusher, 3 workers, shm
//! ```
#![forbid(unsafe_code)]

use std::process::Stdio;
use std::time::Duration;

use ringwire::{Error, Puller, Pusher};
use ringwire_examples::unique_name;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Job {
    Square(u64),
    /// Tells one worker to stop.
    Stop,
}

const JOBS: u64 = 10_000;
const WORKERS: usize = 3;

fn worker(endpoint: &str) -> ringwire::Result<()> {
    let mut puller = loop {
        match Puller::connect(endpoint) {
            Ok(p) => break p,
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e),
        }
    };
    let (mut done, mut sum) = (0u64, 0u64);
    while let Job::Square(n) = puller.recv_timeout(Duration::from_secs(30))? {
        done += 1;
        sum += n * n;
    }
    // One line on stdout: how many jobs, and the sum of their results.
    println!("{done} {sum}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        let endpoint = args.get(1).ok_or("worker needs an endpoint")?;
        return Ok(worker(endpoint)?);
    }
    let endpoint = args
        .first()
        .cloned()
        .unwrap_or_else(|| format!("shm://{}", unique_name("example.jobs")));
    let mut pusher = Pusher::bind(&endpoint)?;
    let workers = (0..WORKERS)
        .map(|_| {
            std::process::Command::new(std::env::current_exe()?)
                .args(["worker", &endpoint])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for n in 0..JOBS {
        pusher.send(&Job::Square(n))?;
    }
    for _ in 0..WORKERS {
        pusher.send(&Job::Stop)?;
    }
    let (mut jobs, mut sum) = (0u64, 0u64);
    for (i, child) in workers.into_iter().enumerate() {
        let out = child.wait_with_output()?;
        let line = String::from_utf8_lossy(&out.stdout);
        let mut fields = line.split_whitespace().map(str::parse::<u64>);
        let (Some(Ok(d)), Some(Ok(s))) = (fields.next(), fields.next()) else {
            return Err(format!("worker {i} failed: {line:?}, {}", out.status).into());
        };
        println!("worker {i}: {d} jobs");
        jobs += d;
        sum += s;
    }
    let expected: u64 = (0..JOBS).map(|n| n * n).sum();
    println!("{jobs} jobs processed, sum of squares {sum} (expected {expected})");
    if jobs != JOBS || sum != expected {
        return Err("jobs were lost or processed twice".into());
    }
    Ok(())
}
