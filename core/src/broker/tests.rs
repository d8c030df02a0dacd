//! The broker state machine driven by hand: no threads, sockets or clocks.

use super::*;
use std::vec::Vec;

type B = Broker<4, 8, 4>;

const A: PeerId = PeerId(100);
const BW: PeerId = PeerId(101);
const C: PeerId = PeerId(102);
const CLIENT: PeerId = PeerId(1);

fn config() -> Config {
    Config {
        heartbeat: Liveness {
            interval_ms: 100,
            timeout_ms: 100,
            max_missed: 3,
        },
        ..Config::default()
    }
}

fn lb_ready(b: &mut B, w: PeerId, now: u64) {
    let f: [&[u8]; 2] = [b"", b"READY"];
    assert_eq!(b.on_backend(w, &f, now), Ok(Backend::Ready));
}

fn ppp_ready(b: &mut B, w: PeerId, now: u64) {
    let f: [&[u8]; 1] = [&[1]];
    assert_eq!(b.on_backend(w, &f, now), Ok(Backend::Ready));
}

fn mdp_ready(b: &mut B, w: PeerId, service: &[u8], now: u64) {
    let f: [&[u8]; 3] = [b"MDPW02", &[1], service];
    assert_eq!(b.on_backend(w, &f, now), Ok(Backend::Ready));
}

fn request(b: &mut B, client: PeerId, now: u64) -> RequestId {
    let f: [&[u8]; 2] = [b"", b"job"];
    b.on_frontend(client, &f, now).unwrap().id
}

fn mdp_request(b: &mut B, client: PeerId, service: &[u8], now: u64) -> RequestId {
    let f: [&[u8]; 4] = [b"MDPC02", &[1], service, b"job"];
    b.on_frontend(client, &f, now).unwrap().id
}

/// Drains the actions.
fn drain(b: &mut B, now: u64) -> Vec<Action> {
    b.actions(now).collect()
}

