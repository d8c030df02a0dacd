//! Statistics and reports: nearest-rank percentiles over a sorted array of samples, the median
//! across `--repeat` runs, the aligned text table and the JSON document.

/// Percentiles of one run's round-trip samples, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// Number of recorded round trips.
    pub samples: u64,
    /// Median round trip.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
}

/// The nearest-rank percentile of ascending `sorted` samples, the percentile given in tenths of
/// a percent (`per_mille`, 1..=1000: 500 is the median, 999 the 99.9th): the smallest sample that
/// at least that share of the samples is less than or equal to. Integer arithmetic, so that
/// 99.9 % of 1000 samples is rank 999 exactly.
pub fn percentile(sorted: &[u64], per_mille: u64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len() as u64;
    let rank = (per_mille * n).div_ceil(1000);
    sorted[rank.clamp(1, n) as usize - 1]
}

impl Latency {
    /// Computes the percentiles of `samples` (sorted in place).
    pub fn from_samples(samples: &mut [u64]) -> Latency {
        samples.sort_unstable();
        Latency {
            samples: samples.len() as u64,
            p50: percentile(samples, 500),
            p99: percentile(samples, 990),
            p999: percentile(samples, 999),
        }
    }
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Per-statistic median of several runs' latencies.
pub fn median_latency(runs: &[Latency]) -> Option<Latency> {
    let pick = |f: fn(&Latency) -> u64| -> Option<u64> {
        let v: Vec<f64> = runs.iter().map(|l| f(l) as f64).collect();
        median(&v).map(|m| m.round() as u64)
    };
    Some(Latency {
        samples: pick(|l| l.samples)?,
        p50: pick(|l| l.p50)?,
        p99: pick(|l| l.p99)?,
        p999: pick(|l| l.p999)?,
    })
}

/// One row of the report: a transport at one message size.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Case group (`bare`, `libzmq`, ...).
    pub group: String,
    /// Transport description.
    pub label: String,
    /// Message size in bytes.
    pub size: usize,
    /// Median (over repeats) round-trip percentiles, if measured.
    pub rtt: Option<Latency>,
    /// Median (over repeats) one-way messages per second, if measured.
    pub msgs_per_sec: Option<f64>,
    /// Number of runs the medians are taken over.
    pub runs: usize,
}

/// A size for humans: `8 B`, `64 KiB`.
pub fn format_size(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Nanoseconds for humans: `850 ns`, `12.3 us`, `4.56 ms`.
pub fn format_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

/// A rate for humans: `12.3 M`, `456 k`.
pub fn format_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The aligned text table.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "case",
        "transport",
        "size",
        "rtt p50",
        "rtt p99",
        "rtt p99.9",
        "one-way msg/s",
    ];
    let dash = || "-".to_string();
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let (p50, p99, p999) = match r.rtt {
                Some(l) => (format_ns(l.p50), format_ns(l.p99), format_ns(l.p999)),
                None => (dash(), dash(), dash()),
            };
            [
                r.group.clone(),
                r.label.clone(),
                format_size(r.size),
                p50,
                p99,
                p999,
                r.msgs_per_sec.map_or_else(dash, format_rate),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |row: &[String]| {
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            // Text columns left-aligned, numbers right-aligned.
            if i < 2 {
                out.push_str(&format!("{c:<w$}"));
            } else {
                out.push_str(&format!("{c:>w$}"));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
    };
    line(&header.map(String::from));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &cells {
        line(row);
    }
    out
}

/// Escapes a string for JSON.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How the numbers of a report were taken.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Recorded round trips per run.
    pub iters: u64,
    /// Unrecorded round trips before them.
    pub warmup: u64,
    /// Messages per throughput run.
    pub thr_msgs: u64,
    /// Runs per case (statistics are medians over them).
    pub repeat: usize,
    /// `--pin` setting.
    pub pin: String,
    /// CPU of the leader and of the peer, if pinned.
    pub cpus: (Option<usize>, Option<usize>),
    /// CPUs this process may use.
    pub available_cpus: usize,
}

fn cpu_name(cpu: Option<usize>) -> String {
    cpu.map_or_else(|| "any".to_string(), |c| c.to_string())
}

fn cpu_json(cpu: Option<usize>) -> String {
    cpu.map_or_else(|| "null".to_string(), |c| c.to_string())
}

