//! The `ringwire` CLI contract, driven as a subprocess.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::process::{Child, Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

mod common;

use common::*;

fn ipc(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("rw-cli-{tag}-{}-{n}.sock", std::process::id()));
    format!("ipc://{}", p.display())
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
fn usage_errors_exit_2_with_one_line_naming_the_fault() {
    let cases: [(&[&str], &str); 7] = [
        (&["sub"], "--bind"),
        (&["sub", "--bind", "a", "--connect", "b"], "--connect"),
        (&["sub", "--bind", "nonsense"], "nonsense"),
        (&["pull", "--connect", "udp://x:1"], "udp"),
        (&["frobnicate"], "frobnicate"),
        (&["sub", "--bind", "shm://x", "--count", "abc"], "abc"),
        (&["broker", "--frontend", "tcp://127.0.0.1:0"], "--backend"),
    ];
    for (args, names) in cases {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("ringwire: "), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
    // Help and version are not errors.
    let out = run(&["sub", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--bind"));
    assert_eq!(run(&["--version"]).status.code(), Some(0));
}

#[test]
fn log_dir_writes_the_records_to_a_file_named_after_the_command() {
    let dir = std::env::temp_dir().join(format!("rw-cli-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ep = ipc("logdir");
    let out = Command::new(BIN)
        .args(["req", "--connect", &ep, "hi", "--timeout-ms", "200"])
        .arg("--log-dir")
        .arg(&dir)
        .env("RINGWIRE_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let file = dir.join("ringwire-req_rCURRENT.log");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
    assert!(text.lines().count() > 0, "{text}");
    assert!(
        text.lines().all(|l| l.contains(" ringwire")),
        "every record names its module: {text}"
    );
    // A malformed level is a usage error, said once.
    let out = Command::new(BIN)
        .args(["req", "--connect", &ep, "hi", "--timeout-ms", "200"])
        .env("RINGWIRE_LOG", "loud=verbose=yes")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("RINGWIRE_LOG"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
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
    let out = bench(&["--slow-msgs", "0"]);
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
            "rtt p90",
            "rtt p99",
            "rtt p99.9",
            "rtt max",
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
        // Five latencies, each a number and a unit; throughput only on the 8-byte rows.
        let units =
            row.matches(" ns").count() + row.matches(" us").count() + row.matches(" ms").count();
        assert_eq!(units, 5, "{row}");
        assert_eq!(row.trim_end().ends_with(" -"), size != "8 B", "{row}");
    }
}

#[test]
fn bench_json_has_the_requested_samples() {
    let out = bench(&["--json", "--slow-msgs", "0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("\"iters\": 40"), "{text}");
    // Each row's median and its one run.
    assert_eq!(text.matches("\"samples\": 40,").count(), 12, "{text}");
    assert_eq!(text.matches("\"msgs_per_sec\": null").count(), 4, "{text}");
    assert_eq!(
        text.matches("\"case\": \"ringwire-shm\"").count(),
        6,
        "{text}"
    );
}

/// A number after `key` in `text` (up to the next character that cannot be in one).
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {text}"))
        + key.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {text}"))
}

/// The slow-subscriber section: shm PUB/SUB at 2x overload (the share delivered, the loss
/// count) and the lossless publisher's rate with 1 and 4 subscribers, in the table and in
/// the JSON document. Only plausibility: figures depend on the machine.
#[test]
fn bench_reports_the_overload_and_lossless_cases() {
    let out = bench(&["--slow-msgs", "2000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let section = &text[text
        .find("# shm PUB/SUB slow subscribers")
        .unwrap_or_else(|| panic!("no section in {text}"))..];
    assert!(section.contains("2000 msgs per run"), "{section}");
    let overload = section
        .lines()
        .find(|l| l.starts_with("overload 2x"))
        .unwrap();
    let fraction = number_after(overload, "delivered");
    assert!(fraction > 0.0 && fraction <= 1.0, "{overload}");
    let delivered = number_after(overload, "(");
    let lost = number_after(overload, "lost");
    assert_eq!(delivered + lost, 2000.0, "{overload}");
    for n in ["1 subscriber:", "4 subscribers:"] {
        let line = section.lines().find(|l| l.contains(n)).unwrap();
        assert!(
            line.starts_with("lossless") && line.ends_with("msg/s"),
            "{line}"
        );
        assert!(number_after(line, n) > 0.0, "{line}");
    }

    let out = bench(&["--slow-msgs", "2000", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let slow = &text[text.find("\"slow_subscribers\"").expect("section")..];
    let fraction = number_after(slow, "\"delivered_fraction\":");
    assert!(fraction > 0.0 && fraction <= 1.0, "{slow}");
    assert_eq!(
        number_after(slow, "\"delivered\":") + number_after(slow, "\"lost\":"),
        2000.0,
        "{slow}"
    );
    for n in [1, 4] {
        let key = format!("{{\"subscribers\": {n}, \"msgs_per_sec\":");
        assert!(number_after(slow, &key) > 0.0, "{slow}");
    }
    assert!(text.trim_end().ends_with('}'), "{text}");
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

/// The OS file of `shm://NAME` on Linux.
fn shm_file(ep: &str) -> std::path::PathBuf {
    let name = ep.strip_prefix("shm://").unwrap();
    std::path::PathBuf::from(format!("/dev/shm/ringwire.{name}"))
}

/// Waits (bounded by a watchdog) until `ready()` holds while `child` runs.
fn wait_until(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(child.try_wait().unwrap().is_none(), "exited before {what}");
        assert!(Instant::now() < deadline, "never {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until a bound tcp endpoint accepts connections.
fn wait_listening(child: &mut Child, port: u16) {
    wait_until(child, "listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// Accepts one connection on `listener` while `child` runs (watchdog: the child's exit).
fn accept_from(child: &mut Child, listener: &std::net::TcpListener) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    let mut conn = None;
    wait_until(child, "connected", || {
        conn = listener.accept().ok().map(|(c, _)| c);
        conn.is_some()
    });
    conn.unwrap()
}

/// The lines a child prints, as they come (a thread reads its stdout).
fn stdout_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in out.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the child's exit and its stderr (stdout already taken).
fn finish_taken(mut child: Child) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ringwire CLI did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn bad_endpoints_and_unresolvable_hosts_exit_2_with_a_clear_line() {
    let long = format!("shm://{}", "x".repeat(300));
    let cases: [&[&str]; 6] = [
        &["sub", "--bind", "shm://robot/pose", "--timeout-ms", "100"],
        &["pull", "--connect", &long, "--timeout-ms", "100"],
        &["sub", "--connect", "shm://a..b", "--timeout-ms", "100"],
        &["sub", "--connect", "tcp://no-such-host.invalid:5555"],
        &["pull", "--bind", "tcp://no-such-host.invalid:5555"],
        &["req", "--connect", "tcp://no-such-host.invalid:1", "hi"],
    ];
    for args in cases {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with("ringwire: invalid endpoint"),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = run(&["bridge", "--serial", "/x", "--to", "shm://a/b"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn help_states_the_exit_codes_and_the_new_options() {
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).into_owned();
    for code in [
        "0 success",
        "1 timed out",
        "2 usage error",
        "3 runtime",
        "130",
        "143",
    ] {
        assert!(help.contains(code), "{code}: {help}");
    }
    for (cmd, options) in [
        (
            "sub",
            &[
                "--timeout-ms",
                "--history",
                "--max-message-size",
                "--slot-size",
            ][..],
        ),
        (
            "pub",
            &[
                "--timeout-ms",
                "--wait-subscribers",
                "--history",
                "--slot-size",
            ],
        ),
        ("push", &["--timeout-ms", "--max-message-size"]),
        ("pull", &["--timeout-ms", "--max-message-size"]),
        ("req", &["--timeout-ms"]),
        ("rep", &["--timeout-ms"]),
        ("bridge", &["--timeout-ms"]),
    ] {
        let help = String::from_utf8_lossy(&run(&[cmd, "--help"]).stdout).into_owned();
        for o in options {
            assert!(help.contains(o), "{cmd} {o}: {help}");
        }
    }
}

/// A 10 KiB line (over the library's default 4 KiB slot) goes through shm push -> pull with
/// the CLI's defaults, and so does the line after it.
#[test]
fn shm_push_pull_carries_a_10_kib_line_whole() {
    let ep = shm("big");
    let pull = spawn(&[
        "pull",
        "--bind",
        &ep,
        "--count",
        "2",
        "--timeout-ms",
        "20000",
    ]);
    let mut push = spawn(&["push", "--connect", &ep, "--timeout-ms", "20000"]);
    let big = "x".repeat(10 * 1024);
    let input = format!("{big}\nafter\n");
    push.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = finish(push);
    assert!(out.status.success(), "{out:?}");
    let out = finish(pull);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
}

/// A line over the segment's limit is an error naming the line, not a skip; a larger
/// --slot-size on the creating side carries it.
#[test]
fn shm_line_over_the_limit_fails_loudly_and_slot_size_fits_it() {
    let line = "y".repeat(2000);
    let input = format!("a\n{line}\nb\n");

    let ep = shm("limit");
    let args = [
        "--count",
        "1",
        "--timeout-ms",
        "20000",
        "--max-message-size",
        "1000",
    ];
    let pull = spawn(&[&["pull", "--bind", &ep][..], &args].concat());
    let mut push = spawn(&["push", "--connect", &ep, "--timeout-ms", "20000"]);
    push.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = finish(push);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(
        err.contains("line 2 is 2000 bytes") && err.contains("--max-message-size"),
        "{err}"
    );
    let out = finish(pull);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"a\n");

    let ep = shm("slot");
    let args = [
        "--count",
        "3",
        "--timeout-ms",
        "20000",
        "--slot-size",
        "3000",
    ];
    let pull = spawn(&[&["pull", "--bind", &ep][..], &args].concat());
    let mut push = spawn(&["push", "--connect", &ep, "--timeout-ms", "20000"]);
    push.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(finish(push).status.success());
    let out = finish(pull);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), input);
}

/// A tcp puller with --max-message-size closes a connection that sends more and says so on
/// stderr; the next (small) message still arrives.
#[test]
fn tcp_receiver_reports_a_message_over_its_limit() {
    let port = free_tcp_port();
    let bind = format!("tcp://127.0.0.1:{port}");
    let args = [
        "--count",
        "1",
        "--timeout-ms",
        "20000",
        "--max-message-size",
        "100",
    ];
    let mut pull = spawn(&[&["pull", "--bind", &bind][..], &args].concat());
    wait_listening(&mut pull, port);
    let mut push = spawn(&["push", "--connect", &bind]);
    let big = format!("{}\n", "z".repeat(200));
    push.stdin
        .take()
        .unwrap()
        .write_all(big.as_bytes())
        .unwrap();
    let _ = finish(push);
    let mut push = spawn(&["push", "--connect", &bind]);
    push.stdin.take().unwrap().write_all(b"small\n").unwrap();
    let _ = finish(push);
    let out = finish(pull);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"small\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("200 bytes exceeds the limit") && err.contains("--max-message-size"),
        "{err}"
    );
}

/// Every blocking command ends with exit 1 and "timed out" when --timeout-ms passes.
#[test]
fn timeout_ms_ends_every_blocking_command() {
    let port = free_tcp_port();
    let tcp = format!("tcp://127.0.0.1:{port}");
    let cases: [&[&str]; 7] = [
        &["rep", "--bind", &ipc("rep-quiet"), "--timeout-ms", "100"],
        &["rep", "--connect", &shm("rep-none"), "--timeout-ms", "100"],
        &["sub", "--connect", &shm("sub-none"), "--timeout-ms", "100"],
        &[
            "pull",
            "--connect",
            &shm("pull-none"),
            "--timeout-ms",
            "100",
        ],
        &[
            "push",
            "--connect",
            &shm("push-none"),
            "--timeout-ms",
            "100",
        ],
        &[
            "pub",
            "--connect",
            &shm("pub-none"),
            "--topic",
            "t",
            "--timeout-ms",
            "100",
        ],
        &[
            "pub",
            "--bind",
            &tcp,
            "--topic",
            "t",
            "--wait-subscribers",
            "1",
            "--timeout-ms",
            "100",
        ],
    ];
    for args in cases {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("timed out"), "{args:?}: {err}");
    }

    // A pusher whose messages nobody takes says so instead of exiting 0.
    let mut push = spawn(&["push", "--bind", &shm("untaken"), "--timeout-ms", "200"]);
    push.stdin.take().unwrap().write_all(b"1\n2\n").unwrap();
    let out = finish(push);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("2 of the 2 pushed messages were not taken"),
        "{err}"
    );

    // The bridge: stopped by its timeout, with its statistics.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let serial = format!("tcp://{}", listener.local_addr().unwrap());
    let to = shm("bridge-timeout");
    let bridge = spawn(&[
        "bridge",
        "--serial",
        &serial,
        "--to",
        &to,
        "--timeout-ms",
        "200",
    ]);
    // (The link is never accepted: the kernel's backlog completes the bridge's connect.)
    let out = finish(bridge);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("bridge stopped") && err.contains("timed out"),
        "{err}"
    );
}

#[test]
fn history_is_refused_where_it_does_not_apply() {
    let out = run(&["sub", "--bind", &ipc("hist"), "--history", "3"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("shm:// endpoints only"));
}

/// `pub --wait-subscribers 2` over tcp sends nothing before both subscribers are there, so
/// both get the first message.
#[test]
fn pub_wait_subscribers_reaches_every_subscriber() {
    let port = free_tcp_port();
    let bind = format!("tcp://127.0.0.1:{port}");
    let mut publisher = spawn_waiting_publisher(&bind);
    wait_listening(&mut publisher, port);
    two_subscribers_get_the_first_message(&bind, publisher);
}

/// `pub --bind EP --wait-subscribers 2` sending one message, `first` on topic `t`.
fn spawn_waiting_publisher(ep: &str) -> Child {
    let args = ["--topic", "t", "--count", "1", "--message", "first"];
    let extra = ["--wait-subscribers", "2", "--timeout-ms", "30000"];
    spawn(&[&["pub", "--bind", ep][..], &args, &extra].concat())
}

/// Two subscribers connect to `ep` and each gets the first message; then `publisher` ends
/// successfully.
fn two_subscribers_get_the_first_message(ep: &str, publisher: Child) {
    let sub_args = ["--count", "1", "--timeout-ms", "30000"];
    let subs: Vec<Child> = (0..2)
        .map(|_| spawn(&[&["sub", "--connect", ep][..], &sub_args].concat()))
        .collect();
    for s in subs {
        let out = finish(s);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"t\tfirst\n");
    }
    assert!(finish(publisher).status.success());
}

/// The same over shm: the publisher binds, waits until both subscribers have attached, and
/// only then sends, so both get the first message without any --history.
#[test]
fn shm_pub_wait_subscribers_reaches_every_subscriber() {
    let ep = shm("wait-subs");
    let publisher = spawn_waiting_publisher(&ep);
    two_subscribers_get_the_first_message(&ep, publisher);
}

/// A subscriber that attaches late gets the publisher's last messages with --history.
#[test]
fn shm_sub_history_gives_a_late_subscriber_the_last_messages() {
    let ep = shm("history");
    let mut publisher = spawn(&["pub", "--bind", &ep, "--topic", "t", "--history", "3"]);
    let mut stdin = publisher.stdin.take().unwrap();
    // A first subscriber proves what has been published: once it printed `c`, `a` `b` `c`
    // are in the ring.
    let mut first = spawn(&["sub", "--connect", &ep, "--timeout-ms", "30000"]);
    let lines = stdout_lines(&mut first);
    let deadline = Instant::now() + Duration::from_secs(30);
    while lines.try_recv().is_err() {
        assert!(
            Instant::now() < deadline,
            "the first subscriber got nothing"
        );
        stdin.write_all(b"filler\n").unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    stdin.write_all(b"a\nb\nc\n").unwrap();
    loop {
        let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        if line == "t\tc" {
            break;
        }
    }
    signal(&first, "TERM");
    assert_eq!(finish_taken(first).0, Some(143));
    let args = ["--history", "3", "--count", "3", "--timeout-ms", "30000"];
    let late = run(&[&["sub", "--connect", &ep][..], &args].concat());
    assert!(late.status.success(), "{late:?}");
    assert_eq!(late.stdout, b"t\ta\nt\tb\nt\tc\n");
    drop(stdin);
    assert!(finish(publisher).status.success());
}

/// SIGINT (130) and SIGTERM (143) stop `sub`, `pull` and `rep` over shm and tcp: the
/// counters on stderr, and no segment left behind.
#[test]
fn signals_stop_receivers_cleanly_over_shm_and_tcp() {
    for cmd in ["sub", "pull", "rep"] {
        for (sig, code) in [("INT", 130), ("TERM", 143)] {
            let ep = shm(cmd);
            let mut child = spawn(&[cmd, "--bind", &ep]);
            let file = shm_file(&ep);
            wait_until(&mut child, "created its segment", || file.exists());
            signal(&child, sig);
            let out = finish(child);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{cmd} {sig}: {err}");
            let counters = match cmd {
                "sub" => "received 0, lost 0",
                "pull" => "received 0",
                _ => "served 0",
            };
            assert!(err.contains(&format!("SIG{sig}: {counters}")), "{err}");
            assert!(!file.exists(), "{cmd} left {}", file.display());

            let port = free_tcp_port();
            let mut child = spawn(&[cmd, "--bind", &format!("tcp://127.0.0.1:{port}")]);
            wait_listening(&mut child, port);
            signal(&child, sig);
            let out = finish(child);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(code), "{cmd} {sig} tcp: {err}");
            // A ZMTP subscriber cannot know what it lost.
            let counters = counters.split(',').next().unwrap();
            assert!(err.contains(&format!("SIG{sig}: {counters}\n")), "{err}");
        }
    }
}

/// The counters count: a subscriber stopped after two messages says `received 2`.
#[test]
fn sigint_after_messages_prints_what_the_subscriber_received() {
    let ep = shm("counted");
    let mut sub = spawn(&["sub", "--bind", &ep]);
    let file = shm_file(&ep);
    wait_until(&mut sub, "created its segment", || file.exists());
    let lines = stdout_lines(&mut sub);
    let publisher = run(&[
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
    assert!(publisher.status.success(), "{publisher:?}");
    for _ in 0..2 {
        assert_eq!(lines.recv_timeout(Duration::from_secs(30)).unwrap(), "t\tm");
    }
    signal(&sub, "INT");
    let (code, err) = finish_taken(sub);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("SIGINT: received 2, lost 0"), "{err}");
    assert!(!file.exists());
}

/// SIGTERM stops `pub` and `push` waiting on stdin, and `req` waiting for a reply; the
/// segment a pusher created is gone.
#[test]
fn signals_stop_senders_waiting_for_input_or_a_reply() {
    let ep = shm("push-sig");
    let mut push = spawn(&["push", "--bind", &ep]);
    let file = shm_file(&ep);
    wait_until(&mut push, "created its segment", || file.exists());
    signal(&push, "TERM");
    let out = finish(push);
    assert_eq!(out.status.code(), Some(143), "{out:?}");
    assert!(!file.exists());

    let port = free_tcp_port();
    let mut publisher = spawn(&[
        "pub",
        "--bind",
        &format!("tcp://127.0.0.1:{port}"),
        "--topic",
        "t",
    ]);
    wait_listening(&mut publisher, port);
    signal(&publisher, "INT");
    assert_eq!(finish(publisher).status.code(), Some(130));

    // A replier that never answers (a raw listener) keeps `req` waiting.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", listener.local_addr().unwrap());
    let mut req = spawn(&["req", "--connect", &ep, "hi", "--timeout-ms", "60000"]);
    let _conn = accept_from(&mut req, &listener);
    signal(&req, "TERM");
    assert_eq!(finish(req).status.code(), Some(143));
}

/// SIGINT stops the bridge with its statistics.
#[test]
fn sigint_stops_the_bridge_with_its_statistics() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let serial = format!("tcp://{}", listener.local_addr().unwrap());
    let to = shm("bridge-sig");
    let bridge = spawn(&["bridge", "--serial", &serial, "--to", &to]);
    let mut bridge = bridge;
    let _link = accept_from(&mut bridge, &listener);
    let file = shm_file(&to);
    wait_until(&mut bridge, "created its segment", || file.exists());
    signal(&bridge, "INT");
    let out = finish(bridge);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("bridge stopped"), "{err}");
    assert!(!file.exists());
}

/// Binding an ipc:// path that holds a regular file is a usage error, and the file stays.
#[test]
fn ipc_bind_over_a_regular_file_is_refused_and_keeps_the_file() {
    let path = std::env::temp_dir().join(format!("rw-cli-file-{}", std::process::id()));
    std::fs::write(&path, b"data\n").unwrap();
    let ep = format!("ipc://{}", path.display());
    for cmd in ["pull", "sub", "rep"] {
        let out = run(&[cmd, "--bind", &ep, "--timeout-ms", "200"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("exists and is not a socket"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"data\n",
            "{cmd} touched the file"
        );
    }
    let out = run(&["bridge", "--serial", "/nonexistent", "--to", &ep]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"data\n");
    std::fs::remove_file(&path).unwrap();
}

/// A tcp pusher whose puller stopped reading does not exit 0 as if all went out: with
/// --timeout-ms it exits 1 and says so.
#[test]
fn tcp_push_to_a_puller_that_stopped_reading_times_out_loudly() {
    let port = free_tcp_port();
    let bind = format!("tcp://127.0.0.1:{port}");
    let mut pull = spawn(&["pull", "--bind", &bind, "--count", "1000000"]);
    wait_listening(&mut pull, port);
    let mut push = spawn(&["push", "--connect", &bind, "--timeout-ms", "2000"]);
    // Wait for the first line to arrive, then stop the puller (it holds its socket open
    // but reads nothing more).
    let lines = stdout_lines(&mut pull);
    let mut stdin = push.stdin.take().unwrap();
    stdin.write_all(b"first\n").unwrap();
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(30)).unwrap(),
        "first"
    );
    signal(&pull, "STOP");
    // 64 MiB: more than the kernel's socket buffers on both sides hold.
    let line = format!("{}\n", "p".repeat(64 * 1024));
    let writer = thread::spawn(move || {
        for _ in 0..1024 {
            if stdin.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    let out = finish(push);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("timed out"), "{err}");
    signal(&pull, "CONT");
    signal(&pull, "TERM");
    let (code, _) = finish_taken(pull);
    assert_eq!(code, Some(143));
    writer.join().unwrap();
}

/// The lines a child prints on stderr, as they come (a thread reads them).
fn stderr_lines(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let err = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in err.lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Kills a child that is still running when a failed assertion unwinds past it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The shm files whose name carries `-{pid}-` (the benchmark names its segments after its
/// process id).
fn segments_of(pid: u32) -> Vec<String> {
    let tag = format!("-{pid}-");
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("ringwire.") && n.contains(&tag))
        .collect()
}

/// SIGINT (130) and SIGTERM (143) stop `ringwire bench` in the middle of a run: the peer it
/// started is gone and no segment of the run is left.
#[test]
fn signals_stop_the_benchmark_cleanly() {
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        // A short round-trip run (its progress line says measuring has begun), then a
        // throughput run far too long to end by itself.
        let mut child = spawn(&[
            "bench",
            "--mode",
            "busy",
            "--size",
            "8",
            "--iters",
            "200",
            "--warmup",
            "20",
            "--thr-msgs",
            "4000000000",
            "--timeout",
            "120",
        ]);
        drop(child.stdin.take());
        let mut child = KillOnDrop(child);
        let child = &mut child.0;
        let pid = child.id();
        let lines = stderr_lines(child);
        let first = lines.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(first.contains("Rtt 8 B: p50"), "{first}");
        let children = format!("/proc/{pid}/task/{pid}/children");
        let mut peer = None;
        wait_until(child, "started the throughput run's peer", || {
            peer = std::fs::read_to_string(&children)
                .ok()
                .and_then(|c| c.split_whitespace().next()?.parse::<u32>().ok());
            peer.is_some() && !segments_of(pid).is_empty()
        });
        let peer = peer.unwrap();
        signal(child, sig);
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("ringwire bench did not exit after SIG{sig}");
            }
            thread::sleep(Duration::from_millis(10));
        }
        let code_seen = child.wait().unwrap().code();
        // Until the end of stderr (the peer shares it; a watchdog if it lingers).
        let mut rest = Vec::new();
        while let Ok(line) = lines.recv_timeout(Duration::from_secs(30)) {
            rest.push(line);
        }
        assert_eq!(code_seen, Some(code), "SIG{sig}: {rest:?}");
        assert!(
            rest.iter().any(|l| l.contains("Throughput 8 B: stopped")),
            "{rest:?}"
        );
        assert!(
            rest.iter()
                .any(|l| l.contains(&format!("stopped by SIG{sig}"))),
            "{rest:?}"
        );
        assert_eq!(segments_of(pid), Vec::<String>::new(), "SIG{sig}");
        assert!(
            !std::path::Path::new(&format!("/proc/{peer}")).exists(),
            "SIG{sig}: the peer {peer} still runs"
        );
    }
}
