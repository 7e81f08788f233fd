//! Differential privacy on integers: exact samplers ([`sample`]), accounting
//! ([`account`]), debiasing and confidence intervals ([`estimate`]), and the noise plan
//! of a study field in each of the three modes a study can choose:
//!
//! * **local** — each patient adds the full noise (discrete Laplace for a pure-ε budget,
//!   discrete Gaussian for a zCDP budget); the sum of n values carries n draws;
//! * **distributed** — each patient adds a discrete Gaussian *share*; the sum over at least
//!   `min_cohort` patients carries the target noise (Kairouz, Liu & Steinke 2021), so the
//!   released sum is as accurate as central DP once the cohort is reached;
//! * **central** — patients add nothing; the relay adds noise (under encryption) to the
//!   aggregate before release.
//!
//! Neighbouring datasets differ in one patient's value, so a field declared in `lo..=hi`
//! has sensitivity `hi − lo` for a sum.

pub mod account;
pub mod estimate;
pub mod rdp;
pub mod sample;

use serde::{Deserialize, Serialize};

pub use account::{Accountant, Privacy, PrivacyLedger};
pub use estimate::Estimate;
pub use rdp::RdpAccountant;
pub use sample::{randomized_response, DiscreteGaussian, DiscreteLaplace};

use crate::{Error, Result};

/// Where the noise of a study field is added.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// Each patient adds full noise.
    Local,
    /// Each patient adds a share; the sum over ≥ `min_cohort` patients carries the target.
    Distributed {
        /// The cohort size the shares are calibrated for (the study's k).
        min_cohort: u64,
    },
    /// The relay adds noise to the encrypted aggregate.
    Central,
}

/// The noise a patient adds to one field (or none, in central mode).
#[derive(Debug, Clone)]
pub enum PatientNoise {
    /// No patient-side noise.
    None,
    /// One discrete Laplace draw.
    Laplace(DiscreteLaplace),
    /// One discrete Gaussian draw (full noise or a share).
    Gaussian(DiscreteGaussian),
}

/// The noise plan of one field.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// The mode.
    pub mode: Mode,
    /// The field's budget (what one release of it costs each patient).
    pub privacy: Privacy,
    /// `hi − lo`.
    pub sensitivity: u64,
    /// What each patient adds.
    pub patient: PatientNoise,
    /// σ² the relay adds to the sum in central mode (0 otherwise).
    pub central_sigma2: f64,
}

impl FieldPlan {
    /// Plans the noise of a field with range width `sensitivity` under `privacy` in `mode`.
    pub fn new(mode: Mode, privacy: Privacy, sensitivity: u64) -> Result<Self> {
        let privacy = privacy.validate()?;
        if sensitivity == 0 {
            return Err(Error::InvalidConfig("a field's range must hold two values"));
        }
        #[allow(clippy::cast_precision_loss)]
        let d = sensitivity as f64;
        let positive = |v: f64| {
            if v > 0.0 {
                Ok(())
            } else {
                Err(Error::InvalidConfig("the privacy budget must be positive"))
            }
        };
        let (patient, central_sigma2) = match (mode, privacy) {
            (Mode::Local, Privacy::Pure { epsilon }) => {
                positive(epsilon)?;
                (
                    PatientNoise::Laplace(DiscreteLaplace::new(d / epsilon)?),
                    0.0,
                )
            }
            (Mode::Local, Privacy::Zcdp { rho }) => {
                positive(rho)?;
                (
                    PatientNoise::Gaussian(DiscreteGaussian::new(account::gaussian_sigma2(
                        d, rho,
                    ))?),
                    0.0,
                )
            }
            (Mode::Distributed { min_cohort }, Privacy::Zcdp { rho }) => {
                positive(rho)?;
                if min_cohort == 0 {
                    return Err(Error::InvalidConfig("the minimum cohort must be ≥ 1"));
                }
                (
                    PatientNoise::Gaussian(DiscreteGaussian::new(distributed_share_sigma2(
                        d, rho, min_cohort,
                    ))?),
                    0.0,
                )
            }
            (Mode::Distributed { .. }, Privacy::Pure { .. }) => {
                return Err(Error::InvalidConfig(
                    "distributed noise needs a zCDP budget (discrete Gaussian shares)",
                ))
            }
            (Mode::Central, p) => {
                let rho = p.as_rho();
                positive(rho)?;
                (PatientNoise::None, account::gaussian_sigma2(d, rho))
            }
        };
        Ok(Self {
            mode,
            privacy,
            sensitivity,
            patient,
            central_sigma2,
        })
    }

    /// The patient-side step: `value` plus this field's patient noise.
    pub fn apply(&self, value: i64, rng: &mut dyn rand_core::CryptoRngCore) -> i64 {
        match &self.patient {
            PatientNoise::None => value,
            PatientNoise::Laplace(l) => value.saturating_add(l.sample(rng)),
            PatientNoise::Gaussian(g) => value.saturating_add(g.sample(rng)),
        }
    }

    /// The interval of a released noisy sum over `n` patients.
    pub fn sum_estimate(&self, noisy_sum: f64, n: u64, confidence: f64) -> Result<Estimate> {
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        match (&self.patient, self.mode) {
            (PatientNoise::Laplace(l), _) => {
                estimate::laplace_sum(noisy_sum, l.scale(), n, confidence)
            }
            (PatientNoise::Gaussian(g), _) => {
                estimate::gaussian(noisy_sum, g.sigma2() * nf, confidence)
            }
            (PatientNoise::None, _) if self.central_sigma2 > 0.0 => {
                estimate::gaussian(noisy_sum, self.central_sigma2, confidence)
            }
            (PatientNoise::None, _) => Ok(Estimate {
                value: noisy_sum,
                low: noisy_sum,
                high: noisy_sum,
                confidence: 1.0,
            }),
        }
    }
}

/// The σ² of each patient's share so that the sum over `n` shares is ρ-zCDP for a
/// sensitivity-`sensitivity` sum ([`account::distributed_gaussian_rho`] ≤ ρ; bisection).
pub fn distributed_share_sigma2(sensitivity: f64, rho: f64, n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let nf = n.max(1) as f64;
    let ideal = account::gaussian_sigma2(sensitivity, rho) / nf;
    let (mut lo, mut hi) = (ideal, ideal * 4.0 + 1.0);
    while account::distributed_gaussian_rho(sensitivity, hi, n) > rho {
        hi *= 2.0;
    }
    if account::distributed_gaussian_rho(sensitivity, lo, n) <= rho {
        return lo;
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if account::distributed_gaussian_rho(sensitivity, mid, n) > rho {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests;

/// The nearest range of a private-statistics field in the proven encoding that holds
/// `lo..=hi`: `lo..=lo + 2^k − 1` for the smallest such `k`. Returns the new `hi`, whose
/// distance from `lo` is the sum's sensitivity (a client can send any value of the
/// widened range). What the study form suggests.
pub fn proven_hi(lo: i64, hi: i64) -> i64 {
    let span = hi.abs_diff(lo).saturating_add(1).next_power_of_two();
    lo.saturating_add(i64::try_from(span).unwrap_or(i64::MAX))
        .saturating_sub(1)
}
