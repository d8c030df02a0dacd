//! Runs `ringwire-bench events` end to end with tiny counts (the cases every build has:
//! emit over shm and tcp, the shm PUB/SUB baseline, doorbell signals): the receivers are
//! spawned, every case reports a row with consistent statistics. Nothing here asserts on how
//! fast anything is.
#![forbid(unsafe_code)]

use std::process::Command;

#[test]
fn the_events_bench_reports_every_case() {
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args(["events", "--iters", "40", "--warmup", "5", "--subs", "1,3"])
        .args(["--interval-us", "200", "--repeat", "1", "--json"])
        .args(["--case", "pubsub-shm,emit-shm,emit-tcp,signal-shm"])
        .output()
        .expect("run ringwire-bench events");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    let json = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = json.lines().filter(|l| l.contains("\"case\"")).collect();
    let cases: Vec<String> = rows
        .iter()
        .map(|r| {
            let case = r.split('"').nth(3).unwrap();
            let subs = r
                .split("\"subscribers\": ")
                .nth(1)
                .and_then(|s| s.split(',').next())
                .unwrap();
            format!("{case}/{subs}")
        })
        .collect();
    assert_eq!(
        cases,
        [
            "pubsub-shm/1",
            "pubsub-shm/3",
            "emit-shm/1",
            "emit-shm/3",
            "emit-tcp/1",
            "emit-tcp/3",
            "signal-shm/1"
        ],
        "{json}"
    );
    for r in &rows {
        let num = |k: &str| -> u64 {
            r.split(&format!("\"{k}\": "))
                .nth(1)
                .and_then(|s| s.split([',', '}']).next())
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| panic!("{k} in {r}"))
        };
        assert!(num("p50_ns") > 0 && num("p50_ns") <= num("p99_ns"), "{r}");
    }
    // The emit rows are set against the PUB/SUB baseline of the same subscriber count.
    assert!(rows[2].contains("\"vs\": \"pubsub-shm\""), "{}", rows[2]);
}
