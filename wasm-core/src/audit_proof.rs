//! The relay's audit chain, in the form a patient's browser can check without seeing
//! anyone else's rows.
//!
//! Rows from the chain's second version on (`v2_from`) link as
//!
//! ```text
//! leaf(n) = SHA-256(JSON [seq, ts, actor, role, action, patient, outcome, detail])
//! hash(n) = SHA-256("phiveil-audit-v2" 0x00 hash(n-1) 0x00 leaf(n))      (hex strings)
//! ```
//!
//! so a row is tied to a later hash by the *leaves* of the rows in between, digests that
//! say nothing of those rows. The relay signs checkpoints (`seq`, `hash`, `ts`) with an
//! ECDSA P-384 key: one at every multiple of [`WINDOW`] rows, kept, and the head, at each
//! request. A patient's access log carries the patient's rows, the leaves between each
//! row and its window's checkpoint, and the checkpoints; [`check_access_log`] recomputes
//! every row's leaf from what it shows, folds it to a signed checkpoint, and compares the
//! checkpoints with those this browser saw before. An edited row no longer folds to the
//! checkpoint; rows deleted from the end make the head fall behind a checkpoint already
//! seen; a rewritten history shows another hash for a checkpoint already seen. The
//! operator publishes checkpoints (`phiveil-relay audit checkpoint`) so that anyone can
//! hold the relay to them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use p384::ecdsa::signature::{DigestSigner, DigestVerifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use p384::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Rows per checkpoint window.
pub const WINDOW: i64 = 256;

/// The hash the first row chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// An audit row's content, as the chain hashes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowContent {
    /// Position in the chain.
    pub seq: i64,
    /// Unix seconds.
    pub ts: i64,
    /// Who (a user id or `anonymous`).
    pub actor: String,
    /// The actor's role.
    pub role: String,
    /// What.
    pub action: String,
    /// Which patient.
    pub patient: Option<String>,
    /// `allowed`, `refused` or `failed`.
    pub outcome: String,
    /// A short detail.
    pub detail: String,
}

/// `leaf(n)` of a row (hex).
pub fn leaf(r: &RowContent) -> String {
    let canon =
        serde_json::json!([r.seq, r.ts, r.actor, r.role, r.action, r.patient, r.outcome, r.detail]);
    hex(&Sha256::digest(canon.to_string().as_bytes()))
}

/// `hash(n)` from `hash(n-1)` and `leaf(n)` (hex).
pub fn link(prev: &str, leaf: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"phiveil-audit-v2\0");
    h.update(prev.as_bytes());
    h.update([0]);
    h.update(leaf.as_bytes());
    hex(&h.finalize())
}

/// A signed checkpoint: the chain's hash at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The row.
    pub seq: i64,
    /// Its hash.
    pub hash: String,
    /// When it was signed (Unix seconds).
    pub ts: i64,
    /// ECDSA P-384 / SHA-384 over [`checkpoint_message`], DER, base64.
    pub signature: String,
}

/// What a checkpoint's signature covers.
pub fn checkpoint_message(seq: i64, hash: &str, ts: i64) -> Vec<u8> {
    let mut m = b"phiveil-audit-checkpoint-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash.as_bytes());
    m.push(0);
    m.extend_from_slice(&ts.to_be_bytes());
    m
}

/// The relay's checkpoint signing key (ECDSA P-384). Zeroized on drop.
pub struct CheckpointSigner(SigningKey);

impl core::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CheckpointSigner(***)")
    }
}

impl CheckpointSigner {
    /// A fresh key.
    pub fn generate(rng: &mut dyn rand_core::CryptoRngCore) -> Self {
        Self(SigningKey::random(&mut &mut *rng))
    }

