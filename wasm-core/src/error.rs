//! The one error type of `phiveil-core`.
//!
//! Every fallible operation returns [`Error`]. Errors never carry key material or
//! plaintext; decryption and authentication failures are deliberately opaque
//! ([`Error::DecryptFailed`]) so that callers cannot be used as a padding or tag oracle.

use core::fmt;

/// Everything that can go wrong in `phiveil-core`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended before a complete structure could be read.
    Truncated,
    /// Bytes were left over after a complete message (the ESDK specification requires
    /// decryption to fail on them).
    TrailingBytes,
    /// A structure was syntactically invalid; the reason names the field.
    Malformed(&'static str),
    /// The message format version is not one this library reads.
    UnsupportedVersion(u8),
    /// The algorithm suite is unknown or not allowed by the commitment policy
    /// (`REQUIRE_ENCRYPT_REQUIRE_DECRYPT`: only committing suites are accepted).
    UnsupportedAlgorithmSuite(u16),
    /// The message body content type is not framed (2) or non-framed (1).
    UnsupportedContentType(u8),
    /// A configured size limit was exceeded; `what` names the limit.
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// The limit's value.
        limit: u64,
    },
    /// The encryption context the caller expects is not the one bound in the message:
    /// an entry is missing or has another value. Carries the key, never the values.
    ContextMismatch {
        /// The encryption-context key that did not match.
        key: String,
    },
    /// The encryption context uses a key reserved by the ESDK (`aws-crypto-` prefix).
    ReservedContextKey,
    /// No keyring could decrypt any of the message's encrypted data keys.
    NoMatchingKey,
    /// Authentication failed: header tag, key commitment, frame tag or record MAC.
    /// Deliberately carries no detail.
    DecryptFailed,
    /// A frame arrived with a sequence number other than the next expected one
    /// (reordered, replayed or dropped frame).
    BadSequenceNumber {
        /// The sequence number that should have come next.
        expected: u32,
        /// The sequence number found in the message.
        found: u32,
    },
    /// A key had the wrong length or form.
    InvalidKey(&'static str),
    /// A caller-supplied option or keyring configuration is invalid.
    InvalidConfig(&'static str),
    /// A streaming object was used out of order (for example, data pushed after finish).
    InvalidState(&'static str),
    /// A JSON record could not be processed by field-level encryption.
    InvalidRecord(String),
    /// A field path did not parse.
    InvalidPath(String),
    /// Randomness could not be obtained from the platform.
    Rng,
    /// Redaction refused the text: the policy blocks an identifier kind it contains.
    /// Carries the kind and how many were found, never the identifier.
    PiiBlocked {
        /// The first blocked entity kind found (`SSN`, `PERSON`, ...).
        entity: &'static str,
        /// How many blocked identifiers the text contains.
        count: usize,
    },
    /// A caller-supplied regular expression did not compile.
    InvalidPattern(String),
    /// A differentially private release or submission would exceed the privacy budget.
    BudgetExceeded,
    /// A homomorphic-encryption step failed or refused its input (malformed list, bad
    /// proof, wrong key); the reason carries no secret.
    Fhe(String),
    /// A submitted value lies outside its field's declared range.
    OutOfRange {
        /// The field.
        field: String,
    },
    /// A release was asked for before the cohort reached the study's minimum.
    CohortTooSmall {
        /// Submissions so far.
        have: u64,
        /// The minimum.
        need: u64,
    },
    /// The submission was already counted.
    DuplicateSubmission,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("message is truncated"),
            Error::TrailingBytes => f.write_str("unexpected bytes after the end of the message"),
            Error::Malformed(what) => write!(f, "malformed message: {what}"),
            Error::UnsupportedVersion(v) => write!(f, "unsupported message format version {v}"),
            Error::UnsupportedAlgorithmSuite(id) => {
                write!(f, "algorithm suite 0x{id:04X} is not supported or not allowed by the commitment policy")
            }
            Error::UnsupportedContentType(t) => write!(f, "unsupported content type {t}"),
            Error::LimitExceeded { what, limit } => {
                write!(f, "{what} exceeds the limit of {limit}")
            }
            Error::ContextMismatch { key } => {
                write!(
                    f,
                    "encryption context does not match the expected entry for key {key:?}"
                )
            }
            Error::ReservedContextKey => {
                f.write_str("encryption context uses a reserved key (aws-crypto-*)")
            }
            Error::NoMatchingKey => f.write_str("no keyring could decrypt any encrypted data key"),
            Error::DecryptFailed => f.write_str("decryption failed"),
            Error::BadSequenceNumber { expected, found } => {
                write!(
                    f,
                    "frame sequence number {found} where {expected} was expected"
                )
            }
            Error::InvalidKey(why) => write!(f, "invalid key: {why}"),
            Error::InvalidConfig(why) => write!(f, "invalid configuration: {why}"),
            Error::InvalidState(why) => write!(f, "invalid use: {why}"),
            Error::InvalidRecord(why) => write!(f, "invalid record: {why}"),
            Error::InvalidPath(why) => write!(f, "invalid field path: {why}"),
            Error::Rng => f.write_str("the platform random number generator failed"),
            Error::PiiBlocked { entity, count } => write!(
                f,
                "the text contains {count} identifier(s) the policy blocks (first: {entity})"
            ),
            Error::InvalidPattern(why) => write!(f, "invalid pattern: {why}"),
            Error::BudgetExceeded => f.write_str("the privacy budget does not cover this release"),
            Error::Fhe(why) => write!(f, "homomorphic encryption: {why}"),
            Error::OutOfRange { field } => {
                write!(f, "value of field {field:?} is outside its declared range")
            }
            Error::CohortTooSmall { have, need } => {
                write!(f, "cohort of {have} is below the minimum of {need}")
            }
            Error::DuplicateSubmission => f.write_str("this submission was already counted"),
        }
    }
}

impl Error {
    /// A stable machine-readable name of the error kind (used as the `code` of
    /// JavaScript errors and in problem+json responses).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Truncated => "Truncated",
            Error::TrailingBytes => "TrailingBytes",
            Error::Malformed(_) => "Malformed",
            Error::UnsupportedVersion(_) => "UnsupportedVersion",
            Error::UnsupportedAlgorithmSuite(_) => "UnsupportedAlgorithmSuite",
            Error::UnsupportedContentType(_) => "UnsupportedContentType",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::ContextMismatch { .. } => "ContextMismatch",
            Error::ReservedContextKey => "ReservedContextKey",
            Error::NoMatchingKey => "NoMatchingKey",
            Error::DecryptFailed => "DecryptFailed",
            Error::BadSequenceNumber { .. } => "BadSequenceNumber",
            Error::InvalidKey(_) => "InvalidKey",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::InvalidState(_) => "InvalidState",
            Error::InvalidRecord(_) => "InvalidRecord",
            Error::InvalidPath(_) => "InvalidPath",
            Error::Rng => "Rng",
            Error::PiiBlocked { .. } => "PiiBlocked",
            Error::InvalidPattern(_) => "InvalidPattern",
            Error::BudgetExceeded => "BudgetExceeded",
            Error::Fhe(_) => "Fhe",
            Error::OutOfRange { .. } => "OutOfRange",
            Error::CohortTooSmall { .. } => "CohortTooSmall",
            Error::DuplicateSubmission => "DuplicateSubmission",
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
