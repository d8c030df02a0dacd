//! The example's application protocol: topic ids and postcard payload types.
//!
//! Shared word for word by the firmware (`mod proto;`) and the host-side check program
//! (`#[path = ".../proto.rs"] mod proto;`), so both ends agree on the wire types without a
//! crate of their own. The table is also in `docs/serial-framing.md`.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

/// Firmware → host, `Publish`: a counter and the firmware's own link statistics.
pub const TOPIC_COUNTER: u16 = 1;
/// Firmware → host, `Publish`: a simulated IMU reading.
pub const TOPIC_IMU: u16 = 2;
/// Host → firmware, `Command`: change the publish rate.
pub const CMD_SET_RATE: u16 = 0x10;
/// Host → firmware, `Command`: answer with the token.
pub const CMD_PING: u16 = 0x11;
/// Host → firmware, `Command`: switch the (simulated) LED.
pub const CMD_SET_LED: u16 = 0x12;
/// Host → firmware, `Command`: acknowledge, then end QEMU with the given exit code.
pub const CMD_SHUTDOWN: u16 = 0x13;

/// Ack status: done.
pub const STATUS_OK: u8 = 0;
/// Ack status: the command's payload did not decode.
pub const STATUS_BAD_PAYLOAD: u8 = 1;
/// Ack status: unknown command topic.
pub const STATUS_UNKNOWN: u8 = 2;
/// Ack status: the argument is out of range.
pub const STATUS_OUT_OF_RANGE: u8 = 3;

/// Payload of [`TOPIC_COUNTER`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    /// Incremented per publish cycle.
    pub count: u32,
    /// The current publish rate.
    pub rate_hz: u16,
    /// The LED state.
    pub led: bool,
    /// Command frames the firmware decoded.
    pub rx_frames: u32,
    /// Frames the firmware's decoder dropped (CRC, COBS, length errors): its resyncs.
    pub rx_errors: u32,
    /// Of those, CRC failures.
    pub rx_crc_errors: u32,
    /// Host frames lost according to the sequence numbers.
    pub rx_lost: u32,
    /// Messages that went through the firmware's broadcast ring (0 when built without it).
    pub ring_published: u32,
}

/// Payload of [`TOPIC_IMU`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Imu {
    /// Milliseconds since boot.
    pub t_ms: u32,
    /// Acceleration, m/s².
    pub accel: [f32; 3],
    /// Angular rate, rad/s.
    pub gyro: [f32; 3],
}

/// Payload of [`CMD_SET_RATE`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetRate {
    /// Publish cycles per second, 1..=200.
    pub hz: u16,
}

/// Payload of [`CMD_PING`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    /// Echoed in the ack's `value`.
    pub token: u32,
}

/// Payload of [`CMD_SET_LED`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SetLed {
    /// New LED state.
    pub on: bool,
}

/// Payload of [`CMD_SHUTDOWN`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    /// 0 ends QEMU with success, anything else with failure.
    pub code: u8,
}

/// Payload of every `Ack` frame; the frame's topic is the command's topic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// Sequence number of the command frame acknowledged.
    pub cmd_seq: u16,
    /// One of the `STATUS_*` values.
    pub status: u8,
    /// Command-specific result (the ping token, the new rate, the LED state).
    pub value: u32,
}
