//! `ringwire::process::ProcessManager` with real child processes (`sh`, `sleep`, and the
//! `proc_peer` helper): failures, restarts with back-off, graceful stops escalating to
//! SIGKILL, start order, liveness, and the manager itself interrupted or killed.
//!
//! Nothing here asserts on elapsed time: waits are bounded loops that fail after a generous
//! watchdog, and back-off is checked through the delays the manager reports.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringwire::Endpoint;
use ringwire::process::{
    Event, EventKind, Exit, OnFailure, Outcome, Output, ProcessManager, ProcessSpec, Ready,
    RestartPolicy, State,
};

const WATCHDOG: Duration = Duration::from_secs(30);

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "rwproc-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(unique(tag))
}

/// Polls `f` until it holds; panics after the watchdog.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WATCHDOG, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sh(name: &str, script: &str) -> ProcessSpec {
    ProcessSpec::command(name, "sh", ["-c", script]).output(Output::Null)
}

/// A manager for in-process tests: the test harness keeps its own signal handling.
fn manager() -> (ProcessManager, Arc<Mutex<Vec<Event>>>) {
    let mut m = ProcessManager::new();
    m.handle_signals(false);
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    m.on_event(move |e| sink.lock().unwrap().push(e.clone()));
    (m, events)
}

/// Whether `pid` is gone: no such process, or a zombie (dead, waiting for init to reap it).
fn pid_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state == 'Z' || state == 'X'),
    }
}

#[test]
fn a_failing_child_stops_the_rest_and_its_code_is_the_runs() {
    let (mut m, _) = manager();
    m.add(sh("fails", "sleep 0.1; exit 3")).unwrap();
    m.add(ProcessSpec::command("hangs", "sleep", ["60"]).grace(Duration::from_secs(5)))
        .unwrap();
    let report = m.run().unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            name: "fails".into(),
            exit: Exit::Code(3)
        }
    );
    assert_eq!(report.exit_code(), 3);
    let hangs = &report.processes[1];
    assert_eq!(hangs.state, State::Exited);
    assert_eq!(
        hangs.last_exit,
        Some(Exit::Signal(15)),
        "stopped with SIGTERM"
    );
}

#[test]
fn a_child_ignoring_sigterm_is_killed_after_its_grace_period() {
    let (mut m, events) = manager();
    let flag = temp_path("trap");
    let script = format!(
        "trap '' TERM; touch {}; while :; do sleep 0.05; done",
        flag.display()
    );
    m.add(
        sh("stubborn", &script)
            .grace(Duration::from_millis(200))
            .ready_when(Ready::Bound(Endpoint::Ipc(flag.clone()))),
    )
    .unwrap();
    m.start().unwrap();
    wait_until("the trap to be set", || m.status()[0].ready);
    m.terminate_all();
    let report = m.join().unwrap();
    let _ = std::fs::remove_file(&flag);
    assert_eq!(report.outcome, Outcome::Terminated);
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.processes[0].last_exit, Some(Exit::Signal(9)));
    let kinds: Vec<EventKind> = events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.kind.clone())
        .collect();
    let stopping = kinds
        .iter()
        .position(|k| *k == EventKind::Stopping)
        .unwrap();
    let killed = kinds.iter().position(|k| *k == EventKind::Killed).unwrap();
    assert!(stopping < killed, "{kinds:?}");
}

#[test]
fn on_failure_restarts_with_doubling_back_off_up_to_the_limit() {
    let (mut m, events) = manager();
    m.add(
        sh("flaky", "exit 7")
            .restart(RestartPolicy::OnFailure { limit: Some(4) })
            // A run as long as the longest delay counts as healthy and resets the back-off:
            // the delays are long enough that `sh -c "exit 7"` never lasts that long, even
            // on a loaded machine.
            .backoff(Duration::from_millis(100), Duration::from_millis(400)),
    )
    .unwrap();
    let report = m.run().unwrap();
    let delays: Vec<(u32, u128)> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Restarting { attempt, delay } => Some((attempt, delay.as_millis())),
            _ => None,
        })
        .collect();
    assert_eq!(delays, [(1, 100), (2, 200), (3, 400), (4, 400)]);
    let starts = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Started { .. }))
        .count();
    assert_eq!(starts, 5, "the first run and four restarts");
    assert_eq!(report.processes[0].restarts, 4);
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            name: "flaky".into(),
            exit: Exit::Code(7)
        }
    );
}

