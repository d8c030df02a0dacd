//! Latency histograms: every sample of a run recorded into an HDR histogram (the
//! `hdrhistogram` crate, High Dynamic Range: logarithmic buckets, each split linearly), so a
//! run keeps its whole distribution in a fixed ~260 KiB whatever the sample count, recording is
//! a few arithmetic instructions and one counter increment, and runs merge by adding counts.
//!
//! Resolution: three significant digits. Values below 2048 ns are exact; above, a value is
//! known to within 0.1 % (the bucket's width), and a percentile reports the highest value of
//! its bucket. Range 1 ns to one hour; longer samples count as one hour.
//!
//! Percentiles are nearest-rank, with integer ranks as [`super::stats::percentile`] computes
//! them on a sorted array: the p-th percentile of `n` samples is the smallest recorded value
//! that at least `ceil(p * n)` samples are less than or equal to.
//!
//! ```
//! use ringwire::bench::hist::Histogram;
//!
//! let mut h = Histogram::new();
//! for ns in 1..=1000 {
//!     h.record(ns);
//! }
//! let l = h.latency().unwrap();
//! assert_eq!((l.p50, l.p90, l.p99, l.max), (500, 900, 990, 1000));
//! ```

use crate::bench::stats::Latency;

/// Highest trackable value: one hour in nanoseconds.
const HIGHEST_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept per value.
const SIGNIFICANT_DIGITS: u8 = 3;

/// One run's (or several merged runs') samples, in nanoseconds.
#[derive(Clone, Debug)]
pub struct Histogram {
    h: hdrhistogram::Histogram<u64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        self.h == other.h
    }
}

