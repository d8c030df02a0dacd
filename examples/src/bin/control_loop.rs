//! A robot control loop under the process manager: a 1 kHz `driver` publishes joint states
//! over shm and applies the torques a `controller` sends back; a `logger` records the states;
//! a `flood` process publishes 64 KiB messages on another topic as fast as it can. At the end
//! the driver reports the loop's period jitter (|period − 1 ms|, p50/p99/max) and the age of
//! each command when the loop used it (publish → use, the seed's `time_to_real_time`), and the
//! controller the age of each state when it received it.
//!
//! ```text
//! cargo run --release -p ringwire-examples --bin control-loop                # 5 s, with flood
//! cargo run --release -p ringwire-examples --bin control-loop -- --seconds 2 --no-flood
//! ringwire launch examples/launch/control_loop.toml                           # the same, from a launch file
//! control-loop driver BASE SECONDS | controller BASE | logger BASE | flood BASE  # one node
//! ```
//!
//! Without a node name it runs every node as a function of this binary under a
//! `ringwire::process::ProcessManager`: the driver first, the others once its segments exist;
//! the controller and the driver are watched for liveness (a quiet topic fails the run).
//! Ages use the wall clock (both processes on one machine read the same clock).
#![forbid(unsafe_code)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringwire::process::{OnFailure, ProcessManager, ProcessSpec, Ready};
use ringwire::shm::{Publisher, Subscriber};
use ringwire::{Endpoint, Error};
use serde::{Deserialize, Serialize};

const JOINTS: usize = 6;
const PERIOD: Duration = Duration::from_millis(1);

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default)]
struct JointState {
    seq: u64,
    stamp_ns: u64,
    position: [f64; JOINTS],
    velocity: [f64; JOINTS],
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default)]
struct Command {
    seq: u64,
    stamp_ns: u64,
    torque: [f64; JOINTS],
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn ep(base: &str, topic: &str) -> String {
    format!("shm://{base}-{topic}")
}

/// Arguments after the node name (`control-loop NODE ...` or `--ringwire-role=NODE ...`).
fn node_args() -> Vec<String> {
    std::env::args().skip(2).collect()
}

fn base_arg() -> String {
    node_args().first().cloned().unwrap_or_else(|| {
        eprintln!("usage: control-loop NODE BASE [SECONDS]");
        std::process::exit(2)
    })
}

/// p50, p99 and max of `samples` in microseconds.
fn percentiles(samples: &mut [u64]) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() - 1) as f64 * q).round() as usize;
        samples[i] as f64 / 1000.0
    };
    (
        at(0.5),
        at(0.99),
        samples[samples.len() - 1] as f64 / 1000.0,
    )
}

/// The 1 kHz loop: publish the joint state, use the newest command, integrate.
fn driver() {
    let base = base_arg();
    let seconds: u64 = node_args().get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    if let Err(e) = run_driver(&base, seconds) {
        eprintln!("driver: {e}");
        std::process::exit(1);
    }
}

