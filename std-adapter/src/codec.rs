//! Payload codecs: how a typed value becomes the bytes of a frame.
//!
//! ringwire's own format is [postcard](Postcard): compact, and on `shm://` encoded straight
//! into the ring slot with no allocation (`send`, `recv`, `send_on` use it). Peers in other
//! languages send dicts, not postcard, so two more codecs are cargo features of `ringwire`:
//!
//! | codec | feature | bytes are those of |
//! | --- | --- | --- |
//! | [`Postcard`] | always | `postcard::to_stdvec` |
//! | `Json` | `json` | Python's `json.dumps(v, separators=(',', ':'), ensure_ascii=False)`, JS's `JSON.stringify(v)` |
//! | `MsgPack` | `msgpack` | Python's `msgpack.packb(v)`: a struct is a map keyed by field name |
//!
//! A codec is picked per socket with `with_codec`, which wraps the socket in a [`Coded`]
//! whose `send`/`recv`/`request` use it, or per call with the `*_as` methods of every socket,
//! which take the codec as a type: [`Publisher::send_on_as`](crate::Publisher::send_on_as),
//! [`Subscriber::recv_as`](crate::Subscriber::recv_as) and so on, and per service with the
//! `*_with` registrations of [`crate::handler`]. Those encode into a buffer of the sending
//! thread that is reused from send to send (no allocation per message once it has grown to
//! the message size) and send it as one frame; the postcard `send` on `shm://` encodes straight
//! into the slot instead.
//! A codec is a trait, so a program can add its own (CBOR, protobuf, ...).
//!
//! Struct fields keep their declaration order, which is a dict's insertion order in Python:
//! a struct declared as the dict is written encodes to the same bytes. Golden vectors for
//! both cross-language codecs are in `docs/codecs.md` and are checked by `tests/tests/codecs.rs`.
//!
//! ```
//! use ringwire::codec::{Codec, Postcard};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Pose { x: f32, y: f32 }
//!
//! let mut bytes = Vec::new();
//! Postcard::encode_into(&Pose { x: 1.0, y: 2.0 }, &mut bytes)?;
//! assert_eq!(Postcard::decode::<Pose>(&bytes)?, Pose { x: 1.0, y: 2.0 });
//! # Ok::<(), ringwire::Error>(())
//! ```

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

#[cfg(any(feature = "json", feature = "msgpack"))]
use ringwire_core::msg::DecodeError;
use ringwire_core::msg::EncodeError;

use crate::error::{Error, Result};
use crate::{Publisher, Puller, Pusher, Replier, Requester, Subscriber};

/// A way of turning values into frame bytes and back.
pub trait Codec {
    /// A short name for logs and errors (`"postcard"`, `"json"`, `"msgpack"`).
    const NAME: &'static str;

    /// Appends the encoding of `value` to `out` (callers clear it first to reuse it).
    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()>;

    /// Decodes one value from the whole of `bytes`.
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T>;

    /// The encoding of `value` in a new `Vec`.
    fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Self::encode_into(value, &mut out)?;
        Ok(out)
    }
}

/// postcard, ringwire's own compact format (the codec of `send`/`recv`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Postcard;

impl Codec for Postcard {
    const NAME: &'static str = "postcard";

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
        let buf = std::mem::take(out);
        *out = postcard::to_extend(value, buf).map_err(|e| {
            log::debug!("postcard encode: {e}");
            Error::Encode(EncodeError::Unsupported)
        })?;
        Ok(())
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        Ok(ringwire_core::msg::decode(bytes)?)
    }
}

/// JSON (serde_json): compact, no spaces, UTF-8 written as is (feature `json`).
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

#[cfg(feature = "json")]
impl Codec for Json {
    const NAME: &'static str = "json";

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
        serde_json::to_writer(out, value).map_err(|e| {
            log::debug!("json encode: {e}");
            Error::Encode(EncodeError::Unsupported)
        })
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| {
            log::debug!("json decode: {e}");
            Error::Decode(if e.is_eof() {
                DecodeError::Truncated
            } else {
                DecodeError::Invalid
            })
        })
    }
}

