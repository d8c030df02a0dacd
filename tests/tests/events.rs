//! The event service over ZMTP (threads in one process): every call of a node and every
//! error the service answers.
#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringwire::events::{
    Delivery, Direct, Emission, Emitted, Error, ErrorCode, Node, NodeId, NodeOptions, Service,
    ServiceOptions, Signals,
};
use ringwire_tests::both_modes;
use ringwire_tests::events::{Mode, stats_until};

const WAIT: Duration = Duration::from_secs(30);

both_modes!(
    node_ids_are_unique_and_bounded,
    single_emission_only_the_creator_emits,
    multi_emission_subscribers_emit_and_the_creator_handler_hears_them,
    unknown_and_dissolved_events_are_errors_and_subscribers_are_told,
    contact_goes_to_listen_or_the_queue_and_unknown_nodes_are_errors,
    a_dropped_node_is_forgotten_and_its_events_dissolved,
    a_handler_can_call_its_node_and_a_panicking_handler_is_survived,
    signals_through_the_service_coalesce_while_the_handler_is_busy,
    polled_signals_through_the_service_coalesce_until_taken,
    a_stopped_service_gives_timeouts_and_a_closed_node_gives_closed,
    doorbell_signals_skip_the_service_and_coalesce_while_the_handler_is_busy,
    polled_doorbell_signals_add_up,
    a_closed_doorbell_falls_back_to_the_service_which_knows_the_node_is_gone,
    contacts_on_one_machine_go_through_the_inbox_large_ones_through_the_service,
    many_nodes_emitting_at_once_lose_nothing,
    nodes_join_a_restarted_service_again_with_their_events_and_subscriptions
);

fn service(mode: Mode) -> (Service, String) {
    let (s, ep) = ringwire_tests::events::service(mode, "ev");
    assert_eq!(s.endpoint().starts_with("shm://"), mode == Mode::Hubless);
    (s, ep)
}

fn node(ep: &str, name: &str) -> Node {
    Node::connect(ep, NodeId::name(name)).unwrap()
}

/// A node without shared memory (doorbell, inbox): signals and contacts to it go through
/// the service.
fn node_without_doorbell(ep: &str, name: &str) -> Node {
    let opts = NodeOptions {
        shm: false,
        ..NodeOptions::default()
    };
    Node::connect_with(ep, NodeId::name(name), opts).unwrap()
}

fn refused<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorCode {
    match r {
        Err(e) => e.code().unwrap_or_else(|| panic!("not refused: {e}")),
        Ok(v) => panic!("accepted: {v:?}"),
    }
}

fn node_ids_are_unique_and_bounded(mode: Mode) {
    let (s, ep) = service(mode);
    let _a = node(&ep, "a");
    let dup = Node::connect(&ep, NodeId::name("a"));
    assert_eq!(refused(dup.map(|_| ())), ErrorCode::NodeIdTaken);
    assert!(matches!(
        Node::connect(&ep, NodeId::name("")),
        Err(Error::BadId(_))
    ));
    assert!(matches!(
        Node::connect(&ep, NodeId::name("x".repeat(65))),
        Err(Error::BadId(_))
    ));
    // The default id is the process id.
    let p = Node::connect(&ep, NodeId::default()).unwrap();
    assert_eq!(p.id().as_str(), std::process::id().to_string());
    assert_eq!(stats_until(&s, |st| st.nodes == 2).nodes, 2);
}

fn single_emission_only_the_creator_emits(mode: Mode) {
    let (_s, ep) = service(mode);
    let (cam, viewer, other) = (node(&ep, "cam"), node(&ep, "viewer"), node(&ep, "other"));
    cam.create_event("frame", Emission::Single).unwrap();
    viewer.subscribe_polled("frame").unwrap();
    other.subscribe_polled("frame").unwrap();
    assert_eq!(cam.emit("frame", b"f1").unwrap(), 2);
    for n in [&viewer, &other] {
        let d = n.recv_timeout(WAIT).unwrap();
        let want = Emitted {
            event: "frame".into(),
            from: NodeId::name("cam"),
            data: b"f1".to_vec(),
        };
        assert_eq!(d, Delivery::Event(want));
    }
    let e = viewer.emit("frame", b"x").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::MayNotEmit));
    assert!(e.to_string().contains("may not emit"), "{e}");
    assert_eq!(
        refused(cam.create_event("frame", Emission::Multi)),
        ErrorCode::EventExists
    );
    assert_eq!(
        refused(viewer.subscribe_polled("frame")),
        ErrorCode::AlreadySubscribed
    );
    assert!(matches!(viewer.try_recv(), Err(Error::NoDelivery)));
}

