//! One socket type per role, whatever the endpoint.
//!
//! [`Publisher`], [`Subscriber`], [`Requester`], [`Replier`], [`Pusher`] and [`Puller`] pick
//! their transport from the endpoint's scheme: `shm://name` uses the shared-memory rings of
//! [`crate::shm`], `tcp://host:port` and `ipc:///path.sock` use the ZeroMQ-compatible sockets of
//! [`crate::zmtp`]. Every method behaves the same on both; what only one transport has
//! (zero-copy loans on shm, DEALER/ROUTER, monitors and several endpoints on sockets) is
//! reached through [`Publisher::as_shm`]-style accessors, or by building the transport's own
//! type with its builder and converting it with `From`.
//!
//! ```no_run
//! use std::time::Duration;
//! use ringwire::{Publisher, Subscriber};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Pose { x: f32, y: f32 }
//!
//! // The same code runs with "tcp://127.0.0.1:5556" or "ipc:///tmp/pose.sock".
//! let mut publisher = Publisher::bind("shm://robot-pose")?;
//! let mut subscriber = Subscriber::connect("shm://robot-pose")?;
//! subscriber.subscribe(b"pose")?;
//! publisher.send_on("pose", &Pose { x: 1.0, y: 2.0 })?;
//! let pose: Pose = subscriber.recv_timeout(Duration::from_secs(1))?;
//! # Ok::<(), ringwire::Error>(())
//! ```

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::{shm, zmtp};

/// Which transport a socket runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Shared memory on this machine (`shm://`).
    Shm,
    /// ZMTP 3.1 over TCP or a Unix-domain socket (`tcp://`, `ipc://`).
    Zmtp,
}

/// The transport an endpoint string asks for, or why none can serve it.
pub fn transport_of(endpoint: &str) -> Result<Transport> {
    match endpoint.parse::<Endpoint>()? {
        Endpoint::Shm(_) => Ok(Transport::Shm),
        Endpoint::Tcp { .. } | Endpoint::Ipc(_) => Ok(Transport::Zmtp),
        Endpoint::Inproc(_) => Err(Error::Unsupported(
            "inproc:// is not implemented yet; use shm:// between threads of one process",
        )),
    }
}

enum Inner<S, Z> {
    Shm(S),
    Zmtp(Z),
}

/// Runs `$body` with `$s` bound to the transport-specific socket, whichever it is.
macro_rules! each {
    ($self:ident, $s:ident => $body:expr) => {
        match &mut $self.0 {
            Inner::Shm($s) => $body,
            Inner::Zmtp($s) => $body,
        }
    };
}

macro_rules! facade {
    ($(#[$doc:meta])* $name:ident, $shm:ty, $zmtp:ty) => {
        $(#[$doc])*
        pub struct $name(Inner<$shm, $zmtp>);

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.transport()).finish()
            }
        }

        impl $name {
            /// Binds to `endpoint` (creates the segment on `shm://`, listens on sockets).
            pub fn bind(endpoint: &str) -> Result<Self> {
                Ok(Self(match transport_of(endpoint)? {
                    Transport::Shm => Inner::Shm(<$shm>::bind(endpoint)?),
                    Transport::Zmtp => Inner::Zmtp(<$zmtp>::bind(endpoint)?),
                }))
            }

            /// Connects to `endpoint` (opens the segment on `shm://`, waiting a bounded time
            /// for its creator; sockets connect in the background and retry).
            pub fn connect(endpoint: &str) -> Result<Self> {
                Ok(Self(match transport_of(endpoint)? {
                    Transport::Shm => Inner::Shm(<$shm>::connect(endpoint)?),
                    Transport::Zmtp => Inner::Zmtp(<$zmtp>::connect(endpoint)?),
                }))
            }

            /// The transport this socket runs on.
            pub fn transport(&self) -> Transport {
                match self.0 {
                    Inner::Shm(_) => Transport::Shm,
                    Inner::Zmtp(_) => Transport::Zmtp,
                }
            }

            /// The shared-memory socket, if this is one (loans, loss counters, options).
            pub fn as_shm(&mut self) -> Option<&mut $shm> {
                match &mut self.0 {
                    Inner::Shm(s) => Some(s),
                    Inner::Zmtp(_) => None,
                }
            }

            /// The ZMTP socket, if this is one (monitor, stats, more endpoints).
            pub fn as_zmtp(&mut self) -> Option<&mut $zmtp> {
                match &mut self.0 {
                    Inner::Zmtp(s) => Some(s),
                    Inner::Shm(_) => None,
                }
            }
        }

        impl From<$shm> for $name {
            fn from(socket: $shm) -> Self {
                Self(Inner::Shm(socket))
            }
        }

        impl From<$zmtp> for $name {
            fn from(socket: $zmtp) -> Self {
                Self(Inner::Zmtp(socket))
            }
        }
    };
}

