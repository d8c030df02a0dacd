//! ringwire firmware example for a Cortex-M4 (QEMU's `mps2-an386` board).
//!
//! It publishes a counter and a simulated IMU reading as COBS + CRC-32C frames
//! (`ringwire_core::serial`) over UART0 at a fixed rate, and takes commands as frames from
//! the same UART: set the rate, ping, set the LED, shut down (which ends QEMU through
//! semihosting, so tests end cleanly). Every command is acknowledged with an `Ack` frame.
//!
//! Data flow, inbound: UART RX interrupt → embassy-sync `Pipe` → main loop → `serial::Decoder`
//! → command handler → `serial::Encoder` → UART TX (acks). Outbound: the sampling step
//! publishes each reading as `[topic u16 LE | postcard]` into ringwire-core's broadcast ring,
//! which lives in a `static` region (`LocalRegion`), with a zero-copy loan; the link step reads
//! the ring with its own cursor and frames what it finds onto the UART. Other consumers (a
//! logger, a controller) could attach readers to the same ring. SysTick gives a millisecond
//! clock that paces the publishing. Logs go to the host through semihosting. The message types are in
//! `proto.rs`, shared with the host-side check program.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod irq;
mod proto;
mod uart;

use core::sync::atomic::Ordering;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use ringwire_core::msg;
use ringwire_core::region::{LocalRegion, Region};
use ringwire_core::ring::RecvError;
use ringwire_core::ring::broadcast::{Broadcast, Start, Writer};
use ringwire_core::segment::{Creator, RingConfig};
use ringwire_core::serial::{Decoder, Encoder, Frame, FrameKind, max_wire_len};
use serde::Serialize;

use proto::*;

/// The largest raw frame either side sends (header + payload + CRC).
const FRAME: usize = 128;
/// UART baud rate (QEMU ignores it, real hardware would not).
const BAUD: u32 = 115_200;
/// Publish rate at boot.
const DEFAULT_RATE_HZ: u16 = 20;

/// The telemetry ring: 8 slots of 96 bytes, each `[topic u16 LE | postcard payload]`.
const RING: RingConfig = RingConfig::new(96, 8, "ringwire-firmware::Telemetry/1");
const RING_BYTES: usize = match RING.required_len() {
    Some(n) => n.next_multiple_of(64),
    None => panic!("invalid ring configuration"),
};
/// The ring's memory: a `static`, as a shared-memory mapping would be on a host.
static RING_REGION: LocalRegion<RING_BYTES> = LocalRegion::new();

/// Publishes `value` on `topic` into the ring: encoded on the stack, then copied into the slot
/// with word-sized atomic stores (a broadcast slot may be read by a racing reader, so the ring
/// never lends it out as `&mut [u8]`; `Loan::write_at` does the same for in-place writers).
fn publish<R: Region, T: Serialize>(writer: &mut Writer<'_, R>, topic: u16, value: &T) {
    let mut buf = [0u8; RING.slot_size as usize];
    buf[..2].copy_from_slice(&topic.to_le_bytes());
    match msg::encode_into(value, &mut buf[2..]) {
        // Nobody waits on the event word on this single-threaded firmware: ignore the Notify.
        Ok(n) => match writer.try_send(&buf[..2 + n]) {
            Ok(_notify) => {}
            Err(e) => hprintln!("fw: ring send failed: {}", e),
        },
        Err(e) => hprintln!("fw: cannot encode topic {}: {}", topic, e),
    }
}

struct App {
    rate_hz: u16,
    led: bool,
    count: u32,
    enc: Encoder<FRAME>,
    wire: [u8; max_wire_len(FRAME)],
}

impl App {
    fn send<T: Serialize>(&mut self, kind: FrameKind, topic: u16, value: &T) {
        match self.enc.encode_msg(kind, topic, value, &mut self.wire) {
            Ok(n) => uart::write_all(&self.wire[..n]),
            Err(e) => hprintln!("fw: cannot encode frame on topic {}: {}", topic, e),
        }
    }

    fn send_raw(&mut self, kind: FrameKind, topic: u16, payload: &[u8]) {
        match self.enc.encode(kind, topic, payload, &mut self.wire) {
            Ok(n) => uart::write_all(&self.wire[..n]),
            Err(e) => hprintln!("fw: cannot frame topic {}: {}", topic, e),
        }
    }

    fn ack(&mut self, topic: u16, cmd_seq: u16, status: u8, value: u32) {
        let ack = Ack {
            cmd_seq,
            status,
            value,
        };
        self.send(FrameKind::Ack, topic, &ack);
    }

