//! Runs the benchmark binary end to end on the cases every build has (bare, raw sockets) with
//! tiny counts: the leader spawns its peer, both connect, and the report holds one row per
//! transport and size with consistent statistics. Nothing here asserts on how fast anything is.
#![forbid(unsafe_code)]

use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args(args)
        // The program's own watchdog kills a hung peer and fails the run.
        .args(["--timeout", "60"])
        .output()
        .expect("run ringwire-bench")
}

/// The value after `"key": ` in a JSON object rendered on one line.
fn field<'a>(row: &'a str, key: &str) -> &'a str {
    let start = row
        .find(&format!("\"{key}\": "))
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
        + key.len()
        + 4;
    let rest = &row[start..];
    let end = match rest.strip_prefix('"') {
        // Our labels hold no escaped quotes.
        Some(s) => s.find('"').map_or(rest.len(), |i| i + 2),
        None => rest.find([',', '}']).unwrap_or(rest.len()),
    };
    rest[..end].trim()
}

fn number(row: &str, key: &str) -> u64 {
    field(row, key)
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {row}: {e}"))
}

#[test]
fn bare_and_raw_socket_report_every_row() {
    let out = bench(&[
        "--case",
        "bare,raw-socket",
        "--iters",
        "2000",
        "--warmup",
        "200",
        "--thr-msgs",
        "20000",
        "--repeat",
        "2",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    let json = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = json.lines().filter(|l| l.contains("\"case\"")).collect();
    let transports: Vec<(&str, &str, u64)> = rows
        .iter()
        .map(|r| (field(r, "case"), field(r, "transport"), number(r, "size")))
        .collect();
    assert_eq!(
        transports,
        [
            ("\"bare\"", "\"atomic ping-pong, spin\"", 8),
            ("\"bare\"", "\"spsc ring, spin\"", 8),
            ("\"raw-socket\"", "\"tcp loopback, nodelay\"", 8),
            ("\"raw-socket\"", "\"tcp loopback, nodelay\"", 65536),
            ("\"raw-socket\"", "\"unix stream\"", 8),
            ("\"raw-socket\"", "\"unix stream\"", 65536),
        ]
    );
    for row in &rows {
        assert_eq!(number(row, "runs"), 2, "{row}");
        assert_eq!(number(row, "samples"), 2000, "{row}");
        let (p50, p99, p999) = (
            number(row, "p50_ns"),
            number(row, "p99_ns"),
            number(row, "p999_ns"),
        );
        assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{row}");
    }
    // Throughput is measured at 8 bytes for the ring and both sockets, never for the mailbox.
    let rates: Vec<bool> = rows
        .iter()
        .map(|r| field(r, "msgs_per_sec") != "null")
        .collect();
    assert_eq!(rates, [false, true, true, false, true, false]);
    for row in rows.iter().filter(|r| field(r, "msgs_per_sec") != "null") {
        assert!(number(row, "msgs_per_sec") > 0, "{row}");
    }
    // Progress goes to stderr, one line per run.
    assert_eq!(stderr.lines().filter(|l| l.starts_with("[")).count(), 2 * 9);
}

#[test]
fn text_table_has_a_header_and_aligned_rows() {
    let out = bench(&[
        "--case",
        "bare-atomic",
        "--iters",
        "500",
        "--warmup",
        "50",
        "--pin",
        "none",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# ringwire-bench: 500 round trips"));
    assert!(lines[1].starts_with("case") && lines[1].contains("rtt p99.9"));
    assert!(lines[2].chars().all(|c| c == '-' || c == ' '));
    assert_eq!(lines.len(), 4);
    assert!(lines[3].starts_with("bare") && lines[3].contains("atomic ping-pong"));
    // Each header column ends where its values end (right-aligned numbers).
    let end = lines[1].find("rtt p50").unwrap() + "rtt p50".len();
    assert!(lines[3][..end].ends_with(" ns") || lines[3][..end].ends_with(" us"));
}

#[test]
fn unknown_cases_are_an_error() {
    let out = bench(&["--case", "no-such-transport"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no transport matches"));
}

#[test]
fn list_names_the_default_transports() {
    let out = bench(&["--list"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for id in ["bare-atomic", "bare-ring", "raw-tcp", "raw-unix"] {
        assert!(text.lines().any(|l| l.starts_with(id)), "{id} in {text}");
    }
}

#[test]
fn ringwire_transports_complete_every_run() {
    let out = bench(&[
        "--case",
        "ringwire-shm-adaptive,ringwire-zmtp-tcp,ringwire-zmtp-ipc",
        "--iters",
        "300",
        "--warmup",
        "30",
        "--thr-msgs",
        "5000",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    let json = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = json.lines().filter(|l| l.contains("\"case\"")).collect();
    let seen: Vec<(&str, u64, bool)> = rows
        .iter()
        .map(|r| {
            (
                field(r, "case"),
                number(r, "size"),
                field(r, "msgs_per_sec") != "null",
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("\"ringwire-shm\"", 8, true),
            ("\"ringwire-shm\"", 65536, false),
            ("\"ringwire-zmtp\"", 8, true),
            ("\"ringwire-zmtp\"", 65536, false),
            ("\"ringwire-zmtp\"", 8, true),
            ("\"ringwire-zmtp\"", 65536, false),
        ]
    );
    for row in &rows {
        assert_eq!(number(row, "samples"), 300, "{row}");
    }
}
