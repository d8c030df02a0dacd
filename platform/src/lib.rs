//! `ringwire-platform`: binds `ringwire-core` to the operating system.
//!
//! It knows the OS and nothing of messaging patterns:
//! - [`name`]: validated segment names and their OS spelling;
//! - [`segment`]: named shared-memory segments (POSIX shm, Windows file mappings);
//! - [`wait`]: futex-style wait/wake on a 32-bit word, across processes;
//! - [`liveness`]: pid + start time, to tell a crashed process from a live one where no
//!   segment lock can (macOS, Windows, layout-version-2 segments);
//! - [`claims`]: safe recovery of ring claims left by crashed processes, judged on Linux by
//!   kernel-released locks on the segment file (what the verdict rests on);
//! - [`region`]: mapped segments as `ringwire_core` regions, and the futex bridge;
//! - [`readiness`]: socket readiness for a background thread (epoll on Linux, poll elsewhere);
//! - [`cleanup`]: listing ringwire segments and removing those of dead creators;
//! - [`dir_watch`]: waking when a segment appears (inotify on Linux) instead of polling.
//! - [`child`]: child processes that die with their parent (a process group, PR_SET_PDEATHSIG).
//!
//! Only the files that make OS calls allow `unsafe` (`grep -r 'allow(unsafe_code'`).
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod child;
#[path = "liveness_claims.rs"]
pub mod claims;
pub mod cleanup;
pub mod dir_watch;
pub mod liveness;
pub mod name;
pub mod readiness;
pub mod region;
pub mod segment;
pub mod wait;

pub use liveness::ProcessStamp;
pub use name::{NameError, SegmentName};
pub use region::SubRegion;
pub use segment::{CreateMode, CreateOptions, Segment, SegmentError, SharedSegment};
pub use wait::{OsWaiter, WaitOutcome, Waiter};
