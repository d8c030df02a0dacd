//! One side of a [`Router`](super::Router): a ZMTP ROUTER socket (`tcp://`, `ipc://`,
//! `inproc://`) or the server end of an shm REQ/REP client-channel table (`shm://`). Both
//! give messages with the sender's routing id in front, take messages with the receiver's
//! routing id in front, and report peers that connect and leave, so the router's logic does
//! not know which transport it serves.
//!
//! Over shm a peer is a client channel held by a process: its routing id is the channel
//! number (2 bytes, big-endian) and the holder's owner id (its pid, 4 bytes); a message from
//! it carries the request id too (8 more bytes), which the answer must echo. A peer connects
//! when a process claims a channel and leaves when it gives it back or when its process is
//! found dead (checked once per liveness interval).

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::poller::Pollable;
use crate::shm::ShmOptions;
use crate::shm::reqrep::{From, RouterEnd};
use crate::zmtp::{self, SocketEvent};

/// A peer came or went (its routing id key).
#[derive(Debug)]
pub(super) enum PortEvent {
    Connected(Vec<u8>),
    /// Gone, why, and whether it left on purpose (an shm peer that gave its channel back;
    /// a ZMTP peer's closed connection does not tell, and counts as not).
    Disconnected(Vec<u8>, String, bool),
}

/// The routing id key of an shm peer: channel and owner.
const SHM_KEY: usize = 6;
/// An shm message's routing id: key and request id.
const SHM_RID: usize = SHM_KEY + 8;

pub(super) enum Port {
    Zmtp {
        socket: zmtp::Router,
        events: Receiver<SocketEvent>,
    },
    Shm(Box<ShmPort>),
}

impl Port {
    /// Binds `endpoint` (`options` apply to an shm endpoint only).
    pub(super) fn bind(endpoint: &str, options: &ShmOptions) -> Result<Port> {
        if endpoint.starts_with("shm://") {
            let end = RouterEnd::bind(endpoint, options.clone())?;
            let n = end.owners().len();
            return Ok(Port::Shm(Box::new(ShmPort {
                end,
                known: vec![Holder::default(); n],
                interval: options.liveness_interval,
                next_check: Instant::now() + options.liveness_interval,
            })));
        }
        let mut socket = zmtp::Router::bind(endpoint)?;
        let events = socket.monitor();
        Ok(Port::Zmtp { socket, events })
    }

    pub(super) fn is_shm(&self) -> bool {
        matches!(self, Port::Shm(_))
    }

    pub(super) fn pollable(&self) -> &dyn Pollable {
        match self {
            Port::Zmtp { socket, .. } => socket,
            Port::Shm(p) => &p.end,
        }
    }

    pub(super) fn bound_endpoints(&self) -> Vec<Endpoint> {
        match self {
            Port::Zmtp { socket, .. } => socket.bound_endpoints(),
            Port::Shm(p) => p.end.endpoint().parse().into_iter().collect(),
        }
    }