    /// A key from PKCS #8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        p384::SecretKey::from_pkcs8_der(der)
            .map(|k| Self(SigningKey::from(k)))
            .map_err(|_| Error::InvalidKey("not a P-384 PKCS #8 private key"))
    }

    /// The key as PKCS #8 DER.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        p384::SecretKey::from(self.0.as_nonzero_scalar())
            .to_pkcs8_der()
            .map(|d| Zeroizing::new(d.as_bytes().to_vec()))
            .map_err(|_| Error::InvalidKey("the key does not encode"))
    }

    /// The public key: DER SubjectPublicKeyInfo.
    pub fn public_spki(&self) -> Result<Vec<u8>> {
        p384::PublicKey::from(self.0.verifying_key())
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .map_err(|_| Error::InvalidKey("the key does not encode"))
    }

    /// Signs the chain's hash at `seq`.
    pub fn sign(&self, seq: i64, hash: &str, ts: i64) -> Result<Checkpoint> {
        let digest = Sha384::new_with_prefix(checkpoint_message(seq, hash, ts));
        let sig: Signature = self
            .0
            .try_sign_digest(digest)
            .map_err(|_| Error::InvalidState("signing failed"))?;
        Ok(Checkpoint {
            seq,
            hash: hash.to_owned(),
            ts,
            signature: B64.encode(sig.to_der().as_bytes()),
        })
    }
}

/// The fingerprint of a checkpoint key (as end-to-end keys show theirs: ten groups of
/// four hex digits of the SHA-256 of the SubjectPublicKeyInfo).
pub fn key_fingerprint(spki: &[u8]) -> String {
    let h = hex(Sha256::digest(spki).get(..20).unwrap_or_default());
    h.as_bytes()
        .chunks(4)
        .map(|c| core::str::from_utf8(c).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `cp` is signed by the key `spki`.
pub fn verify_checkpoint(spki: &[u8], cp: &Checkpoint) -> bool {
    let Ok(key) = p384::PublicKey::from_public_key_der(spki).map(VerifyingKey::from) else {
        return false;
    };
    let Ok(sig) = B64
        .decode(cp.signature.as_bytes())
        .map_err(|_| ())
        .and_then(|b| Signature::from_der(&b).map_err(|_| ()))
    else {
        return false;
    };
    let digest = Sha384::new_with_prefix(checkpoint_message(cp.seq, &cp.hash, cp.ts));
    key.verify_digest(digest, &sig).is_ok()
}

/// One row of a patient's access log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    /// The row's content.
    #[serde(flatten)]
    pub content: RowContent,
    /// The previous row's hash.
    pub prev_hash: String,
    /// This row's hash.
    pub hash: String,
}

/// A patient's access log as the relay answers it (`GET /v1/me/access-log`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessLog {
    /// The checkpoint key: DER SubjectPublicKeyInfo, base64.
    pub key: String,
    /// The first row of the chain's second version (earlier rows cannot be proven
    /// without other patients' rows).
    pub v2_from: i64,
    /// The head, signed for this answer.
    pub head: Option<Checkpoint>,
    /// Window checkpoints the rows fold to, and any the caller asked about.
    pub checkpoints: Vec<Checkpoint>,
    /// The patient's rows, newest first.
    pub rows: Vec<LogRow>,
    /// `leaf(n)` of the other rows between each row and its checkpoint.
    pub leaves: BTreeMap<i64, String>,
}

/// How one row checked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RowCheck {
    /// Its content folds to a checkpoint signed by the relay's key.
    Proven {
        /// The checkpoint.
        checkpoint: i64,
    },
    /// From before the chain's second version: not provable without other rows.
    Earlier,
    /// It does not check out.
    Broken {
        /// Why.
        reason: String,
    },
}

/// The outcome of [`check_access_log`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// One per row, in the log's order.
    pub rows: Vec<RowCheck>,
    /// What contradicts the checkpoints seen before (rows deleted from the end, history
    /// rewritten, another signing key), if anything.
    pub alarms: Vec<String>,
    /// The checkpoint key's fingerprint.
    pub key_fingerprint: String,
    /// The checkpoints to remember (the window checkpoints of this answer).
    pub remember: Vec<Checkpoint>,
}

