//! Debiasing and confidence intervals for released statistics. Every interval is a
//! guaranteed one (coverage ≥ the stated level, not an asymptotic approximation):
//!
//! * discrete Gaussian noise, alone or summed over n shares: sub-Gaussian tails,
//!   P(|Z| ≥ t) ≤ 2·exp(−t²/(2v)) for total variance parameter v (CKS20 §2);
//! * one discrete Laplace draw: the exact tail P(|Y| ≥ m) = 2bᵐ/(1+b), b = e^(−1/scale);
//! * a sum of n discrete Laplace draws (local mode): Chebyshev on the exact variance;
//! * randomized response: unbiased estimators with Hoeffding intervals.

use serde::Serialize;

use crate::{Error, Result};

/// A released statistic with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The (debiased) point estimate.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Coverage guaranteed by the interval (e.g. 0.95).
    pub confidence: f64,
}

fn check_conf(confidence: f64) -> Result<f64> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(1.0 - confidence)
    } else {
        Err(Error::InvalidConfig("confidence must be within (0, 1)"))
    }
}

impl Estimate {
    fn around(value: f64, half: f64, confidence: f64) -> Self {
        Self {
            value,
            low: value - half,
            high: value + half,
            confidence,
        }
    }

    /// Divides by a public count (a mean from a sum over a known cohort).
    pub fn per(&self, n: u64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let n = n.max(1) as f64;
        Self {
            value: self.value / n,
            low: self.low / n,
            high: self.high / n,
            confidence: self.confidence,
        }
    }
}

/// Half-width of the interval for noise that is N_ℤ(0, σ²) or a sum of independent
/// discrete Gaussians with total variance parameter `variance`.
pub fn gaussian_half_width(variance: f64, confidence: f64) -> Result<f64> {
    let alpha = check_conf(confidence)?;
    Ok((2.0 * variance * (2.0 / alpha).ln()).sqrt())
}

/// Half-width (an integer) of the interval for one discrete Laplace draw of `scale`.
pub fn laplace_half_width(scale: f64, confidence: f64) -> Result<f64> {
    let alpha = check_conf(confidence)?;
    let b = (-1.0 / scale).exp();
    // Smallest m ≥ 1 with 2bᵐ/(1+b) ≤ α; then P(|Y| > m − 1) ≤ α.
    let m = ((alpha * (1.0 + b) / 2.0).ln() / b.ln()).ceil().max(1.0);
    Ok(m - 1.0)
}

/// Variance of one discrete Laplace draw of `scale`: 2b/(1−b)².
pub fn laplace_variance(scale: f64) -> f64 {
    let b = (-1.0 / scale).exp();
    2.0 * b / ((1.0 - b) * (1.0 - b))
}

/// A noisy value released with discrete Gaussian noise of total variance `variance`.
pub fn gaussian(noisy: f64, variance: f64, confidence: f64) -> Result<Estimate> {
    Ok(Estimate::around(
        noisy,
        gaussian_half_width(variance, confidence)?,
        confidence,
    ))
}

/// A noisy value released with one discrete Laplace draw of `scale`.
pub fn laplace(noisy: f64, scale: f64, confidence: f64) -> Result<Estimate> {
    Ok(Estimate::around(
        noisy,
        laplace_half_width(scale, confidence)?,
        confidence,
    ))
}

/// A sum over `n` values each carrying its own discrete Laplace draw of `scale`.
pub fn laplace_sum(noisy: f64, scale: f64, n: u64, confidence: f64) -> Result<Estimate> {
    let alpha = check_conf(confidence)?;
    #[allow(clippy::cast_precision_loss)]
    let var = laplace_variance(scale) * n as f64;
    Ok(Estimate::around(noisy, (var / alpha).sqrt(), confidence))
}

/// Probability that k-ary randomized response with ε keeps the true category, and that
/// it reports one given other category.
pub fn rr_probabilities(k: u64, epsilon: f64) -> (f64, f64) {
    let e = epsilon.exp();
    #[allow(clippy::cast_precision_loss)]
    let others = (k.saturating_sub(1)) as f64;
    (e / (e + others), 1.0 / (e + others))
}

/// The true number of members of one category, from `reported` reports of it among `n`
/// k-ary randomized responses with ε (unbiased; Hoeffding interval).
pub fn randomized_response_count(
    reported: u64,
    n: u64,
    k: u64,
    epsilon: f64,
    confidence: f64,
) -> Result<Estimate> {
    let alpha = check_conf(confidence)?;
    if k < 2 || reported > n {
        return Err(Error::InvalidConfig("need k ≥ 2 and reported ≤ n"));
    }
    let (p, q) = rr_probabilities(k, epsilon);
    #[allow(clippy::cast_precision_loss)]
    let (c, nf) = (reported as f64, n as f64);
    let value = (c - nf * q) / (p - q);
    let half = (nf * (2.0 / alpha).ln() / 2.0).sqrt() / (p - q);
    Ok(Estimate::around(value, half, confidence))
}