fn multi_emission_subscribers_emit_and_the_creator_handler_hears_them(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b, c) = (node(&ep, "a"), node(&ep, "b"), node(&ep, "c"));
    let (tx, rx) = mpsc::channel();
    a.create_event_with("chat", Emission::Multi, move |e: Emitted| {
        tx.send(e).unwrap()
    })
    .unwrap();
    assert_eq!(a.subscriptions(), ["chat"]);
    let (tx, rx_b) = mpsc::channel();
    b.subscribe("chat", move |e: Emitted| tx.send(e).unwrap())
        .unwrap();
    assert_eq!(b.subscriptions(), ["chat"]);
    // An outsider may not emit a multi-emission event.
    assert_eq!(refused(c.emit("chat", b"hi")), ErrorCode::MayNotEmit);
    assert_eq!(b.emit("chat", b"from b").unwrap(), 1);
    let got = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (got.from.as_str(), got.data.as_slice()),
        ("b", &b"from b"[..])
    );
    assert_eq!(a.emit("chat", b"from a").unwrap(), 1);
    assert_eq!(rx_b.recv_timeout(WAIT).unwrap().data, b"from a");
    // Unsubscribed: no more deliveries, and a second unsubscribe is an error.
    b.unsubscribe("chat").unwrap();
    assert!(b.subscriptions().is_empty());
    assert_eq!(refused(b.unsubscribe("chat")), ErrorCode::NotSubscribed);
    assert_eq!(a.emit("chat", b"again").unwrap(), 0);
    assert_eq!(refused(b.emit("chat", b"x")), ErrorCode::MayNotEmit);
}

fn unknown_and_dissolved_events_are_errors_and_subscribers_are_told(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b, c) = (node(&ep, "a"), node(&ep, "b"), node(&ep, "c"));
    assert_eq!(refused(b.subscribe_polled("nope")), ErrorCode::UnknownEvent);
    assert!(
        b.subscriptions().is_empty(),
        "a refused subscription is not listed"
    );
    assert_eq!(refused(b.emit("nope", b"")), ErrorCode::UnknownEvent);
    assert_eq!(refused(b.unsubscribe("nope")), ErrorCode::UnknownEvent);
    assert_eq!(refused(b.dissolve_event("nope")), ErrorCode::UnknownEvent);
    a.create_event("e", Emission::Multi).unwrap();
    b.subscribe_polled("e").unwrap();
    let (tx, rx) = mpsc::channel::<Emitted>();
    c.subscribe("e", move |e| tx.send(e).unwrap()).unwrap();
    assert_eq!(refused(b.dissolve_event("e")), ErrorCode::NotCreator);
    a.dissolve_event("e").unwrap();
    assert_eq!(
        b.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("e".into())
    );
    assert!(b.subscriptions().is_empty());
    assert_eq!(refused(b.subscribe_polled("e")), ErrorCode::UnknownEvent);
    assert_eq!(refused(a.emit("e", b"")), ErrorCode::UnknownEvent);
    // The handler subscriber's subscription ended too (after its notice arrived).
    let end = Instant::now() + WAIT;
    while !c.subscriptions().is_empty() {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(rx.try_recv().is_err());
}

fn contact_goes_to_listen_or_the_queue_and_unknown_nodes_are_errors(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    a.contact(&NodeId::name("b"), b"polled").unwrap();
    let want = Direct {
        from: NodeId::name("a"),
        data: b"polled".to_vec(),
    };
    assert_eq!(b.recv_timeout(WAIT).unwrap(), Delivery::Direct(want));
    let (tx, rx) = mpsc::channel();
    b.listen(move |d: Direct| tx.send(d).unwrap());
    a.contact(&NodeId::name("b"), b"handled").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap().data, b"handled");
    // Contacting oneself works.
    a.contact(&NodeId::name("a"), b"me").unwrap();
    assert!(matches!(a.recv_timeout(WAIT).unwrap(), Delivery::Direct(d) if d.data == b"me"));
    let e = a.contact(&NodeId::name("zz"), b"x").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownNode));
    assert!(
        e.to_string().contains("zz"),
        "the message names the node: {e}"
    );
    assert_eq!(
        refused(a.signal(&NodeId::name("zz"))),
        ErrorCode::UnknownNode
    );
    // A node that left is unknown at once.
    b.leave().unwrap();
    assert_eq!(
        refused(a.contact(&NodeId::name("b"), b"x")),
        ErrorCode::UnknownNode
    );
}

