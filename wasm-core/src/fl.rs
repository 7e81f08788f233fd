//! Federated learning, the client's and owner's arithmetic (no I/O): a table of
//! examples (the Wisconsin diagnostic breast-cancer data, `tests/data/wdbc.csv`),
//! standardization, seeded IID and label-skewed splits across clients, logistic
//! regression with its metrics (log loss, accuracy, ROC AUC), and the DP-SGD client step
//! that turns a client's data into an **integer** update ready for encrypted summation:
//!
//! 1. Poisson-sample the client's examples with rate `q`;
//! 2. each sampled example's logistic-loss gradient at the global model, clipped to L2
//!    norm ≤ `clip`;
//! 3. each clipped gradient scaled by `scale` and rounded to integers (round half away
//!    from zero; the rounding moves a vector by at most √d/2 in L2), then summed — so
//!    the sum of clients' updates is exact in integers;
//! 4. discrete Gaussian noise N_ℤ(0, (σ·Δ)²) with Δ = `clip`·`scale` + √d/2, the
//!    post-rounding sensitivity: the whole noise per client (each client's update is
//!    private on its own), or a share N_ℤ(0, (σ·Δ)²/n) when n clients' updates are only
//!    ever released summed (distributed DP).
//!
//! The owner divides the decrypted sum by `scale` and the expected batch size and takes a
//! gradient step (FedAvg of the clients' DP-SGD steps). [`crate::dp::RdpAccountant`]
//! charges each round as a Poisson-subsampled Gaussian with noise multiplier σ (the
//! effective multiplier is ≥ σ, as Δ only adds the rounding slack).

pub mod training;
use crate::dp::DiscreteGaussian;
use crate::{Error, Result};
pub use training::{Evaluation, NoiseMode, TrainingConfig};

/// An example: features and label (`true` = malignant / positive).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Feature values.
    pub x: Vec<f64>,
    /// Label.
    pub y: bool,
}

/// Reads a CSV with a header row: feature columns, then the 0/1 label last.
pub fn parse_csv(text: &str) -> Result<Vec<Example>> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines
        .next()
        .ok_or(Error::InvalidRecord("empty CSV".into()))?;
    let columns = header.split(',').count();
    if columns < 2 {
        return Err(Error::InvalidRecord("need features and a label".into()));
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            let bad = || Error::InvalidRecord(format!("row {}: malformed", i.saturating_add(2)));
            let (label, features) = cells.split_last().ok_or_else(bad)?;
            if cells.len() != columns {
                return Err(bad());
            }
            let x = features
                .iter()
                .map(|c| {
                    c.parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(bad)
                })
                .collect::<Result<Vec<f64>>>()?;
            let y = match *label {
                "1" => true,
                "0" => false,
                _ => return Err(bad()),
            };
            Ok(Example { x, y })
        })
        .collect()
}

/// A deterministic generator for data splits (SplitMix64; not for secrets).
#[derive(Debug, Clone)]
pub struct SplitRng(u64);

impl SplitRng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next_u64() >> 11) as f64;
        v / (1u64 << 53) as f64
    }

    /// Shuffles `v` (Fisher–Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            #[allow(clippy::cast_possible_truncation)]
            let j = self
                .next_u64()
                .checked_rem((i as u64).saturating_add(1))
                .unwrap_or(0) as usize;
            v.swap(i, j);
        }
    }
}

/// Splits `data` into (train, test) with `test_fraction` of each class in test (stratified).
pub fn train_test_split(
    data: &[Example],
    test_fraction: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>) {
    let mut rng = SplitRng::new(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut c: Vec<Example> = data.iter().filter(|e| e.y == class).cloned().collect();
        rng.shuffle(&mut c);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n_test = (c.len() as f64 * test_fraction).round() as usize;
        let rest = c.split_off(n_test.min(c.len()));
        test.extend(c);
        train.extend(rest);
    }
    rng.shuffle(&mut train);
    (train, test)
}

/// How examples are dealt to clients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Split {
    /// Uniformly at random.
    Iid,
    /// Label-skewed: clients alternate a preferred class; an example goes to a client
    /// preferring its class with probability `majority`, else to one preferring the other.
    LabelSkew {
        /// In (0.5, 1].
        majority: f64,
    },
}

