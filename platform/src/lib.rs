//! `ringwire-platform`: binds `ringwire-core` to the operating system.
//!
//! It knows the OS and nothing of messaging patterns:
//! - [`name`]: validated segment names and their OS spelling;
//! - [`segment`]: named shared-memory segments (POSIX shm, Windows file mappings);
//! - [`wait`]: futex-style wait/wake on a 32-bit word, across processes;
//! - [`liveness`]: pid + start time, to tell a crashed peer from a live one;
//! - [`region`]: mapped segments as `ringwire_core` regions, and the futex bridge;
//! - [`cleanup`]: listing ringwire segments and removing those of dead creators.
//!
//! Only the files that make OS calls allow `unsafe` (`grep -r 'allow(unsafe_code'`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod cleanup;
pub mod liveness;
pub mod name;
pub mod region;
pub mod segment;
pub mod wait;

pub use liveness::ProcessStamp;
pub use name::{NameError, SegmentName};
pub use region::SubRegion;
pub use segment::{CreateMode, CreateOptions, Segment, SegmentError, SharedSegment};
pub use wait::{OsWaiter, WaitOutcome, Waiter};
