use std::vec;
use std::vec::Vec;

use super::wire::{self, code, header};
use super::*;
use crate::broker::PeerId;

type Dir = Directory<4, 3, 6>;
const A: PeerId = PeerId(1);
const B: PeerId = PeerId(2);
const C: PeerId = PeerId(3);

fn joined() -> Dir {
    let mut d = Dir::new();
    for (p, id) in [(A, &b"a"[..]), (B, b"b"), (C, b"c")] {
        assert!(matches!(
            d.handle(
                p,
                &Request::Join {
                    node: id,
                    remote: false
                }
            ),
            Ok(Outcome::Joined)
        ));
    }
    d
}

fn create(d: &mut Dir, p: PeerId, ev: &'static [u8], emission: Emission) -> Result<(), ErrorCode> {
    d.handle(
        p,
        &Request::CreateEvent {
            event: ev,
            emission,
            creator_subscribes: false,
        },
    )
    .map(|_| ())
}

fn sub(d: &mut Dir, p: PeerId, ev: &'static [u8]) -> Result<(), ErrorCode> {
    d.handle(p, &Request::Subscribe { event: ev }).map(|_| ())
}

fn emit(d: &mut Dir, p: PeerId, ev: &'static [u8]) -> Result<Vec<PeerId>, ErrorCode> {
    match d.handle(
        p,
        &Request::Emit {
            event: ev,
            data: b"x",
        },
    )? {
        Outcome::Emit { recipients, .. } => Ok(recipients.collect()),
        o => panic!("{o:?}"),
    }
}

fn drain(d: &mut Dir) -> Vec<(Vec<u8>, PeerId)> {
    let mut v = Vec::new();
    d.drain_dissolved(|e, p| v.push((e.to_vec(), p)));
    v
}

#[test]
fn requests_before_join_are_refused() {
    let mut d = Dir::new();
    assert_eq!(sub(&mut d, A, b"e"), Err(ErrorCode::NotJoined));
    assert_eq!(
        d.handle(A, &Request::Leave).err(),
        Some(ErrorCode::NotJoined)
    );
}

#[test]
fn join_rules() {
    let mut d = joined();
    assert_eq!(d.node_count(), 3);
    assert_eq!(
        d.handle(
            A,
            &Request::Join {
                node: b"z",
                remote: false
            }
        )
        .err(),
        Some(ErrorCode::AlreadyJoined)
    );
    let d4 = PeerId(4);
    assert_eq!(
        d.handle(
            d4,
            &Request::Join {
                node: b"a",
                remote: false
            }
        )
        .err(),
        Some(ErrorCode::NodeIdTaken)
    );
    d.handle(
        d4,
        &Request::Join {
            node: b"d",
            remote: false,
        },
    )
    .unwrap();
    assert_eq!(
        d.handle(
            PeerId(5),
            &Request::Join {
                node: b"e",
                remote: false
            }
        )
        .err(),
        Some(ErrorCode::Full)
    );
    assert_eq!(d.node_id(d4), Some(&b"d"[..]));
    assert_eq!(d.peer_of(b"d"), Some(d4));
    // A departed node's id is free again.
    d.handle(d4, &Request::Leave).unwrap();
    d.handle(
        PeerId(5),
        &Request::Join {
            node: b"d",
            remote: false,
        },
    )
    .unwrap();
}

#[test]
fn single_emission_only_the_creator_emits() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Single).unwrap();
    sub(&mut d, B, b"e").unwrap();
    sub(&mut d, C, b"e").unwrap();
    assert_eq!(emit(&mut d, B, b"e"), Err(ErrorCode::MayNotEmit));
    assert_eq!(emit(&mut d, A, b"e"), Ok(vec![B, C]));
}

#[test]
fn multi_emission_subscribers_emit_outsiders_do_not() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Multi).unwrap();
    sub(&mut d, B, b"e").unwrap();
    assert_eq!(emit(&mut d, C, b"e"), Err(ErrorCode::MayNotEmit));
    // The emitter does not get its own emission; the creator is not a subscriber.
    assert_eq!(emit(&mut d, B, b"e"), Ok(vec![]));
    assert_eq!(emit(&mut d, A, b"e"), Ok(vec![B]));
    sub(&mut d, C, b"e").unwrap();
    assert_eq!(emit(&mut d, C, b"e"), Ok(vec![B]));
}

