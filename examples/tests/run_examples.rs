//! Runs every example in its all-roles demo mode and checks what it printed.
#![forbid(unsafe_code)]

use std::process::Command;

fn run(exe: &str) -> String {
    let out = Command::new(exe).output().expect("example starts");
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
