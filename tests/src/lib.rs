//! Helpers shared by phiveil's cross-crate tests.