fn a_dropped_node_is_forgotten_and_its_events_dissolved(mode: Mode) {
    let (s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    a.create_event("a-ev", Emission::Single).unwrap();
    b.subscribe_polled("a-ev").unwrap();
    b.create_event("b-ev", Emission::Multi).unwrap();
    a.subscribe_polled("b-ev").unwrap();
    drop(a);
    assert_eq!(
        b.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("a-ev".into())
    );
    assert_eq!(
        refused(b.contact(&NodeId::name("a"), b"")),
        ErrorCode::UnknownNode
    );
    assert_eq!(
        b.emit("b-ev", b"").unwrap(),
        0,
        "a's subscription went with it"
    );
    let st = stats_until(&s, |st| st.nodes == 1);
    assert_eq!((st.events, st.subscriptions), (1, 0));
    // The id is free again and the event can be made anew.
    let a2 = node(&ep, "a");
    a2.create_event("a-ev", Emission::Single).unwrap();
}

fn a_handler_can_call_its_node_and_a_panicking_handler_is_survived(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    let h = b.handle();
    b.listen(move |d: Direct| {
        if d.data == b"panic" {
            panic!("handler panic on purpose");
        }
        h.contact(&d.from, b"pong").unwrap();
    });
    a.contact(&NodeId::name("b"), b"panic").unwrap();
    a.contact(&NodeId::name("b"), b"ping").unwrap();
    assert!(matches!(a.recv_timeout(WAIT).unwrap(), Delivery::Direct(d) if d.data == b"pong"));
    assert_eq!(b.handler_panics(), 1);
}

/// A signal handler on `node` that reports each call and then blocks until released: the
/// calls, and the sender that releases one call.
fn busy_signal_handler(node: &Node) -> (mpsc::Receiver<Signals>, mpsc::Sender<()>) {
    let (calls_tx, calls) = mpsc::channel::<Signals>();
    let (release_tx, release) = mpsc::channel::<()>();
    node.on_signal(move |s| {
        calls_tx.send(s).unwrap();
        release.recv().unwrap();
    });
    (calls, release_tx)
}

fn signals_through_the_service_coalesce_while_the_handler_is_busy(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node_without_doorbell(&ep, "b"));
    let (calls, release_tx) = busy_signal_handler(&b);
    // A marker after the signals travels behind them: once it is in b's queue, every
    // signal before it has reached b.
    let to = NodeId::name("b");
    a.signal(&to).unwrap();
    assert_eq!(calls.recv_timeout(WAIT).unwrap(), Signals { count: 1 });
    for _ in 0..5 {
        a.signal(&to).unwrap();
    }
    a.contact(&to, b"marker").unwrap();
    assert!(matches!(b.recv_timeout(WAIT).unwrap(), Delivery::Direct(_)));
    // Five signals during one busy call: exactly one more call, with count 5.
    release_tx.send(()).unwrap();
    assert_eq!(calls.recv_timeout(WAIT).unwrap(), Signals { count: 5 });
    release_tx.send(()).unwrap();
    a.contact(&to, b"marker").unwrap();
    assert!(matches!(b.recv_timeout(WAIT).unwrap(), Delivery::Direct(_)));
    assert!(calls.try_recv().is_err(), "no further call");
    assert_eq!(a.signals_rung_locally(), 0);
}

fn polled_signals_through_the_service_coalesce_until_taken(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node_without_doorbell(&ep, "b"));
    let (tx, marker) = mpsc::channel();
    b.listen(move |d: Direct| tx.send(d).unwrap());
    let to = NodeId::name("b");
    for _ in 0..3 {
        a.signal(&to).unwrap();
    }
    a.contact(&to, b"marker").unwrap();
    marker.recv_timeout(WAIT).unwrap();
    assert_eq!(
        b.try_recv().unwrap(),
        Delivery::Signal(Signals { count: 3 })
    );
    assert!(matches!(b.try_recv(), Err(Error::NoDelivery)));
    a.signal(&to).unwrap();
    assert_eq!(
        b.recv_timeout(WAIT).unwrap(),
        Delivery::Signal(Signals { count: 1 })
    );
}

