//! Runs `ringwire-bench scaling` end to end with tiny counts (fan-out to 1 and 2 subscribers,
//! 0 and 10 idle connections, whatever peers the build has) and checks the JSON file's shape
//! against the table. Nothing here asserts on how fast anything is.
#![forbid(unsafe_code)]

use std::process::Command;

use serde_json::Value;

fn series<'a>(json: &'a Value, part: &str, system: &str) -> &'a Vec<Value> {
    json[part][system]
        .as_array()
        .unwrap_or_else(|| panic!("{part}.{system} is not an array in {json}"))
}

#[test]
fn scaling_writes_both_curves_as_json() {
    let dir = std::env::temp_dir().join(format!("ringwire-scaling-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("scaling.json");
    let svg = dir.join("scaling.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_ringwire-bench"))
        .args([
            "scaling",
            "--subs",
            "1,2",
            "--idle",
            "0,10",
            "--lat-msgs",
            "200",
            "--interval-us",
            "200",
            "--burst-msgs",
            "2000",
            "--iters",
            "200",
            "--warmup",
            "20",
            "--timeout",
            "60",
            "--json",
        ])
        .arg(&file)
        .arg("--plot")
        .arg(&svg)
        .output()
        .expect("run ringwire-bench scaling");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed: {stderr}");
    let table = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
        .unwrap_or_else(|e| panic!("not JSON: {e}"));
    let svg = std::fs::read_to_string(&svg).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // The picture: four charts, a legend entry per system and statistic.
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(str::trim))
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Fan-out over"))
            .count(),
        2,
        "{texts:?}"
    );
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.starts_with("Idle connections on"))
            .count(),
        2,
        "{texts:?}"
    );
    for legend in ["ringwire p50", "ringwire p99", "ringwire"] {
        assert!(texts.contains(&legend), "no {legend:?} in {texts:?}");
    }

    let fan = series(&json, "fanout", "ringwire");
    assert_eq!(fan.len(), 2, "{fan:?}");
    for (p, subs) in fan.iter().zip([1, 2]) {
        assert_eq!(p["subs"], subs);
        let p50 = p["p50_ns"].as_f64().unwrap();
        let p99 = p["p99_ns"].as_f64().unwrap();
        assert!(p50 > 0.0 && p99 >= p50, "{p}");
        assert!(p["delivered_per_s"].as_f64().unwrap() > 0.0, "{p}");
        assert!(p["lost"].as_u64().is_some(), "{p}");
    }
    let con = series(&json, "connections", "ringwire");
    assert_eq!(con.len(), 2, "{con:?}");
    assert_eq!(con[0]["idle"], 0);
    assert!(con[0]["bytes_per_idle"].is_null(), "{con:?}");
    assert_eq!(con[1]["idle"], 10);
    assert!(con[1]["bytes_per_idle"].is_number(), "{con:?}");
    for p in con {
        let p50 = p["rtt_p50_ns"].as_f64().unwrap();
        assert!(p50 > 0.0 && p["rtt_p99_ns"].as_f64().unwrap() >= p50, "{p}");
        assert!(p["rss_bytes"].as_f64().unwrap() > 0.0, "{p}");
    }

    // Every point is a row of the table, with the same subscriber/idle count.
    let rows = |system: &str| -> Vec<Vec<&str>> {
        table
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|w| w.first() == Some(&system))
            .collect()
    };
    let ringwire = rows("ringwire");
    assert_eq!(ringwire.len(), 4, "{table}");
    assert_eq!(ringwire[0][1], "1");
    assert_eq!(ringwire[1][1], "2");
    assert_eq!(ringwire[2][1], "0");
    assert_eq!(ringwire[3][1], "10");
    // Peers compiled in appear in both the table and the JSON.
    for (part, system) in [("fanout", "iceoryx2"), ("connections", "libzmq")] {
        let in_json = json[part].get(system).is_some();
        assert_eq!(in_json, !rows(system).is_empty(), "{system}: {table}");
    }
}
