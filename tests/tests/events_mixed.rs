//! Mixed services: a hub-less service whose nodes on its machine write and read shared-memory
//! rings, and whose remote nodes (`NodeOptions::remote`: another machine, here simulated on
//! this one with shared memory off) are served routed. Every locality of emitter and
//! subscriber, contacts and signals both ways, remote nodes leaving and killed, a local
//! emitter killed with -9.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ringwire::events::{
    Delivery, Emission, Emitted, ErrorCode, Node, NodeHandle, NodeId, NodeOptions, Service,
    ServiceOptions, Signals,
};
use ringwire_tests::events::{Proc, stats_until};

const WAIT: Duration = Duration::from_secs(30);

/// A hub-less service on tcp (remote nodes connect over tcp, local ones too).
fn service() -> (Service, String) {
    let opts = ServiceOptions {
        hubless: true,
        ..ServiceOptions::default()
    };
    let s = Service::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    let ep = s.endpoint();
    (s, ep)
}

fn local(ep: &str, name: &str) -> Node {
    let n = Node::connect(ep, NodeId::name(name)).unwrap();
    assert!(n.is_hubless());
    n
}

fn remote(ep: &str, name: &str) -> Node {
    let opts = NodeOptions {
        remote: true,
        shm: false,
        ..NodeOptions::default()
    };
    let n = Node::connect_with(ep, NodeId::name(name), opts).unwrap();
    assert!(!n.is_hubless(), "a remote node is served routed");
    n
}

fn event(d: Delivery) -> Emitted {
    match d {
        Delivery::Event(e) => e,
        d => panic!("not an emission: {d:?}"),
    }
}

/// Waits until `n` has heard that `event` has `count` remote subscribers (REMOTE_READERS
/// reaches a ring writer a moment after a remote node went; before a remote node's
/// `subscribe` returns when it subscribes).
fn until_remote(n: &NodeHandle, event: &str, count: u32) {
    let end = Instant::now() + WAIT;
    while n.remote_subscribers(event) != count {
        assert!(
            Instant::now() < end,
            "{} never heard of {count} remote subscriber(s) of {event}",
            n.id()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Everything `n` has queued now (waiting `settle` for the last of it), as "from: data".
fn drain(n: &Node, settle: Duration) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    while let Ok(d) = n.recv_timeout(settle) {
        let e = event(d);
        assert!(
            got.insert(format!("{}: {}", e.from, String::from_utf8_lossy(&e.data))),
            "{} got an emission twice",
            n.id()
        );
    }
    got
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn single_emission_from_a_local_and_from_a_remote_emitter() {
    let (s, ep) = service();
    let cam = local(&ep, "cam");
    let viewer = local(&ep, "viewer");
    let far = remote(&ep, "far");
    // A local emitter: the local subscriber reads its ring, the remote one gets forwards.
    cam.create_event("frame", Emission::Single).unwrap();
    viewer.subscribe_polled("frame").unwrap();
    far.subscribe_polled("frame").unwrap();
    // The writer forwards before the remote node's subscribe returns.
    assert_eq!(cam.remote_subscribers("frame"), 1);
    let big: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
    for i in 0..40u32 {
        if i == 20 {
            // Larger than a slot: the service carries it to both.
            assert_eq!(cam.emit("frame", &big).unwrap(), 2);
        }
        assert_eq!(cam.emit("frame", &i.to_le_bytes()).unwrap(), 2);
    }
    // The remote subscriber: every emission, in the emitter's order (forwards and the
    // routed one travel the same connection).
    for i in 0..41u32 {
        let e = event(far.recv_timeout(WAIT).unwrap());
        assert_eq!(e.from.as_str(), "cam");
        let want = match i {
            20 => big.clone(),
            i if i > 20 => (i - 1).to_le_bytes().to_vec(),
            i => i.to_le_bytes().to_vec(),
        };
        assert_eq!(e.data, want, "emission {i}");
    }
    // The local one: every emission (the large one may overtake or trail the ring's).
    let mut small = Vec::new();
    let mut got_big = false;
    for _ in 0..41 {
        let e = event(viewer.recv_timeout(WAIT).unwrap());
        if e.data.len() == big.len() {
            got_big = true;
        } else {
            small.push(u32::from_le_bytes(e.data.try_into().unwrap()));
        }
    }
    assert!(got_big);
    assert_eq!(small, (0..40).collect::<Vec<_>>(), "ring order holds");
    assert_eq!(cam.emitted_locally(), 40);
    stats_until(&s, |st| {
        (st.forwarded_emissions, st.routed_emissions) == (40, 1)
    });

    // A remote emitter: its emissions go through the service to local subscribers.
    far.create_event("far-ev", Emission::Single).unwrap();
    viewer.subscribe_polled("far-ev").unwrap();
    cam.subscribe_polled("far-ev").unwrap();
    for i in 0..10u32 {
        assert_eq!(far.emit("far-ev", &i.to_le_bytes()).unwrap(), 2);
    }
    for n in [&viewer, &cam] {
        for i in 0..10u32 {
            let e = event(n.recv_timeout(WAIT).unwrap());
            assert_eq!((e.event.as_str(), e.from.as_str()), ("far-ev", "far"));
            assert_eq!(e.data, i.to_le_bytes());
        }
    }
    stats_until(&s, |st| st.routed_emissions == 11);
    // Only the creator emits, wherever it is.
    let e = viewer.emit("far-ev", b"x").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::MayNotEmit));
    let e = far.emit("frame", b"x").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::MayNotEmit));
    // A remote creator's event is dissolved for local subscribers too.
    far.dissolve_event("far-ev").unwrap();
    for n in [&viewer, &cam] {
        assert_eq!(
            n.recv_timeout(WAIT).unwrap(),
            Delivery::Dissolved("far-ev".into())
        );
    }
    // A local creator's event is dissolved for the remote subscriber.
    cam.dissolve_event("frame").unwrap();
    assert_eq!(
        far.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("frame".into())
    );
    assert_eq!(s.stats().forwards_refused, 0);
}

