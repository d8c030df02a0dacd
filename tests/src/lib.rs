//! Helpers shared by ringwire's cross-crate and multi-process tests.
#![forbid(unsafe_code)]