    fn on_frame(&mut self, frame: &Frame<'_>) {
        if frame.header.kind != FrameKind::Command {
            return;
        }
        let topic = frame.header.topic;
        let seq = frame.header.seq;
        let (status, value) = match topic {
            CMD_SET_RATE => match frame.decode::<SetRate>() {
                Ok(SetRate { hz }) if (1..=200).contains(&hz) => {
                    self.rate_hz = hz;
                    (STATUS_OK, u32::from(hz))
                }
                Ok(_) => (STATUS_OUT_OF_RANGE, u32::from(self.rate_hz)),
                Err(_) => (STATUS_BAD_PAYLOAD, 0),
            },
            CMD_PING => match frame.decode::<Ping>() {
                Ok(Ping { token }) => (STATUS_OK, token),
                Err(_) => (STATUS_BAD_PAYLOAD, 0),
            },
            CMD_SET_LED => match frame.decode::<SetLed>() {
                Ok(SetLed { on }) => {
                    self.led = on;
                    (STATUS_OK, u32::from(on))
                }
                Err(_) => (STATUS_BAD_PAYLOAD, 0),
            },
            CMD_SHUTDOWN => match frame.decode::<Shutdown>() {
                Ok(Shutdown { code }) => {
                    self.ack(topic, seq, STATUS_OK, u32::from(code));
                    uart::flush();
                    hprintln!("fw: shutdown requested, exit code {}", code);
                    debug::exit(if code == 0 {
                        debug::EXIT_SUCCESS
                    } else {
                        debug::EXIT_FAILURE
                    });
                    (STATUS_OK, u32::from(code))
                }
                Err(_) => (STATUS_BAD_PAYLOAD, 0),
            },
            _ => (STATUS_UNKNOWN, 0),
        };
        self.ack(topic, seq, status, value);
    }
}

/// A triangle wave in [-1, 1] with a period of `period_ms` (no libm needed).
fn triangle(t_ms: u32, period_ms: u32) -> f32 {
    let phase = (t_ms % period_ms) as f32 / period_ms as f32;
    if phase < 0.5 {
        4.0 * phase - 1.0
    } else {
        3.0 - 4.0 * phase
    }
}

fn imu_reading(t_ms: u32) -> Imu {
    Imu {
        t_ms,
        accel: [
            0.2 * triangle(t_ms, 2000),
            -0.1 * triangle(t_ms, 3000),
            9.81,
        ],
        gyro: [0.01 * triangle(t_ms, 1000), 0.0, 0.5 * triangle(t_ms, 4000)],
    }
}

#[entry]
fn main() -> ! {
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(uart::CLOCK_HZ / 1000 - 1);
    cp.SYST.clear_current();
    cp.SYST.enable_interrupt();
    cp.SYST.enable_counter();
    uart::init(BAUD);
    irq::enable_uart_rx();
    hprintln!("fw: ringwire firmware up, publishing at {} Hz", DEFAULT_RATE_HZ);

    let mut app = App {
        rate_hz: DEFAULT_RATE_HZ,
        led: false,
        count: 0,
        enc: Encoder::new(),
        wire: [0; max_wire_len(FRAME)],
    };
    // A leading delimiter ends whatever noise the line carried before each frame.
    app.enc.set_leading_delimiter(true);
    let mut dec = Decoder::<FRAME>::new();
    let mut next_publish = 0u32;
    let mut chunk = [0u8; 64];

    let ring = match Broadcast::create(&RING_REGION, RING, Creator::default()) {
        Ok(ring) => ring,
        Err(e) => panic!("cannot create the telemetry ring: {}", e),
    };
    let mut writer = match ring.writer(1) {
        Ok(w) => w,
        Err(e) => panic!("cannot claim the ring's writer: {}", e),
    };
    let mut link_reader = ring.reader(Start::Next);
    let mut slot_copy = [0u8; 96];

    loop {
        while let Ok(n) = irq::RX_PIPE.try_read(&mut chunk) {
            let mut input = &chunk[..n];
            while !input.is_empty() {
                let (used, event) = dec.feed(input);
                input = &input[used..];
                if let Some(Ok(frame)) = event {
                    app.on_frame(&frame);
                }
            }
        }

        let now = irq::MILLIS.load(Ordering::Relaxed);
        if now.wrapping_sub(next_publish) < u32::MAX / 2 {
            next_publish = now.wrapping_add(1000 / u32::from(app.rate_hz.max(1)));
            app.count = app.count.wrapping_add(1);
            let stats = dec.stats();
            let counter = Counter {
                count: app.count,
                rate_hz: app.rate_hz,
                led: app.led,
                rx_frames: stats.frames,
                rx_errors: stats.resyncs,
                rx_crc_errors: stats.crc_errors,
                rx_lost: stats.seq.lost,
                ring_published: writer.head() as u32,
            };
            publish(&mut writer, TOPIC_COUNTER, &counter);
            publish(&mut writer, TOPIC_IMU, &imu_reading(now));
        }

        // The link step: frame every message the ring holds for this reader onto the UART.
        loop {
            match link_reader.try_recv(&mut slot_copy) {
                Ok(len) if len >= 2 => {
                    let topic = u16::from_le_bytes([slot_copy[0], slot_copy[1]]);
                    app.send_raw(FrameKind::Publish, topic, &slot_copy[2..len]);
                }
                Ok(_) => hprintln!("fw: short ring message"),
                Err(RecvError::Empty) => break,
                Err(RecvError::Lagged(n)) => hprintln!("fw: link lagged, {} messages lost", n),
                Err(e) => {
                    hprintln!("fw: ring read failed: {}", e);
                    break;
                }
            }
        }
        // Sleep until the next interrupt (SysTick at 1 kHz or a received byte).
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hprintln!("fw: panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
