//! One validated name type for every caller-chosen string that becomes part of an
//! object key, a file path or an audit column: usernames, record types, patient
//! pseudonyms, study field names.
//!
//! A [`Name`] is 1–64 characters of `A-Z a-z 0-9 . _ -` that starts with a letter or a
//! digit, so `.`, `..`, `-rf` and empty strings are impossible. Values are checked
//! once, where they enter (a request body, a path segment, a row read back); code
//! past the boundary takes `&Name` and never re-checks.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{ApiError, ApiResult};

/// Longest name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// A validated name (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Whether `s` is a valid name.
    pub fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_NAME_LEN
            && b.first().is_some_and(u8::is_ascii_alphanumeric)
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    }

    /// Checks `s`; `what` names the field in the error.
    pub fn parse(what: &str, s: &str) -> ApiResult<Self> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ApiError::BadRequest(format!(
                "{what} must be 1-{MAX_NAME_LEN} characters of A-Z a-z 0-9 . _ - starting with a letter or digit"
            )))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse("name", &s).map_err(|_| {
            serde::de::Error::custom(format!(
                "a name must be 1-{MAX_NAME_LEN} characters of A-Z a-z 0-9 . _ - starting with a letter or digit"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_dot_segments_separators_and_control_text() {
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-rf",
            "_x",
            "a/b",
            "a\nb",
            "<script>",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(Name::parse("x", bad).is_err(), "{bad:?}");
            assert!(serde_json::from_str::<Name>(&serde_json::to_string(bad).unwrap()).is_err());
        }
        for good in [
            "notes",
            "p-0123abcd",
            "vitals-stream",
            "a.b_c-d",
            "9",
            &"a".repeat(64),
        ] {
            assert_eq!(Name::parse("x", good).unwrap().as_str(), good);
        }
    }
}