/// MessagePack (rmp-serde), structs as maps keyed by field name like Python's
/// `msgpack.packb(dict)` (feature `msgpack`). Decoding accepts structs as maps or arrays.
#[cfg(feature = "msgpack")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsgPack;

#[cfg(feature = "msgpack")]
impl Codec for MsgPack {
    const NAME: &'static str = "msgpack";

    fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
        let mut serializer = rmp_serde::Serializer::new(out).with_struct_map();
        value.serialize(&mut serializer).map_err(|e| {
            log::debug!("msgpack encode: {e}");
            Error::Encode(EncodeError::Unsupported)
        })
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
        use rmp_serde::decode::Error as E;
        rmp_serde::from_slice(bytes).map_err(|e| {
            log::debug!("msgpack decode: {e}");
            let eof = matches!(&e, E::InvalidMarkerRead(io) | E::InvalidDataRead(io)
                if io.kind() == std::io::ErrorKind::UnexpectedEof);
            Error::Decode(if eof {
                DecodeError::Truncated
            } else {
                DecodeError::Invalid
            })
        })
    }
}

thread_local! {
    /// The buffer the `*_as` sends encode into, reused from send to send (per thread, so it
    /// needs no lock and follows no socket).
    static ENCODE_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Encoding buffers larger than this are not kept for the next send.
const ENCODE_BUF_KEEP: usize = 1 << 20;

/// Encodes `value` with `C` into this thread's reusable buffer and hands the bytes to `send`
/// (no allocation per message once the buffer has grown to the message size, for a codec
/// whose `encode_into` only appends).
fn with_encoded<C: Codec, T: Serialize + ?Sized, R>(
    value: &T,
    send: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    // Taken out while in use: a nested send (a `Serialize` impl that sends) gets its own
    // buffer rather than a borrow conflict.
    let mut buf = ENCODE_BUF.take();
    buf.clear();
    let r = C::encode_into(value, &mut buf).and_then(|()| send(&buf));
    if buf.capacity() <= ENCODE_BUF_KEEP {
        ENCODE_BUF.set(buf);
    }
    r
}

macro_rules! send_as {
    ($($name:ident),*) => {$(
        impl $name {
            /// Sends `value` encoded by codec `C` as one frame (see [`crate::codec`]).
            pub fn send_as<C: Codec, T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                with_encoded::<C, T, ()>(value, |bytes| self.send_bytes(bytes))
            }
        }
    )*};
}

macro_rules! recv_as {
    ($($name:ident),*) => {$(
        impl $name {
            /// Receives a message and decodes its last frame with codec `C`; blocks.
            pub fn recv_as<C: Codec, T: DeserializeOwned>(&mut self) -> Result<T> {
                C::decode(&self.recv_bytes()?)
            }

            /// Like [`recv_as`](Self::recv_as), giving up with [`Error::Timeout`] after
            /// `timeout`.
            pub fn recv_as_timeout<C: Codec, T: DeserializeOwned>(
                &mut self,
                timeout: Duration,
            ) -> Result<T> {
                C::decode(&self.recv_bytes_timeout(timeout)?)
            }

            /// Like [`recv_as`](Self::recv_as) without waiting: [`Error::WouldBlock`] if
            /// nothing is there.
            pub fn try_recv_as<C: Codec, T: DeserializeOwned>(&mut self) -> Result<T> {
                C::decode(&self.try_recv_bytes()?)
            }
        }
    )*};
}

send_as!(Publisher, Requester, Replier, Pusher);
recv_as!(Subscriber, Requester, Replier, Puller);

impl Publisher {
    /// Sends `[topic, C(value)]`: subscribers match `topic` by prefix.
    pub fn send_on_as<C: Codec, T: Serialize + ?Sized>(
        &mut self,
        topic: &str,
        value: &T,
    ) -> Result<()> {
        with_encoded::<C, T, ()>(value, |bytes| {
            self.send_multipart(&[topic.as_bytes(), bytes])
        })
    }
}

