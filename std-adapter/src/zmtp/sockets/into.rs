//! The allocation-free halves of the socket API: typed sends encode into a reused
//! per-thread buffer, and `recv_into` copies a message's body into the caller's buffer
//! straight from the inbox (a REP keeps the request's envelope in two reused buffers).

use serde::Serialize;

use super::super::engine::Engine;
use super::{Dealer, Pair, Pull, Rep, Req, Router, Sub, Wait, XPub, XSub};
use crate::error::{Error, Result};

thread_local! {
    /// The buffer typed sends encode into, reused from send to send (per thread, so
    /// it needs no lock and follows no socket).
    static ENCODE_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Encoding buffers larger than this are not kept for the next send.
const ENCODE_BUF_KEEP: usize = 1 << 20;

/// Encodes `value` with postcard into this thread's reusable buffer and hands the bytes
/// to `send` (no allocation per message once the buffer has grown to the message size).
pub(in super::super) fn with_encoded<T: Serialize + ?Sized, R>(
    value: &T,
    send: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    // Taken out while in use: a nested send (a `Serialize` impl that sends) gets its
    // own buffer rather than a borrow conflict.
    let mut buf = ENCODE_BUF.take();
    buf.clear();
    let buf = postcard::to_extend(value, buf)
        .map_err(|_| Error::Encode(ringwire_core::msg::EncodeError::Unsupported))?;
    let r = send(&buf);
    if buf.capacity() <= ENCODE_BUF_KEEP {
        ENCODE_BUF.set(buf);
    }
    r
}

/// Copies the last frame of the inbox's oldest message into `buf` and removes the
/// message; a frame larger than `buf` is [`Error::TooLarge`] and the message stays.
pub(super) fn take_last_into(e: &mut Engine, buf: &mut [u8]) -> Result<usize> {
    let Some((_, frames)) = e.inbox.front() else {
        return Err(Error::Timeout);
    };
    let last = frames.last().unwrap_or_default();
    let n = last.len();
    let Some(to) = buf.get_mut(..n) else {
        return Err(Error::TooLarge {
            size: n,
            limit: buf.len(),
        });
    };
    to.copy_from_slice(last);
    e.inbox.drop_front();
    Ok(n)
}

/// Stores `frames` (a request's envelope) back to back in `bytes`, their lengths in
/// `lens`, reusing both buffers.
pub(super) fn keep_envelope<'f>(
    bytes: &mut Vec<u8>,
    lens: &mut Vec<usize>,
    frames: impl Iterator<Item = &'f [u8]>,
) {
    bytes.clear();
    lens.clear();
    for f in frames {
        bytes.extend_from_slice(f);
        lens.push(f.len());
    }
}

/// Waits (per `wait`) until the inbox holds a message.
fn wait_message(e: &mut Engine, wait: Wait) -> Result<()> {
    if !e.inbox.is_empty() || e.wait(wait.deadline(), |e| !e.inbox.is_empty())? {
        Ok(())
    } else {
        Err(Error::Timeout)
    }
}

/// `recv_into` for sockets that take messages as they come (no envelope, no peer to
/// wait on): the last frame of the next message.
macro_rules! plain_recv_into {
    ($($name:ident),*) => {$(
        impl $name {
            pub(super) fn recv_last_into(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize> {
                let mut guard = self.h.lock();
                let e = &mut *guard;
                wait_message(e, wait)?;
                take_last_into(e, buf)
            }
        }
    )*};
}
plain_recv_into!(Sub, Dealer, Router, Pull, Pair, XPub, XSub);

impl Req {
    pub(super) fn recv_last_into(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        Req::wait_reply(&mut self.state, self.target, e, wait)?;
        let n = take_last_into(e, buf)?;
        self.state.on_reply();
        Ok(n)
    }
}

impl Rep {
    pub(super) fn recv_last_into(&mut self, wait: Wait, buf: &mut [u8]) -> Result<usize> {
        let mut guard = self.h.lock();
        let e = &mut *guard;
        self.state.on_recv_start()?;
        loop {
            wait_message(e, wait)?;
            let taken = {
                let Some((uid, frames)) = e.inbox.front() else {
                    continue;
                };
                let last = frames.clone().last().map_or(0, <[u8]>::len);
                match frames.clone().position(<[u8]>::is_empty) {
                    // Malformed (no delimiter): dropped, as libzmq does.
                    None => None,
                    // A refused message stays, with nothing kept of it.
                    Some(_) if last > buf.len() => {
                        return Err(Error::TooLarge {
                            size: last,
                            limit: buf.len(),
                        });
                    }
                    Some(i) => {
                        let env = frames.take(i + 1);
                        keep_envelope(&mut self.envelope, &mut self.envelope_lens, env);
                        Some(uid)
                    }
                }
            };
            let Some(uid) = taken else {
                e.inbox.drop_front();
                continue;
            };
            let got = take_last_into(e, buf)?;
            self.state.on_request(uid);
            return Ok(got);
        }
    }
}
