//! Hub-less events (a service bound at `shm://`): emissions travel in the emitters' shared
//! memory rings, not through the service; large ones fall back to it; a subscriber that
//! falls a ring behind is told how many it lost. (`events.rs` runs the whole API in both
//! modes; these are what only the hub-less mode has.)
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringwire::events::{Delivery, Emission, Emitted, Node, NodeId, NodeOptions, Service};

const WAIT: Duration = Duration::from_secs(30);

fn service() -> (Service, String) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let s = Service::bind(&format!("shm://evs-{}-{n}", std::process::id())).unwrap();
    let ep = s.endpoint();
    (s, ep)
}

fn node(ep: &str, name: &str) -> Node {
    let n = Node::connect(ep, NodeId::name(name)).unwrap();
    assert!(n.is_hubless());
    n
}

fn event(d: Delivery) -> Emitted {
    match d {
        Delivery::Event(e) => e,
        d => panic!("not an emission: {d:?}"),
    }
}

#[test]
fn emissions_are_ring_writes_and_large_ones_go_through_the_service() {
    let (s, ep) = service();
    let (cam, viewer, chat) = (node(&ep, "cam"), node(&ep, "viewer"), node(&ep, "chat"));
    cam.create_event("frame", Emission::Single).unwrap();
    viewer.subscribe_polled("frame").unwrap();
    for i in 0..10u8 {
        assert_eq!(cam.emit("frame", &[i; 100]).unwrap(), 1);
    }
    for i in 0..10u8 {
        let e = event(viewer.recv_timeout(WAIT).unwrap());
        assert_eq!((e.from.as_str(), e.data), ("cam", vec![i; 100]));
    }
    assert_eq!(cam.emitted_locally(), 10);
    assert_eq!(
        s.stats().routed_emissions,
        0,
        "the service carried no emission"
    );
    // Larger than a ring slot: the service carries it, whole.
    let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    assert_eq!(cam.emit("frame", &big).unwrap(), 1);
    assert_eq!(event(viewer.recv_timeout(WAIT).unwrap()).data, big);
    assert_eq!(cam.emitted_locally(), 10);
    // Multi emission: every subscriber writes a ring of its own; each hears the others.
    chat.create_event("talk", Emission::Multi).unwrap();
    viewer.subscribe_polled("talk").unwrap();
    cam.subscribe_polled("talk").unwrap();
    assert_eq!(viewer.emit("talk", b"from viewer").unwrap(), 1);
    assert_eq!(cam.emit("talk", b"from cam").unwrap(), 1);
    assert_eq!(chat.emit("talk", b"from chat").unwrap(), 2);
    let mut heard = Vec::new();
    for n in [&viewer, &viewer, &cam, &cam] {
        let e = event(n.recv_timeout(WAIT).unwrap());
        heard.push(format!(
            "{} <- {}",
            n.id(),
            String::from_utf8_lossy(&e.data)
        ));
    }
    heard.sort();
    assert_eq!(
        heard,
        [
            "cam <- from chat",
            "cam <- from viewer",
            "viewer <- from cam",
            "viewer <- from chat"
        ]
    );
    assert_eq!(viewer.emitted_locally(), 1);
    assert_eq!(s.stats().routed_emissions, 1, "only the large emission");
}

#[test]
fn a_slow_subscriber_is_told_how_many_it_lost() {
    const EMITS: u64 = 500;
    let (_s, ep) = service();
    let opts = NodeOptions {
        event_slots: 16,
        ..NodeOptions::default()
    };
    let cam = Node::connect_with(&ep, NodeId::name("cam"), opts).unwrap();
    let slow = node(&ep, "slow");
    cam.create_event("block", Emission::Single).unwrap();
    cam.create_event("data", Emission::Single).unwrap();
    // The handler of "block" holds slow's events thread until released; meanwhile cam
    // writes "data" far past its 16-slot ring.
    let (entered_tx, entered) = mpsc::channel::<()>();
    let (release_tx, release) = mpsc::channel::<()>();
    slow.subscribe("block", move |_| {
        entered_tx.send(()).unwrap();
        release.recv().unwrap();
    })
    .unwrap();
    slow.subscribe_polled("data").unwrap();
    cam.emit("block", b"hold").unwrap();
    entered.recv_timeout(WAIT).unwrap();
    for i in 0..EMITS {
        assert_eq!(cam.emit("data", &i.to_le_bytes()).unwrap(), 1);
    }
    release_tx.send(()).unwrap();
    // What arrives plus what was reported lost is everything, in order.
    let (mut got, mut lost, mut last) = (0u64, 0u64, None::<u64>);
    let end = Instant::now() + WAIT;
    while got + lost < EMITS {
        assert!(Instant::now() < end, "got {got}, lost {lost}");
        match slow.recv_timeout(WAIT).unwrap() {
            Delivery::Event(e) => {
                let i = u64::from_le_bytes(e.data.try_into().unwrap());
                assert!(
                    last.is_none_or(|l| i > l),
                    "out of order: {i} after {last:?}"
                );
                last = Some(i);
                got += 1;
            }
            Delivery::Lost { event, from, count } => {
                assert_eq!((event.as_str(), from.as_str()), ("data", "cam"));
                lost += count;
            }
            d => panic!("{d:?}"),
        }
    }
    assert_eq!(got + lost, EMITS);
    assert!(
        lost > 0,
        "a 16-slot ring overtaken by 500 emissions loses some"
    );
    assert_eq!(slow.events_lost(), lost);
    assert_eq!(last, Some(EMITS - 1), "the newest emission arrives");
}

#[test]
fn an_unsubscribed_reader_is_no_longer_counted_and_a_dissolution_ends_every_ring() {
    let (_s, ep) = service();
    let (a, b, c) = (node(&ep, "a"), node(&ep, "b"), node(&ep, "c"));
    a.create_event("e", Emission::Multi).unwrap();
    b.subscribe_polled("e").unwrap();
    c.subscribe_polled("e").unwrap();
    assert_eq!(a.emit("e", b"1").unwrap(), 2);
    assert_eq!(
        b.emit("e", b"2").unwrap(),
        1,
        "c reads b's ring, a does not subscribe"
    );
    c.unsubscribe("e").unwrap();
    assert_eq!(a.emit("e", b"3").unwrap(), 1);
    a.dissolve_event("e").unwrap();
    // b's ring goes when b hears of the dissolution; a's at once.
    let end = Instant::now() + WAIT;
    loop {
        match b.recv_timeout(WAIT).unwrap() {
            Delivery::Dissolved(e) => {
                assert_eq!(e, "e");
                break;
            }
            Delivery::Event(_) => {}
            d => panic!("{d:?}"),
        }
        assert!(Instant::now() < end);
    }
    assert!(b.subscriptions().is_empty());
    assert!(b.emit("e", b"x").is_err());
}
