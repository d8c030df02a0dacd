//! Helper process for the process-manager tests: `proc_peer manager TOPIC` runs a
//! `ProcessManager` (a shm publisher function, a sleeping function, a `sleep` command) and
//! reports on stdout, one line per event (`started NAME PID`, `exited NAME EXIT`, then
//! `report CODE`), so that a test can signal or kill it and check what became of its
//! children. The functions are this binary re-executed with `--ringwire-role=NAME`;
//! `proc_peer --ringwire-role=heartbeat TOPIC N` publishes N messages then hangs.
#![forbid(unsafe_code)]

use std::io::Write;
use std::time::Duration;

use ringwire::process::{EventKind, OnFailure, ProcessManager, ProcessSpec};

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// Role arguments: what follows `--ringwire-role=NAME`.
fn role_args() -> Vec<String> {
    std::env::args().skip(2).collect()
}

/// Publishes on `shm://TOPIC` every millisecond, forever (until a signal ends it).
fn publisher() {
    let topic = role_args().first().cloned().expect("publisher TOPIC");
    let mut publisher = ringwire::shm::Publisher::bind(&format!("shm://{topic}")).expect("bind");
    say("publisher bound");
    let mut n = 0u64;
    loop {
        publisher.send(&n).expect("send");
        n += 1;
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publishes N heartbeats on `shm://TOPIC`, then hangs without publishing.
fn heartbeat() {
    let args = role_args();
    let topic = args.first().cloned().expect("heartbeat TOPIC N");
    let n: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let mut publisher = ringwire::shm::Publisher::bind(&format!("shm://{topic}")).expect("bind");
    for i in 0..n {
        publisher.send(&i).expect("send");
        std::thread::sleep(Duration::from_millis(10));
    }
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn sleeper() {
    say("sleeper up");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn greeter() {
    println!("hello from a function");
}

fn main() {
    let mut manager = ProcessManager::new();
    manager
        .register_fn("publisher", publisher)
        .register_fn("heartbeat", heartbeat)
        .register_fn("sleeper", sleeper)
        .register_fn("greeter", greeter);
    // A child started for a role runs it here and exits.
    manager.dispatch();

    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("manager") => {
            let topic = args.get(1).cloned().expect("manager TOPIC");
            manager
                .add(ProcessSpec::function("publisher", "publisher").args([topic]))
                .unwrap();
            manager
                .add(ProcessSpec::function("sleeper", "sleeper"))
                .unwrap();
            manager
                .add(ProcessSpec::command("sleep", "sleep", ["60"]))
                .unwrap();
        }
        Some("greet") => {
            manager
                .add(ProcessSpec::function("greeter", "greeter"))
                .unwrap();
            manager.on_failure(OnFailure::KeepRunning);
        }
        other => panic!("proc_peer: unknown command {other:?}"),
    }
    manager.on_event(|event| match &event.kind {
        EventKind::Started { pid } => say(format!("started {} {pid}", event.name)),
        EventKind::Exited(exit) => say(format!("exited {} {exit}", event.name)),
        _ => {}
    });
    let report = manager.run().expect("run");
    say(format!("report {}", report.exit_code()));
    std::process::exit(report.exit_code());
}
