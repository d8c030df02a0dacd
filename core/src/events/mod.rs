//! The event service's logic, sans-IO: a directory of nodes and events (PyIPC's service) that
//! the std layer drives with "these frames arrived from this connection" and "this connection
//! closed", and that says what to send to whom.
//!
//! - [`Directory`]: bounded tables (`N` nodes, `E` events, `S` subscriptions, const
//!   generics, no allocation) and the rules:
//!   - a node joins once per connection with an id no other live node has (a process id in
//!     decimal by default, or a name, 1 to [`wire::MAX_ID`] bytes);
//!   - an event has an id, a creator and an [`Emission`]: `Single` — only the creator emits;
//!     `Multi` — the creator and every subscriber emit. Only the creator dissolves it;
//!   - an emission goes to every subscriber except the emitter (a creator that wants the
//!     other emitters' data subscribes, or creates the event with "the creator subscribes");
//!   - subscribing to, unsubscribing from or emitting an unknown or dissolved event, contacting
//!     or signalling an unknown node, and every other broken rule is refused with an
//!     [`ErrorCode`] the service sends back: nothing is dropped silently;
//!   - **a node that leaves or dies takes its events with it**: they are dissolved and their
//!     subscribers told (a DISSOLVED message), never handed over. The creator is the only
//!     one who may emit a single-emission event, so handing it to another node would change
//!     who may speak on it; a node that wants an event to outlive its creator creates it again
//!     (a fresh CREATE succeeds once the old one is dissolved).
//! - [`wire`]: the envelope, byte for byte (also in `docs/events.md`).
//! - [`doorbell`]: the shared-memory signal doorbell (layout and protocol).
//!
//! # Driving a directory
//!
//! ```
//! use ringwire_core::broker::PeerId;
//! use ringwire_core::events::{Directory, Emission, ErrorCode, Outcome, Request};
//!
//! let mut d: Directory<8, 8, 32> = Directory::new();
//! let (a, b) = (PeerId(1), PeerId(2));
//! d.handle(a, &Request::Join { node: b"1234", remote: false }).unwrap();
//! d.handle(b, &Request::Join { node: b"camera", remote: false }).unwrap();
//! let create = Request::CreateEvent { event: b"frame", emission: Emission::Single, creator_subscribes: false };
//! d.handle(b, &create).unwrap();
//! d.handle(a, &Request::Subscribe { event: b"frame" }).unwrap();
//! // Only the creator emits a single-emission event.
//! let emit = Request::Emit { event: b"frame", data: b"..." };
//! assert_eq!(d.handle(a, &emit).err(), Some(ErrorCode::MayNotEmit));
//! let Ok(Outcome::Emit { from, recipients }) = d.handle(b, &emit) else { panic!() };
//! assert_eq!(from, b"camera");
//! assert_eq!(recipients.collect::<Vec<_>>(), [a]);
//! // The camera dies: its event is dissolved and its subscriber told.
//! assert!(d.on_disconnect(b));
//! let mut told = Vec::new();
//! d.drain_dissolved(|event, peer| told.push((event.to_vec(), peer)));
//! assert_eq!(told, [(b"frame".to_vec(), a)]);
//! assert_eq!(d.handle(a, &Request::Subscribe { event: b"frame" }).err(), Some(ErrorCode::UnknownEvent));
//! ```

mod directory;
pub mod doorbell;
#[cfg(test)]
mod tests;
pub mod wire;

pub use directory::{Directory, Outcome, Recipients};
pub use wire::{Emission, ErrorCode, Request, ServiceMsg, WireError};