/// Deals `data` to `clients` clients (seeded). With a label skew each client still gets
/// examples of the class it does not prefer when `majority` < 1.
pub fn split_clients(
    data: &[Example],
    clients: usize,
    split: Split,
    seed: u64,
) -> Result<Vec<Vec<Example>>> {
    if clients < 2 || clients > data.len() {
        return Err(Error::InvalidConfig(
            "need at least 2 clients and one example each",
        ));
    }
    let mut rng = SplitRng::new(seed);
    let mut order: Vec<&Example> = data.iter().collect();
    rng.shuffle(&mut order);
    let mut out: Vec<Vec<Example>> = vec![Vec::new(); clients];
    let group =
        |class: bool| -> Vec<usize> { (0..clients).filter(|i| (i % 2 == 1) == class).collect() };
    let (mut next_iid, mut next) = (0usize, [0usize; 2]);
    for e in order {
        let client = match split {
            Split::Iid => {
                next_iid = next_iid.wrapping_add(1);
                next_iid.checked_rem(clients).unwrap_or(0)
            }
            Split::LabelSkew { majority } => {
                if !(0.5..=1.0).contains(&majority) {
                    return Err(Error::InvalidConfig("majority must be within [0.5, 1]"));
                }
                let class = if rng.unit() < majority { e.y } else { !e.y };
                let g = group(class);
                let slot = next
                    .get_mut(usize::from(class))
                    .ok_or(Error::InvalidConfig("class"))?;
                *slot = slot.wrapping_add(1);
                *g.get(slot.checked_rem(g.len()).unwrap_or(0)).unwrap_or(&0)
            }
        };
        if let Some(bucket) = out.get_mut(client) {
            bucket.push(e.clone());
        }
    }
    Ok(out)
}

/// Per-feature mean and standard deviation of a training set (public when a training
/// study declares it: every client scales its features the same way).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Standardizer {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl Standardizer {
    /// Checks untrusted statistics: `features` finite means and positive finite
    /// spreads.
    pub fn check(&self, features: usize) -> Result<()> {
        if self.mean.len() != features
            || self.std.len() != features
            || !self.mean.iter().all(|m| m.is_finite())
            || !self.std.iter().all(|s| s.is_finite() && *s > 0.0)
        {
            return Err(Error::InvalidConfig(
                "feature scaling needs a finite mean and a positive spread per feature",
            ));
        }
        Ok(())
    }

    /// Fitted on `data` (features with no spread keep scale 1).
    pub fn fit(data: &[Example]) -> Result<Self> {
        let d = data
            .first()
            .map(|e| e.x.len())
            .ok_or(Error::InvalidConfig("no data"))?;
        #[allow(clippy::cast_precision_loss)]
        let n = data.len() as f64;
        let mut mean = vec![0.0; d];
        for e in data {
            for (m, v) in mean.iter_mut().zip(&e.x) {
                *m += v / n;
            }
        }
        let mut var = vec![0.0; d];
        for e in data {
            for ((s, v), m) in var.iter_mut().zip(&e.x).zip(&mean) {
                *s += (v - m) * (v - m) / n;
            }
        }
        let std = var
            .into_iter()
            .map(|v| if v > 0.0 { v.sqrt() } else { 1.0 })
            .collect();
        Ok(Self { mean, std })
    }

    /// `data` standardized with the fitted statistics.
    pub fn apply(&self, data: &[Example]) -> Vec<Example> {
        data.iter()
            .map(|e| Example {
                x: e.x
                    .iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect(),
                y: e.y,
            })
            .collect()
    }
}