    /// The part of a routing id that names the peer (over shm, without the request id).
    pub(super) fn key<'a>(&self, rid: &'a [u8]) -> &'a [u8] {
        match self {
            Port::Shm(_) if rid.len() == SHM_RID => &rid[..SHM_KEY],
            _ => rid,
        }
    }

    /// The next message (routing id first), `None` if nothing waits.
    pub(super) fn try_recv(&mut self) -> Result<Option<Vec<Vec<u8>>>> {
        let got = match self {
            Port::Zmtp { socket, .. } => socket.try_recv_multipart().map(|m| m.into_frames()),
            Port::Shm(p) => p.end.try_recv().map(|(from, m)| {
                if let Some(h) = p.known.get_mut(from.channel) {
                    h.last_id = from.id;
                }
                let mut frames = m.into_frames();
                frames.insert(0, shm_rid(from));
                frames
            }),
        };
        match got {
            Ok(f) => Ok(Some(f)),
            Err(Error::WouldBlock | Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends `frames` (routing id first) to that peer; a peer that has gone loses it (logged
    /// at debug level; the ZMTP ROUTER counts its own).
    pub(super) fn send(&mut self, frames: &[&[u8]]) {
        let Some((rid, rest)) = frames.split_first() else {
            return;
        };
        match self {
            Port::Zmtp { socket, .. } => {
                if let Err(e) = socket.send_multipart(frames) {
                    log::warn!("send to {} failed: {e}", super::router::show(rid));
                }
            }
            Port::Shm(p) => {
                let Some(to) = p.address(rid) else {
                    log::debug!("shm send to a malformed routing id dropped");
                    return;
                };
                match p.end.send_to(to, rest) {
                    Ok(true) => {}
                    Ok(false) => log::debug!(
                        "message to shm channel {} dropped: its holder has gone or does not \
                         read ({} so far)",
                        to.channel,
                        p.end.dropped()
                    ),
                    Err(e) => log::warn!("send to shm channel {} failed: {e}", to.channel),
                }
            }
        }
    }

    /// Appends the peers that connected or left since the last call.
    pub(super) fn events(&mut self, out: &mut Vec<PortEvent>) {
        match self {
            Port::Zmtp { events, .. } => {
                while let Ok(ev) = events.try_recv() {
                    match ev {
                        SocketEvent::HandshakeSucceeded { routing_id, .. } => {
                            out.push(PortEvent::Connected(routing_id));
                        }
                        SocketEvent::Disconnected {
                            routing_id, reason, ..
                        } => out.push(PortEvent::Disconnected(
                            routing_id,
                            format!("connection closed ({reason})"),
                            false,
                        )),
                        _ => {}
                    }
                }
            }
            Port::Shm(p) => p.events(out),
        }
    }

    /// How long until this side needs its next look even if nothing arrives.
    pub(super) fn next_check(&self) -> Option<Duration> {
        match self {
            Port::Zmtp { .. } => None,
            Port::Shm(p) => Some(p.next_check.saturating_duration_since(Instant::now())),
        }
    }
}

/// What the port knows of one channel's holder.
#[derive(Debug, Clone, Copy, Default)]
struct Holder {
    owner: u32,
    /// Reported gone (its process died) while still holding the channel.
    dead: bool,
    /// The id of the last message it sent (answers to a bare key echo it).
    last_id: u64,
}

pub(super) struct ShmPort {
    end: RouterEnd,
    known: Vec<Holder>,
    interval: Duration,
    next_check: Instant,
}

fn key_of(channel: usize, owner: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(SHM_RID);
    k.extend_from_slice(&u16::try_from(channel).unwrap_or(u16::MAX).to_be_bytes());
    k.extend_from_slice(&owner.to_be_bytes());
    k
}

fn shm_rid(from: From) -> Vec<u8> {
    let mut rid = key_of(from.channel, from.owner);
    rid.extend_from_slice(&from.id.to_be_bytes());
    rid
}

impl ShmPort {
    /// The address a routing id stands for: a full one names its request id; a bare key
    /// answers the last message of that channel's holder.
    fn address(&mut self, rid: &[u8]) -> Option<From> {
        let channel = usize::from(u16::from_be_bytes(rid.get(..2)?.try_into().ok()?));
        let owner = u32::from_be_bytes(rid.get(2..SHM_KEY)?.try_into().ok()?);
        let id = match rid.len() {
            SHM_RID => u64::from_be_bytes(rid[SHM_KEY..].try_into().ok()?),
            SHM_KEY => self.known.get(channel)?.last_id,
            _ => return None,
        };
        Some(From { channel, owner, id })
    }

    fn events(&mut self, out: &mut Vec<PortEvent>) {
        let owners = self.end.owners();
        for (channel, (&owner, h)) in owners.iter().zip(&mut self.known).enumerate() {
            if owner == h.owner {
                continue;
            }
            if h.owner != 0 && !h.dead {
                // A free channel was given back by its holder (which may have exited since:
                // its liveness says nothing then), unless a newcomer is taking over a dead
                // holder's channel right now. A channel that changed hands before the periodic
                // look may have been a dead holder's, reclaimed by a newcomer.
                let clean = if owner == 0 {
                    self.end.given_back(channel)
                } else {
                    self.end.alive(h.owner)
                };
                let why = if clean {
                    "it gave its shm channel back".to_owned()
                } else {
                    format!("its process {} died", h.owner)
                };
                out.push(PortEvent::Disconnected(
                    key_of(channel, h.owner),
                    why,
                    clean,
                ));
            }
            if owner != 0 {
                out.push(PortEvent::Connected(key_of(channel, owner)));
            }
            h.owner = owner;
            h.dead = false;
        }
        if Instant::now() < self.next_check {
            return;
        }
        self.next_check = Instant::now() + self.interval;
        for (channel, h) in self.known.iter_mut().enumerate() {
            if h.owner != 0 && !h.dead && !self.end.alive(h.owner) {
                h.dead = true;
                out.push(PortEvent::Disconnected(
                    key_of(channel, h.owner),
                    format!("its process {} died", h.owner),
                    false,
                ));
            }
        }
    }
}