#[test]
fn a_creator_that_subscribes_receives_the_others_emissions() {
    let mut d = joined();
    let req = Request::CreateEvent {
        event: b"e",
        emission: Emission::Multi,
        creator_subscribes: true,
    };
    d.handle(A, &req).unwrap();
    sub(&mut d, B, b"e").unwrap();
    assert_eq!(emit(&mut d, B, b"e"), Ok(vec![A]));
    assert_eq!(sub(&mut d, A, b"e"), Err(ErrorCode::AlreadySubscribed));
}

#[test]
fn event_ids_are_unique_and_tables_bounded() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Single).unwrap();
    assert_eq!(
        create(&mut d, B, b"e", Emission::Multi),
        Err(ErrorCode::EventExists)
    );
    create(&mut d, A, b"f", Emission::Single).unwrap();
    create(&mut d, A, b"g", Emission::Single).unwrap();
    assert_eq!(
        create(&mut d, A, b"h", Emission::Single),
        Err(ErrorCode::Full)
    );
    assert_eq!(d.event_count(), 3);
    assert_eq!(d.event(b"f"), Some(Emission::Single));
}

#[test]
fn subscription_rules() {
    let mut d = joined();
    assert_eq!(sub(&mut d, B, b"nope"), Err(ErrorCode::UnknownEvent));
    create(&mut d, A, b"e", Emission::Single).unwrap();
    sub(&mut d, B, b"e").unwrap();
    assert_eq!(sub(&mut d, B, b"e"), Err(ErrorCode::AlreadySubscribed));
    let unsub = Request::Unsubscribe { event: b"e" };
    assert!(matches!(d.handle(B, &unsub), Ok(Outcome::Unsubscribed)));
    assert_eq!(d.handle(B, &unsub).err(), Some(ErrorCode::NotSubscribed));
    assert_eq!(
        d.handle(B, &Request::Unsubscribe { event: b"x" }).err(),
        Some(ErrorCode::UnknownEvent)
    );
    assert_eq!(emit(&mut d, A, b"e"), Ok(vec![]));
}

#[test]
fn the_subscription_table_is_bounded() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Multi).unwrap();
    create(&mut d, A, b"f", Emission::Multi).unwrap();
    for p in [A, B, C] {
        sub(&mut d, p, b"e").unwrap();
        sub(&mut d, p, b"f").unwrap();
    }
    assert_eq!(d.subscription_count(), 6);
    create(&mut d, B, b"g", Emission::Multi).unwrap();
    assert_eq!(sub(&mut d, C, b"g"), Err(ErrorCode::Full));
    let full = Request::CreateEvent {
        event: b"h",
        emission: Emission::Multi,
        creator_subscribes: true,
    };
    d.handle(B, &Request::Dissolve { event: b"g" }).unwrap();
    drain(&mut d);
    // A create whose creator subscription does not fit creates nothing.
    assert_eq!(d.handle(B, &full).err(), Some(ErrorCode::Full));
    assert_eq!(d.event(b"h"), None);
}

#[test]
fn emitters_subscribers_and_a_nodes_rings_for_hubless_services() {
    let mut d = joined();
    create(&mut d, A, b"one", Emission::Single).unwrap();
    create(&mut d, A, b"many", Emission::Multi).unwrap();
    sub(&mut d, B, b"one").unwrap();
    sub(&mut d, B, b"many").unwrap();
    sub(&mut d, C, b"many").unwrap();
    let emitters = |d: &Dir, e: &[u8]| {
        let mut v = Vec::new();
        d.for_each_emitter(e, |id, p| v.push((id.to_vec(), p)));
        v
    };
    assert_eq!(emitters(&d, b"one"), [(b"a".to_vec(), A)]);
    assert_eq!(
        emitters(&d, b"many"),
        [(b"a".to_vec(), A), (b"b".to_vec(), B), (b"c".to_vec(), C)]
    );
    assert!(emitters(&d, b"nope").is_empty());
    let mut subs = Vec::new();
    d.for_each_subscriber(b"many", |id, p| subs.push((id.to_vec(), p)));
    assert_eq!(subs, [(b"b".to_vec(), B), (b"c".to_vec(), C)]);
    let rings = |d: &Dir, p| {
        let mut v = Vec::new();
        d.for_each_ring_of(p, |e, created| v.push((e.to_vec(), created)));
        v
    };
    assert_eq!(
        rings(&d, A),
        [(b"one".to_vec(), true), (b"many".to_vec(), true)]
    );
    // B reads "one" (no ring of its own there) and emits "many".
    assert_eq!(rings(&d, B), [(b"many".to_vec(), false)]);
    let mut subs_of_b = Vec::new();
    d.for_each_subscription_of(B, |e| subs_of_b.push(e.to_vec()));
    assert_eq!(subs_of_b, [b"one".to_vec(), b"many".to_vec()]);
    // Once A is gone its events are no longer anyone's ring.
    assert!(d.on_disconnect(A));
    assert!(rings(&d, B).is_empty());
    assert!(rings(&d, A).is_empty());
}

