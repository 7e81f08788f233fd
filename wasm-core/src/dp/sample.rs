//! Exact samplers on the integers (Canonne, Kamath, Steinke 2020, "The Discrete Gaussian
//! for Differential Privacy", Algorithms 1–3): every probability is a rational number and
//! every coin is drawn with exact integer arithmetic, so there are no floating-point
//! sampling holes. Parameters given as `f64` are converted to the exact rational the
//! float denotes.

// Arithmetic here is on `BigUint` (arbitrary precision: it cannot overflow) and every
// subtraction is guarded by a comparison.
#![allow(clippy::arithmetic_side_effects)]

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};

use crate::{Error, Result};

type Rng<'a> = &'a mut dyn rand_core::CryptoRngCore;

/// A non-negative rational number `num / den` (`den > 0`). Equality is equality of
/// values.
#[derive(Debug, Clone)]
pub struct Ratio {
    num: BigUint,
    den: BigUint,
}

impl PartialEq for Ratio {
    fn eq(&self, other: &Self) -> bool {
        &self.num * &other.den == &other.num * &self.den
    }
}

impl Eq for Ratio {}

impl Ratio {
    /// `num / den`; `den` must not be zero.
    pub fn new(num: u64, den: u64) -> Result<Self> {
        if den == 0 {
            return Err(Error::InvalidConfig("a ratio needs a non-zero denominator"));
        }
        Ok(Self {
            num: BigUint::from(num),
            den: BigUint::from(den),
        })
    }

    /// The exact value of a finite, non-negative float (every such `f64` is a dyadic
    /// rational `m · 2^e`).
    pub fn from_f64(x: f64) -> Result<Self> {
        if !x.is_finite() || x < 0.0 {
            return Err(Error::InvalidConfig(
                "a DP parameter must be finite and non-negative",
            ));
        }
        if x == 0.0 {
            return Ok(Self {
                num: BigUint::zero(),
                den: BigUint::one(),
            });
        }
        let bits = x.to_bits();
        let exp = i64::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
        let frac = bits & ((1u64 << 52) - 1);
        let (mantissa, e) = if exp == 0 {
            (frac, -1074i64)
        } else {
            (frac | (1u64 << 52), exp.saturating_sub(1075))
        };
        let m = BigUint::from(mantissa);
        let shift = usize::try_from(e.unsigned_abs()).unwrap_or(usize::MAX);
        Ok(if e >= 0 {
            Self {
                num: m << shift,
                den: BigUint::one(),
            }
        } else {
            Self {
                num: m,
                den: BigUint::one() << shift,
            }
        })
    }

    fn floor_and_frac(&self) -> (BigUint, Ratio) {
        let (q, r) = self.num.div_rem(&self.den);
        (
            q,
            Ratio {
                num: r,
                den: self.den.clone(),
            },
        )
    }

    /// The value as a float (for reporting only).
    pub fn to_f64(&self) -> f64 {
        let n = self.num.to_f64().unwrap_or(f64::INFINITY);
        let d = self.den.to_f64().unwrap_or(f64::INFINITY);
        n / d
    }
}

/// A uniform integer in `0..n` (`n > 0`), by rejection from random bytes.
fn uniform_below(rng: Rng<'_>, n: &BigUint) -> BigUint {
    let bits = n.bits();
    let bytes = usize::try_from(bits.div_ceil(8)).unwrap_or(usize::MAX);
    let top_mask = match bits % 8 {
        0 => 0xff,
        r => (1u8 << r).wrapping_sub(1),
    };
    let mut buf = vec![0u8; bytes];
    loop {
        rng.fill_bytes(&mut buf);
        if let Some(last) = buf.last_mut() {
            *last &= top_mask;
        }
        let v = BigUint::from_bytes_le(&buf);
        if &v < n {
            return v;
        }
    }
}

fn uniform_u64_below(rng: Rng<'_>, n: u64) -> u64 {
    uniform_below(rng, &BigUint::from(n)).to_u64().unwrap_or(0)
}

/// Bernoulli(`p`) for a rational `p` in `[0, 1]`.
pub fn bernoulli(rng: Rng<'_>, p: &Ratio) -> bool {
    if p.num >= p.den {
        return true;
    }
    uniform_below(rng, &p.den) < p.num
}

/// Bernoulli(exp(−γ)) for a rational `γ ≥ 0` (CKS20 Algorithm 1).
pub fn bernoulli_exp(rng: Rng<'_>, gamma: &Ratio) -> bool {
    let (whole, frac) = gamma.floor_and_frac();
    // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−{γ}).
    let mut k = BigUint::zero();
    let one = Ratio {
        num: BigUint::one(),
        den: BigUint::one(),
    };
    while k < whole {
        if !bernoulli_exp_le1(rng, &one) {
            return false;
        }
        k += 1u32;
    }
    bernoulli_exp_le1(rng, &frac)
}

/// Bernoulli(exp(−γ)) for `γ` in `[0, 1]`.
fn bernoulli_exp_le1(rng: Rng<'_>, gamma: &Ratio) -> bool {
    let mut k = BigUint::one();
    loop {
        // A ~ Bernoulli(γ / k)
        let p = Ratio {
            num: gamma.num.clone(),
            den: &gamma.den * &k,
        };
        if !bernoulli(rng, &p) {
            break;
        }
        k += 1u32;
    }
    // K is the first k with A = 0; return K odd.
    k.is_odd()
}

