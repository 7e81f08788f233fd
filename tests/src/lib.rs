//! Helpers shared by phiveil's cross-crate tests: running the official AWS
//! Encryption SDK peers (Python and Node) over their JSON protocol
//! (`tests/peers/esdk_peer.py`, `www/test/peers/esdk_node_peer.mjs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// An official-SDK peer process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// aws-encryption-sdk (PyPI).
    Python,
    /// @aws-crypto/client-node (npm).
    Node,
}

impl Peer {
    fn command(self) -> Command {
        let root = repo_root();
        match self {
            Peer::Python => {
                let py = std::env::var("PHIVEIL_PYTHON").unwrap_or_else(|_| {
                    let home = std::env::var("HOME").unwrap_or_default();
                    let cache =
                        std::env::var("PHIVEIL_CACHE").unwrap_or(format!("{home}/.cache/phiveil"));
                    format!("{cache}/venv/bin/python")
                });
                let mut c = Command::new(py);
                c.arg(root.join("tests/peers/esdk_peer.py"));
                c
            }
            Peer::Node => {
                let mut c = Command::new("node");
                c.arg(root.join("www/test/peers/esdk_node_peer.mjs"));
                c
            }
        }
    }

    /// Whether peers are switched off for this run (`PHIVEIL_SKIP_PEERS=1`). The
    /// README's test command never sets it; without it a missing peer fails.
    pub fn skipped() -> bool {
        std::env::var("PHIVEIL_SKIP_PEERS").is_ok_and(|v| v == "1")
    }

    /// Runs one job and returns the peer's answer.
    pub fn run(self, job: &Value) -> Value {
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the {self:?} ESDK peer ({e}); run scripts/setup.sh")
            });
        child
            .stdin
            .take()
            .unwrap()
            .write_all(job.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{self:?} peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{self:?} peer wrote no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

pub mod relay;

/// The plaintext counts a study release must hold for one field's column of values: per
/// histogram bin (`[lo, e0), [e0, e1), …, [e_last, hi]`) and per threshold (`≥ t`).
pub fn expected_counts(f: &phiveil_core::fhe::FieldSpec, col: &[i64]) -> (Vec<u64>, Vec<u64>) {
    let count = |p: &dyn Fn(i64) -> bool| col.iter().filter(|v| p(**v)).count() as u64;
    let bins = if f.bins.is_empty() {
        Vec::new()
    } else {
        let mut edges = vec![f.lo];
        edges.extend(&f.bins);
        edges.push(f.hi + 1);
        edges
            .windows(2)
            .map(|w| count(&|v| v >= w[0] && v < w[1]))
            .collect()
    };
    let at_least = f.at_least.iter().map(|t| count(&|v| v >= *t)).collect();
    (bins, at_least)
}

/// One entry of a proven list built by hand ([`forged`]).
#[derive(Debug, Clone)]
pub enum Entry {
    /// A value and its bit width.
    Value(u64, usize),
    /// A boolean.
    Bit(bool),
}

/// A proven-encoding list built by hand, as a client that bypassed phiveil's could:
/// `entries` in order (a value with its bit width, or a bit), proven for `who` in the
/// study, serialized as an upload.
pub fn forged(
    spec: &phiveil_core::fhe::StudySpec,
    pk: &tfhe::CompactPublicKey,
    crs: &tfhe::zk::CompactPkeCrs,
    who: &str,
    entries: &[Entry],
) -> Vec<u8> {
    let mut b = tfhe::ProvenCompactCiphertextList::builder(pk);
    for e in entries {
        match e {
            Entry::Value(v, bits) => {
                b.push_with_num_bits(*v, *bits).unwrap();
            }
            Entry::Bit(x) => {
                b.push(*x);
            }
        }
    }
    let list = b
        .build_with_proof_packed(
            crs,
            &spec.proof_metadata(who),
            tfhe::zk::ZkComputeLoad::Proof,
        )
        .unwrap();
    let mut out = Vec::new();
    tfhe::safe_serialization::safe_serialize(&list, &mut out, 1 << 20).unwrap();
    out
}

/// Clients that bypassed phiveil's, for the proven test study (`heart_rate` 20..=275
/// with edges 60, 100, 140; `score` 1..=8 with a threshold at 4; `smoker` 0..=1): lists
/// an honest client could not produce, each with a valid proof.
pub fn bypassed_proven_clients() -> [Vec<Entry>; 3] {
    use Entry::{Bit, Value};
    [
        // heart 100 (80 encoded) with cells 1 and 2 set; score 3; not a smoker.
        vec![
            Value(80, 8),
            Bit(false),
            Bit(true),
            Bit(true),
            Bit(false),
            Value(2, 4),
            Bit(false),
            Bit(false),
        ],
        // heart 275 (top) with no cell set; score 4 (3 encoded, threshold bit set).
        vec![
            Value(255, 8),
            Bit(false),
            Bit(false),
            Bit(false),
            Bit(false),
            Value(3, 4),
            Bit(true),
            Bit(false),
        ],
        // heart 40 in cell 0; score sent as 15 in its 4-bit type: bounded to 7 (score 8).
        vec![
            Value(20, 8),
            Bit(true),
            Bit(false),
            Bit(false),
            Bit(false),
            Value(15, 4),
            Bit(true),
            Bit(true),
        ],
    ]
}
