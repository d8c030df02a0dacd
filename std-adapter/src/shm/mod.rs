//! Shared-memory transport: `shm://name` sockets over lock-free rings in a named segment.
//!
//! See `docs/shm-transport.md` for the slot layout and the lifecycle rules.

mod attach;
mod codec;
pub mod frames;
mod options;
mod poller;
mod pubsub;
mod pushpull;
pub(crate) mod recv;
mod reqrep;
mod wait;

pub use codec::MessageRef;
pub use options::{Builder, FullPolicy, ShmOptions, ShmSocket, WaitMode};
pub use poller::{PollHandle, Pollable, Poller};
pub use pubsub::{Publisher, Subscriber};
pub use pushpull::{Puller, PushLoan, Pusher};
pub use reqrep::{Replier, Requester};
