//! # phiveil-core
//!
//! The pure-Rust core of phiveil: every step that touches plaintext health data runs
//! here, natively (relay, tests) or compiled to WebAssembly in the patient's browser.
//! The core performs no I/O: it consumes and produces buffers, takes randomness as a
//! `CryptoRngCore`, and knows KMS only through the data keys a relay brokers.
//!
//! * [`esdk`] — envelope encryption in the AWS Encryption SDK message format
//!   (version 2, committing suite 0x0478, framed, streaming, random access, keyrings,
//!   data-key caching).
//! * [`dp`] — differential privacy: exact discrete Laplace / Gaussian and randomized
//!   response samplers, pure-ε and zCDP accounting, ledger, intervals, study noise plans.
//! * `fhe` (feature `fhe`) — TFHE private statistics: key ceremony, proven submissions,
//!   encrypted aggregation with clamping, releases at the minimum cohort.
//! * [`field`] — field-level encryption of JSON records by path.
//! * [`fhir`] — FHIR R4 vital-sign Observations and Bundles (LOINC, UCUM), parsed back.
//! * [`pii`] — PII/PHI detection and redaction of free-text notes (HIPAA Safe Harbor
//!   identifiers; block / mask / pseudonymize / generalize; span reports).
//! * [`rules`] — vital-sign rules (duration thresholds, rate of change, hysteresis);
//!   alerts carry no raw vitals.
//! * [`telemetry`] — device simulator and telemetry sessions (readings → FHIR → rules →
//!   encrypted chunks; alerts without values).
//! * [`secret`] — zeroizing secret newtypes.
//!
//! Every error is an [`Error`]; untrusted bytes never panic.
#![cfg_attr(not(test), deny(missing_docs))]
#![forbid(unsafe_code)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::panic
    )
)]

pub mod audit_proof;
pub mod dp;
pub mod error;
pub mod esdk;
pub mod export;
#[cfg(feature = "fhe")]
pub mod fhe;
pub mod fhir;
pub mod field;
pub mod fl;
pub mod passphrase;
pub mod pii;
pub mod rules;
pub mod secret;
pub mod telemetry;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

pub use error::{Error, Result};