#[test]
fn on_failure_does_not_restart_a_clean_exit_but_always_does() {
    let (mut m, events) = manager();
    m.on_failure(OnFailure::KeepRunning);
    m.add(sh("clean", "exit 0").restart(RestartPolicy::OnFailure { limit: None }))
        .unwrap();
    m.add(
        sh("again", "exit 0")
            .restart(RestartPolicy::Always)
            .backoff(Duration::from_millis(1), Duration::from_millis(1)),
    )
    .unwrap();
    m.start().unwrap();
    wait_until("three restarts of `again`", || m.status()[1].restarts >= 3);
    m.terminate_all();
    let report = m.join().unwrap();
    assert_eq!(report.processes[0].restarts, 0);
    assert_eq!(report.processes[0].last_exit, Some(Exit::Code(0)));
    let clean_starts = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.name == "clean" && matches!(e.kind, EventKind::Started { .. }))
        .count();
    assert_eq!(clean_starts, 1);
}

#[test]
fn a_dependent_starts_only_once_its_dependency_is_bound() {
    let (mut m, _) = manager();
    let sock = temp_path("dep");
    // `first` binds (creates the file) only after a while; `second` fails unless it exists.
    m.add(
        sh(
            "first",
            &format!("sleep 0.3; touch {}; sleep 60", sock.display()),
        )
        .ready_when(Ready::Bound(Endpoint::Ipc(sock.clone()))),
    )
    .unwrap();
    m.add(sh("second", &format!("test -e {}", sock.display())).after("first"))
        .unwrap();
    m.on_failure(OnFailure::StopAll);
    m.start().unwrap();
    wait_until("second to end", || m.status()[1].state == State::Exited);
    m.terminate_all();
    let report = m.join().unwrap();
    let _ = std::fs::remove_file(&sock);
    assert_eq!(report.processes[1].last_exit, Some(Exit::Code(0)));
    assert_eq!(report.outcome, Outcome::Terminated);
}

#[test]
fn a_dependent_of_a_process_that_never_became_ready_never_starts() {
    let (mut m, _) = manager();
    m.on_failure(OnFailure::KeepRunning);
    let never = temp_path("never");
    m.add(sh("first", "exit 0").ready_when(Ready::Bound(Endpoint::Ipc(never))))
        .unwrap();
    m.add(sh("second", "exit 0").after("first")).unwrap();
    let report = m.run().unwrap();
    assert_eq!(report.processes[1].last_exit, Some(Exit::NotStarted));
    assert_eq!(report.outcome, Outcome::Completed);
}

#[test]
fn a_quiet_liveness_topic_fails_the_process() {
    let (mut m, events) = manager();
    let topic = unique("hb");
    m.add(
        ProcessSpec::command(
            "beats",
            env!("CARGO_BIN_EXE_proc_peer"),
            ["--ringwire-role=heartbeat", topic.as_str(), "5"],
        )
        .liveness(format!("shm://{topic}"), Duration::from_millis(500))
        .grace(Duration::from_millis(500)),
    )
    .unwrap();
    let report = m.run().unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            name: "beats".into(),
            exit: Exit::Stalled
        }
    );
    assert_eq!(report.exit_code(), 124);
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Stalled)
    );
    // The publisher was killed with its segment in place: the manager removed it.
    assert!(!PathBuf::from(format!("/dev/shm/ringwire.{topic}")).exists());
}

#[test]
fn configuration_errors_are_reported_before_anything_starts() {
    let mut m = ProcessManager::new();
    m.add(sh("a", "true").after("b")).unwrap();
    m.add(sh("b", "true").after("a")).unwrap();
    let err = m.start().unwrap_err().to_string();
    assert!(err.contains("circular start order among a, b"), "{err}");

    let mut m = ProcessManager::new();
    m.add(sh("a", "true").after("nobody")).unwrap();
    let err = m.start().unwrap_err().to_string();
    assert!(err.contains("not a process"), "{err}");

    let mut m = ProcessManager::new();
    m.add(sh("a", "true")).unwrap();
    assert!(m.add(sh("a", "true")).is_err());
}

/// Runs `proc_peer manager TOPIC`; returns it and the pids its children started with.
fn spawn_manager(
    topic: &str,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStdout>,
    Vec<u32>,
) {
    let mut mgr = Command::new(env!("CARGO_BIN_EXE_proc_peer"))
        .args(["manager", topic])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn proc_peer");
    let mut out = BufReader::new(mgr.stdout.take().unwrap());
    let mut pids = Vec::new();
    let mut line = String::new();
    let mut publisher_bound = false;
    while pids.len() < 3 || !publisher_bound {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "proc_peer ended early"
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"started") {
            pids.push(words[2].parse().unwrap());
        }
        if line.contains("publisher bound") {
            publisher_bound = true;
        }
    }
    (mgr, out, pids)
}