#[test]
fn only_the_creator_dissolves_and_subscribers_are_told() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Multi).unwrap();
    sub(&mut d, B, b"e").unwrap();
    sub(&mut d, C, b"e").unwrap();
    let dissolve = Request::Dissolve { event: b"e" };
    assert_eq!(d.handle(B, &dissolve).err(), Some(ErrorCode::NotCreator));
    assert!(matches!(d.handle(A, &dissolve), Ok(Outcome::Dissolved)));
    // Gone at once for every request, before the drain.
    assert_eq!(sub(&mut d, B, b"x"), Err(ErrorCode::UnknownEvent));
    assert_eq!(emit(&mut d, B, b"e"), Err(ErrorCode::UnknownEvent));
    assert_eq!(d.handle(A, &dissolve).err(), Some(ErrorCode::UnknownEvent));
    assert_eq!(drain(&mut d), [(b"e".to_vec(), B), (b"e".to_vec(), C)]);
    assert_eq!(drain(&mut d), []);
    assert_eq!(d.subscription_count(), 0);
    assert_eq!(sub(&mut d, B, b"e"), Err(ErrorCode::UnknownEvent));
    // The id can be created again.
    create(&mut d, B, b"e", Emission::Single).unwrap();
}

#[test]
fn contact_and_signal_name_the_target_and_the_sender() {
    let mut d = joined();
    match d.handle(
        A,
        &Request::Contact {
            to: b"c",
            data: b"hi",
        },
    ) {
        Ok(Outcome::Contact { to, from }) => assert_eq!((to, from), (C, &b"a"[..])),
        o => panic!("{o:?}"),
    }
    match d.handle(B, &Request::Signal { to: b"b" }) {
        Ok(Outcome::Signal { to, from }) => assert_eq!((to, from), (B, &b"b"[..])),
        o => panic!("{o:?}"),
    }
    assert_eq!(
        d.handle(
            A,
            &Request::Contact {
                to: b"zz",
                data: b""
            }
        )
        .err(),
        Some(ErrorCode::UnknownNode)
    );
    assert_eq!(
        d.handle(A, &Request::Signal { to: b"zz" }).err(),
        Some(ErrorCode::UnknownNode)
    );
}

#[test]
fn a_dead_node_is_forgotten_its_events_dissolved_its_subscriptions_dropped() {
    let mut d = joined();
    create(&mut d, A, b"mine", Emission::Single).unwrap();
    create(&mut d, B, b"theirs", Emission::Multi).unwrap();
    sub(&mut d, A, b"theirs").unwrap();
    sub(&mut d, B, b"mine").unwrap();
    sub(&mut d, C, b"mine").unwrap();
    sub(&mut d, C, b"theirs").unwrap();
    assert!(d.on_disconnect(A));
    assert!(!d.on_disconnect(A));
    assert_eq!(
        drain(&mut d),
        [(b"mine".to_vec(), B), (b"mine".to_vec(), C)]
    );
    assert_eq!(d.node_count(), 2);
    assert_eq!(d.event(b"mine"), None);
    // A's subscription to B's event is gone; the others go on.
    assert_eq!(emit(&mut d, B, b"theirs"), Ok(vec![C]));
    assert_eq!(
        d.handle(
            B,
            &Request::Contact {
                to: b"a",
                data: b""
            }
        )
        .err(),
        Some(ErrorCode::UnknownNode)
    );
    assert_eq!(
        d.handle(A, &Request::Leave).err(),
        Some(ErrorCode::NotJoined)
    );
}

