//! A federated training study: the settings an owner declares, what they mean for each
//! round's encrypted sum, and the privacy accounting across rounds.
//!
//! * **Encoding of an update.** A client's integer update (see [`super::client_update`])
//!   is clamped to `±`[`UPDATE_BOUND`] per coordinate — post-processing of the noisy
//!   update, so it changes no privacy guarantee — and sent as one study field per model
//!   parameter, declared over `−32768..=32767`: 16 bits, a range that fills its bits, so
//!   the zero-knowledge proof alone bounds every coordinate and the relay needs no
//!   clamping under encryption. The relay sums in 32 bits: `n` clients' sums are exact
//!   for `n ≤ 65536`. With `clip · scale ≤ 4096` a client's coordinate reaches the bound
//!   only when ≥ 8 sampled examples all push one coordinate to the clipping norm and the
//!   noise does not pull back; [`TrainingConfig::clamp_update`] reports how many
//!   coordinates it clamped, so a client (and the benchmark) can see it happen.
//! * **Accounting.** Each round is a Poisson-subsampled Gaussian with rate `q` and an
//!   effective noise multiplier: σ with [`NoiseMode::PerClient`]; with
//!   [`NoiseMode::Distributed`] each of the `clients` expected clients adds a `1/clients`
//!   share of the variance, so a round summed over `m` clients carries
//!   σ·√(m/clients) — a round is opened only if its worst case (`m = min_clients`) stays
//!   within the target ε, and charged with the `m` it actually folded.

use serde::{Deserialize, Serialize};

use super::{DpSgd, LogReg, Noise};
use crate::dp::RdpAccountant;
use crate::{Error, Result};

/// The largest absolute value of a coordinate of an encrypted update.
pub const UPDATE_BOUND: i64 = 32767;
/// Most model parameters a training study may have (one study field each).
pub const MAX_PARAMETERS: usize = 32;
/// Largest absolute model weight a relay stores.
pub const MAX_WEIGHT: f64 = 1.0e6;

/// Where the DP-SGD noise of a round is added.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseMode {
    /// Every client adds the whole noise to its own update.
    PerClient,
    /// Every client adds a `1/clients` share; only the encrypted sum is ever decrypted.
    Distributed,
}

/// What the owner of a training study declares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Model: `logistic-regression` (the only one).
    pub model: String,
    /// Input features (the model has one more parameter, the bias).
    pub features: u32,
    /// Rounds planned.
    pub rounds: u32,
    /// Clients expected per round (the distributed noise is split among them).
    pub clients: u32,
    /// A round's sum is released only once this many updates were folded.
    pub min_clients: u32,
    /// L2 clipping norm of a per-example gradient.
    pub clip: f64,
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Poisson sampling rate of a client's examples per round.
    pub sample_rate: f64,
    /// Integer units per 1.0 of a clipped gradient.
    pub scale: f64,
    /// FedAvg learning rate.
    pub learning_rate: f64,
    /// Expected training examples over all clients (public; the owner divides the sum
    /// by `sample_rate ×` this, the expected batch).
    pub total_examples: u32,
    /// Target ε: a round past it is refused.
    pub target_epsilon: f64,
    /// δ of the guarantee.
    pub delta: f64,
    /// Where noise is added.
    pub noise: NoiseMode,
    /// Public feature scaling every client (and the owner's evaluation) applies before
    /// the model sees a row, e.g. from a public reference cohort; none: rows as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<super::Standardizer>,
}

fn bad(msg: &'static str) -> Error {
    Error::InvalidConfig(msg)
}

