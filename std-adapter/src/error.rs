//! The std adapter's error type.

use std::fmt;
use std::io;

/// Result with ringwire's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a socket operation.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string is malformed.
    Endpoint(crate::endpoint::EndpointError),
    /// An operating-system call failed.
    Io(io::Error),
    /// No message arrived (or none could be sent) before the deadline.
    Timeout,
    /// A non-blocking call found nothing to do right now.
    WouldBlock,
    /// The peer or the segment went away and the socket cannot continue.
    Disconnected,
    /// The operation does not fit the socket's state (e.g. REQ sending twice).
    State(&'static str),
    /// The operation is not available on this transport or socket type.
    Unsupported(&'static str),
    /// A message is larger than the transport's limit.
    TooLarge {
        /// Size of the message in bytes.
        size: usize,
        /// The largest size allowed.
        limit: usize,
    },
    /// A typed message could not be encoded.
    Encode(ringwire_core::msg::EncodeError),
    /// Received bytes could not be decoded into the requested type.
    Decode(ringwire_core::msg::DecodeError),
    /// A peer or a shared segment sent bytes that break the protocol.
    Protocol(String),
    /// A shared-memory segment could not be created or opened.
    Segment(ringwire_platform::SegmentError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Endpoint(e) => e.fmt(f),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Timeout => f.write_str("timed out"),
            Error::WouldBlock => f.write_str("operation would block"),
            Error::Disconnected => f.write_str("peer disconnected"),
            Error::State(s) => write!(f, "invalid socket state: {s}"),
            Error::Unsupported(s) => write!(f, "unsupported: {s}"),
            Error::TooLarge { size, limit } => {
                write!(f, "message of {size} bytes exceeds the limit of {limit}")
            }
            Error::Encode(e) => write!(f, "cannot encode message: {e}"),
            Error::Decode(e) => write!(f, "cannot decode message: {e}"),
            Error::Protocol(s) => write!(f, "protocol error: {s}"),
            Error::Segment(e) => write!(f, "shared memory: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Endpoint(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Encode(e) => Some(e),
            Error::Decode(e) => Some(e),
            Error::Segment(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<crate::endpoint::EndpointError> for Error {
    fn from(e: crate::endpoint::EndpointError) -> Self {
        Error::Endpoint(e)
    }
}

impl From<ringwire_core::msg::EncodeError> for Error {
    fn from(e: ringwire_core::msg::EncodeError) -> Self {
        Error::Encode(e)
    }
}

impl From<ringwire_core::msg::DecodeError> for Error {
    fn from(e: ringwire_core::msg::DecodeError) -> Self {
        Error::Decode(e)
    }
}

impl From<ringwire_platform::SegmentError> for Error {
    fn from(e: ringwire_platform::SegmentError) -> Self {
        Error::Segment(e)
    }
}