/// Checks `log` (see the module documentation): every row's content against its hash
/// and, through the leaves, against a signed checkpoint; and the checkpoints against
/// `seen` (those an earlier answer showed, with the key fingerprint they were signed
/// by). Nothing here trusts the relay beyond its signing key.
pub fn check_access_log(log: &AccessLog, seen: &[Checkpoint], seen_key: Option<&str>) -> Checked {
    let spki = B64.decode(log.key.as_bytes()).unwrap_or_default();
    let key_fingerprint = key_fingerprint(&spki);
    let mut alarms = Vec::new();
    if let Some(k) = seen_key {
        if k != key_fingerprint {
            alarms.push(format!(
                "the relay's checkpoint key changed (it was {k}, it is {key_fingerprint})"
            ));
        }
    }
    let mut cps: Vec<&Checkpoint> = log.checkpoints.iter().chain(log.head.as_ref()).collect();
    cps.retain(|c| verify_checkpoint(&spki, c));
    cps.sort_by_key(|c| c.seq);
    if log
        .head
        .as_ref()
        .is_some_and(|h| !verify_checkpoint(&spki, h))
    {
        alarms.push("the head checkpoint's signature does not verify".to_owned());
    }
    let head_seq = log.head.as_ref().map_or(0, |h| h.seq);
    for s in seen {
        if s.seq > head_seq {
            alarms.push(format!(
                "the log ends at row {head_seq}, but row {} was seen before: rows were deleted",
                s.seq
            ));
        } else if let Some(c) = cps.iter().find(|c| c.seq == s.seq) {
            if c.hash != s.hash {
                alarms.push(format!(
                    "row {} has another hash than when it was seen before: the history was rewritten",
                    s.seq
                ));
            }
        }
    }
    // Each own row's leaf, from what the log shows.
    let own: BTreeMap<i64, String> = log
        .rows
        .iter()
        .map(|r| (r.content.seq, leaf(&r.content)))
        .collect();
    let rows = log
        .rows
        .iter()
        .map(|r| check_row(r, log, &own, &cps))
        .collect();
    let remember = cps
        .iter()
        .filter(|c| c.seq % WINDOW == 0)
        .map(|c| (*c).clone())
        .collect();
    Checked {
        rows,
        alarms,
        key_fingerprint,
        remember,
    }
}

