//! Helpers shared by the model and untrusted-input tests.
#![allow(dead_code)]

/// A tiny deterministic PRNG (SplitMix64), so every failure names a reproducible seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Number of seeds for randomised tests (Miri is ~1000x slower).
pub fn seeds() -> u64 {
    if cfg!(miri) { 3 } else { 300 }
}

/// Operations per seed.
pub fn steps() -> usize {
    if cfg!(miri) { 60 } else { 400 }
}
