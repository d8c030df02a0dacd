//! The conformance suite: one set of behavioural tests, run against every transport through the
//! transport-neutral sockets (`ringwire::{Publisher, Subscriber, ...}`): `shm://`, `tcp://`,
//! `ipc://` and `inproc://`. A difference between transports is a bug unless a test here names
//! it.
//!
//! Each behaviour is one function taking a bind endpoint; [`each_transport`] runs it once per
//! transport with a fresh endpoint. No test asserts on elapsed time.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use ringwire::{Error, Publisher, Puller, Pusher, Replier, Requester, Subscriber};
use ringwire_tests::{unique_ipc, watchdog};
use serde::{Deserialize, Serialize};

/// Long enough never to fire on a loaded machine; only a lost message waits it out.
const T: Duration = Duration::from_secs(20);

/// A fresh bind endpoint per transport: shm (a unique segment name), tcp (port 0), ipc,
/// inproc.
fn endpoints(tag: &str) -> [String; 4] {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    [
        format!("shm://conf-{tag}-{}-{n}", std::process::id()),
        "tcp://127.0.0.1:0".to_string(),
        unique_ipc(tag),
        format!("inproc://conf-{tag}-{n}"),
    ]
}

/// Runs `behaviour` once per transport, under a watchdog.
fn each_transport(tag: &str, behaviour: impl Fn(&str)) {
    let _watchdog = watchdog(120);
    for ep in endpoints(tag) {
        eprintln!("{tag}: {ep}");
        behaviour(&ep);
    }
}