#[test]
fn leave_is_the_same_as_death() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Single).unwrap();
    sub(&mut d, B, b"e").unwrap();
    assert!(matches!(d.handle(A, &Request::Leave), Ok(Outcome::Left)));
    assert_eq!(drain(&mut d), [(b"e".to_vec(), B)]);
    assert!(!d.on_disconnect(A));
}

#[test]
fn a_node_slot_reused_by_another_node_inherits_nothing() {
    let mut d = joined();
    create(&mut d, A, b"e", Emission::Multi).unwrap();
    sub(&mut d, C, b"e").unwrap();
    create(&mut d, C, b"f", Emission::Multi).unwrap();
    sub(&mut d, A, b"f").unwrap();
    d.on_disconnect(A);
    drain(&mut d);
    d.handle(
        PeerId(9),
        &Request::Join {
            node: b"new",
            remote: false,
        },
    )
    .unwrap();
    assert_eq!(emit(&mut d, C, b"f"), Ok(vec![]));
    assert_eq!(emit(&mut d, PeerId(9), b"f"), Err(ErrorCode::MayNotEmit));
}

// ---- wire ----

#[test]
fn header_bytes() {
    assert_eq!(header(code::EMIT, 0x0102_0304), [1, 7, 4, 3, 2, 1]);
    assert_eq!(wire::parse_header(&[1, 0x82, 5, 0, 0, 0]), Ok((0x82, 5)));
    assert_eq!(
        wire::parse_header(&[2, 1, 0, 0, 0, 0]),
        Err(WireError::Version(2))
    );
    assert_eq!(
        wire::parse_header(&[1, 1, 0, 0, 0]),
        Err(WireError::BadHeader)
    );
}

