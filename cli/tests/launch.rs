//! `ringwire launch FILE.toml`, driven as a subprocess: file errors name line and key (exit
//! 2), start order follows bound endpoints (shm, tcp, ipc), the first failure's code is the
//! exit code, and SIGINT stops every process (exit 130).
#![cfg(unix)]
#![forbid(unsafe_code)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

mod common;

use common::*;

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("rw-launch-{tag}-{}-{n}", std::process::id())
}

fn write_file(tag: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.toml", unique(tag)));
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_launch(file: &PathBuf) -> Child {
    Command::new(BIN)
        .arg("launch")
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn launch(text: &str) -> (Output, String) {
    let file = write_file("run", text);
    let out = finish(spawn_launch(&file));
    let _ = std::fs::remove_file(&file);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, err)
}

#[test]
fn bad_files_exit_2_naming_line_and_key() {
    let cases = [
        (
            "[[process]]\nname = \"a\"\ncomand = \"x\"\n",
            ":3:1: key `comand`: unknown field `comand`",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\nrestart = \"sometimes\"\n",
            ":4:11: key `restart`: unknown variant `sometimes`",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\ngrace_ms = \"long\"\n",
            ":4:12: key `grace_ms`: invalid type: string \"long\"",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\n\n[[process]]\nname = \"b\"\ncommand = \"x\"\nafter = [\"a\", \"nobody\"]\n",
            ":8:15: key `after`: \"nobody\" is not a process of this file",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\nready = \"shm:/x\"\n",
            ":4:9: key `ready`: invalid endpoint \"shm:/x\"",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\n[[process]]\nname = \"a\"\ncommand = \"y\"\n",
            ":5:8: key `name`: a second process is named \"a\"",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\nafter = [\"b\"]\n[[process]]\nname = \"b\"\ncommand = \"y\"\nafter = [\"a\"]\n",
            ":4:10: key `after`: \"a\" is part of a circular start order",
        ),
        (
            "[[process]]\nname = \"a\"\ncommand = \"x\"\nliveness = \"shm://hb\"\n",
            ":4:12: key `liveness`: liveness needs deadline_ms",
        ),
        ("on_failure = [\n", ":1:15: "),
    ];
    for (text, expected) in cases {
        let (out, err) = launch(text);
        assert_eq!(out.status.code(), Some(2), "{text}\n{err}");
        assert!(
            err.contains(expected),
            "{text}\nexpected {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn start_order_follows_bound_endpoints_and_the_first_failure_sets_the_exit_code() {
    let shm = unique("shm");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sock = std::env::temp_dir().join(format!("{}.sock", unique("ipc")));
    let sock = sock.display();
    // Each binds only after a pause, so a dependent started too early would show up first.
    let text = format!(
        r#"
on_failure = "stop-all"
grace_ms = 2000

[[process]]
name = "shm-pub"
command = "sh"
args = ["-c", "sleep 0.2; exec {BIN} pub --bind shm://{shm} --topic t --count 1000000 --interval-ms 50"]
ready = "shm://{shm}"

[[process]]
name = "tcp-rep"
command = "sh"
args = ["-c", "sleep 0.2; exec {BIN} rep --bind tcp://127.0.0.1:{port} --echo"]
ready = "tcp://127.0.0.1:{port}"
after = ["shm-pub"]

[[process]]
name = "ipc-rep"
command = "sh"
args = ["-c", "sleep 0.2; exec {BIN} rep --bind ipc://{sock} --echo"]
ready = "ipc://{sock}"
after = ["tcp-rep"]

[[process]]
name = "last"
command = "sh"
args = ["-c", "exit 5"]
after = ["ipc-rep"]
"#
    );
    let (out, err) = launch(&text);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing in:\n{err}"))
    };
    assert!(at("shm-pub: ready") < at("tcp-rep: started"), "{err}");
    assert!(at("tcp-rep: ready") < at("ipc-rep: started"), "{err}");
    assert!(at("ipc-rep: ready") < at("last: started"), "{err}");
    assert!(err.contains("last: exit code 5"), "{err}");
    // Stop-all: the others were stopped, not left running.
    assert!(err.contains("shm-pub: exit code 143"), "SIGTERM: {err}");
}

#[test]
fn sigint_stops_every_process_and_exits_130() {
    let text = r#"
[[process]]
name = "one"
command = "sleep"
args = ["60"]

[[process]]
name = "two"
command = "sh"
args = ["-c", "echo up; sleep 60"]
"#;
    let file = write_file("int", text);
    let mut child = spawn_launch(&file);
    // Wait until both run: `two` prints `[two] up` on the launcher's stdout.
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("[two] up") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "launch ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.stdout = Some(stdout);
    let out = finish(child);
    let _ = std::fs::remove_file(&file);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("one: killed by signal 15"), "{err}");
    assert!(err.contains("two: killed by signal 15"), "{err}");
}

#[test]
fn a_quiet_liveness_topic_fails_the_run_with_124() {
    let shm = unique("hb");
    // Three messages, then the publisher exits while its shell lives on: the topic goes quiet.
    let text = format!(
        r#"
[[process]]
name = "beats"
command = "sh"
args = ["-c", "{BIN} pub --bind shm://{shm} --topic t --message m --count 3 --interval-ms 10; sleep 60"]
liveness = "shm://{shm}"
deadline_ms = 300
grace_ms = 500
"#
    );
    let (out, err) = launch(&text);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(err.contains("beats: liveness deadline missed"), "{err}");
    assert!(
        err.contains("beats: stalled (liveness deadline missed)"),
        "{err}"
    );
}

#[test]
fn check_lists_the_processes_without_starting_them() {
    let file = write_file(
        "check",
        "[[process]]\nname = \"a\"\ncommand = \"false\"\n[[process]]\nname = \"b\"\ncommand = \"false\"\n",
    );
    let out = Command::new(BIN)
        .arg("launch")
        .arg("--check")
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
}