/// The endpoint peers connect to: the bound one (tcp port 0 resolved).
macro_rules! connect_to {
    ($socket:expr, $ep:expr) => {
        match $socket.as_zmtp() {
            Some(z) => z.bound_endpoints()[0].to_string(),
            None => $ep.to_string(),
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pose {
    frame: String,
    xyz: [f32; 3],
    seq: u64,
}

fn pose(seq: u64) -> Pose {
    Pose {
        frame: format!("base_link/{seq}"),
        xyz: [1.0, -2.5, seq as f32],
        seq,
    }
}

/// Receives until a message whose first frame is `topic` arrives; returns the messages before
/// it (a subscriber may see several copies of what was published while it was joining).
fn drain_until(sub: &mut Subscriber, topic: &[u8]) -> Vec<Vec<u8>> {
    let mut before = Vec::new();
    loop {
        let m = sub.recv_multipart_timeout(T).expect("fence");
        if m.frames()[0] == topic {
            return before;
        }
        before.push(m.frames()[0].clone());
    }
}

/// Waits until `sub` receives what `publisher` sends (a ZeroMQ subscriber joins late: what is
/// published before its subscriptions reach the publisher is not delivered), then until it has
/// seen everything sent so far.
fn join(publisher: &mut Publisher, sub: &mut Subscriber) {
    loop {
        publisher.send_multipart(&[b"sync", b""]).unwrap();
        match sub.recv_multipart_timeout(Duration::from_millis(50)) {
            Ok(m) if m.frames()[0] == b"sync" => break,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(Error::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    publisher.send_multipart(&[b"sync/fence", b""]).unwrap();
    let extra = drain_until(sub, b"sync/fence");
    assert!(extra.iter().all(|t| t == b"sync"), "{extra:?}");
}

fn pub_sub_pair(ep: &str) -> (Publisher, Subscriber) {
    let mut publisher = Publisher::bind(ep).unwrap();
    let to = connect_to!(publisher, ep);
    let sub = Subscriber::connect(&to).unwrap();
    (publisher, sub)
}

#[test]
fn pub_sub_filters_by_prefix_and_counts_unsubscribes() {
    each_transport("pubsub", |ep| {
        let (mut publisher, mut sub) = pub_sub_pair(ep);
        // A subscriber that never subscribes receives nothing.
        let mut none = Subscriber::connect(&connect_to!(publisher, ep)).unwrap();
        // Counted subscriptions: "pose" twice needs two unsubscribes.
        sub.subscribe(b"pose").unwrap();
        sub.subscribe(b"pose").unwrap();
        sub.subscribe(b"imu").unwrap();
        sub.subscribe(b"sync").unwrap();
        join(&mut publisher, &mut sub);
        for i in 0..50u64 {
            publisher.send_on("gps", &i).unwrap();
            publisher.send_on("pose/left", &pose(i)).unwrap();
            publisher.send_on("pos", &i).unwrap(); // a prefix of "pose", not matched by it
            publisher.send_on("imu/0", &i).unwrap();
            let got: Pose = sub.recv_timeout(T).unwrap();
            assert_eq!(got, pose(i));
            let m = sub.recv_multipart_timeout(T).unwrap();
            assert_eq!(m.frames()[0], b"imu/0");
        }
        // One unsubscribe of two: "pose" still matches.
        sub.unsubscribe(b"pose").unwrap();
        publisher.send_on("pose", &1u8).unwrap();
        publisher.send_on("imu", &2u8).unwrap();
        assert_eq!(sub.recv_timeout::<u8>(T).unwrap(), 1);
        assert_eq!(sub.recv_timeout::<u8>(T).unwrap(), 2);
        // The second removes it: "pose" is filtered out, "imu" still arrives (in order, so
        // the filtered message would have come first).
        sub.unsubscribe(b"pose").unwrap();
        // Unsubscribing what is not subscribed does nothing.
        sub.unsubscribe(b"never").unwrap();
        publisher.send_on("pose", &3u8).unwrap();
        publisher.send_on("imu", &4u8).unwrap();
        assert_eq!(sub.recv_timeout::<u8>(T).unwrap(), 4);
        assert!(matches!(sub.try_recv_bytes(), Err(Error::WouldBlock)));
        assert!(matches!(none.try_recv_bytes(), Err(Error::WouldBlock)));
    });
}

#[test]
fn subscription_prefix_over_the_limit_is_too_large() {
    each_transport("sublimit", |ep| {
        let (_publisher, mut sub) = pub_sub_pair(ep);
        let huge = vec![b'x'; 70_000];
        assert!(matches!(sub.subscribe(&huge), Err(Error::TooLarge { .. })));
        sub.subscribe(b"ok").unwrap();
    });
}

#[test]
fn multipart_messages_round_trip_frame_for_frame() {
    each_transport("multipart", |ep| {
        let mut push = Pusher::bind(ep).unwrap();
        let to = connect_to!(push, ep);
        let mut pull = Puller::connect(&to).unwrap();
        let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let messages: [&[&[u8]]; 4] = [
            &[b"one"],
            &[b"", b""],
            &[b"header", b"", b"1234567", &big],
            &[&big, b"x"],
        ];
        for m in messages {
            push.send_multipart(m).unwrap();
        }
        for m in messages {
            let got = pull.recv_multipart_timeout(T).unwrap();
            let want: Vec<Vec<u8>> = m.iter().map(|f| f.to_vec()).collect();
            assert_eq!(got.frames(), &want[..]);
        }
        // `recv_bytes` is the last frame.
        push.send_multipart(&[b"topic", b"last"]).unwrap();
        assert_eq!(pull.recv_bytes_timeout(T).unwrap(), b"last");
    });
}

#[test]
fn req_rep_alternate_strictly_on_every_transport() {
    each_transport("reqrep", |ep| {
        let mut rep = Replier::bind(ep).unwrap();
        let to = connect_to!(rep, ep);
        let mut req = Requester::connect(&to).unwrap();
        // Nothing to receive before a request, nothing to reply to before one arrives.
        assert!(matches!(req.try_recv::<u32>(), Err(Error::State(_))));
        assert!(matches!(rep.send(&0u32), Err(Error::State(_))));
        assert!(matches!(rep.try_recv::<u32>(), Err(Error::WouldBlock)));

        req.send(&1u32).unwrap();
        // A second send before the reply is refused (ZeroMQ's rule), on every transport.
        assert!(matches!(req.send(&2u32), Err(Error::State(_))));
        assert_eq!(rep.recv_timeout::<u32>(T).unwrap(), 1);
        // A REP replies before it receives again, and replies once.
        assert!(matches!(rep.try_recv::<u32>(), Err(Error::State(_))));
        rep.send(&10u32).unwrap();
        assert!(matches!(rep.send(&11u32), Err(Error::State(_))));
        assert_eq!(req.recv_timeout::<u32>(T).unwrap(), 10);
        assert!(matches!(req.try_recv::<u32>(), Err(Error::State(_))));

        // `abandon` allows the next send; the abandoned request's reply is never delivered.
        req.send(&3u32).unwrap();
        req.abandon();
        req.send(&4u32).unwrap();
        loop {
            let q: u32 = rep.recv_timeout(T).unwrap();
            rep.send(&(q * 10)).unwrap();
            if q == 4 {
                break;
            }
            assert_eq!(q, 3);
        }
        assert_eq!(req.recv_timeout::<u32>(T).unwrap(), 40);

        // And `request` is send + receive.
        let server = thread::spawn(move || {
            for _ in 0..20 {
                let p: Pose = rep.recv_timeout(T).unwrap();
                rep.send(&Pose {
                    seq: p.seq * 2,
                    ..p
                })
                .unwrap();
            }
        });
        for i in 0..20 {
            let got: Pose = req.request(&pose(i), T).unwrap();
            assert_eq!(
                got,
                Pose {
                    seq: 2 * i,
                    ..pose(i)
                }
            );
        }
        server.join().unwrap();
    });
}

#[test]
fn push_pull_delivers_in_order_without_loss() {
    each_transport("pushpull", |ep| {
        const N: u64 = 5000;
        let mut push = Pusher::bind(ep).unwrap();
        let to = connect_to!(push, ep);
        let mut pull = Puller::connect(&to).unwrap();
        // The pusher blocks when the queue is full: it runs beside the puller.
        let pusher = thread::spawn(move || {
            for i in 0..N {
                push.send(&pose(i)).unwrap();
            }
            push
        });
        for i in 0..N {
            assert_eq!(pull.recv_timeout::<Pose>(T).unwrap(), pose(i));
        }
        let _push = pusher.join().unwrap();
        assert!(matches!(pull.try_recv::<Pose>(), Err(Error::WouldBlock)));
    });
}

#[test]
fn empty_receives_time_out_or_would_block() {
    each_transport("empty", |ep| {
        let mut pull = Puller::bind(ep).unwrap();
        let to = connect_to!(pull, ep);
        let _push = Pusher::connect(&to).unwrap();
        assert!(matches!(pull.try_recv::<u8>(), Err(Error::WouldBlock)));
        assert!(matches!(pull.try_recv_bytes(), Err(Error::WouldBlock)));
        assert!(matches!(pull.try_recv_multipart(), Err(Error::WouldBlock)));
        let short = Duration::from_millis(10);
        assert!(matches!(
            pull.recv_timeout::<u8>(short),
            Err(Error::Timeout)
        ));
        assert!(matches!(
            pull.recv_bytes_timeout(short),
            Err(Error::Timeout)
        ));
        assert!(matches!(
            pull.recv_multipart_timeout(short),
            Err(Error::Timeout)
        ));
    });
}

#[test]
fn an_empty_subscriber_times_out_or_would_block() {
    each_transport("empty-sub", |ep| {
        let (_publisher, mut sub) = pub_sub_pair(ep);
        sub.subscribe(b"").unwrap();
        assert!(matches!(sub.try_recv::<u8>(), Err(Error::WouldBlock)));
        let short = Duration::from_millis(10);
        assert!(matches!(sub.recv_timeout::<u8>(short), Err(Error::Timeout)));
    });
}

#[test]
fn a_message_of_the_wrong_type_is_a_decode_error() {
    each_transport("typed", |ep| {
        let mut push = Pusher::bind(ep).unwrap();
        let to = connect_to!(push, ep);
        let mut pull = Puller::connect(&to).unwrap();
        // Not a valid postcard `u32` (an over-long varint), then a valid one.
        push.send_bytes(&[0xFF; 6]).unwrap();
        push.send(&7u32).unwrap();
        assert!(matches!(pull.recv_timeout::<u32>(T), Err(Error::Decode(_))));
        assert_eq!(pull.recv_timeout::<u32>(T).unwrap(), 7);
        // Encoded once, decoded field for field.
        push.send(&pose(3)).unwrap();
        assert_eq!(pull.recv_timeout::<Pose>(T).unwrap(), pose(3));
    });
}

/// The one named difference: a shared-memory socket's messages must fit its slots, so an
/// oversized send is refused at once with `Error::TooLarge`; tcp/ipc have no sender-side limit
/// (the receiver's `Limits` close a connection that sends more).
#[test]
fn a_message_larger_than_a_slot_is_too_large_on_shm() {
    let ep = &endpoints("toolarge")[0];
    let mut push = Pusher::bind(ep).unwrap();
    let mut pull = Puller::connect(ep).unwrap();
    let limit = push.as_shm().unwrap().max_message_size();
    let err = push.send_bytes(&vec![0u8; limit + 1]).unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    // Nothing was sent, and the socket goes on.
    assert!(matches!(pull.try_recv_bytes(), Err(Error::WouldBlock)));
    push.send_bytes(&vec![1u8; limit]).unwrap();
    assert_eq!(pull.recv_bytes_timeout(T).unwrap().len(), limit);
}
