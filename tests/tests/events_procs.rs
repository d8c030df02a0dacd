//! The event service with nodes in other processes: direct messages by process id, and
//! `kill -9` of a node in the middle of emitting (the others go on, the directory forgets it).
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ringwire::events::{Delivery, Emission, ErrorCode, Node, NodeId, Service, ServiceOptions};
use ringwire_tests::both_modes;
use ringwire_tests::events::{Mode, Proc};

const WAIT: Duration = Duration::from_secs(30);

fn spawn(ep: &str, role: &str) -> Proc {
    Proc::spawn(env!("CARGO_BIN_EXE_events_node"), &[ep, role])
}

both_modes!(
    another_process_is_contacted_by_its_process_id,
    a_node_killed_mid_emit_is_forgotten_and_the_others_go_on,
);

fn service(mode: Mode) -> (Service, String) {
    ringwire_tests::events::service(mode, "evp")
}

fn another_process_is_contacted_by_its_process_id(mode: Mode) {
    let (s, ep) = service(mode);
    let mut echo = spawn(&ep, "echo");
    assert_eq!(echo.line(), "ready");
    let me = Node::connect(&ep, NodeId::name("tester")).unwrap();
    me.contact(&echo.id(), b"hello").unwrap();
    match me.recv_timeout(WAIT).unwrap() {
        Delivery::Direct(d) => assert_eq!((d.from, d.data), (echo.id(), b"hello".to_vec())),
        d => panic!("{d:?}"),
    }
    // Both directions went through the shared-memory inboxes, not the service.
    assert_eq!(me.contacted_locally(), 1);
    assert_eq!(s.stats().delivered, 0);
    // A signal to a process on this machine rings its doorbell, not the service.
    me.signal(&echo.id()).unwrap();
    assert_eq!(me.signals_rung_locally(), 1);
    match me.recv_timeout(WAIT).unwrap() {
        Delivery::Direct(d) => assert_eq!(d.data, b"signals 1"),
        d => panic!("{d:?}"),
    }
    // Closing its stdin makes it leave: then it is unknown.
    drop(echo.child.stdin.take());
    assert!(echo.child.wait().unwrap().success());
    let end = Instant::now() + WAIT;
    while s.stats().nodes != 1 {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = me.contact(&echo.id(), b"x").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownNode));
}

fn a_node_killed_mid_emit_is_forgotten_and_the_others_go_on(mode: Mode) {
    let (s, ep) = service(mode);
    let owner = Node::connect(&ep, NodeId::name("owner")).unwrap();
    owner.create_event("shared", Emission::Multi).unwrap();
    let watcher = Node::connect(&ep, NodeId::name("watcher")).unwrap();
    watcher.subscribe_polled("shared").unwrap();
    let mut victim = spawn(&ep, "victim");
    assert_eq!(victim.line(), "ready");
    watcher.subscribe_polled("victim-ev").unwrap();
    // The victim is emitting: wait for some of it to arrive, then kill it.
    let mut from_victim = 0;
    while from_victim < 10 {
        match watcher.recv_timeout(WAIT).unwrap() {
            Delivery::Event(e) => {
                assert_eq!(e.from, victim.id());
                from_victim += 1;
            }
            // Hub-less: the watcher may fall a ring behind the flood (told, never silent).
            Delivery::Lost { from, .. } => assert_eq!(from, victim.id()),
            d => panic!("{d:?}"),
        }
    }
    let victim_id = victim.id();
    // The owner finds the victim's doorbell before the kill.
    owner.signal(&victim_id).unwrap();
    assert_eq!(owner.signals_rung_locally(), 1);
    victim.child.kill().unwrap();
    victim.child.wait().unwrap();
    // The victim's event is dissolved: the watcher is told, after whatever was in flight.
    loop {
        match watcher.recv_timeout(WAIT).unwrap() {
            Delivery::Event(e) => assert_eq!(e.from, victim_id),
            Delivery::Lost { from, .. } => assert_eq!(from, victim_id),
            Delivery::Dissolved(ev) => {
                assert_eq!(ev, "victim-ev");
                break;
            }
            d => panic!("{d:?}"),
        }
    }
    assert_eq!(watcher.subscriptions(), ["shared"]);
    assert_eq!(
        owner.contact(&victim_id, b"x").unwrap_err().code(),
        Some(ErrorCode::UnknownNode)
    );
    // The others go on: the victim's subscription to "shared" is gone.
    assert_eq!(owner.emit("shared", b"after").unwrap(), 1);
    loop {
        match watcher.recv_timeout(WAIT).unwrap() {
            Delivery::Event(e) if e.from == victim_id => {}
            Delivery::Lost { from, .. } if from == victim_id => {}
            Delivery::Event(e) => {
                assert_eq!(e.data, b"after");
                break;
            }
            d => panic!("{d:?}"),
        }
    }
    let st = s.stats();
    assert_eq!((st.nodes, st.events, st.lost, st.dissolved), (2, 1, 1, 1));
    if mode == Mode::Hubless {
        // The victim wrote into a ring of its own: the service carried none of it, and
        // unlinked the ring's name when it lost the victim.
        assert_eq!(st.routed_emissions, 0);
        assert!(owner.emitted_locally() >= 1);
    }
    // Its doorbell was never closed; once signals pile up untaken the owner's death is seen
    // and the service, which forgot it, refuses.
    let mut refused = None;
    for _ in 0..1000 {
        if let Err(e) = owner.signal(&victim_id) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused.and_then(|e| e.code()), Some(ErrorCode::UnknownNode));
    // A contact finds its inbox gone (the service unlinked it) and the service refuses.
    let e = owner.contact(&victim_id, b"still there?").unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownNode));
}

/// A frozen process (SIGSTOP) answers no heartbeat: the service drops it after the heartbeat
/// timeout and forgets it like a dead one.
#[cfg(unix)]
#[test]
fn a_frozen_node_is_dropped_by_the_heartbeat() {
    let opts = ServiceOptions {
        heartbeat_interval: Duration::from_millis(50),
        heartbeat_timeout: Duration::from_millis(300),
        ..ServiceOptions::default()
    };
    let s = Service::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    let ep = s.endpoint();
    let mut frozen = spawn(&ep, "echo");
    assert_eq!(frozen.line(), "ready");
    let me = Node::connect(&ep, NodeId::name("tester")).unwrap();
    let pid = rustix::process::Pid::from_raw(frozen.child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    let end = Instant::now() + WAIT;
    while s.stats().lost != 1 {
        assert!(Instant::now() < end, "{:?}", s.stats());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        me.contact(&frozen.id(), b"x").unwrap_err().code(),
        Some(ErrorCode::UnknownNode)
    );
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
}