fn check_row(
    r: &LogRow,
    log: &AccessLog,
    own: &BTreeMap<i64, String>,
    cps: &[&Checkpoint],
) -> RowCheck {
    let broken = |why: &str| RowCheck::Broken {
        reason: why.to_owned(),
    };
    let seq = r.content.seq;
    if seq < log.v2_from {
        return RowCheck::Earlier;
    }
    let mut h = link(&r.prev_hash, &leaf(&r.content));
    if h != r.hash {
        return broken("its content does not match its hash: the row was edited");
    }
    let Some(cp) = cps.iter().find(|c| c.seq >= seq) else {
        return broken("no signed checkpoint covers it");
    };
    let mut s = seq;
    while s < cp.seq {
        s = s.saturating_add(1);
        let Some(l) = own.get(&s).or_else(|| log.leaves.get(&s)) else {
            return broken("the proof is incomplete");
        };
        h = link(&h, l);
    }
    if h == cp.hash {
        RowCheck::Proven { checkpoint: cp.seq }
    } else {
        broken("it does not fold to the signed checkpoint: a row of the chain was edited")
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )]
    use super::*;

    fn row(seq: i64, patient: &str) -> RowContent {
        RowContent {
            seq,
            ts: 1_700_000_000 + seq,
            actor: format!("u-{}", seq % 3),
            role: "clinician".into(),
            action: "download".into(),
            patient: Some(patient.into()),
            outcome: "allowed".into(),
            detail: String::new(),
        }
    }

    /// A chain of `n` rows (every third for patient `p-a`), its hashes, and the log
    /// for `p-a` with window checkpoints and the head.
    fn chain(n: i64, signer: &CheckpointSigner) -> (Vec<(RowContent, String, String)>, AccessLog) {
        let mut rows = Vec::new();
        let mut prev = GENESIS.to_owned();
        for seq in 1..=n {
            let c = row(seq, if seq % 3 == 0 { "p-a" } else { "p-b" });
            let h = link(&prev, &leaf(&c));
            rows.push((c, prev.clone(), h.clone()));
            prev = h;
        }
        let mut log = AccessLog {
            key: B64.encode(signer.public_spki().unwrap()),
            v2_from: 1,
            head: Some(signer.sign(n, &prev, 1).unwrap()),
            ..AccessLog::default()
        };
        for (c, p, h) in &rows {
            if c.seq % WINDOW == 0 {
                log.checkpoints.push(signer.sign(c.seq, h, 1).unwrap());
            }
            if c.patient.as_deref() == Some("p-a") {
                log.rows.push(LogRow {
                    content: c.clone(),
                    prev_hash: p.clone(),
                    hash: h.clone(),
                });
            } else {
                log.leaves.insert(c.seq, leaf(c));
            }
        }
        (rows, log)
    }

    #[test]
    fn every_row_folds_to_a_signed_checkpoint() {
        let signer = CheckpointSigner::generate(&mut rand_core::OsRng);
        let (_, log) = chain(600, &signer);
        let c = check_access_log(&log, &[], None);
        assert!(c.alarms.is_empty(), "{:?}", c.alarms);
        assert_eq!(c.rows.len(), 200);
        assert!(c.rows.iter().all(|r| matches!(r, RowCheck::Proven { .. })));
        assert_eq!(c.rows[0], RowCheck::Proven { checkpoint: 256 });
        assert_eq!(c.rows[199], RowCheck::Proven { checkpoint: 600 });
        assert_eq!(
            c.remember.iter().map(|c| c.seq).collect::<Vec<_>>(),
            vec![256, 512]
        );
    }

    #[test]
    fn an_edited_row_another_rows_leaf_a_deletion_and_a_rewrite_are_caught() {
        let signer = CheckpointSigner::generate(&mut rand_core::OsRng);
        let (_, log) = chain(600, &signer);
        let seen = check_access_log(&log, &[], None);
        let fp = seen.key_fingerprint.clone();

        // An own row edited (its hash kept): that row is broken.
        let mut edited = log.clone();
        edited.rows[10].content.outcome = "refused".into();
        let c = check_access_log(&edited, &seen.remember, Some(&fp));
        assert!(matches!(&c.rows[10], RowCheck::Broken { reason } if reason.contains("edited")));
        // ... and re-hashed by the relay: the rows before it in its window no longer fold.
        let mut rehashed = edited.clone();
        rehashed.rows[10].hash = link(
            &rehashed.rows[10].prev_hash,
            &leaf(&rehashed.rows[10].content),
        );
        let c = check_access_log(&rehashed, &seen.remember, Some(&fp));
        assert!(c.rows.iter().any(|r| matches!(r, RowCheck::Broken { .. })));

        // Another patient's row changed (its leaf): the own rows before it are broken.
        let mut other = log.clone();
        let k = *other.leaves.keys().nth(5).unwrap();
        other.leaves.insert(k, leaf(&row(k, "p-x")));
        let c = check_access_log(&other, &seen.remember, Some(&fp));
        assert!(c.rows.iter().any(|r| matches!(r, RowCheck::Broken { .. })));

        // The newest rows deleted (and the head re-signed): the seen checkpoint 512 is gone.
        let (_, short) = chain(500, &signer);
        let c = check_access_log(&short, &seen.remember, Some(&fp));
        assert!(
            c.alarms.iter().any(|a| a.contains("rows were deleted")),
            "{:?}",
            c.alarms
        );

        // History rewritten and re-signed: checkpoint 256 has another hash.
        let mut rewritten = log.clone();
        rewritten.checkpoints[0] = signer.sign(256, &"f".repeat(64), 2).unwrap();
        let c = check_access_log(&rewritten, &seen.remember, Some(&fp));
        assert!(
            c.alarms.iter().any(|a| a.contains("rewritten")),
            "{:?}",
            c.alarms
        );

        // Another key.
        let other_signer = CheckpointSigner::generate(&mut rand_core::OsRng);
        let (_, forged) = chain(600, &other_signer);
        let c = check_access_log(&forged, &seen.remember, Some(&fp));
        assert!(c.alarms.iter().any(|a| a.contains("key changed")));

        // A bad signature: the checkpoint is ignored, the rows it covered are unproven.
        let mut bad = log.clone();
        bad.checkpoints[0].ts += 1;
        let c = check_access_log(&bad, &[], None);
        assert!(matches!(&c.rows[0], RowCheck::Proven { checkpoint } if *checkpoint == 512));
    }
}
