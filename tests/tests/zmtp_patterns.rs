//! Every ZMTP socket type, ringwire to ringwire, over tcp and ipc (what every transport
//! shares, PUB/SUB filtering and REQ/REP lock-step among it, is in `conformance.rs`).
#![forbid(unsafe_code)]

use std::thread;
use std::time::Duration;

use ringwire::Error;
use ringwire::zmtp::{Dealer, Pair, Pub, Pull, Push, Rep, Router, Sub, XPub, XSub};
use ringwire_tests::{transports, watchdog};

const T: Duration = Duration::from_secs(5);

#[test]
fn dealer_router_route_by_identity() {
    let _watchdog = watchdog(60);
    for ep in transports("router") {
        let mut router = Router::bind(&ep).unwrap();
        let ep = router.bound_endpoints()[0].to_string();
        let mut a = Dealer::builder().identity(b"alice").connect(&ep).unwrap();
        let mut b = Dealer::builder().identity(b"bob").connect(&ep).unwrap();
        // One thread drives all three sockets: let every handshake finish first (a
        // message queued on a handshaking connection waits for its sender's next call).
        router.wait_for_peers(2, T).unwrap();
        a.wait_for_peers(1, T).unwrap();
        b.wait_for_peers(1, T).unwrap();
        a.send_bytes(b"from a").unwrap();
        b.send_multipart(&[b"from", b"b"]).unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            got.push(router.recv_multipart_timeout(T).unwrap().into_frames());
        }
        got.sort();
        assert_eq!(got[0], vec![b"alice".to_vec(), b"from a".to_vec()]);
        assert_eq!(
            got[1],
            vec![b"bob".to_vec(), b"from".to_vec(), b"b".to_vec()]
        );
        router.send_multipart(&[b"bob", b"to b"]).unwrap();
        router.send_multipart(&[b"alice", b"to a"]).unwrap();
        router.send_multipart(&[b"nobody", b"lost"]).unwrap();
        assert_eq!(b.recv_bytes_timeout(T).unwrap(), b"to b");
        assert_eq!(a.recv_bytes_timeout(T).unwrap(), b"to a");
        assert_eq!(router.stats().unroutable, 1);
    }
}

#[test]
fn push_pull_round_robin() {
    let _watchdog = watchdog(60);
    for ep in transports("push") {
        let mut push = Push::bind(&ep).unwrap();
        let ep = push.bound_endpoints()[0].to_string();
        let mut p1 = Pull::connect(&ep).unwrap();
        let mut p2 = Pull::connect(&ep).unwrap();
        // Both pullers must be connected before round-robin is observable.
        p1.process().unwrap();
        p2.process().unwrap();
        push.wait_for_peers(2, T).unwrap();
        for i in 0..10u32 {
            push.send(&i).unwrap();
        }
        let mut all = Vec::new();
        let (mut n1, mut n2) = (0, 0);
        while all.len() < 10 {
            if let Ok(v) = p1.recv_timeout::<u32>(Duration::from_millis(10)) {
                all.push(v);
                n1 += 1;
            }
            if let Ok(v) = p2.recv_timeout::<u32>(Duration::from_millis(10)) {
                all.push(v);
                n2 += 1;
            }
        }
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!((n1, n2), (5, 5));
    }
}

#[test]
fn pair_talks_both_ways() {
    let _watchdog = watchdog(60);
    for ep in transports("pair") {
        let mut a = Pair::bind(&ep).unwrap();
        let ep = a.bound_endpoints()[0].to_string();
        let mut b = Pair::connect(&ep).unwrap();
        a.wait_for_peers(1, T).unwrap();
        b.wait_for_peers(1, T).unwrap();
        b.send(&"ping").unwrap();
        let s: String = a.recv_timeout(T).unwrap();
        assert_eq!(s, "ping");
        a.send_multipart(&[b"", b"pong"]).unwrap();
        let m = b.recv_multipart_timeout(T).unwrap();
        assert_eq!(m.frames(), &[b"".to_vec(), b"pong".to_vec()]);
    }
}

#[test]
fn multipart_sizes_survive() {
    let _watchdog = watchdog(60);
    for ep in transports("sizes") {
        let mut pull = Pull::bind(&ep).unwrap();
        let ep = pull.bound_endpoints()[0].to_string();
        let sizes = [0usize, 1, 255, 256, 65_536, 1 << 20];
        let body = |size: usize| -> Vec<u8> { (0..size).map(|i| (i * 7 % 256) as u8).collect() };
        let receiver = thread::spawn(move || {
            for size in sizes {
                let m = pull.recv_multipart_timeout(T).unwrap();
                assert_eq!(m.frames()[1], body(size), "size {size}");
            }
        });
        let mut push = Push::connect(&ep).unwrap();
        for size in sizes {
            push.send_multipart(&[b"hdr", &body(size)]).unwrap();
        }
        receiver.join().unwrap();
    }
}

