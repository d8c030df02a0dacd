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
//! Every receive comes in three forms, here and on each transport's own types: `recv*` waits
//! as long as it takes, `recv*_timeout(d)` gives up with [`Error::Timeout`](crate::Error::Timeout) after `d`
//! (`Duration::ZERO` is one look without waiting; a duration too long to represent waits as
//! long as it takes), and `try_recv*` never waits and says [`Error::WouldBlock`](crate::Error::WouldBlock).
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

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

mod builder;

pub use builder::{Socket, SocketBuilder};

use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::message::Message;
use crate::poller::{Pollable, Source};
use crate::{shm, zmtp};

/// Which transport a socket runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// Shared memory on this machine (`shm://`).
    Shm,
    /// ZMTP 3.1 over TCP or a Unix-domain socket (`tcp://`, `ipc://`), and the same
    /// sockets over `inproc://` (in-memory pipes of whole messages between the threads of
    /// this process).
    Zmtp,
}

/// The transport an endpoint string asks for, or why none can serve it.
pub fn transport_of(endpoint: &str) -> Result<Transport> {
    match endpoint.parse::<Endpoint>()? {
        Endpoint::Shm(_) => Ok(Transport::Shm),
        Endpoint::Tcp { .. } | Endpoint::Ipc(_) | Endpoint::Inproc(_) => Ok(Transport::Zmtp),
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

        impl builder::sealed::Sealed for $name {}

        impl Socket for $name {
            type Shm = $shm;
            type Zmtp = $zmtp;

            fn zmtp_mut(&mut self) -> Option<&mut $zmtp> {
                self.as_zmtp()
            }
        }

        impl $name {
            /// A builder for options: the common ones (queue depth, message size, send
            /// timeout, ...) apply to whichever transport the endpoint picks, and each
            /// transport's own options are one call away ([`SocketBuilder::shm`],
            /// [`SocketBuilder::zmtp`]).
            pub fn builder() -> SocketBuilder<Self> {
                SocketBuilder::new()
            }

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

/// Runs `f` with `frames` as slices (on the stack for up to eight frames): how an owned
/// multipart send borrows on a transport that copies anyway.
fn with_slices<R>(frames: &[Vec<u8>], f: impl FnOnce(&[&[u8]]) -> R) -> R {
    let mut short: [&[u8]; 8] = [&[]; 8];
    if let Some(to) = short.get_mut(..frames.len()) {
        for (to, from) in to.iter_mut().zip(frames) {
            *to = from;
        }
        f(&short[..frames.len()])
    } else {
        let long: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        f(&long)
    }
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

            /// [`send_bytes`](Self::send_bytes), giving the buffer up: over `inproc://`
            /// the receiver gets this very buffer (nothing copied); the other transports
            /// copy or encode it like a borrowed one.
            pub fn send_bytes_owned(&mut self, bytes: Vec<u8>) -> Result<()> {
                match &mut self.0 {
                    Inner::Shm(s) => s.send_bytes(&bytes),
                    Inner::Zmtp(s) => s.send_bytes_owned(bytes),
                }
            }

            /// [`send_multipart`](Self::send_multipart), giving the buffers up (see
            /// [`send_bytes_owned`](Self::send_bytes_owned)).
            pub fn send_multipart_owned(&mut self, frames: Vec<Vec<u8>>) -> Result<()> {
                match &mut self.0 {
                    Inner::Shm(s) => with_slices(&frames, |f| s.send_multipart(f)),
                    Inner::Zmtp(s) => s.send_multipart_owned(frames),
                }
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

            /// Like [`recv`](Self::recv), giving up with [`Error::Timeout`](crate::Error::Timeout) after `timeout`
            /// (zero: one look without waiting).
            pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
                each!(self, s => s.recv_timeout(timeout))
            }

            /// Like [`recv`](Self::recv) without waiting: [`Error::WouldBlock`](crate::Error::WouldBlock) if nothing is
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
                Pollable::readable(self)
            }
        }

        impl Pollable for $name {
            fn source(&self) -> Source<'_> {
                match &self.0 {
                    Inner::Shm(s) => s.source(),
                    Inner::Zmtp(s) => s.source(),
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
    /// Connects to `endpoint` already subscribed to each prefix in `topics` (`&[b""]`: every
    /// message), so no message published after it returns is dropped for want of a
    /// subscription. A plain [`connect`](Self::connect) receives nothing until
    /// [`subscribe`](Self::subscribe), as in ZeroMQ.
    pub fn connect_with_topics(endpoint: &str, topics: &[&[u8]]) -> Result<Self> {
        let mut subscriber = Self::connect(endpoint)?;
        for topic in topics {
            subscriber.subscribe(topic)?;
        }
        Ok(subscriber)
    }

    /// Adds a prefix subscription; an empty prefix matches every message.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<()> {
        match &mut self.0 {
            Inner::Shm(s) => s.subscribe(prefix),
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

    /// Gives up the request in flight, so the next `send` is allowed: its reply, if it still
    /// comes, is never delivered (a second `send` without a reply or an `abandon` is
    /// `Error::State` on every transport).
    pub fn abandon(&mut self) {
        each!(self, s => s.abandon())
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Error;
    use crate::poller::Poller;
    use std::sync::atomic::{AtomicU32, Ordering};

    pub(crate) fn unique(prefix: &str) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "{prefix}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    #[test]
    fn many_frames_borrow_on_the_heap() {
        for n in [0, 3, 8, 9, 20] {
            let frames: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8]).collect();
            with_slices(&frames, |s| {
                assert_eq!(s.len(), n);
                assert!(s.iter().zip(&frames).all(|(a, b)| *a == &b[..]));
            });
        }
    }

    #[test]
    fn scheme_picks_the_transport() {
        assert_eq!(transport_of("shm://a").unwrap(), Transport::Shm);
        assert_eq!(transport_of("tcp://127.0.0.1:1").unwrap(), Transport::Zmtp);
        assert_eq!(transport_of("ipc:///tmp/x.sock").unwrap(), Transport::Zmtp);
        assert_eq!(transport_of("inproc://a").unwrap(), Transport::Zmtp);
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
        // Buffers given up travel like borrowed ones, whatever the transport.
        publisher
            .send_multipart_owned(vec![b"pose".to_vec(), b"owned".to_vec()])
            .unwrap();
        let frames = subscriber.recv_multipart_timeout(timeout).unwrap();
        assert_eq!(frames.frames(), [&b"pose"[..], b"owned"]);

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
            if i % 2 == 0 {
                pusher.send_bytes(&[i]).unwrap();
            } else {
                pusher.send_bytes_owned(vec![i]).unwrap();
            }
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
    fn patterns_over_inproc() {
        patterns_over(|what| format!("inproc://{}", unique(what)));
    }

    #[test]
    fn patterns_over_ipc() {
        let dir = std::env::temp_dir();
        patterns_over(|what| format!("ipc://{}/{}.sock", dir.display(), unique(what)));
    }

    /// The timeout convention, the same on every transport: a zero timeout is one attempt
    /// without waiting (`Timeout` if nothing is there), `try_*` says `WouldBlock`, and a
    /// timeout too long to represent waits as long as it takes.
    fn timeouts_over(ep: &str) {
        let mut puller = Puller::bind(ep).unwrap();
        assert!(matches!(
            puller.recv_bytes_timeout(Duration::ZERO),
            Err(Error::Timeout)
        ));
        assert!(matches!(puller.try_recv_bytes(), Err(Error::WouldBlock)));
        if let Some(shm) = puller.as_shm() {
            assert!(matches!(
                shm.recv_with_timeout(Duration::ZERO, |m| m.len()),
                Err(Error::Timeout)
            ));
            assert!(matches!(
                shm.try_recv_with(|m| m.len()),
                Err(Error::WouldBlock)
            ));
        }
        let mut pusher = Pusher::connect(ep).unwrap();
        pusher.send_bytes(b"first").unwrap();
        assert_eq!(puller.recv_bytes_timeout(Duration::MAX).unwrap(), b"first");
        pusher.send_bytes(b"second").unwrap();
        let ready = Poller::poll(&[&puller], Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready, vec![0]);
        assert_eq!(
            puller.recv_bytes_timeout(Duration::ZERO).unwrap(),
            b"second"
        );
    }

    #[test]
    fn timeouts_mean_the_same_over_shm() {
        timeouts_over(&format!("shm://{}", unique("timeouts")));
    }

    #[test]
    fn timeouts_mean_the_same_over_ipc() {
        let dir = std::env::temp_dir();
        timeouts_over(&format!(
            "ipc://{}/{}.sock",
            dir.display(),
            unique("timeouts")
        ));
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
