use std::string::ToString;
use std::vec::Vec;

use super::*;
use crate::apps::{Encoding, FLAG_JSON, WireError, header, kind};

type Reg = Registry<[ConnSlot; 4], [NameSlot; 6], [SubSlot; 5]>;

fn reg(limits: Limits) -> Reg {
    Registry::new(
        [ConnSlot::EMPTY; 4],
        [NameSlot::EMPTY; 6],
        [SubSlot::EMPTY; 5],
        limits,
        0xabcd,
    )
}

/// A registry with application "app", channels "a" (request and notification handlers) and
/// "b" (none).
fn setup(limits: Limits) -> (Reg, ChannelId, ChannelId) {
    let mut r = reg(limits);
    let app = r.add_application("app").unwrap();
    let a = r.add_channel(app, "a").unwrap();
    let b = r.add_channel(app, "b").unwrap();
    r.set_handler(a, MessageType::Request);
    r.set_handler(a, MessageType::Notification);
    r.check().unwrap();
    (r, a, b)
}

fn msg(
    r: &mut Reg,
    c: Conn,
    k: u8,
    id: u32,
    names: (&str, &str),
    payload: &[u8],
) -> Decision<'static> {
    let h = header(k, 0, 0, id);
    let frames: [&[u8]; 4] = [&h, names.0.as_bytes(), names.1.as_bytes(), payload];
    // The decision borrows the frames: keep only what the tests look at.
    match r.on_message(c, &frames) {
        Decision::Refuse { id, refusal } => Decision::Refuse {
            id,
            refusal: leak(refusal),
        },
        Decision::Welcome { id, session } => Decision::Welcome { id, session },
        Decision::Accept(a) => Decision::Accept(Accepted {
            kind: a.kind,
            channel: a.channel,
            connection: a.connection,
            message: ClientMsg {
                header: a.message.header,
                app: "",
                channel: "",
                payload: &[],
            },
        }),
    }
}

