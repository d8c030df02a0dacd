//! Shared-memory transport: `shm://name` sockets over lock-free rings in a named segment.
//!
//! See `docs/shm-transport.md` for the slot layout and the lifecycle rules.

pub mod frames;
mod options;

pub use options::{Builder, FullPolicy, ShmOptions, ShmSocket, WaitMode};
