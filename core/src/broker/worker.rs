//! The worker's side of the broker protocols: what to send to register, how to read what the
//! broker sends, how to frame a reply, and heartbeat liveness the other way round (the worker
//! beats, and gives the broker up after missed beats, then reconnects on a new socket).
//!
//! Frames are those the worker's socket delivers and takes: a load-balancing worker's REQ
//! socket strips and adds the leading empty frame itself, so here its READY is `"READY"` and a
//! request is `address, "", body…`; a Paranoid Pirate or Majordomo worker's DEALER passes
//! every frame (MDP/0.1's leading `""` included).
//!
//! ```
//! use ringwire_core::broker::worker::{WorkerEvent, WorkerSession, WorkerTick};
//! use ringwire_core::broker::{Liveness, WorkerProtocol};
//!
//! let beat = Liveness { interval_ms: 100, timeout_ms: 100, max_missed: 3 };
//! let mut w = WorkerSession::new(WorkerProtocol::ParanoidPirate, beat, 0);
//! assert_eq!(w.ready_message(b"").as_slice(), &[&[1u8][..]]);
//! let request: [&[u8]; 3] = [b"addr", b"", b"job"];
//! assert_eq!(
//!     w.on_message(&request, 10),
//!     Ok(WorkerEvent::Request { address: b"addr", body_from: 2 })
//! );
//! assert_eq!(w.reply_header(b"addr", true).unwrap().as_slice(), &[&b"addr"[..], b""]);
//! assert_eq!(w.on_tick(100), WorkerTick::SendHeartbeat);
//! ```

use super::mdp::{self, Version, WorkerCommand};
use super::wire::{self, Header, WireError};
use super::{Liveness, WorkerProtocol};

/// What a message from the broker means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerEvent<'a> {
    /// A request: run it, and send [`WorkerSession::reply_header`]`(address)` and the reply.
    Request {
        /// The address frame to echo.
        address: &'a [u8],
        /// The request body is `frames[body_from..]`.
        body_from: usize,
    },
    /// The broker's heartbeat.
    Heartbeat,
    /// The broker said DISCONNECT (Majordomo): close the socket, connect a new one and send
    /// READY again.
    Disconnect,
}

/// What the worker must do at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WorkerTick {
    /// Nothing.
    Idle,
    /// Send [`WorkerSession::heartbeat_message`].
    SendHeartbeat,
    /// The broker missed `max_missed` beats: close the socket, reconnect (after a back-off),
    /// send READY and call [`WorkerSession::on_reconnected`].
    Reconnect,
}

/// One worker's protocol state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSession {
    protocol: WorkerProtocol,
    liveness: Liveness,
    last_heard: u64,
    next_beat: u64,
    missed: u32,
}

impl WorkerSession {
    /// A worker of `protocol` that has just connected and sends READY at `now`.
    pub const fn new(protocol: WorkerProtocol, liveness: Liveness, now: u64) -> Self {
        WorkerSession {
            protocol,
            liveness,
            last_heard: now,
            next_beat: now.saturating_add(liveness.interval_ms),
            missed: 0,
        }
    }

    /// Its protocol.
    pub fn protocol(&self) -> WorkerProtocol {
        self.protocol
    }

    /// Beats the broker has missed in a row.
    pub fn missed(&self) -> u32 {
        self.missed
    }

