//! `inproc://NAME`: in-memory pipes between the sockets of one process. Every compatible
//! pair of socket types (the conformance suite runs its behaviours over inproc too), routing
//! ids, subscriptions, the send HWM (blocking and dropping), a name bound once, connect
//! before bind, an incompatible peer refused and a dropped peer seen as a disconnect, with
//! the monitor events of a ZMTP connection; owned sends hand the receiver the sender's very
//! buffers.
#![forbid(unsafe_code)]

use std::sync::mpsc::Receiver;
use std::time::Duration;

use ringwire::Error;
use ringwire::zmtp::{
    Dealer, Pair, Pub, Pull, Push, Rep, Req, Router, SocketEvent, Sub, XPub, XSub,
};
use ringwire_tests::watchdog;

const T: Duration = Duration::from_secs(20);

#[test]
fn every_pattern_pair_talks_over_inproc_between_threads() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::bind("inproc://inproc-rep").unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let q = rep.recv_bytes_timeout(T).unwrap();
            rep.send_bytes(&q.to_ascii_uppercase()).unwrap();
        }
        rep.flush().unwrap();
    });
    let mut req = Req::connect("inproc://inproc-rep").unwrap();
    for q in ["a", "bc", "def"] {
        req.send_bytes(q.as_bytes()).unwrap();
        assert_eq!(
            req.recv_bytes_timeout(T).unwrap(),
            q.to_ascii_uppercase().as_bytes()
        );
    }
    server.join().unwrap();

    // Connecting first: the connect retries until the name is bound.
    let mut push = Push::connect("inproc://inproc-pipe").unwrap();
    let mut pull = Pull::bind("inproc://inproc-pipe").unwrap();
    for i in 0..100u32 {
        push.send(&i).unwrap();
    }
    push.flush().unwrap();
    for i in 0..100u32 {
        assert_eq!(pull.recv_timeout::<u32>(T).unwrap(), i);
    }

    let mut a = Pair::bind("inproc://inproc-pair").unwrap();
    let mut b = Pair::connect("inproc://inproc-pair").unwrap();
    b.send_bytes(b"ping").unwrap();
    assert_eq!(a.recv_bytes_timeout(T).unwrap(), b"ping");
}

#[test]
fn a_name_is_bound_once_and_freed_by_drop() {
    let _watchdog = watchdog(60);
    let first = Pull::bind("inproc://inproc-once").unwrap();
    let again = Pull::bind("inproc://inproc-once");
    let err = again.err().expect("a second bind of the same name fails");
    assert!(err.to_string().contains("already bound"), "{err}");
    drop(first);
    Pull::bind("inproc://inproc-once").expect("free again after drop");
}

/// Waits for the first event `want` accepts (panics after `T`).
fn wait_event(events: &Receiver<SocketEvent>, want: impl Fn(&SocketEvent) -> bool) -> SocketEvent {
    loop {
        let e = events.recv_timeout(T).expect("an event");
        if want(&e) {
            return e;
        }
    }
}

