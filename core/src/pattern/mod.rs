//! Sans-IO pattern state machines shared by every transport (DESIGN.md principle 5).
//!
//! Each is a plain struct fed events and a caller-supplied tick (milliseconds from any
//! monotonic origin); none of them sleeps, spawns, allocates or touches a socket, so
//! unit tests drive them directly:
//! - [`socket_type`]: the ZeroMQ socket types and which pairs may connect (spec 23 / 28);
//! - [`req`]: REQ and REP lock-step and the REQ envelope delimiter;
//! - [`subscription`]: counted prefix subscriptions over caller storage;
//! - [`backoff`]: the reconnect back-off schedule;
//! - [`heartbeat`]: PING/PONG heartbeat timers (spec 37).

pub mod backoff;
pub mod heartbeat;
pub mod req;
pub mod socket_type;
pub mod subscription;