    /// The READY to send after connecting (`service` is used by Majordomo only).
    pub fn ready_message<'a>(&self, service: &'a [u8]) -> Header<'a> {
        match self.protocol {
            WorkerProtocol::LoadBalancing => Header::of(&[wire::LB_READY]),
            WorkerProtocol::ParanoidPirate => Header::of(&[wire::PPP_READY]),
            WorkerProtocol::Majordomo(v) => {
                let mut out: [&[u8]; 4] = [&[]; 4];
                let ready: WorkerCommand<'a, &[u8]> = WorkerCommand::Ready { service };
                // A READY is 3 or 4 frames: it always fits.
                let n = ready.encode(v, &mut out).unwrap_or(0);
                Header::of(&out[..n])
            }
        }
    }

    /// The heartbeat to send (empty for the load-balancing protocol, which has none).
    pub fn heartbeat_message(&self) -> Header<'static> {
        wire::heartbeat_message(self.protocol)
    }

    /// The frames before a reply body to the request that came with `address`; `last` false
    /// for a Majordomo/0.2 PARTIAL. `None` for a partial reply in a protocol without them.
    pub fn reply_header<'a>(&self, address: &'a [u8], last: bool) -> Option<Header<'a>> {
        const EMPTY: &[u8] = &[];
        match (self.protocol, last) {
            (WorkerProtocol::Majordomo(Version::V0_2), _) => Some(Header::of(&[
                mdp::MDPW02,
                if last { &[0x04] } else { &[0x03] },
                address,
                EMPTY,
            ])),
            (_, false) => None,
            (WorkerProtocol::Majordomo(Version::V0_1), true) => {
                Some(Header::of(&[EMPTY, mdp::MDPW01, &[0x03], address, EMPTY]))
            }
            (WorkerProtocol::LoadBalancing | WorkerProtocol::ParanoidPirate, true) => {
                Some(Header::of(&[address, EMPTY]))
            }
        }
    }

    /// A message from the broker arrived at `now`. Anything well-formed counts as the
    /// broker's heartbeat.
    pub fn on_message<'a, F: AsRef<[u8]>>(
        &mut self,
        frames: &'a [F],
        now: u64,
    ) -> Result<WorkerEvent<'a>, WireError> {
        let event = match self.protocol {
            WorkerProtocol::Majordomo(version) => {
                let (v, cmd) = mdp::decode_worker(frames)?;
                if v != version {
                    return Err(WireError::UnknownWorkerMessage);
                }
                match cmd {
                    WorkerCommand::Request { client, body } => WorkerEvent::Request {
                        address: client,
                        body_from: frames.len() - body.len(),
                    },
                    WorkerCommand::Heartbeat => WorkerEvent::Heartbeat,
                    WorkerCommand::Disconnect => WorkerEvent::Disconnect,
                    _ => return Err(WireError::UnexpectedCommand),
                }
            }
            WorkerProtocol::ParanoidPirate if frames.len() == 1 => {
                if frames[0].as_ref() == wire::PPP_HEARTBEAT {
                    WorkerEvent::Heartbeat
                } else {
                    return Err(WireError::UnknownWorkerMessage);
                }
            }
            WorkerProtocol::ParanoidPirate | WorkerProtocol::LoadBalancing => match frames {
                [address, delimiter, _, ..] if delimiter.as_ref().is_empty() => {
                    WorkerEvent::Request {
                        address: address.as_ref(),
                        body_from: 2,
                    }
                }
                [_, _, _, ..] => return Err(WireError::MissingDelimiter),
                _ => return Err(WireError::NoBody),
            },
        };
        self.last_heard = self.last_heard.max(now);
        self.missed = 0;
        Ok(event)
    }

    /// We sent something to the broker at `now` (it counts as our heartbeat).
    pub fn on_sent(&mut self, now: u64) {
        self.next_beat = now.saturating_add(self.liveness.interval_ms);
    }

    /// A new socket is connected and READY sent at `now`: the timers start again.
    pub fn on_reconnected(&mut self, now: u64) {
        *self = WorkerSession::new(self.protocol, self.liveness, now);
    }

    /// Checks the clock at `now`. A load-balancing worker has no heartbeats: always idle.
    pub fn on_tick(&mut self, now: u64) -> WorkerTick {
        if !self.protocol.heartbeats() {
            return WorkerTick::Idle;
        }
        let l = self.liveness;
        if let Some(missed) = now
            .saturating_sub(self.last_heard)
            .checked_div(l.timeout_ms)
        {
            self.missed = self.missed.max(u32::try_from(missed).unwrap_or(u32::MAX));
            if self.missed >= l.max_missed.max(1) {
                return WorkerTick::Reconnect;
            }
        }
        if l.interval_ms != 0 && now >= self.next_beat {
            self.next_beat = now.saturating_add(l.interval_ms);
            return WorkerTick::SendHeartbeat;
        }
        WorkerTick::Idle
    }

    /// When [`on_tick`](Self::on_tick) next has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.protocol.heartbeats() {
            return None;
        }
        let l = self.liveness;
        let beat = (l.interval_ms != 0).then_some(self.next_beat);
        let miss = (l.timeout_ms != 0).then(|| {
            let n = u64::from(self.missed).saturating_add(1);
            self.last_heard
                .saturating_add(l.timeout_ms.saturating_mul(n))
        });
        beat.into_iter().chain(miss).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{Backend, Broker, Config, PeerId};

    const BEAT: Liveness = Liveness {
        interval_ms: 100,
        timeout_ms: 100,
        max_missed: 3,
    };

    #[test]
    fn ready_and_reply_frames_of_each_protocol() {
        let mk = |p| WorkerSession::new(p, BEAT, 0);
        let lb = mk(WorkerProtocol::LoadBalancing);
        let m1 = mk(WorkerProtocol::Majordomo(Version::V0_1));
        let m2 = mk(WorkerProtocol::Majordomo(Version::V0_2));
        let f = |h: Header<'_>| -> std::vec::Vec<std::vec::Vec<u8>> {
            h.as_slice().iter().map(|f| f.to_vec()).collect()
        };
        assert_eq!(f(lb.ready_message(b"x")), [b"READY".to_vec()]);
        assert_eq!(
            f(m2.ready_message(b"echo")),
            [b"MDPW02".to_vec(), std::vec![1], b"echo".to_vec()]
        );
        assert_eq!(
            f(m1.ready_message(b"echo")),
            [
                std::vec![],
                b"MDPW01".to_vec(),
                std::vec![1],
                b"echo".to_vec()
            ]
        );
        assert_eq!(
            f(m2.reply_header(b"A", false).unwrap()),
            [b"MDPW02".to_vec(), std::vec![3], b"A".to_vec(), std::vec![]]
        );
        assert_eq!(
            f(m1.reply_header(b"A", true).unwrap()),
            [
                std::vec![],
                b"MDPW01".to_vec(),
                std::vec![3],
                b"A".to_vec(),
                std::vec![]
            ]
        );
        assert_eq!(m1.reply_header(b"A", false), None);
        assert_eq!(lb.reply_header(b"A", false), None);
        assert_eq!(f(lb.heartbeat_message()), [] as [std::vec::Vec<u8>; 0]);
    }

    #[test]
    fn broker_messages_are_read_or_refused() {
        let mut w = WorkerSession::new(WorkerProtocol::Majordomo(Version::V0_2), BEAT, 0);
        let req: [&[u8]; 5] = [b"MDPW02", &[2], b"A", b"", b"job"];
        assert_eq!(
            w.on_message(&req, 1),
            Ok(WorkerEvent::Request {
                address: b"A",
                body_from: 4
            })
        );
        let hb: [&[u8]; 2] = [b"MDPW02", &[5]];
        assert_eq!(w.on_message(&hb, 2), Ok(WorkerEvent::Heartbeat));
        let bye: [&[u8]; 2] = [b"MDPW02", &[6]];
        assert_eq!(w.on_message(&bye, 3), Ok(WorkerEvent::Disconnect));
        let ready: [&[u8]; 3] = [b"MDPW02", &[1], b"s"];
        assert_eq!(w.on_message(&ready, 4), Err(WireError::UnexpectedCommand));
        let other: [&[u8]; 4] = [b"", b"MDPW01", &[5], b"x"];
        assert!(w.on_message(&other, 4).is_err());
        let mut p = WorkerSession::new(WorkerProtocol::ParanoidPirate, BEAT, 0);
        let junk: [&[u8]; 1] = [&[9]];
        assert_eq!(p.on_message(&junk, 1), Err(WireError::UnknownWorkerMessage));
        let nodelim: [&[u8]; 3] = [b"A", b"x", b"y"];
        assert_eq!(p.on_message(&nodelim, 1), Err(WireError::MissingDelimiter));
    }

    #[test]
    fn worker_beats_and_gives_the_broker_up_after_missed_beats() {
        let mut w = WorkerSession::new(WorkerProtocol::ParanoidPirate, BEAT, 0);
        assert_eq!(w.next_deadline(), Some(100));
        assert_eq!(w.on_tick(99), WorkerTick::Idle);
        assert_eq!(w.on_tick(100), WorkerTick::SendHeartbeat);
        assert_eq!(w.missed(), 1);
        let hb: [&[u8]; 1] = [&[2]];
        w.on_message(&hb, 150).unwrap();
        assert_eq!(w.missed(), 0);
        w.on_sent(160); // a reply went out: the next beat is due an interval later
        assert_eq!(w.on_tick(200), WorkerTick::Idle);
        assert_eq!(w.on_tick(260), WorkerTick::SendHeartbeat);
        assert_eq!(w.on_tick(350), WorkerTick::Idle);
        assert_eq!(w.missed(), 2);
        assert_eq!(w.on_tick(449), WorkerTick::SendHeartbeat);
        assert_eq!(w.on_tick(450), WorkerTick::Reconnect);
        w.on_reconnected(500);
        assert_eq!((w.missed(), w.on_tick(550)), (0, WorkerTick::Idle));
        // A REQ-style worker has no heartbeats to send or watch.
        let mut lb = WorkerSession::new(WorkerProtocol::LoadBalancing, BEAT, 0);
        assert_eq!(lb.on_tick(1_000_000), WorkerTick::Idle);
        assert_eq!(lb.next_deadline(), None);
    }

    /// The worker side and the broker side agree: READY, a request, the reply.
    #[test]
    fn worker_and_broker_speak_the_same_frames() {
        for protocol in [
            WorkerProtocol::ParanoidPirate,
            WorkerProtocol::Majordomo(Version::V0_1),
            WorkerProtocol::Majordomo(Version::V0_2),
        ] {
            let mut b: Broker<2, 2, 2> = Broker::new(Config::default());
            let mut w = WorkerSession::new(protocol, BEAT, 0);
            let ready = w.ready_message(b"svc");
            assert_eq!(
                b.on_backend(PeerId(9), ready.as_slice(), 0),
                Ok(Backend::Ready)
            );
            let client: [&[u8]; 4] = [b"MDPC02", &[1], b"svc", b"job"];
            let plain: [&[u8]; 2] = [b"", b"job"];
            let msg: &[&[u8]] = if matches!(protocol, WorkerProtocol::Majordomo(_)) {
                &client
            } else {
                &plain
            };
            let id = b.on_frontend(PeerId(1), msg, 0).unwrap().id;
            assert!(matches!(
                b.poll(0),
                Some(crate::broker::Action::Forward { .. })
            ));
            let token = id.token();
            let mut sent: std::vec::Vec<&[u8]> =
                wire::request_header(protocol, &token).as_slice().to_vec();
            sent.push(b"job");
            let Ok(WorkerEvent::Request { address, body_from }) = w.on_message(&sent, 1) else {
                panic!("{protocol:?}")
            };
            assert_eq!(sent[body_from..], [b"job"]);
            let mut reply: std::vec::Vec<&[u8]> =
                w.reply_header(address, true).unwrap().as_slice().to_vec();
            reply.push(b"done");
            let Ok(Backend::Reply(r)) = b.on_backend(PeerId(9), &reply, 2) else {
                panic!("{protocol:?}")
            };
            assert_eq!((r.request, reply[r.body_from]), (id, &b"done"[..]));
        }
    }
}
