//! Private statistics under TFHE (the `tfhe` crate): the owner's key ceremony, the
//! patient's encrypted submission with a zero-knowledge proof, the relay's aggregation,
//! and the owner's decryption of a released aggregate.
//!
//! * **Encoding.** A field declared in `lo..=hi` is sent as `value − lo` (plus a noise
//!   margin for patient-side DP), all fields of a submission in one packed compact list
//!   under the study's compact public key, with a proof (`ZkComputeLoad::Proof`) bound to
//!   `metadata` (study id + patient pseudonym), so a list cannot be replayed under
//!   another identity or study. A proof bounds each entry to its type's bits. Two
//!   encodings ([`Encoding`]):
//!   - **proven**: each range holds exactly `2^k` values, so the proof (and, for an odd
//!     `k`, one table lookup on the top 2-bit block) bounds the value to the declared
//!     range; the client also sends each histogram as one-hot proven bits and each
//!     threshold as a proven bit. The relay checks one-hotness (one sum and one equality
//!     per histogram, then one many-LUT bootstrap per pair of cells; a histogram that is
//!     not one-hot counts nowhere) and compares nothing. Every accepted submission moves
//!     each total by at most what an honest client's could.
//!   - **checked** (studies declared before the proven encoding): the value is sent in
//!     the narrowest even number of bits; the relay clamps it to the declared range and
//!     compares it with every edge and threshold under encryption.
//! * **Aggregation** (relay, native): the list is deserialized with size limits and
//!   conformance checks, the proof verified, the list expanded; each submission's
//!   2-bit digits and indicator bits are added into running 32-bit totals kept
//!   un-propagated, a batch at a time and every total at once: blocks are summed while
//!   the parameters' degree and noise bounds allow, and a carry is moved up (two table
//!   lookups, or one many-LUT bootstrap for a sum at most half full) only where a
//!   position holds more than one sum; a round's lookups run together in batches
//!   (crate `phiveil-pbs`) — no carry propagation per addition. A submission id is
//!   folded once.
//!   On a CUDA GPU (cargo feature `gpu`) the same API folds with tfhe's integer
//!   operations instead, which its CUDA backend runs ([`Device`], `fhe/device.rs`).
//! * **Release**: only when the cohort reaches the study's `k`; the totals' carries are
//!   propagated, and central-DP noise can be added under encryption before release.

// Ciphertext arithmetic (`+`, `-` on FheUint32) is modular by design; integer arithmetic
// below is on bounded values (fields ≤ 16 bits, counts ≤ 2^32).
#![allow(clippy::arithmetic_side_effects)]

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tfhe::integer::IntegerRadixCiphertext;
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::parameters::{
    PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
use tfhe::{
    ClientKey, CompactCiphertextListExpander, CompactPublicKey, CompressedServerKey, Config,
    ConfigBuilder, FheBool, FheUint10, FheUint12, FheUint14, FheUint16, FheUint2, FheUint32,
    FheUint4, FheUint6, FheUint8, ProvenCompactCiphertextList, ServerKey,
};

use crate::{Error, Result};

pub use device::Device;

/// Largest serialized submission accepted (a proven list of 16 fields is ~40 KB).
pub const MAX_SUBMISSION_BYTES: u64 = 1 << 20;
/// Largest serialized 32-bit ciphertext accepted.
const MAX_CIPHERTEXT_BYTES: u64 = 1 << 20;
/// Largest serialized public key / CRS / server key accepted.
const MAX_KEY_BYTES: u64 = 1 << 30;

fn fhe_err(e: impl core::fmt::Display) -> Error {
    Error::Fhe(e.to_string())
}

/// The TFHE parameters of every study (2-bit messages, 2-bit carries, TUniform noise at
/// 2^-128 failure probability, a dedicated compact public-key encryption set).
pub fn config() -> Config {
    ConfigBuilder::with_custom_parameters(PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
        .use_dedicated_compact_public_key_parameters((
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        ))
        .build()
}

/// How a study's submissions carry their statistics (see the module documentation).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The relay clamps each value to its range and compares it with every histogram
    /// edge and threshold under encryption. The default of a stored declaration without
    /// an encoding (studies declared before the proven encoding).
    #[default]
    Checked,
    /// Ranges of exactly `2^k` values; histograms one-hot and thresholds as proven bits
    /// from the client; the relay checks one-hotness and compares nothing.
    Proven,
}

pub use crate::dp::proven_hi;

/// One integer field of a study.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Name (1–64 of `A-Z a-z 0-9 . _ -`).
    pub name: String,
    /// Smallest allowed value.
    pub lo: i64,
    /// Largest allowed value (`hi − lo` ≤ 65535).
    pub hi: i64,
    /// Histogram bin edges (ascending, strictly inside `lo..=hi`): bins
    /// `[lo, e0), [e0, e1), …, [e_last, hi]`. Empty: no histogram.
    #[serde(default)]
    pub bins: Vec<i64>,
    /// Thresholds `t`: the count of values `≥ t` is released for each.
    #[serde(default)]
    pub at_least: Vec<i64>,
    /// Differential privacy of this field's sum and mean (none: exact aggregates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<FieldDp>,
}

/// The DP mode and per-release budget of one field.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDp {
    /// Where noise is added.
    pub mode: crate::dp::Mode,
    /// What one release of the field costs each patient.
    pub privacy: crate::dp::Privacy,
}

impl FieldSpec {
    /// A field without DP (set `dp` afterwards for one with DP).
    pub fn new(name: &str, lo: i64, hi: i64, bins: Vec<i64>, at_least: Vec<i64>) -> Self {
        Self {
            name: name.to_owned(),
            lo,
            hi,
            bins,
            at_least,
            dp: None,
        }
    }

    /// `hi − lo` (the sensitivity of the field's sum).
    pub fn width(&self) -> u64 {
        self.hi.abs_diff(self.lo)
    }

    /// The field's noise plan, when it has DP.
    pub fn plan(&self) -> Result<Option<crate::dp::FieldPlan>> {
        self.dp
            .map(|d| crate::dp::FieldPlan::new(d.mode, d.privacy, self.width()))
            .transpose()
    }

