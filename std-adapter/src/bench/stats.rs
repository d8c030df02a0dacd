//! Statistics and reports: nearest-rank percentiles over a sorted array of samples, the median
//! across `--repeat` runs, the aligned text table and the JSON document.

/// The summary of one run's samples (round trips, or message ages), in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Number of recorded samples.
    pub samples: u64,
    /// Smallest sample.
    pub min: u64,
    /// Mean, rounded to the nanosecond.
    pub mean: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
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
    /// The exact summary of `samples` (sorted in place); all zero if empty. The measuring loops
    /// record into a [`Histogram`](crate::bench::hist::Histogram) instead.
    pub fn from_samples(samples: &mut [u64]) -> Latency {
        samples.sort_unstable();
        let n = samples.len() as u64;
        let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
        Latency {
            samples: n,
            min: samples.first().copied().unwrap_or(0),
            mean: if n == 0 {
                0
            } else {
                ((sum + u128::from(n) / 2) / u128::from(n)) as u64
            },
            p50: percentile(samples, 500),
            p90: percentile(samples, 900),
            p99: percentile(samples, 990),
            p999: percentile(samples, 999),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// The median of the finite `values` (the mean of the two middle ones for an even count; NaN
/// and infinities, a run's missing figure, are left out); `None` if there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
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
        min: pick(|l| l.min)?,
        mean: pick(|l| l.mean)?,
        p50: pick(|l| l.p50)?,
        p90: pick(|l| l.p90)?,
        p99: pick(|l| l.p99)?,
        p999: pick(|l| l.p999)?,
        max: pick(|l| l.max)?,
    })
}

/// One row of the report: a transport at one message size.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Case group (`bare`, `libzmq`, ...).
    pub group: String,
    /// [`Transport::id`](crate::bench::Transport::id) of the transport.
    pub id: String,
    /// Transport description.
    pub label: String,
    /// Message size in bytes.
    pub size: usize,
    /// Median (over repeats) round-trip statistics, if measured.
    pub rtt: Option<Latency>,
    /// Each successful run's round-trip statistics, in the order run.
    pub rtt_runs: Vec<Latency>,
    /// Percentile curve of every run's round trips together (`(percentile, ns)`, see
    /// [`Histogram::curve`](crate::bench::hist::Histogram::curve)); empty if not measured.
    pub rtt_curve: Vec<(f64, u64)>,
    /// Median (over repeats) one-way messages per second, if measured.
    pub msgs_per_sec: Option<f64>,
    /// Each successful throughput run's messages per second.
    pub rate_runs: Vec<f64>,
    /// Median (over repeats) age of the throughput run's messages when the receiver got
    /// them (send timestamp to receipt), if the messages carried timestamps: see
    /// [`measure::throughput_aged`](crate::bench::measure::throughput_aged).
    pub age: Option<Latency>,
    /// Number of runs the medians are taken over.
    pub runs: usize,
}

impl Row {
    /// Median one-way throughput in bytes per second (messages per second times the size).
    pub fn bytes_per_sec(&self) -> Option<f64> {
        self.msgs_per_sec.map(|r| r * self.size as f64)
    }
}

/// A size for humans: `8 B`, `64 KiB`, `4 MiB`.
pub fn format_size(size: usize) -> String {
    if size >= 1 << 20 && size.is_multiple_of(1 << 20) {
        format!("{} MiB", size >> 20)
    } else if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Parses a message size: a number of bytes with an optional binary suffix, `K`/`KiB`
/// (×1024) or `M`/`MiB` (×1024²), case-insensitive, or a trailing `B`: `8`, `64B`, `1K`,
/// `64KiB`, `4M`.
pub fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let scale: usize = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" | "ki" | "kib" => 1 << 10,
        "m" | "mb" | "mi" | "mib" => 1 << 20,
        _ => return Err(format!("{t:?}: not a size (use e.g. 8, 1K, 64K, 4M)")),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("{t:?}: not a size (use e.g. 8, 1K, 64K, 4M)"))
}

/// Nanoseconds for humans: `850 ns`, `12.3 us`, `4.56 ms`, `1.20 s`.
pub fn format_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} us", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
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

/// The columns of [`table`]: the fixed ones, then the message-age columns if any row has
/// ages.
pub fn table_header(rows: &[Row]) -> Vec<&'static str> {
    let mut h = vec![
        "case",
        "transport",
        "size",
        "rtt p50",
        "rtt p90",
        "rtt p99",
        "rtt p99.9",
        "rtt max",
        "one-way msg/s",
    ];
    if rows.iter().any(|r| r.age.is_some()) {
        h.extend(["age p50", "age p99", "age max"]);
    }
    h
}

