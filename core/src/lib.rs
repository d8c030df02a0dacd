//! `ringwire-core`: the `#![no_std]`, allocation-free heart of ringwire.
//!
//! It never calls the operating system. It is handed a memory region (a shared
//! mapping on a host, a `static` buffer on firmware), bytes to decode and the
//! current time as a number, and everything it does is deterministic:
//!
//! - [`msg`]: typed messages, postcard-encoded straight into a caller's buffer.
//! - [`zmtp`]: the ZMTP 3.1 codec (greeting, frames, commands) for ZeroMQ interop.
//! - [`pattern`]: sans-IO pattern state machines (socket types, REQ/REP, subscriptions, back-off, heartbeats).
//! - [`serial`]: COBS + CRC-32C framing of messages over byte streams (UART, USB CDC).
//!
//! Unsafe code lives only in the region and ring-slot modules; every other module
//! is `deny(unsafe_code)`.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(test)]
extern crate std;

#[macro_use]
mod fmt;

pub mod msg;
pub mod pattern;
pub mod zmtp;
pub mod serial;
