//! Fuzzes the application server's registry (`ringwire_core::apps::server::Registry`) with
//! arbitrary sequences of connects, disconnects, names, handlers, messages (well-formed ones
//! built from a small pool of names, and raw frames), stale connection handles and deliveries,
//! over tiny tables so that every bound is reached:
//! - nothing panics;
//! - `Registry::check` holds after every step (counts within the tables' capacities and equal
//!   to the entries in use, every subscription on both its connection's and its channel's
//!   list, the free list exact, no connection over its limit, no duplicate subscription);
//! - a connection's subscriptions and the channels' subscriber lists agree, and the counters
//!   agree with the tables;
//! - a SUBSCRIBE accepted leaves the connection subscribed, an UNSUBSCRIBE accepted leaves it
//!   unsubscribed, and a refused message changes no subscription;
//! - a full table refuses (`Err`/ERROR `Full`), and only when it is full.
//!
//! Input: a sequence of operations, each an opcode byte and its argument bytes (missing
//! bytes read as 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::apps::server::{
    ConnSlot, Decision, Limits, NameError, NameSlot, Refusal, Registry, SubSlot,
};
use ringwire_core::apps::{ErrorCode, MessageType, header, kind};

const CONNS: usize = 4;
const NAMES: usize = 7;
const SUBS: usize = 6;
const PER_CONN: usize = 3;
const MAX_PAYLOAD: usize = 8;

type Reg = Registry<[ConnSlot; CONNS], [NameSlot; NAMES], [SubSlot; SUBS]>;

const POOL: [&str; 5] = ["a", "b", "app", "x", "a-much-longer-name"];
const KINDS: [u8; 9] = [
    kind::REQUEST,
    kind::PUBLISH,
    kind::SUBSCRIBE,
    kind::UNSUBSCRIBE,
    kind::NOTIFY,
    kind::HELLO,
    kind::ACK,
    kind::WELCOME,
    0x7f,
];
const TYPES: [MessageType; 5] = [
    MessageType::Request,
    MessageType::Publish,
    MessageType::Subscribe,
    MessageType::Unsubscribe,
    MessageType::Notification,
];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> Option<T> {
        if from.is_empty() {
            None
        } else {
            Some(from[usize::from(self.byte()) % from.len()])
        }
    }
}