    /// Room on each side of the range for patient-side noise: a noisy value is encoded
    /// as `value − lo + margin`, clamped into `0..=width + 2·margin`. The margin is
    /// 8σ (Gaussian) or 28·scale (Laplace), so clamping changes a noisy value with
    /// probability below 1e-12. 0 without patient-side noise.
    pub fn margin(&self) -> u64 {
        use crate::dp::PatientNoise;
        let m = match self.plan() {
            Ok(Some(p)) => match p.patient {
                PatientNoise::None => 0.0,
                PatientNoise::Laplace(l) => 28.0 * l.scale(),
                PatientNoise::Gaussian(g) => 8.0 * g.sigma2().sqrt(),
            },
            _ => 0.0,
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let m = m.ceil().clamp(0.0, 1e9) as u64;
        m
    }

    /// Largest encoded value: `width + 2·margin`.
    pub fn encoded_max(&self) -> u64 {
        self.width().saturating_add(self.margin().saturating_mul(2))
    }

    /// Bits of the encoded value: the smallest even number ≥ log2(encoded max + 1), at
    /// least 2 (TFHE blocks hold 2 bits).
    pub fn bits(&self) -> u32 {
        let needed = u64::BITS - self.encoded_max().leading_zeros();
        needed.max(2).next_multiple_of(2)
    }

    /// Bits of the value in the proven encoding: the smallest `k` with
    /// `2^k > width + 2·margin` (1 for a yes/no field).
    pub fn proven_bits(&self) -> u32 {
        (u64::BITS - self.encoded_max().leading_zeros()).max(1)
    }

    /// How the proven encoding carries the value: `None` for a yes/no field (a proven
    /// boolean), else the even width of its integer type (an odd `k` rounded up; the
    /// relay bounds the top block).
    fn proven_wire_bits(&self) -> Option<u32> {
        let k = self.proven_bits();
        (k > 1).then(|| k.next_multiple_of(2))
    }

    /// The largest encoded value the relay can receive for this field: the encoded
    /// maximum (checked; larger values are clamped) or `2^k − 1` (proven).
    pub fn encoded_top(&self, enc: Encoding) -> u64 {
        match enc {
            Encoding::Checked => self.encoded_max(),
            Encoding::Proven => 1u64
                .checked_shl(self.proven_bits())
                .map_or(u64::MAX, |v| v - 1),
        }
    }

    /// Histogram cells (`bins.len() + 1`), or 0 without a histogram.
    fn cells(&self) -> usize {
        if self.bins.is_empty() {
            0
        } else {
            self.bins.len() + 1
        }
    }

    /// The cell of a true value (the number of edges at or below it).
    fn cell_of(&self, v: i64) -> usize {
        self.bins.iter().filter(|e| **e <= v).count()
    }

    /// The list entries of this field: the value, then (proven) its one-hot cells and
    /// threshold bits.
    fn kinds(&self, enc: Encoding) -> Vec<tfhe::FheTypes> {
        use tfhe::FheTypes as T;
        let mut out = Vec::new();
        match enc {
            Encoding::Checked => out.push(uint_kind(self.bits())),
            Encoding::Proven => {
                out.push(self.proven_wire_bits().map_or(T::Bool, uint_kind));
                out.extend(std::iter::repeat_n(T::Bool, self.cells()));
                out.extend(std::iter::repeat_n(T::Bool, self.at_least.len()));
            }
        }
        out
    }

    fn validate_for(&self, enc: Encoding) -> Result<()> {
        self.validate()?;
        if enc == Encoding::Proven && self.margin() == 0 && !(self.width() + 1).is_power_of_two() {
            return Err(Error::InvalidConfig(
                "in the proven encoding a range holds a power of two of values: declare hi = lo + 2^k - 1",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !name_ok {
            return Err(Error::InvalidConfig(
                "field names are 1-64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        if self.hi <= self.lo || self.width() > u64::from(u16::MAX) {
            return Err(Error::InvalidConfig(
                "a field needs lo < hi and hi - lo <= 65535",
            ));
        }
        let inside = |v: &i64| *v > self.lo && *v <= self.hi;
        if !self.bins.iter().all(inside)
            || !self.bins.windows(2).all(|w| matches!(w, [a, b] if a < b))
        {
            return Err(Error::InvalidConfig(
                "bin edges must ascend strictly inside (lo, hi]",
            ));
        }
        if !self.at_least.iter().all(inside) || self.at_least.len() > 16 || self.bins.len() > 32 {
            return Err(Error::InvalidConfig(
                "thresholds must lie inside (lo, hi]; at most 16 thresholds and 32 bin edges",
            ));
        }
        if self.dp.is_some() {
            if !self.bins.is_empty() || !self.at_least.is_empty() {
                return Err(Error::InvalidConfig(
                    "a DP field releases its sum and mean only: no histogram or thresholds",
                ));
            }
            self.plan()?;
            if self.encoded_max() > u64::from(u16::MAX) {
                return Err(Error::InvalidConfig(
                    "range plus noise margin exceeds 16 bits: widen the budget or narrow the range",
                ));
            }
        }
        Ok(())
    }

    /// Checks a true value against the declared range.
    fn check(&self, v: i64) -> Result<()> {
        if v < self.lo || v > self.hi {
            return Err(Error::OutOfRange {
                field: self.name.clone(),
            });
        }
        Ok(())
    }

    /// Encodes a (possibly noisy) value: `v − lo + margin`, clamped into the encoding.
    fn encode_noisy(&self, v: i64, enc: Encoding) -> u64 {
        let margin = i64::try_from(self.margin()).unwrap_or(i64::MAX);
        let max = i64::try_from(self.encoded_top(enc)).unwrap_or(i64::MAX);
        let e = i128::from(v) - i128::from(self.lo) + i128::from(margin);
        let e = e.clamp(0, i128::from(max));
        u64::try_from(e).unwrap_or(0)
    }

    fn enc_edge(&self, v: i64) -> u16 {
        u16::try_from(v.abs_diff(self.lo)).unwrap_or(u16::MAX)
    }
}

/// What the study owner declares.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Study id (as the relay assigned it).
    pub id: String,
    /// The fields, in submission order.
    pub fields: Vec<FieldSpec>,
    /// Nothing is released before this many submissions were folded in.
    pub min_cohort: u64,
    /// How submissions carry the statistics (absent in declarations stored before the
    /// proven encoding: checked).
    #[serde(default)]
    pub encoding: Encoding,
}

impl StudySpec {
    /// Checks the declaration.
    pub fn validate(&self) -> Result<()> {
        if self.fields.is_empty() || self.fields.len() > 32 {
            return Err(Error::InvalidConfig("a study has 1 to 32 fields"));
        }
        if self.min_cohort < 2 {
            return Err(Error::InvalidConfig(
                "the minimum cohort must be at least 2",
            ));
        }
        for f in &self.fields {
            f.validate_for(self.encoding)?;
            if let Some(FieldDp {
                mode: crate::dp::Mode::Distributed { min_cohort },
                ..
            }) = f.dp
            {
                if min_cohort != self.min_cohort {
                    return Err(Error::InvalidConfig(
                        "distributed noise must be calibrated for the study's minimum cohort",
                    ));
                }
            }
        }
        Ok(())
    }

    /// What one submission costs a patient: the fields' budgets composed (zCDP when
    /// any field is zCDP or the fields are mixed; pure ε otherwise), or `None` without DP.
    pub fn privacy_cost(&self) -> Option<crate::dp::Privacy> {
        use crate::dp::Privacy;
        let budgets: Vec<Privacy> = self
            .fields
            .iter()
            .filter_map(|f| f.dp)
            .map(|d| d.privacy)
            .collect();
        if budgets.is_empty() {
            return None;
        }
        if budgets.iter().all(|p| matches!(p, Privacy::Pure { .. })) {
            let epsilon = budgets
                .iter()
                .map(|p| match p {
                    Privacy::Pure { epsilon } => *epsilon,
                    Privacy::Zcdp { .. } => 0.0,
                })
                .sum();
            return Some(Privacy::Pure { epsilon });
        }
        Some(Privacy::Zcdp {
            rho: budgets.iter().map(|p| p.as_rho()).sum(),
        })
    }

    /// The patient-side step before encryption: checks every value against its field's
    /// range, adds the field's patient-side noise (local or distributed DP) and encodes
    /// it in the field's bits.
    pub fn encode_values(
        &self,
        values: &[i64],
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Vec<u64>> {
        self.validate()?;
        if values.len() != self.fields.len() {
            return Err(Error::InvalidConfig("one value per study field"));
        }
        for (f, v) in self.fields.iter().zip(values) {
            f.check(*v)?;
        }
        self.fields
            .iter()
            .zip(values)
            .map(|(f, v)| {
                let noisy = match f.plan()? {
                    Some(p) => p.apply(*v, rng),
                    None => *v,
                };
                Ok(f.encode_noisy(noisy, self.encoding))
            })
            .collect()
    }

    /// The relay's central-DP step: one discrete Gaussian draw per central-mode field
    /// (0 for the others), to be added to the encrypted sums at release.
    pub fn central_noise(
        &self,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<Option<Vec<i64>>> {
        let mut any = false;
        let mut out = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            match f.plan()? {
                Some(p) if p.central_sigma2 > 0.0 => {
                    any = true;
                    out.push(crate::dp::DiscreteGaussian::new(p.central_sigma2)?.sample(rng));
                }
                _ => out.push(0),
            }
        }
        Ok(any.then_some(out))
    }

    /// The entries of one submission's list, in order: per field its value and (proven)
    /// its one-hot histogram cells and threshold bits.
    pub fn kinds(&self) -> Vec<tfhe::FheTypes> {
        self.fields
            .iter()
            .flat_map(|f| f.kinds(self.encoding))
            .collect()
    }

    /// Total encoded bits of one submission (what the CRS must cover; a bit takes a
    /// 2-bit block).
    pub fn total_bits(&self) -> usize {
        self.kinds().into_iter().map(kind_bits).sum()
    }

    /// The metadata a patient's proof is bound to.
    pub fn proof_metadata(&self, patient: &str) -> Vec<u8> {
        format!("phiveil-study-v1\0{}\0{patient}", self.id).into_bytes()
    }
}

/// The owner's keys after the ceremony. The client key stays with the owner (wrapped);
/// the rest goes to the relay.
pub struct OwnerKeys {
    /// Decrypts released aggregates. Never leaves the owner unwrapped.
    pub client: ClientKey,
    /// The relay's evaluation key (compressed).
    pub server: CompressedServerKey,
    /// Patients encrypt under this.
    pub public: CompactPublicKey,
    /// The common reference string for the patients' proofs (`None` when the owner
    /// leaves it to the relay).
    pub crs: Option<CompactPkeCrs>,
}

impl core::fmt::Debug for OwnerKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("OwnerKeys(<redacted>)")
    }
}

/// Timings of a key ceremony, for reporting (milliseconds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CeremonyTimings {
    /// Client key generation.
    pub client_key_ms: f64,
    /// Compressed server key generation.
    pub server_key_ms: f64,
    /// Compact public key generation.
    pub public_key_ms: f64,
    /// CRS generation.
    pub crs_ms: f64,
}

/// Generates a study's keys, and its CRS when `with_crs`. `now_ms` reads a clock
/// (reporting only).
pub fn key_ceremony(
    study: &StudySpec,
    with_crs: bool,
    mut now_ms: impl FnMut() -> f64,
) -> Result<(OwnerKeys, CeremonyTimings)> {
    study.validate()?;
    let cfg = config();
    let mut t = CeremonyTimings::default();
    let t0 = now_ms();
    let client = ClientKey::generate(cfg);
    let t1 = now_ms();
    let server = CompressedServerKey::new(&client);
    let t2 = now_ms();
    let public = CompactPublicKey::try_new(&client).map_err(fhe_err)?;
    let t3 = now_ms();
    let crs = if with_crs {
        Some(make_crs(study)?)
    } else {
        None
    };
    let t4 = now_ms();
    t.client_key_ms = t1 - t0;
    t.server_key_ms = t2 - t1;
    t.public_key_ms = t3 - t2;
    t.crs_ms = t4 - t3;
    Ok((
        OwnerKeys {
            client,
            server,
            public,
            crs,
        },
        t,
    ))
}

/// Generates the CRS of a study's proofs (covers the study's total encoded bits). The
/// owner's ceremony makes it; an owner may leave it to the relay, the proofs' verifier.
pub fn make_crs(study: &StudySpec) -> Result<CompactPkeCrs> {
    study.validate()?;
    CompactPkeCrs::from_config(config(), study.total_bits()).map_err(fhe_err)
}

/// Serializes any tfhe object with tfhe's versioned, size-limited format.
pub fn to_bytes<T: serde::Serialize + tfhe::Versionize + tfhe::named::Named>(
    v: &T,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    safe_serialize(v, &mut out, MAX_KEY_BYTES).map_err(fhe_err)?;
    Ok(out)
}

/// Reads a compact public key (conformant to the study parameters).
pub fn public_key_from_bytes(b: &[u8]) -> Result<CompactPublicKey> {
    safe_deserialize_conformant(
        b,
        MAX_KEY_BYTES,
        &PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    )
    .map_err(|_| Error::Fhe("not a compact public key of the study parameters".into()))
}

/// Reads a CRS.
pub fn crs_from_bytes(b: &[u8]) -> Result<CompactPkeCrs> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// Reads a compressed server key (size-limited, versioned; tfhe 1.8 does not export its
/// server-key conformance parameters, so a key of other parameters is caught when the
/// relay's opening self-test uses it).
pub fn server_key_from_bytes(b: &[u8]) -> Result<CompressedServerKey> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(|_| Error::Fhe("not a compressed server key".into()))
}

/// Reads a client key (after unwrapping).
pub fn client_key_from_bytes(b: &[u8]) -> Result<ClientKey> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// The patient's step: validates `values` against the study (one per field, in order),
/// adds each field's patient-side DP noise, encodes each in its field's bits and
/// encrypts them as one proven compact list bound to `patient`. Returns the serialized
/// list.
pub fn encrypt_submission(
    study: &StudySpec,
    public: &CompactPublicKey,
    crs: &CompactPkeCrs,
    patient: &str,
    values: &[i64],
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    let encoded = study.encode_values(values, rng)?;
    let mut builder = ProvenCompactCiphertextList::builder(public);
    for ((f, v), truth) in study.fields.iter().zip(encoded).zip(values) {
        match study.encoding {
            Encoding::Checked => {
                let bits = usize::try_from(f.bits()).unwrap_or(usize::MAX);
                builder.push_with_num_bits(v, bits).map_err(fhe_err)?;
            }
            Encoding::Proven => {
                match f.proven_wire_bits() {
                    None => builder.push(v == 1),
                    Some(bits) => {
                        let bits = usize::try_from(bits).unwrap_or(usize::MAX);
                        builder.push_with_num_bits(v, bits).map_err(fhe_err)?
                    }
                };
                let cell = f.cell_of(*truth);
                for j in 0..f.cells() {
                    builder.push(j == cell);
                }
                for t in &f.at_least {
                    builder.push(truth >= t);
                }
            }
        }
    }
    let list = builder
        .build_with_proof_packed(crs, &study.proof_metadata(patient), ZkComputeLoad::Proof)
        .map_err(fhe_err)?;
    let mut out = Vec::new();
    safe_serialize(&list, &mut out, MAX_SUBMISSION_BYTES).map_err(fhe_err)?;
    Ok(out)
}

fn uint_kind(bits: u32) -> tfhe::FheTypes {
    use tfhe::FheTypes as T;
    match bits {
        0..=2 => T::Uint2,
        3 | 4 => T::Uint4,
        5 | 6 => T::Uint6,
        7 | 8 => T::Uint8,
        9 | 10 => T::Uint10,
        11 | 12 => T::Uint12,
        13 | 14 => T::Uint14,
        _ => T::Uint16,
    }
}

fn kind_bits(k: tfhe::FheTypes) -> usize {
    use tfhe::FheTypes as T;
    match k {
        T::Bool | T::Uint2 => 2,
        T::Uint4 => 4,
        T::Uint6 => 6,
        T::Uint8 => 8,
        T::Uint10 => 10,
        T::Uint12 => 12,
        T::Uint14 => 14,
        _ => 16,
    }
}

/// Aggregation state for one study (relay side): running encrypted totals.
pub struct Aggregator {
    study: StudySpec,
    public: CompactPublicKey,
    crs: CompactPkeCrs,
    count: u64,
    seen: BTreeSet<String>,
    sums: Vec<Option<FheUint32>>,
    bins: Vec<Vec<Option<FheUint32>>>,
    at_least: Vec<Vec<Option<FheUint32>>>,
    released: bool,
}

impl core::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Aggregator")
            .field("study", &self.study.id)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// One submission for [`Aggregator::prepare_many`]: its id, the patient its proof is
/// bound to, the proven list as uploaded, and whether the caller already checked the
/// proof of exactly these bytes ([`check_submission`], for example when the upload was
/// completed; the relay keeps their SHA-256 and compares it). A list whose proof was
/// not checked is checked here.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The submission's id.
    pub id: &'a str,
    /// The patient the proof is bound to.
    pub patient: &'a str,
    /// The proven list's bytes.
    pub bytes: &'a [u8],
    /// Whether [`check_submission`] accepted exactly these bytes for this patient.
    pub proof_checked: bool,
}

/// One verified, expanded submission, ready to fold: for each running total (the
/// fields' sums, then every histogram cell, then every threshold, in that order) what
/// this submission adds to it.
pub struct Expanded {
    id: String,
    totals: Parts,
}

/// A submission's additions, in the form its pool's way of folding takes.
enum Parts {
    /// 2-bit blocks, least significant first (the CPU's block fold).
    Blocks(Vec<Vec<Block>>),
    /// Whole 32-bit values (tfhe's integer operations: the GPU path).
    Whole(Vec<FheUint32>),
}

/// Checked encoding: clamps a field's narrow ciphertext to its encoded maximum and
/// compares it with the field's edges and thresholds in its own width; the clamped
/// value is then given as `$out` (`|v| expression`: blocks, or a widened value).
macro_rules! prepare_narrow {
    ($expander:expr, $i:expr, $f:expr, |$v:ident| $out:expr, $($n:literal => $ty:ty as $clear:ty $(=> $wide:ty)?),*) => {
        match $f.bits() {
            $($n => match $expander.get::<$ty>($i).map_err(fhe_err)? {
                Some(v) => {
                    // Where asked (`=> wider type`), the value first takes an even number
                    // of blocks: tfhe's CUDA backend refuses a scalar min on an odd one.
                    $(let v: $wide = v.cast_into();)?
                    let max = <$clear>::try_from($f.encoded_max()).unwrap_or(<$clear>::MAX);
                    // A proof bounds a value to its bits; clamp to the declared range
                    // unless the range fills the bits.
                    let v = if u64::from(max) + 1 == 1u64 << $n { v } else { v.min(max) };
                    let edge = |e: &i64| <$clear>::try_from($f.enc_edge(*e)).unwrap_or(<$clear>::MAX);
                    let edges: Vec<FheBool> = $f.bins.iter().map(|e| v.ge(edge(e))).collect();
                    let thresholds: Vec<FheBool> =
                        $f.at_least.iter().map(|e| v.ge(edge(e))).collect();
                    let $v = v;
                    Some(($out, edges, thresholds))
                }
                None => None,
            },)*
            _ => None,
        }
    };
}

// After the macros above, which it uses.
mod device;
mod expand;

/// Proven encoding: a value's blocks as the list carries them (its type is checked).
macro_rules! value_blocks {
    ($expander:expr, $i:expr, $bits:expr, $($n:literal => $ty:ty),*) => {
        match $bits {
            $($n => $expander.get::<$ty>($i).map_err(fhe_err)?.map(|v| v.into_raw_parts().0.into_blocks()),)*
            _ => None,
        }
    };
}

/// Where the blocks path reads a proven submission's entries: tfhe's expander, or the
/// batched expansion's [`expand::Entries`].
trait ProvenEntries {
    /// Entry `i` as an unsigned value of `bits` bits (2 to 16, even), as its blocks;
    /// `None` where it is missing or `bits` is not such a width, an error where the
    /// entry is of another type.
    fn value_blocks(&self, i: usize, bits: u32) -> Result<Option<Vec<Block>>>;
    /// Entry `i` as a boolean's block; `None` where it is missing, an error where the
    /// entry is of another type.
    fn bit(&self, i: usize) -> Result<Option<Block>>;
}

impl ProvenEntries for CompactCiphertextListExpander {
    fn value_blocks(&self, i: usize, bits: u32) -> Result<Option<Vec<Block>>> {
        Ok(value_blocks!(self, i, bits,
            2 => FheUint2, 4 => FheUint4, 6 => FheUint6, 8 => FheUint8,
            10 => FheUint10, 12 => FheUint12, 14 => FheUint14, 16 => FheUint16))
    }

