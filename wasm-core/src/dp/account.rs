//! Privacy accounting: pure ε-DP and zero-concentrated DP (ρ-zCDP, Bun & Steinke 2016),
//! composition, conversions, an accountant that refuses a release past its budget, and a
//! per-patient ledger.
//!
//! * Pure ε-DP composes by adding ε; ε-DP implies (ε²/2)-zCDP (BS16 Prop. 1.4).
//! * ρ-zCDP composes by adding ρ; adding N_ℤ(0, σ²) to a sensitivity-Δ integer query is
//!   (Δ²/(2σ²))-zCDP (CKS20 Thm. 4, as for the continuous Gaussian).
//! * ρ-zCDP implies (ε, δ)-DP with δ = min over α > 1 of
//!   exp((α−1)(αρ−ε)) / (α−1) · (1 − 1/α)^α (CKS20 Cor. 13), which is tighter than
//!   ε = ρ + 2√(ρ ln(1/δ)) (BS16 Prop. 1.3), also provided.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A privacy cost or budget.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Privacy {
    /// Pure ε-differential privacy.
    Pure {
        /// ε ≥ 0.
        epsilon: f64,
    },
    /// ρ-zero-concentrated differential privacy.
    Zcdp {
        /// ρ ≥ 0.
        rho: f64,
    },
}

impl Privacy {
    /// Checks the parameter is finite and non-negative.
    pub fn validate(self) -> Result<Self> {
        let v = match self {
            Privacy::Pure { epsilon } => epsilon,
            Privacy::Zcdp { rho } => rho,
        };
        if v.is_finite() && v >= 0.0 {
            Ok(self)
        } else {
            Err(Error::InvalidConfig(
                "privacy parameters must be finite and non-negative",
            ))
        }
    }

    /// The ρ of zCDP this guarantee implies (pure ε → ε²/2).
    pub fn as_rho(self) -> f64 {
        match self {
            Privacy::Pure { epsilon } => epsilon * epsilon / 2.0,
            Privacy::Zcdp { rho } => rho,
        }
    }
}

/// ρ of adding N_ℤ(0, σ²) to a query of L2 sensitivity `sensitivity`.
pub fn gaussian_rho(sensitivity: f64, sigma2: f64) -> f64 {
    sensitivity * sensitivity / (2.0 * sigma2)
}

/// σ² that makes a sensitivity-`sensitivity` query ρ-zCDP.
pub fn gaussian_sigma2(sensitivity: f64, rho: f64) -> f64 {
    sensitivity * sensitivity / (2.0 * rho)
}

/// ε of adding discrete Laplace noise of scale `scale` to a query of L1 sensitivity
/// `sensitivity` (pure DP).
pub fn laplace_epsilon(sensitivity: f64, scale: f64) -> f64 {
    sensitivity / scale
}

/// ρ of the sum of `n` independent N_ℤ(0, σ²) shares added to a sensitivity-Δ integer
/// sum (the distributed discrete Gaussian, Kairouz, Liu & Steinke 2021, Thm. 1 in one
/// dimension): the sum is (ε²/2)-zCDP with
/// ε = min{ √(Δ²/(nσ²) + τ/2), Δ/(√n σ) + τ } and τ = 10 Σ_{k=1}^{n−1} exp(−2π²σ² k/(k+1)).
pub fn distributed_gaussian_rho(sensitivity: f64, sigma2: f64, n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let nf = n.max(1) as f64;
    let pi2 = core::f64::consts::PI * core::f64::consts::PI;
    let tau: f64 = 10.0
        * (1..n.max(1))
            .map(|k| {
                #[allow(clippy::cast_precision_loss)]
                let kf = k as f64;
                (-2.0 * pi2 * sigma2 * kf / (kf + 1.0)).exp()
            })
            .sum::<f64>();
    let a = (sensitivity * sensitivity / (nf * sigma2) + tau / 2.0).sqrt();
    let b = sensitivity / (nf.sqrt() * sigma2.sqrt()) + tau;
    let eps = a.min(b);
    eps * eps / 2.0
}