#[test]
fn every_request_parses_from_its_documented_frames() {
    let h = |c| header(c, 7);
    let cases: [(&[&[u8]], Request<'_>); 12] = [
        (
            &[&h(1), b"n"],
            Request::Join {
                node: b"n",
                remote: false,
            },
        ),
        (&[&h(2)], Request::Leave),
        (
            &[&h(3), b"e", &[1, 1]],
            Request::CreateEvent {
                event: b"e",
                emission: Emission::Multi,
                creator_subscribes: true,
            },
        ),
        (&[&h(4), b"e"], Request::Dissolve { event: b"e" }),
        (&[&h(5), b"e"], Request::Subscribe { event: b"e" }),
        (&[&h(6), b"e"], Request::Unsubscribe { event: b"e" }),
        (
            &[&h(7), b"e", b""],
            Request::Emit {
                event: b"e",
                data: b"",
            },
        ),
        (
            &[&h(8), b"n", b"d"],
            Request::Contact {
                to: b"n",
                data: b"d",
            },
        ),
        (&[&h(9), b"n"], Request::Signal { to: b"n" }),
        (
            &[&h(1), b"n", &[wire::JOIN_REMOTE]],
            Request::Join {
                node: b"n",
                remote: true,
            },
        ),
        // Reserved bits are ignored.
        (
            &[&h(1), b"n", &[0x80]],
            Request::Join {
                node: b"n",
                remote: false,
            },
        ),
        (
            &[&h(0x0A), b"e", b"d"],
            Request::Forward {
                event: b"e",
                data: b"d",
            },
        ),
    ];
    for (frames, want) in cases {
        assert_eq!(Request::parse(frames), Ok((7, want)));
    }
    assert_eq!(wire::kind_frame(Emission::Single, false), [0, 0]);
}

/// A node that joined remote reads and writes no ring: it is left out of the emitters and
/// ring readers, counted among the remote subscribers, and a FORWARD reaches only such nodes.
#[test]
fn remote_nodes_are_served_routed_and_get_the_forwards() {
    const R: PeerId = PeerId(4);
    let mut d = joined();
    d.handle(
        R,
        &Request::Join {
            node: b"r",
            remote: true,
        },
    )
    .unwrap();
    assert!(d.is_remote(R) && !d.is_remote(A) && !d.is_remote(PeerId(9)));
    create(&mut d, A, b"many", Emission::Multi).unwrap();
    create(&mut d, R, b"far", Emission::Single).unwrap();
    for p in [B, R] {
        sub(&mut d, p, b"many").unwrap();
    }
    sub(&mut d, C, b"far").unwrap();
    let emitters = |d: &Dir, e: &[u8]| {
        let mut v = Vec::new();
        d.for_each_emitter(e, |_, p| v.push(p));
        v
    };
    let readers = |d: &Dir, e: &[u8]| {
        let mut v = Vec::new();
        d.for_each_subscriber(e, |_, p| v.push(p));
        v
    };
    assert_eq!(emitters(&d, b"many"), [A, B]);
    assert_eq!(readers(&d, b"many"), [B]);
    assert!(
        emitters(&d, b"far").is_empty(),
        "a remote creator writes no ring"
    );
    assert_eq!(readers(&d, b"far"), [C]);
    assert_eq!(d.remote_subscribers(b"many"), 1);
    assert_eq!(d.remote_subscribers(b"far"), 0);
    assert_eq!(d.remote_subscribers(b"nope"), 0);
    let mut rings = 0;
    d.for_each_ring_of(R, |_, _| rings += 1);
    assert_eq!(rings, 0);
    // EMIT reaches everyone but the emitter; FORWARD only the remote subscribers.
    assert_eq!(emit(&mut d, A, b"many"), Ok(vec![B, R]));
    assert_eq!(emit(&mut d, R, b"many"), Ok(vec![B]));
    let forward = |d: &mut Dir, p, ev: &'static [u8]| match d.handle(
        p,
        &Request::Forward {
            event: ev,
            data: b"x",
        },
    )? {
        Outcome::Emit { recipients, .. } => Ok(recipients.collect::<Vec<_>>()),
        o => panic!("{o:?}"),
    };
    assert_eq!(forward(&mut d, A, b"many"), Ok(vec![R]));
    assert_eq!(forward(&mut d, B, b"many"), Ok(vec![R]));
    assert_eq!(forward(&mut d, R, b"many"), Ok(vec![]));
    assert_eq!(forward(&mut d, C, b"many"), Err(ErrorCode::MayNotEmit));
    assert_eq!(forward(&mut d, A, b"gone"), Err(ErrorCode::UnknownEvent));
    // FORWARDING: a writer tells the remote subscribers it forwards.
    let forwarding = Request::Forwarding {
        event: b"many",
        generation: 1,
    };
    match d.handle(B, &forwarding) {
        Ok(Outcome::Forwarding { from, recipients }) => {
            assert_eq!(from, b"b");
            assert_eq!(recipients.collect::<Vec<_>>(), [R]);
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(d.handle(C, &forwarding).err(), Some(ErrorCode::MayNotEmit));
    // The remote node goes: its event is dissolved, it is no longer counted.
    assert!(d.on_disconnect(R));
    assert_eq!(drain(&mut d), [(b"far".to_vec(), C)]);
    assert_eq!(d.remote_subscribers(b"many"), 0);
    assert_eq!(forward(&mut d, A, b"many"), Ok(vec![]));
    // A local node later joined in its slot is not remote.
    d.handle(
        PeerId(5),
        &Request::Join {
            node: b"r",
            remote: false,
        },
    )
    .unwrap();
    assert!(!d.is_remote(PeerId(5)));
}

#[test]
fn malformed_requests_are_errors_with_the_sequence_when_known() {
    let h = header(code::SUBSCRIBE, 9);
    let long = [b'x'; wire::MAX_ID + 1];
    assert_eq!(Request::parse(&[]), Err((None, WireError::BadHeader)));
    assert_eq!(Request::parse(&[b"abc"]), Err((None, WireError::BadHeader)));
    assert_eq!(Request::parse(&[&h]), Err((Some(9), WireError::FrameCount)));
    assert_eq!(Request::parse(&[&h, b""]), Err((Some(9), WireError::BadId)));
    assert_eq!(
        Request::parse(&[&h, &long]),
        Err((Some(9), WireError::BadId))
    );
    assert_eq!(
        Request::parse(&[&header(0x55, 1)]),
        Err((Some(1), WireError::UnknownCommand(0x55)))
    );
    assert_eq!(
        Request::parse(&[&header(code::OK, 1), b"x"]),
        Err((Some(1), WireError::UnknownCommand(code::OK)))
    );
    let c = header(code::CREATE_EVENT, 2);
    assert_eq!(
        Request::parse(&[&c, b"e", &[2, 0]]),
        Err((Some(2), WireError::BadField))
    );
    assert_eq!(
        Request::parse(&[&c, b"e", &[0]]),
        Err((Some(2), WireError::BadField))
    );
}

#[test]
fn service_messages_parse() {
    let ok = header(code::OK, 3);
    assert_eq!(
        ServiceMsg::parse(&[&ok, &[2, 0, 0, 0]]),
        Ok(ServiceMsg::Ok {
            seq: 3,
            count: 2,
            flags: 0
        })
    );
    assert_eq!(ServiceMsg::parse(&[&ok, &[2]]), Err(WireError::BadField));
    assert_eq!(
        ServiceMsg::parse(&[&ok, &[2, 0, 0, 0], &[wire::JOIN_HUBLESS]]),
        Ok(ServiceMsg::Ok {
            seq: 3,
            count: 2,
            flags: wire::JOIN_HUBLESS
        })
    );
    assert_eq!(
        ServiceMsg::parse(&[&ok, &[2, 0, 0, 0], &[1, 2]]),
        Err(WireError::BadField)
    );
    for (c, make) in [
        (code::EMITTER, 0),
        (code::EMITTER_GONE, 1),
        (code::READER_GONE, 2),
    ] {
        let h = header(c, 0);
        let got = ServiceMsg::parse(&[&h, b"ev", b"node"]).unwrap();
        let want = match make {
            0 => ServiceMsg::Emitter {
                event: b"ev",
                emitter: b"node",
            },
            1 => ServiceMsg::EmitterGone {
                event: b"ev",
                emitter: b"node",
            },
            _ => ServiceMsg::ReaderGone {
                event: b"ev",
                reader: b"node",
            },
        };
        assert_eq!(got, want);
        assert_eq!(ServiceMsg::parse(&[&h, b"ev"]), Err(WireError::FrameCount));
    }
    let rr = header(code::REMOTE_READERS, 0);
    assert_eq!(
        ServiceMsg::parse(&[&rr, b"ev", &[3, 0, 0, 0], &[7, 0, 0, 0]]),
        Ok(ServiceMsg::RemoteReaders {
            event: b"ev",
            count: 3,
            generation: 7
        })
    );
    assert_eq!(
        ServiceMsg::parse(&[&rr, b"ev", &[3], &[7, 0, 0, 0]]),
        Err(WireError::BadField)
    );
    assert_eq!(
        ServiceMsg::parse(&[&rr, b"ev", &[3, 0, 0, 0]]),
        Err(WireError::FrameCount)
    );
    assert_eq!(
        Request::parse(&[&header(code::FORWARDING, 0), b"e", &[1, 0]]),
        Err((Some(0), WireError::BadField))
    );
    assert_eq!(
        Request::parse(&[&header(code::JOIN, 1), b"n", &[1, 0]]),
        Err((Some(1), WireError::BadField))
    );
    assert_eq!(
        Request::parse(&[&header(code::FORWARD, 0), b"e"]),
        Err((Some(0), WireError::FrameCount))
    );
    let err = header(code::ERROR, 4);
    assert_eq!(
        ServiceMsg::parse(&[&err, &[5], b"m"]),
        Ok(ServiceMsg::Error {
            seq: 4,
            code: ErrorCode::UnknownNode,
            message: b"m"
        })
    );
    let ev = header(code::EVENT, 0);
    assert_eq!(
        ServiceMsg::parse(&[&ev, b"e", b"n", b"d"]),
        Ok(ServiceMsg::Event {
            event: b"e",
            from: b"n",
            data: b"d"
        })
    );
    assert_eq!(
        ServiceMsg::parse(&[&ev, b"e", b"n"]),
        Err(WireError::FrameCount)
    );
    assert_eq!(
        ServiceMsg::parse(&[&header(code::DIRECT, 0), b"n", b""]),
        Ok(ServiceMsg::Direct {
            from: b"n",
            data: b""
        })
    );
    assert_eq!(
        ServiceMsg::parse(&[&header(code::SIGNALLED, 0), b"n"]),
        Ok(ServiceMsg::Signalled { from: b"n" })
    );
    assert_eq!(
        ServiceMsg::parse(&[&header(code::DISSOLVED, 0), b"e"]),
        Ok(ServiceMsg::Dissolved { event: b"e" })
    );
    assert_eq!(
        ServiceMsg::parse(&[&header(code::JOIN, 0), b"e"]),
        Err(WireError::UnknownCommand(1))
    );
}

#[test]
fn error_codes_round_trip() {
    for b in 0..=255u8 {
        assert_eq!(ErrorCode::from_byte(b).to_byte(), b);
    }
    assert_eq!(ErrorCode::from_byte(9), ErrorCode::MayNotEmit);
}

/// docs/events.md's golden vectors are what the encoder writes and the parser reads.
#[test]
fn docs_show_the_bytes_we_send() {
    const DOC: &str = include_str!("../../../docs/events.md");
    let hex = |frames: &[&[u8]]| {
        let parts: Vec<std::string::String> = frames
            .iter()
            .map(|f| {
                let b: Vec<std::string::String> =
                    f.iter().map(|b| std::format!("{b:02x}")).collect();
                b.join(" ")
            })
            .collect();
        std::format!("`{}`", parts.join("` | `"))
    };
    let join = [&header(code::JOIN, 1)[..], b"cam"];
    assert_eq!(
        Request::parse(&join),
        Ok((
            1,
            Request::Join {
                node: b"cam",
                remote: false
            }
        ))
    );
    let kind = wire::kind_frame(Emission::Multi, true);
    let create = [&header(code::CREATE_EVENT, 2)[..], b"frame", &kind];
    assert!(Request::parse(&create).is_ok());
    let emit = [&header(code::EMIT, 258)[..], b"frame", b"hi"];
    assert!(Request::parse(&emit).is_ok());
    let ok = [&header(code::OK, 258)[..], &3u32.to_le_bytes()];
    assert_eq!(
        ServiceMsg::parse(&ok),
        Ok(ServiceMsg::Ok {
            seq: 258,
            count: 3,
            flags: 0
        })
    );
    let err = [
        &header(code::ERROR, 5)[..],
        &[ErrorCode::UnknownNode.to_byte()],
    ];
    let event = [&header(code::EVENT, 0)[..], b"frame", b"cam"];
    let joined = [
        &header(code::OK, 1)[..],
        &0x1234_5678u32.to_le_bytes(),
        &[wire::JOIN_HUBLESS],
    ];
    assert!(matches!(
        ServiceMsg::parse(&joined),
        Ok(ServiceMsg::Ok { flags: 1, .. })
    ));
    let emitter = [&header(code::EMITTER, 0)[..], b"frame", b"cam"];
    assert!(ServiceMsg::parse(&emitter).is_ok());
    let join_remote = [&header(code::JOIN, 1)[..], b"cam", &[wire::JOIN_REMOTE]];
    assert_eq!(
        Request::parse(&join_remote),
        Ok((
            1,
            Request::Join {
                node: b"cam",
                remote: true
            }
        ))
    );
    let forward = [&header(code::FORWARD, 0)[..], b"frame", b"hi"];
    assert_eq!(
        Request::parse(&forward),
        Ok((
            0,
            Request::Forward {
                event: b"frame",
                data: b"hi"
            }
        ))
    );
    let remote_readers = [
        &header(code::REMOTE_READERS, 0)[..],
        b"frame",
        &2u32.to_le_bytes(),
        &5u32.to_le_bytes(),
    ];
    assert_eq!(
        ServiceMsg::parse(&remote_readers),
        Ok(ServiceMsg::RemoteReaders {
            event: b"frame",
            count: 2,
            generation: 5
        })
    );
    let forwarding = [
        &header(code::FORWARDING, 0)[..],
        b"frame",
        &5u32.to_le_bytes(),
    ];
    assert_eq!(
        Request::parse(&forwarding),
        Ok((
            0,
            Request::Forwarding {
                event: b"frame",
                generation: 5
            }
        ))
    );
    for frames in [
        &forwarding[..],
        &join_remote[..],
        &forward,
        &remote_readers,
        &join[..],
        &create,
        &emit,
        &ok,
        &err,
        &event,
        &joined,
        &emitter,
    ] {
        let want = hex(frames);
        assert!(DOC.contains(&want), "docs/events.md lacks {want}");
    }
}
