//! [`Client`]: requests in the envelope form on a REQ socket, with the Lazy Pirate rule of
//! the core ([`LazyPirate`]): wait a timeout for the reply, then close the socket, open a new
//! one and send again, up to the retries, then fail with [`BrokerError::NoReply`].

use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use ringwire_core::broker::lazy::{LazyAction, LazyPirate};
use ringwire_core::broker::mdp;
use ringwire_core::pattern::req::ReplyVerdict;

use super::{BrokerError, check_event, ms, ms_since, parse_reply};
use crate::codec::{Codec, Postcard};
use crate::error::{Error, Result};
use crate::shm::{self, FullPolicy, ShmOptions};
use crate::zmtp;

/// A client's socket: a REQ socket, or an shm requester holding one client channel.
enum Socket {
    Zmtp(zmtp::Req),
    Shm(Box<shm::Requester>),
}

impl Socket {
    fn send_multipart(&mut self, frames: &[&[u8]]) -> Result<()> {
        match self {
            Socket::Zmtp(s) => s.send_multipart(frames),
            Socket::Shm(s) => s.send_multipart(frames),
        }
    }

    fn recv_multipart_timeout(&mut self, wait: Duration) -> Result<crate::Message> {
        match self {
            Socket::Zmtp(s) => s.recv_multipart_timeout(wait),
            Socket::Shm(s) => s.recv_multipart_timeout(wait),
        }
    }
}

/// How to make a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    endpoint: String,
    timeout: Duration,
    retries: u32,
    service: Option<Vec<u8>>,
    shm: ShmOptions,
}

impl ClientBuilder {
    /// How long to wait for each reply (default 2.5 s, the guide's).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Sends after the first before giving up (default 2).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Asks a Majordomo service by name (MDP/0.2 client frames) instead of the router's
    /// unnamed service.
    pub fn service(mut self, name: &str) -> Self {
        self.service = Some(name.as_bytes().to_vec());
        self
    }

    /// Options of an `shm://` endpoint's requester (its wait mode, liveness interval; its
    /// connect timeout and full policy are the request timeout).
    pub fn shm_options(mut self, options: ShmOptions) -> Self {
        self.shm = options;
        self
    }

    /// Checks the endpoint and connects (the connection itself is made in the background).
    pub fn connect(self) -> Result<Client> {
        let mut c = Client {
            config: self,
            socket: None,
            epoch: Instant::now(),
            retries_made: 0,
        };
        if c.is_shm() {
            // The segment must be there only when a request goes out (as a ZMTP socket
            // connects in the background); the endpoint is checked now.
            c.config.endpoint.parse::<crate::endpoint::Endpoint>()?;
        } else {
            c.socket = Some(c.open()?);
        }
        Ok(c)
    }
}

/// A client of a [`Router`](super::Router) or [`Server`](super::Server): one request at a
/// time, with retries.
///
/// A retry is a new request on a new socket: the router may run the request twice (see the
/// delivery guarantee in `docs/broker.md`).
pub struct Client {
    config: ClientBuilder,
    socket: Option<Socket>,
    epoch: Instant,
    retries_made: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("connected", &self.socket.is_some())
            .field("retries_made", &self.retries_made)
            .finish()
    }
}

impl Client {
    /// A client of the router or server at `endpoint`, default settings.
    pub fn connect(endpoint: &str) -> Result<Client> {
        Client::builder(endpoint).connect()
    }