/// The discrete Laplace distribution on ℤ with scale `t`: P(x) ∝ exp(−|x| / t).
#[derive(Debug, Clone)]
pub struct DiscreteLaplace {
    /// scale = t / s with integers (CKS20 Algorithm 2 takes s, t).
    s: BigUint,
    t: BigUint,
}

impl DiscreteLaplace {
    /// Scale `scale > 0` (exactly the rational value of the float).
    pub fn new(scale: f64) -> Result<Self> {
        let r = Ratio::from_f64(scale)?;
        if r.num.is_zero() {
            return Err(Error::InvalidConfig("the Laplace scale must be positive"));
        }
        Ok(Self { s: r.den, t: r.num })
    }

    /// Scale `t / s` from integers.
    pub fn from_ratio(t: u64, s: u64) -> Result<Self> {
        if t == 0 || s == 0 {
            return Err(Error::InvalidConfig("the Laplace scale must be positive"));
        }
        Ok(Self {
            s: BigUint::from(s),
            t: BigUint::from(t),
        })
    }

    /// The scale as a float (reporting).
    pub fn scale(&self) -> f64 {
        Ratio {
            num: self.t.clone(),
            den: self.s.clone(),
        }
        .to_f64()
    }

    /// One sample (CKS20 Algorithm 2).
    pub fn sample(&self, rng: Rng<'_>) -> i64 {
        let one = Ratio {
            num: BigUint::one(),
            den: BigUint::one(),
        };
        loop {
            let u = uniform_below(rng, &self.t);
            let d = bernoulli_exp(
                rng,
                &Ratio {
                    num: u.clone(),
                    den: self.t.clone(),
                },
            );
            if !d {
                continue;
            }
            let mut v = BigUint::zero();
            while bernoulli_exp(rng, &one) {
                v += 1u32;
            }
            let x = u + &self.t * v;
            let y = x / &self.s;
            let negative = uniform_u64_below(rng, 2) == 1;
            if negative && y.is_zero() {
                continue;
            }
            let y = y.to_i64().unwrap_or(i64::MAX);
            return if negative { y.saturating_neg() } else { y };
        }
    }
}

/// The discrete Gaussian N_ℤ(0, σ²) on ℤ: P(x) ∝ exp(−x² / (2σ²)).
#[derive(Debug, Clone)]
pub struct DiscreteGaussian {
    sigma2: Ratio,
    /// t = ⌊σ⌋ + 1, the Laplace scale of the proposal.
    t: BigUint,
}

impl DiscreteGaussian {
    /// Variance parameter `sigma2 > 0` (exactly the rational value of the float).
    pub fn new(sigma2: f64) -> Result<Self> {
        let sigma2 = Ratio::from_f64(sigma2)?;
        if sigma2.num.is_zero() {
            return Err(Error::InvalidConfig("σ² must be positive"));
        }
        // ⌊σ⌋ = ⌊√(num/den)⌋ = the largest t with t² · den ≤ num.
        let floor_sigma = (&sigma2.num / &sigma2.den).sqrt();
        let mut f = floor_sigma;
        while (&f + 1u32) * (&f + 1u32) * &sigma2.den <= sigma2.num {
            f += 1u32;
        }
        while &f * &f * &sigma2.den > sigma2.num {
            f -= 1u32;
        }
        Ok(Self {
            t: f + 1u32,
            sigma2,
        })
    }

    /// σ² as a float (reporting).
    pub fn sigma2(&self) -> f64 {
        self.sigma2.to_f64()
    }

    /// One sample (CKS20 Algorithm 3).
    pub fn sample(&self, rng: Rng<'_>) -> i64 {
        let lap = DiscreteLaplace {
            s: BigUint::one(),
            t: self.t.clone(),
        };
        let (p, q) = (&self.sigma2.num, &self.sigma2.den);
        loop {
            let y = lap.sample(rng);
            let abs = BigUint::from(y.unsigned_abs());
            // (|y| − σ²/t)² / (2σ²) = (|y|·t·q − p)² / (2·p·q·t²)
            let a = &abs * &self.t * q;
            let diff = if a >= *p { &a - p } else { p - &a };
            let gamma = Ratio {
                num: &diff * &diff,
                den: BigUint::from(2u32) * p * q * &self.t * &self.t,
            };
            if bernoulli_exp(rng, &gamma) {
                return y;
            }
        }
    }
}

/// k-ary randomized response with parameter ε: reports the true category with
/// probability e^ε / (e^ε + k − 1), each other with probability 1 / (e^ε + k − 1).
/// Exact: a uniform proposal, and an "other" proposal kept with probability exp(−ε).
pub fn randomized_response(rng: Rng<'_>, value: u64, k: u64, epsilon: f64) -> Result<u64> {
    if k < 2 || value >= k {
        return Err(Error::InvalidConfig(
            "randomized response needs k ≥ 2 and a value below k",
        ));
    }
    let e = Ratio::from_f64(epsilon)?;
    loop {
        let proposal = uniform_u64_below(rng, k);
        if proposal == value || bernoulli_exp(rng, &e) {
            return Ok(proposal);
        }
    }
}