/// Logistic regression: weights of the features, then the bias.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReg {
    /// `d` weights and the bias last.
    pub w: Vec<f64>,
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl LogReg {
    /// All-zero model for `d` features.
    pub fn zeros(d: usize) -> Self {
        Self {
            w: vec![0.0; d.saturating_add(1)],
        }
    }

    /// Number of parameters (`d + 1`).
    pub fn dim(&self) -> usize {
        self.w.len()
    }

    fn logit(&self, x: &[f64]) -> f64 {
        let (bias, w) = self.w.split_last().map_or((0.0, &[][..]), |(b, w)| (*b, w));
        w.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + bias
    }

    /// P(y = 1 | x).
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(self.logit(x))
    }

    /// The gradient of the log loss on one example.
    pub fn gradient(&self, e: &Example) -> Vec<f64> {
        let r = self.predict(&e.x) - if e.y { 1.0 } else { 0.0 };
        e.x.iter()
            .map(|v| r * v)
            .chain(std::iter::once(r))
            .collect()
    }

    /// Mean log loss.
    pub fn loss(&self, data: &[Example]) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = data.len().max(1) as f64;
        data.iter()
            .map(|e| {
                let p = self.predict(&e.x).clamp(1e-12, 1.0 - 1e-12);
                if e.y {
                    -p.ln()
                } else {
                    -(1.0 - p).ln()
                }
            })
            .sum::<f64>()
            / n
    }

    /// Share classified correctly at threshold 0.5.
    pub fn accuracy(&self, data: &[Example]) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let ok = data
            .iter()
            .filter(|e| (self.predict(&e.x) >= 0.5) == e.y)
            .count() as f64;
        #[allow(clippy::cast_precision_loss)]
        let n = data.len().max(1) as f64;
        ok / n
    }

    /// Area under the ROC curve (Mann–Whitney, ties counted half).
    pub fn auc(&self, data: &[Example]) -> f64 {
        let mut scored: Vec<(f64, bool)> = data.iter().map(|e| (self.logit(&e.x), e.y)).collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut rank_sum, mut pos, mut i) = (0.0f64, 0u64, 0usize);
        while i < scored.len() {
            let mut j = i;
            while scored
                .get(j)
                .is_some_and(|s| s.0 == scored.get(i).map_or(f64::NAN, |t| t.0))
            {
                j = j.saturating_add(1);
            }
            #[allow(clippy::cast_precision_loss)]
            let mid = (i as f64 + j as f64 + 1.0) / 2.0;
            for s in scored.get(i..j).unwrap_or_default() {
                if s.1 {
                    rank_sum += mid;
                    pos = pos.saturating_add(1);
                }
            }
            i = j;
        }
        #[allow(clippy::cast_precision_loss)]
        let (p, n) = (pos as f64, (scored.len() as u64).saturating_sub(pos) as f64);
        if p == 0.0 || n == 0.0 {
            return f64::NAN;
        }
        (rank_sum - p * (p + 1.0) / 2.0) / (p * n)
    }
}

/// DP-SGD settings of a training study.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DpSgd {
    /// L2 clipping norm of a per-example gradient.
    pub clip: f64,
    /// Noise multiplier σ (noise standard deviation over sensitivity).
    pub noise_multiplier: f64,
    /// Poisson sampling rate of a client's examples per round.
    pub sample_rate: f64,
    /// Quantization: integer units per 1.0.
    pub scale: f64,
}

/// Where a client's noise goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noise {
    /// The whole noise in each client's update.
    PerClient,
    /// A 1/n share of the variance: only the sum over `clients` updates is private.
    Distributed {
        /// Clients whose updates are summed before anyone sees them.
        clients: u32,
    },
}

impl DpSgd {
    /// The post-rounding L2 sensitivity in integer units: `clip·scale + √d/2`.
    pub fn sensitivity(&self, dim: usize) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let d = dim as f64;
        self.clip * self.scale + d.sqrt() / 2.0
    }

    /// The variance of the discrete Gaussian a client adds.
    pub fn client_variance(&self, dim: usize, noise: Noise) -> f64 {
        let s = self.noise_multiplier * self.sensitivity(dim);
        match noise {
            Noise::PerClient => s * s,
            Noise::Distributed { clients } => s * s / f64::from(clients.max(1)),
        }
    }

    /// A bound on the absolute value of any coordinate of a client's update with at most
    /// `examples` examples: `examples·(clip·scale + 1/2)` plus `tail` standard deviations
    /// of noise (≥ 20 makes exceeding it astronomically unlikely). Encrypted sums need
    /// `clients × bound` to fit the ciphertext's integer width.
    pub fn coordinate_bound(&self, examples: usize, dim: usize, noise: Noise, tail: f64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let m = examples as f64;
        m * (self.clip * self.scale + 0.5) + tail * self.client_variance(dim, noise).sqrt()
    }
}

