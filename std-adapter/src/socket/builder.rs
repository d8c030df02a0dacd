//! [`SocketBuilder`]: options for the transport-neutral sockets.
//!
//! A few options mean the same thing on both transports (how many messages may queue, the
//! largest message, how long a send may wait, the message type); the builder applies them to
//! whichever transport the endpoint picks. Everything else is set on the transport's own
//! option struct, passed whole with [`shm`](SocketBuilder::shm) or
//! [`zmtp`](SocketBuilder::zmtp); the common options win over the same fields there.
//!
//! [`message_type`](SocketBuilder::message_type) names the message type in an shm segment, so
//! that two programs that disagree on it fail at connect.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringwire::{Publisher, shm::ShmOptions};
//!
//! let publisher = Publisher::builder()
//!     .queue_depth(256)
//!     .max_message_size(64 * 1024)
//!     .history(8)
//!     .shm(ShmOptions::new().unlink_on_drop(false))
//!     .bind("shm://camera")?;
//! # Ok::<(), ringwire::Error>(())
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use super::{Transport, transport_of};
use crate::error::Result;
use crate::shm::{FullPolicy, ShmOptions, ShmSocket, WaitMode};
use crate::zmtp::{self, ZmtpSocket};

pub(crate) mod sealed {
    /// Only this crate's socket types are [`Socket`](super::Socket)s.
    pub trait Sealed {}
}

/// A transport-neutral socket type that a [`SocketBuilder`] builds (sealed): the six role
/// types of [`crate::socket`].
pub trait Socket: sealed::Sealed + From<Self::Shm> + From<Self::Zmtp> {
    /// Its shared-memory socket.
    type Shm: ShmSocket;
    /// Its ZMTP socket.
    type Zmtp: ZmtpSocket;

    /// The ZMTP socket, if this socket runs on tcp/ipc/inproc (the role's `as_zmtp`, for
    /// code generic over roles).
    fn zmtp_mut(&mut self) -> Option<&mut Self::Zmtp>;
}

/// What a second frame (a topic) costs in an shm slot beyond `ShmOptions::slot_size`, which
/// already covers one frame: its 8-byte header and padding to 8.
const SHM_FRAMING: usize = 8 + 7;

/// Options of a transport-neutral socket, returned by `Publisher::builder()` and the other
/// roles' `builder()`: set options, then [`bind`](Self::bind) or [`connect`](Self::connect).
#[derive(Debug, Clone)]
#[must_use]
pub struct SocketBuilder<S> {
    shm: ShmOptions,
    zmtp: zmtp::Options,
    queue_depth: Option<usize>,
    max_message_size: Option<usize>,
    send_timeout: Option<Duration>,
    linger: Option<Duration>,
    history: Option<usize>,
    wait: Option<WaitMode>,
    message_type: Option<String>,
    _socket: PhantomData<fn() -> S>,
}

impl<S: Socket> Default for SocketBuilder<S> {
    fn default() -> Self {
        Self {
            shm: ShmOptions::default(),
            zmtp: zmtp::Options::default(),
            queue_depth: None,
            max_message_size: None,
            send_timeout: None,
            linger: None,
            history: None,
            wait: None,
            message_type: None,
            _socket: PhantomData,
        }
    }
}

impl<S: Socket> SocketBuilder<S> {
    /// A builder with every transport's default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many messages may queue: on shm the ring's slot count (rounded up to a power of
    /// two; per direction for REQ/REP), on sockets the send and receive high-water marks
    /// (`ZMQ_SNDHWM`, `ZMQ_RCVHWM`, per peer).
    pub fn queue_depth(mut self, messages: usize) -> Self {
        self.queue_depth = Some(messages);
        self
    }

