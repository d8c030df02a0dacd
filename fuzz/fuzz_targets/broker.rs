//! Fuzzes the broker state machine (`broker::Broker`) with arbitrary sequences of client and
//! worker messages (built from protocol fragments so that valid ones are common, and raw
//! bytes), disconnections and clock steps, draining its actions after every input, against a
//! model of every request it accepted:
//! - it never panics, and `poll` runs dry;
//! - an accepted id is new; a forward, reply or error names an open request and its client;
//!   a reply comes from the worker the request was last forwarded to;
//! - each request ends at most once (final reply, error, or its client's disconnection), and
//!   nothing is said about it afterwards;
//! - the tables stay within their bounds, and the counters agree with the model;
//! - every Majordomo command decoded from the frames encodes back to the same frames;
//! - at the end, with every worker gone and the queue timeout passed, no request is left
//!   open: none was lost.
//!
//! Input: 3 config bytes, then operations (an opcode byte and its arguments).
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use ringwire_core::broker::mdp;
use ringwire_core::broker::{
    Action, Backend, Broker, Candidate, Config, Liveness, PeerId, RequestId, RequestInfo,
    RequestState, Strategy,
};

const W: usize = 4;
const R: usize = 8;
const S: usize = 3;
type Brk = Broker<W, R, S>;

fn pick_odd(r: &RequestInfo<'_>, c: &mut dyn Iterator<Item = Candidate>) -> Option<PeerId> {
    // Declines a request's first offer when its id is odd; otherwise the last candidate.
    if r.attempts == 0 && r.id.as_u64() % 2 == 1 {
        return None;
    }
    c.last().map(|c| c.worker)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Open,
    Replied,
    Failed,
    Cancelled,
}

#[derive(Debug)]
struct Model {
    client: PeerId,
    fate: Fate,
    on: Option<PeerId>,
}