    fn bit(&self, i: usize) -> Result<Option<Block>> {
        Ok(self
            .get::<FheBool>(i)
            .map_err(fhe_err)?
            .map(FheBool::into_raw_parts))
    }
}

/// The serialized, released aggregate of a study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The study.
    pub study: String,
    /// Submissions folded in (public: the relay counts them).
    pub count: u64,
    /// Per field: the encrypted sum of the encoded values (`value − lo + margin`), plus
    /// `noise_offset` + central noise when central noise was added, serialized.
    pub sums: Vec<Vec<u8>>,
    /// Per field, per bin: encrypted counts.
    pub bins: Vec<Vec<Vec<u8>>>,
    /// Per field, per threshold: encrypted counts of values ≥ the threshold.
    pub at_least: Vec<Vec<Vec<u8>>>,
    /// The offset added with central-DP noise (the owner subtracts it), or 0.
    pub noise_offset: u32,
}

impl Release {
    /// Serialized: `PVRL1`, a JSON header (study, count, noise offset, shape), then every
    /// ciphertext as a u32 BE length and tfhe's serialization (sums, bins, thresholds).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = serde_json::to_vec(&ReleaseHeader {
            study: self.study.clone(),
            count: self.count,
            noise_offset: self.noise_offset,
            bins: self.bins.iter().map(Vec::len).collect(),
            at_least: self.at_least.iter().map(Vec::len).collect(),
        })
        .map_err(|_| Error::InvalidState("release header"))?;
        let mut out = b"PVRL1".to_vec();
        put_chunk(&mut out, &header)?;
        let all = self
            .sums
            .iter()
            .chain(self.bins.iter().flatten())
            .chain(self.at_least.iter().flatten());
        for c in all {
            put_chunk(&mut out, c)?;
        }
        Ok(out)
    }

    /// Parses [`Release::to_bytes`] output (untrusted: every length is checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = || Error::Fhe("the release is malformed".into());
        let mut rest = bytes.strip_prefix(b"PVRL1").ok_or_else(bad)?;
        let h: ReleaseHeader =
            serde_json::from_slice(take_chunk(&mut rest).ok_or_else(bad)?).map_err(|_| bad())?;
        if h.bins.len() != h.at_least.len() || h.bins.len() > 32 {
            return Err(bad());
        }
        let mut next = || take_chunk(&mut rest).map(<[u8]>::to_vec).ok_or_else(bad);
        let sums = (0..h.bins.len())
            .map(|_| next())
            .collect::<Result<Vec<_>>>()?;
        let mut nested = |shape: &[usize]| -> Result<Vec<Vec<Vec<u8>>>> {
            shape
                .iter()
                .map(|n| (0..(*n).min(64)).map(|_| next()).collect())
                .collect()
        };
        let bins = nested(&h.bins)?;
        let at_least = nested(&h.at_least)?;
        if !rest.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            study: h.study,
            count: h.count,
            sums,
            bins,
            at_least,
            noise_offset: h.noise_offset,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct ReleaseHeader {
    study: String,
    count: u64,
    noise_offset: u32,
    bins: Vec<usize>,
    at_least: Vec<usize>,
}