impl Setup {
    /// The comment line printed above the table, naming the program that ran
    /// (`ringwire` for `ringwire bench`, `ringwire-bench` for the comparison).
    pub fn header(&self) -> String {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "ringwire".to_string());
        format!(
            "# {program}: {} round trips per run after {} warm-up; {} msgs per throughput \
             run; median of {} run(s); pin={} (leader cpu {}, peer cpu {}); {} cpus",
            self.iters,
            self.warmup,
            self.thr_msgs,
            self.repeat,
            self.pin,
            cpu_name(self.cpus.0),
            cpu_name(self.cpus.1),
            self.available_cpus
        )
    }

    fn json(&self) -> String {
        format!(
            "{{\"iters\": {}, \"warmup\": {}, \"thr_msgs\": {}, \"repeat\": {}, \"pin\": {}, \
             \"leader_cpu\": {}, \"peer_cpu\": {}, \"available_cpus\": {}}}",
            self.iters,
            self.warmup,
            self.thr_msgs,
            self.repeat,
            json_str(&self.pin),
            cpu_json(self.cpus.0),
            cpu_json(self.cpus.1),
            self.available_cpus
        )
    }
}

/// The report as a JSON document: `{"setup": {...}, "rows": [...]}`, times in nanoseconds,
/// `null` where not measured.
pub fn json(setup: &Setup, rows: &[Row]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            let rtt = match r.rtt {
                Some(l) => format!(
                    "{{\"samples\": {}, \"p50_ns\": {}, \"p99_ns\": {}, \"p999_ns\": {}}}",
                    l.samples, l.p50, l.p99, l.p999
                ),
                None => "null".to_string(),
            };
            let rate = r
                .msgs_per_sec
                .map_or_else(|| "null".to_string(), |v| format!("{v:.0}"));
            format!(
                "    {{\"case\": {}, \"transport\": {}, \"size\": {}, \"runs\": {}, \"rtt\": {rtt}, \"msgs_per_sec\": {rate}}}",
                json_str(&r.group),
                json_str(&r.label),
                r.size,
                r.runs
            )
        })
        .collect();
    format!(
        "{{\n  \"setup\": {},\n  \"rows\": [\n{}\n  ]\n}}\n",
        setup.json(),
        items.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut v);
        assert_eq!((l.samples, l.p50, l.p99, l.p999), (1000, 500, 990, 999));
        assert_eq!(percentile(&[7], 999), 7);
        assert_eq!(percentile(&[], 500), 0);
        assert_eq!(percentile(&[1, 2, 3, 4], 1000), 4);
        assert_eq!(percentile(&[1, 2, 3, 4], 500), 2);
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 500), 3);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let l = |p50| Latency {
            samples: 10,
            p50,
            p99: p50 * 2,
            p999: p50 * 3,
        };
        let m = median_latency(&[l(5), l(100), l(7)]).unwrap();
        assert_eq!((m.p50, m.p99, m.p999), (7, 14, 21));
    }

    #[test]
    fn table_is_aligned_and_json_escapes() {
        let rows = vec![
            Row {
                group: "bare".into(),
                label: "atomic \"word\"".into(),
                size: 8,
                rtt: Some(Latency {
                    samples: 3,
                    p50: 120,
                    p99: 25_000,
                    p999: 12_000_000,
                }),
                msgs_per_sec: None,
                runs: 1,
            },
            Row {
                group: "raw-socket".into(),
                label: "tcp".into(),
                size: 65536,
                rtt: None,
                msgs_per_sec: Some(1_234_567.0),
                runs: 3,
            },
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[2].contains("120 ns") && lines[2].contains("25.0 us"));
        assert!(lines[2].contains("12.00 ms"));
        assert_eq!(format_ns(4_560_000), "4.56 ms");
        assert!(lines[3].contains("64 KiB") && lines[3].ends_with("1.23 M"));
        // Columns line up: every line's "size" column ends at the same offset.
        let end = lines[0].find("size").unwrap() + 4;
        assert!(lines[2][..end].ends_with("8 B"));
        assert!(lines[3][..end].ends_with("64 KiB"));
        let setup = Setup {
            iters: 3,
            warmup: 1,
            thr_msgs: 10,
            repeat: 1,
            pin: "split".into(),
            cpus: (Some(0), None),
            available_cpus: 2,
        };
        assert!(
            setup
                .header()
                .contains("pin=split (leader cpu 0, peer cpu any); 2 cpus")
        );
        let j = json(&setup, &rows);
        assert!(j.contains(r#""pin": "split", "leader_cpu": 0, "peer_cpu": null"#));
        assert!(j.contains(r#""transport": "atomic \"word\"""#));
        assert!(j.contains(r#""rtt": null, "msgs_per_sec": 1234567"#));
        assert!(j.contains(r#""p999_ns": 12000000"#));
    }
}
