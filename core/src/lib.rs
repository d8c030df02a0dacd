//! `ringwire-core`: the `#![no_std]`, allocation-free heart of ringwire.
//!
//! It never calls the operating system. It is handed a memory region (a shared
//! mapping on a host, a `static` buffer on firmware), bytes to decode and the
//! current time as a number, and everything it does is deterministic:
//!
//! - [`frames`]: the multipart layout of a shared-memory message (one parser, one encoder).
//! - [`msg`]: typed messages, postcard-encoded straight into a caller's buffer.
//! - [`region`]: the memory a segment lives in (shared mapping or `static` buffer).
//! - [`segment`]: the segment header: layout, creation handshake, validation, wake-ups.
//! - [`ring`]: lock-free broadcast, SPSC and MPMC rings of fixed-size slots.
//! - [`sync`]: the one source of atomics (loom under `cfg(loom)`).
//! - [`zmtp`]: the ZMTP 3.1 codec (greeting, frames, commands) for ZeroMQ interop.
//! - [`pattern`]: sans-IO pattern state machines (socket types, REQ/REP, subscriptions, back-off, heartbeats).
//! - [`broker`]: sans-IO request/reply broker (worker registry, routing, retries, Majordomo).
//! - [`events`]: sans-IO event service directory (nodes, events, subscriptions) and its envelope.
//! - [`apps`]: applications and channels: the envelope (request, publish, subscribe, notify) and the server's sans-IO registry.
//! - [`serial`]: COBS + CRC-32C framing of messages over byte streams (UART, USB CDC).
//!
//! Unsafe code lives only in the region and ring-slot modules; every other module
//! is `deny(unsafe_code)`.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(test, loom))]
extern crate std;

#[macro_use]
mod fmt;

pub mod apps;
pub mod broker;
pub mod events;
pub mod frames;
pub mod inspect;
pub mod msg;
pub mod pattern;
pub mod region;
pub mod ring;
pub mod segment;
pub mod serial;
pub mod sync;
pub mod zmtp;