#[test]
fn multi_emission_with_local_and_remote_emitters() {
    let (s, ep) = service();
    let a = local(&ep, "a");
    let b = local(&ep, "b");
    let c = local(&ep, "c");
    let r = remote(&ep, "r");
    let q = remote(&ep, "q");
    // a creates (not subscribed); b subscribes before the remote nodes, c after them.
    a.create_event("talk", Emission::Multi).unwrap();
    b.subscribe_polled("talk").unwrap();
    r.subscribe_polled("talk").unwrap();
    q.subscribe_polled("talk").unwrap();
    c.subscribe_polled("talk").unwrap();
    // The writers (a, b) forward before the remote nodes' subscribes return; a writer that
    // subscribes after them (c) is told before its own subscribe returns.
    for n in [&a, &b, &c] {
        assert_eq!(n.remote_subscribers("talk"), 2, "{}", n.id());
    }
    // Every emitter reaches every subscriber but itself: b, c, r, q (a does not subscribe).
    assert_eq!(a.emit("talk", b"from a").unwrap(), 4);
    assert_eq!(b.emit("talk", b"from b").unwrap(), 3);
    assert_eq!(c.emit("talk", b"from c").unwrap(), 3);
    assert_eq!(r.emit("talk", b"from r").unwrap(), 3);
    let settle = Duration::from_millis(300);
    // Each node's deliveries: at least the expected ones arrive (waited for), then no more.
    let expect = |n: &Node, want: &[&str]| {
        let mut got = BTreeSet::new();
        for _ in 0..want.len() {
            let e = event(n.recv_timeout(WAIT).unwrap());
            got.insert(format!("{}: {}", e.from, String::from_utf8_lossy(&e.data)));
        }
        got.extend(drain(n, settle));
        assert_eq!(got, set(want), "what {} heard", n.id());
    };
    expect(&b, &["a: from a", "c: from c", "r: from r"]);
    expect(&c, &["a: from a", "b: from b", "r: from r"]);
    expect(&r, &["a: from a", "b: from b", "c: from c"]);
    expect(&q, &["a: from a", "b: from b", "c: from c", "r: from r"]);
    assert!(a.try_recv().is_err(), "the creator did not subscribe");
    stats_until(&s, |st| {
        (st.forwarded_emissions, st.routed_emissions) == (3, 1)
    });
    // A remote node that unsubscribes is no longer forwarded to.
    q.unsubscribe("talk").unwrap();
    until_remote(&a, "talk", 1);
    until_remote(&b, "talk", 1);
    until_remote(&c, "talk", 1);
    assert_eq!(a.emit("talk", b"again").unwrap(), 3);
    assert_eq!(event(r.recv_timeout(WAIT).unwrap()).data, b"again");
    assert!(drain(&q, settle).is_empty());
    // A local writer that unsubscribes forwards no more; the remote node still hears a.
    b.unsubscribe("talk").unwrap();
    assert_eq!(b.remote_subscribers("talk"), 0);
    assert_eq!(
        b.emit("talk", b"x").unwrap_err().code(),
        Some(ErrorCode::MayNotEmit)
    );
    stats_until(&s, |st| st.forwarded_emissions == 4);
}