macro_rules! send_methods {
    ($name:ident) => {
        impl $name {
            /// Sends `value` as one postcard-encoded frame.
            pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                each!(self, s => s.send(value))
            }

            /// Sends `bytes` as one frame.
            pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
                each!(self, s => s.send_bytes(bytes))
            }

            /// Sends a message of several frames.
            pub fn send_multipart(&mut self, frames: &[&[u8]]) -> Result<()> {
                each!(self, s => s.send_multipart(frames))
            }
        }
    };
}

macro_rules! recv_methods {
    ($name:ident) => {
        impl $name {
            /// Receives a message and decodes its last frame as postcard `T`; blocks.
            pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                each!(self, s => s.recv())
            }

            /// Like [`recv`](Self::recv), giving up with [`Error::Timeout`] after `timeout`.
            pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
                each!(self, s => s.recv_timeout(timeout))
            }

            /// Like [`recv`](Self::recv) without waiting: [`Error::WouldBlock`] if nothing is
            /// there.
            pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                each!(self, s => s.try_recv())
            }

            /// Receives a message's last frame as bytes; blocks.
            pub fn recv_bytes(&mut self) -> Result<Vec<u8>> {
                each!(self, s => s.recv_bytes())
            }

            /// Like [`recv_bytes`](Self::recv_bytes) with a timeout.
            pub fn recv_bytes_timeout(&mut self, timeout: Duration) -> Result<Vec<u8>> {
                each!(self, s => s.recv_bytes_timeout(timeout))
            }

            /// Like [`recv_bytes`](Self::recv_bytes) without waiting.
            pub fn try_recv_bytes(&mut self) -> Result<Vec<u8>> {
                each!(self, s => s.try_recv_bytes())
            }

            /// Receives a whole message, every frame; blocks.
            pub fn recv_multipart(&mut self) -> Result<Message> {
                each!(self, s => s.recv_multipart())
            }

            /// Like [`recv_multipart`](Self::recv_multipart) with a timeout.
            pub fn recv_multipart_timeout(&mut self, timeout: Duration) -> Result<Message> {
                each!(self, s => s.recv_multipart_timeout(timeout))
            }

            /// Like [`recv_multipart`](Self::recv_multipart) without waiting.
            pub fn try_recv_multipart(&mut self) -> Result<Message> {
                each!(self, s => s.try_recv_multipart())
            }

            /// Whether a receive would find a message now, without waiting. On sockets this
            /// first moves whatever the kernel holds into the socket's queue.
            pub fn readable(&self) -> Result<bool> {
                match &self.0 {
                    Inner::Shm(s) => Ok(shm::Pollable::readable(s)),
                    Inner::Zmtp(s) => zmtp::Pollable::readable(s),
                }
            }
        }

        impl Pollable for $name {
            fn source(&self) -> Source<'_> {
                match &self.0 {
                    Inner::Shm(s) => Source::Shm(s),
                    Inner::Zmtp(s) => Source::Zmtp(s),
                }
            }
        }
    };
}

facade!(
    /// Publishes messages to every subscriber whose subscription prefixes the first frame.
    Publisher, shm::Publisher, zmtp::Pub
);
send_methods!(Publisher);

impl Publisher {
    /// Sends `[topic, postcard(value)]`: subscribers match `topic` by prefix.
    pub fn send_on<T: Serialize + ?Sized>(&mut self, topic: &str, value: &T) -> Result<()> {
        each!(self, s => s.send_on(topic, value))
    }
}

facade!(
    /// Receives what publishers send on the topics it subscribed to (by prefix of the first
    /// frame). It receives nothing until it subscribes; `subscribe(b"")` takes everything.
    Subscriber, shm::Subscriber, zmtp::Sub
);
recv_methods!(Subscriber);