fn run_driver(base: &str, seconds: u64) -> ringwire::Result<()> {
    // The driver creates both segments, so the others can connect in any order.
    let mut commands = Subscriber::bind(&ep(base, "commands"))?;
    commands.subscribe(b"")?;
    let mut joints = Publisher::bind(&ep(base, "joints"))?;
    let ticks = seconds * 1000;
    let mut jitter_ns = Vec::with_capacity(ticks as usize);
    let mut age_ns = Vec::with_capacity(ticks as usize);
    let mut state = JointState::default();
    let mut torque = [0.0; JOINTS];
    let start = Instant::now();
    let mut next = start + PERIOD;
    let mut last = start;
    for seq in 0..ticks {
        // Sleep to just before the deadline, then spin: `sleep` alone wakes up to ~100 µs late.
        let now = Instant::now();
        if next > now + Duration::from_micros(200) {
            std::thread::sleep(next - now - Duration::from_micros(200));
        }
        while Instant::now() < next {
            std::hint::spin_loop();
        }
        let now = Instant::now();
        let period = now - last;
        last = now;
        jitter_ns.push(u64::try_from(period.abs_diff(PERIOD).as_nanos()).unwrap_or(u64::MAX));
        next += PERIOD;
        if next < now {
            next = now + PERIOD; // overran by more than a period: resynchronise
        }
        loop {
            match commands.try_recv::<Command>() {
                Ok(cmd) => {
                    age_ns.push(now_ns().saturating_sub(cmd.stamp_ns));
                    torque = cmd.torque;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => return Err(e),
            }
        }
        let dt = PERIOD.as_secs_f64();
        for ((v, p), t) in state
            .velocity
            .iter_mut()
            .zip(state.position.iter_mut())
            .zip(torque)
        {
            *v += t * dt;
            *p += *v * dt;
        }
        if seq == 0 {
            state.position = [0.5, -0.3, 0.2, 0.1, -0.1, 0.4];
        }
        state.seq = seq;
        state.stamp_ns = now_ns();
        joints.send(&state)?;
    }
    let (j50, j99, jmax) = percentiles(&mut jitter_ns[1..]);
    let (a50, a99, amax) = percentiles(&mut age_ns);
    println!(
        "driver: {ticks} periods of 1 ms; jitter p50 {j50:.2} us, p99 {j99:.1} us, max {jmax:.1} us"
    );
    println!(
        "driver: {} commands used; age at use p50 {a50:.1} us, p99 {a99:.1} us, max {amax:.1} us; lost {}",
        age_ns.len(),
        commands.lost()
    );
    Ok(())
}

/// Connects a subscriber to `endpoint`, waiting for its publisher.
fn subscribe(endpoint: &str) -> ringwire::Result<Subscriber> {
    loop {
        match Subscriber::connect_with_topics(endpoint, &[b""]) {
            Ok(s) => return Ok(s),
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A PD controller: each joint state in, a torque command out.
fn controller() {
    let base = base_arg();
    if let Err(e) = run_controller(&base) {
        eprintln!("controller: {e}");
        std::process::exit(1);
    }
}

fn run_controller(base: &str) -> ringwire::Result<()> {
    let mut states = subscribe(&ep(base, "joints"))?;
    let mut commands = Publisher::connect(&ep(base, "commands"))?;
    let mut age_ns = Vec::new();
    loop {
        match states.recv_timeout::<JointState>(Duration::from_millis(100)) {
            Ok(s) => {
                age_ns.push(now_ns().saturating_sub(s.stamp_ns));
                let torque: [f64; JOINTS] =
                    std::array::from_fn(|j| -40.0 * s.position[j] - 8.0 * s.velocity[j]);
                commands.send(&Command {
                    seq: s.seq,
                    stamp_ns: now_ns(),
                    torque,
                })?;
            }
            Err(Error::Timeout) if !states.publisher_alive() => break,
            Err(Error::Timeout) => {}
            Err(e) => return Err(e),
        }
    }
    let (a50, a99, amax) = percentiles(&mut age_ns);
    println!(
        "controller: {} states; age at receipt p50 {a50:.1} us, p99 {a99:.1} us, max {amax:.1} us; lost {}",
        age_ns.len(),
        states.lost()
    );
    Ok(())
}

/// Records the joint states (here: counts them and prints one line a second).
fn logger() {
    let base = base_arg();
    let run = || -> ringwire::Result<()> {
        let mut states = subscribe(&ep(base.as_str(), "joints"))?;
        let mut n = 0u64;
        loop {
            match states.recv_timeout::<JointState>(Duration::from_millis(100)) {
                Ok(s) => {
                    n += 1;
                    if s.seq % 1000 == 999 {
                        println!(
                            "logger: t = {} s, joint 0 at {:+.4}",
                            (s.seq + 1) / 1000,
                            s.position[0]
                        );
                    }
                }
                Err(Error::Timeout) if !states.publisher_alive() => break,
                Err(Error::Timeout) => {}
                Err(e) => return Err(e),
            }
        }
        println!("logger: {n} states logged, lost {}", states.lost());
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("logger: {e}");
        std::process::exit(1);
    }
}

/// Publishes 64 KiB messages on another topic as fast as it can while the driver runs.
fn flood() {
    let base = base_arg();
    let run = || -> ringwire::Result<()> {
        let mut flood = Publisher::builder()
            .slot_size(64 * 1024)
            .bind(&ep(base.as_str(), "flood"))?;
        let driver = subscribe(&ep(base.as_str(), "joints"))?;
        let payload = vec![0x5a_u8; 64 * 1024 - 64];
        let start = Instant::now();
        let mut n = 0u64;
        while !n.is_multiple_of(256) || driver.publisher_alive() {
            flood.send_bytes(&payload)?;
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "flood: {n} messages of 64 KiB, {:.0} MB/s",
            n as f64 * payload.len() as f64 / secs / 1e6
        );
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("flood: {e}");
        std::process::exit(1);
    }
}

fn main() {
    let _log = ringwire_examples::setup_logging();
    let mut manager = ProcessManager::new();
    manager
        .register_fn("driver", driver)
        .register_fn("controller", controller)
        .register_fn("logger", logger)
        .register_fn("flood", flood);
    manager.dispatch();

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("driver") => return driver(),
        Some("controller") => return controller(),
        Some("logger") => return logger(),
        Some("flood") => return flood(),
        _ => {}
    }
    let mut seconds = "5".to_owned();
    let mut with_flood = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().cloned().unwrap_or(seconds),
            "--no-flood" => with_flood = false,
            other => {
                eprintln!("control-loop: unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let base = format!("control-loop.{}", std::process::id());
    let joints: Endpoint = ep(&base, "joints").parse().expect("a valid endpoint");
    manager
        .add(
            ProcessSpec::function("driver", "driver")
                .args([base.as_str(), seconds.as_str()])
                .ready_when(Ready::Bound(joints))
                .liveness(ep(&base, "joints"), Duration::from_millis(500)),
        )
        .expect("unique name");
    manager
        .add(
            ProcessSpec::function("controller", "controller")
                .args([base.as_str()])
                .after("driver"),
        )
        .expect("unique name");
    manager
        .add(
            ProcessSpec::function("logger", "logger")
                .args([base.as_str()])
                .after("driver"),
        )
        .expect("unique name");
    if with_flood {
        manager
            .add(
                ProcessSpec::function("flood", "flood")
                    .args([base.as_str()])
                    .after("driver"),
            )
            .expect("unique name");
    }
    manager.on_failure(OnFailure::StopAll);
    let report = manager.run().unwrap_or_else(|e| {
        eprintln!("control-loop: {e}");
        std::process::exit(2)
    });
    for p in &report.processes {
        if let Some(exit) = &p.last_exit
            && !exit.is_success()
        {
            eprintln!("control-loop: {}: {exit}", p.name);
        }
    }
    std::process::exit(report.exit_code());
}