#[test]
fn contacts_and_signals_between_local_and_remote_nodes() {
    let (_s, ep) = service();
    let here = local(&ep, "here");
    let there = remote(&ep, "there");
    let (tx, rx) = std::sync::mpsc::channel::<Signals>();
    there.on_signal(move |s| tx.send(s).unwrap());
    here.contact(&NodeId::name("there"), b"to the remote")
        .unwrap();
    there
        .contact(&NodeId::name("here"), b"to the local")
        .unwrap();
    match there.recv_timeout(WAIT).unwrap() {
        Delivery::Direct(d) => assert_eq!(
            (d.from.as_str(), &d.data[..]),
            ("here", &b"to the remote"[..])
        ),
        d => panic!("{d:?}"),
    }
    match here.recv_timeout(WAIT).unwrap() {
        Delivery::Direct(d) => assert_eq!(
            (d.from.as_str(), &d.data[..]),
            ("there", &b"to the local"[..])
        ),
        d => panic!("{d:?}"),
    }
    // The remote node has no inbox or doorbell on this machine: the service carries both.
    assert_eq!(here.contacted_locally(), 0);
    here.signal(&NodeId::name("there")).unwrap();
    assert_eq!(here.signals_rung_locally(), 0);
    assert_eq!(rx.recv_timeout(WAIT).unwrap().count, 1);
    there.signal(&NodeId::name("here")).unwrap();
    match here.recv_timeout(WAIT).unwrap() {
        Delivery::Signal(s) => assert_eq!(s.count, 1),
        d => panic!("{d:?}"),
    }
}

#[test]
fn a_remote_node_that_leaves_is_no_longer_forwarded_to_and_takes_its_events() {
    let (s, ep) = service();
    let cam = local(&ep, "cam");
    let viewer = local(&ep, "viewer");
    let far = remote(&ep, "far");
    cam.create_event("frame", Emission::Single).unwrap();
    far.subscribe_polled("frame").unwrap();
    viewer.subscribe_polled("frame").unwrap();
    far.create_event("far-ev", Emission::Multi).unwrap();
    viewer.subscribe_polled("far-ev").unwrap();
    assert_eq!(cam.emit("frame", b"1").unwrap(), 2);
    assert_eq!(event(far.recv_timeout(WAIT).unwrap()).data, b"1");
    assert_eq!(event(viewer.recv_timeout(WAIT).unwrap()).data, b"1");
    far.leave().unwrap();
    assert_eq!(
        viewer.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("far-ev".into())
    );
    until_remote(&cam, "frame", 0);
    assert_eq!(cam.emit("frame", b"2").unwrap(), 1);
    assert_eq!(event(viewer.recv_timeout(WAIT).unwrap()).data, b"2");
    stats_until(&s, |st| {
        (st.nodes, st.forwarded_emissions, st.lost) == (2, 1, 0)
    });
}

/// A node process in `role`, remote or local, once it printed `ready`.
fn spawn(ep: &str, role: &str, remote: bool) -> Proc {
    let mut args = vec![ep, role];
    if remote {
        args.push("remote");
    }
    let mut p = Proc::spawn(env!("CARGO_BIN_EXE_events_node"), &args);
    assert_eq!(p.line(), "ready");
    p
}