/// Checks an untrusted submission without the server key: size, well-formedness against
/// the study's CRS and parameters, the number of fields, and the zero-knowledge proof
/// (bound to the study and `patient`). What the relay runs before accepting an upload.
pub fn check_submission(
    study: &StudySpec,
    public: &CompactPublicKey,
    crs: &CompactPkeCrs,
    patient: &str,
    bytes: &[u8],
) -> Result<()> {
    let list = parse_submission(study, crs, bytes)?;
    match list.verify(crs, public, &study.proof_metadata(patient)) {
        tfhe::zk::ZkVerificationOutcome::Valid => Ok(()),
        tfhe::zk::ZkVerificationOutcome::Invalid => {
            Err(Error::Fhe("the proof does not verify".into()))
        }
    }
}

fn parse_submission(
    study: &StudySpec,
    crs: &CompactPkeCrs,
    bytes: &[u8],
) -> Result<ProvenCompactCiphertextList> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_SUBMISSION_BYTES {
        return Err(Error::LimitExceeded {
            what: "submission size",
            limit: MAX_SUBMISSION_BYTES,
        });
    }
    let params = tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
        PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        crs,
    );
    let list: ProvenCompactCiphertextList =
        safe_deserialize_conformant(bytes, MAX_SUBMISSION_BYTES, &params)
            .map_err(|_| Error::Fhe("submission is not a well-formed proven list".into()))?;
    // Each entry's expected type, with the field it belongs to (for the error).
    let kinds: Vec<(&str, tfhe::FheTypes)> = study
        .fields
        .iter()
        .flat_map(|f| {
            f.kinds(study.encoding)
                .into_iter()
                .map(move |k| (f.name.as_str(), k))
        })
        .collect();
    if list.len() != kinds.len() {
        return Err(Error::Fhe(
            "submission has the wrong number of entries".into(),
        ));
    }
    // A proof bounds each value to its type's bits: a wider type than the field's would
    // carry values beyond the declared encoding.
    for (i, (name, want)) in kinds.into_iter().enumerate() {
        if list.get_kind_of(i) != Some(want) {
            return Err(Error::Fhe(format!("field {name} has the wrong type")));
        }
    }
    Ok(list)
}

impl Aggregator {
    /// A fresh aggregator. Its computations run on a thread holding the study's server
    /// key: inside [`KeyedPool::run`] (or after `tfhe::set_server_key` on this thread).
    pub fn new(study: StudySpec, public: CompactPublicKey, crs: CompactPkeCrs) -> Result<Self> {
        study.validate()?;
        let n = study.fields.len();
        let bins = study
            .fields
            .iter()
            .map(|f| {
                vec![
                    None;
                    if f.bins.is_empty() {
                        0
                    } else {
                        f.bins.len() + 1
                    }
                ]
            })
            .collect();
        let at_least = study
            .fields
            .iter()
            .map(|f| vec![None; f.at_least.len()])
            .collect();
        Ok(Self {
            study,
            public,
            crs,
            count: 0,
            seen: BTreeSet::new(),
            sums: vec![None; n],
            bins,
            at_least,
            released: false,
        })
    }

    /// Submissions folded in so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether submission `id` was already folded in.
    pub fn has_seen(&self, id: &str) -> bool {
        self.seen.contains(id)
    }

    /// Verifies and expands one untrusted submission of `patient` (its proof is bound to
    /// the patient and the study) and prepares what it adds to each total: in the
    /// proven encoding the value's blocks (an odd bit width's top block bounded by one
    /// lookup), the histogram cells kept only when exactly one is set, and the threshold
    /// bits; in the checked encoding the value clamped to its range and the comparisons
    /// with every edge and threshold.
    pub fn verify(&self, id: &str, patient: &str, bytes: &[u8]) -> Result<Expanded> {
        self.prepare(&Incoming {
            id,
            patient,
            bytes,
            proof_checked: false,
        })
    }

    /// [`Aggregator::verify`], without checking the proof again when the caller already
    /// checked it on exactly these bytes (`s.proof_checked`). The list is parsed and
    /// bounded the same way.
    pub fn prepare(&self, s: &Incoming<'_>) -> Result<Expanded> {
        let (id, patient, bytes) = (s.id, s.patient, s.bytes);
        let list = parse_submission(&self.study, &self.crs, bytes)?;
        // Whether the proof was checked on these bytes: by the caller, or below before
        // the batched expansion (tfhe's expander then need not check it again).
        let mut proof_checked = s.proof_checked;
        // The blocks path of the proven encoding expands with its bootstraps batched,
        // where the thread's key is of the shape that expansion handles.
        if self.study.encoding == Encoding::Proven && !device::integer_ops() {
            if let Some(cast) = expand::key() {
                if !proof_checked {
                    if list.verify(&self.crs, &self.public, &self.study.proof_metadata(patient))
                        != tfhe::zk::ZkVerificationOutcome::Valid
                    {
                        return Err(Error::Fhe("the proof does not verify".into()));
                    }
                    proof_checked = true;
                }
                if let Some(entries) = expand::expand(&list, &cast, blocks::key()?.as_ref())? {
                    return Ok(Expanded {
                        id: id.to_owned(),
                        totals: Parts::Blocks(self.proven_block_parts(&entries)?),
                    });
                }
            }
        }
        let expander = if proof_checked {
            list.expand_without_verification().map_err(fhe_err)?
        } else {
            list.verify_and_expand(&self.crs, &self.public, &self.study.proof_metadata(patient))
                .map_err(|_| Error::Fhe("the proof does not verify".into()))?
        };
        let totals = if device::integer_ops() {
            Parts::Whole(device::contributions(&self.study, &expander)?)
        } else if self.study.encoding == Encoding::Proven {
            Parts::Blocks(self.proven_block_parts(&expander)?)
        } else {
            Parts::Blocks(self.checked_block_parts(&expander)?)
        };
        Ok(Expanded {
            id: id.to_owned(),
            totals,
        })
    }

