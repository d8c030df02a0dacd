//! Runs `ringwire-bench broker` end to end with tiny counts on the cases every build has
//! (ringwire's router over tcp, ipc and shm, direct REQ/REP; no libzmq): the broker process
//! starts, clients and workers run, and the report has one row per case, worker count and
//! client count, and a memory row per brokered case. Nothing here asserts on speed.
#![forbid(unsafe_code)]

use std::process::Command;

#[test]
fn broker_bench_reports_every_row() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args([
            "broker",
            "--requests",
            "20",
            "--warmup",
            "5",
            "--clients",
            "1,3",
            "--workers",
            "1,2",
            "--idle",
            "3",
            "--case",
            "ringwire-tcp,ringwire-ipc,ringwire-shm,direct-shm,direct-shm-64,direct-tcp",
        ])
        .output()
        .expect("run ringwire-bench broker");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    for case in ["ringwire-tcp", "ringwire-ipc", "ringwire-shm"] {
        for (w, c) in [("1", "1"), ("1", "3"), ("2", "1"), ("2", "3")] {
            let row = rows
                .iter()
                .find(|r| r.len() == 6 && r[0] == case && r[1] == w && r[2] == c)
                .unwrap_or_else(|| panic!("no row {case} {w} {c} in\n{text}"));
            let p50: f64 = row[3].parse().unwrap();
            let p99: f64 = row[4].parse().unwrap();
            let rate: f64 = row[5].parse().unwrap();
            assert!(p50 > 0.0 && p99 >= p50 && rate > 0.0, "{row:?}");
        }
        assert!(
            rows.iter().any(|r| r.len() == 4 && r[0] == case),
            "no memory row for {case} in\n{text}"
        );
    }
    for case in ["direct-shm", "direct-shm-64", "direct-tcp"] {
        assert_eq!(
            rows.iter().filter(|r| r.len() == 6 && r[0] == case).count(),
            2,
            "{text}"
        );
    }
}