/// δ of (ε, δ)-DP implied by ρ-zCDP (CKS20 Cor. 13; minimized over α by golden-section
/// search on a log scale, then clamped to [0, 1]).
pub fn zcdp_delta(rho: f64, epsilon: f64) -> f64 {
    if rho <= 0.0 {
        return 0.0;
    }
    let log_delta = |alpha: f64| -> f64 {
        (alpha - 1.0) * (alpha * rho - epsilon) - (alpha - 1.0).ln()
            + alpha * (1.0 - 1.0 / alpha).ln()
    };
    // Search α in (1, 1e6] on ln(α − 1).
    let (mut lo, mut hi) = ((1e-9f64).ln(), (1e6f64).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let f = |x: f64| log_delta(1.0 + x.exp());
    for _ in 0..200 {
        let a = hi - g * (hi - lo);
        let b = lo + g * (hi - lo);
        if f(a) < f(b) {
            hi = b;
        } else {
            lo = a;
        }
    }
    f((lo + hi) / 2.0).exp().clamp(0.0, 1.0)
}

/// The smallest ε with ρ-zCDP ⇒ (ε, δ)-DP by [`zcdp_delta`] (bisection).
pub fn zcdp_epsilon(rho: f64, delta: f64) -> f64 {
    if rho <= 0.0 {
        return 0.0;
    }
    let (mut lo, mut hi) = (0.0f64, zcdp_epsilon_bs16(rho, delta).max(1e-9));
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if zcdp_delta(rho, mid) > delta {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// ε = ρ + 2√(ρ ln(1/δ)) (BS16 Prop. 1.3).
pub fn zcdp_epsilon_bs16(rho: f64, delta: f64) -> f64 {
    rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()
}

/// Composes releases against a budget; refuses a release that would exceed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accountant {
    budget: Privacy,
    spent_epsilon: f64,
    spent_rho: f64,
    releases: u64,
}

impl Accountant {
    /// An accountant with `budget` (pure ε: only pure costs fit; zCDP: any cost, pure
    /// costs converted to ε²/2).
    pub fn new(budget: Privacy) -> Result<Self> {
        Ok(Self {
            budget: budget.validate()?,
            spent_epsilon: 0.0,
            spent_rho: 0.0,
            releases: 0,
        })
    }

    /// What is left, in the budget's own terms.
    pub fn remaining(&self) -> Privacy {
        match self.budget {
            Privacy::Pure { epsilon } => Privacy::Pure {
                epsilon: (epsilon - self.spent_epsilon).max(0.0),
            },
            Privacy::Zcdp { rho } => Privacy::Zcdp {
                rho: (rho - self.spent_rho).max(0.0),
            },
        }
    }

    /// What was spent, in the budget's own terms.
    pub fn spent(&self) -> Privacy {
        match self.budget {
            Privacy::Pure { .. } => Privacy::Pure {
                epsilon: self.spent_epsilon,
            },
            Privacy::Zcdp { .. } => Privacy::Zcdp {
                rho: self.spent_rho,
            },
        }
    }

    /// How many releases were charged.
    pub fn releases(&self) -> u64 {
        self.releases
    }

    /// Charges `cost`, or refuses with [`Error::BudgetExceeded`] and changes nothing.
    pub fn charge(&mut self, cost: Privacy) -> Result<()> {
        let cost = cost.validate()?;
        // A tolerance for float sums of exactly-fitting budgets (1e-12 relative).
        let fits = |spent: f64, add: f64, limit: f64| spent + add <= limit * (1.0 + 1e-12);
        match (self.budget, cost) {
            (Privacy::Pure { epsilon }, Privacy::Pure { epsilon: e }) => {
                if !fits(self.spent_epsilon, e, epsilon) {
                    return Err(Error::BudgetExceeded);
                }
                self.spent_epsilon += e;
            }
            (Privacy::Pure { .. }, Privacy::Zcdp { .. }) => {
                return Err(Error::InvalidConfig(
                    "a zCDP release cannot be charged to a pure-DP budget",
                ))
            }
            (Privacy::Zcdp { rho }, c) => {
                let r = c.as_rho();
                if !fits(self.spent_rho, r, rho) {
                    return Err(Error::BudgetExceeded);
                }
                self.spent_rho += r;
            }
        }
        self.releases = self.releases.saturating_add(1);
        Ok(())
    }
}

/// A patient's privacy ledger: one accountant per study, kept in the browser (serialize
/// it with serde to persist). A submission is charged before it leaves; past the budget
/// it is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrivacyLedger {
    studies: BTreeMap<String, Accountant>,
}

impl PrivacyLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Charges `cost` to `study` (opened with `budget` the first time).
    pub fn charge(&mut self, study: &str, budget: Privacy, cost: Privacy) -> Result<()> {
        if let Some(acc) = self.studies.get_mut(study) {
            return acc.charge(cost);
        }
        let mut acc = Accountant::new(budget)?;
        acc.charge(cost)?;
        self.studies.insert(study.to_owned(), acc);
        Ok(())
    }

    /// The accountant of `study`, if anything was charged to it.
    pub fn study(&self, study: &str) -> Option<&Accountant> {
        self.studies.get(study)
    }

    /// Every study charged so far, by id.
    pub fn studies(&self) -> impl Iterator<Item = (&str, &Accountant)> {
        self.studies.iter().map(|(k, v)| (k.as_str(), v))
    }
}