impl Subscriber {
    /// Adds a prefix subscription; an empty prefix matches every message.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        match &mut self.0 {
            Inner::Shm(s) => {
                s.subscribe(prefix);
                Ok(())
            }
            Inner::Zmtp(s) => s.subscribe(prefix),
        }
    }

    /// Removes one earlier subscription to exactly `prefix` (no-op if there was none).
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<()> {
        match &mut self.0 {
            Inner::Shm(s) => {
                s.unsubscribe(prefix);
                Ok(())
            }
            Inner::Zmtp(s) => s.unsubscribe(prefix),
        }
    }
}

facade!(
    /// Sends requests and receives their replies in lock-step.
    Requester, shm::Requester, zmtp::Req
);
send_methods!(Requester);
recv_methods!(Requester);

impl Requester {
    /// Sends `request` and waits up to `timeout` for the reply, decoded as `A`.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        timeout: Duration,
    ) -> Result<A> {
        each!(self, s => s.request(request, timeout))
    }
}

facade!(
    /// Receives requests and sends one reply to each, in lock-step.
    Replier, shm::Replier, zmtp::Rep
);
send_methods!(Replier);
recv_methods!(Replier);

facade!(
    /// Hands work items to pullers: each item goes to exactly one of them.
    Pusher, shm::Pusher, zmtp::Push
);
send_methods!(Pusher);

facade!(
    /// Takes work items from a pusher, competing with the other pullers.
    Puller, shm::Puller, zmtp::Pull
);
recv_methods!(Puller);

/// A transport's view of a receiving socket, for [`Poller`].
#[doc(hidden)]
pub enum Source<'a> {
    /// A shared-memory socket.
    Shm(&'a dyn shm::Pollable),
    /// A ZMTP socket.
    Zmtp(&'a dyn zmtp::Pollable),
}

impl Source<'_> {
    fn readable(&self) -> Result<bool> {
        match self {
            Source::Shm(s) => Ok(s.readable()),
            Source::Zmtp(s) => s.readable(),
        }
    }
}

/// A receiving socket that a [`Poller`] can wait on: [`Subscriber`], [`Requester`],
/// [`Replier`] and [`Puller`].
pub trait Pollable {
    /// The transport-specific socket to wait on.
    #[doc(hidden)]
    fn source(&self) -> Source<'_>;
}

/// Waits on several receiving sockets at once, of any transports, like `zmq_poll`.
///
/// A set of one transport is handed to that transport's poller, which sleeps in the kernel
/// until something arrives ([`shm::Poller`] on the segments' event words, [`zmtp::Poller`] in
/// `poll(2)`). A set that mixes shm and socket endpoints sleeps in the sockets' `poll(2)` in
/// slices of [`Poller::MIXED_SLICE`], checking the shm sockets between slices, so an shm
/// message may wait up to one slice.
#[derive(Debug, Default, Clone, Copy)]
pub struct Poller;

impl Poller {
    /// Longest sleep between checks of shm sockets in a mixed set.
    pub const MIXED_SLICE: Duration = Duration::from_millis(1);

