//! Helpers shared by the crate's unit tests (deterministic data, tolerant comparisons).

/// Deterministic xorshift generator, so tests need no extra crates.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A random walk starting at `level` with steps uniform in [-scale, scale).
    pub fn walk(&mut self, len: usize, level: f64, scale: f64) -> Vec<f64> {
        let mut x = level;
        (0..len)
            .map(|_| {
                x += scale * (2.0 * self.uniform() - 1.0);
                x
            })
            .collect()
    }
}

/// Asserts equal NaN patterns and values within `rtol` relative (plus a tiny absolute floor).
pub fn assert_close(actual: &[f64], expected: &[f64], rtol: f64) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        if e.is_nan() {
            assert!(a.is_nan(), "index {i}: expected NaN, got {a}");
        } else {
            let tol = rtol * e.abs().max(1e-300) + 1e-12;
            assert!((a - e).abs() <= tol, "index {i}: got {a}, expected {e}");
        }
    }
}