fn a_stopped_service_gives_timeouts_and_a_closed_node_gives_closed(mode: Mode) {
    let (s, ep) = service(mode);
    let a = Node::connect_with_timeout(&ep, NodeId::name("a"), Duration::from_millis(300)).unwrap();
    let h = a.handle();
    let st = s.stop();
    assert_eq!(st.nodes, 1);
    assert!(matches!(a.emit("x", b""), Err(Error::Timeout)));
    drop(a);
    assert!(matches!(h.emit("x", b""), Err(Error::Closed)));
}

#[test]
fn malformed_envelopes_are_answered_or_counted_and_the_others_served() {
    use ringwire::zmtp::Dealer;
    use ringwire_core::events::wire::{code, header};
    let (s, ep) = service(Mode::Routed);
    let a = node(&ep, "a");
    let mut raw = Dealer::connect(&ep).unwrap();
    raw.send_multipart(&[b"garbage"]).unwrap();
    raw.send_multipart(&[&header(0x55, 7)]).unwrap();
    raw.send_multipart(&[&header(code::SUBSCRIBE, 8)]).unwrap();
    raw.send_multipart(&[&header(code::EMIT, 9), b"e", b"d"])
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..3 {
        let m = raw.recv_multipart_timeout(WAIT).unwrap();
        let f = m.frames();
        assert_eq!(f[0][1], code::ERROR);
        replies.push((f[0][2], f[1][0]));
    }
    // Unknown command, missing frame: Malformed (1); a request before JOIN: NotJoined (2).
    assert_eq!(replies, [(7, 1), (8, 1), (9, 2)]);
    // The garbage (no readable header) is counted, not answered.
    stats_until(&s, |st| st.malformed == 3 && st.refused == 3);
    a.create_event("still", Emission::Single).unwrap();
    // A second JOIN on one connection is refused; the first stands.
    raw.send_multipart(&[&header(code::JOIN, 10), b"raw"])
        .unwrap();
    raw.send_multipart(&[&header(code::JOIN, 11), b"raw2"])
        .unwrap();
    let ok = raw.recv_multipart_timeout(WAIT).unwrap();
    assert_eq!(ok.frames()[0][1..3], [code::OK, 10]);
    let again = raw.recv_multipart_timeout(WAIT).unwrap();
    assert_eq!(again.frames()[0][1..3], [code::ERROR, 11]);
    assert_eq!(
        ErrorCode::from_byte(again.frames()[1][0]),
        ErrorCode::AlreadyJoined
    );
    a.contact(&NodeId::name("raw"), b"to the raw node").unwrap();
    let d = raw.recv_multipart_timeout(WAIT).unwrap();
    assert_eq!(d.frames()[0][1], code::DIRECT);
    assert_eq!(
        d.frames()[1..],
        [b"a".to_vec(), b"to the raw node".to_vec()]
    );
}

