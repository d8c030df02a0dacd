//! Shared helpers for ringwire's example programs (see `src/bin/`).
#![forbid(unsafe_code)]
