use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::account::*;
use super::estimate::*;
use super::sample::*;
use super::*;

/// Upper 0.1 % quantile of χ²(df) (Wilson–Hilferty).
fn chi2_critical(df: usize) -> f64 {
    let z = 3.0902;
    let k = df as f64;
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// χ² goodness of fit of `samples` against `pmf` over the integers; bins with an
/// expected count below 5 are pooled into one tail bin.
fn gof(samples: &[i64], pmf: impl Fn(i64) -> f64, range: i64) -> (f64, usize) {
    let n = samples.len() as f64;
    let mut counts = std::collections::BTreeMap::new();
    for s in samples {
        *counts.entry(*s).or_insert(0usize) += 1;
    }
    let (mut stat, mut bins, mut in_bins_obs, mut in_bins_exp) = (0.0, 0usize, 0.0, 0.0);
    for x in -range..=range {
        let e = pmf(x) * n;
        if e >= 5.0 {
            let o = *counts.get(&x).unwrap_or(&0) as f64;
            stat += (o - e) * (o - e) / e;
            bins += 1;
            in_bins_obs += o;
            in_bins_exp += e;
        }
    }
    // Everything else (rare values and tails) pooled into one bin.
    let (tail_obs, tail_exp) = (n - in_bins_obs, n - in_bins_exp);
    if tail_exp >= 5.0 {
        stat += (tail_obs - tail_exp) * (tail_obs - tail_exp) / tail_exp;
        bins += 1;
    } else {
        assert!(
            tail_obs <= 20.0,
            "{tail_obs} samples where {tail_exp:.2} were expected"
        );
    }
    (stat, bins.saturating_sub(1))
}

#[test]
fn ratio_from_f64_is_exact() {
    let r = Ratio::from_f64(0.1).unwrap();
    assert_eq!(
        r,
        Ratio::new(3_602_879_701_896_397, 36_028_797_018_963_968).unwrap()
    );
    assert_eq!(Ratio::from_f64(3.0).unwrap(), Ratio::new(3, 1).unwrap());
    assert!(Ratio::from_f64(-1.0).is_err() && Ratio::from_f64(f64::NAN).is_err());
}

#[test]
fn bernoulli_exp_matches_exp_minus_gamma() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (num, den) in [(3u64, 10u64), (5, 2), (0, 1), (17, 4)] {
        let g = Ratio::new(num, den).unwrap();
        let n = 40_000;
        let hits = (0..n).filter(|_| bernoulli_exp(&mut rng, &g)).count() as f64;
        let p = (-(num as f64) / den as f64).exp();
        let sd = (n as f64 * p * (1.0 - p)).sqrt().max(1.0);
        assert!(
            (hits - n as f64 * p).abs() < 4.5 * sd,
            "γ={num}/{den}: {hits} vs {}",
            n as f64 * p
        );
    }
}

#[test]
fn discrete_laplace_fits_its_distribution_at_several_scales() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for scale in [0.5, 1.0, 3.7, 20.0] {
        let d = DiscreteLaplace::new(scale).unwrap();
        let xs: Vec<i64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        let b = (-1.0 / scale).exp();
        let pmf = |x: i64| (1.0 - b) / (1.0 + b) * b.powi(x.abs() as i32);
        let (stat, df) = gof(&xs, pmf, (scale * 12.0) as i64 + 5);
        assert!(
            stat < chi2_critical(df),
            "scale {scale}: χ²={stat:.1}, df={df}"
        );
    }
}

#[test]
fn discrete_gaussian_fits_its_distribution_at_several_scales() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for sigma2 in [0.3, 1.0, 7.5, 100.0, 2500.0] {
        let d = DiscreteGaussian::new(sigma2).unwrap();
        let xs: Vec<i64> = (0..20_000).map(|_| d.sample(&mut rng)).collect();
        let sigma = f64::sqrt(sigma2);
        let range = (sigma * 10.0) as i64 + 5;
        let norm: f64 = (-range * 3..=range * 3)
            .map(|y| (-(y * y) as f64 / (2.0 * sigma2)).exp())
            .sum();
        let pmf = |x: i64| (-(x * x) as f64 / (2.0 * sigma2)).exp() / norm;
        let (stat, df) = gof(&xs, pmf, range);
        assert!(
            stat < chi2_critical(df),
            "σ²={sigma2}: χ²={stat:.1}, df={df}"
        );
        let mean = xs.iter().sum::<i64>() as f64 / xs.len() as f64;
        assert!(mean.abs() < 5.0 * sigma / (xs.len() as f64).sqrt() + 0.01);
    }
}

