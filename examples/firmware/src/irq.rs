//! Interrupt wiring: the UART RX interrupt hands bytes to the main loop through an
//! embassy-sync [`Pipe`], and SysTick counts milliseconds.
//!
//! The board crate-less setup uses cortex-m-rt without a device crate: every device interrupt
//! lands in `DefaultHandler` with its NVIC number, and we dispatch on it. The pipe is guarded
//! by a `CriticalSectionRawMutex`; `cortex-m`'s `critical-section-single-core` feature
//! implements critical sections by masking interrupts, which is sound on this single-core
//! part.
#![allow(unsafe_code)]

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use cortex_m_rt::exception;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::pipe::Pipe;

use crate::uart;

/// Bytes received by the UART, waiting for the main loop.
pub static RX_PIPE: Pipe<CriticalSectionRawMutex, 256> = Pipe::new();
/// Bytes the RX interrupt had to drop because the pipe was full, plus UART overruns.
pub static RX_DROPPED: AtomicU32 = AtomicU32::new(0);
/// Milliseconds since SysTick was started.
pub static MILLIS: AtomicU32 = AtomicU32::new(0);

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: `number` returns a line number that exists on this board's NVIC (the UART0 RX line,
// 0), as the trait requires.
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Unmasks UART0's RX interrupt in the NVIC.
pub fn enable_uart_rx() {
    // SAFETY: unmasking can break a critical section based on masking that line only; this
    // program's critical sections mask all interrupts (single-core impl), and the handler only
    // touches the pipe (through its own critical section) and atomics.
    unsafe { NVIC::unmask(Irq(uart::RX_IRQ)) }
}

#[exception]
fn SysTick() {
    // Only this handler writes MILLIS; the main loop reads it. Relaxed: no other data hangs on it.
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == uart::RX_IRQ as i16 {
        let overrun = uart::drain_rx(|b| {
            if RX_PIPE.try_write(&[b]).is_err() {
                RX_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        });
        if overrun {
            RX_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}
