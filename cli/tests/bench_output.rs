//! `ringwire bench`'s outputs, driven as a subprocess with tiny counts: the JSON file against
//! the table of the same run, the SVG plot, the payload sweep, the low-rate mode and
//! `--compare` (with and without a `ringwire-bench` program to compare with). The figures
//! depend on the machine: only their consistency is checked.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

mod common;

use common::*;
use ringwire::bench::stats::{format_ns, format_rate, format_size};
use serde_json::Value;

/// A fresh directory for this test's files.
fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rw-bench-out-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Tiny counts, blocking mode only (busy-polling pairs crawl on a loaded machine).
const TINY: [&str; 10] = [
    "--iters",
    "40",
    "--warmup",
    "4",
    "--mode",
    "blocking",
    "--slow-msgs",
    "0",
    "--timeout",
    "25",
];

/// The sweep run shared by the tests that read its outputs: stdout, the JSON file, the SVG.
struct Sweep {
    out: Output,
    json: Value,
    svg: String,
}

const SWEEP_SIZES: [usize; 3] = [8, 64, 1024];

fn sweep() -> &'static Sweep {
    static RUN: OnceLock<Sweep> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = temp_dir("sweep");
        let (json, svg) = (dir.join("r.json"), dir.join("r.svg"));
        let mut args = vec!["bench", "--sizes", "8,64,1K"];
        args.extend(TINY);
        args.extend(["--thr-msgs", "300"]);
        args.extend(["--json", json.to_str().unwrap()]);
        args.extend(["--plot", svg.to_str().unwrap()]);
        let out = run(&args);
        assert!(out.status.success(), "{out:?}");
        let text = std::fs::read_to_string(&json).expect("the JSON file");
        let sweep = Sweep {
            out,
            json: serde_json::from_str(&text).expect("valid JSON"),
            svg: std::fs::read_to_string(&svg).expect("the SVG file"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        sweep
    })
}

/// The table's data lines, each split into its cells (columns are 2+ spaces apart).
fn table_cells(stdout: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("case "));
    let split = |l: &str| -> Vec<String> {
        l.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect()
    };
    let header = split(lines.next().expect("a table header"));
    let rows = lines
        .skip(1) // the dashes
        .take_while(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(split)
        .collect();
    (header, rows)
}

fn ns(v: &Value) -> String {
    format_ns(v.as_u64().unwrap_or_else(|| panic!("not a number: {v}")))
}

