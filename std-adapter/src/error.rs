//! The std adapter's error type.

use std::fmt;
use std::io;

use ringwire_core::frames::FrameError;

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
    /// A peer or a shared segment sent bytes that break the protocol (which rule: the
    /// [`ProtocolError`]).
    Protocol(ProtocolError),
    /// A shared-memory segment could not be created or opened.
    Segment(ringwire_platform::SegmentError),
    /// A brokered request failed ([`crate::broker`]; its kind: [`crate::broker::ErrorKind`]).
    Broker(crate::broker::BrokerError),
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
            Error::Broker(e) => e.fmt(f),
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
            Error::Protocol(e) => Some(e),
            Error::Broker(e) => Some(e),
            _ => None,
        }
    }
}

/// Which protocol rule a peer, a shared segment or a ring broke.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A shared-memory message's frames break the multipart layout.
    Frame(FrameError),
    /// A shared-memory REQ/REP message does not start with its request-id frame.
    MissingRequestId,
    /// A ring's slot or sequence is corrupt (`endpoint` names the segment).
    CorruptRing {
        /// The endpoint, `shm://name`.
        endpoint: String,
        /// What the ring reported.
        error: ringwire_core::ring::RecvError,
    },
    /// A ring refused a send for a reason other than being full or the message too large.
    RingSend(ringwire_core::ring::SendError),
    /// A segment's rings could not be laid out.
    Create(ringwire_core::segment::CreateError),
    /// A ring end could not be claimed.
    Claim(ringwire_core::segment::ClaimError),
    /// An existing segment does not fit the pattern or layout asked for.
    Open {
        /// The endpoint, `shm://name`.
        endpoint: String,
        /// The pattern the socket expected (`PUB/SUB`, ...).
        pattern: &'static str,
        /// Why it does not fit (boxed: a type mismatch carries both type names, and every
        /// `Result` of the crate would otherwise grow by them).
        error: Box<ringwire_core::segment::OpenError>,
    },
    /// A segment exists under the name but is not a ringwire segment (corrupt header).
    ForeignSegment {
        /// The endpoint, `shm://name`.
        endpoint: String,
    },
    /// A segment exists under the name but could not be inspected.
    Uninspectable {
        /// The endpoint, `shm://name`.
        endpoint: String,
        /// What inspecting it reported.
        detail: String,
    },
    /// A message could not be framed for a serial link.
    SerialFrame(ringwire_core::serial::EncodeError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Frame(e) => write!(f, "corrupt shm message: {e}"),
            ProtocolError::MissingRequestId => {
                f.write_str("corrupt shm message: missing request-id frame")
            }
            ProtocolError::CorruptRing { endpoint, error } => {
                write!(f, "{endpoint}: ring is corrupt ({error})")
            }
            ProtocolError::RingSend(e) => write!(f, "shm ring: {e}"),
            ProtocolError::Create(e) => write!(f, "cannot lay out the segment: {e}"),
            ProtocolError::Claim(e) => write!(f, "cannot claim the ring: {e}"),
            ProtocolError::Open {
                endpoint,
                pattern,
                error,
            } => write!(
                f,
                "{endpoint} cannot be used as a {pattern} segment: {error}"
            ),
            ProtocolError::ForeignSegment { endpoint } => write!(
                f,
                "{endpoint} exists but is not a ringwire segment (corrupt header); \
                 remove it with `ringwire clean` or pick another name"
            ),
            ProtocolError::Uninspectable { endpoint, detail } => {
                write!(f, "{endpoint} exists and cannot be inspected: {detail}")
            }
            ProtocolError::SerialFrame(e) => write!(f, "cannot frame message: {e}"),
        }
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtocolError::Frame(e) => Some(e),
            ProtocolError::CorruptRing { error, .. } => Some(error),
            ProtocolError::RingSend(e) => Some(e),
            ProtocolError::Create(e) => Some(e),
            ProtocolError::Claim(e) => Some(e),
            ProtocolError::Open { error, .. } => Some(error.as_ref()),
            ProtocolError::SerialFrame(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<FrameError> for Error {
    fn from(e: FrameError) -> Self {
        Error::Protocol(ProtocolError::Frame(e))
    }
}

impl From<ringwire_core::frames::EncodeError> for Error {
    fn from(e: ringwire_core::frames::EncodeError) -> Self {
        use ringwire_core::frames::EncodeError as E;
        match e {
            E::TooLarge { size, limit } => Error::TooLarge { size, limit },
            E::NoFrames => Error::State("a message needs at least one frame"),
            _ => Error::State("cannot encode the frames"),
        }
    }
}

impl From<ringwire_core::pattern::req::StateError> for Error {
    fn from(e: ringwire_core::pattern::req::StateError) -> Self {
        Error::State(e.0)
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

/// For a module's error type with a `Socket(crate::Error)` variant (the applications' and the
/// event service's): `std::error::Error` with the socket's error as the source, and
/// `From<crate::Error>` into that variant.
macro_rules! wraps_socket_error {
    ($t:ident) => {
        impl std::error::Error for $t {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $t::Socket(e) => Some(e),
                    _ => None,
                }
            }
        }

        impl From<crate::Error> for $t {
            fn from(e: crate::Error) -> Self {
                $t::Socket(e)
            }
        }
    };
}
pub(crate) use wraps_socket_error;
