//! Runs every example in its all-roles demo mode and checks what it printed.
#![forbid(unsafe_code)]

use std::process::Command;

fn run(exe: &str) -> String {
    run_with(exe, &[])
}

fn run_with(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe)
        .args(args)
        .output()
        .expect("example starts");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{exe} failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn pubsub_demo_receives_poses() {
    let out = run(env!("CARGO_BIN_EXE_pubsub"));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("pose ")).count(),
        20,
        "{out}"
    );
}

#[test]
fn reqrep_demo_moves_every_joint() {
    let out = run(env!("CARGO_BIN_EXE_reqrep"));
    assert!(
        out.contains("status: Status { joints: [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] }"),
        "{out}"
    );
}

#[test]
fn pushpull_demo_processes_each_job_once() {
    let out = run(env!("CARGO_BIN_EXE_pushpull"));
    assert!(out.contains("10000 jobs processed"), "{out}");
}

#[test]
fn camera_demo_reads_regions_of_interest_in_place() {
    let out = run(env!("CARGO_BIN_EXE_camera"));
    let frames: Vec<&str> = out.lines().filter(|l| l.starts_with("frame ")).collect();
    assert_eq!(frames.len(), 20, "{out}");
    assert!(frames.iter().all(|l| l.ends_with(" ok")), "{out}");
}

#[test]
fn services_demo_serves_and_dispatches() {
    let out = run(env!("CARGO_BIN_EXE_services"));
    assert!(out.contains("client: 6 joint events dispatched"), "{out}");
    assert!(out.contains("move joint 9: refused"), "{out}");
    assert!(out.contains("event: joint 5 at 2.5"), "{out}");
    assert!(out.contains(", 1 failed"), "{out}");
}

#[test]
fn broker_demo_spreads_requests_over_its_workers() {
    check_broker_demo(&run(env!("CARGO_BIN_EXE_broker")));
}

#[test]
fn broker_demo_over_shm_spreads_requests_over_its_workers() {
    check_broker_demo(&run_with(env!("CARGO_BIN_EXE_broker"), &["shm"]));
}

fn check_broker_demo(out: &str) {
    assert!(out.contains("add 2 + 3 = 5"), "{out}");
    assert!(
        out.contains("client: 20 moves answered by 2 workers"),
        "{out}"
    );
    assert!(out.contains("fly: refused"), "{out}");
    assert!(
        out.contains("requests 22 replies 22 requeued 0 failed 0"),
        "{out}"
    );
}

#[test]
fn pyipc_demo_emits_contacts_and_signals() {
    let out = run(env!("CARGO_BIN_EXE_pyipc"));
    assert!(out.contains("logger: 5 readings, 3 signals in"), "{out}");
    assert!(out.contains("logger: direct from "), "{out}");
    assert!(
        out.contains("sensor: emit config: event service refused: this node may not emit"),
        "{out}"
    );
    assert!(
        out.contains("sensor: contact nobody: event service refused: no node with this id"),
        "{out}"
    );
    assert!(
        out.contains("service: ") && out.contains(", 0 nodes left"),
        "{out}"
    );
}

#[test]
fn apps_demo_requests_publishes_and_notifies() {
    let out = run(env!("CARGO_BIN_EXE_apps"));
    assert!(
        out.contains("client: response \"Hello from ringwire!\""),
        "{out}"
    );
    assert!(
        out.contains("client: published to 1 subscriber(s)"),
        "{out}"
    );
    assert!(
        out.contains("client: news \"ringwire speaks IPC Framework\""),
        "{out}"
    );
    assert!(
        out.contains("server: notification {\"event\":\"login\"}"),
        "{out}"
    );
    assert!(out.contains("client: refused: "), "{out}");
    assert!(
        out.contains("server: 1 response(s), 1 publish(es), 1 notification(s), 1 error(s)"),
        "{out}"
    );
}

#[test]
fn pyipc_demo_runs_hub_less_over_shm() {
    let ep = format!("shm://pyipc-demo-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_pyipc"))
        .args(["demo", &ep])
        .output()
        .expect("example starts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("logger: 5 readings, 3 signals in"),
        "{stdout}"
    );
    assert!(stdout.contains("reading 4 reached 1 node(s)"), "{stdout}");
    // The readings went through the sensor's ring, not the service.
    assert!(
        stdout.contains(" 0 emissions routed, 0 nodes left"),
        "{stdout}"
    );
}