    /// Settings before connecting.
    pub fn builder(endpoint: &str) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.to_string(),
            timeout: Duration::from_millis(2500),
            retries: 2,
            service: None,
            shm: ShmOptions::new(),
        }
    }

    /// Retries made so far (sends after the first of a request).
    pub fn retries_made(&self) -> u64 {
        self.retries_made
    }

    fn is_shm(&self) -> bool {
        self.config.endpoint.starts_with("shm://")
    }

    fn open(&self) -> Result<Socket> {
        let timeout = self.config.timeout;
        if self.is_shm() {
            // Waits up to the timeout for a router to serve the segment (or for a restarted
            // one to replace a dead one's).
            let options = self
                .config
                .shm
                .clone()
                .connect_timeout(timeout)
                .full(FullPolicy::BlockFor(timeout));
            return shm::Requester::builder()
                .options(options)
                .connect(&self.config.endpoint)
                .map(|r| Socket::Shm(Box::new(r)));
        }
        zmtp::Req::builder()
            .send_timeout(timeout)
            .linger(Duration::ZERO)
            .connect(&self.config.endpoint)
            .map(Socket::Zmtp)
    }

    /// Sends `payload` (postcard) for `event` and returns the reply's payload, decoded.
    pub fn request<Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        event: &str,
        payload: &Q,
    ) -> Result<A> {
        self.request_as::<Postcard, Q, A>(event, payload)
    }

    /// As [`request`](Client::request), payloads in codec `C` (e.g. `codec::Json`).
    pub fn request_as<C: Codec, Q: Serialize + ?Sized, A: DeserializeOwned>(
        &mut self,
        event: &str,
        payload: &Q,
    ) -> Result<A> {
        let bytes = C::encode(payload)?;
        let reply = self.request_bytes(event, &bytes)?;
        C::decode(&reply)
    }

    /// Sends a raw payload for `event` and returns the raw reply payload.
    pub fn request_bytes(&mut self, event: &str, payload: &[u8]) -> Result<Vec<u8>> {
        check_event(event)?;
        let mut frames: Vec<&[u8]> = Vec::with_capacity(5);
        let service = self.config.service.clone();
        if let Some(service) = &service {
            frames.extend_from_slice(&[mdp::MDPC02, &[0x01], service]);
        }
        frames.extend_from_slice(&[event.as_bytes(), payload]);
        let mut lazy = LazyPirate::new(ms(self.config.timeout), self.config.retries);
        lazy.on_send(ms_since(self.epoch))?;
        let mut sent = self.send(&frames);
        // Over shm a server found dead ends the attempt at once (not at its deadline).
        let mut lost = false;
        loop {
            let mut now = ms_since(self.epoch);
            if lost && let Some(deadline) = lazy.deadline() {
                now = now.max(deadline);
            }
            match lazy.on_tick(now) {
                LazyAction::Wait { until } => {
                    let wait = Duration::from_millis(until.saturating_sub(now));
                    let got = match (&sent, self.socket.as_mut()) {
                        (Ok(()), Some(s)) => s.recv_multipart_timeout(wait),
                        _ => {
                            std::thread::sleep(wait);
                            continue;
                        }
                    };
                    match got {
                        Ok(m) if lazy.on_reply() == ReplyVerdict::Deliver => {
                            return self.unwrap_reply(m.into_frames());
                        }
                        Ok(_) | Err(Error::Timeout) => {}
                        Err(Error::Disconnected) => {
                            // The connection that carried the request closed: this attempt
                            // is lost; the next tick retries or gives up at its deadline
                            // (over shm, where this means the server's process died, now).
                            lost = self.is_shm();
                            self.socket = None;
                            sent = Err(Error::Disconnected);
                        }
                        Err(e) => return Err(e),
                    }
                }
                LazyAction::Retry { attempt } => {
                    log::info!(
                        "no reply to {event:?} from {}: retry {} on a new socket",
                        self.config.endpoint,
                        attempt - 1
                    );
                    self.retries_made += 1;
                    self.socket = None;
                    lost = false;
                    sent = self.send(&frames);
                }
                LazyAction::GiveUp { attempts } => {
                    // A late reply must never answer the next request.
                    self.socket = None;
                    if lost {
                        return Err(Error::Disconnected);
                    }
                    return Err(BrokerError::NoReply {
                        event: event.to_string(),
                        attempts,
                        timeout: self.config.timeout,
                    }
                    .into());
                }
                LazyAction::Idle => {
                    return Err(Error::State("Lazy Pirate state lost its request"));
                }
            }
        }
    }

    fn send(&mut self, frames: &[&[u8]]) -> Result<()> {
        if self.socket.is_none() {
            match self.open() {
                Ok(s) => self.socket = Some(s),
                // No shm router serves the endpoint (yet): the attempt counts as unanswered.
                Err(e) if self.is_shm() && !matches!(e, Error::Endpoint(_)) => {
                    log::debug!("no server at {}: {e}", self.config.endpoint);
                    return Err(Error::Timeout);
                }
                Err(e) => return Err(e),
            }
        }
        let Some(s) = self.socket.as_mut() else {
            return Err(Error::Disconnected);
        };
        match s.send_multipart(frames) {
            Ok(()) => Ok(()),
            // No connection within the timeout: the attempt counts as unanswered.
            Err(e @ (Error::Timeout | Error::Disconnected)) => {
                self.socket = None;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn unwrap_reply(&self, mut frames: Vec<Vec<u8>>) -> Result<Vec<u8>> {
        if self.config.service.is_some() {
            // MDP/0.2: "MDPC02", FINAL (0x03), service, body...
            let header_ok = frames.len() >= 3
                && frames[0] == mdp::MDPC02
                && frames[1] == [0x03]
                && self.config.service.as_deref() == Some(&frames[2][..]);
            if !header_ok {
                return Err(BrokerError::Malformed("not an MDP/0.2 FINAL reply".into()).into());
            }
            frames.drain(..3);
        }
        Ok(parse_reply(&frames)?.to_vec())
    }
}