#[test]
fn xpub_sees_subscriptions_and_xsub_sends_them() {
    let _watchdog = watchdog(60);
    for ep in transports("xpub") {
        let mut xpub = XPub::bind(&ep).unwrap();
        let ep = xpub.endpoint();
        let mut xsub = XSub::connect(&ep).unwrap();
        let mut sub = Sub::connect(&ep).unwrap();
        xsub.send_bytes(b"\x01news").unwrap();
        sub.subscribe(b"wea").unwrap();
        let mut seen = vec![
            xpub.recv_bytes_timeout(T).unwrap(),
            xpub.recv_bytes_timeout(T).unwrap(),
        ];
        seen.sort();
        assert_eq!(seen, vec![b"\x01news".to_vec(), b"\x01wea".to_vec()]);
        xpub.send_multipart(&[b"weather", b"rain"]).unwrap();
        xpub.send_multipart(&[b"news", b"n1"]).unwrap();
        assert_eq!(sub.recv_bytes_timeout(T).unwrap(), b"rain");
        let m = xsub.recv_multipart_timeout(T).unwrap();
        assert_eq!(m.frames(), &[b"news".to_vec(), b"n1".to_vec()]);
        xsub.send_bytes(b"\x00news").unwrap();
        assert_eq!(xpub.recv_bytes_timeout(T).unwrap(), b"\x00news");
    }
}

#[test]
fn one_socket_binds_and_connects_several_endpoints() {
    let _watchdog = watchdog(60);
    let mut pull = Pull::bind("tcp://127.0.0.1:0").unwrap();
    let ipc = ringwire_tests::unique_ipc("multi");
    pull.add_bind(&ipc).unwrap();
    let tcp = pull.bound_endpoints()[0].to_string();
    let mut a = Push::connect(&tcp).unwrap();
    let mut b = Push::connect(&ipc).unwrap();
    a.send_bytes(b"via tcp").unwrap();
    b.send_bytes(b"via ipc").unwrap();
    let mut got = vec![
        pull.recv_bytes_timeout(T).unwrap(),
        pull.recv_bytes_timeout(T).unwrap(),
    ];
    got.sort();
    assert_eq!(got, vec![b"via ipc".to_vec(), b"via tcp".to_vec()]);

    // A subscriber connected to two publishers hears both.
    let mut p1 = Pub::bind("tcp://127.0.0.1:0").unwrap();
    let mut p2 = Pub::bind(&ringwire_tests::unique_ipc("multi-pub")).unwrap();
    let mut sub = Sub::connect(&p1.endpoint()).unwrap();
    sub.add_connect(&p2.endpoint()).unwrap();
    sub.subscribe(b"").unwrap();
    let (mut one, mut two) = (false, false);
    while !(one && two) {
        p1.send_bytes(b"1").unwrap();
        p2.send_bytes(b"2").unwrap();
        while let Ok(m) = sub.recv_bytes_timeout(Duration::from_millis(20)) {
            one |= m == b"1";
            two |= m == b"2";
        }
    }
}

#[test]
fn rep_keeps_the_routing_envelope_of_a_dealer() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::bind("tcp://127.0.0.1:0").unwrap();
    let mut dealer = Dealer::connect(&rep.endpoint()).unwrap();
    // As a ROUTER/DEALER broker forwards it: [client id, "", body].
    dealer
        .send_multipart(&[b"client-7", b"", b"question"])
        .unwrap();
    assert_eq!(rep.recv_bytes_timeout(T).unwrap(), b"question");
    rep.send_bytes(b"answer").unwrap();
    let m = dealer.recv_multipart_timeout(T).unwrap();
    assert_eq!(
        m.frames(),
        &[b"client-7".to_vec(), Vec::new(), b"answer".to_vec()]
    );
    // A request without a delimiter is malformed and dropped.
    dealer.send_bytes(b"no envelope").unwrap();
    assert!(matches!(
        rep.recv_bytes_timeout(Duration::from_millis(200)),
        Err(Error::Timeout)
    ));
}

#[test]
fn poller_waits_on_several_sockets() {
    use ringwire::{Pollable, Poller};
    let _watchdog = watchdog(60);
    let mut a = Pull::bind("tcp://127.0.0.1:0").unwrap();
    let mut b = Pull::bind(&ringwire_tests::unique_ipc("poller")).unwrap();
    let mut push_b = Push::connect(&b.endpoint()).unwrap();
    let sockets: [&dyn Pollable; 2] = [&a, &b];
    assert_eq!(
        Poller::poll(&sockets, Some(Duration::from_millis(50))).unwrap(),
        Vec::<usize>::new()
    );
    push_b.send_bytes(b"to b").unwrap();
    let sockets: [&dyn Pollable; 2] = [&a, &b];
    assert_eq!(Poller::poll(&sockets, Some(T)).unwrap(), vec![1]);
    assert_eq!(b.try_recv_bytes().unwrap(), b"to b");
    assert!(matches!(a.try_recv_bytes(), Err(Error::WouldBlock)));
}