impl Histogram {
    /// An empty histogram for values from 1 ns to one hour, three significant digits.
    pub fn new() -> Histogram {
        let h = hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_NS, SIGNIFICANT_DIGITS)
            // SIGNIFICANT_DIGITS <= 5 and HIGHEST_NS >= 2: the bounds are valid.
            .expect("valid histogram bounds");
        Histogram { h }
    }

    /// Records one sample (0 counts as 1 ns, above one hour as one hour). No allocation.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        self.h.saturating_record(ns.max(1));
    }

    /// Number of recorded samples.
    pub fn len(&self) -> u64 {
        self.h.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.h.reset();
    }

    /// Adds `other`'s samples to these.
    pub fn merge(&mut self, other: &Histogram) {
        // Same bounds on both sides (both made by `new`): adding cannot fail.
        let _ = self.h.add(&other.h);
    }

    /// The nearest-rank quantile given in parts per million (`500_000` is the median,
    /// `999_000` the 99.9th percentile, `1_000_000` the maximum); 0 when empty.
    pub fn quantile_ppm(&self, ppm: u64) -> u64 {
        let n = self.h.len();
        if n == 0 {
            return 0;
        }
        let rank = (u128::from(ppm.min(1_000_000)) * u128::from(n)).div_ceil(1_000_000);
        let rank = (rank as u64).clamp(1, n);
        let mut seen = 0u64;
        for v in self.h.iter_recorded() {
            seen += v.count_at_value();
            if seen >= rank {
                return self.h.highest_equivalent(v.value_iterated_to());
            }
        }
        self.max()
    }

    /// The largest recorded value (to the histogram's resolution); 0 when empty.
    pub fn max(&self) -> u64 {
        if self.h.is_empty() { 0 } else { self.h.max() }
    }

    /// The summary of the samples: count, min, mean, p50, p90, p99, p99.9, max. `None` when
    /// empty.
    pub fn latency(&self) -> Option<Latency> {
        if self.h.is_empty() {
            return None;
        }
        Some(Latency {
            samples: self.h.len(),
            min: self.h.min(),
            mean: self.h.mean().round() as u64,
            p50: self.quantile_ppm(500_000),
            p90: self.quantile_ppm(900_000),
            p99: self.quantile_ppm(990_000),
            p999: self.quantile_ppm(999_000),
            max: self.max(),
        })
    }

    /// The percentile curve, for plotting: `(percentile, value)` pairs from the minimum (0 %,
    /// the smallest recorded value as [`Histogram::latency`]'s `min`)
    /// up to the maximum (100 %): the median, and ten points per decade of
    /// `1 / (1 - percentile)` (90 %, 99 %, 99.9 %, ... are decade marks) as far as the sample
    /// count resolves, then the maximum.
    pub fn curve(&self) -> Vec<(f64, u64)> {
        let n = self.h.len();
        if n == 0 {
            return Vec::new();
        }
        let mut ppms = vec![500_000];
        // x = 1 / (1 - q), from 1 (q = 0) to n (q = 1 - 1/n, the last sample below the max).
        for step in 0u32.. {
            let x = 10f64.powf(f64::from(step) / 10.0);
            if x > n as f64 {
                break;
            }
            ppms.push(((1.0 - 1.0 / x) * 1e6).round() as u64);
        }
        ppms.sort_unstable();
        ppms.dedup();
        let mut points: Vec<(f64, u64)> = ppms
            .into_iter()
            .map(|ppm| match ppm {
                0 => (0.0, self.h.min()),
                _ => (ppm as f64 / 1e4, self.quantile_ppm(ppm)),
            })
            .collect();
        points.push((100.0, self.max()));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::percentile;

    /// The histogram's percentiles equal the exact nearest-rank ones (on sorted samples) where
    /// values are below 2048 (recorded exactly), and are within 0.1 % above that.
    fn check_against_sorted(mut samples: Vec<u64>) {
        let mut h = Histogram::new();
        for &s in &samples {
            h.record(s);
        }
        samples.sort_unstable();
        for per_mille in [1, 10, 100, 250, 500, 900, 990, 999, 1000] {
            let exact = percentile(&samples, per_mille);
            let got = h.quantile_ppm(per_mille * 1000);
            if exact < 2048 {
                assert_eq!(got, exact, "per mille {per_mille}");
            } else {
                assert!(
                    got >= exact && got - exact <= exact / 1000,
                    "per mille {per_mille}: {got} vs exact {exact}"
                );
            }
        }
        let l = h.latency().unwrap();
        assert_eq!(l.samples, samples.len() as u64);
        assert_eq!(l.min, samples[0]);
        let max = *samples.last().unwrap();
        assert!(l.max >= max && l.max - max <= max / 1000);
        let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        assert!((l.mean as f64 - mean).abs() <= mean / 1000.0 + 1.0);
    }

    #[test]
    fn uniform_distribution_percentiles_are_exact() {
        let mut h = Histogram::new();
        for v in (1..=1000).rev() {
            h.record(v);
        }
        let l = h.latency().unwrap();
        assert_eq!(
            (l.samples, l.min, l.p50, l.p90, l.p99, l.p999, l.max),
            (1000, 1, 500, 900, 990, 999, 1000)
        );
        assert_eq!(l.mean, 501); // 500.5 rounded
        check_against_sorted((1..=1000).collect());
    }

    #[test]
    fn skewed_distributions_match_nearest_rank() {
        // A control loop's typical shape: most round trips near 300 ns, a 1 % tail at
        // tens of microseconds and one outlier of 12 ms.
        let mut v: Vec<u64> = (0..9_900).map(|i| 280 + (i % 41)).collect();
        v.extend((0..99).map(|i| 20_000 + 500 * i));
        v.push(12_000_000);
        check_against_sorted(v);
        // Exponential-ish (a deterministic LCG): values spread over six decades.
        let mut x: u64 = 12345;
        let v: Vec<u64> = (0..50_000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
                (-u.ln() * 5_000.0) as u64 + 1
            })
            .collect();
        check_against_sorted(v);
    }

    #[test]
    fn edges_empty_single_and_merge() {
        let h = Histogram::new();
        assert!(h.latency().is_none() && h.curve().is_empty());
        assert_eq!(h.quantile_ppm(500_000), 0);
        let mut a = Histogram::new();
        a.record(7);
        let l = a.latency().unwrap();
        assert_eq!((l.min, l.p50, l.p999, l.max), (7, 7, 7, 7));
        let mut b = Histogram::new();
        b.record(0); // counts as 1 ns
        b.record(u64::MAX); // counts as one hour
        a.merge(&b);
        assert_eq!(a.len(), 3);
        let l = a.latency().unwrap();
        assert_eq!((l.min, l.p50), (1, 7));
        assert!(l.max >= HIGHEST_NS && l.max - HIGHEST_NS <= HIGHEST_NS / 1000);
        a.clear();
        assert!(a.is_empty());
    }

    #[test]
    fn curve_runs_from_min_to_max_through_the_decades() {
        let mut h = Histogram::new();
        // Above 2048 the minimum is the bucket's lowest value, as `latency().min`.
        h.record(3_001);
        assert_eq!(h.curve()[0], (0.0, h.latency().unwrap().min));
        h.clear();
        // Below 2048: recorded exactly.
        for v in 1..=2_000 {
            h.record(v);
        }
        let c = h.curve();
        assert_eq!(c.first(), Some(&(0.0, 1)));
        assert_eq!(c.last(), Some(&(100.0, 2_000)));
        for want in [(50.0, 1_000), (90.0, 1_800), (99.0, 1_980), (99.9, 1_998)] {
            assert!(c.contains(&want), "{want:?} not in {c:?}");
        }
        // Ascending in both coordinates.
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }
}
