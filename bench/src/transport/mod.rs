//! The measured transports, one module each, and the list the CLI chooses from.
//!
//! Adding a transport is one module implementing [`Transport`] and one
//! line in [`all`].

pub mod bare;
#[cfg(feature = "iceoryx2")]
pub mod iceoryx2;
#[cfg(feature = "libzmq")]
pub mod libzmq;
pub mod raw_socket;
pub mod ringwire_zmtp;

use ringwire::bench::{Transport, shm as ringwire_shm, zero_copy};

/// Every transport compiled in, in report order: the limits, then each peer followed by the
/// ringwire transport measured against it.
pub fn all() -> Vec<&'static dyn Transport> {
    #[cfg_attr(not(any(feature = "iceoryx2", feature = "libzmq")), allow(unused_mut))]
    let mut list: Vec<&'static dyn Transport> = vec![
        &bare::ATOMIC,
        &bare::RING,
        &raw_socket::Tcp,
        &raw_socket::Unix,
    ];
    #[cfg(feature = "iceoryx2")]
    list.extend([&iceoryx2::BUSY as &dyn Transport, &iceoryx2::EVENT]);
    list.extend([
        &ringwire_shm::BUSY as &dyn Transport,
        &ringwire_shm::BLOCKING,
        &ringwire_shm::ADAPTIVE,
        &zero_copy::ZERO_COPY_BUSY,
        &zero_copy::ZERO_COPY_BLOCKING,
        &zero_copy::ZERO_COPY_ADAPTIVE,
    ]);
    #[cfg(feature = "libzmq")]
    list.extend([&libzmq::TCP as &dyn Transport, &libzmq::IPC]);
    list.extend([&ringwire_zmtp::TCP as &dyn Transport, &ringwire_zmtp::IPC]);
    list
}