#[test]
fn a_remote_node_killed_is_no_longer_forwarded_to_and_takes_its_events() {
    let (s, ep) = service();
    let owner = local(&ep, "owner");
    let watcher = local(&ep, "watcher");
    owner.create_event("shared", Emission::Multi).unwrap();
    // The remote process subscribes to "shared" and creates "idle-ev".
    let mut far = spawn(&ep, "idle", true);
    watcher.subscribe_polled("idle-ev").unwrap();
    watcher.subscribe_polled("shared").unwrap();
    assert_eq!(watcher.remote_subscribers("shared"), 1);
    assert_eq!(owner.remote_subscribers("shared"), 1);
    assert_eq!(owner.emit("shared", b"1").unwrap(), 2);
    assert_eq!(
        watcher.recv_timeout(WAIT).unwrap(),
        Delivery::Event(Emitted {
            event: "shared".into(),
            from: NodeId::name("owner"),
            data: b"1".to_vec()
        })
    );
    far.child.kill().unwrap();
    far.child.wait().unwrap();
    assert_eq!(
        watcher.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("idle-ev".into())
    );
    until_remote(&owner, "shared", 0);
    until_remote(&watcher, "shared", 0);
    assert_eq!(owner.emit("shared", b"2").unwrap(), 1);
    assert_eq!(event(watcher.recv_timeout(WAIT).unwrap()).data, b"2");
    stats_until(&s, |st| {
        (st.nodes, st.lost, st.forwarded_emissions) == (2, 1, 1)
    });
    assert_eq!(
        owner.contact(&far.id(), b"x").unwrap_err().code(),
        Some(ErrorCode::UnknownNode)
    );
}

/// Local emitters killed with -9 while a remote node hears them: one in the middle of a flood
/// of forwarded emissions (the others go on), one whose event the remote node subscribed
/// (it gets DISSOLVED after the emissions).
#[test]
fn a_local_emitter_killed_dissolves_its_event_for_the_remote_subscriber() {
    use std::io::Write;
    let (s, ep) = service();
    let owner = local(&ep, "owner");
    owner.create_event("shared", Emission::Multi).unwrap();
    let far = remote(&ep, "far");
    far.subscribe_polled("shared").unwrap();
    // The victim (local, hub-less) subscribes to "shared" after the remote node: it
    // forwards every emission it writes, from the first, and writes them in a loop.
    let mut victim = spawn(&ep, "victim", false);
    let victim_id = victim.id();
    for _ in 0..10 {
        let e = event(far.recv_timeout(WAIT).unwrap());
        assert_eq!(
            (e.event.as_str(), e.from.clone(), &e.data[..]),
            ("shared", victim_id.clone(), &b"from the victim"[..])
        );
    }
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    stats_until(&s, |st| (st.lost, st.dissolved) == (1, 1));
    let st = s.stats();
    assert!(st.forwarded_emissions >= 10);
    assert_eq!(
        st.routed_emissions, 0,
        "the victim's emissions were ring writes"
    );
    // The others go on: after what was in flight from the victim, the owner's emission.
    assert_eq!(owner.emit("shared", b"after").unwrap(), 1);
    loop {
        let e = event(far.recv_timeout(WAIT).unwrap());
        if e.from != victim_id {
            assert_eq!((e.from.as_str(), &e.data[..]), ("owner", &b"after"[..]));
            break;
        }
    }
    // A writer whose event the remote node subscribed: its emissions, then DISSOLVED.
    let mut writer = spawn(&ep, "writer", false);
    far.subscribe_polled("w-ev").unwrap();
    let stdin = writer.child.stdin.as_mut().unwrap();
    for line in ["one", "two", "three"] {
        writeln!(stdin, "{line}").unwrap();
    }
    stdin.flush().unwrap();
    for line in ["one", "two", "three"] {
        assert_eq!(writer.line(), "1");
        let e = event(far.recv_timeout(WAIT).unwrap());
        assert_eq!(
            (e.from.clone(), &e.data[..]),
            (writer.id(), line.as_bytes())
        );
    }
    writer.child.kill().unwrap();
    writer.child.wait().unwrap();
    assert_eq!(
        far.recv_timeout(WAIT).unwrap(),
        Delivery::Dissolved("w-ev".into())
    );
    assert_eq!(far.subscriptions(), ["shared"]);
    stats_until(&s, |st| (st.lost, st.dissolved) == (2, 2));
}