impl TrainingConfig {
    /// Checks the declaration.
    pub fn validate(&self) -> Result<()> {
        let finite_pos = |v: f64| v.is_finite() && v > 0.0;
        if self.model != "logistic-regression" {
            return Err(bad("the model must be logistic-regression"));
        }
        if self.features == 0 || self.dim() > MAX_PARAMETERS {
            return Err(bad("a model has 1 to 31 features"));
        }
        if self.rounds == 0 || self.rounds > 1000 {
            return Err(bad("a training has 1 to 1000 rounds"));
        }
        if self.min_clients < 2 || self.min_clients > self.clients || self.clients > 1000 {
            return Err(bad("need 2 <= min_clients <= clients <= 1000"));
        }
        if !finite_pos(self.clip) || !finite_pos(self.learning_rate) || self.learning_rate > 100.0 {
            return Err(bad("clip and learning rate must be positive"));
        }
        if !(self.noise_multiplier.is_finite() && (0.1..=100.0).contains(&self.noise_multiplier)) {
            return Err(bad("the noise multiplier must lie within [0.1, 100]"));
        }
        if !(self.sample_rate > 0.0 && self.sample_rate <= 1.0) {
            return Err(bad("the sampling rate must lie within (0, 1]"));
        }
        if !(self.scale >= 1.0 && self.clip * self.scale <= 4096.0) {
            return Err(bad("need scale >= 1 and clip * scale <= 4096"));
        }
        if self.total_examples == 0 {
            return Err(bad("total_examples must be positive"));
        }
        if let Some(s) = &self.scaling {
            s.check(self.dim().saturating_sub(1))?;
        }
        RdpAccountant::new(self.target_epsilon, self.delta)?;
        Ok(())
    }

    /// Rows as the model sees them: checked for the declared feature count, then scaled
    /// with the declared statistics (if any).
    pub fn prepare(&self, data: &[super::Example]) -> Result<Vec<super::Example>> {
        let d = self.dim().saturating_sub(1);
        if data.is_empty() {
            return Err(Error::InvalidRecord("the data has no rows".into()));
        }
        if data.iter().any(|e| e.x.len() != d) {
            return Err(Error::InvalidRecord(format!(
                "the training expects {d} feature columns and a 0/1 label"
            )));
        }
        Ok(match &self.scaling {
            Some(s) => s.apply(data),
            None => data.to_vec(),
        })
    }

    /// Model parameters: features + bias.
    pub fn dim(&self) -> usize {
        usize::try_from(self.features)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    }

    /// The DP-SGD settings of the client step.
    pub fn dp_sgd(&self) -> DpSgd {
        DpSgd {
            clip: self.clip,
            noise_multiplier: self.noise_multiplier,
            sample_rate: self.sample_rate,
            scale: self.scale,
        }
    }

    /// The noise split of the client step.
    pub fn client_noise(&self) -> Noise {
        match self.noise {
            NoiseMode::PerClient => Noise::PerClient,
            NoiseMode::Distributed => Noise::Distributed {
                clients: self.clients,
            },
        }
    }

    /// The noise multiplier a round carries when `folded` updates were summed.
    pub fn effective_sigma(&self, folded: u64) -> f64 {
        match self.noise {
            NoiseMode::PerClient => self.noise_multiplier,
            NoiseMode::Distributed => {
                #[allow(clippy::cast_precision_loss)]
                let share = folded as f64 / f64::from(self.clients.max(1));
                self.noise_multiplier * share.sqrt()
            }
        }
    }

    /// The noise multiplier of a round in the worst case allowed (`min_clients` folded).
    pub fn worst_case_sigma(&self) -> f64 {
        self.effective_sigma(u64::from(self.min_clients))
    }

    /// A fresh accountant for this training.
    pub fn accountant(&self) -> Result<RdpAccountant> {
        RdpAccountant::new(self.target_epsilon, self.delta)
    }

    /// ε after all planned rounds, each in its worst case.
    pub fn planned_epsilon(&self) -> Result<f64> {
        self.accountant()?.epsilon_after(
            self.sample_rate,
            self.worst_case_sigma(),
            u64::from(self.rounds),
        )
    }

    /// Whether another round may be opened after those `acc` has charged: ε after one
    /// more worst-case round, or [`Error::BudgetExceeded`].
    pub fn check_next_round(&self, acc: &RdpAccountant) -> Result<f64> {
        let eps = acc.epsilon_after(self.sample_rate, self.worst_case_sigma(), 1)?;
        if eps > self.target_epsilon {
            return Err(Error::BudgetExceeded);
        }
        Ok(eps)
    }

    /// The client's update as sent: each coordinate clamped to `±UPDATE_BOUND`
    /// (post-processing). Returns the values and how many were clamped.
    pub fn clamp_update(&self, update: &[i64]) -> Result<(Vec<i64>, usize)> {
        if update.len() != self.dim() {
            return Err(bad("the update does not fit the model"));
        }
        let clamped = update.iter().filter(|v| v.abs() > UPDATE_BOUND).count();
        Ok((
            update
                .iter()
                .map(|v| (*v).clamp(-UPDATE_BOUND, UPDATE_BOUND))
                .collect(),
            clamped,
        ))
    }

