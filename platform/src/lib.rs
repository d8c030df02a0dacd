//! `ringwire-platform`: binds `ringwire-core` to the operating system.
//!
//! It knows the OS and nothing of messaging patterns.
#![deny(unsafe_code)]
#![warn(missing_docs)]