fn doorbell_signals_skip_the_service_and_coalesce_while_the_handler_is_busy(mode: Mode) {
    let (s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    let (calls, release_tx) = busy_signal_handler(&b);
    let to = NodeId::name("b");
    a.signal(&to).unwrap();
    assert_eq!(calls.recv_timeout(WAIT).unwrap(), Signals { count: 1 });
    // The handler is busy: these five only add to the doorbell's count.
    for _ in 0..5 {
        a.signal(&to).unwrap();
    }
    release_tx.send(()).unwrap();
    assert_eq!(calls.recv_timeout(WAIT).unwrap(), Signals { count: 5 });
    release_tx.send(()).unwrap();
    // Nothing was left over: the next signal is a call of its own.
    a.signal(&to).unwrap();
    assert_eq!(calls.recv_timeout(WAIT).unwrap(), Signals { count: 1 });
    release_tx.send(()).unwrap();
    assert_eq!(a.signals_rung_locally(), 7);
    let st = s.stats();
    assert_eq!(
        st.delivered, 0,
        "no signal went through the service: {st:?}"
    );
}

fn polled_doorbell_signals_add_up(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    let to = NodeId::name("b");
    for _ in 0..3 {
        a.signal(&to).unwrap();
    }
    let mut total = 0;
    while total < 3 {
        match b.recv_timeout(WAIT).unwrap() {
            Delivery::Signal(s) => total += s.count,
            d => panic!("{d:?}"),
        }
    }
    assert_eq!(total, 3);
    assert!(matches!(b.try_recv(), Err(Error::NoDelivery)));
    assert_eq!(a.signals_rung_locally(), 3);
}

fn a_closed_doorbell_falls_back_to_the_service_which_knows_the_node_is_gone(mode: Mode) {
    let (_s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    let to = NodeId::name("b");
    a.signal(&to).unwrap();
    assert_eq!(a.signals_rung_locally(), 1);
    b.leave().unwrap();
    assert_eq!(refused(a.signal(&to)), ErrorCode::UnknownNode);
    // A node of the same name joins again: signalled through its new doorbell.
    let b2 = node(&ep, "b");
    a.signal(&to).unwrap();
    assert!(matches!(
        b2.recv_timeout(WAIT).unwrap(),
        Delivery::Signal(_)
    ));
    assert_eq!(a.signals_rung_locally(), 2);
}

#[test]
fn nodes_that_join_and_vanish_at_once_are_all_forgotten() {
    use ringwire::zmtp::Dealer;
    use ringwire_core::events::wire::{code, header};
    let (s, ep) = service(Mode::Routed);
    for i in 0..40u32 {
        let mut raw = Dealer::connect(&ep).unwrap();
        let id = format!("ghost-{i}");
        raw.send_multipart(&[&header(code::JOIN, 1), id.as_bytes()])
            .unwrap();
        raw.flush().unwrap();
        // Gone without a LEAVE, its JOIN maybe still unread by the service (the ROUTER
        // then drops it with the connection).
    }
    let raw = Dealer::connect(&ep).unwrap();
    drop(raw);
    // Every JOIN the service took is undone by its connection's close: no ghost node.
    let a = node(&ep, "a");
    a.create_event("sync", Emission::Single).unwrap();
    stats_until(&s, |st| st.nodes == 1 && st.lost + 2 == st.accepted);
    // Their ids are free.
    let _ = node(&ep, "ghost-0");
}

#[test]
fn the_service_runs_over_tcp_ipc_and_inproc() {
    let pid = std::process::id();
    let ipc = std::env::temp_dir().join(format!("ringwire-events-{pid}.sock"));
    for ep in [
        "tcp://127.0.0.1:0".to_owned(),
        format!("ipc://{}", ipc.display()),
        format!("inproc://ringwire-events-{pid}"),
        format!("shm://ringwire-events-{pid}"),
    ] {
        let s = Service::bind(&ep).unwrap();
        let ep = s.endpoint();
        let (a, b) = (node(&ep, "a"), node_without_doorbell(&ep, "b"));
        a.create_event("e", Emission::Single).unwrap();
        b.subscribe_polled("e").unwrap();
        assert_eq!(a.emit("e", b"x").unwrap(), 1, "{ep}");
        assert!(matches!(b.recv_timeout(WAIT).unwrap(), Delivery::Event(e) if e.data == b"x"));
        a.signal(&NodeId::name("b")).unwrap();
        assert_eq!(
            b.recv_timeout(WAIT).unwrap(),
            Delivery::Signal(Signals { count: 1 })
        );
        assert_eq!(
            refused(b.contact(&NodeId::name("c"), b"")),
            ErrorCode::UnknownNode
        );
        drop((a, b));
        s.stop();
    }
    let _ = std::fs::remove_file(ipc);
}

#[test]
fn joining_where_no_service_runs_is_a_timeout() {
    // Bind and close a port, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let r = Node::connect_with_timeout(&ep, NodeId::name("lonely"), Duration::from_millis(200));
    assert!(matches!(r, Err(Error::Timeout)), "{:?}", r.err());
}

fn contacts_on_one_machine_go_through_the_inbox_large_ones_through_the_service(mode: Mode) {
    let (s, ep) = service(mode);
    let (a, b) = (node(&ep, "a"), node(&ep, "b"));
    let to = NodeId::name("b");
    a.contact(&to, b"small").unwrap();
    let want = Direct {
        from: NodeId::name("a"),
        data: b"small".to_vec(),
    };
    assert_eq!(b.recv_timeout(WAIT).unwrap(), Delivery::Direct(want));
    assert_eq!(a.contacted_locally(), 1);
    assert_eq!(s.stats().delivered, 0, "the service carried nothing");
    // Larger than the inbox's slots: the service carries it, whole.
    let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    a.contact(&to, &big).unwrap();
    match b.recv_timeout(WAIT).unwrap() {
        Delivery::Direct(d) => assert_eq!(d.data, big),
        d => panic!("{d:?}"),
    }
    assert_eq!(a.contacted_locally(), 1);
    stats_until(&s, |st| st.delivered == 1);
    // A handler gets inbox data too.
    let (tx, rx) = mpsc::channel();
    b.listen(move |d: Direct| tx.send(d).unwrap());
    a.contact(&to, b"handled").unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap().data, b"handled");
    assert_eq!(a.contacted_locally(), 2);
}

fn many_nodes_emitting_at_once_lose_nothing(mode: Mode) {
    const NODES: usize = 8;
    const EACH: usize = 200;
    let (_s, ep) = service(mode);
    let owner = node(&ep, "owner");
    owner.create_event("chat", Emission::Multi).unwrap();
    let (tx, rx) = mpsc::channel::<(String, Emitted)>();
    let nodes: Vec<Node> = (0..NODES)
        .map(|i| {
            // Lossless rings (hub-less): an emitter waits for a slow reader instead of
            // overwriting (the routed service queues).
            let opts = NodeOptions {
                lossless_events: true,
                ..NodeOptions::default()
            };
            let n = Node::connect_with(&ep, NodeId::name(format!("n{i}")), opts).unwrap();
            let (tx, me) = (tx.clone(), format!("n{i}"));
            n.subscribe("chat", move |e| tx.send((me.clone(), e)).unwrap())
                .unwrap();
            n
        })
        .collect();
    std::thread::scope(|sc| {
        for n in &nodes {
            sc.spawn(move || {
                for k in 0..EACH {
                    assert_eq!(
                        n.emit("chat", &k.to_le_bytes()).unwrap(),
                        (NODES - 1) as u32
                    );
                }
            });
        }
    });
    // Every node hears every other node's emissions, each sender's in order.
    let mut next = std::collections::HashMap::<(String, String), usize>::new();
    for _ in 0..NODES * (NODES - 1) * EACH {
        let (me, e) = rx.recv_timeout(WAIT).unwrap();
        assert_ne!(me, e.from.as_str());
        let k = usize::from_le_bytes(e.data.try_into().unwrap());
        let want = next.entry((me, e.from.as_str().to_owned())).or_insert(0);
        assert_eq!(k, *want);
        *want += 1;
    }
    assert!(rx.try_recv().is_err());
}

fn nodes_join_a_restarted_service_again_with_their_events_and_subscriptions(mode: Mode) {
    let (s, ep) = service(mode);
    let (cam, viewer) = (node(&ep, "cam"), node(&ep, "viewer"));
    cam.create_event("frame", Emission::Single).unwrap();
    let (tx, heard) = mpsc::channel::<Emitted>();
    viewer
        .create_event_with("chat", Emission::Multi, move |e| tx.send(e).unwrap())
        .unwrap();
    viewer.subscribe_polled("frame").unwrap();
    cam.subscribe_polled("chat").unwrap();
    assert_eq!(cam.emit("frame", b"before").unwrap(), 1);
    assert!(
        matches!(viewer.recv_timeout(WAIT).unwrap(), Delivery::Event(e) if e.data == b"before")
    );
    // The service dies; a new one binds the same endpoint.
    let opts = match mode {
        Mode::Routed => ServiceOptions::default(),
        Mode::Hubless => ServiceOptions {
            hubless: true,
            ..ServiceOptions::default()
        },
    };
    drop(s);
    let s = Service::bind_with(&ep, opts).unwrap();
    // Both nodes join again by themselves, with their events and subscriptions.
    stats_until(&s, |st| {
        st.nodes == 2 && st.events == 2 && st.subscriptions == 3
    });
    assert_eq!(cam.subscriptions(), ["chat"]);
    assert_eq!(cam.emit("frame", b"after").unwrap(), 1);
    match viewer.recv_timeout(WAIT).unwrap() {
        Delivery::Event(e) => {
            assert_eq!((e.from.as_str(), e.data.as_slice()), ("cam", &b"after"[..]))
        }
        d => panic!("{d:?}"),
    }
    assert_eq!(cam.emit("chat", b"hello again").unwrap(), 1);
    assert_eq!(heard.recv_timeout(WAIT).unwrap().data, b"hello again");
    // The directory is whole again: its rules hold.
    assert_eq!(refused(viewer.emit("frame", b"x")), ErrorCode::MayNotEmit);
    viewer.contact(&NodeId::name("cam"), b"direct").unwrap();
    assert!(matches!(cam.recv_timeout(WAIT).unwrap(), Delivery::Direct(d) if d.data == b"direct"));
}