#[test]
fn every_compatible_socket_type_pair_talks_and_routes_over_inproc() {
    let _watchdog = watchdog(60);
    // DEALER/ROUTER: the router sees the dealer's identity and routes by it.
    let mut router = Router::bind("inproc://pairs-router").unwrap();
    let mut dealer = Dealer::builder()
        .identity(b"dealer-1")
        .connect("inproc://pairs-router")
        .unwrap();
    dealer.send_multipart(&[b"", b"hello"]).unwrap();
    let m = router.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames(), [&b"dealer-1"[..], b"", b"hello"]);
    router.send_multipart(&[b"dealer-1", b"", b"back"]).unwrap();
    let m = dealer.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames(), [&b""[..], b"back"]);
    // A REQ through the same router: a generated routing id, the envelope kept.
    let mut req = Req::connect("inproc://pairs-router").unwrap();
    req.send_bytes(b"q").unwrap();
    let m = router.recv_multipart_timeout(T).unwrap();
    let id = m.frames()[0].clone();
    assert!(!id.is_empty() && id != b"dealer-1");
    assert_eq!(&m.frames()[1..], [&b""[..], b"q"]);
    router.send_multipart(&[&id, b"", b"a"]).unwrap();
    assert_eq!(req.recv_bytes_timeout(T).unwrap(), b"a");

    // ROUTER to ROUTER: each routes by the other's identity, known from the connect on.
    let mut hub = Router::builder()
        .identity(b"hub")
        .bind("inproc://pairs-routers")
        .unwrap();
    let mut spoke = Router::builder()
        .identity(b"spoke")
        .connect("inproc://pairs-routers")
        .unwrap();
    spoke.send_multipart(&[b"hub", b"hi"]).unwrap();
    let m = hub.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames(), [&b"spoke"[..], b"hi"]);
    hub.send_multipart(&[b"spoke", b"ho"]).unwrap();
    let m = spoke.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames(), [&b"hub"[..], b"ho"]);

    // DEALER to REP, and DEALER to DEALER.
    let mut rep = Rep::bind("inproc://pairs-rep").unwrap();
    let mut d = Dealer::connect("inproc://pairs-rep").unwrap();
    d.send_multipart(&[b"", b"x"]).unwrap();
    assert_eq!(rep.recv_bytes_timeout(T).unwrap(), b"x");
    rep.send_bytes(b"y").unwrap();
    assert_eq!(
        d.recv_multipart_timeout(T).unwrap().frames(),
        [&b""[..], b"y"]
    );
    let mut d1 = Dealer::bind("inproc://pairs-dealers").unwrap();
    let mut d2 = Dealer::connect("inproc://pairs-dealers").unwrap();
    d2.send_bytes(b"to d1").unwrap();
    assert_eq!(d1.recv_bytes_timeout(T).unwrap(), b"to d1");
    d1.send_bytes(b"to d2").unwrap();
    assert_eq!(d2.recv_bytes_timeout(T).unwrap(), b"to d2");

    // PUB/SUB: subscriptions travel to the publisher, which filters by prefix.
    let mut publisher = Pub::bind("inproc://pairs-pub").unwrap();
    let mut sub = Sub::connect("inproc://pairs-pub").unwrap();
    sub.subscribe(b"pose").unwrap();
    publisher.wait_for_subscribers(1, T).unwrap();
    publisher.send_multipart(&[b"odom", b"no"]).unwrap();
    publisher.send_multipart(&[b"pose", b"yes"]).unwrap();
    assert_eq!(
        sub.recv_multipart_timeout(T).unwrap().frames(),
        [&b"pose"[..], b"yes"]
    );

    // XPUB/XSUB: the XPUB sees each subscription change as a message.
    let mut xpub = XPub::bind("inproc://pairs-xpub").unwrap();
    let mut xsub = XSub::connect("inproc://pairs-xpub").unwrap();
    xsub.send_bytes(b"\x01cam").unwrap();
    assert_eq!(xpub.recv_bytes_timeout(T).unwrap(), b"\x01cam");
    xpub.send_multipart(&[b"camera", b"frame"]).unwrap();
    assert_eq!(
        xsub.recv_multipart_timeout(T).unwrap().frames(),
        [&b"camera"[..], b"frame"]
    );
    xsub.send_bytes(b"\x00cam").unwrap();
    assert_eq!(xpub.recv_bytes_timeout(T).unwrap(), b"\x00cam");

    // A SUB connected to an XPUB, and an XSUB to a PUB.
    let mut sub2 = Sub::connect("inproc://pairs-xpub").unwrap();
    sub2.subscribe(b"").unwrap();
    assert_eq!(xpub.recv_bytes_timeout(T).unwrap(), b"\x01");
    let mut xsub2 = XSub::connect("inproc://pairs-pub").unwrap();
    xsub2.send_bytes(b"\x01").unwrap();
    publisher.wait_for_subscribers(2, T).unwrap();
    publisher.send_multipart(&[b"any", b"thing"]).unwrap();
    assert_eq!(
        xsub2.recv_multipart_timeout(T).unwrap().frames(),
        [&b"any"[..], b"thing"]
    );
}

