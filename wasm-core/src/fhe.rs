//! Private statistics under TFHE (the `tfhe` crate): the owner's key ceremony, the
//! patient's encrypted submission with a zero-knowledge proof, the relay's aggregation,
//! and the owner's decryption of a released aggregate.
//!
//! * **Encoding.** A field declared in `lo..=hi` is sent as `value − lo` in the
//!   narrowest even number of bits that holds `hi − lo` (2-bit blocks), all fields of a
//!   submission in one packed compact list under the study's compact public key, with a
//!   proof (`ZkComputeLoad::Proof`) bound to `metadata` (study id + patient pseudonym), so
//!   a list cannot be replayed under another identity or study.
//! * **Aggregation** (relay, native): the list is deserialized with size limits and
//!   conformance checks, the proof verified, the list expanded; each field is widened to
//!   16 bits and clamped to `hi − lo` under encryption (a proof bounds a value to its bit
//!   width, not to the declared range), then folded into running totals: sum, histogram
//!   bins, threshold counts. Totals are 32-bit. A submission id is folded once.
//! * **Release**: only when the cohort reaches the study's `k`; central-DP noise can be
//!   added under encryption before release.

// Ciphertext arithmetic (`+`, `-` on FheUint32) is modular by design; integer arithmetic
// below is on bounded values (fields ≤ 16 bits, counts ≤ 2^32).
#![allow(clippy::arithmetic_side_effects)]

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use tfhe::prelude::*;
use tfhe::safe_serialization::{safe_deserialize, safe_deserialize_conformant, safe_serialize};
use tfhe::shortint::parameters::{
    PARAM_KEYSWITCH_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
};
use tfhe::zk::{CompactPkeCrs, ZkComputeLoad};
use tfhe::{
    ClientKey, CompactPublicKey, CompressedServerKey, Config, ConfigBuilder, FheBool, FheUint10,
    FheUint12, FheUint14, FheUint16, FheUint2, FheUint32, FheUint4, FheUint6, FheUint8,
    ProvenCompactCiphertextList, ServerKey,
};

use crate::{Error, Result};

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

/// One integer field of a study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl FieldSpec {
    /// `hi − lo`.
    pub fn width(&self) -> u64 {
        self.hi.abs_diff(self.lo)
    }

    /// Bits of the encoded value: the smallest even number ≥ log2(width + 1), at least 2.
    pub fn bits(&self) -> u32 {
        let needed = u64::BITS - self.width().leading_zeros();
        needed.max(2).next_multiple_of(2)
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
        Ok(())
    }

    fn encode(&self, v: i64) -> Result<u64> {
        if v < self.lo || v > self.hi {
            return Err(Error::OutOfRange {
                field: self.name.clone(),
            });
        }
        Ok(v.abs_diff(self.lo))
    }

    fn enc_edge(&self, v: i64) -> u16 {
        u16::try_from(v.abs_diff(self.lo)).unwrap_or(u16::MAX)
    }
}

