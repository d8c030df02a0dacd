//! Latency and throughput measurement between two processes: the engine behind the
//! `ringwire bench` command and the side-by-side `ringwire-bench` program.
//!
//! A benchmark run is two processes, the *leader* and its *peer*. The leader prepares its side
//! of a [`Transport`] (binds, creates segments), re-executes its own program as the peer with a
//! hidden subcommand ([`Options::peer_args`]), and both then exchange fixed-size messages
//! carrying a sequence number over a [`Link`]. The leader measures round trips (one sample per
//! round trip, nearest-rank p50/p99/p99.9) and one-way throughput ([`measure`]), repeats the
//! whole plan `--repeat` times and reports the median of each statistic ([`stats`]).
//!
//! Only the transport-neutral parts and ringwire's own shared-memory transports ([`shm`], [`zero_copy`]) live
//! here, so that the `ringwire` CLI needs no other crate; the comparison transports (iceoryx2,
//! libzmq, the unsafe bare ping-pong, raw sockets) stay in the `ringwire-bench` crate and
//! implement the same [`Transport`] trait. `ringwire bench` adds an in-process section on slow
//! shm subscribers ([`slow`]). `docs/benchmarks.md` describes the cases.

pub mod clock;
pub mod hist;
pub mod link;
pub mod machine;
pub mod measure;
pub mod overload;
#[cfg(feature = "plot")]
pub mod plot;
pub mod run;
pub mod shm;
pub mod slow;
pub mod stats;
pub mod zero_copy;

pub use hist::Histogram;
pub use link::{BenchError, Kind, Link, Params, Prepared, Result, Transport};
pub use machine::Machine;
pub use run::{Case, Event, Options, PeerArgs, Pin, Progress, peer, report, run};
pub use slow::{SlowOptions, SlowReport};
pub use stats::{Latency, Row, Setup};