/// Drains the actions, which must all be forwards; returns (request, worker) pairs.
fn forwards(b: &mut B, now: u64) -> Vec<(RequestId, PeerId)> {
    drain(b, now)
        .into_iter()
        .filter_map(|a| match a {
            Action::Forward {
                request, worker, ..
            } => Some((request, worker)),
            Action::Heartbeat { .. } => None,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

/// A load-balancing worker's reply.
fn lb_reply(b: &mut B, w: PeerId, id: RequestId, now: u64) -> Result<Backend, BackendError> {
    let t = id.token();
    let f: [&[u8]; 4] = [b"", &t, b"", b"done"];
    b.on_backend(w, &f, now)
}

fn ppp_reply(b: &mut B, w: PeerId, id: RequestId, now: u64) -> Result<Backend, BackendError> {
    let t = id.token();
    let f: [&[u8]; 3] = [&t, b"", b"done"];
    b.on_backend(w, &f, now)
}

fn is_final_reply(r: Result<Backend, BackendError>, id: RequestId) -> bool {
    matches!(r, Ok(Backend::Reply(Reply { request, last: true, client: CLIENT, .. })) if request == id)
}

#[test]
fn least_recently_ready_and_round_robin_differ_as_specified() {
    for (strategy, fourth) in [
        (Strategy::LeastRecentlyReady, BW),
        (Strategy::RoundRobin, A),
    ] {
        let mut b = B::new(Config {
            strategy,
            ..config()
        });
        for w in [A, BW, C] {
            lb_ready(&mut b, w, 0);
        }
        let r1 = request(&mut b, CLIENT, 1);
        let r2 = request(&mut b, CLIENT, 1);
        assert_eq!(forwards(&mut b, 1), [(r1, A), (r2, BW)]);
        assert!(is_final_reply(lb_reply(&mut b, BW, r2, 2), r2));
        assert!(is_final_reply(lb_reply(&mut b, A, r1, 3), r1));
        // Ready order now C (never used), B, A; table order A, B, C after B.
        let r3 = request(&mut b, CLIENT, 4);
        assert_eq!(forwards(&mut b, 4), [(r3, C)]);
        let r4 = request(&mut b, CLIENT, 4);
        assert_eq!(forwards(&mut b, 4), [(r4, fourth)], "{strategy:?}");
    }
}

#[test]
fn least_loaded_spreads_where_least_recently_ready_stacks() {
    for (strategy, expect) in [
        (Strategy::LeastLoaded, [A, BW, A]),
        (Strategy::LeastRecentlyReady, [A, A, A]),
    ] {
        let mut b = B::new(Config {
            strategy,
            max_in_flight: 3,
            ..config()
        });
        lb_ready(&mut b, A, 0);
        lb_ready(&mut b, BW, 0);
        for _ in 0..3 {
            request(&mut b, CLIENT, 1);
        }
        let got: Vec<PeerId> = forwards(&mut b, 1).into_iter().map(|(_, w)| w).collect();
        assert_eq!(got, expect, "{strategy:?}");
        assert_eq!(
            b.worker(A).unwrap().in_flight,
            expect.iter().filter(|&&w| w == A).count() as u16
        );
    }
}

#[test]
fn custom_strategy_chooses_or_declines() {
    fn highest(_: &RequestInfo<'_>, c: &mut dyn Iterator<Item = Candidate>) -> Option<PeerId> {
        c.map(|c| c.worker).max()
    }
    fn only_retries(r: &RequestInfo<'_>, c: &mut dyn Iterator<Item = Candidate>) -> Option<PeerId> {
        // Declines first attempts; names a stranger for retries (which counts as declining).
        let _ = c.next();
        (r.attempts > 0).then_some(PeerId(999))
    }
    let mut b = B::new(Config {
        strategy: Strategy::Custom(highest),
        ..config()
    });
    for w in [A, C, BW] {
        lb_ready(&mut b, w, 0);
    }
    let r = request(&mut b, CLIENT, 1);
    assert_eq!(forwards(&mut b, 1), [(r, C)]);
    let mut b = B::new(Config {
        strategy: Strategy::Custom(only_retries),
        ..config()
    });
    lb_ready(&mut b, A, 0);
    let r = request(&mut b, CLIENT, 1);
    assert_eq!(forwards(&mut b, 1), []);
    assert_eq!(b.request_state(r), Some(RequestState::Queued));
    // A declined request does not hold up the ones behind it.
    fn not_client_1(r: &RequestInfo<'_>, c: &mut dyn Iterator<Item = Candidate>) -> Option<PeerId> {
        let w = c.next()?;
        (r.client != CLIENT).then_some(w.worker)
    }
    let mut b = B::new(Config {
        strategy: Strategy::Custom(not_client_1),
        ..config()
    });
    lb_ready(&mut b, A, 0);
    let declined = request(&mut b, CLIENT, 1);
    let taken = request(&mut b, PeerId(2), 1);
    assert_eq!(forwards(&mut b, 1), [(taken, A)]);
    assert_eq!(b.request_state(declined), Some(RequestState::Queued));
}

#[test]
fn requests_go_only_to_workers_of_their_service() {
    let mut b = B::new(config());
    lb_ready(&mut b, A, 0);
    mdp_ready(&mut b, BW, b"echo", 0);
    let plain = request(&mut b, CLIENT, 1);
    let echo = mdp_request(&mut b, CLIENT, b"echo", 1);
    let upper = mdp_request(&mut b, CLIENT, b"upper", 1);
    assert_eq!((b.queued(), b.in_flight()), (3, 0));
    let mut got = forwards(&mut b, 1);
    assert_eq!((b.queued(), b.in_flight(), b.request_count()), (1, 2, 3));
    got.sort();
    let mut want = [(plain, A), (echo, BW)];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(b.request_state(upper), Some(RequestState::Queued));
    // A worker for "upper" arrives: the queued request goes to it.
    mdp_ready(&mut b, C, b"upper", 2);
    let Some(Action::Forward {
        request,
        worker,
        protocol,
    }) = b.poll(2)
    else {
        panic!()
    };
    assert_eq!((request, worker), (upper, C));
    assert_eq!(protocol, WorkerProtocol::Majordomo(mdp::Version::V0_2));
}

#[test]
fn heartbeat_expiry_counts_missed_beats() {
    let mut b = B::new(config()); // a beat missed per 100 ms of silence, expired at 3
    ppp_ready(&mut b, A, 0);
    lb_ready(&mut b, BW, 0);
    b.on_tick(99);
    assert_eq!(b.worker(A).unwrap().missed, 0);
    assert_eq!(b.next_deadline(), Some(100));
    assert_eq!(
        drain(&mut b, 100),
        [Action::Heartbeat {
            worker: A,
            protocol: WorkerProtocol::ParanoidPirate
        }],
        "the LB worker gets no heartbeats"
    );
    b.on_tick(100);
    assert_eq!(b.worker(A).unwrap().missed, 1);
    b.on_tick(250);
    assert_eq!(b.worker(A).unwrap().missed, 2);
    // Any message is a beat: the count starts again.
    let hb: [&[u8]; 1] = [&[2]];
    assert_eq!(b.on_backend(A, &hb, 260), Ok(Backend::Heartbeat));
    assert_eq!(b.worker(A).unwrap().missed, 0);
    b.on_tick(359);
    assert_eq!(b.worker(A).unwrap().missed, 0);
    b.on_tick(459);
    assert_eq!(b.worker(A).unwrap().missed, 1);
    b.on_tick(559);
    assert_eq!(b.worker(A).unwrap().missed, 2);
    assert_eq!(b.stats().workers_expired, 0);
    b.on_tick(560);
    assert_eq!(b.worker(A), None, "three beats missed: expired");
    assert_eq!(b.stats().beats_missed, 5);
    assert_eq!(b.stats().workers_expired, 1);
    let dropped = drain(&mut b, 560);
    assert_eq!(
        dropped,
        [Action::DropWorker {
            worker: A,
            protocol: WorkerProtocol::ParanoidPirate
        }]
    );
    // The REQ-style worker cannot heartbeat while it waits: never expired for it.
    b.on_tick(1_000_000_000);
    assert!(b.worker(BW).is_some());
    assert_eq!(b.stats().workers_expired, 1);
}

#[test]
fn a_dying_workers_request_is_requeued_then_failed() {
    let mut b = B::new(Config {
        max_attempts: 2,
        ..config()
    });
    ppp_ready(&mut b, A, 0);
    ppp_ready(&mut b, BW, 0);
    let r = request(&mut b, CLIENT, 0);
    assert_eq!(forwards(&mut b, 0), [(r, A)]);
    // B keeps beating, A goes silent and expires: its request goes to B.
    let hb: [&[u8]; 1] = [&[2]];
    for t in [90, 180, 270] {
        b.on_backend(BW, &hb, t).unwrap();
        b.on_tick(t + 5);
    }
    b.on_tick(300);
    assert_eq!(b.stats().workers_expired, 1);
    assert_eq!(b.stats().requeued, 1);
    let actions = drain(&mut b, 300);
    assert!(actions.contains(&Action::DropWorker {
        worker: A,
        protocol: WorkerProtocol::ParanoidPirate
    }));
    assert!(actions.contains(&Action::Forward {
        request: r,
        worker: BW,
        protocol: WorkerProtocol::ParanoidPirate
    }));
    // B's connection drops too: the request has had its two sends and fails.
    assert!(b.on_worker_disconnect(BW, 310));
    assert_eq!(
        drain(&mut b, 310),
        [Action::Fail {
            request: r,
            client: CLIENT,
            reason: FailReason::WorkerLost
        }]
    );
    assert_eq!(b.request_state(r), None);
    assert_eq!(b.request_count(), 0);
    let s = b.stats();
    assert_eq!((s.failed, s.workers_lost, s.dispatched), (1, 1, 2));
}

#[test]
fn a_queued_request_with_no_worker_fails_after_the_queue_timeout() {
    let mut b = B::new(Config {
        queue_timeout_ms: 500,
        ..config()
    });
    let r = mdp_request(&mut b, CLIENT, b"nobody", 0);
    assert_eq!(b.next_deadline(), Some(500));
    b.on_tick(499);
    assert_eq!(drain(&mut b, 499), []);
    b.on_tick(500);
    assert_eq!(
        drain(&mut b, 500),
        [Action::Fail {
            request: r,
            client: CLIENT,
            reason: FailReason::NoWorker
        }]
    );
}

#[test]
fn late_and_duplicate_replies_are_dropped_and_counted() {
    let mut b = B::new(config());
    ppp_ready(&mut b, A, 0);
    let r = request(&mut b, CLIENT, 0);
    assert_eq!(forwards(&mut b, 0), [(r, A)]);
    b.on_tick(300); // A expires; the request waits for another worker
    drain(&mut b, 300);
    ppp_ready(&mut b, BW, 310);
    assert_eq!(forwards(&mut b, 310), [(r, BW)]);
    // A was only slow: its reply comes now. Dropped; A is taken back as ready (PPP).
    assert_eq!(ppp_reply(&mut b, A, r, 320), Ok(Backend::LateReply));
    assert!(b.worker(A).is_some());
    // Now registered again, A repeats it: still not A's to answer (it is on B).
    assert_eq!(ppp_reply(&mut b, A, r, 325), Ok(Backend::LateReply));
    assert!(is_final_reply(ppp_reply(&mut b, BW, r, 330), r));
    // A duplicate of B's reply, and a reply to a request B never had.
    assert_eq!(ppp_reply(&mut b, BW, r, 340), Ok(Backend::LateReply));
    assert_eq!(
        ppp_reply(&mut b, BW, RequestId(77), 340),
        Ok(Backend::LateReply)
    );
    let s = b.stats();
    assert_eq!((s.replies, s.late_replies), (1, 4));
    assert_eq!(b.worker(BW).unwrap().in_flight, 0);
}

#[test]
fn tables_full_refuse_explicitly() {
    let mut b: Broker<1, 2, 2> = Broker::new(Config {
        max_per_client: 1,
        ..config()
    });
    let req: [&[u8]; 2] = [b"", b"x"];
    b.on_frontend(PeerId(1), &req, 0).unwrap();
    assert_eq!(b.on_frontend(PeerId(1), &req, 0), Err(Refusal::ClientLimit));
    b.on_frontend(PeerId(2), &req, 0).unwrap();
    assert_eq!(b.on_frontend(PeerId(3), &req, 0), Err(Refusal::TableFull));
    assert_eq!(b.stats().refused, 2);
    // Worker table: one slot.
    let ready: [&[u8]; 1] = [&[1]];
    assert_eq!(b.on_backend(A, &ready, 0), Ok(Backend::Ready));
    assert_eq!(
        b.on_backend(BW, &ready, 0),
        Err(BackendError::Refused(WorkerProtocol::ParanoidPirate))
    );
    assert_eq!(b.stats().workers_refused, 1);
    // Service table: "" and one more name.
    let mut b: Broker<4, 4, 2> = Broker::new(config());
    let f = |s: &'static [u8]| -> [&'static [u8]; 4] { [b"MDPC02", &[1], s, b"x"] };
    b.on_frontend(PeerId(1), &f(b""), 0).unwrap();
    b.on_frontend(PeerId(1), &f(b"a"), 0).unwrap();
    assert_eq!(
        b.on_frontend(PeerId(1), &f(b"b"), 0),
        Err(Refusal::ServiceUnavailable)
    );
    let long = [b'x'; MAX_SERVICE + 1];
    let f: [&[u8]; 4] = [b"MDPC02", &[1], &long, b"x"];
    assert_eq!(
        b.on_frontend(PeerId(1), &f, 0),
        Err(Refusal::ServiceUnavailable)
    );
    let ready: [&[u8]; 3] = [b"MDPW02", &[1], b"b"];
    assert_eq!(
        b.on_backend(A, &ready, 0),
        Err(BackendError::Refused(WorkerProtocol::Majordomo(
            mdp::Version::V0_2
        )))
    );
    assert_eq!(b.request_count(), 2, "refusals take nothing");
}

#[test]
fn majordomo_partials_then_final() {
    let mut b = B::new(config());
    mdp_ready(&mut b, A, b"echo", 0);
    let r = mdp_request(&mut b, CLIENT, b"echo", 0);
    assert_eq!(forwards(&mut b, 0), [(r, A)]);
    let t = r.token();
    let partial: [&[u8]; 5] = [b"MDPW02", &[3], &t, b"", b"p"];
    let fin: [&[u8]; 5] = [b"MDPW02", &[4], &t, b"", b"f"];
    let want = |last| {
        Ok(Backend::Reply(Reply {
            request: r,
            client: CLIENT,
            body_from: 4,
            last,
        }))
    };
    assert_eq!(b.on_backend(A, &partial, 1), want(false));
    assert_eq!(b.on_backend(A, &partial, 2), want(false));
    assert_eq!(b.request_state(r), Some(RequestState::InFlight(A)));
    assert_eq!(b.on_backend(A, &fin, 3), want(true));
    assert_eq!(b.on_backend(A, &fin, 4), Ok(Backend::LateReply));
    let s = b.stats();
    assert_eq!((s.partials, s.replies, s.late_replies), (2, 1, 1));
}

#[test]
fn majordomo_protocol_violations_get_disconnect() {
    let mut b = B::new(config());
    // A command before READY.
    let hb: [&[u8]; 2] = [b"MDPW02", &[5]];
    assert_eq!(b.on_backend(A, &hb, 0), Ok(Backend::SendDisconnect));
    // A second READY: the worker is forgotten, and what it held goes back to the queue.
    mdp_ready(&mut b, A, b"echo", 0);
    let r = mdp_request(&mut b, CLIENT, b"echo", 0);
    assert_eq!(forwards(&mut b, 0), [(r, A)]);
    let ready: [&[u8]; 3] = [b"MDPW02", &[1], b"echo"];
    assert_eq!(b.on_backend(A, &ready, 1), Ok(Backend::SendDisconnect));
    assert_eq!(b.worker(A), None);
    assert_eq!(b.request_state(r), Some(RequestState::Queued));
    // A REQUEST sent by a worker; a DISCONNECT.
    mdp_ready(&mut b, BW, b"echo", 2);
    assert_eq!(forwards(&mut b, 2), [(r, BW)]);
    let req: [&[u8]; 5] = [b"MDPW02", &[2], b"x", b"", b"y"];
    assert_eq!(b.on_backend(BW, &req, 3), Ok(Backend::SendDisconnect));
    mdp_ready(&mut b, C, b"echo", 4);
    assert_eq!(forwards(&mut b, 4), [(r, C)]);
    let bye: [&[u8]; 2] = [b"MDPW02", &[6]];
    assert_eq!(b.on_backend(C, &bye, 5), Ok(Backend::Gone));
    assert_eq!(b.worker_count(), 0);
    // Three sends (the default max_attempts), three workers lost: the client gets an error.
    assert_eq!(b.stats().requeued, 2);
    assert_eq!(
        drain(&mut b, 5),
        [Action::Fail {
            request: r,
            client: CLIENT,
            reason: FailReason::WorkerLost
        }]
    );
}

#[test]
fn a_gone_clients_requests_end_and_their_replies_are_dropped() {
    let mut b = B::new(config());
    lb_ready(&mut b, A, 0);
    let in_flight = request(&mut b, CLIENT, 0);
    let queued = request(&mut b, CLIENT, 0);
    assert_eq!(forwards(&mut b, 0), [(in_flight, A)]);
    assert_eq!(b.on_client_disconnect(CLIENT), 2);
    assert_eq!(b.request_state(queued), None);
    assert_eq!(b.request_state(in_flight), Some(RequestState::Orphaned));
    assert_eq!(lb_reply(&mut b, A, in_flight, 1), Ok(Backend::OrphanReply));
    assert_eq!(b.request_count(), 0);
    assert_eq!(
        b.worker(A).unwrap().in_flight,
        0,
        "the worker is free again"
    );
    // A worker lost with an orphan: nothing to requeue.
    let r = request(&mut b, PeerId(2), 2);
    assert_eq!(forwards(&mut b, 2), [(r, A)]);
    b.on_client_disconnect(PeerId(2));
    b.on_worker_disconnect(A, 3);
    assert_eq!(drain(&mut b, 3), []);
    assert_eq!(b.request_count(), 0);
}

#[test]
fn malformed_input_is_counted_not_fatal() {
    let mut b = B::new(config());
    let empty: [&[u8]; 0] = [];
    let bad_worker: [&[u8]; 2] = [b"MDPW02", &[0x7f]];
    let only_delim: [&[u8]; 1] = [b""];
    assert!(matches!(
        b.on_frontend(CLIENT, &empty, 0),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        b.on_frontend(CLIENT, &only_delim, 0),
        Err(Refusal::Malformed(_))
    ));
    assert!(matches!(
        b.on_backend(A, &bad_worker, 0),
        Err(BackendError::Malformed(_))
    ));
    assert!(matches!(
        b.on_backend(A, &empty, 0),
        Err(BackendError::Malformed(_))
    ));
    // A reply whose address is not a token.
    lb_ready(&mut b, A, 0);
    let f: [&[u8]; 4] = [b"", b"not-a-token", b"", b"x"];
    assert_eq!(b.on_backend(A, &f, 0), Ok(Backend::LateReply));
    assert_eq!(b.stats().malformed, 4);
}

#[test]
fn a_reconnecting_lb_worker_gives_back_what_it_held() {
    let mut b = B::new(config());
    lb_ready(&mut b, A, 0);
    let r = request(&mut b, CLIENT, 0);
    assert_eq!(forwards(&mut b, 0), [(r, A)]);
    // Same routing id, new socket: READY again. The request goes out again (to A, the only one).
    lb_ready(&mut b, A, 5);
    assert_eq!(forwards(&mut b, 5), [(r, A)]);
    assert!(is_final_reply(lb_reply(&mut b, A, r, 6), r));
    assert_eq!(b.stats().requeued, 1);
}