/// Everything the registry's public view says, checked for agreement.
fn agree(r: &Reg) {
    r.check().unwrap();
    let s = r.stats();
    let (cc, nc, sc) = r.capacities();
    assert_eq!((cc, nc, sc), (CONNS, NAMES, SUBS));
    assert!(s.connections <= CONNS && s.subscriptions <= SUBS);
    let mut total = 0;
    for v in r.connections() {
        assert!(v.subscriptions <= PER_CONN);
        let mut n = 0;
        for ch in r.subscriptions_of(v.conn) {
            assert_eq!(r.subscribers(ch).filter(|c| *c == v.conn).count(), 1);
            n += 1;
        }
        assert_eq!(n, v.subscriptions);
        total += n;
    }
    assert_eq!(total, s.subscriptions);
    assert_eq!(r.connections().count(), s.connections);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mut r: Reg = Registry::new(
        [ConnSlot::EMPTY; CONNS],
        [NameSlot::EMPTY; NAMES],
        [SubSlot::EMPTY; SUBS],
        Limits::new(MAX_PAYLOAD, PER_CONN),
        1,
    );
    let mut live = Vec::new();
    let mut gone = Vec::new();
    let mut apps = Vec::new();
    let mut chans = Vec::new();
    let mut names = 0usize;
    let mut steps = 0;
    while !input.0.is_empty() && steps < 512 {
        steps += 1;
        match input.byte() % 9 {
            0 => match r.connect(u64::from(input.byte())) {
                Ok(c) => live.push(c),
                Err(cap) => {
                    assert_eq!(cap, CONNS);
                    assert_eq!(live.len(), CONNS);
                }
            },
            1 => {
                if live.is_empty() {
                    continue;
                }
                let i = usize::from(input.byte()) % live.len();
                let c = live.swap_remove(i);
                assert!(r.disconnect(c, input.byte() & 1 == 1));
                assert!(!r.disconnect(c, false));
                assert_eq!(r.subscriptions_of(c).count(), 0);
                gone.push(c);
            }
            2 => {
                let name = input.pick(&POOL).unwrap_or("a");
                match r.add_application(name) {
                    Ok(a) => {
                        names += 1;
                        apps.push(a);
                        assert_eq!(r.app_name(a), name);
                    }
                    Err(NameError::Full { capacity }) => {
                        assert_eq!((capacity, names), (NAMES, NAMES));
                    }
                    Err(e) => assert_eq!(e, NameError::Exists),
                }
            }
            3 => {
                let (Some(a), Some(name)) = (input.pick(&apps), input.pick(&POOL)) else {
                    continue;
                };
                match r.add_channel(a, name) {
                    Ok(ch) => {
                        names += 1;
                        chans.push(ch);
                        assert_eq!(r.channel_names(ch), (r.app_name(a), name));
                        assert_eq!(r.channel(a, name), Some(ch));
                    }
                    Err(NameError::Full { capacity }) => {
                        assert_eq!((capacity, names), (NAMES, NAMES));
                    }
                    Err(e) => assert_eq!(e, NameError::Exists),
                }
            }
            4 => {
                let (Some(ch), Some(t)) = (input.pick(&chans), input.pick(&TYPES)) else {
                    continue;
                };
                r.set_handler(ch, t);
                assert!(r.has_handler(ch, t));
            }
            5 => {
                // A well-formed envelope (often) naming pool names.
                let Some(c) = input.pick(&live) else {
                    continue;
                };
                let k = input.pick(&KINDS).unwrap_or(kind::HELLO);
                let id = u32::from(input.byte());
                let mut app = input.pick(&POOL).unwrap_or("a");
                let mut channel = input.pick(&POOL).unwrap_or("a");
                // Mostly a channel that exists, so the deeper checks are reached.
                if let Some(ch) = input.pick(&chans).filter(|_| app.len() < 3) {
                    let (a, c) = r.channel_names(ch);
                    app = POOL.iter().copied().find(|p| *p == a).unwrap_or(app);
                    channel = POOL.iter().copied().find(|p| *p == c).unwrap_or(channel);
                }
                let payload = [7u8; MAX_PAYLOAD + 2];
                let plen = usize::from(input.byte()) % payload.len();
                let h = header(k, 0, 0, id);
                let frames: [&[u8]; 4] = [&h, app.as_bytes(), channel.as_bytes(), &payload[..plen]];
                let n = if k == kind::HELLO { 1 } else { 4 };
                let ch = r.application(app).and_then(|a| r.channel(a, channel));
                let before = ch.map(|ch| r.subscribers(ch).any(|x| x == c));
                let held = r.subscriptions_of(c).count();
                let all = r.stats().subscriptions;
                match r.on_message(c, &frames[..n]) {
                    Decision::Accept(m) => {
                        assert_eq!(Some(m.channel), ch);
                        assert_eq!(m.connection, c.number());
                        assert!(plen <= MAX_PAYLOAD);
                        let now = r.subscribers(m.channel).any(|x| x == c);
                        match m.kind {
                            MessageType::Subscribe => assert!(now),
                            MessageType::Unsubscribe => {
                                assert!(!now && before == Some(true));
                            }
                            MessageType::Request | MessageType::Notification => {
                                assert!(r.has_handler(m.channel, m.kind));
                                assert_eq!(now, before == Some(true));
                            }
                            _ => assert_eq!(now, before == Some(true)),
                        }
                    }
                    Decision::Welcome { id: wid, .. } => {
                        assert_eq!((k, wid), (kind::HELLO, id));
                    }
                    Decision::Refuse { id: rid, refusal } => {
                        assert_eq!(rid, id);
                        assert_eq!(r.subscriptions_of(c).count(), held);
                        assert_eq!(r.stats().subscriptions, all);
                        match refusal {
                            Refusal::SubscriptionLimit { max } => {
                                assert_eq!((max, held), (PER_CONN, PER_CONN));
                            }
                            Refusal::SubscriptionTable { capacity } => {
                                assert_eq!((capacity, all), (SUBS, SUBS));
                            }
                            Refusal::Oversized { len, max } => {
                                assert!(len > max && max == MAX_PAYLOAD);
                            }
                            Refusal::UnknownApplication { .. } => {
                                assert!(r.application(app).is_none());
                            }
                            Refusal::UnknownChannel { .. } => assert!(ch.is_none()),
                            Refusal::NotSubscribed { .. } => assert_eq!(before, Some(false)),
                            Refusal::NoHandler { kind: t, .. } => {
                                assert!(!r.has_handler(ch.expect("a known channel"), t));
                            }
                            Refusal::Malformed(_) => {}
                            other => panic!("unexpected refusal {other:?}"),
                        }
                    }
                }
            }
            6 => {
                // Raw frames: up to 4, each up to 15 bytes of the input.
                let Some(c) = input.pick(&live) else {
                    continue;
                };
                let count = usize::from(input.byte() % 5);
                let mut bufs = [[0u8; 15]; 4];
                let mut lens = [0usize; 4];
                for (b, len) in bufs.iter_mut().zip(lens.iter_mut()).take(count) {
                    *len = usize::from(input.byte()) % 16;
                    for byte in b.iter_mut().take(*len) {
                        *byte = input.byte();
                    }
                }
                let frames: [&[u8]; 4] = core::array::from_fn(|i| &bufs[i][..lens[i]]);
                let all = r.stats().subscriptions;
                let d = r.on_message(c, &frames[..count]);
                if let Decision::Refuse { refusal, .. } = d {
                    assert_ne!(refusal.code(), ErrorCode::Handler);
                    assert_eq!(r.stats().subscriptions, all);
                }
            }
            7 => {
                // A handle whose connection is gone is refused, never mistaken for another.
                let Some(c) = input.pick(&gone) else {
                    continue;
                };
                let h = header(kind::SUBSCRIBE, 0, 0, 3);
                let frames: [&[u8]; 4] = [&h, b"a", b"a", b""];
                let d = r.on_message(c, &frames);
                assert!(matches!(
                    d,
                    Decision::Refuse {
                        id: 3,
                        refusal: Refusal::ConnectionTable { capacity: CONNS }
                    }
                ));
            }
            _ => {
                let Some(ch) = input.pick(&chans) else {
                    continue;
                };
                let before = r.stats().delivered;
                let n = r.deliver(ch).len();
                assert_eq!(r.stats().delivered, before + n as u64);
                assert!(r.deliver(ch).all(|c| live.contains(&c)));
            }
        }
        agree(&r);
    }
});
