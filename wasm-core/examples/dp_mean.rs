//! DP mean of a bounded integer column with phiveil's exact samplers, repeated, for the
//! OpenDP comparison (`scripts/bench-dp.sh`). Reads integers (one per line) on stdin.
//!
//! `dp_mean LO HI MECH PARAM REPS SEED` with MECH `laplace` (PARAM = ε, pure DP) or
//! `gaussian` (PARAM = ρ, zCDP); prints `{"mean_abs_error": …, "rmse": …, "ms_per_release": …}`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects,
    clippy::cast_precision_loss,
    clippy::indexing_slicing
)]

use std::io::BufRead;
use std::time::Instant;

use phiveil_core::dp::{FieldPlan, Mode, Privacy};
use rand_chacha::rand_core::SeedableRng;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (lo, hi): (i64, i64) = (a[0].parse().unwrap(), a[1].parse().unwrap());
    let param: f64 = a[3].parse().unwrap();
    let privacy = match a[2].as_str() {
        "laplace" => Privacy::Pure { epsilon: param },
        _ => Privacy::Zcdp { rho: param },
    };
    let reps: usize = a[4].parse().unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(a[5].parse().unwrap());
    let data: Vec<i64> = std::io::stdin()
        .lock()
        .lines()
        .map(|l| l.unwrap().trim().parse::<i64>().unwrap().clamp(lo, hi))
        .collect();
    let n = data.len() as f64;
    let truth = data.iter().sum::<i64>() as f64 / n;
    // Central DP on the sum over a public cohort size (the relay's setting), like OpenDP's
    // sized sum: the noise is one draw on the sum.
    let plan = FieldPlan::new(Mode::Local, privacy, (hi - lo) as u64).unwrap();
    let sum: i64 = data.iter().sum();
    let started = Instant::now();
    let (mut abs, mut sq) = (0.0, 0.0);
    for _ in 0..reps {
        let noisy = plan.apply(sum, &mut rng) as f64 / n;
        abs += (noisy - truth).abs();
        sq += (noisy - truth).powi(2);
    }
    let ms = started.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!(
        "{}",
        serde_json::json!({"mean_abs_error": abs / reps as f64, "rmse": (sq / reps as f64).sqrt(), "ms_per_release": ms})
    );
}