/// The aligned text table: one line per row, the columns of [`table_header`]; `-` where a
/// statistic was not measured.
pub fn table(rows: &[Row]) -> String {
    let header = table_header(rows);
    let with_age = header.len() > 9;
    let dash = || "-".to_string();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![r.group.clone(), r.label.clone(), format_size(r.size)];
            match r.rtt {
                Some(l) => c.extend([l.p50, l.p90, l.p99, l.p999, l.max].map(format_ns)),
                None => c.extend(std::iter::repeat_with(dash).take(5)),
            }
            c.push(r.msgs_per_sec.map_or_else(dash, format_rate));
            if with_age {
                match r.age {
                    Some(a) => c.extend([a.p50, a.p99, a.max].map(format_ns)),
                    None => c.extend(std::iter::repeat_with(dash).take(3)),
                }
            }
            c
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |row: &[String]| {
        for (i, (c, &w)) in row.iter().zip(&widths).enumerate() {
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
    line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    line(&widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>());
    for row in &cells {
        line(row);
    }
    out
}

/// Escapes a string for JSON.
pub(crate) fn json_str(s: &str) -> String {
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
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// Low-rate mode: one round trip every this many microseconds (`None`: back to back).
    pub interval_us: Option<u64>,
    /// At most this many message bytes per run: large messages get fewer round trips and
    /// throughput messages (`None`: no limit).
    pub max_bytes: Option<u64>,
}

fn cpu_name(cpu: Option<usize>) -> String {
    cpu.map_or_else(|| "any".to_string(), |c| c.to_string())
}

fn opt_json<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "null".to_string(), |c| c.to_string())
}

impl Setup {
    /// The comment line printed above the table, naming the program that ran
    /// (`ringwire` for `ringwire bench`, `ringwire-bench` for the comparison).
    pub fn header(&self) -> String {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "ringwire".to_string());
        let pace = match self.interval_us {
            Some(us) => format!(" (one every {us} us)"),
            None => String::new(),
        };
        format!(
            "# {program}: {} round trips{pace} per run after {} warm-up; {} msgs per throughput \
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

    /// The setup as a JSON object (the report's `"setup"`).
    pub fn json(&self) -> String {
        format!(
            "{{\"iters\": {}, \"warmup\": {}, \"thr_msgs\": {}, \"repeat\": {}, \"pin\": {}, \
             \"leader_cpu\": {}, \"peer_cpu\": {}, \"available_cpus\": {}, \"interval_us\": {}, \
             \"max_bytes\": {}}}",
            self.iters,
            self.warmup,
            self.thr_msgs,
            self.repeat,
            json_str(&self.pin),
            opt_json(self.cpus.0),
            opt_json(self.cpus.1),
            self.available_cpus,
            opt_json(self.interval_us),
            opt_json(self.max_bytes)
        )
    }
}

/// A [`Latency`] as a JSON object (times in nanoseconds).
pub fn latency_json(l: &Latency) -> String {
    format!(
        "{{\"samples\": {}, \"min_ns\": {}, \"mean_ns\": {}, \"p50_ns\": {}, \"p90_ns\": {}, \
         \"p99_ns\": {}, \"p999_ns\": {}, \"max_ns\": {}}}",
        l.samples, l.min, l.mean, l.p50, l.p90, l.p99, l.p999, l.max
    )
}

fn row_json(r: &Row) -> String {
    let opt_lat = |l: &Option<Latency>| l.as_ref().map_or_else(|| "null".into(), latency_json);
    let rate = |v: Option<f64>| v.map_or_else(|| "null".to_string(), |v| format!("{v:.0}"));
    let runs: Vec<String> = r.rtt_runs.iter().map(latency_json).collect();
    let curve: Vec<String> = r
        .rtt_curve
        .iter()
        .map(|(p, ns)| format!("[{p}, {ns}]"))
        .collect();
    let rates: Vec<String> = r.rate_runs.iter().map(|v| format!("{v:.0}")).collect();
    format!(
        "    {{\"case\": {}, \"id\": {}, \"transport\": {}, \"size\": {}, \"runs\": {}, \
         \"rtt\": {}, \"msgs_per_sec\": {}, \"bytes_per_sec\": {}, \"age\": {}, \
         \"rtt_runs\": [{}], \"rate_runs\": [{}], \"rtt_curve\": [{}]}}",
        json_str(&r.group),
        json_str(&r.id),
        json_str(&r.label),
        r.size,
        r.runs,
        opt_lat(&r.rtt),
        rate(r.msgs_per_sec),
        rate(r.bytes_per_sec()),
        opt_lat(&r.age),
        runs.join(", "),
        rates.join(", "),
        curve.join(", ")
    )
}

/// The report as a JSON document: `{"machine": {...}, "setup": {...}, "rows": [...]}`, times in
/// nanoseconds, `null` where not measured.
pub fn json(setup: &Setup, rows: &[Row]) -> String {
    json_with(setup, rows, &[])
}

/// [`json`] with more members after `"rows"`: each `(name, JSON value)`.
pub fn json_with(setup: &Setup, rows: &[Row], sections: &[(&str, String)]) -> String {
    let items: Vec<String> = rows.iter().map(row_json).collect();
    let more: String = sections
        .iter()
        .map(|(name, value)| format!(",\n  {}: {value}", json_str(name)))
        .collect();
    format!(
        "{{\n  \"machine\": {},\n  \"setup\": {},\n  \"rows\": [\n{}\n  ]{more}\n}}\n",
        crate::bench::machine::Machine::detect().json(),
        setup.json(),
        items.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
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
            min: p50 / 2,
            mean: p50,
            p50,
            p90: p50 * 3 / 2,
            p99: p50 * 2,
            p999: p50 * 3,
            max: p50 * 4,
        };
        let m = median_latency(&[l(5), l(100), l(7)]).unwrap();
        assert_eq!(m, l(7));
        assert_eq!(median_latency(&[]), None);
    }

