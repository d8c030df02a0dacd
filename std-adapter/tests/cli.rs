//! The `ringwire` CLI contract, driven as a subprocess.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ringwire");

fn ipc(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("rw-cli-{tag}-{}-{n}.sock", std::process::id()));
    format!("ipc://{}", p.display())
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child with a watchdog (a hung CLI fails the test instead of hanging it).
fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ringwire CLI did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let mut err = Vec::new();
    child.stderr.take().unwrap().read_to_end(&mut err).unwrap();
    Output {
        status: child.wait().unwrap(),
        stdout: out,
        stderr: err,
    }
}

fn run(args: &[&str]) -> Output {
    let mut c = spawn(args);
    drop(c.stdin.take());
    finish(c)
}

/// `rep --upper --count 2` bound at `ep` answers two `req --connect` in upper case.
fn rep_upper_answers_two_requests(ep: &str) {
    let rep = spawn(&["rep", "--bind", ep, "--upper", "--count", "2"]);
    for q in ["hello wörld 1", "second"] {
        let out = run(&["req", "--connect", ep, q, "--timeout-ms", "10000"]);
        assert!(out.status.success(), "{out:?}");
        let want = format!("{}\n", q.to_ascii_uppercase());
        assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    }
    assert!(finish(rep).status.success());
}

#[test]
fn req_rep_upper_and_echo() {
    rep_upper_answers_two_requests(&ipc("rep"));

    let port = free_tcp_port();
    let bind = format!("tcp://*:{port}");
    let rep = spawn(&["rep", "--bind", &bind, "--echo", "--count", "1"]);
    let out = run(&[
        "req",
        "--connect",
        &format!("tcp://localhost:{port}"),
        "same",
    ]);
    assert_eq!(out.stdout, b"same\n");
    assert!(finish(rep).status.success());
}

#[test]
fn pub_lines_reach_sub_with_topic_frames() {
    let ep = ipc("pubsub");
    let sub = spawn(&[
        "sub",
        "--bind",
        &ep,
        "--topic",
        "a",
        "--count",
        "3",
        "--timeout-ms",
        "20000",
    ]);
    let mut publisher = spawn(&["pub", "--connect", &ep, "--topic", "a"]);
    publisher
        .stdin
        .take()
        .unwrap()
        .write_all(b"x\r\n\nlast")
        .unwrap();
    let out = finish(sub);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"a\tx\na\t\na\tlast\n");
    assert!(finish(publisher).status.success());
}

#[test]
fn pub_count_and_interval() {
    let port = free_tcp_port();
    let sub = spawn(&[
        "sub",
        "--bind",
        &format!("tcp://127.0.0.1:{port}"),
        "--count",
        "2",
        "--timeout-ms",
        "20000",
    ]);
    let publisher = spawn(&[
        "pub",
        "--connect",
        &format!("tcp://127.0.0.1:{port}"),
        "--topic",
        "t",
        "--count",
        "50",
        "--interval-ms",
        "20",
        "--message",
        "m",
    ]);
    let out = finish(sub);
    assert!(out.status.success());
    assert_eq!(out.stdout, b"t\tm\nt\tm\n");
    assert!(finish(publisher).status.success());
}

/// The puller connects before anyone binds (sockets retry in the background), then a
/// pusher binds and pushes three lines, which arrive in order.
fn push_to_pull_connecting_first_over(ep: &str) {
    let pull = spawn(&[
        "pull",
        "--connect",
        ep,
        "--count",
        "3",
        "--timeout-ms",
        "20000",
    ]);
    thread::sleep(Duration::from_millis(100));
    let mut push = spawn(&["push", "--bind", ep]);
    push.stdin.take().unwrap().write_all(b"1\n2\n3\n").unwrap();
    let out = finish(pull);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"1\n2\n3\n");
    assert!(finish(push).status.success());
}

#[test]
fn push_to_pull_connecting_first() {
    push_to_pull_connecting_first_over(&ipc("push"));
}

