//! Serial links to microcontrollers: the host end of `ringwire_core::serial` framing.
//!
//! A [`Bridge`] reads COBS + CRC-32C frames from any `Read + Write` byte stream (a UART
//! adapter or pty opened by [`open_link`] in raw mode, a TCP stream to QEMU's emulated UART),
//! hands each frame to a [`FrameSink`] (a closure, or something that republishes on shm or
//! tcp topics), sends frames back (commands), and counts what the line did to the bytes:
//! CRC failures, resyncs, frames lost according to the firmware's sequence numbers
//! ([`BridgeStats`]). [`run_bridge`] is the loop behind `ringwire bridge --serial PATH --to EP`,
//! and [`bridge_to_endpoint`] the whole command, republishing through a [`PubSink`] on
//! `shm://`, `tcp://` or `ipc://`.
//! The frame format is in `docs/serial-framing.md`.
//!
//! ```
//! use ringwire::serial::{Bridge, FrameKind};
//! use std::io::Cursor;
//!
//! // One frame as the firmware would send it: Publish, topic 1, seq 0, payload [7].
//! let mut enc = ringwire_core::serial::Encoder::<64>::new();
//! let mut wire = [0u8; 80];
//! let n = enc.encode(FrameKind::Publish, 1, &[7], &mut wire).unwrap();
//!
//! let mut bridge = Bridge::new(Cursor::new(wire[..n].to_vec()));
//! let mut got = Vec::new();
//! bridge.poll(&mut |f: &ringwire_core::serial::Frame<'_>| {
//!     got.push((f.header.topic, f.payload.to_vec()));
//!     Ok(())
//! }).unwrap();
//! assert_eq!(got, vec![(1, vec![7])]);
//! assert_eq!(bridge.stats().frames_in(), 1);
//! ```

mod bridge;
mod link;
mod publish;
mod run;

pub use bridge::{Bridge, BridgeStats, FrameSink, MAX_FRAME};
pub use link::{Link, READ_TIMEOUT, open_link};
pub use publish::{PubSink, bridge_to_endpoint};
pub use ringwire_core::serial::{Frame, FrameKind, Header};
pub use run::{CommandSource, Outgoing, PrintSink, SubscriberCommands, run_bridge};

#[cfg(test)]
mod tests;