#[test]
fn json_file_holds_the_numbers_of_the_table() {
    let s = sweep();
    let stdout = String::from_utf8_lossy(&s.out.stdout);
    let (header, cells) = table_cells(&stdout);
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
            "one-way msg/s",
            "age p50",
            "age p99",
            "age max"
        ]
    );
    let rows = s.json["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), cells.len(), "{stdout}");
    for (row, cells) in rows.iter().zip(&cells) {
        let rtt = &row["rtt"];
        let mut want = vec![
            row["case"].as_str().unwrap().to_string(),
            row["transport"].as_str().unwrap().to_string(),
            format_size(row["size"].as_u64().unwrap() as usize),
        ];
        for k in ["p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns"] {
            want.push(ns(&rtt[k]));
        }
        want.push(
            row["msgs_per_sec"]
                .as_f64()
                .map_or_else(|| "-".into(), format_rate),
        );
        for k in ["p50_ns", "p99_ns", "max_ns"] {
            want.push(match row["age"].is_null() {
                true => "-".into(),
                false => ns(&row["age"][k]),
            });
        }
        assert_eq!(cells, &want, "{stdout}");
        // Every run's statistics and the percentile curve are there too.
        assert_eq!(rtt["samples"], 40);
        assert_eq!(row["rtt_runs"].as_array().unwrap().len(), 1);
        assert_eq!(row["rtt_runs"][0], *rtt);
        let curve = row["rtt_curve"].as_array().unwrap();
        assert_eq!(curve.first().unwrap()[1], rtt["min_ns"]);
        assert_eq!(curve.last().unwrap()[0], 100.0);
        assert_eq!(curve.last().unwrap()[1], rtt["max_ns"]);
        let (min, mean, max) = (
            rtt["min_ns"].as_u64().unwrap(),
            rtt["mean_ns"].as_u64().unwrap(),
            rtt["max_ns"].as_u64().unwrap(),
        );
        assert!(min <= mean && mean <= max, "{rtt}");
    }
    let machine = &s.json["machine"];
    assert!(machine["logical_cpus"].as_u64().unwrap() >= 1, "{machine}");
    for k in ["cpu_model", "kernel", "os", "arch"] {
        assert!(!machine[k].as_str().unwrap().is_empty(), "{machine}");
    }
    assert_eq!(
        machine["ringwire_version"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert!(machine["command"].as_array().unwrap().len() > 5);
    assert_eq!(s.json["setup"]["iters"], 40);
}

/// `--sizes`: one row per size for each transport, throughput at each size on the PUB/SUB
/// (PUSH/PULL) rows, message ages on those of 16 bytes and more.
#[test]
fn sweep_gives_one_row_per_size_with_ages() {
    let rows = sweep().json["rows"].as_array().unwrap();
    for id in ["ringwire-shm-blocking", "ringwire-shm-zc-blocking"] {
        let sizes: Vec<u64> = rows
            .iter()
            .filter(|r| r["id"] == id)
            .map(|r| r["size"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, SWEEP_SIZES.map(|s| s as u64), "{id}");
    }
    for r in rows {
        let pubsub = r["id"] == "ringwire-shm-blocking";
        assert_eq!(r["msgs_per_sec"].is_number(), pubsub, "{r}");
        let bytes = r["bytes_per_sec"].as_f64().unwrap_or(0.0);
        let msgs = r["msgs_per_sec"].as_f64().unwrap_or(0.0);
        assert!(
            (bytes - (msgs * r["size"].as_f64().unwrap())).abs() <= r["size"].as_f64().unwrap()
        );
        let aged = pubsub && r["size"].as_u64().unwrap() >= 16;
        assert_eq!(!r["age"].is_null(), aged, "{r}");
        if aged {
            // Every 16th of the 300 measured messages carries its send time.
            let age = &r["age"];
            assert_eq!(age["samples"], 300u64.div_ceil(16), "{age}");
            let (p50, max) = (
                age["p50_ns"].as_u64().unwrap(),
                age["max_ns"].as_u64().unwrap(),
            );
            assert!(p50 > 0 && p50 <= max, "{age}");
        }
    }
}

/// The SVG parses as XML and names each transport once per chart it is in: the latency
/// chart (every transport with round trips), the throughput chart (those with throughput).
#[test]
fn plot_is_svg_with_one_series_per_transport() {
    let s = sweep();
    let doc = roxmltree::Document::parse(&s.svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    let count = |t: &str| texts.iter().filter(|x| *x == t).count();
    assert_eq!(
        count("Round-trip latency distribution (percentile curve per transport)"),
        1
    );
    assert_eq!(count("One-way throughput by payload size"), 1);
    let legends: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("ringwire-shm "))
        .collect();
    assert_eq!(
        legends,
        [
            "ringwire-shm futex wait: PUB/SUB, PUSH/PULL (8 B)",
            "ringwire-shm futex wait: loaned REQ/REP (8 B)",
            "ringwire-shm futex wait: PUB/SUB, PUSH/PULL",
        ],
        "{texts:?}"
    );
}

#[test]
fn low_rate_mode_reports_the_same_percentiles() {
    let mut args = vec![
        "bench",
        "--interval-us",
        "1500",
        "--size",
        "8",
        "--loan-sizes",
        "64",
    ];
    args.extend(TINY);
    args.extend(["--thr-msgs", "0"]);
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("40 round trips (one every 1500 us) per run"),
        "{stdout}"
    );
    let (header, cells) = table_cells(&stdout);
    assert_eq!(header.len(), 9, "{header:?}");
    assert_eq!(cells.len(), 2, "{stdout}");
    for row in &cells {
        assert!(row[3..8].iter().all(|c| c.ends_with("s")), "{row:?}");
    }
    args.push("--json");
    let out = run(&args);
    assert!(out.status.success(), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["setup"]["interval_us"], 1500);
    for row in json["rows"].as_array().unwrap() {
        assert_eq!(row["rtt"]["samples"], 40, "{row}");
    }
}

/// A copy of the `ringwire` binary alone in `dir` (so no `ringwire-bench` is beside it).
fn lone_copy(dir: &Path) -> PathBuf {
    let exe = dir.join("ringwire");
    write_executable(&exe, &std::fs::read(BIN).unwrap());
    exe
}

fn run_in(exe: &Path, path_env: &Path, args: &[&str]) -> Output {
    finish(spawn_command(
        Command::new(exe)
            .args(args)
            .env("PATH", path_env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    ))
}

#[test]
fn compare_without_the_peer_program_says_how_to_build_it() {
    let dir = temp_dir("nopeer");
    let exe = lone_copy(&dir);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run_in(&exe, &empty, &["bench", "--compare"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cargo build --release -p ringwire-bench --features iceoryx2,libzmq"),
        "{stderr}"
    );
    // Nothing was measured.
    assert!(out.stdout.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// With a `ringwire-bench` on PATH (here a script standing in for it, which answers
/// `--list` and prints a report with one iceoryx2 row), `--compare` passes it the same
/// counts and prints its table and the ratios.
#[cfg(unix)]
#[test]
fn compare_runs_the_peer_program_and_prints_ratios() {
    let dir = temp_dir("peer");
    let exe = lone_copy(&dir);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let args_file = dir.join("args");
    let report = r#"{"rows": [{"case": "iceoryx2", "id": "iceoryx2-event", "transport": "pub/sub, listener wait", "size": 8, "runs": 1, "rtt": {"samples": 40, "min_ns": 1000, "mean_ns": 2000, "p50_ns": 2000, "p90_ns": 3000, "p99_ns": 4000, "p999_ns": 5000, "max_ns": 5000}, "msgs_per_sec": 1000, "bytes_per_sec": 8000, "age": null, "rtt_runs": [], "rate_runs": [1000], "rtt_curve": [[0, 1000], [100, 5000]]}]}"#;
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --list ]; then echo 'iceoryx2-event   iceoryx2     pub/sub, listener wait'; exit 0; fi\necho \"$@\" > '{}'\necho '{report}'\n",
        args_file.display()
    );
    let peer = bin.join("ringwire-bench");
    write_executable(&peer, script.as_bytes());
    let mut args = vec!["bench", "--compare", "--size", "8", "--loan-sizes", "64"];
    args.extend(TINY);
    args.extend(["--thr-msgs", "300"]);
    let out = run_in(&exe, &bin, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let passed = std::fs::read_to_string(&args_file).unwrap();
    assert!(
        passed.contains("--case iceoryx2 --iters 40 --warmup 4 --thr-msgs 300")
            && passed.contains("--json --size 8"),
        "{passed}"
    );
    let ratios = &stdout[stdout.find("# ratios ringwire / peer").expect("ratios")..];
    let line = ratios
        .lines()
        .find(|l| l.contains("iceoryx2 pub/sub, listener wait"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("futex wait: PUB/SUB, PUSH/PULL"), "{line}");
    // p50, p99 and msg/s ratios, each a number and `x`.
    let ratios = line
        .split_whitespace()
        .filter(|w| {
            w.strip_suffix('x')
                .is_some_and(|n| n.parse::<f64>().is_ok())
        })
        .count();
    assert_eq!(ratios, 3, "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}