/// A refusal with its borrowed names replaced by a marker (the tests compare codes and
/// sentences separately).
fn leak(r: Refusal<'_>) -> Refusal<'static> {
    match r {
        Refusal::Malformed(e) => Refusal::Malformed(e),
        Refusal::Oversized { len, max } => Refusal::Oversized { len, max },
        Refusal::UnknownApplication { .. } => Refusal::UnknownApplication { app: "?" },
        Refusal::UnknownChannel { .. } => Refusal::UnknownChannel {
            app: "?",
            channel: "?",
        },
        Refusal::NoHandler { kind, .. } => Refusal::NoHandler {
            kind,
            app: "?",
            channel: "?",
        },
        Refusal::NotSubscribed { .. } => Refusal::NotSubscribed {
            app: "?",
            channel: "?",
        },
        Refusal::SubscriptionLimit { max } => Refusal::SubscriptionLimit { max },
        Refusal::SubscriptionTable { capacity } => Refusal::SubscriptionTable { capacity },
        Refusal::ConnectionTable { capacity } => Refusal::ConnectionTable { capacity },
        Refusal::Handler(_) => Refusal::Handler("?"),
    }
}

fn code(d: Decision<'_>) -> Option<ErrorCode> {
    match d {
        Decision::Refuse { refusal, .. } => Some(refusal.code()),
        _ => None,
    }
}

fn accepted(d: Decision<'_>) -> Accepted<'_> {
    match d {
        Decision::Accept(a) => a,
        other => panic!("not accepted: {other:?}"),
    }
}

fn subs_of(r: &Reg, c: Conn) -> Vec<ChannelId> {
    let mut v: Vec<_> = r.subscriptions_of(c).collect();
    v.sort();
    v
}

#[test]
fn hello_is_welcomed_with_the_instance_and_connection_number() {
    let (mut r, _, _) = setup(Limits::default());
    let c1 = r.connect(10).unwrap();
    let c2 = r.connect(11).unwrap();
    assert_eq!((c1.number(), c2.number()), (1, 2));
    let h = header(kind::HELLO, 0, 0, 5);
    assert_eq!(
        r.on_message(c2, &[&h[..]]),
        Decision::Welcome {
            id: 5,
            session: session(0xabcd, 2)
        }
    );
    assert_eq!(r.stats().errors, 0);
}

#[test]
fn malformed_frames_are_refused_with_the_id_when_readable() {
    let (mut r, _, _) = setup(Limits::default());
    let c = r.connect(0).unwrap();
    let h = header(kind::REQUEST, 0, 0, 9);
    let f: [&[u8]; 2] = [&h[..], b"app"];
    let d = r.on_message(c, &f);
    assert!(matches!(
        d,
        Decision::Refuse {
            id: 9,
            refusal: Refusal::Malformed(WireError::FrameCount { .. })
        }
    ));
    assert!(d_text(d).starts_with("malformed message: kind 0x01 takes 4 frames"));
    let f = [&b"short"[..]];
    let d = r.on_message(c, &f);
    assert!(matches!(
        d,
        Decision::Refuse {
            id: 0,
            refusal: Refusal::Malformed(WireError::HeaderLength(5))
        }
    ));
    let s = r.stats();
    assert_eq!((s.errors, s.malformed), (2, 2));
}

fn d_text(d: Decision<'_>) -> std::string::String {
    match d {
        Decision::Refuse { refusal, .. } => refusal.to_string(),
        other => panic!("not refused: {other:?}"),
    }
}

/// (application, channel, payload, the refusal's sentence or "" for accepted)
type Case = (&'static [u8], &'static [u8], &'static [u8], &'static str);

#[test]
fn every_refusal_has_its_code_sentence_and_counter() {
    let (mut r, _, _) = setup(Limits::new(4, 1));
    let c = r.connect(0).unwrap();
    let h = header(kind::REQUEST, 0, 0, 1);
    let cases: [Case; 5] = [
        (
            b"app",
            b"a",
            b"12345",
            "payload larger than the server accepts: 5 bytes, at most 4 accepted",
        ),
        (b"nope", b"a", b"", "no such application: \"nope\""),
        (
            b"app",
            b"zz",
            b"",
            "no such channel in the application: \"zz\" in application \"app\"",
        ),
        (
            b"app",
            b"b",
            b"",
            "the channel has no handler for this kind of message: request to \"b\" in \
             application \"app\"",
        ),
        (
            b"app", b"a", b"1234", "", // accepted: exactly max_payload
        ),
    ];
    for (app, ch, payload, want) in cases {
        let f: [&[u8]; 4] = [&h[..], app, ch, payload];
        let d = r.on_message(c, &f);
        if want.is_empty() {
            assert_eq!(accepted(d).kind, MessageType::Request);
        } else {
            assert_eq!(d_text(d), want);
        }
    }
    let n = header(kind::NOTIFY, 0, 0, 2);
    let f: [&[u8]; 4] = [&n[..], b"app", b"b", b"x"];
    let d = r.on_message(c, &f);
    assert_eq!(
        d_text(d),
        "the channel has no handler for this kind of message: notification to \"b\" in \
         application \"app\""
    );
    let u = header(kind::UNSUBSCRIBE, 0, 0, 3);
    let f: [&[u8]; 4] = [&u[..], b"app", b"b", b""];
    let d = r.on_message(c, &f);
    assert_eq!(
        d_text(d),
        "not subscribed to the channel: \"b\" in application \"app\""
    );
    let sub = header(kind::SUBSCRIBE, 0, 0, 4);
    accepted(r.on_message(c, &[&sub[..], b"app", b"a", b""]));
    let f: [&[u8]; 4] = [&sub[..], b"app", b"b", b""];
    let d = r.on_message(c, &f);
    assert_eq!(
        d_text(d),
        "a table of the server is full: 1 subscriptions per connection"
    );
    r.request_done(false);
    assert_eq!(
        Refusal::Handler("13 is unlucky").to_string(),
        "the handler refused the message: 13 is unlucky"
    );
    let s = r.stats();
    assert_eq!(
        (
            s.oversized,
            s.unknown_application,
            s.unknown_channel,
            s.no_handler,
            s.handler_errors,
            s.malformed
        ),
        (1, 1, 1, 2, 1, 0)
    );
    // Not subscribed and full have no counter of their own, but count as errors.
    assert_eq!(s.errors, 8, "{s:?}");
    r.request_done(true);
    assert_eq!(r.stats().responses, 1);
    r.check().unwrap();
}

#[test]
fn checks_run_in_order() {
    let (mut r, _, _) = setup(Limits::new(2, 4));
    let c = r.connect(0).unwrap();
    // Oversized beats an unknown application; an unknown application beats an unknown
    // channel; an unknown channel beats a missing handler.
    assert_eq!(
        code(msg(&mut r, c, kind::REQUEST, 1, ("x", "y"), b"123")),
        Some(ErrorCode::Oversized)
    );
    assert_eq!(
        code(msg(&mut r, c, kind::REQUEST, 1, ("x", "b"), b"")),
        Some(ErrorCode::UnknownApplication)
    );
    assert_eq!(
        code(msg(&mut r, c, kind::REQUEST, 1, ("app", "y"), b"")),
        Some(ErrorCode::UnknownChannel)
    );
    // HELLO is answered before anything else is looked at.
    let h = header(kind::HELLO, 0, 0, 1);
    assert!(matches!(
        r.on_message(c, &[&h[..]]),
        Decision::Welcome { .. }
    ));
}

#[test]
fn accepted_messages_carry_what_the_driver_needs() {
    let (mut r, a, b) = setup(Limits::default());
    let c = r.connect(0).unwrap();
    let h = header(kind::REQUEST, FLAG_JSON, 0, 7);
    let frames: [&[u8]; 4] = [&h, b"app", b"a", b"{}"];
    let m = accepted(r.on_message(c, &frames));
    assert_eq!(
        (m.kind, m.channel, m.connection, m.message.header.id),
        (MessageType::Request, a, 1, 7)
    );
    assert_eq!(m.message.header.encoding(), Encoding::Json);
    assert_eq!((m.message.app, m.message.channel), ("app", "a"));
    assert_eq!(m.message.payload, b"{}");
    let m = accepted(msg(&mut r, c, kind::NOTIFY, 0, ("app", "a"), b"n"));
    assert_eq!(m.kind, MessageType::Notification);
    // Publishes need no handler.
    let m = accepted(msg(&mut r, c, kind::PUBLISH, 8, ("app", "b"), b"p"));
    assert_eq!((m.kind, m.channel), (MessageType::Publish, b));
    let s = r.stats();
    assert_eq!((s.notifications, s.publishes, s.errors), (1, 1, 0));
}

#[test]
fn publishes_reach_subscribers_in_subscription_order_and_are_counted() {
    let (mut r, a, b) = setup(Limits::default());
    let c: Vec<Conn> = (0..4).map(|t| r.connect(t).unwrap()).collect();
    for &i in &[2, 0, 3] {
        accepted(msg(&mut r, c[i], kind::SUBSCRIBE, 1, ("app", "a"), b""));
    }
    accepted(msg(&mut r, c[1], kind::SUBSCRIBE, 1, ("app", "b"), b""));
    assert_eq!(r.deliver(a).collect::<Vec<_>>(), [c[2], c[0], c[3]]);
    assert_eq!(r.deliver(a).len(), 3);
    assert_eq!(r.stats().delivered, 6);
    // Subscribing again changes nothing (and is acknowledged).
    let m = accepted(msg(&mut r, c[2], kind::SUBSCRIBE, 1, ("app", "a"), b""));
    assert_eq!(m.kind, MessageType::Subscribe);
    assert_eq!(r.subscribers(a).collect::<Vec<_>>(), [c[2], c[0], c[3]]);
    // Unsubscribing the middle one keeps the order of the others.
    accepted(msg(&mut r, c[0], kind::UNSUBSCRIBE, 1, ("app", "a"), b""));
    assert_eq!(r.subscribers(a).collect::<Vec<_>>(), [c[2], c[3]]);
    accepted(msg(&mut r, c[0], kind::SUBSCRIBE, 1, ("app", "a"), b""));
    assert_eq!(r.subscribers(a).collect::<Vec<_>>(), [c[2], c[3], c[0]]);
    assert_eq!(r.subscribers(b).collect::<Vec<_>>(), [c[1]]);
    assert_eq!(r.stats().subscriptions, 4);
    assert_eq!(subs_of(&r, c[1]), [b]);
    r.check().unwrap();
}

#[test]
fn a_disconnect_forgets_the_connection_and_its_subscriptions() {
    let (mut r, a, b) = setup(Limits::default());
    let x = r.connect(1).unwrap();
    let y = r.connect(2).unwrap();
    assert!(r.take_changed());
    assert!(!r.take_changed());
    for ch in ["a", "b"] {
        accepted(msg(&mut r, x, kind::SUBSCRIBE, 1, ("app", ch), b""));
    }
    accepted(msg(&mut r, y, kind::SUBSCRIBE, 1, ("app", "a"), b""));
    assert!(r.take_changed());
    let mut want = [a, b];
    want.sort();
    assert_eq!(subs_of(&r, x), want);
    assert!(r.disconnect(x, false));
    assert!(r.take_changed());
    assert!(!r.disconnect(x, false), "only once");
    assert_eq!(r.subscribers(a).collect::<Vec<_>>(), [y]);
    assert_eq!(r.subscribers(b).count(), 0);
    assert!(r.disconnect(y, true));
    let s = r.stats();
    assert_eq!(
        (s.connections, s.subscriptions, s.disconnected, s.expired),
        (0, 0, 2, 1)
    );
    // A stale handle is refused, not confused with the connection that reuses its slot.
    let z = r.connect(3).unwrap();
    assert_eq!(z.index(), x.index());
    assert_ne!(z, x);
    assert_eq!(
        code(msg(&mut r, x, kind::PUBLISH, 4, ("app", "a"), b"")),
        Some(ErrorCode::Full)
    );
    assert_eq!(subs_of(&r, x), []);
    let listed: Vec<(u32, u64)> = r
        .connections()
        .map(|v| (v.conn.number(), v.since))
        .collect();
    assert_eq!(listed, [(3, 3)]);
    r.check().unwrap();
}

#[test]
fn the_connection_table_refuses_when_full() {
    let (mut r, _, _) = setup(Limits::default());
    let all: Vec<Conn> = (0..4).map(|t| r.connect(t).unwrap()).collect();
    assert_eq!(r.connect(9), Err(4));
    let h = header(kind::HELLO, 0, 0, 12);
    let f = [&h[..]];
    let d = r.refuse_unconnected(&f);
    assert_eq!(
        d,
        Decision::Refuse {
            id: 12,
            refusal: Refusal::ConnectionTable { capacity: 4 }
        }
    );
    assert_eq!(d_text(d), "a table of the server is full: 4 connections");
    assert_eq!(r.stats().errors, 1);
    assert!(r.disconnect(all[1], false));
    let again = r.connect(10).unwrap();
    assert_eq!(again.number(), 5);
    r.check().unwrap();
}

#[test]
fn the_subscription_table_and_the_per_connection_limit_refuse_when_full() {
    let mut r = reg(Limits::new(16, 2));
    let app = r.add_application("app").unwrap();
    let chans: Vec<ChannelId> = ["0", "1", "2", "3", "4"]
        .iter()
        .map(|n| r.add_channel(app, n).unwrap())
        .collect();
    let c: Vec<Conn> = (0..3).map(|t| r.connect(t).unwrap()).collect();
    // Two per connection; the third is over the limit.
    for (i, ch) in ["0", "1"].iter().enumerate() {
        accepted(msg(
            &mut r,
            c[0],
            kind::SUBSCRIBE,
            i as u32 + 1,
            ("app", ch),
            b"",
        ));
        accepted(msg(
            &mut r,
            c[1],
            kind::SUBSCRIBE,
            i as u32 + 1,
            ("app", ch),
            b"",
        ));
    }
    assert_eq!(
        msg(&mut r, c[0], kind::SUBSCRIBE, 3, ("app", "2"), b""),
        Decision::Refuse {
            id: 3,
            refusal: Refusal::SubscriptionLimit { max: 2 }
        }
    );
    // Five entries in all: the sixth is refused although c[2] is within its limit.
    accepted(msg(&mut r, c[2], kind::SUBSCRIBE, 1, ("app", "2"), b""));
    assert_eq!(
        msg(&mut r, c[2], kind::SUBSCRIBE, 2, ("app", "3"), b""),
        Decision::Refuse {
            id: 2,
            refusal: Refusal::SubscriptionTable { capacity: 5 }
        }
    );
    assert_eq!(r.stats().subscriptions, 5);
    r.check().unwrap();
    // Room again after an unsubscribe.
    accepted(msg(&mut r, c[0], kind::UNSUBSCRIBE, 4, ("app", "0"), b""));
    accepted(msg(&mut r, c[2], kind::SUBSCRIBE, 5, ("app", "4"), b""));
    let mut want = [chans[2], chans[4]];
    want.sort();
    assert_eq!(subs_of(&r, c[2]), want);
    r.check().unwrap();
}

#[test]
fn the_name_table_refuses_duplicates_bad_names_and_overflow() {
    let mut r = reg(Limits::default());
    let app = r.add_application("app").unwrap();
    assert_eq!(r.add_application("app"), Err(NameError::Exists));
    assert_eq!(r.add_application(""), Err(NameError::Invalid));
    let long = "x".repeat(MAX_NAME + 1);
    assert_eq!(r.add_application(&long), Err(NameError::Invalid));
    let max = "y".repeat(MAX_NAME);
    let other = r.add_application(&max).unwrap();
    // A channel's name is scoped by its application; an application and a channel may share
    // a name.
    let a1 = r.add_channel(app, "c").unwrap();
    let a2 = r.add_channel(other, "c").unwrap();
    let a3 = r.add_channel(app, "app").unwrap();
    assert_ne!(a1, a2);
    assert_eq!(r.add_channel(app, "c"), Err(NameError::Exists));
    assert_eq!(
        r.add_channel(AppId(a1.0), "d"),
        Err(NameError::UnknownApplication)
    );
    assert_eq!(r.channel(app, "c"), Some(a1));
    assert_eq!(r.channel(other, "c"), Some(a2));
    assert_eq!(r.channel(app, "app"), Some(a3));
    assert_eq!(r.channel_names(a2), (max.as_str(), "c"));
    assert_eq!(r.app_name(other), max);
    assert_eq!(r.app_name(AppId(a1.0)), "");
    assert_eq!(r.application("nope"), None);
    // Six entries: one left, then full.
    r.add_channel(other, "d").unwrap();
    assert_eq!(
        r.add_channel(other, "e"),
        Err(NameError::Full { capacity: 6 })
    );
    assert_eq!(r.add_application("z"), Err(NameError::Full { capacity: 6 }));
    // Still found when the table is full.
    assert_eq!(r.application("app"), Some(app));
    assert_eq!(
        r.channel(other, "d").map(|c| r.channel_names(c).1),
        Some("d")
    );
    assert_eq!(r.channel(other, "nope"), None);
    r.check().unwrap();
}

#[test]
fn empty_tables_refuse_everything_without_panicking() {
    let mut r: Registry<[ConnSlot; 0], [NameSlot; 0], [SubSlot; 0]> =
        Registry::new([], [], [], Limits::default(), 1);
    assert_eq!(r.connect(0), Err(0));
    assert_eq!(r.add_application("a"), Err(NameError::Full { capacity: 0 }));
    assert_eq!(r.application("a"), None);
    let h = header(kind::HELLO, 0, 0, 1);
    assert!(matches!(
        r.refuse_unconnected(&[&h[..]]),
        Decision::Refuse { id: 1, .. }
    ));
    r.check().unwrap();
}

/// Storage a host allocates (a `Vec`) works as well as arrays.
#[test]
fn vec_storage() {
    let mut r = Registry::new(
        std::vec![ConnSlot::EMPTY; 2],
        std::vec![NameSlot::EMPTY; 3],
        std::vec![SubSlot::EMPTY; 2],
        Limits::default(),
        1,
    );
    let app = r.add_application("a").unwrap();
    let ch = r.add_channel(app, "b").unwrap();
    let c = r.connect(0).unwrap();
    let h = header(kind::SUBSCRIBE, 0, 0, 1);
    let frames: [&[u8]; 4] = [&h, b"a", b"b", b""];
    accepted(r.on_message(c, &frames));
    assert_eq!(r.subscribers(ch).collect::<Vec<_>>(), [c]);
    assert_eq!(r.capacities(), (2, 3, 2));
    r.check().unwrap();
}

/// Random frames and connection events (a fixed-seed xorshift) keep every invariant, and the
/// tables agree with a model kept beside them.
#[test]
fn random_sequences_keep_the_invariants() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let rounds = if cfg!(miri) { 200 } else { 20_000 };
    let (mut r, _, _) = setup(Limits::new(8, 2));
    let app = r.application("app").unwrap();
    let c3 = r.add_channel(app, "c").unwrap();
    r.set_handler(c3, MessageType::Notification);
    let names = ["a", "b", "c", "d"];
    let mut live: Vec<Conn> = Vec::new();
    for t in 0..rounds {
        match next() % 10 {
            0 => {
                if let Ok(c) = r.connect(t) {
                    live.push(c);
                } else {
                    assert_eq!(live.len(), 4);
                }
            }
            1 if !live.is_empty() => {
                let c = live.swap_remove((next() % live.len() as u64) as usize);
                assert!(r.disconnect(c, next() % 2 == 0));
            }
            _ if !live.is_empty() => {
                let c = live[(next() % live.len() as u64) as usize];
                // REQUEST to HELLO, or ACK (not a client's kind).
                let k = match (next() % 7) as u8 {
                    6 => kind::ACK,
                    k => kind::REQUEST + k,
                };
                let ch = names[(next() % 4) as usize];
                let payload = [0u8; 10];
                let plen = (next() % 11) as usize;
                let before = r.subscriptions_of(c).count();
                let d = msg(&mut r, c, k, 1, ("app", ch), &payload[..plen]);
                let after = r.subscriptions_of(c).count();
                match d {
                    Decision::Accept(m) if m.kind == MessageType::Subscribe => {
                        assert!(after == before || after == before + 1);
                    }
                    Decision::Accept(m) if m.kind == MessageType::Unsubscribe => {
                        assert_eq!(after + 1, before);
                    }
                    _ => assert_eq!(after, before),
                }
                if let Decision::Accept(m) = d {
                    assert!(plen <= 8 && ch != "d");
                    assert!(m.kind != MessageType::Request || ch == "a");
                }
            }
            _ => {}
        }
        if t % 16 == 0 || cfg!(miri) {
            r.check().unwrap();
        }
        assert!(r.stats().connections <= 4 && r.stats().subscriptions <= 5);
        for v in r.connections() {
            assert!(v.subscriptions <= 2);
            for ch in r.subscriptions_of(v.conn) {
                assert!(r.subscribers(ch).any(|c| c == v.conn));
            }
        }
    }
    r.check().unwrap();
}