    /// The expected batch over all clients: `sample_rate × total_examples`.
    pub fn expected_batch(&self) -> f64 {
        self.sample_rate * f64::from(self.total_examples)
    }

    /// Checks a published model: one finite weight per parameter, each within
    /// `±MAX_WEIGHT`.
    pub fn check_model(&self, weights: &[f64]) -> Result<()> {
        if weights.len() != self.dim() || !weights.iter().all(|w| w.abs() <= MAX_WEIGHT) {
            return Err(bad(
                "a model has one finite weight per parameter, each within ±1e6",
            ));
        }
        Ok(())
    }

    /// The owner's FedAvg step: the model moved against the decrypted sum.
    pub fn apply(&self, model: &LogReg, sum: &[i64]) -> Result<LogReg> {
        super::apply_update(
            model,
            sum,
            &self.dp_sgd(),
            self.expected_batch(),
            self.learning_rate,
        )
    }

    /// The study declaration of one round: one field per parameter over
    /// `−32768..=32767`, released at `min_clients`.
    #[cfg(feature = "fhe")]
    pub fn round_spec(&self, study_id: &str) -> crate::fhe::StudySpec {
        crate::fhe::StudySpec {
            id: study_id.to_owned(),
            fields: (0..self.dim())
                .map(|i| {
                    let name = if i.saturating_add(1) == self.dim() {
                        "bias".to_owned()
                    } else {
                        format!("w{i}")
                    };
                    crate::fhe::FieldSpec::new(
                        &name,
                        -UPDATE_BOUND - 1,
                        UPDATE_BOUND,
                        vec![],
                        vec![],
                    )
                })
                .collect(),
            min_cohort: u64::from(self.min_clients),
            // A round's updates are clamped to ±UPDATE_BOUND by the relay (their DP
            // sensitivity), which the proven encoding's power-of-two ranges would widen.
            encoding: crate::fhe::Encoding::Checked,
        }
    }
}

/// What the owner measured of a model on its held-out test split.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evaluation {
    /// Mean log loss.
    pub loss: f64,
    /// Accuracy at threshold 0.5.
    pub accuracy: f64,
    /// ROC AUC.
    pub auc: f64,
}

impl Evaluation {
    /// `model` on `test`.
    pub fn of(model: &LogReg, test: &[super::Example]) -> Self {
        Self {
            loss: model.loss(test),
            accuracy: model.accuracy(test),
            auc: model.auc(test),
        }
    }

    /// Checks untrusted figures: loss finite and ≥ 0, accuracy and AUC within [0, 1].
    pub fn validate(&self) -> Result<()> {
        let unit = |v: f64| (0.0..=1.0).contains(&v);
        if !(self.loss.is_finite() && self.loss >= 0.0 && unit(self.accuracy) && unit(self.auc)) {
            return Err(bad(
                "an evaluation has a finite loss and accuracy, AUC within [0, 1]",
            ));
        }
        Ok(())
    }
}