#[test]
fn timeouts_exit_1() {
    let out = run(&["sub", "--bind", &ipc("quiet"), "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["pull", "--bind", &ipc("quiet2"), "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let ep = ipc("norep");
    let out = run(&["req", "--connect", &ep, "anyone?", "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["sub"]).status.code(), Some(2));
    assert_eq!(
        run(&["sub", "--bind", "a", "--connect", "b"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["sub", "--bind", "nonsense"]).status.code(), Some(2));
    assert_eq!(
        run(&["pull", "--connect", "udp://x:1"]).status.code(),
        Some(2)
    );
    assert_eq!(run(&["frobnicate"]).status.code(), Some(2));
}

/// Runs `ringwire bench` with tiny counts (it re-executes itself as its peer).
fn bench(extra: &[&str]) -> Output {
    let mut args = vec![
        "bench",
        "--iters",
        "40",
        "--warmup",
        "4",
        "--thr-msgs",
        "200",
        "--size",
        "8,1024",
        "--loan-sizes",
        "2048",
        "--mode",
        "busy,blocking",
        "--timeout",
        "25",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn bench_prints_one_table_row_per_mode_and_size() {
    let out = bench(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# ") && lines[0].contains("40 round trips"));
    let header: Vec<&str> = lines[1].split("  ").filter(|c| !c.is_empty()).collect();
    let header: Vec<&str> = header.iter().map(|c| c.trim()).collect();
    assert_eq!(
        header,
        [
            "case",
            "transport",
            "size",
            "rtt p50",
            "rtt p99",
            "rtt p99.9",
            "one-way msg/s"
        ]
    );
    let rows: Vec<&str> = lines[3..].to_vec();
    assert_eq!(rows.len(), 6, "{text}");
    for (row, (mode, size)) in rows.iter().zip([
        ("busy poll: PUB/SUB", "8 B"),
        ("busy poll: PUB/SUB", "1 KiB"),
        ("busy poll: loaned REQ/REP", "2 KiB"),
        ("futex wait: PUB/SUB", "8 B"),
        ("futex wait: PUB/SUB", "1 KiB"),
        ("futex wait: loaned REQ/REP", "2 KiB"),
    ]) {
        assert!(
            row.starts_with("ringwire-shm") && row.contains(mode),
            "{row}"
        );
        assert!(row.contains(&format!(" {size} ")), "{row}");
        // Three latencies, each a number and a unit; throughput only on the 8-byte rows.
        let units =
            row.matches(" ns").count() + row.matches(" us").count() + row.matches(" ms").count();
        assert_eq!(units, 3, "{row}");
        assert_eq!(row.trim_end().ends_with(" -"), size != "8 B", "{row}");
    }
}

#[test]
fn bench_json_has_the_requested_samples() {
    let out = bench(&["--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("\"iters\": 40"), "{text}");
    assert_eq!(text.matches("\"samples\": 40,").count(), 6, "{text}");
    assert_eq!(text.matches("\"msgs_per_sec\": null").count(), 4, "{text}");
    assert_eq!(
        text.matches("\"case\": \"ringwire-shm\"").count(),
        6,
        "{text}"
    );
}

#[test]
fn bench_rejects_sizes_below_the_sequence_number() {
    let out = run(&["bench", "--size", "4"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--size 4"));
}

/// A fresh `shm://` endpoint name for this test process.
fn shm(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("shm://rw-cli-{tag}-{}-{n}", std::process::id())
}

#[test]
fn shm_req_rep_upper() {
    rep_upper_answers_two_requests(&shm("rep"));
}

#[test]
fn shm_pub_lines_and_count_reach_sub() {
    let ep = shm("pubsub");
    // The subscriber binds first; the publisher's connect waits for its segment.
    let args = ["--topic", "a", "--count", "3", "--timeout-ms", "20000"];
    let sub = spawn(&[&["sub", "--bind", &ep][..], &args].concat());
    let mut publisher = spawn(&["pub", "--connect", &ep, "--topic", "ab"]);
    let stdin = publisher.stdin.take().unwrap();
    { stdin }.write_all(b"x\r\n\nlast").unwrap();
    let out = finish(sub);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"ab\tx\nab\t\nab\tlast\n");
    assert!(finish(publisher).status.success());

    let ep = shm("count");
    let sub = spawn(&[
        "sub",
        "--bind",
        &ep,
        "--count",
        "2",
        "--timeout-ms",
        "20000",
    ]);
    let out = run(&[
        "pub",
        "--connect",
        &ep,
        "--topic",
        "t",
        "--count",
        "2",
        "--message",
        "m",
    ]);
    assert!(out.status.success(), "{out:?}");
    let out = finish(sub);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"t\tm\nt\tm\n");
}

#[test]
fn shm_push_to_pull_connecting_first() {
    // The puller's connect waits for the segment.
    push_to_pull_connecting_first_over(&shm("push"));
}

#[test]
fn shm_timeouts_exit_1_and_bad_names_exit_2() {
    let out = run(&["sub", "--bind", &shm("quiet"), "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["pull", "--bind", &shm("quiet2"), "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&[
        "req",
        "--connect",
        &shm("norep"),
        "anyone?",
        "--timeout-ms",
        "100",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["sub", "--bind", "shm://", "--timeout-ms", "100"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn bridge_republishes_firmware_frames_until_the_link_closes() {
    use ringwire::serial::{Bridge, FrameKind};
    // The "firmware" is a TCP peer speaking the serial framing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let serial = format!("tcp://{}", listener.local_addr().unwrap());
    let to = shm("bridge");
    let bridge = spawn(&[
        "bridge", "--serial", &serial, "--to", &to, "--for-ms", "25000",
    ]);
    let (stream, _) = listener.accept().unwrap();
    let mut firmware = Bridge::new(stream);
    let sub = spawn(&[
        "sub",
        "--connect",
        &to,
        "--count",
        "1",
        "--timeout-ms",
        "20000",
    ]);
    // The subscriber sees what is published after it attached: send until it has one.
    let mut sub = Some(sub);
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some(child) = sub.as_mut() {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
        firmware.send(FrameKind::Publish, 7, b"hi").unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    let out = finish(sub.take().unwrap());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"serial/7\thi\n");
    // Closing the link ends the bridge normally.
    drop(firmware);
    let out = finish(bridge);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("closed by the other end"));
}

#[test]
fn bridge_help_and_bad_endpoint() {
    let out = run(&["bridge", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--serial") && help.contains("--to") && help.contains("--commands"));
    let out = run(&["bridge", "--serial", "/nonexistent", "--to", "udp://x:1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