    /// The blocks path of [`Aggregator::prepare`] in the proven encoding: what a
    /// submission adds to each total, as 2-bit blocks, read from tfhe's expander or from
    /// the batched expansion (`expand`).
    fn proven_block_parts(&self, entries: &impl ProvenEntries) -> Result<Vec<Vec<Block>>> {
        let sk = blocks::key()?;
        let n = self.study.fields.len();
        let (mut sums, mut cells, mut thresholds) = (Vec::with_capacity(n), Vec::new(), Vec::new());
        let wrong = |f: &FieldSpec| Error::Fhe(format!("field {} has the wrong type", f.name));
        let mut i = 0;
        let bit = |i: &mut usize| -> Result<Block> {
            let b = entries
                .bit(*i)?
                .ok_or_else(|| Error::Fhe("a submission entry is missing".into()))?;
            *i += 1;
            Ok(b)
        };
        for f in &self.study.fields {
            let wire = f.proven_wire_bits();
            let mut value = if let Some(bits) = wire {
                let v = entries.value_blocks(i, bits)?.ok_or_else(|| wrong(f))?;
                i += 1;
                v
            } else {
                vec![bit(&mut i)?]
            };
            if wire.is_some_and(|bits| bits != f.proven_bits()) {
                if let Some(top) = value.last_mut() {
                    blocks::keep_low_bit(&sk, top);
                }
            }
            sums.push(value);
            let hist = (0..f.cells())
                .map(|_| bit(&mut i))
                .collect::<Result<Vec<_>>>()?;
            cells.extend(
                blocks::one_hot_or_nothing(&sk, hist)?
                    .into_iter()
                    .map(|c| vec![c]),
            );
            for _ in &f.at_least {
                thresholds.push(vec![bit(&mut i)?]);
            }
        }
        sums.extend(cells);
        sums.extend(thresholds);
        Ok(sums)
    }

    /// The blocks path of [`Aggregator::prepare`] in the checked encoding: each value
    /// clamped to its range and compared with every edge and threshold (tfhe's integer
    /// operations), as 2-bit blocks.
    fn checked_block_parts(
        &self,
        expander: &CompactCiphertextListExpander,
    ) -> Result<Vec<Vec<Block>>> {
        let sk = blocks::key()?;
        let n = self.study.fields.len();
        let (mut sums, mut cells, mut thresholds) = (Vec::with_capacity(n), Vec::new(), Vec::new());
        let wrong = |f: &FieldSpec| Error::Fhe(format!("field {} has the wrong type", f.name));
        for (i, f) in self.study.fields.iter().enumerate() {
            let (v, e, t) = prepare_narrow!(expander, i, f,
                |v| v.into_raw_parts().0.into_blocks(),
                2 => FheUint2 as u8, 4 => FheUint4 as u8, 6 => FheUint6 as u8,
                8 => FheUint8 as u8, 10 => FheUint10 as u16, 12 => FheUint12 as u16,
                14 => FheUint14 as u16, 16 => FheUint16 as u16)
            .ok_or_else(|| wrong(f))?;
            sums.push(v);
            let ge: Vec<Block> = e.into_iter().map(FheBool::into_raw_parts).collect();
            cells.extend(
                blocks::cells_from_edges(&sk, &ge)
                    .into_iter()
                    .map(|c| vec![c]),
            );
            thresholds.extend(t.into_iter().map(|b| vec![b.into_raw_parts()]));
        }
        sums.extend(cells);
        sums.extend(thresholds);
        Ok(sums)
    }