impl Requester {
    /// Sends `request` encoded by `C` and waits up to `timeout` for the reply, decoded by `C`.
    pub fn request_as<C: Codec, Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        timeout: Duration,
    ) -> Result<A> {
        self.send_as::<C, Q>(request)?;
        self.recv_as_timeout::<C, A>(timeout)
    }
}

/// A socket whose typed calls use codec `C` instead of postcard: the per-socket choice.
///
/// Made by `with_codec` on any socket (`Publisher::bind(ep)?.with_codec(Json)`). `send`,
/// `recv`, `recv_timeout`, `try_recv` (and `send_on`, `request` where the socket has them)
/// encode and decode with `C`; everything else (`subscribe`, `send_bytes`, `as_shm`, ...) is
/// the socket's own, through `Deref`. The choice is in the type, so a postcard socket pays
/// nothing for it. `serve` and `on` on a `Coded` replier or subscriber register handlers
/// with `C` too.
///
/// ```
/// use std::time::Duration;
/// use ringwire::codec::{Coded, Postcard};
/// use ringwire::{Puller, Pusher};
///
/// let endpoint = format!("shm://coded-doc-{}", std::process::id());
/// let mut puller: Coded<Puller, Postcard> = Puller::bind(&endpoint)?.with_codec(Postcard);
/// let mut pusher = Pusher::connect(&endpoint)?.with_codec(Postcard);
/// pusher.send(&(1u8, "job"))?;
/// let job: (u8, String) = puller.recv_timeout(Duration::from_secs(10))?;
/// assert_eq!(job, (1, "job".to_string()));
/// # Ok::<(), ringwire::Error>(())
/// ```
pub struct Coded<S, C> {
    socket: S,
    codec: std::marker::PhantomData<fn() -> C>,
}

impl<S: std::fmt::Debug, C: Codec> std::fmt::Debug for Coded<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coded")
            .field("socket", &self.socket)
            .field("codec", &C::NAME)
            .finish()
    }
}

impl<S, C: Codec> Coded<S, C> {
    /// `socket`, its typed calls using `C`.
    pub fn new(socket: S) -> Self {
        Coded {
            socket,
            codec: std::marker::PhantomData,
        }
    }

    /// The socket back, its typed calls postcard again.
    pub fn into_inner(self) -> S {
        self.socket
    }
}

impl<S, C> std::ops::Deref for Coded<S, C> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.socket
    }
}

impl<S, C> std::ops::DerefMut for Coded<S, C> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.socket
    }
}

macro_rules! with_codec {
    ($($name:ident),*) => {$(
        impl $name {
            /// This socket with its typed calls encoded by `codec` (see [`Coded`]).
            pub fn with_codec<C: Codec>(self, codec: C) -> Coded<Self, C> {
                let _ = codec;
                Coded::new(self)
            }
        }
    )*};
}

with_codec!(Publisher, Subscriber, Requester, Replier, Pusher, Puller);

macro_rules! coded_send {
    ($($name:ident),*) => {$(
        impl<C: Codec> Coded<$name, C> {
            /// Sends `value` encoded by `C` as one frame.
            pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.socket.send_as::<C, T>(value)
            }
        }
    )*};
}

macro_rules! coded_recv {
    ($($name:ident),*) => {$(
        impl<C: Codec> Coded<$name, C> {
            /// Receives a message and decodes its last frame with `C`; blocks.
            pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                self.socket.recv_as::<C, T>()
            }

            /// Like [`recv`](Self::recv), giving up with [`Error::Timeout`] after `timeout`.
            pub fn recv_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
                self.socket.recv_as_timeout::<C, T>(timeout)
            }

            /// Like [`recv`](Self::recv) without waiting: [`Error::WouldBlock`] if nothing is
            /// there.
            pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<T> {
                self.socket.try_recv_as::<C, T>()
            }
        }
    )*};
}