/// What the study owner declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Study id (as the relay assigned it).
    pub id: String,
    /// The fields, in submission order.
    pub fields: Vec<FieldSpec>,
    /// Nothing is released before this many submissions were folded in.
    pub min_cohort: u64,
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
            f.validate()?;
        }
        Ok(())
    }

    /// Total encoded bits of one submission (what the CRS must cover).
    pub fn total_bits(&self) -> usize {
        self.fields
            .iter()
            .map(|f| usize::try_from(f.bits()).unwrap_or(usize::MAX))
            .sum()
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
    /// The common reference string for the patients' proofs.
    pub crs: CompactPkeCrs,
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

/// Generates a study's keys. `now_ms` reads a clock (reporting only).
pub fn key_ceremony(
    study: &StudySpec,
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
    let crs = CompactPkeCrs::from_config(cfg, study.total_bits()).map_err(fhe_err)?;
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

/// Serializes any tfhe object with tfhe's versioned, size-limited format.
pub fn to_bytes<T: serde::Serialize + tfhe::Versionize + tfhe::named::Named>(
    v: &T,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    safe_serialize(v, &mut out, MAX_KEY_BYTES).map_err(fhe_err)?;
    Ok(out)
}

/// Reads a compact public key.
pub fn public_key_from_bytes(b: &[u8]) -> Result<CompactPublicKey> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// Reads a CRS.
pub fn crs_from_bytes(b: &[u8]) -> Result<CompactPkeCrs> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// Reads a compressed server key.
pub fn server_key_from_bytes(b: &[u8]) -> Result<CompressedServerKey> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// Reads a client key (after unwrapping).
pub fn client_key_from_bytes(b: &[u8]) -> Result<ClientKey> {
    safe_deserialize(b, MAX_KEY_BYTES).map_err(fhe_err)
}

/// The patient's step: validates `values` against the study (one per field, in order),
/// encodes each in its field's bits and encrypts them as one proven compact list bound
/// to `patient`. Returns the serialized list.
pub fn encrypt_submission(
    study: &StudySpec,
    public: &CompactPublicKey,
    crs: &CompactPkeCrs,
    patient: &str,
    values: &[i64],
) -> Result<Vec<u8>> {
    study.validate()?;
    if values.len() != study.fields.len() {
        return Err(Error::InvalidConfig("one value per study field"));
    }
    let mut builder = ProvenCompactCiphertextList::builder(public);
    for (f, v) in study.fields.iter().zip(values) {
        let bits = usize::try_from(f.bits()).unwrap_or(usize::MAX);
        builder
            .push_with_num_bits(f.encode(*v)?, bits)
            .map_err(fhe_err)?;
    }
    let list = builder
        .build_with_proof_packed(crs, &study.proof_metadata(patient), ZkComputeLoad::Proof)
        .map_err(fhe_err)?;
    let mut out = Vec::new();
    safe_serialize(&list, &mut out, MAX_SUBMISSION_BYTES).map_err(fhe_err)?;
    Ok(out)
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

/// One verified, expanded, clamped submission, ready to fold.
pub struct Expanded {
    id: String,
    fields: Vec<FheUint16>,
}

macro_rules! get_as_u16 {
    ($expander:expr, $i:expr, $bits:expr, $($n:literal => $ty:ty),*) => {
        match $bits {
            $($n => $expander
                .get::<$ty>($i)
                .map_err(fhe_err)?
                .map(|c| -> FheUint16 { c.cast_into() }),)*
            _ => None,
        }
    };
}

/// The serialized, released aggregate of a study.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The study.
    pub study: String,
    /// Submissions folded in (public: the relay counts them).
    pub count: u64,
    /// Per field: the encrypted sum of `value − lo` (plus central noise offset when
    /// `noise_offset` is set), serialized.
    pub sums: Vec<Vec<u8>>,
    /// Per field, per bin: encrypted counts.
    pub bins: Vec<Vec<Vec<u8>>>,
    /// Per field, per threshold: encrypted counts of values ≥ the threshold.
    pub at_least: Vec<Vec<Vec<u8>>>,
    /// The offset added with central-DP noise (the owner subtracts it), or 0.
    pub noise_offset: u32,
}

impl Aggregator {
    /// A fresh aggregator. The caller has set the study's server key on this thread
    /// (`tfhe::set_server_key`).
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
    /// the patient and the study), widens each field to 16 bits and clamps it to the
    /// declared range under encryption.
    pub fn verify(&self, id: &str, patient: &str, bytes: &[u8]) -> Result<Expanded> {
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_SUBMISSION_BYTES {
            return Err(Error::LimitExceeded {
                what: "submission size",
                limit: MAX_SUBMISSION_BYTES,
            });
        }
        let params = tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
            PARAM_PKE_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            &self.crs,
        );
        let list: ProvenCompactCiphertextList =
            safe_deserialize_conformant(bytes, MAX_SUBMISSION_BYTES, &params)
                .map_err(|_| Error::Fhe("submission is not a well-formed proven list".into()))?;
        if list.len() != self.study.fields.len() {
            return Err(Error::Fhe(
                "submission has the wrong number of fields".into(),
            ));
        }
        let expander = list
            .verify_and_expand(&self.crs, &self.public, &self.study.proof_metadata(patient))
            .map_err(|_| Error::Fhe("the proof does not verify".into()))?;
        let mut fields = Vec::with_capacity(self.study.fields.len());
        for (i, f) in self.study.fields.iter().enumerate() {
            let v = get_as_u16!(expander, i, f.bits(),
                2 => FheUint2, 4 => FheUint4, 6 => FheUint6, 8 => FheUint8,
                10 => FheUint10, 12 => FheUint12, 14 => FheUint14, 16 => FheUint16)
            .ok_or_else(|| Error::Fhe(format!("field {} has the wrong type", f.name)))?;
            let width = u16::try_from(f.width()).unwrap_or(u16::MAX);
            // A proof bounds the value to its bits; clamp to the declared range.
            let clamped = if u64::from(width) + 1 == 1u64 << f.bits() {
                v
            } else {
                v.min(width)
            };
            fields.push(clamped);
        }
        Ok(Expanded {
            id: id.to_owned(),
            fields,
        })
    }

    /// Folds verified submissions into the running totals (a batch at a time is cheaper:
    /// one library `sum` per total). Refuses, without folding anything, a batch with an id
    /// already folded or repeated.
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
        let one = |b: FheBool| -> FheUint32 { FheUint32::cast_from(b) };
        for (i, f) in self.study.fields.iter().enumerate() {
            let vals: Vec<&FheUint16> = batch.iter().filter_map(|e| e.fields.get(i)).collect();
            let wide: Vec<FheUint32> = vals.iter().map(|v| (*v).clone().cast_into()).collect();
            let total: FheUint32 = wide.iter().sum();
            fold_into(self.sums.get_mut(i), total);
            if !f.bins.is_empty() {
                // bin j = [edge_{j-1}, edge_j): count(v ≥ edge_{j-1}) − count(v ≥ edge_j).
                let mut ge: Vec<FheUint32> = Vec::with_capacity(f.bins.len());
                for edge in &f.bins {
                    let e = f.enc_edge(*edge);
                    let c: Vec<FheUint32> = vals.iter().map(|v| one(v.ge(e))).collect();
                    ge.push(c.iter().sum());
                }
                #[allow(clippy::cast_possible_truncation)]
                let n = FheUint32::encrypt_trivial(batch.len() as u32);
                let mut prev = n;
                let slots = self
                    .bins
                    .get_mut(i)
                    .map(Vec::as_mut_slice)
                    .unwrap_or_default();
                for (j, slot) in slots.iter_mut().enumerate() {
                    let upper = ge.get(j).cloned();
                    let in_bin = match upper {
                        Some(u) => {
                            let d = &prev - &u;
                            prev = u;
                            d
                        }
                        None => prev.clone(),
                    };
                    fold_into(Some(slot), in_bin);
                }
            }
            let slots = self
                .at_least
                .get_mut(i)
                .map(Vec::as_mut_slice)
                .unwrap_or_default();
            for (slot, t) in slots.iter_mut().zip(&f.at_least) {
                let e = f.enc_edge(*t);
                let c: Vec<FheUint32> = vals.iter().map(|v| one(v.ge(e))).collect();
                fold_into(Some(slot), c.iter().sum());
            }
        }
        self.count = self
            .count
            .saturating_add(u64::try_from(batch.len()).unwrap_or(u64::MAX));
        self.seen.extend(batch.into_iter().map(|e| e.id));
        Ok(())
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

fn fold_into(slot: Option<&mut Option<FheUint32>>, add: FheUint32) {
    if let Some(slot) = slot {
        *slot = Some(match slot.take() {
            Some(cur) => cur + add,
            None => add,
        });
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
}

/// The owner's step: decrypts a release with the client key.
pub fn decrypt_release(
    study: &StudySpec,
    client: &ClientKey,
    release: &Release,
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
        let shifted = i64::from(raw) - i64::from(release.noise_offset);
        #[allow(clippy::cast_possible_wrap)]
        let sum = shifted + f.lo * release.count as i64;
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
        });
    }
    Ok(out)
}

/// Decompresses a server key for the current thread's computations.
pub fn install_server_key(compressed: &CompressedServerKey) -> ServerKey {
    let sk = compressed.decompress();
    tfhe::set_server_key(sk.clone());
    sk
}