#[test]
fn a_manager_killed_with_sigkill_leaves_no_orphans() {
    let topic = unique("k9");
    let (mut mgr, _out, pids) = spawn_manager(&topic);
    for &pid in &pids {
        assert!(!pid_gone(pid), "child {pid} runs before the kill");
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&mgr),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    mgr.wait().unwrap();
    for &pid in &pids {
        wait_until(&format!("child {pid} to die with its manager"), || {
            pid_gone(pid)
        });
    }
    // The publisher's segment outlived everyone (nobody was left to remove it); its creator
    // is dead, so the existing cleanup rule (`ringwire shm clean`) reclaims it.
    let name = ringwire_platform::SegmentName::new(&topic).unwrap();
    let info = ringwire_platform::cleanup::inspect(&name).unwrap();
    assert_eq!(info.status, ringwire_platform::cleanup::Status::Dead);
    ringwire_platform::Segment::unlink(&name).unwrap();
}

#[test]
fn sigint_to_the_manager_stops_children_mid_send_and_leaves_no_segment() {
    let topic = unique("int");
    let (mut mgr, mut out, pids) = spawn_manager(&topic);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&mgr),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let mut rest = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        rest.push_str(&line);
        line.clear();
    }
    let status = mgr.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("report 130"), "{rest}");
    for name in ["publisher", "sleeper", "sleep"] {
        assert!(
            rest.contains(&format!("exited {name} killed by signal 15")),
            "{name}: {rest}"
        );
    }
    for &pid in &pids {
        assert!(pid_gone(pid), "child {pid} outlived its manager's run");
    }
    assert!(
        !PathBuf::from(format!("/dev/shm/ringwire.{topic}")).exists(),
        "the publisher's segment is removed"
    );
}

#[test]
fn a_function_child_output_is_prefixed_with_its_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_proc_peer"))
        .arg("greet")
        .output()
        .expect("run proc_peer greet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("[greeter] hello from a function\n"),
        "{stdout}"
    );
    assert!(stdout.contains("exited greeter exit code 0"), "{stdout}");
}

#[test]
fn a_panicking_event_observer_does_not_end_the_run() {
    let mut m = ProcessManager::new();
    m.handle_signals(false);
    m.on_event(|_| panic!("observer bug"));
    m.add(sh("one", "exit 0")).unwrap();
    m.add(sh("two", "sleep 0.1; exit 4")).unwrap();
    let report = m.run().unwrap();
    assert_eq!(report.processes[0].last_exit, Some(Exit::Code(0)));
    assert_eq!(
        report.outcome,
        Outcome::Failed {
            name: "two".into(),
            exit: Exit::Code(4)
        }
    );
}

#[test]
fn output_can_go_to_a_log_file_per_process() {
    let (mut m, _) = manager();
    let log = temp_path("log");
    m.add(
        ProcessSpec::command("talks", "sh", ["-c", "echo to stdout; echo to stderr >&2"])
            .output(Output::File(log.clone())),
    )
    .unwrap();
    let report = m.run().unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert_eq!(text, "to stdout\nto stderr\n");
}

#[test]
fn a_stalled_process_is_restarted_by_its_policy() {
    let (mut m, events) = manager();
    let topic = unique("hb2");
    m.add(
        ProcessSpec::command(
            "beats",
            env!("CARGO_BIN_EXE_proc_peer"),
            ["--ringwire-role=heartbeat", topic.as_str(), "3"],
        )
        .liveness(format!("shm://{topic}"), Duration::from_millis(300))
        .grace(Duration::from_millis(300))
        .restart(RestartPolicy::OnFailure { limit: Some(1) })
        .backoff(Duration::from_millis(1), Duration::from_millis(1)),
    )
    .unwrap();
    let report = m.run().unwrap();
    let stalls = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::Stalled)
        .count();
    assert_eq!(stalls, 2, "the first run and the one restart");
    assert_eq!(report.processes[0].restarts, 1);
    assert_eq!(report.processes[0].last_exit, Some(Exit::Stalled));
}

#[test]
fn sigterm_to_the_manager_stops_children_with_exit_143() {
    let topic = unique("term");
    let (mut mgr, mut out, pids) = spawn_manager(&topic);
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&mgr),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let mut rest = String::new();
    let mut line = String::new();
    while out.read_line(&mut line).unwrap() > 0 {
        rest.push_str(&line);
        line.clear();
    }
    assert_eq!(mgr.wait().unwrap().code(), Some(143), "{rest}");
    for &pid in &pids {
        assert!(pid_gone(pid), "child {pid} outlived its manager's run");
    }
}

#[test]
fn an_unknown_role_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_proc_peer"))
        .arg("--ringwire-role=nobody")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no function is registered as role \"nobody\"")
    );
}