    #[cfg(not(target_arch = "wasm32"))]
    /// [`Aggregator::prepare`] over many submissions in parallel on `pool`, whose
    /// threads hold this study's server key. One result per submission, in order.
    pub fn prepare_many(&self, pool: &KeyedPool, subs: &[Incoming<'_>]) -> Vec<Result<Expanded>> {
        use rayon::prelude::*;
        pool.run(|| subs.par_iter().map(|s| self.prepare(s)).collect())
    }

    /// Folds verified submissions into the running totals: each submission's blocks
    /// are added into its totals' blocks, a carry moved up only where the next addition
    /// would exceed the degree or noise bound (the totals run in parallel). Refuses,
    /// without folding anything, a batch with an id already folded or repeated, and
    /// anything after the release.
    pub fn fold(&mut self, batch: Vec<Expanded>) -> Result<()> {
        if self.released {
            return Err(Error::InvalidState(
                "the study was released; no more submissions",
            ));
        }
        let mut ids = BTreeSet::new();
        for e in &batch {
            if self.seen.contains(&e.id) || !ids.insert(e.id.clone()) {
                return Err(Error::DuplicateSubmission);
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        let sk = blocks::key()?;
        let n = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        let slots: Vec<&mut Option<FheUint32>> = self.totals_mut().collect();
        // Per total: the batch's block additions and its whole-value additions.
        type Adds = (Vec<Vec<Block>>, Vec<FheUint32>);
        let mut adds: Vec<Adds> = slots.iter().map(|_| Adds::default()).collect();
        let mut folded = Vec::with_capacity(batch.len());
        for e in batch {
            match e.totals {
                Parts::Blocks(b) => adds.iter_mut().zip(b).for_each(|(t, d)| t.0.push(d)),
                Parts::Whole(w) => adds.iter_mut().zip(w).for_each(|(t, d)| t.1.push(d)),
            }
            folded.push(e.id);
        }
        let mut work: Vec<(&mut Option<FheUint32>, Adds)> = slots.into_iter().zip(adds).collect();
        // The blocks first: all totals at once, by rounds of batched lookups. Nothing is
        // written unless every total was computed.
        let block_adds = work
            .iter_mut()
            .map(|(slot, (blocks, _))| (&mut **slot, core::mem::take(blocks)))
            .collect();
        blocks::add_all(&sk, block_adds)?;
        // Whole values (the integer path): tfhe's additions, the totals in parallel.
        let add_whole = |(slot, (_, whole)): (&mut Option<FheUint32>, Adds)| {
            device::add_into(slot, whole);
        };
        #[cfg(not(target_arch = "wasm32"))]
        {
            use rayon::prelude::*;
            work.into_par_iter().for_each(add_whole);
        }
        #[cfg(target_arch = "wasm32")]
        work.into_iter().for_each(add_whole);
        self.count = self.count.saturating_add(n);
        self.seen.extend(folded);
        Ok(())
    }

    /// Adds the totals of `other`, a partial aggregate of the same study folded
    /// elsewhere (another relay replica's lane), into this one. Refuses, without
    /// changing anything, another study's partial, a released one, and partials that
    /// share a submission (it would count twice). The caller has set the study's server
    /// key on this thread.
    pub fn merge(&mut self, other: &Aggregator) -> Result<()> {
        if self.released || other.released {
            return Err(Error::InvalidState(
                "the study was released; no more submissions",
            ));
        }
        if other.study.id != self.study.id || other.totals().count() != self.totals().count() {
            return Err(Error::InvalidState("a partial aggregate of another study"));
        }
        if !self.seen.is_disjoint(&other.seen) {
            return Err(Error::DuplicateSubmission);
        }
        let sk = blocks::key()?;
        let work = self
            .totals_mut()
            .zip(other.totals())
            .map(|(slot, add)| {
                // The partial's blocks as they are: `add_all` takes blocks of any degree
                // and noise within the bounds, carries included.
                let add = add
                    .as_ref()
                    .map(|a| a.clone().into_raw_parts().0.into_blocks());
                (slot, add.into_iter().collect())
            })
            .collect();
        blocks::add_all(&sk, work)?;
        self.count = self.count.saturating_add(other.count);
        self.seen.extend(other.seen.iter().cloned());
        Ok(())
    }

    /// The running state, serialized (for a crash-safe job: the relay stores it and the
    /// ids it covers together). Layout: `PVAG1`, a JSON header length (u32 BE), the JSON
    /// header (study id, count, folded ids, released), then every running total as a
    /// u32 BE length (0: none yet) and tfhe's serialization.
    pub fn checkpoint(&self) -> Result<Vec<u8>> {
        let header = serde_json::to_vec(&CheckpointHeader {
            study: self.study.id.clone(),
            count: self.count,
            seen: self.seen.iter().cloned().collect(),
            released: self.released,
        })
        .map_err(|_| Error::InvalidState("checkpoint header"))?;
        let mut out = b"PVAG1".to_vec();
        put_chunk(&mut out, &header)?;
        for c in self.totals() {
            match c {
                Some(c) => {
                    let mut b = Vec::new();
                    safe_serialize(c, &mut b, MAX_CIPHERTEXT_BYTES).map_err(fhe_err)?;
                    put_chunk(&mut out, &b)?;
                }
                None => put_chunk(&mut out, &[])?,
            }
        }
        Ok(out)
    }

    /// An aggregator resumed from [`Aggregator::checkpoint`] output.
    pub fn restore(
        study: StudySpec,
        public: CompactPublicKey,
        crs: CompactPkeCrs,
        bytes: &[u8],
    ) -> Result<Self> {
        let bad = || Error::Fhe("the checkpoint is malformed".into());
        let mut agg = Self::new(study, public, crs)?;
        let mut rest = bytes.strip_prefix(b"PVAG1").ok_or_else(bad)?;
        let header: CheckpointHeader =
            serde_json::from_slice(take_chunk(&mut rest).ok_or_else(bad)?).map_err(|_| bad())?;
        if header.study != agg.study.id
            || u64::try_from(header.seen.len()).ok() != Some(header.count)
        {
            return Err(bad());
        }
        for slot in agg.totals_mut() {
            let b = take_chunk(&mut rest).ok_or_else(bad)?;
            if !b.is_empty() {
                *slot = Some(safe_deserialize(b, MAX_CIPHERTEXT_BYTES).map_err(|_| bad())?);
            }
        }
        if !rest.is_empty() {
            return Err(bad());
        }
        agg.count = header.count;
        agg.seen = header.seen.into_iter().collect();
        agg.released = header.released;
        Ok(agg)
    }

    fn totals(&self) -> impl Iterator<Item = &Option<FheUint32>> {
        self.sums
            .iter()
            .chain(self.bins.iter().flatten())
            .chain(self.at_least.iter().flatten())
    }

    fn totals_mut(&mut self) -> impl Iterator<Item = &mut Option<FheUint32>> {
        self.sums
            .iter_mut()
            .chain(self.bins.iter_mut().flatten())
            .chain(self.at_least.iter_mut().flatten())
    }

    /// The encrypted release, once the cohort reaches the study's minimum. `noise` gives,
    /// per field, central-DP noise to add to the sum under encryption (with an offset so
    /// negative noise stays in range). After a release the aggregator takes no more
    /// submissions.
    pub fn release(&mut self, noise: Option<&[i64]>) -> Result<Release> {
        if self.count < self.study.min_cohort {
            return Err(Error::CohortTooSmall {
                have: self.count,
                need: self.study.min_cohort,
            });
        }
        const OFFSET: u32 = 1 << 30;
        let sk = blocks::key()?;
        for slot in self.totals_mut() {
            if let Some(c) = slot.take() {
                *slot = Some(blocks::propagated(&sk, c));
            }
        }
        let ser = |c: &Option<FheUint32>| -> Result<Vec<u8>> {
            let c = c
                .clone()
                .unwrap_or_else(|| FheUint32::encrypt_trivial(0u32));
            let mut out = Vec::new();
            safe_serialize(&c, &mut out, MAX_CIPHERTEXT_BYTES).map_err(fhe_err)?;
            Ok(out)
        };
        let mut sums = Vec::with_capacity(self.sums.len());
        for (i, s) in self.sums.iter().enumerate() {
            match noise.and_then(|n| n.get(i)) {
                Some(z) => {
                    let shift = i64::from(OFFSET).saturating_add(*z);
                    let shift = u32::try_from(shift.max(0)).unwrap_or(u32::MAX);
                    let base = s
                        .clone()
                        .unwrap_or_else(|| FheUint32::encrypt_trivial(0u32));
                    sums.push(ser(&Some(base + shift))?);
                }
                None => sums.push(ser(s)?),
            }
        }
        let nested = |v: &Vec<Vec<Option<FheUint32>>>| -> Result<Vec<Vec<Vec<u8>>>> {
            v.iter().map(|f| f.iter().map(ser).collect()).collect()
        };
        self.released = true;
        Ok(Release {
            study: self.study.id.clone(),
            count: self.count,
            sums,
            bins: nested(&self.bins)?,
            at_least: nested(&self.at_least)?,
            noise_offset: if noise.is_some() { OFFSET } else { 0 },
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointHeader {
    study: String,
    count: u64,
    seen: Vec<String>,
    released: bool,
}

fn put_chunk(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    let len =
        u32::try_from(b.len()).map_err(|_| Error::InvalidState("checkpoint chunk too large"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b);
    Ok(())
}

fn take_chunk<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, tail) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if tail.len() < len {
        return None;
    }
    let (chunk, tail) = tail.split_at(len);
    *rest = tail;
    Some(chunk)
}

type Block = tfhe::shortint::Ciphertext;

/// Work on the 2-bit blocks of the study's ciphertexts with the shortint key of the
/// thread's study (set with its high-level key by [`KeyedPool`] and
/// [`install_server_key`]).
///
/// The parameters allow a block a degree (largest value it may hold, message and
/// carry) of 15 and a noise level of 5 (five fresh ciphertexts added) before the next
/// lookup. A running total keeps its blocks un-propagated: a batch's blocks are summed
/// with the total's where they fit (`add_all`), and only sums that cannot share a
/// position are split into message and carry (two lookups), the carry moved one block
/// up; the release propagates the rest once (`propagated`). That costs about two
/// lookups per four additions, where tfhe's integer addition propagates every carry of
/// the 32-bit total on each call.
mod blocks {
    use std::cell::RefCell;
    use std::sync::Arc;

    use tfhe::integer::{IntegerCiphertext, IntegerRadixCiphertext};
    use tfhe::shortint::ServerKey;
    use tfhe::FheUint32;

    use phiveil_pbs::{self as pbs, Table};

    use super::Block;
    use crate::{Error, Result};

    thread_local! {
        static KEY: RefCell<Option<Arc<ServerKey>>> = const { RefCell::new(None) };
    }

    /// What a thread holding a study's server key also holds: the shortint key (this
    /// module's) and the casting key (for `expand`), copies of its key material.
    #[derive(Clone)]
    pub(super) struct ThreadKeys {
        block: Arc<ServerKey>,
        cast: Option<Arc<super::expand::CastKey>>,
    }

    impl ThreadKeys {
        /// The keys of a high-level server key.
        pub(super) fn of(key: &tfhe::ServerKey) -> Self {
            let (integer, cast, _, _, _, _, _, _, _, _) = key.clone().into_raw_parts();
            Self {
                block: Arc::new(integer.into_raw_parts()),
                cast: super::expand::cast_key_of(cast),
            }
        }

        /// Sets both on this thread.
        pub(super) fn set(self) {
            set(self.block);
            super::expand::set(self.cast);
        }
    }

    /// Sets this thread's block key.
    fn set(key: Arc<ServerKey>) {
        KEY.with(|k| *k.borrow_mut() = Some(key));
    }

    /// This thread's block key.
    pub(super) fn key() -> Result<Arc<ServerKey>> {
        KEY.with(|k| k.borrow().clone())
            .ok_or(Error::InvalidState("no study server key on this thread"))
    }

    /// Bounds the top block of a value with an odd number of bits to its low bit (a
    /// proof bounds a block to 2 bits): the value stays below `2^k`.
    pub(super) fn keep_low_bit(sk: &ServerKey, top: &mut Block) {
        let lut = sk.generate_lookup_table(|x| x % 2);
        sk.apply_lookup_table_assign(top, &lut);
    }

    /// A histogram's cells as the list carried them (each 0 or 1: tfhe sanitizes a
    /// proven boolean), kept only when exactly one is set; otherwise all are 0, so a
    /// client that sets two cells, or none, adds to no cell. One sum and one equality
    /// (a lookup per four cells) give "exactly one" as 4 or 0; then each pair of cells
    /// with it, `a + 2b + 4·ok` (a degree of 7, a noise level of 4 of 5), goes through
    /// one many-LUT bootstrap that yields both `a ∧ ok` and `b ∧ ok`: half a lookup per
    /// cell instead of one.
    pub(super) fn one_hot_or_nothing(sk: &ServerKey, cells: Vec<Block>) -> Result<Vec<Block>> {
        if cells.is_empty() {
            return Ok(cells);
        }
        let at_most_two = sk.generate_lookup_table(|x| x.min(2));
        let ok_as_four = sk.generate_lookup_table(|x| 4 * u64::from(x == 1));
        let chunks: Vec<&[Block]> = cells.chunks(4).collect();
        let mut sum = sk.create_trivial(0);
        for (n, chunk) in chunks.iter().enumerate() {
            for c in *chunk {
                sk.unchecked_add_assign(&mut sum, c);
            }
            // Saturate at 2 between chunks: the sum's degree and noise stay in bounds
            // for any number of cells, and "exactly one" is unchanged.
            if n + 1 < chunks.len() {
                sk.apply_lookup_table_assign(&mut sum, &at_most_two);
            }
        }
        let ok4 = sk.apply_lookup_table(&sum, &ok_as_four);
        let pair = sk.generate_many_lookup_table(&[&|y| u64::from(y & 0b101 == 0b101), &|y| {
            u64::from(y & 0b110 == 0b110)
        }]);
        let single = sk.generate_lookup_table(|y| u64::from(y == 0b101));
        let mut out = Vec::with_capacity(cells.len());
        for two in cells.chunks(2) {
            match two {
                [a, b] => {
                    let mut y = sk.unchecked_scalar_mul(b, 2);
                    sk.unchecked_add_assign(&mut y, a);
                    sk.unchecked_add_assign(&mut y, &ok4);
                    out.extend(sk.apply_many_lookup_table(&y, &pair));
                }
                [a] => {
                    let mut y = a.clone();
                    sk.unchecked_add_assign(&mut y, &ok4);
                    out.push(sk.apply_lookup_table(&y, &single));
                }
                _ => {}
            }
        }
        if out.len() == cells.len() {
            Ok(out)
        } else {
            Err(Error::Fhe(
                "a histogram check returned the wrong number of cells".into(),
            ))
        }
    }

    /// Checked encoding: one-hot cells from a value's comparisons with the ascending
    /// edges (`ge[j]` = value ≥ edge j): cell 0 is `!ge[0]`, cell j is
    /// `ge[j−1] ∧ ¬ge[j]`, the last is `ge[last]`.
    pub(super) fn cells_from_edges(sk: &ServerKey, ge: &[Block]) -> Vec<Block> {
        let (Some(first), Some(last)) = (ge.first(), ge.last()) else {
            return Vec::new();
        };
        let not = sk.generate_lookup_table(|x| u64::from(x == 0));
        let between = sk.generate_lookup_table_bivariate(|a, b| u64::from(a == 1 && b == 0));
        let mut out = vec![sk.apply_lookup_table(first, &not)];
        for w in ge.windows(2) {
            if let [a, b] = w {
                out.push(sk.apply_lookup_table_bivariate(a, b, &between));
            }
        }
        out.push(last.clone());
        out
    }

    struct Split {
        msg: tfhe::shortint::server_key::LookupTableOwned,
        carry: tfhe::shortint::server_key::LookupTableOwned,
        /// Both in one bootstrap (tfhe's many-LUT), for a block whose value fits in half
        /// the plaintext space: a total of indicator bits reaches its noise bound at a
        /// degree of 7 of 15, so its carry costs one lookup instead of two.
        both: tfhe::shortint::server_key::ManyLookupTableOwned,
    }

    fn split_luts(sk: &ServerKey) -> Split {
        let m = sk.message_modulus.0;
        Split {
            msg: sk.generate_lookup_table(move |x| x % m),
            carry: sk.generate_lookup_table(move |x| x / m),
            both: sk.generate_many_lookup_table(&[&move |x| x % m, &move |x| x / m]),
        }
    }

    /// Adds `d` into block `i` of a total, first moving that block's carry up when it
    /// cannot take the addition. A carry out of the top block is dropped (totals are
    /// modulo 2^32, as a `FheUint32` addition is).
    fn add_at(sk: &ServerKey, luts: &Split, total: &mut [Block], i: usize, d: &Block) {
        if d.degree.get() == 0 {
            return; // a trivial zero
        }
        let Some(slot) = total.get(i) else {
            return;
        };
        if sk
            .is_add_possible(slot.noise_degree(), d.noise_degree())
            .is_err()
        {
            split(sk, luts, total, i);
        }
        if let Some(slot) = total.get_mut(i) {
            sk.unchecked_add_assign(slot, d);
        }
    }

    fn split(sk: &ServerKey, luts: &Split, total: &mut [Block], i: usize) {
        let Some(b) = total.get(i) else {
            return;
        };
        let both = (b.degree.get() <= luts.both.input_max_degree.get())
            .then(|| {
                let mut out = sk.apply_many_lookup_table(b, &luts.both).into_iter();
                out.next().zip(out.next())
            })
            .flatten();
        let (msg, carry) = both.unwrap_or_else(|| {
            (
                sk.apply_lookup_table(b, &luts.msg),
                sk.apply_lookup_table(b, &luts.carry),
            )
        });
        if let Some(slot) = total.get_mut(i) {
            *slot = msg;
        }
        add_at(sk, luts, total, i + 1, &carry);
    }

    /// Rounds [`add_all`] may take before it gives up (it needs a few: a column's blocks
    /// shrink about fivefold per round and carries climb one column per round).
    const MAX_ROUNDS: usize = 256;

    /// Where a lookup's output goes: the block's own column, the next one, or both (a
    /// many-LUT's message and carry).
    #[derive(Clone, Copy)]
    enum To {
        Msg,
        Carry,
        Both,
    }

    /// Sums blocks into as few as the parameters allow, first fit, largest first: each
    /// sum stays within the degree and noise bounds.
    fn pack(sk: &ServerKey, mut blocks: Vec<Block>) -> Vec<Block> {
        blocks.sort_by_key(|b| core::cmp::Reverse(b.degree.get()));
        let mut sums: Vec<Block> = Vec::new();
        for b in blocks {
            match sums.iter_mut().find(|s| {
                sk.is_add_possible(s.noise_degree(), b.noise_degree())
                    .is_ok()
            }) {
                Some(s) => sk.unchecked_add_assign(s, &b),
                None => sums.push(b),
            }
        }
        sums
    }

    /// Adds, into each running total, its block lists (least significant block first;
    /// each block a 2-bit digit or a bit), every total at once.
    ///
    /// Each position of each total is a column of blocks: the total's own block and
    /// the additions'. A round packs every column into as few sums as the degree and
    /// noise bounds allow; a column left with more than one sum keeps its lightest and
    /// splits the others into a message (staying) and a carry (one column up: a
    /// many-LUT bootstrap for a sum at most half full, two lookups otherwise; the top
    /// column keeps the message only, totals being modulo 2^32 as a `FheUint32`
    /// addition is). The round's lookups, from every total, run together in batches
    /// ([`pbs::apply`]). When every column fits in one sum, that sum is the total's
    /// block: the totals stay un-propagated, as [`propagated`] expects. A total with
    /// nothing to add is left as it is (a total of the integer path may live on a GPU).
    /// Nothing is written unless every total was computed.
    pub(super) fn add_all(
        sk: &ServerKey,
        work: Vec<(&mut Option<FheUint32>, Vec<Vec<Block>>)>,
    ) -> Result<()> {
        let luts = split_luts(sk);
        let msg_max = sk.message_modulus.0 - 1;
        let width = (32 / sk.message_modulus.0.ilog2()) as usize;
        let mut slots = Vec::with_capacity(work.len());
        let mut cols: Vec<Vec<Vec<Block>>> = Vec::with_capacity(work.len());
        for (slot, adds) in work {
            if adds.is_empty() {
                continue;
            }
            let mut c: Vec<Vec<Block>> = vec![Vec::new(); width];
            let parts = match slot.as_ref() {
                Some(total) => {
                    let (radix, id, tag, meta) = total.clone().into_raw_parts();
                    for (col, b) in c.iter_mut().zip(radix.into_blocks()) {
                        col.push(b);
                    }
                    (id, tag, meta)
                }
                None => (
                    tfhe::FheUint32Id,
                    tfhe::Tag::default(),
                    tfhe::ReRandomizationMetadata::default(),
                ),
            };
            for digits in adds {
                for (col, d) in c.iter_mut().zip(digits) {
                    col.push(d);
                }
            }
            for col in &mut c {
                col.retain(|b| b.degree.get() > 0); // trivial zeros add nothing
            }
            slots.push((slot, parts));
            cols.push(c);
        }
        for _ in 0..MAX_ROUNDS {
            let mut jobs: Vec<(Block, Table<'_>)> = Vec::new();
            let mut dest: Vec<(usize, usize, To)> = Vec::new();
            for (t, c) in cols.iter_mut().enumerate() {
                for (i, col) in c.iter_mut().enumerate() {
                    let sums = pack(sk, core::mem::take(col));
                    let keep = sums
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| (s.noise_level(), s.degree.get()))
                        .map(|(k, _)| k);
                    if sums.len() < 2 {
                        *col = sums;
                        continue;
                    }
                    for (k, s) in sums.into_iter().enumerate() {
                        if Some(k) == keep {
                            col.push(s);
                        } else if i + 1 == width || s.degree.get() <= msg_max {
                            jobs.push((s, Table::One(&luts.msg)));
                            dest.push((t, i, To::Msg));
                        } else if s.degree.get() <= luts.both.input_max_degree.get() {
                            jobs.push((s, Table::Many(&luts.both)));
                            dest.push((t, i, To::Both));
                        } else {
                            jobs.push((s.clone(), Table::One(&luts.msg)));
                            dest.push((t, i, To::Msg));
                            jobs.push((s, Table::One(&luts.carry)));
                            dest.push((t, i, To::Carry));
                        }
                    }
                }
            }
            if jobs.is_empty() {
                for ((slot, (id, tag, meta)), c) in slots.into_iter().zip(cols) {
                    let blocks = c
                        .into_iter()
                        .map(|col| {
                            col.into_iter()
                                .next()
                                .unwrap_or_else(|| sk.create_trivial(0))
                        })
                        .collect();
                    *slot = Some(FheUint32::from_raw_parts(
                        tfhe::integer::RadixCiphertext::from_blocks(blocks),
                        id,
                        tag,
                        meta,
                    ));
                }
                return Ok(());
            }
            let outs = pbs::apply(sk, &jobs);
            if outs.len() != dest.len() {
                return Err(Error::Fhe(
                    "a round of lookups returned the wrong number of results".into(),
                ));
            }
            for ((t, i, to), out) in dest.into_iter().zip(outs) {
                let mut out = out.into_iter();
                let c = cols.get_mut(t);
                let (here, up) = match to {
                    To::Msg => (out.next(), None),
                    To::Carry => (None, out.next()),
                    To::Both => (out.next(), out.next()),
                };
                if let Some(c) = c {
                    if let (Some(b), Some(col)) = (here, c.get_mut(i)) {
                        col.push(b);
                    }
                    if let (Some(b), Some(col)) = (up, c.get_mut(i + 1)) {
                        col.push(b);
                    }
                }
            }
        }
        Err(Error::Fhe(
            "the totals' blocks did not settle within the bound on rounds".into(),
        ))
    }

    /// A total with every carry moved up (each block back to a 2-bit message), as
    /// tfhe's integer operations and the owner's decryption expect.
    pub(super) fn propagated(sk: &ServerKey, c: FheUint32) -> FheUint32 {
        let luts = split_luts(sk);
        let msg_max = sk.message_modulus.0 - 1;
        let (radix, id, tag, meta) = c.into_raw_parts();
        let mut total = radix.into_blocks();
        for i in 0..total.len() {
            if total.get(i).is_some_and(|b| b.degree.get() > msg_max) {
                split(sk, &luts, &mut total, i);
            }
        }
        FheUint32::from_raw_parts(
            tfhe::integer::RadixCiphertext::from_blocks(total),
            id,
            tag,
            meta,
        )
    }
}

/// A decrypted release, per field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldResult {
    /// Field name.
    pub name: String,
    /// Sum of the values (noisy when central noise was added).
    pub sum: i64,
    /// Mean over the cohort.
    pub mean: f64,
    /// Histogram counts (bins as declared).
    pub bins: Vec<u64>,
    /// Counts of values ≥ each threshold.
    pub at_least: Vec<u64>,
    /// For a DP field: the sum's guaranteed interval at `confidence`.
    pub sum_interval: Option<crate::dp::Estimate>,
    /// For a DP field: the mean's guaranteed interval at `confidence`.
    pub mean_interval: Option<crate::dp::Estimate>,
}

/// The owner's step: decrypts a release with the client key and interprets it: sums and
/// means in the fields' units (encoding offsets and margins removed), histogram and
/// threshold counts, and for DP fields the interval holding the noise-free sum and mean
/// with probability ≥ `confidence`.
pub fn decrypt_release(
    study: &StudySpec,
    client: &ClientKey,
    release: &Release,
    confidence: f64,
) -> Result<Vec<FieldResult>> {
    // Size-limited, versioned deserialization. (tfhe's conformance parameters for a
    // 32-bit integer built from the compute parameters refuse the relay's results — the
    // degree after homomorphic additions exceeds a fresh ciphertext's — so conformance
    // is not checked here; the owner only decrypts.)
    let dec = |b: &[u8]| -> Result<u32> {
        let c: FheUint32 = safe_deserialize(b, MAX_CIPHERTEXT_BYTES)
            .map_err(|_| Error::Fhe("released ciphertext is malformed".into()))?;
        Ok(c.decrypt(client))
    };
    if release.sums.len() != study.fields.len() || release.count == 0 {
        return Err(Error::Fhe("release does not match the study".into()));
    }
    let mut out = Vec::with_capacity(study.fields.len());
    for (i, f) in study.fields.iter().enumerate() {
        let raw = dec(release.sums.get(i).map(Vec::as_slice).unwrap_or_default())?;
        let count = i64::try_from(release.count).unwrap_or(i64::MAX);
        let margin = i64::try_from(f.margin()).unwrap_or(i64::MAX);
        let shifted = i64::from(raw) - i64::from(release.noise_offset);
        let sum = shifted
            .saturating_add(f.lo.saturating_mul(count))
            .saturating_sub(margin.saturating_mul(count));
        #[allow(clippy::cast_precision_loss)]
        let sum_interval = f
            .plan()?
            .map(|p| p.sum_estimate(sum as f64, release.count, confidence))
            .transpose()?;
        let decode_all = |v: Option<&Vec<Vec<u8>>>| -> Result<Vec<u64>> {
            v.map(|list| list.iter().map(|b| dec(b).map(u64::from)).collect())
                .unwrap_or_else(|| Ok(Vec::new()))
        };
        #[allow(clippy::cast_precision_loss)]
        let mean = sum as f64 / release.count as f64;
        out.push(FieldResult {
            name: f.name.clone(),
            sum,
            mean,
            bins: decode_all(release.bins.get(i))?,
            at_least: decode_all(release.at_least.get(i))?,
            mean_interval: sum_interval.map(|e| e.per(release.count)),
            sum_interval,
        });
    }
    Ok(out)
}

pub use crate::passphrase::KdfParams;

fn wrap_aad(study: &str) -> Vec<u8> {
    format!("phiveil-study-client-key-v1\0{study}").into_bytes()
}

/// Wraps the owner's client key under a key derived from `passphrase`
/// ([`crate::passphrase::wrap`], with the study id in the associated data). Store it in
/// the browser and, for another device, on the relay — it is useless without the
/// passphrase.
pub fn wrap_client_key(
    client: &ClientKey,
    study: &str,
    passphrase: &str,
    cost: KdfParams,
    rng: &mut dyn rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    let mut plain = zeroize::Zeroizing::new(Vec::new());
    safe_serialize(client, &mut *plain, MAX_KEY_BYTES).map_err(fhe_err)?;
    crate::passphrase::wrap(&plain, &wrap_aad(study), passphrase, cost, rng)
}

/// Unwraps [`wrap_client_key`] output. A wrong passphrase, another study's key or any
/// modification gives [`Error::DecryptFailed`].
pub fn unwrap_client_key(wrapped: &[u8], study: &str, passphrase: &str) -> Result<ClientKey> {
    let plain =
        crate::passphrase::unwrap(wrapped, &wrap_aad(study), passphrase).map_err(|e| match e {
            Error::Malformed("wrapped secret") => Error::Malformed("wrapped client key"),
            Error::Malformed("wrapped secret version") => {
                Error::Malformed("wrapped client key version")
            }
            e => e,
        })?;
    client_key_from_bytes(&plain)
}

/// A thread pool whose every thread holds one server key, so that a study's parallel
/// work never runs under another study's key.
///
/// tfhe keeps the server key in a thread-local. Setting it on rayon's global pool
/// (`rayon::broadcast`) is a process-wide change: two studies with different keys
/// aggregating at once in one process (two workers, two relays in a test) replace each
/// other's key mid-batch, which folds garbage or panics a pool thread whose key is
/// borrowed (`two_studies_with_their_own_keys_aggregate_at_once` in
/// `tests/tests/fhe_stats.rs`). A pool of its own gives each key its own threads; work
/// started inside [`KeyedPool::run`], nested parallelism included, stays on them.
#[cfg(not(target_arch = "wasm32"))]
pub struct KeyedPool {
    pool: rayon::ThreadPool,
    key: ServerKey,
    device: Device,
    integer_ops: bool,
}

#[cfg(not(target_arch = "wasm32"))]
impl KeyedPool {
    /// A pool of `threads` threads (0: one per core, or `RAYON_NUM_THREADS`), each
    /// holding `key`, folding by blocks on the CPU.
    pub fn new(key: ServerKey, threads: usize) -> Result<Self> {
        Self::start(key, threads, false, || {})
    }

    /// [`KeyedPool::new`], folding with tfhe's integer operations instead of blocks: the
    /// GPU path's code run on the CPU key (the tests check it against the blocks path and
    /// the plaintext; the benchmark runs both).
    pub fn with_integer_ops(key: ServerKey, threads: usize) -> Result<Self> {
        Self::start(key, threads, true, || {})
    }

    fn start(
        key: ServerKey,
        threads: usize,
        integer_ops: bool,
        also: impl Fn() + Send + Sync + 'static,
    ) -> Result<Self> {
        let each = key.clone();
        let keys = blocks::ThreadKeys::of(&key);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("phiveil-fhe-{i}"))
            .start_handler(move |_| {
                tfhe::set_server_key(each.clone());
                keys.clone().set();
                device::set_integer_ops(integer_ops);
                // Last: a GPU pool's threads hold the CUDA key for tfhe's operations.
                also();
            })
            .build()
            .map_err(|e| Error::Fhe(format!("cannot start the FHE threads: {e}")))?;
        Ok(Self {
            pool,
            key,
            device: Device::Cpu,
            integer_ops,
        })
    }

    /// Decompresses `compressed` into a new pool of one thread per core on the device
    /// [`Device::detect`] chooses.
    pub fn decompress(compressed: &CompressedServerKey) -> Result<Self> {
        Self::decompress_on(compressed, Device::detect())
    }

    /// Decompresses `compressed` into a new pool of one thread per core on `device`.
    /// On a GPU the threads hold the CUDA key and fold with tfhe's integer operations;
    /// they also keep the CPU key (merges and releases split carries by blocks).
    /// [`Device::Gpu`] is refused, before any CUDA call, where
    /// [`Device::gpu_present`] is false.
    pub fn decompress_on(compressed: &CompressedServerKey, device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Self::new(compressed.decompress(), 0),
            Device::Gpu if !Device::gpu_present() => Err(Error::Fhe(
                "no CUDA GPU here (a build with the `gpu` feature, the NVIDIA driver and a device are needed)".into(),
            )),
            #[cfg(feature = "gpu")]
            Device::Gpu => {
                let gpu = compressed.decompress_to_gpu();
                let mut pool = Self::start(compressed.decompress(), 0, true, move || {
                    tfhe::set_server_key(gpu.clone());
                })?;
                pool.device = Device::Gpu;
                Ok(pool)
            }
            #[cfg(not(feature = "gpu"))]
            Device::Gpu => Err(Error::Fhe("this build has no GPU support".into())),
        }
    }

    /// The server key every thread holds (the CPU key, also on a GPU pool).
    pub fn key(&self) -> &ServerKey {
        &self.key
    }

    /// Where the pool's threads run the study's operations.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Whether the pool folds with tfhe's integer operations (a GPU pool, or
    /// [`KeyedPool::with_integer_ops`]) rather than by blocks.
    pub fn integer_ops(&self) -> bool {
        self.integer_ops
    }

    /// Runs `f` on one of the pool's threads (any parallel work it starts stays in the
    /// pool) and returns its result. Every [`Aggregator`] computation belongs inside.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// Decompresses a server key for the current thread's computations.
pub fn install_server_key(compressed: &CompressedServerKey) -> ServerKey {
    let sk = compressed.decompress();
    tfhe::set_server_key(sk.clone());
    blocks::ThreadKeys::of(&sk).set();
    sk
}
