//! The process-manager examples, run briefly: the control loop (with its flood) and
//! ProcLink's publisher/subscriber scenario.
#![forbid(unsafe_code)]

use std::process::Command;

fn run(exe: &str, args: &[&str]) -> String {
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
fn control_loop_reports_jitter_and_message_age() {
    let out = run(env!("CARGO_BIN_EXE_control-loop"), &["--seconds", "1"]);
    assert!(
        out.contains("[driver] driver: 1000 periods of 1 ms; jitter p50 "),
        "{out}"
    );
    assert!(
        out.contains("[driver] driver: ") && out.contains("age at use p50 "),
        "{out}"
    );
    assert!(out.contains("[controller] controller: "), "{out}");
    assert!(out.contains("[logger] logger: "), "{out}");
    assert!(out.contains("[flood] flood: "), "{out}");
}

#[test]
fn proclink_scenario_runs_over_tcp_ipc_and_shm() {
    let child = Command::new(env!("CARGO_BIN_EXE_proclink"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("example starts");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for scheme in ["--- tcp://", "--- ipc://", "--- shm://"] {
        assert!(stdout.contains(scheme), "{stdout}");
    }
    assert_eq!(
        stdout.matches("[subscriber] Received: Message ").count(),
        15,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("subscriber: exit code 0").count(),
        3,
        "{stdout}"
    );
    // The shm publisher was stopped by SIGTERM without removing its segment: the manager did.
    #[cfg(target_os = "linux")]
    assert!(!std::path::Path::new(&format!("/dev/shm/ringwire.proclink.{pid}")).exists());
    let _ = pid;
}