/// The settings the benchmark and tests use for the breast-cancer data: 30 features,
/// clip 1, quantized at 1024 units, learning rate 1; σ derived from the target ε for
/// the planned rounds (worst case).
pub fn wdbc_config(
    rounds: u32,
    clients: u32,
    min_clients: u32,
    sample_rate: f64,
    total_examples: u32,
    target_epsilon: f64,
    noise: NoiseMode,
) -> Result<TrainingConfig> {
    let mut c = TrainingConfig {
        model: "logistic-regression".into(),
        features: 30,
        rounds,
        clients,
        min_clients,
        clip: 1.0,
        noise_multiplier: 1.0,
        sample_rate,
        scale: 1024.0,
        learning_rate: 1.0,
        total_examples,
        target_epsilon,
        delta: 1e-5,
        noise,
        scaling: None,
    };
    let sigma = crate::dp::rdp::noise_multiplier_for(
        target_epsilon,
        c.delta,
        sample_rate,
        u64::from(rounds),
    )?;
    // The worst case of distributed noise is min_clients of clients: scale σ up so the
    // worst case still carries the σ the target needs.
    c.noise_multiplier = match noise {
        NoiseMode::PerClient => sigma,
        NoiseMode::Distributed => sigma / (f64::from(min_clients) / f64::from(clients)).sqrt(),
    };
    c.validate()?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(noise: NoiseMode) -> TrainingConfig {
        wdbc_config(10, 5, 3, 0.2, 455, 3.0, noise).unwrap()
    }

    #[test]
    fn the_worst_case_meets_the_target_and_rounds_past_it_are_refused() {
        for mode in [NoiseMode::PerClient, NoiseMode::Distributed] {
            let c = cfg(mode);
            let planned = c.planned_epsilon().unwrap();
            assert!(planned <= 3.0 && planned > 2.9, "{mode:?}: {planned}");
            let mut acc = c.accountant().unwrap();
            for _ in 0..10 {
                c.check_next_round(&acc).unwrap();
                acc.charge(c.sample_rate, c.worst_case_sigma(), 1).unwrap();
            }
            assert!(matches!(
                c.check_next_round(&acc),
                Err(Error::BudgetExceeded)
            ));
        }
        // More clients than the worst case: more noise, less spent.
        let c = cfg(NoiseMode::Distributed);
        assert!(c.effective_sigma(5) > c.worst_case_sigma());
        assert_eq!(
            cfg(NoiseMode::PerClient).effective_sigma(2),
            cfg(NoiseMode::PerClient).noise_multiplier
        );
    }

    #[test]
    fn declarations_and_untrusted_figures_are_checked() {
        let c = cfg(NoiseMode::PerClient);
        let mut bad = c.clone();
        bad.features = 40;
        assert!(bad.validate().is_err());
        let mut bad = c.clone();
        bad.scale = 8192.0;
        assert!(bad.validate().is_err());
        let mut bad = c.clone();
        bad.min_clients = 6;
        assert!(bad.validate().is_err());
        assert!(c.check_model(&[0.0; 31]).is_ok());
        assert!(c.check_model(&[0.0; 30]).is_err());
        let mut w = [0.0; 31];
        w[3] = f64::NAN;
        assert!(c.check_model(&w).is_err());
        let (v, n) = c.clamp_update(&[40_000; 31]).unwrap();
        assert_eq!((v[0], n), (UPDATE_BOUND, 31));
        assert!(Evaluation {
            loss: 0.1,
            accuracy: 1.2,
            auc: 0.5
        }
        .validate()
        .is_err());
    }

    #[test]
    fn declared_scaling_is_checked_and_applied_to_every_row() {
        let data = super::super::parse_csv(include_str!("../../../tests/data/wdbc.csv")).unwrap();
        let mut c = cfg(NoiseMode::Distributed);
        let s = super::super::Standardizer::fit(&data).unwrap();
        c.scaling = Some(s.clone());
        c.validate().unwrap();
        assert_eq!(c.prepare(&data).unwrap(), s.apply(&data));
        // It travels in the declaration (JSON) and scales the same (to the last bits
        // JSON keeps: every client and the owner read the same stored JSON).
        let back: TrainingConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        back.validate().unwrap();
        for (a, b) in back.prepare(&data).unwrap().iter().zip(s.apply(&data)) {
            assert!(a.x.iter().zip(&b.x).all(|(u, v)| (u - v).abs() < 1e-9));
        }
        // Rows of another width, or no rows, are refused.
        let short: Vec<_> = data
            .iter()
            .map(|e| super::super::Example {
                x: e.x[..29].to_vec(),
                y: e.y,
            })
            .collect();
        assert!(c.prepare(&short).is_err());
        assert!(c.prepare(&[]).is_err());
        // Statistics of the wrong width or with a zero spread are refused.
        let mut json = serde_json::to_value(&c).unwrap();
        json["scaling"]["std"][4] = serde_json::json!(0.0);
        let bad: TrainingConfig = serde_json::from_value(json).unwrap();
        assert!(bad.validate().is_err());
        let mut json = serde_json::to_value(&c).unwrap();
        json["scaling"]["mean"].as_array_mut().unwrap().pop();
        let bad: TrainingConfig = serde_json::from_value(json).unwrap();
        assert!(bad.validate().is_err());
    }
}