    /// The largest message, in bytes of its frames together, of up to two frames (a topic
    /// and a body). On shm it sizes the slots of a segment this socket creates so that such
    /// a message always fits (the slot also holds the frame headers, so a slightly larger
    /// single-frame message may fit too; a send that does not fit fails with
    /// `Error::TooLarge`; a connecting socket uses the creator's size). On sockets it is the
    /// largest message accepted from a peer (a larger one closes that connection).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// How long a send may wait for room before failing with `Error::Timeout` (zero: not
    /// at all). On shm it is [`FullPolicy::BlockFor`] (a publisher never waits: slow
    /// subscribers lose messages instead); on sockets the send timeout. The default waits as
    /// long as it takes.
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = Some(timeout);
        self
    }

    /// Sockets: how long dropping the socket keeps writing what is queued (`ZMQ_LINGER`).
    /// On shm a sent message is in the shared segment at once, so there is nothing to wait
    /// for; this option does not apply there.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = Some(linger);
        self
    }

    /// shm PUB/SUB: how many of the latest messages a subscriber that connects late still
    /// gets: the subscriber's request, capped by what the ring holds (a creating side also
    /// makes the ring at least this big; see `ShmOptions::history`). ZMTP publishers keep no history
    /// (as libzmq's do not); this option does not apply there.
    pub fn history(mut self, messages: usize) -> Self {
        self.history = Some(messages);
        self
    }

    /// shm: how a blocked call waits (spin, sleep, or spin then sleep). ZMTP sockets always
    /// sleep in `poll(2)`; this option does not apply there.
    pub fn wait(mut self, mode: WaitMode) -> Self {
        self.wait = Some(mode);
        self
    }

    /// Names the message type `T` this socket carries, as [`std::any::type_name`] spells it
    /// (the same in programs that share the crate defining `T`; for a name you version
    /// yourself use [`message_type_named`](Self::message_type_named)).
    ///
    /// On shm the name goes into the segment header, so two programs that disagree on the type
    /// fail at connect with "segment carries message type `X`, expected `Y`" instead of failing
    /// to decode. The rule: a typed socket opens segments of its own type and untyped ones; an
    /// untyped socket (the default, e.g. one that sends and receives bytes) creates untyped
    /// segments and opens segments of any type. ZMTP carries no type information, so on
    /// sockets this option does not apply.
    pub fn message_type<T: ?Sized>(self) -> Self {
        self.message_type_named(std::any::type_name::<T>())
    }

    /// Names the message type by `name` (e.g. `"robot.Pose/2"`); see
    /// [`message_type`](Self::message_type).
    pub fn message_type_named(mut self, name: impl Into<String>) -> Self {
        self.message_type = Some(name.into());
        self
    }

    /// Every shm option at once, used when the endpoint is `shm://` (the common options
    /// above override their fields).
    pub fn shm(mut self, options: ShmOptions) -> Self {
        self.shm = options;
        self
    }

    /// Every ZMTP option at once, used when the endpoint is `tcp://` or `ipc://` (the common
    /// options above override their fields).
    pub fn zmtp(mut self, options: zmtp::Options) -> Self {
        self.zmtp = options;
        self
    }

    /// The shm options this builder binds or connects with.
    pub fn shm_options(&self) -> ShmOptions {
        let mut o = self.shm.clone();
        if let Some(n) = self.queue_depth {
            o.slot_count = Some(n);
        }
        if let Some(n) = self.max_message_size {
            o.slot_size = n.saturating_add(SHM_FRAMING);
        }
        if let Some(t) = self.send_timeout {
            o.full = FullPolicy::BlockFor(t);
        }
        if let Some(n) = self.history {
            o.history = n;
        }
        if let Some(w) = self.wait {
            o.wait = w;
        }
        if let Some(t) = &self.message_type {
            o.message_type = Some(t.clone());
        }
        o
    }

    /// The ZMTP options this builder binds or connects with.
    pub fn zmtp_options(&self) -> zmtp::Options {
        let mut o = self.zmtp.clone();
        if let Some(n) = self.queue_depth {
            o.send_hwm = n;
            o.recv_hwm = n;
        }
        if let Some(n) = self.max_message_size {
            let n = u64::try_from(n).unwrap_or(u64::MAX);
            o.limits.max_message = n;
            o.limits.max_frame = n;
        }
        if let Some(t) = self.send_timeout {
            o.send_timeout = Some(t);
        }
        if let Some(l) = self.linger {
            o.linger = l;
        }
        o
    }

    /// Binds `endpoint` with these options (creates the segment on `shm://`, listens on
    /// sockets).
    pub fn bind(self, endpoint: &str) -> Result<S> {
        Ok(match transport_of(endpoint)? {
            Transport::Shm => S::from(S::Shm::bind_with(endpoint, self.shm_options())?),
            Transport::Zmtp => S::from(
                zmtp::Builder::<S::Zmtp>::new()
                    .options(self.zmtp_options())
                    .bind(endpoint)?,
            ),
        })
    }

    /// Connects to `endpoint` with these options (opens the segment on `shm://`, waiting up
    /// to the shm `connect_timeout` for its creator; sockets connect in the background).
    pub fn connect(self, endpoint: &str) -> Result<S> {
        Ok(match transport_of(endpoint)? {
            Transport::Shm => S::from(S::Shm::connect_with(endpoint, self.shm_options())?),
            Transport::Zmtp => S::from(
                zmtp::Builder::<S::Zmtp>::new()
                    .options(self.zmtp_options())
                    .connect(endpoint)?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::socket::{Publisher, Puller, Pusher, Replier, Requester, Subscriber};

    #[test]
    fn common_options_reach_both_transports() {
        let b = Publisher::builder()
            .shm(
                ShmOptions::new()
                    .slot_size(1)
                    .history(1)
                    .unlink_on_drop(false),
            )
            .queue_depth(16)
            .max_message_size(1000)
            .send_timeout(Duration::from_millis(5))
            .linger(Duration::from_millis(7))
            .history(3)
            .wait(WaitMode::BusyPoll);
        let shm = b.shm_options();
        assert_eq!(shm.slot_count, Some(16));
        assert_eq!(shm.slot_size, 1000 + SHM_FRAMING);
        assert_eq!(shm.full, FullPolicy::BlockFor(Duration::from_millis(5)));
        assert_eq!(shm.history, 3);
        assert_eq!(shm.wait, WaitMode::BusyPoll);
        assert!(!shm.unlink_on_drop, "the shm options' own fields stay");
        let z = b.zmtp_options();
        assert_eq!((z.send_hwm, z.recv_hwm), (16, 16));
        assert_eq!((z.limits.max_message, z.limits.max_frame), (1000, 1000));
        assert_eq!(z.send_timeout, Some(Duration::from_millis(5)));
        assert_eq!(z.linger, Duration::from_millis(7));
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Pose {
        x: f32,
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Twist {
        v: f64,
        w: f64,
    }

    /// Typed segments: disagreeing types fail at connect with both names; the same type and
    /// an untyped side on either end work.
    #[test]
    fn typed_segments_refuse_another_type_at_connect() {
        let unique = super::super::tests::unique;
        let timeout = Duration::from_secs(10);
        let ep = format!("shm://{}", unique("typed"));
        let mut publisher = Publisher::builder()
            .message_type::<Pose>()
            .bind(&ep)
            .unwrap();
        let err = Subscriber::builder()
            .message_type::<Twist>()
            .connect(&ep)
            .unwrap_err()
            .to_string();
        let (pose, twist) = (
            std::any::type_name::<Pose>(),
            std::any::type_name::<Twist>(),
        );
        assert!(
            err.contains(&format!(
                "segment carries message type `{pose}`, expected `{twist}`"
            )),
            "{err}"
        );
        let mut same = Subscriber::builder()
            .message_type::<Pose>()
            .connect(&ep)
            .unwrap();
        let mut untyped = Subscriber::connect(&ep).unwrap();
        same.subscribe(b"").unwrap();
        untyped.subscribe(b"").unwrap();
        publisher.send(&Pose { x: 1.5 }).unwrap();
        assert_eq!(same.recv_timeout::<Pose>(timeout).unwrap(), Pose { x: 1.5 });
        assert_eq!(
            untyped.recv_timeout::<Pose>(timeout).unwrap(),
            Pose { x: 1.5 }
        );

        // An untyped creator's segment suits a typed opener too.
        let ep = format!("shm://{}", unique("untyped"));
        let mut pusher = Pusher::bind(&ep).unwrap();
        let mut puller = Puller::builder()
            .message_type::<Pose>()
            .connect(&ep)
            .unwrap();
        pusher.send(&Pose { x: 2.0 }).unwrap();
        assert_eq!(
            puller.recv_timeout::<Pose>(timeout).unwrap(),
            Pose { x: 2.0 }
        );

        // Names are per pattern and compared in full, not by their header copy.
        let ep = format!("shm://{}", unique("named"));
        let _rep = Replier::builder()
            .message_type_named("nav.Plan/1")
            .bind(&ep)
            .unwrap();
        let err = Requester::builder()
            .message_type_named("nav.Plan/2")
            .connect(&ep)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("carries message type `nav.Plan/1`, expected `nav.Plan/2`"),
            "{err}"
        );
        Requester::builder()
            .message_type_named("nav.Plan/1")
            .connect(&ep)
            .unwrap();
    }

    #[test]
    fn builder_options_shape_an_shm_socket() {
        let unique = super::super::tests::unique;
        let ep = format!("shm://{}", unique("builder-push"));
        let mut pusher = Pusher::builder()
            .queue_depth(2)
            .send_timeout(Duration::ZERO)
            .bind(&ep)
            .unwrap();
        pusher.send_bytes(b"one").unwrap();
        pusher.send_bytes(b"two").unwrap();
        assert!(
            matches!(pusher.send_bytes(b"three"), Err(Error::Timeout)),
            "a queue of depth 2 is full after two messages"
        );
        let ep = format!("shm://{}", unique("builder-pub"));
        let mut publisher = Publisher::builder()
            .max_message_size(100)
            .bind(&ep)
            .unwrap();
        publisher.send_multipart(&[b"topic", &[7; 95]]).unwrap();
        let ep = format!(
            "ipc://{}/{}.sock",
            std::env::temp_dir().display(),
            unique("builder")
        );
        let mut puller = Puller::builder().queue_depth(4).bind(&ep).unwrap();
        let mut pusher = Pusher::builder()
            .linger(Duration::ZERO)
            .connect(&ep)
            .unwrap();
        pusher.send_bytes(b"over ipc").unwrap();
        let got = puller.recv_bytes_timeout(Duration::from_secs(10));
        assert_eq!(got.unwrap(), b"over ipc");
        assert!(matches!(
            publisher.send_bytes(&[0; 200]),
            Err(Error::TooLarge { .. })
        ));
    }
}