#[test]
fn randomized_response_fits_its_distribution() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    for (k, eps) in [(2u64, 0.5), (2, 2.0), (5, 1.0), (12, 3.0)] {
        let xs: Vec<i64> = (0..20_000)
            .map(|_| randomized_response(&mut rng, 1, k, eps).unwrap() as i64)
            .collect();
        let (p, q) = rr_probabilities(k, eps);
        let pmf = |x: i64| {
            if x == 1 {
                p
            } else if x >= 0 && (x as u64) < k {
                q
            } else {
                0.0
            }
        };
        let (stat, df) = gof(&xs, pmf, k as i64);
        assert!(
            stat < chi2_critical(df.max(1)),
            "k={k} ε={eps}: χ²={stat:.1}, df={df}"
        );
    }
    assert!(randomized_response(&mut rng, 2, 2, 1.0).is_err());
}

#[test]
fn accountant_composes_and_refuses_past_the_budget() {
    let mut a = Accountant::new(Privacy::Pure { epsilon: 1.0 }).unwrap();
    for _ in 0..10 {
        a.charge(Privacy::Pure { epsilon: 0.1 }).unwrap();
    }
    let before = a.clone();
    assert_eq!(
        a.charge(Privacy::Pure { epsilon: 0.1 }),
        Err(crate::Error::BudgetExceeded)
    );
    assert_eq!(a, before, "a refused charge changes nothing");
    assert!(a.charge(Privacy::Zcdp { rho: 0.01 }).is_err());

    // zCDP: the Gaussian mechanism with σ = Δ is ½-zCDP (BS16); pure ε is ε²/2-zCDP.
    assert_eq!(gaussian_rho(1.0, 1.0), 0.5);
    let mut z = Accountant::new(Privacy::Zcdp { rho: 1.0 }).unwrap();
    z.charge(Privacy::Zcdp {
        rho: gaussian_rho(3.0, 9.0),
    })
    .unwrap();
    z.charge(Privacy::Pure { epsilon: 1.0 }).unwrap();
    assert_eq!(z.spent(), Privacy::Zcdp { rho: 1.0 });
    assert_eq!(
        z.charge(Privacy::Zcdp { rho: 1e-9 }),
        Err(crate::Error::BudgetExceeded)
    );
    assert_eq!(z.releases(), 2);

    let mut ledger = PrivacyLedger::new();
    let budget = Privacy::Zcdp { rho: 0.5 };
    ledger
        .charge("s-1", budget, Privacy::Zcdp { rho: 0.3 })
        .unwrap();
    assert!(ledger
        .charge("s-1", budget, Privacy::Zcdp { rho: 0.3 })
        .is_err());
    ledger
        .charge("s-2", budget, Privacy::Zcdp { rho: 0.3 })
        .unwrap();
    let json = serde_json::to_string(&ledger).unwrap();
    let back: PrivacyLedger = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ledger);
}