fn round_half_away(v: f64) -> Result<i64> {
    let r = v.round();
    if !r.is_finite() || r.abs() > 9.0e15 {
        return Err(Error::InvalidConfig("quantized value out of range"));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(r as i64)
}

/// A clipped, scaled and rounded per-example gradient.
pub fn quantized_gradient(model: &LogReg, e: &Example, p: &DpSgd) -> Result<Vec<i64>> {
    let g = model.gradient(e);
    let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    let factor = if norm > p.clip { p.clip / norm } else { 1.0 };
    g.iter()
        .map(|v| round_half_away(v * factor * p.scale))
        .collect()
}

/// One client's round: Poisson sample, clipped quantized gradients summed, discrete
/// Gaussian noise added. Returns the integer update and how many examples were sampled
/// (the count is not private and is not sent).
pub fn client_update(
    model: &LogReg,
    data: &[Example],
    p: &DpSgd,
    noise: Noise,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<(Vec<i64>, usize)> {
    if !(p.clip > 0.0
        && p.scale >= 1.0
        && p.noise_multiplier >= 0.0
        && (0.0..=1.0).contains(&p.sample_rate))
    {
        return Err(Error::InvalidConfig("DP-SGD parameters out of range"));
    }
    let dim = model.dim();
    let mut sum = vec![0i64; dim];
    let mut sampled = 0usize;
    for e in data {
        if e.x.len().saturating_add(1) != dim {
            return Err(Error::InvalidRecord(
                "an example has the wrong number of features".into(),
            ));
        }
        // Poisson sampling with 53-bit resolution.
        #[allow(clippy::cast_precision_loss)]
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if u >= p.sample_rate {
            continue;
        }
        sampled = sampled.saturating_add(1);
        for (s, g) in sum.iter_mut().zip(quantized_gradient(model, e, p)?) {
            *s = s
                .checked_add(g)
                .ok_or(Error::InvalidConfig("update overflow"))?;
        }
    }
    if p.noise_multiplier > 0.0 {
        let dg = DiscreteGaussian::new(p.client_variance(dim, noise))?;
        for s in &mut sum {
            *s = s
                .checked_add(dg.sample(rng))
                .ok_or(Error::InvalidConfig("update overflow"))?;
        }
    }
    Ok((sum, sampled))
}

/// The owner's step: the model moved against the decrypted sum of the clients' updates,
/// unscaled and divided by the expected batch size (`q ×` total examples).
pub fn apply_update(
    model: &LogReg,
    sum: &[i64],
    p: &DpSgd,
    expected_batch: f64,
    learning_rate: f64,
) -> Result<LogReg> {
    if sum.len() != model.dim() || expected_batch.is_nan() || expected_batch <= 0.0 {
        return Err(Error::InvalidConfig("update does not fit the model"));
    }
    Ok(LogReg {
        #[allow(clippy::cast_precision_loss)]
        w: model
            .w
            .iter()
            .zip(sum)
            .map(|(w, s)| w - learning_rate * (*s as f64) / p.scale / expected_batch)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    fn data() -> Vec<Example> {
        parse_csv(include_str!("../../tests/data/wdbc.csv")).unwrap()
    }

    #[test]
    fn the_data_set_is_complete() {
        let d = data();
        assert_eq!(d.len(), 569);
        assert_eq!(d.iter().filter(|e| e.y).count(), 212);
        assert!(d.iter().all(|e| e.x.len() == 30));
        assert!(parse_csv("a,b\n1,x\n").is_err());
        assert!(parse_csv("a,b\n1,2\n").is_err());
        assert!(parse_csv("a,b\n1\n").is_err());
    }

    #[test]
    fn splits_are_seeded_stratified_and_skewed() {
        let d = data();
        let (train, test) = train_test_split(&d, 0.2, 7);
        assert_eq!(train.len() + test.len(), 569);
        assert_eq!(test.iter().filter(|e| e.y).count(), 42);
        assert_eq!(train_test_split(&d, 0.2, 7), (train.clone(), test));
        let iid = split_clients(&train, 5, Split::Iid, 1).unwrap();
        assert_eq!(iid.iter().map(Vec::len).sum::<usize>(), train.len());
        let skew = split_clients(&train, 4, Split::LabelSkew { majority: 0.9 }, 1).unwrap();
        for (i, c) in skew.iter().enumerate() {
            let pos = c.iter().filter(|e| e.y).count() as f64 / c.len() as f64;
            let share = if i % 2 == 1 { pos } else { 1.0 - pos };
            assert!(share > 0.75, "client {i}: {share}");
        }
    }

    #[test]
    fn rounding_keeps_client_sums_exact_and_clipping_bounds_each_example() {
        let d = data();
        let s = Standardizer::fit(&d).unwrap();
        let d = s.apply(&d);
        let model = LogReg {
            w: (0..31).map(|i| (i as f64 - 15.0) / 10.0).collect(),
        };
        let p = DpSgd {
            clip: 1.0,
            noise_multiplier: 0.0,
            sample_rate: 1.0,
            scale: 1024.0,
        };
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let mut total = vec![0i64; 31];
        let mut rows = vec![0i64; 31];
        for part in d.chunks(100) {
            let (u, n) = client_update(&model, part, &p, Noise::PerClient, &mut rng).unwrap();
            assert_eq!(n, part.len());
            for (t, v) in total.iter_mut().zip(u) {
                *t += v;
            }
        }
        for e in &d {
            let g = quantized_gradient(&model, e, &p).unwrap();
            let norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            assert!(norm <= p.sensitivity(31), "{norm}");
            for (r, v) in rows.iter_mut().zip(g) {
                *r += v;
            }
        }
        assert_eq!(total, rows);
    }

    #[test]
    fn federated_dp_sgd_learns_the_diagnosis() {
        let d = data();
        let (train, test) = train_test_split(&d, 0.2, 11);
        let std = Standardizer::fit(&train).unwrap();
        let (train, test) = (std.apply(&train), std.apply(&test));
        let clients = split_clients(&train, 5, Split::Iid, 2).unwrap();
        let (q, rounds) = (0.2, 60u64);
        let sigma = crate::dp::rdp::noise_multiplier_for(8.0, 1e-5, q, rounds).unwrap();
        let p = DpSgd {
            clip: 1.0,
            noise_multiplier: sigma,
            sample_rate: q,
            scale: 4096.0,
        };
        let mut acc = crate::dp::RdpAccountant::new(8.0, 1e-5).unwrap();
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let mut model = LogReg::zeros(30);
        let expected = q * train.len() as f64;
        for _ in 0..rounds {
            acc.charge(q, sigma, 1).unwrap();
            let mut sum = vec![0i64; 31];
            for c in &clients {
                let (u, _) =
                    client_update(&model, c, &p, Noise::Distributed { clients: 5 }, &mut rng)
                        .unwrap();
                for (s, v) in sum.iter_mut().zip(u) {
                    *s += v;
                }
            }
            model = apply_update(&model, &sum, &p, expected, 1.0).unwrap();
        }
        assert!(acc.epsilon() <= 8.0);
        assert!(acc.charge(q, sigma, 1).is_err());
        let (a, auc) = (model.accuracy(&test), model.auc(&test));
        assert!(a > 0.9 && auc > 0.95, "accuracy {a}, AUC {auc}");
    }

    #[test]
    fn auc_counts_ties_half() {
        let m = LogReg { w: vec![1.0, 0.0] };
        let ex = |x: f64, y| Example { x: vec![x], y };
        assert_eq!(m.auc(&[ex(0.0, false), ex(1.0, true)]), 1.0);
        assert_eq!(m.auc(&[ex(1.0, false), ex(1.0, true)]), 0.5);
        assert!(m.auc(&[ex(1.0, true)]).is_nan());
    }
}
