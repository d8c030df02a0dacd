//! `inproc://` between two threads: PAIR and REQ/REP round trips (p50, p99) and PUSH/PULL
//! throughput, with borrowed sends (`send_bytes`: one copy) and owned ones
//! (`send_bytes_owned`: the receiver gets the sender's buffer), for the figures in
//! `docs/zmtp.md` ("`inproc://NAME`"). Run it in release mode, a few times:
//!
//! ```text
//! cargo run --release -p ringwire-examples --bin inproc-bench [-- ROUND_TRIPS MESSAGES SIZE [borrowed|owned]]
//! ```
#![forbid(unsafe_code)]

use std::thread;
use std::time::{Duration, Instant};

use ringwire::zmtp::{Pair, Pull, Push, Rep, Req};

const T: Duration = Duration::from_secs(30);

/// p50 and p99 of `samples` (ns), in µs.
fn percentiles(mut samples: Vec<u64>) -> (f64, f64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    (at(0.5), at(0.99))
}

/// Times `n` calls of `round_trip` after `n / 10` unmeasured ones; p50 and p99 in µs.
fn time_round_trips(n: usize, mut round_trip: impl FnMut()) -> (f64, f64) {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        round_trip();
        if i >= n / 10 {
            samples.push(t.elapsed().as_nanos() as u64);
        }
    }
    percentiles(samples)
}

/// PAIR round trips; `owned`: each side sends back the buffer it received (it goes
/// round and round, never copied), else a borrowed send copies it each way.
fn pair_round_trips(n: usize, size: usize, owned: bool) -> (f64, f64) {
    let mut a = Pair::bind("inproc://bench-pair").expect("bind");
    let echo = thread::spawn(move || {
        for _ in 0..n + n / 10 {
            let m = a.recv_bytes_timeout(T).expect("recv");
            if owned {
                a.send_bytes_owned(m).expect("send");
            } else {
                a.send_bytes(&m).expect("send");
            }
        }
    });
    let mut b = Pair::connect("inproc://bench-pair").expect("connect");
    let mut msg = vec![7u8; size];
    let times = time_round_trips(n, || {
        if owned {
            b.send_bytes_owned(std::mem::take(&mut msg)).expect("send");
            msg = b.recv_bytes_timeout(T).expect("recv");
        } else {
            b.send_bytes(&msg).expect("send");
            assert_eq!(b.recv_bytes_timeout(T).expect("recv").len(), size);
        }
        assert_eq!(msg.len(), size);
    });
    echo.join().expect("echo thread");
    times
}

fn req_rep_round_trips(n: usize, size: usize) -> (f64, f64) {
    let mut rep = Rep::bind("inproc://bench-rep").expect("bind");
    let server = thread::spawn(move || {
        for _ in 0..n + n / 10 {
            let m = rep.recv_bytes_timeout(T).expect("recv");
            rep.send_bytes(&m).expect("send");
        }
    });
    let mut req = Req::connect("inproc://bench-rep").expect("connect");
    let msg = vec![7u8; size];
    let times = time_round_trips(n, || {
        req.send_bytes(&msg).expect("send");
        assert_eq!(req.recv_bytes_timeout(T).expect("recv").len(), size);
    });
    server.join().expect("server thread");
    times
}

/// Messages per second from a PUSH to a PULL thread (the clock stops when the last one is
/// received). `owned`: each message is a new buffer, filled and given up
/// (`send_bytes_owned`: the receiver gets it), else one filled buffer is sent borrowed
/// again and again (`send_bytes`: copied into a new one).
fn push_pull_throughput(n: usize, size: usize, owned: bool) -> f64 {
    let mut pull = Pull::bind("inproc://bench-pipe").expect("bind");
    let mut push = Push::connect("inproc://bench-pipe").expect("connect");
    push.send_bytes(&vec![0u8; size]).expect("warm-up send");
    pull.recv_bytes_timeout(T).expect("warm-up recv");
    let sender = thread::spawn(move || {
        let msg = vec![7u8; size];
        for _ in 0..n {
            if owned {
                push.send_bytes_owned(vec![7u8; size]).expect("send");
            } else {
                push.send_bytes(&msg).expect("send");
            }
        }
        push.flush().expect("flush");
        push
    });
    let t = Instant::now();
    for _ in 0..n {
        let m = pull.recv_bytes_timeout(T).expect("recv");
        assert_eq!(m.len(), size);
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    drop(sender.join().expect("sender thread"));
    rate
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // A last word `borrowed` or `owned` runs only those sends (default: both).
    let only = match args.last().map(String::as_str) {
        Some(w @ ("borrowed" | "owned")) => {
            let w = w == "owned";
            args.pop();
            Some(w)
        }
        _ => None,
    };
    let args: Vec<usize> = args
        .iter()
        .map(|a| a.parse().expect("numbers: ROUND_TRIPS MESSAGES SIZE"))
        .collect();
    let round_trips = args.first().copied().unwrap_or(20_000);
    let messages = args.get(1).copied().unwrap_or(500_000);
    let size = args.get(2).copied().unwrap_or(64);
    if only != Some(true) {
        let (p50, p99) = pair_round_trips(round_trips, size, false);
        println!("inproc PAIR round trip, {size} B: p50 {p50:.1} us, p99 {p99:.1} us");
        let (p50, p99) = req_rep_round_trips(round_trips, size);
        println!("inproc REQ/REP round trip, {size} B: p50 {p50:.1} us, p99 {p99:.1} us");
        let rate = push_pull_throughput(messages, size, false);
        println!("inproc PUSH/PULL, {size} B: {:.0} k msg/s", rate / 1000.0);
    }
    if only != Some(false) {
        let (p50, p99) = pair_round_trips(round_trips, size, true);
        println!("inproc PAIR round trip, owned, {size} B: p50 {p50:.1} us, p99 {p99:.1} us");
        let rate = push_pull_throughput(messages, size, true);
        println!(
            "inproc PUSH/PULL, owned, {size} B: {:.0} k msg/s",
            rate / 1000.0
        );
    }
}
