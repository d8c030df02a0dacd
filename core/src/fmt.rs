//! Logging shim: `defmt` on firmware when the `defmt` feature is on, nothing otherwise,
//! so core code never spells `#[cfg(feature = "defmt")]` at a call site.
//! Error enums derive `defmt::Format` with
//! `#[cfg_attr(feature = "defmt", derive(defmt::Format))]`.
#![allow(unused_macros)]

macro_rules! trace {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::trace!($($arg)*);
    }};
}

macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
    }};
}