    #[test]
    fn exact_summary_of_samples() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut v);
        assert_eq!(
            l,
            Latency {
                samples: 1000,
                min: 1,
                mean: 501,
                p50: 500,
                p90: 900,
                p99: 990,
                p999: 999,
                max: 1000
            }
        );
        assert_eq!(Latency::from_samples(&mut []), Latency::default());
    }

    #[test]
    fn sizes_parse_and_print() {
        for (s, n) in [
            ("8", 8),
            ("64B", 64),
            ("1K", 1024),
            ("64k", 65536),
            ("64KiB", 65536),
            ("1M", 1 << 20),
            (" 4MiB ", 4 << 20),
        ] {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for bad in ["", "K", "1G", "1.5K", "-1", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(8), "8 B");
        assert_eq!(format_size(65536), "64 KiB");
        assert_eq!(format_size(4 << 20), "4 MiB");
        assert_eq!(format_size(1536 * 1024), "1536 KiB");
        assert_eq!(format_ns(2_500_000_000), "2.50 s");
    }

    fn lat(p50: u64, p99: u64, p999: u64) -> Latency {
        Latency {
            samples: 3,
            min: p50,
            mean: p50,
            p50,
            p90: p50,
            p99,
            p999,
            max: p999,
        }
    }

    #[test]
    fn table_is_aligned_and_json_escapes() {
        let rows = vec![
            Row {
                group: "bare".into(),
                id: "bare-atomic".into(),
                label: "atomic \"word\"".into(),
                size: 8,
                rtt: Some(lat(120, 25_000, 12_000_000)),
                runs: 1,
                ..Row::default()
            },
            Row {
                group: "raw-socket".into(),
                id: "tcp".into(),
                label: "tcp".into(),
                size: 65536,
                msgs_per_sec: Some(1_234_567.0),
                runs: 3,
                ..Row::default()
            },
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].ends_with("rtt max  one-way msg/s"), "{}", lines[0]);
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
            interval_us: Some(1000),
            max_bytes: None,
        };
        assert!(
            setup
                .header()
                .contains("pin=split (leader cpu 0, peer cpu any); 2 cpus")
        );
        assert!(
            setup
                .header()
                .contains("3 round trips (one every 1000 us) per run")
        );
        let j = json(&setup, &rows);
        assert!(j.contains(r#""pin": "split", "leader_cpu": 0, "peer_cpu": null"#));
        assert!(j.contains(r#""interval_us": 1000, "max_bytes": null"#));
        assert!(j.contains(r#""transport": "atomic \"word\"""#));
        assert!(
            j.contains(r#""rtt": null, "msgs_per_sec": 1234567, "bytes_per_sec": 80908582912"#)
        );
        assert!(j.contains(r#""p999_ns": 12000000, "max_ns": 12000000"#));
        assert!(j.contains(r#""machine": {"cpu_model": "#));
    }

    #[test]
    fn age_columns_only_when_measured() {
        let mut row = Row {
            group: "g".into(),
            label: "t".into(),
            size: 64,
            msgs_per_sec: Some(1e6),
            ..Row::default()
        };
        assert!(!table(std::slice::from_ref(&row)).contains("age"));
        row.age = Some(lat(1_500, 40_000, 90_000));
        let t = table(&[row]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].ends_with("age p50  age p99  age max"),
            "{}",
            lines[0]
        );
        assert!(
            lines[2].ends_with("1500 ns  40.0 us  90.0 us"),
            "{}",
            lines[2]
        );
    }
}