/// A Majordomo command decoded from `frames` encodes back to exactly `frames`, and needs
/// all of its room.
fn codec_round_trip(frames: &[Vec<u8>]) {
    let want: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut out: Vec<&[u8]> = vec![&[]; frames.len()];
    if let Ok((v, cmd)) = mdp::decode_worker(frames) {
        let n = cmd.encode(v, &mut out).expect("a decoded command encodes");
        assert_eq!(out[..n], want[..]);
        assert_eq!(
            cmd.encode(v, &mut out[..n - 1]),
            Err(mdp::MdpError::OutputTooSmall)
        );
    }
    if let Ok((v, cmd)) = mdp::decode_client(frames) {
        let n = cmd.encode(v, &mut out).expect("a decoded command encodes");
        assert_eq!(out[..n], want[..]);
        assert_eq!(
            cmd.encode(v, &mut out[..n - 1]),
            Err(mdp::MdpError::OutputTooSmall)
        );
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
}

struct Run {
    b: Brk,
    now: u64,
    latest: u64,
    ids: Vec<RequestId>,
    model: HashMap<RequestId, Model>,
}

impl Run {
    fn token_of(&self, pick: u8) -> Vec<u8> {
        if self.ids.is_empty() {
            return vec![0; 8];
        }
        self.ids[usize::from(pick) % self.ids.len()]
            .token()
            .to_vec()
    }

    /// A frame list built from fragments.
    fn frames(&self, inp: &mut Input<'_>) -> Vec<Vec<u8>> {
        let n = usize::from(inp.byte() % 7);
        (0..n)
            .map(|_| match inp.byte() % 10 {
                0 => Vec::new(),
                1 => b"MDPC02".to_vec(),
                2 => b"MDPC01".to_vec(),
                3 => b"MDPW02".to_vec(),
                4 => b"MDPW01".to_vec(),
                5 => vec![inp.byte() % 8],
                6 => [&b"a"[..], b"b", b""][usize::from(inp.byte() % 3)].to_vec(),
                7 => b"READY".to_vec(),
                8 => {
                    let p = inp.byte();
                    self.token_of(p)
                }
                _ => {
                    let l = usize::from(inp.byte() % 12);
                    inp.bytes(l)
                }
            })
            .collect()
    }

    /// A well-formed worker message of some protocol.
    fn worker_message(&self, inp: &mut Input<'_>) -> Vec<Vec<u8>> {
        let svc = [&b"a"[..], b"b", b""][usize::from(inp.byte() % 3)].to_vec();
        let tok = {
            let p = inp.byte();
            self.token_of(p)
        };
        let v = |s: &[&[u8]]| s.iter().map(|f| f.to_vec()).collect::<Vec<_>>();
        match inp.byte() % 12 {
            0 => v(&[b"", b"READY"]),
            1 => v(&[&[1]]),
            2 => v(&[&[2]]),
            3 => v(&[b"MDPW02", &[1], &svc]),
            4 => v(&[b"", b"MDPW01", &[1], &svc]),
            5 => v(&[b"", &tok, b"", b"r"]),
            6 => v(&[&tok, b"", b"r"]),
            7 => v(&[b"MDPW02", &[3], &tok, b"", b"p"]),
            8 => v(&[b"MDPW02", &[4], &tok, b"", b"f"]),
            9 => v(&[b"", b"MDPW01", &[3], &tok, b"", b"f"]),
            10 => v(&[b"MDPW02", &[5]]),
            _ => v(&[b"MDPW02", &[6]]),
        }
    }

    fn client_message(&self, inp: &mut Input<'_>) -> Vec<Vec<u8>> {
        let svc = [&b"a"[..], b"b", b""][usize::from(inp.byte() % 3)].to_vec();
        let v = |s: &[&[u8]]| s.iter().map(|f| f.to_vec()).collect::<Vec<_>>();
        match inp.byte() % 3 {
            0 => v(&[b"", b"job"]),
            1 => v(&[b"MDPC02", &[1], &svc, b"job"]),
            _ => v(&[b"", b"MDPC01", &svc, b"job"]),
        }
    }

    fn open(&mut self, id: RequestId) -> &mut Model {
        let m = self
            .model
            .get_mut(&id)
            .expect("the broker named a request it never accepted");
        assert_eq!(m.fate, Fate::Open, "request {id:?} named after it ended");
        m
    }

    fn frontend(&mut self, client: PeerId, frames: &[Vec<u8>]) {
        codec_round_trip(frames);
        if let Ok(acc) = self.b.on_frontend(client, frames, self.now) {
            assert!(!self.model.contains_key(&acc.id), "id reused");
            assert!(acc.request.body_from < frames.len());
            self.ids.push(acc.id);
            self.model.insert(
                acc.id,
                Model {
                    client,
                    fate: Fate::Open,
                    on: None,
                },
            );
        }
    }

    fn backend(&mut self, worker: PeerId, frames: &[Vec<u8>]) {
        codec_round_trip(frames);
        if let Ok(Backend::Reply(r)) = self.b.on_backend(worker, frames, self.now) {
            assert!(r.body_from < frames.len());
            let m = self.open(r.request);
            assert_eq!(m.client, r.client);
            assert_eq!(
                m.on,
                Some(worker),
                "reply from a worker that does not hold it"
            );
            if r.last {
                m.fate = Fate::Replied;
            }
        }
    }

    fn drain(&mut self) {
        for _ in 0..(4 * (W + R) + 8) {
            let Some(a) = self.b.poll(self.now) else {
                return;
            };
            match a {
                Action::Forward {
                    request, worker, ..
                } => self.open(request).on = Some(worker),
                Action::Fail {
                    request, client, ..
                } => {
                    let m = self.open(request);
                    assert_eq!(m.client, client);
                    m.fate = Fate::Failed;
                }
                Action::Heartbeat { .. } | Action::DropWorker { .. } => {}
            }
        }
        panic!("poll does not run dry");
    }

    fn check(&self) {
        assert!(self.b.worker_count() <= W);
        assert!(self.b.request_count() <= R);
        let (mut queued, mut in_flight, mut orphaned) = (0, 0, 0);
        for (id, m) in &self.model {
            let state = self.b.request_state(*id);
            match state {
                Some(RequestState::Queued) => queued += 1,
                Some(RequestState::InFlight(_)) => in_flight += 1,
                Some(RequestState::Orphaned) => orphaned += 1,
                _ => {}
            }
            match m.fate {
                Fate::Open => assert!(
                    matches!(state, Some(RequestState::Queued | RequestState::InFlight(_))),
                    "{id:?} open in the model but {state:?}"
                ),
                Fate::Cancelled => assert!(matches!(state, None | Some(RequestState::Orphaned))),
                Fate::Replied | Fate::Failed => assert_eq!(state, None),
            }
        }
        // The broker's own counts agree with the states of the requests it accepted.
        assert_eq!(self.b.queued(), queued);
        assert_eq!(self.b.in_flight(), in_flight);
        assert_eq!(self.b.request_count(), queued + in_flight + orphaned);
        let s = self.b.stats();
        let count = |f| self.model.values().filter(|m| m.fate == f).count() as u64;
        assert_eq!(s.requests, self.model.len() as u64);
        assert_eq!(s.replies, count(Fate::Replied));
        assert_eq!(s.failed, count(Fate::Failed));
        assert_eq!(s.cancelled, count(Fate::Cancelled));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let (c0, c1, c2) = (inp.byte(), inp.byte(), inp.byte());
    let strategy = match c0 % 4 {
        0 => Strategy::LeastRecentlyReady,
        1 => Strategy::RoundRobin,
        2 => Strategy::LeastLoaded,
        _ => Strategy::Custom(pick_odd),
    };
    let mut config = Config::default();
    config.strategy = strategy;
    config.max_attempts = c0 / 4 % 4;
    config.max_in_flight = u16::from(c0 / 16 % 3);
    config.max_per_client = u16::from(c1 % 6);
    config.heartbeat = Liveness {
        interval_ms: u64::from(c1 / 8 % 4) * 20,
        timeout_ms: u64::from(c2 % 4) * 50,
        max_missed: u32::from(c2 / 4 % 4),
    };
    config.queue_timeout_ms = 1 + u64::from(c2 / 16) * 40;
    let mut run = Run {
        b: Brk::new(config),
        now: 0,
        latest: 0,
        ids: Vec::new(),
        model: HashMap::new(),
    };
    while !inp.0.is_empty() {
        let op = inp.byte();
        let peer = PeerId(u64::from(op >> 5 & 3));
        match op % 10 {
            0 => {
                let f = run.frames(&mut inp);
                run.frontend(peer, &f);
            }
            1 => {
                let f = run.frames(&mut inp);
                run.backend(peer, &f);
            }
            2 | 3 => {
                let f = run.worker_message(&mut inp);
                run.backend(peer, &f);
            }
            4 => {
                let f = run.client_message(&mut inp);
                run.frontend(peer, &f);
            }
            5 => {
                run.now += u64::from(inp.byte()) * 5;
                run.b.on_tick(run.now);
            }
            6 => {
                let ended = run.b.on_client_disconnect(peer);
                let mut n = 0;
                for m in run.model.values_mut() {
                    if m.client == peer && m.fate == Fate::Open {
                        m.fate = Fate::Cancelled;
                        n += 1;
                    }
                }
                assert_eq!(ended, n);
            }
            7 => {
                run.b.on_worker_disconnect(peer, run.now);
            }
            8 => run.now = run.now.saturating_sub(u64::from(inp.byte())),
            _ => run.now += u64::from(inp.byte()),
        }
        run.latest = run.latest.max(run.now);
        run.drain();
        run.check();
    }
    // Nothing is lost: with every worker gone and the queue timeout passed, every request has
    // ended.
    for w in 0..4 {
        run.b.on_worker_disconnect(PeerId(w), run.now);
    }
    run.drain();
    run.now = run.latest + config.queue_timeout_ms + 1;
    run.b.on_tick(run.now);
    run.drain();
    run.check();
    assert_eq!(
        run.b.request_count(),
        0,
        "a request outlived its workers and clients"
    );
    for (id, m) in &run.model {
        assert_ne!(m.fate, Fate::Open, "request {id:?} lost");
    }
});