#[test]
fn an_incompatible_peer_fails_its_handshake_and_is_retried() {
    let _watchdog = watchdog(60);
    let mut pull = Pull::bind("inproc://incompatible").unwrap();
    let bound_events = pull.monitor();
    let mut push = Push::builder()
        .reconnect(Duration::from_millis(5), Duration::from_millis(20))
        .build();
    let events = push.monitor();
    // A PUSH to a PUSH: refused as a ZMTP READY would be.
    let other = Push::bind("inproc://incompatible-push").unwrap();
    push.add_connect("inproc://incompatible-push").unwrap();
    let failed = wait_event(&events, |e| {
        matches!(e, SocketEvent::HandshakeFailed { .. })
    });
    let SocketEvent::HandshakeFailed { reason, .. } = failed else {
        unreachable!()
    };
    assert!(reason.contains("incompatible"), "{reason}");
    wait_event(&events, |e| matches!(e, SocketEvent::Retried { .. }));
    assert!(push.stats().protocol_errors >= 1);
    drop(other);
    // The compatible peer still works beside it.
    push.add_connect("inproc://incompatible").unwrap();
    push.send_bytes(b"ok").unwrap();
    assert_eq!(pull.recv_bytes_timeout(T).unwrap(), b"ok");
    wait_event(&bound_events, |e| matches!(e, SocketEvent::Accepted { .. }));
    wait_event(&bound_events, |e| {
        matches!(e, SocketEvent::HandshakeSucceeded { .. })
    });
}

