//! `ringwire ls`, `ringwire clean` and `ringwire stat` against live, dead and foreign segments
//! made by real `ringwire` processes. Linux: segments are files under /dev/shm.
#![cfg(target_os = "linux")]
#![forbid(unsafe_code)]

use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ringwire");

/// `clean` removes every dead creator's segment on the machine: the tests that kill creators
/// and look at what is listed run one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn name(tag: &str) -> String {
    format!("rw-ops-{tag}-{}", std::process::id())
}

fn file(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/dev/shm/ringwire.{name}"))
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.code().is_some(),
        "ringwire {args:?} was killed: {out:?}"
    );
    out
}

/// `ls --json`'s entry for segment `name`, if listed.
fn listed(name: &str) -> Option<Value> {
    let out = run(&["ls", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let all: Value = serde_json::from_slice(&out.stdout).expect("ls --json prints JSON");
    all.as_array()
        .expect("an array")
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
}

/// Polls (bounded) until `ready` holds.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "never {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills and reaps a child (a `kill -9`: nothing it made is cleaned up).
fn kill9(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn ls_and_stat_show_a_live_publisher_and_its_subscriber() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = name("live");
    let ep = format!("shm://{n}");
    let publisher = spawn(&[
        "pub",
        "--bind",
        &ep,
        "--topic",
        "t",
        "--count",
        "1000000",
        "--interval-ms",
        "1",
    ]);
    wait_for("the segment", || file(&n).exists());
    let subscriber = spawn(&["sub", "--connect", &ep]);
    let mut entry = Value::Null;
    wait_for("a subscriber and messages in ls", || {
        entry = listed(&n).unwrap_or(Value::Null);
        entry["subscribers"] == 1 && entry["written"].as_u64().is_some_and(|w| w > 0)
    });
    assert_eq!(entry["status"], "alive", "{entry}");
    assert_eq!(entry["ring"], "broadcast", "{entry}");
    assert_eq!(entry["pattern"], "PUB/SUB", "{entry}");
    assert_eq!(entry["creator_pid"], publisher.id(), "{entry}");
    assert_eq!(entry["writer_pid"], publisher.id(), "{entry}");
    assert!(entry["slot_count"].as_u64().unwrap() >= 1, "{entry}");
    // The table names it too.
    let table = String::from_utf8(run(&["ls"]).stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with(&n))
        .expect("a table row");
    assert!(
        line.contains("alive") && line.contains("broadcast"),
        "{line}"
    );

    let out = run(&["stat", &ep, "--interval-ms", "50", "--count", "3"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(&format!("{ep}: PUB/SUB (broadcast ring)")),
        "{text}"
    );
    let written: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("written "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(written.len(), 3, "{text}");
    assert!(written.windows(2).all(|w| w[0] <= w[1]), "{text}");
    assert!(text.contains("subscribers 1"), "{text}");

    kill9(subscriber);
    kill9(publisher);
    // The creator died: `clean` removes the segment it left.
    let out = run(&["clean"]);
    assert!(out.status.success(), "{out:?}");
    assert!(!file(&n).exists());
}

#[test]
fn clean_removes_dead_creators_segments_and_leaves_live_and_foreign_ones() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dead = name("dead");
    let live = name("alive");
    let foreign = name("foreign");
    // Publishers that run until killed (stdin is empty: they publish --count messages).
    let publisher = |n: &str| {
        let ep = format!("shm://{n}");
        let args = [
            "pub",
            "--bind",
            &ep,
            "--topic",
            "t",
            "--count",
            "1000000",
            "--interval-ms",
            "10",
        ];
        spawn(&args)
    };
    let victim = publisher(&dead);
    let keeper = publisher(&live);
    wait_for("both segments", || {
        file(&dead).exists() && file(&live).exists()
    });
    wait_for("both creators recorded", || {
        [&dead, &live]
            .iter()
            .all(|n| listed(n).is_some_and(|e| e["status"] == "alive"))
    });
    kill9(victim);
    // Not a ringwire segment, though it has the prefix: never touched.
    std::fs::write(file(&foreign), vec![0x5Au8; 4096]).unwrap();

    let entry = listed(&dead).expect("the dead creator's segment is listed");
    assert_eq!(entry["status"], "dead", "{entry}");
    assert_eq!(listed(&foreign).expect("listed")["status"], "foreign");

    let out = run(&["clean", "--dry-run"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("would remove shm://{dead} ")),
        "{text}"
    );
    assert!(file(&dead).exists(), "a dry run removes nothing");

    let out = run(&["clean"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("removed shm://{dead} ")), "{text}");
    assert!(!text.contains(&live) && !text.contains(&foreign), "{text}");
    assert!(!file(&dead).exists());
    assert!(file(&live).exists() && file(&foreign).exists());
    assert!(listed(&dead).is_none());

    std::fs::remove_file(file(&foreign)).unwrap();
    kill9(keeper);
    run(&["clean"]);
}

/// An event node's signal doorbell as `ringwire_core::events::doorbell` lays it out, owned by
/// process `pid` (start time unknown).
fn doorbell(pid: u32) -> Vec<u8> {
    let mut b = vec![0u8; 120];
    b[0..4].copy_from_slice(&0x4244_5752u32.to_le_bytes());
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    b[12..16].copy_from_slice(&pid.to_le_bytes());
    b[52..56].copy_from_slice(&3u32.to_le_bytes());
    b[56..59].copy_from_slice(b"cam");
    b
}

#[test]
fn doorbells_are_listed_with_their_owner_and_cleaned_when_it_died() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dead = name("rwsig-dead");
    let live = name("rwsig-live");
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    std::fs::write(file(&dead), doorbell(gone_pid)).unwrap();
    std::fs::write(file(&live), doorbell(std::process::id())).unwrap();

    let entry = listed(&dead).expect("listed");
    assert_eq!(entry["kind"], "doorbell", "{entry}");
    assert_eq!(entry["status"], "dead", "{entry}");
    assert_eq!(entry["creator_pid"], gone_pid, "{entry}");
    let entry = listed(&live).expect("listed");
    assert_eq!(
        (entry["kind"].as_str(), entry["status"].as_str()),
        (Some("doorbell"), Some("alive")),
        "{entry}"
    );
    let table = String::from_utf8(run(&["ls"]).stdout).unwrap();
    let line = table.lines().find(|l| l.starts_with(&live)).expect("a row");
    assert!(line.contains("signal doorbell"), "{line}");

    let out = run(&["clean"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("removed shm://{dead} ")), "{text}");
    assert!(!file(&dead).exists());
    assert!(file(&live).exists(), "a live owner's doorbell stays");
    std::fs::remove_file(file(&live)).unwrap();
}

#[test]
fn stat_refuses_what_it_cannot_show() {
    let out = run(&["stat", "tcp://127.0.0.1:5555"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(&["stat", "shm://bad/name"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let out = run(&["stat", &format!("shm://{}", name("absent")), "--count", "1"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!out.stderr.is_empty());
}

#[test]
fn monitor_prints_the_events_another_command_publishes() {
    let events = format!(
        "ipc://{}",
        std::env::temp_dir()
            .join(format!("rw-ops-events-{}.sock", std::process::id()))
            .display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let mut rep = spawn(&["rep", "--bind", &ep, "--events", &events]);
    let monitor = Command::new(BIN)
        .args(["monitor", &events, "--count", "6", "--timeout-ms", "30000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A PUB drops what no subscriber is there for: ask until the monitor saw six events.
    let pid = monitor.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&done);
    let asker = thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let out = run(&["req", "--connect", &ep, "hello", "--timeout-ms", "10000"]);
            assert!(out.status.success(), "{out:?}");
        }
    });
    let out = monitor.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    asker.join().unwrap();
    rep.kill().unwrap();
    rep.wait().unwrap();
    assert!(out.status.success(), "monitor {pid}: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let kinds: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(kinds.len(), 6, "{text}");
    for kind in ["accepted", "handshake-succeeded", "disconnected"] {
        assert!(kinds.contains(&kind), "no {kind} in {text}");
    }
    // The monitor may subscribe before the replier bound: then `listening`, which names no
    // peer, is among the six; every other event names the bound endpoint and the peer.
    let bound = format!("tcp://127.0.0.1:{port} tcp://127.0.0.1:");
    let listening = format!("listening tcp://127.0.0.1:{port}");
    assert!(
        text.lines().all(|l| l.contains(&bound) || l == listening),
        "{text}"
    );
    assert!(
        text.contains(r#"reason="peer closed the connection""#),
        "{text}"
    );
}