/// A remote node's `subscribe` returns only once every ring writer of the event forwards it:
/// with the writer's process stopped (SIGSTOP) it cannot answer, and `subscribe` waits;
/// continued, it answers, and its very next emission reaches the remote node.
#[cfg(unix)]
#[test]
fn a_remote_subscribe_returns_once_every_writer_forwards() {
    use std::io::Write;
    let (s, ep) = service();
    let mut writer = spawn(&ep, "writer", false);
    let opts = NodeOptions {
        remote: true,
        shm: false,
        // Longer than this test runs: only the writer's answer ends the wait.
        request_timeout: Duration::from_secs(120),
        ..NodeOptions::default()
    };
    let far = Node::connect_with(&ep, NodeId::name("far"), opts).unwrap();
    let pid = rustix::process::Pid::from_raw(writer.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let h = far.handle();
    let sub = std::thread::spawn(move || h.subscribe_polled("w-ev"));
    // The SUBSCRIBE is handled (the directory counts it) but cannot return: the writer is
    // stopped and has not answered.
    let end = Instant::now() + WAIT;
    while s.stats().subscriptions != 1 {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !sub.is_finished(),
        "subscribe returned before the writer forwards"
    );
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    sub.join().unwrap().unwrap();
    let stdin = writer.child.stdin.as_mut().unwrap();
    writeln!(stdin, "first").unwrap();
    stdin.flush().unwrap();
    assert_eq!(
        writer.line(),
        "1",
        "the writer counts the remote subscriber"
    );
    let e = event(far.recv_timeout(WAIT).unwrap());
    assert_eq!((e.from, e.data), (writer.id(), b"first".to_vec()));
    // The writer leaves at the end of its input while the service runs: a node killed
    // (`Proc`'s drop) after the service stopped would leave its segments' names behind.
    drop(writer.child.stdin.take());
    assert!(writer.child.wait().unwrap().success());
}

/// A remote subscriber whose link does not keep up (its process stopped): the service's queue
/// to it fills and drops the excess, counted in `ServiceStats::dropped`; what the subscriber
/// receives is in order, and received plus dropped is every emission.
#[cfg(unix)]
#[test]
fn a_remote_subscriber_on_a_slow_link_loses_what_the_service_drops_and_it_is_counted() {
    let opts = ServiceOptions {
        hubless: true,
        // The stopped process must not be dropped for missing heartbeats.
        heartbeat_timeout: Duration::from_secs(300),
        ..ServiceOptions::default()
    };
    let s = Service::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    let ep = s.endpoint();
    let cam = local(&ep, "cam");
    cam.create_event("flood", Emission::Single).unwrap();
    let mut tally = spawn(&ep, "tally", true);
    assert_eq!(cam.remote_subscribers("flood"), 1);
    let pid = rustix::process::Pid::from_raw(tally.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    // Emit until the service has dropped some (the socket buffers fill first; large
    // emissions, that still fit a ring slot, fill them sooner).
    let mut sent = 0u64;
    let emit = |n: u64, tail: &[u8]| {
        let mut data = n.to_le_bytes().to_vec();
        data.extend_from_slice(&[0; 3900]);
        data.extend_from_slice(tail);
        assert_eq!(cam.emit("flood", &data).unwrap(), 1);
    };
    while s.stats().dropped == 0 {
        assert!(sent < 20_000_000, "nothing dropped after {sent} emissions");
        for _ in 0..100 {
            emit(sent, b"");
            sent += 1;
        }
    }
    rustix::process::kill_process(pid, rustix::process::Signal::CONT).unwrap();
    // Markers until one arrives: everything queued before it has been delivered.
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let mut out = tally.take_lines();
    std::thread::spawn(move || {
        while let Some(l) = out() {
            if lines_tx.send(l).is_err() {
                break;
            }
        }
    });
    let end = Instant::now() + WAIT;
    loop {
        emit(sent, b"marker");
        sent += 1;
        if let Ok(l) = lines.recv_timeout(Duration::from_millis(50)) {
            assert!(l.starts_with("marker "), "{l}");
            break;
        }
        assert!(Instant::now() < end, "no marker arrived");
    }
    cam.dissolve_event("flood").unwrap();
    let got: u64 = loop {
        let l = lines.recv_timeout(WAIT).unwrap();
        if let Some(n) = l.strip_prefix("got ") {
            break n.parse().unwrap();
        }
        assert!(l.starts_with("marker "), "{l}");
    };
    assert!(
        tally.child.wait().unwrap().success(),
        "the tally saw them in order"
    );
    let dropped = s.stats().dropped;
    assert!(dropped > 0 && got > 0);
    assert_eq!(
        s.stats().forwarded_emissions,
        sent,
        "every one was forwarded"
    );
    assert_eq!(
        got + dropped,
        sent,
        "received plus dropped is every emission"
    );
}