#[test]
fn zcdp_conversions_match_published_bounds() {
    // BS16 Prop. 1.3: ε = ρ + 2√(ρ ln(1/δ)).
    let bs = zcdp_epsilon_bs16(0.5, 1e-5);
    assert!((bs - (0.5 + 2.0 * (0.5f64 * 1e5f64.ln()).sqrt())).abs() < 1e-12);
    // CKS20 Cor. 13 is tighter, and consistent with its own δ.
    for (rho, delta) in [(0.5, 1e-5), (0.05, 1e-6), (2.0, 1e-9)] {
        let eps = zcdp_epsilon(rho, delta);
        assert!(eps < zcdp_epsilon_bs16(rho, delta), "ρ={rho}");
        assert!((zcdp_delta(rho, eps) / delta - 1.0).abs() < 1e-3);
        assert!(eps > rho, "ε exceeds ρ for small δ");
    }
    // OpenDP 0.16.0 (make_zCDP_to_approxDP, the same CKS20 bound) gives ε = 4.728386984943315
    // for ρ = 0.5, δ = 1e-5 (scripts/dp/opendp_compare.py prints it).
    assert!((zcdp_epsilon(0.5, 1e-5) / 4.728_386_984_943_315 - 1.0).abs() < 1e-6);
    // Composition: four ½-zCDP releases are 2-zCDP.
    let mut a = Accountant::new(Privacy::Zcdp { rho: 2.0 }).unwrap();
    for _ in 0..4 {
        a.charge(Privacy::Zcdp { rho: 0.5 }).unwrap();
    }
    assert_eq!(a.remaining(), Privacy::Zcdp { rho: 0.0 });
    // Distributed discrete Gaussian: with shares of σ² ≥ 1 the τ term is negligible and
    // the sum behaves like one Gaussian of n·σ².
    let r = distributed_gaussian_rho(1.0, 4.0, 50);
    assert!((r / gaussian_rho(1.0, 200.0) - 1.0).abs() < 1e-6, "{r}");
    // Tiny shares pay for it (the sum of discrete Gaussians is not a discrete Gaussian).
    assert!(distributed_gaussian_rho(1.0, 0.05, 50) > gaussian_rho(1.0, 2.5));
    let s = distributed_share_sigma2(10.0, 0.25, 20);
    assert!(distributed_gaussian_rho(10.0, s, 20) <= 0.25 + 1e-12);
}

/// The released sum lands inside its stated 95 % interval in ≥ 95 % of runs, in every
/// mode (fixed seed).
#[test]
fn intervals_cover_at_their_level_in_every_mode() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let values: Vec<i64> = (0..50).map(|i| 60 + (i * 37) % 80).collect();
    let truth: i64 = values.iter().sum();
    let plans = [
        FieldPlan::new(Mode::Local, Privacy::Pure { epsilon: 1.0 }, 190).unwrap(),
        FieldPlan::new(Mode::Local, Privacy::Zcdp { rho: 0.5 }, 190).unwrap(),
        FieldPlan::new(
            Mode::Distributed { min_cohort: 40 },
            Privacy::Zcdp { rho: 0.5 },
            190,
        )
        .unwrap(),
        FieldPlan::new(Mode::Central, Privacy::Zcdp { rho: 0.5 }, 190).unwrap(),
    ];
    for plan in &plans {
        let runs = 400;
        let mut covered = 0;
        for _ in 0..runs {
            let mut sum: i64 = values.iter().map(|v| plan.apply(*v, &mut rng)).sum();
            if plan.central_sigma2 > 0.0 {
                sum += DiscreteGaussian::new(plan.central_sigma2)
                    .unwrap()
                    .sample(&mut rng);
            }
            let est = plan
                .sum_estimate(sum as f64, values.len() as u64, 0.95)
                .unwrap();
            if est.low <= truth as f64 && truth as f64 <= est.high {
                covered += 1;
            }
        }
        assert!(
            covered as f64 >= 0.95 * runs as f64,
            "{:?}: {covered}/{runs}",
            plan.mode
        );
    }
    // Randomized response: debiased counts cover too.
    let truth_yes = 30u64;
    let mut covered = 0;
    for _ in 0..400 {
        let reported = (0..50u64)
            .filter(|i| {
                randomized_response(&mut rng, u64::from(*i < truth_yes), 2, 1.0).unwrap() == 1
            })
            .count() as u64;
        let est = randomized_response_count(reported, 50, 2, 1.0, 0.95).unwrap();
        if est.low <= truth_yes as f64 && truth_yes as f64 <= est.high {
            covered += 1;
        }
    }
    assert!(covered >= 380, "{covered}");
    assert!(FieldPlan::new(
        Mode::Distributed { min_cohort: 10 },
        Privacy::Pure { epsilon: 1.0 },
        5
    )
    .is_err());
}