#[test]
fn the_send_hwm_blocks_a_push_and_drops_for_a_pub() {
    let _watchdog = watchdog(60);
    const HWM: usize = 5;
    let mut pull = Pull::builder()
        .recv_hwm(HWM)
        .bind("inproc://hwm-pipe")
        .unwrap();
    let mut push = Push::builder()
        .send_hwm(HWM)
        .send_timeout(Duration::from_millis(100))
        .connect("inproc://hwm-pipe")
        .unwrap();
    // Nobody receives: HWM messages fit in the pipe, and as many in the receiver's inbox if its
    // idle-time driver took them meanwhile (libzmq's inproc holds SNDHWM + RCVHWM too); then
    // a send blocks and times out.
    let mut sent = 0u32;
    loop {
        match push.send(&sent) {
            Ok(()) => sent += 1,
            Err(Error::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
        assert!(sent <= 1000, "the HWM never held");
    }
    assert!((HWM..=2 * HWM).contains(&(sent as usize)), "{sent}");
    // The receiver takes them (its inbox holds at most its own HWM at a time); a blocked
    // sender is woken as room appears.
    let sender = std::thread::spawn(move || {
        let mut push = push;
        for i in sent..sent + 100 {
            push.send(&i).unwrap();
        }
        push
    });
    for i in 0..sent + 100 {
        assert_eq!(pull.recv_timeout::<u32>(T).unwrap(), i);
    }
    let push = sender.join().unwrap();
    assert_eq!(push.stats().dropped_hwm, 0);

    // A PUB drops (and counts) what does not fit for a subscriber that does not read (its
    // pipe, and its inbox if its driver filled it).
    let mut publisher = Pub::builder()
        .send_hwm(HWM)
        .bind("inproc://hwm-pub")
        .unwrap();
    assert!(matches!(publisher.stats().dropped_hwm, 0));
    let mut sub = Sub::builder()
        .recv_hwm(HWM)
        .connect("inproc://hwm-pub")
        .unwrap();
    sub.subscribe(b"").unwrap();
    publisher.wait_for_subscribers(1, T).unwrap();
    for i in 0..20u32 {
        publisher.send_on("t", &i).unwrap();
    }
    let dropped = publisher.stats().dropped_hwm as usize;
    assert!((20 - 2 * HWM..=20 - HWM).contains(&dropped), "{dropped}");
    for i in 0..20 - dropped {
        let got: u32 = sub.recv_timeout(T).unwrap();
        assert_eq!(got as usize, i, "the first ones, in order");
    }
    assert!(matches!(sub.try_recv_bytes(), Err(Error::WouldBlock)));
}

#[test]
fn a_dropped_peer_is_a_disconnect_after_what_it_sent() {
    let _watchdog = watchdog(60);
    let mut a = Pair::bind("inproc://drop-pair").unwrap();
    let events = a.monitor();
    let mut b = Pair::connect("inproc://drop-pair").unwrap();
    b.send_bytes(b"last words").unwrap();
    drop(b);
    assert_eq!(a.recv_bytes_timeout(T).unwrap(), b"last words");
    let e = wait_event(&events, |e| matches!(e, SocketEvent::Disconnected { .. }));
    let SocketEvent::Disconnected { reason, .. } = e else {
        unreachable!()
    };
    assert_eq!(reason, "peer closed the connection");
    assert_eq!(a.connection_count(), 0);
    assert_eq!(a.stats().disconnected, 1);

    // A REQ waiting for its reply learns that the REP went away.
    let mut rep = Rep::bind("inproc://drop-rep").unwrap();
    let mut req = Req::connect("inproc://drop-rep").unwrap();
    req.send_bytes(b"q").unwrap();
    assert_eq!(rep.recv_bytes_timeout(T).unwrap(), b"q");
    drop(rep);
    assert!(matches!(
        req.recv_bytes_timeout(T),
        Err(Error::Disconnected)
    ));
    // A listener that goes away frees its name; the connector reconnects when it is back.
    let mut rep = Rep::bind("inproc://drop-rep").unwrap();
    req.send_bytes(b"again").unwrap();
    assert_eq!(rep.recv_bytes_timeout(T).unwrap(), b"again");
    rep.send_bytes(b"yes").unwrap();
    assert_eq!(req.recv_bytes_timeout(T).unwrap(), b"yes");
}

#[test]
fn names_are_not_visible_to_other_processes() {
    let _watchdog = watchdog(60);
    // The name lives in this process's memory only: nothing is bound in the file system or
    // (on Linux) the abstract socket namespace, so another process cannot find it.
    let _pull = Pull::bind("inproc://inproc-private").unwrap();
    let abstract_name = format!("ringwire/inproc/{}/inproc-private", std::process::id());
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    assert!(
        !unix.contains(&abstract_name),
        "no abstract socket is bound"
    );
}

#[test]
fn a_message_over_the_receivers_limits_closes_the_pipe_and_is_reported() {
    let _watchdog = watchdog(60);
    let limits = ringwire_core::zmtp::Limits {
        max_message: 100,
        ..Default::default()
    };
    let mut pull = Pull::builder()
        .limits(limits)
        .bind("inproc://too-large")
        .unwrap();
    let events = pull.monitor();
    let mut push = Push::connect("inproc://too-large").unwrap();
    push.send_bytes(&[1u8; 100]).unwrap();
    assert_eq!(pull.recv_bytes_timeout(T).unwrap().len(), 100);
    push.send_bytes(&[2u8; 101]).unwrap();
    assert!(matches!(
        pull.recv_bytes_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
    let e = wait_event(&events, |e| {
        matches!(e, SocketEvent::MessageTooLarge { .. })
    });
    let SocketEvent::MessageTooLarge { size, limit, .. } = e else {
        unreachable!()
    };
    assert_eq!((size, limit), (101, 100));
    assert_eq!(pull.stats().too_large, 1);
    wait_event(&events, |e| matches!(e, SocketEvent::Disconnected { .. }));
}

/// A buffer holding `text`, and where its bytes live.
fn buffer(text: &[u8]) -> (Vec<u8>, *const u8) {
    let v = text.to_vec();
    let at = v.as_ptr();
    (v, at)
}

#[test]
fn an_owned_send_hands_the_receiver_the_very_buffer() {
    let _watchdog = watchdog(60);
    // PAIR, one frame.
    let mut a = Pair::bind("inproc://owned-pair").unwrap();
    let mut b = Pair::connect("inproc://owned-pair").unwrap();
    let (v, at) = buffer(b"pair");
    b.send_bytes_owned(v).unwrap();
    let got = a.recv_bytes_timeout(T).unwrap();
    assert_eq!((&got[..], got.as_ptr()), (&b"pair"[..], at));

    // PUSH/PULL, every frame of a multipart message.
    let mut pull = Pull::bind("inproc://owned-push").unwrap();
    let mut push = Push::connect("inproc://owned-push").unwrap();
    let ((v1, at1), (v2, at2)) = (buffer(b"head"), buffer(b"body"));
    push.send_multipart_owned(vec![v1, v2]).unwrap();
    let got = pull.recv_multipart_timeout(T).unwrap().into_frames();
    assert_eq!(got, [&b"head"[..], b"body"]);
    assert_eq!([got[0].as_ptr(), got[1].as_ptr()], [at1, at2]);

    // DEALER to ROUTER: the router adds the routing id in front of the dealer's frames.
    let mut router = Router::bind("inproc://owned-router").unwrap();
    let mut dealer = Dealer::builder()
        .identity(b"d")
        .connect("inproc://owned-router")
        .unwrap();
    let (v, at) = buffer(b"request");
    dealer.send_multipart_owned(vec![Vec::new(), v]).unwrap();
    let got = router.recv_multipart_timeout(T).unwrap().into_frames();
    assert_eq!(got, [&b"d"[..], b"", b"request"]);
    assert_eq!(got[2].as_ptr(), at);
    // ... and back: the routing id is taken off, the body goes as it is.
    let (v, at) = buffer(b"reply");
    router.send_bytes_to_owned(b"d", v).unwrap();
    let got = dealer.recv_bytes_timeout(T).unwrap();
    assert_eq!((&got[..], got.as_ptr()), (&b"reply"[..], at));
    let (v, at) = buffer(b"multi");
    router.send_multipart_owned(vec![b"d".to_vec(), v]).unwrap();
    let got = dealer.recv_bytes_timeout(T).unwrap();
    assert_eq!((&got[..], got.as_ptr()), (&b"multi"[..], at));

    // REQ: the empty delimiter it adds is a new frame, the body is the caller's.
    let mut req = Req::connect("inproc://owned-router").unwrap();
    let (v, at) = buffer(b"q");
    req.send_bytes_owned(v).unwrap();
    let got = router.recv_multipart_timeout(T).unwrap().into_frames();
    assert_eq!(&got[1..], [&b""[..], b"q"]);
    assert_eq!(got[2].as_ptr(), at);
    router.send_multipart(&[&got[0], b"", b"a"]).unwrap();
    assert_eq!(req.recv_bytes_timeout(T).unwrap(), b"a");

    // REP: the request's envelope goes in front of the reply, the body is the caller's.
    let mut rep = Rep::bind("inproc://owned-rep").unwrap();
    let mut req = Req::connect("inproc://owned-rep").unwrap();
    req.send_bytes(b"q").unwrap();
    assert_eq!(rep.recv_bytes_timeout(T).unwrap(), b"q");
    let (v, at) = buffer(b"answer");
    rep.send_bytes_owned(v).unwrap();
    let got = req.recv_bytes_timeout(T).unwrap();
    assert_eq!((&got[..], got.as_ptr()), (&b"answer"[..], at));

    // Sends that wait for room (a send HWM of 1, the receiver taking one at a time) still
    // hand their buffers over.
    let mut slow = Pull::builder()
        .recv_hwm(1)
        .bind("inproc://owned-hwm")
        .unwrap();
    let mut push = Push::builder()
        .send_hwm(1)
        .connect("inproc://owned-hwm")
        .unwrap();
    let (buffers, ats): (Vec<_>, Vec<_>) = (0..20u8).map(|i| buffer(&[i; 100])).unzip();
    let sender = std::thread::spawn(move || {
        for v in buffers {
            push.send_bytes_owned(v).unwrap();
        }
        push.flush().unwrap();
        push
    });
    for (i, at) in ats.into_iter().enumerate() {
        let got = slow.recv_bytes_timeout(T).unwrap();
        assert_eq!((got[0], got.len(), got.as_ptr()), (i as u8, 100, at));
    }
    drop(sender.join().unwrap());

    // PUB to one SUB.
    let mut publisher = Pub::bind("inproc://owned-pub").unwrap();
    let mut sub1 = Sub::connect("inproc://owned-pub").unwrap();
    sub1.subscribe(b"t").unwrap();
    publisher.wait_for_subscribers(1, T).unwrap();
    let ((topic, at_topic), (v, at)) = (buffer(b"t"), buffer(b"one"));
    publisher.send_multipart_owned(vec![topic, v]).unwrap();
    let got = sub1.recv_multipart_timeout(T).unwrap().into_frames();
    assert_eq!(got, [&b"t"[..], b"one"]);
    assert_eq!([got[0].as_ptr(), got[1].as_ptr()], [at_topic, at]);

    // Two SUBs: both get the message, the last pipe the very buffers, the other a copy.
    let mut sub2 = Sub::connect("inproc://owned-pub").unwrap();
    sub2.subscribe(b"t").unwrap();
    publisher.wait_for_subscribers(2, T).unwrap();
    let (v, at) = buffer(b"both");
    publisher
        .send_multipart_owned(vec![b"t".to_vec(), v])
        .unwrap();
    let mut moved = 0;
    for sub in [&mut sub1, &mut sub2] {
        let got = sub.recv_multipart_timeout(T).unwrap().into_frames();
        assert_eq!(got, [&b"t"[..], b"both"]);
        moved += usize::from(got[1].as_ptr() == at);
    }
    assert_eq!(moved, 1, "one subscriber gets the buffer, the other a copy");
}
