//! A tiny driver for UART0 of the MPS2 AN385/AN386 board: an Arm CMSDK APB UART.
//!
//! Registers (Arm Cortex-M System Design Kit Technical Reference Manual, "APB UART"; QEMU
//! models them in `hw/char/cmsdk-apb-uart.c`), base `0x4000_4000`, all 32-bit:
//!
//! | offset | name               | bits used                                                   |
//! |--------|--------------------|-------------------------------------------------------------|
//! | 0x000  | DATA               | [7:0] write: byte to send; read: byte received              |
//! | 0x004  | STATE              | 0 TX buffer full, 1 RX buffer full, 2 TX overrun, 3 RX overrun (write 1 clears the overruns) |
//! | 0x008  | CTRL               | 0 TX enable, 1 RX enable, 2 TX irq enable, 3 RX irq enable, 4 TX overrun irq, 5 RX overrun irq |
//! | 0x00C  | INTSTATUS/INTCLEAR | 0 TX, 1 RX, 2 TX overrun, 3 RX overrun (write 1 clears)     |
//! | 0x010  | BAUDDIV            | [19:0] clock / baud, at least 16                            |
//!
//! On the AN385/AN386 board UART0's RX interrupt is NVIC line 0 and its TX interrupt line 1
//! (QEMU `hw/arm/mps2.c`); the board clock is 25 MHz. Both buffers hold one byte.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const INTCLEAR: usize = BASE + 0x0C;
const BAUDDIV: usize = BASE + 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const STATE_RX_OVERRUN: u32 = 1 << 3;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_IRQ_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// NVIC line of UART0's RX interrupt.
pub const RX_IRQ: u16 = 0;
/// The board's peripheral clock.
pub const CLOCK_HZ: u32 = 25_000_000;

fn read(reg: usize) -> u32 {
    // SAFETY: `reg` is one of the UART0 register addresses above, which the board maps as
    // device memory for the whole run; a volatile 32-bit read of them has no other effect
    // than the documented one.
    unsafe { read_volatile(reg as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: as in `read`: a documented UART0 register, written with a 32-bit volatile store.
    unsafe { write_volatile(reg as *mut u32, value) }
}

/// Sets the baud rate, enables transmitter, receiver and the RX interrupt (the NVIC line is
/// unmasked by the caller).
pub fn init(baud: u32) {
    write(BAUDDIV, (CLOCK_HZ / baud).max(16));
    write(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_IRQ_EN);
}

/// Sends `bytes`, waiting for the one-byte TX buffer before each.
pub fn write_all(bytes: &[u8]) {
    for &b in bytes {
        while read(STATE) & STATE_TX_FULL != 0 {}
        write(DATA, u32::from(b));
    }
}

/// Takes every received byte, handing each to `sink`; returns whether an RX overrun (a byte
/// lost because the previous one was not read in time) was flagged. For the RX interrupt.
pub fn drain_rx(mut sink: impl FnMut(u8)) -> bool {
    // Clear the interrupt first: a byte arriving after the last STATE check raises it again.
    write(INTCLEAR, INT_RX);
    while read(STATE) & STATE_RX_FULL != 0 {
        sink(read(DATA) as u8);
    }
    let overrun = read(STATE) & STATE_RX_OVERRUN != 0;
    if overrun {
        write(STATE, STATE_RX_OVERRUN);
    }
    overrun
}

/// Waits until the last byte written has left the TX buffer.
pub fn flush() {
    while read(STATE) & STATE_TX_FULL != 0 {}
}