coded_send!(Publisher, Requester, Replier, Pusher);
coded_recv!(Subscriber, Requester, Replier, Puller);

impl<C: Codec> Coded<Publisher, C> {
    /// Sends `[topic, C(value)]`.
    pub fn send_on<T: Serialize + ?Sized>(&mut self, topic: &str, value: &T) -> Result<()> {
        self.socket.send_on_as::<C, T>(topic, value)
    }
}

impl<C: Codec> Coded<Requester, C> {
    /// Sends `request` and waits up to `timeout` for the reply, both encoded by `C`.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        request: &Q,
        timeout: Duration,
    ) -> Result<A> {
        self.socket.request_as::<C, Q, A>(request, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Pose {
        x: f32,
        y: f32,
    }

    /// The address of the bytes [`with_encoded`] hands over for `value`, checking them.
    fn encoded_at<C: Codec>(value: &impl Serialize) -> usize {
        with_encoded::<C, _, _>(value, |b| {
            assert_eq!(b, C::encode(value).unwrap());
            Ok(b.as_ptr() as usize)
        })
        .unwrap()
    }

    fn assert_reused<C: Codec>() {
        let value = (1u32, "a string of some length, long enough", [7u8; 16]);
        let first = encoded_at::<C>(&value);
        // Blocks of every small size stay taken meanwhile: a fresh allocation per send could
        // not land where the first one was (a freed block goes to the next request of its size).
        // (`with_capacity`, not `vec![0; n]`: a zeroed allocation may take another path.)
        let hold: Vec<Vec<u8>> = (1..=256).map(Vec::<u8>::with_capacity).collect();
        let second = encoded_at::<C>(&value);
        drop(hold);
        assert_eq!(
            first,
            second,
            "{}: the encoding buffer was not reused",
            C::NAME
        );
        // A send that encodes while another one's buffer is taken (a `Serialize` impl that
        // sends) gets a buffer of its own.
        let nested = with_encoded::<C, _, _>(&value, |outer| {
            let inner = encoded_at::<C>(&value);
            Ok(inner != outer.as_ptr() as usize)
        });
        assert!(nested.unwrap());
    }

    #[test]
    fn as_sends_encode_into_one_reused_buffer() {
        assert_reused::<Postcard>();
        #[cfg(feature = "json")]
        assert_reused::<Json>();
        #[cfg(feature = "msgpack")]
        assert_reused::<MsgPack>();
    }

    #[test]
    fn postcard_codec_is_what_send_uses() {
        let pose = Pose { x: 1.0, y: -2.0 };
        let bytes = Postcard::encode(&pose).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&pose).unwrap());
        assert_eq!(Postcard::decode::<Pose>(&bytes).unwrap(), pose);
        assert!(matches!(
            Postcard::decode::<Pose>(&bytes[..3]),
            Err(Error::Decode(_))
        ));
    }

    #[cfg(feature = "json")]
    #[test]
    fn json_reports_truncation_and_garbage() {
        assert!(matches!(
            Json::decode::<Pose>(br#"{"x":1.0,"#),
            Err(Error::Decode(DecodeError::Truncated))
        ));
        assert!(matches!(
            Json::decode::<Pose>(b"\xff\xfe"),
            Err(Error::Decode(DecodeError::Invalid))
        ));
    }

    #[cfg(feature = "msgpack")]
    #[test]
    fn msgpack_reports_truncation_and_garbage() {
        let bytes = MsgPack::encode(&Pose { x: 1.0, y: 2.0 }).unwrap();
        assert!(matches!(
            MsgPack::decode::<Pose>(&bytes[..bytes.len() - 2]),
            Err(Error::Decode(DecodeError::Truncated))
        ));
        assert!(matches!(
            MsgPack::decode::<Pose>(b"\xc1"),
            Err(Error::Decode(_))
        ));
    }
}