    /// Returns the indices of the sockets that are readable, waiting up to `timeout`
    /// (`None`: without limit) for one. An empty result means the timeout passed.
    pub fn poll(sockets: &[&dyn Pollable], timeout: Option<Duration>) -> Result<Vec<usize>> {
        let sources: Vec<Source<'_>> = sockets.iter().map(|s| s.source()).collect();
        let mut shm = Vec::new();
        let mut zmtp = Vec::new();
        for source in &sources {
            match source {
                Source::Shm(s) => shm.push(*s),
                Source::Zmtp(s) => zmtp.push(*s),
            }
        }
        if zmtp.is_empty() {
            return shm::Poller::poll(&shm, timeout);
        }
        if shm.is_empty() {
            return zmtp::Poller::poll(&zmtp, timeout);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let mut ready = Vec::new();
            for (i, source) in sources.iter().enumerate() {
                if source.readable()? {
                    ready.push(i);
                }
            }
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if !ready.is_empty() || left.is_some_and(|l| l.is_zero()) {
                return Ok(ready);
            }
            let slice = left.map_or(Self::MIXED_SLICE, |l| l.min(Self::MIXED_SLICE));
            zmtp::Poller::poll(&zmtp, Some(slice))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn unique(prefix: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[test]
    fn scheme_picks_the_transport() {
        assert_eq!(transport_of("shm://a").unwrap(), Transport::Shm);
        assert_eq!(transport_of("tcp://127.0.0.1:1").unwrap(), Transport::Zmtp);
        assert_eq!(transport_of("ipc:///tmp/x.sock").unwrap(), Transport::Zmtp);
        assert!(matches!(
            transport_of("inproc://a"),
            Err(Error::Unsupported(_))
        ));
        assert!(matches!(transport_of("udp://a:1"), Err(Error::Endpoint(_))));
    }

    /// The same pub/sub, req/rep and push/pull code over every transport.
    fn patterns_over(endpoint: impl Fn(&str) -> String) {
        let timeout = Duration::from_secs(10);

        let ep = endpoint("pubsub");
        let mut publisher = Publisher::bind(&ep).unwrap();
        let mut subscriber = Subscriber::connect(&ep).unwrap();
        subscriber.subscribe(b"pose").unwrap();
        // A socket subscription travels to the publisher asynchronously: publish until seen.
        let got: (f32, f32) = loop {
            publisher.send_on("ignored", &(0.0f32, 0.0f32)).unwrap();
            publisher.send_on("pose", &(1.5f32, -2.0f32)).unwrap();
            match subscriber.recv_timeout(Duration::from_millis(50)) {
                Ok(v) => break v,
                Err(Error::Timeout) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, (1.5, -2.0));
        publisher.send_on("ignored", &(0.0f32, 0.0f32)).unwrap();
        publisher.send_multipart(&[b"pose", b"raw"]).unwrap();
        let frames = subscriber.recv_multipart_timeout(timeout).unwrap();
        assert_eq!(
            frames.frames()[0],
            b"pose".to_vec(),
            "only subscribed topics arrive"
        );

        let ep = endpoint("reqrep");
        let mut replier = Replier::bind(&ep).unwrap();
        let server = std::thread::spawn(move || {
            let n: u32 = replier.recv_timeout(Duration::from_secs(10)).unwrap();
            replier.send(&(n * 2)).unwrap();
        });
        let mut requester = Requester::connect(&ep).unwrap();
        let answer: u32 = requester.request(&21u32, timeout).unwrap();
        assert_eq!(answer, 42);
        server.join().unwrap();

        let ep = endpoint("pushpull");
        let mut puller = Puller::bind(&ep).unwrap();
        let mut pusher = Pusher::connect(&ep).unwrap();
        for i in 0..10u8 {
            pusher.send_bytes(&[i]).unwrap();
        }
        let ready = Poller::poll(&[&puller], Some(timeout)).unwrap();
        assert_eq!(ready, vec![0]);
        let got: Vec<u8> = (0..10)
            .map(|_| puller.recv_bytes_timeout(timeout).unwrap()[0])
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<u8>>());
    }

    #[test]
    fn patterns_over_shm() {
        patterns_over(|what| format!("shm://{}", unique(what)));
    }

    #[test]
    fn patterns_over_ipc() {
        let dir = std::env::temp_dir();
        patterns_over(|what| format!("ipc://{}/{}.sock", dir.display(), unique(what)));
    }

    #[test]
    fn mixed_poller_sees_both_transports() {
        let shm_ep = format!("shm://{}", unique("mixed"));
        let ipc_ep = format!(
            "ipc://{}/{}.sock",
            std::env::temp_dir().display(),
            unique("mixed")
        );
        let mut shm_pull = Puller::bind(&shm_ep).unwrap();
        let mut ipc_pull = Puller::bind(&ipc_ep).unwrap();
        let mut shm_push = Pusher::connect(&shm_ep).unwrap();
        let mut ipc_push = Pusher::connect(&ipc_ep).unwrap();
        {
            let set: [&dyn Pollable; 2] = [&shm_pull, &ipc_pull];
            assert!(
                Poller::poll(&set, Some(Duration::from_millis(20)))
                    .unwrap()
                    .is_empty()
            );
        }
        ipc_push.send_bytes(b"over ipc").unwrap();
        {
            let set: [&dyn Pollable; 2] = [&shm_pull, &ipc_pull];
            assert_eq!(
                Poller::poll(&set, Some(Duration::from_secs(10))).unwrap(),
                vec![1]
            );
        }
        assert_eq!(ipc_pull.try_recv_bytes().unwrap(), b"over ipc");
        shm_push.send_bytes(b"over shm").unwrap();
        {
            let set: [&dyn Pollable; 2] = [&shm_pull, &ipc_pull];
            assert_eq!(
                Poller::poll(&set, Some(Duration::from_secs(10))).unwrap(),
                vec![0]
            );
        }
        assert_eq!(shm_pull.try_recv_bytes().unwrap(), b"over shm");
    }
}
