//! Every shm pattern within one process (threads), plus options, loans, the poller and the
//! error cases: the quick checks before the multi-process tests.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use ringwire::shm::{
    FullPolicy, Publisher, Puller, Pusher, Replier, Requester, ShmOptions, Subscriber, WaitMode,
};
use ringwire::{Error, Poller, ProtocolError};
use ringwire_platform::SegmentError;
use shm_common::unique;

/// How long a "woken by the peer" test waits before it calls the wake lost: far longer than a
/// wake takes on a loaded machine, far shorter than a hang (the tests check the outcome, not
/// the time).
const WAKE_BOUND: Duration = Duration::from_secs(10);

fn ep(tag: &str) -> String {
    format!("shm://{}", unique(tag))
}

#[test]
fn req_rep_state_rules() {
    let ep = ep("rr-state");
    let mut rep = Replier::bind(&ep).unwrap();
    assert!(!rep.peer_alive());
    let mut req = Requester::connect(&ep).unwrap();
    assert!(req.peer_alive() && rep.peer_alive());
    assert!(matches!(req.try_recv::<u8>(), Err(Error::State(_))));
    assert!(matches!(rep.send(&1u8), Err(Error::State(_))));
    assert!(matches!(rep.try_recv::<u8>(), Err(Error::WouldBlock)));
    // A second requester on the same endpoint gets a client channel of its own.
    drop(Requester::connect(&ep).unwrap());
    // A request whose reply comes too late must be abandoned before the next send (as over
    // tcp/ipc); the late reply is then not mistaken for the next one's.
    req.send(&1u32).unwrap();
    assert!(matches!(
        req.recv_timeout::<u32>(Duration::from_millis(5)),
        Err(Error::Timeout)
    ));
    assert!(matches!(req.send(&2u32), Err(Error::State(_))));
    req.abandon();
    req.send(&2u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 1);
    rep.send(&100u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 2);
    rep.send(&200u32).unwrap();
    assert_eq!(req.recv::<u32>().unwrap(), 200);
    // An abandoned request's reply is dropped; there is nothing to receive.
    req.send(&3u32).unwrap();
    req.abandon();
    assert!(matches!(req.try_recv::<u32>(), Err(Error::State(_))));
    assert_eq!(rep.recv::<u32>().unwrap(), 3);
    rep.send(&300u32).unwrap();
    assert_eq!(
        req.request::<_, u32>(&4u32, Duration::from_millis(1))
            .unwrap_err()
            .to_string(),
        "timed out"
    );
    assert_eq!(rep.recv::<u32>().unwrap(), 4);
    rep.send(&400u32).unwrap();
    // `request` abandoned the request that timed out (as over tcp/ipc): its late reply is
    // dropped and the next request's reply is the one delivered.
    assert!(matches!(req.try_recv::<u32>(), Err(Error::State(_))));
    req.send(&5u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 5);
    rep.send(&500u32).unwrap();
    assert_eq!(req.recv::<u32>().unwrap(), 500);
}

#[test]
fn push_pull_spreads_work_and_blocks_or_fails_when_full() {
    let ep = ep("pp");
    let opts = ShmOptions::new().slot_count(4).full(FullPolicy::Error);
    let mut push = Pusher::builder().options(opts).bind(&ep).unwrap();
    let mut a = Puller::connect(&ep).unwrap();
    let mut b = Puller::connect(&ep).unwrap();
    for i in 0..4u32 {
        push.send(&i).unwrap();
    }
    assert!(matches!(push.send(&9u32), Err(Error::WouldBlock)));
    let mut got = vec![
        a.try_recv::<u32>().unwrap(),
        b.try_recv::<u32>().unwrap(),
        a.try_recv::<u32>().unwrap(),
        b.try_recv::<u32>().unwrap(),
    ];
    got.sort();
    assert_eq!(got, vec![0, 1, 2, 3]);
    assert!(matches!(a.try_recv::<u32>(), Err(Error::WouldBlock)));
}

#[test]
fn blocked_pusher_resumes_when_a_puller_frees_a_slot() {
    let ep = ep("pp-block");
    // The liveness re-check is far away, so only the puller's wake can end the wait; a lost
    // wake fails the test with `Timeout` after WAKE_BOUND instead of hanging it.
    let opts = ShmOptions::new()
        .slot_count(2)
        .wait(WaitMode::Blocking)
        .full(FullPolicy::BlockFor(WAKE_BOUND))
        .liveness_interval(Duration::from_secs(60));
    let mut push = Pusher::builder().options(opts.clone()).bind(&ep).unwrap();
    push.send(&1u8).unwrap();
    push.send(&2u8).unwrap();
    let mut pull = Puller::builder().options(opts).connect(&ep).unwrap();
    let t = std::thread::spawn(move || {
        // Blocks (full) until the puller takes one: woken by the puller, not by a timeout.
        let sent = push.send(&3u8);
        assert!(sent.is_ok(), "the blocked pusher was never woken: {sent:?}");
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut got = vec![pull.recv::<u8>().unwrap()];
    t.join().unwrap();
    got.push(pull.recv::<u8>().unwrap());
    got.push(pull.recv::<u8>().unwrap());
    assert_eq!(got, vec![1, 2, 3]);
    let full = ShmOptions::new().full(FullPolicy::BlockFor(Duration::from_millis(5)));
    let ep2 = format!("{ep}-2");
    let mut p2 = Pusher::builder()
        .options(full.slot_count(1))
        .bind(&ep2)
        .unwrap();
    // One slot is rounded up to two.
    p2.send(&1u8).unwrap();
    p2.send(&2u8).unwrap();
    let r = p2.send(&2u8);
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
}

#[test]
fn zero_copy_loans_and_in_place_receive() {
    let ep = ep("loan");
    let image = 640 * 480;
    let opts = ShmOptions::new().slot_size(image + 64).slot_count(4);
    let mut push = Pusher::builder().options(opts.clone()).bind(&ep).unwrap();
    let mut pull = Puller::connect(&ep).unwrap();
    let mut loan = push.loan().unwrap();
    assert!(loan.len() >= image);
    for (i, px) in loan[..image].iter_mut().enumerate() {
        *px = (i % 251) as u8;
    }
    loan.commit(image).unwrap();
    // Dropping a loan queues nothing.
    drop(push.loan().unwrap());
    let sum = pull
        .recv_with_timeout(Duration::from_secs(5), |m| {
            assert_eq!(m.len(), 1);
            let px = m.payload();
            assert_eq!(px.len(), image);
            px.iter().enumerate().all(|(i, &p)| p == (i % 251) as u8)
        })
        .unwrap();
    assert!(sum);
    assert!(matches!(pull.try_recv_bytes(), Err(Error::WouldBlock)));

    let ep = format!("{ep}-pub");
    let mut publisher = Publisher::builder().options(opts).bind(&ep).unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    assert!(
        publisher
            .loan_with(|slot| {
                slot.write_at(0, b"abc");
                Some(3)
            })
            .unwrap()
    );
    assert!(!publisher.loan_with(|_| None).unwrap());
    assert_eq!(sub.try_recv_bytes().unwrap(), b"abc");
}

#[test]
fn slow_subscriber_counts_exactly_what_it_lost() {
    let ep = ep("lag");
    let mut publisher = Publisher::builder().slot_count(8).bind(&ep).unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    for i in 0..20u32 {
        publisher.send(&i).unwrap();
    }
    let mut got = Vec::new();
    while let Ok(v) = sub.try_recv::<u32>() {
        got.push(v);
    }
    assert_eq!(got.len() as u64 + sub.lost(), 20);
    assert_eq!(got, (20 - got.len() as u32..20).collect::<Vec<_>>());
    assert_eq!(sub.lost(), 20 - got.len() as u64);
}

#[test]
fn late_joiners_get_history_and_second_publisher_is_refused() {
    let ep = ep("hist");
    let mut publisher = Publisher::builder().history(3).bind(&ep).unwrap();
    for i in 0..10u32 {
        publisher.send(&i).unwrap();
    }
    let mut late = Subscriber::builder().history(3).connect(&ep).unwrap();
    late.subscribe(b"").unwrap();
    assert_eq!(late.try_recv::<u32>().unwrap(), 7);
    assert_eq!(late.try_recv::<u32>().unwrap(), 8);
    assert_eq!(late.try_recv::<u32>().unwrap(), 9);
    let err = Publisher::bind(&ep).unwrap_err();
    assert!(matches!(err, Error::Segment(SegmentError::InUse { .. })));
    assert!(err.to_string().contains("one publisher per topic"));
    assert!(matches!(
        Publisher::connect(&ep),
        Err(Error::Segment(SegmentError::InUse { .. }))
    ));
}

#[test]
fn poller_reports_the_readable_sockets() {
    let (e1, e2) = (ep("poll1"), ep("poll2"));
    let mut p1 = Publisher::bind(&e1).unwrap();
    let mut push = Pusher::bind(&e2).unwrap();
    let mut s1 = Subscriber::connect(&e1).unwrap();
    s1.subscribe(b"").unwrap();
    let pull = Puller::connect(&e2).unwrap();
    assert!(
        Poller::poll(&[&s1, &pull], Some(Duration::from_millis(5)))
            .unwrap()
            .is_empty()
    );
    push.send(&1u8).unwrap();
    assert_eq!(Poller::poll(&[&s1, &pull], None).unwrap(), vec![1]);
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        p1.send(&5u8).unwrap();
        p1
    });
    let mut pull = pull;
    assert_eq!(pull.recv::<u8>().unwrap(), 1);
    // Sleeps until the publisher in the other thread wakes it.
    assert_eq!(Poller::poll(&[&s1, &pull], None).unwrap(), vec![0]);
    assert_eq!(s1.recv::<u8>().unwrap(), 5);
    drop(t.join().unwrap());
}

#[test]
fn wrong_endpoints_and_patterns_are_clear_errors() {
    assert!(matches!(
        Publisher::bind("tcp://127.0.0.1:5555"),
        Err(Error::Unsupported(_))
    ));
    assert!(matches!(
        Publisher::bind("shm://robot/pose"),
        Err(Error::Segment(SegmentError::Name(_)))
    ));
    let fast = ShmOptions::new().connect_timeout(Duration::from_millis(20));
    let missing = ep("missing");
    assert!(matches!(
        Subscriber::builder().options(fast).connect(&missing),
        Err(Error::Timeout)
    ));
    let e = ep("kind");
    let _push = Pusher::bind(&e).unwrap();
    let err = Subscriber::connect(&e).unwrap_err();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::Open { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("PUB/SUB"));
}

#[test]
fn bind_reclaims_nothing_alive_and_unlinks_on_drop() {
    let e = ep("drop");
    drop(Publisher::bind(&e).unwrap());
    // The name is gone, so binding again works and connecting finds the new one.
    let _p = Publisher::bind(&e).unwrap();
    let _s = Subscriber::connect(&e).unwrap();
    let kept = ep("keep");
    drop(
        Publisher::builder()
            .unlink_on_drop(false)
            .bind(&kept)
            .unwrap(),
    );
    // Our own (dead-but-not-really: same pid) segment remains; a subscriber can still attach.
    assert!(Subscriber::connect(&kept).is_ok());
    shm_common::unlink(&kept);
}

#[test]
fn connect_adopts_the_creators_geometry() {
    let e = ep("geom");
    let small = ShmOptions::new().slot_size(256).slot_count(4);
    let mut rep = Replier::builder().options(small.clone()).bind(&e).unwrap();
    // Default options guess 64 slots of 4 KiB: the header tells the truth.
    let mut req = Requester::connect(&e).unwrap();
    req.send(&5u8).unwrap();
    assert_eq!(rep.recv::<u8>().unwrap(), 5);
    rep.send(&6u8).unwrap();
    assert_eq!(req.recv::<u8>().unwrap(), 6);
    let big = ep("geom-big");
    let _p = Publisher::builder()
        .options(small.slot_size(1 << 16))
        .bind(&big)
        .unwrap();
    assert!(Subscriber::connect(&big).is_ok());
}

#[test]
fn loans_wait_for_room_per_the_full_policy() {
    let e = ep("loan-full");
    let opts = ShmOptions::new().slot_count(2).full(FullPolicy::Error);
    let mut push = Pusher::builder().options(opts).bind(&e).unwrap();
    push.loan().unwrap().commit(1).unwrap();
    push.loan().unwrap().commit(1).unwrap();
    assert!(matches!(push.loan(), Err(Error::WouldBlock)));
    let e2 = ep("loan-block");
    let opts = ShmOptions::new()
        .slot_count(2)
        .full(FullPolicy::BlockFor(WAKE_BOUND))
        .liveness_interval(Duration::from_secs(60));
    let mut push = Pusher::builder().options(opts).bind(&e2).unwrap();
    let mut pull = Puller::connect(&e2).unwrap();
    for i in 0..2u8 {
        let mut l = push.loan().unwrap();
        l[0] = i;
        l.commit(1).unwrap();
    }
    let t = std::thread::spawn(move || {
        // Full: blocks until the puller takes one and wakes it (a lost wake ends in Timeout
        // after WAKE_BOUND and fails the test).
        let loan = push.loan();
        assert!(
            loan.is_ok(),
            "the blocked loan was never woken: {:?}",
            loan.err()
        );
        let mut l = loan.unwrap();
        l[0] = 2;
        l.commit(1).unwrap();
    });
    // A sustained full queue (far longer than a bounded retry of ~1000 yields lasts): the
    // blocked loan must keep waiting rather than give up with `WouldBlock`.
    std::thread::sleep(Duration::from_millis(300));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(pull.recv_bytes().unwrap()[0]);
    }
    t.join().unwrap();
    assert_eq!(got, vec![0, 1, 2]);

    // `BlockFor(d)` on a queue that stays full ends in `Timeout`, not `WouldBlock`.
    let e3 = ep("loan-block-for");
    let opts = ShmOptions::new()
        .slot_count(2)
        .full(FullPolicy::BlockFor(Duration::from_millis(100)));
    let mut push = Pusher::builder().options(opts).bind(&e3).unwrap();
    let _pull = Puller::connect(&e3).unwrap();
    push.loan().unwrap().commit(1).unwrap();
    push.loan().unwrap().commit(1).unwrap();
    assert!(matches!(push.loan(), Err(Error::Timeout)));
    assert!(matches!(push.loan_with(|_| Some(0)), Err(Error::Timeout)));
}

#[test]
fn every_sender_has_a_zero_copy_loan() {
    let e = ep("loan-rr");
    let mut rep = Replier::bind(&e).unwrap();
    let mut req = Requester::connect(&e).unwrap();
    // Every loan_with answers the same: Ok(true) sent, Ok(false) withdrawn by the fill.
    assert!(!req.loan_with(|_| None).unwrap(), "a withdrawn request");
    assert!(matches!(rep.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(
        req.loan_with(|buf| {
            buf[..2].copy_from_slice(b"hi");
            Some(2)
        })
        .unwrap()
    );
    assert_eq!(rep.recv_bytes().unwrap(), b"hi");
    // A withdrawn reply is still owed: the next one goes out.
    assert!(!rep.loan_with(|_| None).unwrap(), "a withdrawn reply");
    assert!(matches!(req.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(
        rep.loan_with(|buf| {
            buf[..3].copy_from_slice(b"hey");
            Some(3)
        })
        .unwrap()
    );
    assert_eq!(req.recv_bytes().unwrap(), b"hey");

    let e = ep("loan-push");
    let mut push = Pusher::bind(&e).unwrap();
    let mut pull = Puller::connect(&e).unwrap();
    assert!(!push.loan_with(|_| None).unwrap());
    assert!(
        push.loan_with(|buf| {
            buf[0] = 42;
            Some(1)
        })
        .unwrap()
    );
    assert_eq!(pull.try_recv_bytes().unwrap(), vec![42]);
    assert!(matches!(pull.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(format!("{push:?} {pull:?} {req:?} {rep:?}").contains("Pusher"));
}

#[test]
fn image_sized_request_and_reply_round_trip_through_loans() {
    let e = ep("loan-image");
    let image = 64 * 1024;
    let opts = ShmOptions::new().slot_size(image + 64).slot_count(2);
    let mut rep = Replier::builder().options(opts.clone()).bind(&e).unwrap();
    let mut req = Requester::builder().options(opts).connect(&e).unwrap();
    for round in 0..3u8 {
        // The fill closure may consume what it captures (FnOnce) and mutate state.
        let frame: Vec<u8> = (0..image).map(|i| (i as u8).wrapping_add(round)).collect();
        let mut filled = 0;
        req.loan_with(|slot| {
            slot[..image].copy_from_slice(&frame);
            filled += 1;
            drop(frame);
            Some(image)
        })
        .unwrap();
        assert_eq!(filled, 1);
        // The replier reads the request in place and answers with a checksum-stamped image.
        let sum = rep
            .recv_with(|m| {
                let p = m.payload();
                assert_eq!(p.len(), image);
                p.iter().map(|&b| u64::from(b)).sum::<u64>()
            })
            .unwrap();
        rep.loan_with(move |slot| {
            slot[..8].copy_from_slice(&sum.to_le_bytes());
            slot[8..image].fill(round);
            Some(image)
        })
        .unwrap();
        let (got_sum, tail_ok) = req
            .recv_with(|m| {
                let p = m.payload();
                let sum = u64::from_le_bytes(p[..8].try_into().unwrap());
                (sum, p.len() == image && p[8..].iter().all(|&b| b == round))
            })
            .unwrap();
        let want: u64 = (0..image)
            .map(|i| u64::from((i as u8).wrapping_add(round)))
            .sum();
        assert_eq!(got_sum, want);
        assert!(tail_ok);
    }
}

#[test]
fn slot_count_defaults_per_pattern() {
    // REQ/REP: 4 slots per direction unless set. Abandoned requests pile up in the request
    // ring while the replier does not read: the fifth finds it full.
    let e = ep("reqrep-default-slots");
    let _rep = Replier::bind(&e).unwrap();
    let opts = ShmOptions::new().full(FullPolicy::Error);
    let mut req = Requester::builder().options(opts).connect(&e).unwrap();
    for i in 0..4u8 {
        req.send_bytes(&[i]).unwrap();
        req.abandon();
    }
    assert!(matches!(req.send_bytes(&[4]), Err(Error::WouldBlock)));
    // An explicit count wins.
    let e = ep("reqrep-set-slots");
    let _rep = Replier::builder().slot_count(8).bind(&e).unwrap();
    let opts = ShmOptions::new().full(FullPolicy::Error);
    let mut req = Requester::builder().options(opts).connect(&e).unwrap();
    for i in 0..8u8 {
        req.send_bytes(&[i]).unwrap();
        req.abandon();
    }
    assert!(matches!(req.send_bytes(&[8]), Err(Error::WouldBlock)));
    // PUSH/PULL: 64.
    let e = ep("pushpull-default-slots");
    let mut push = Pusher::builder().full(FullPolicy::Error).bind(&e).unwrap();
    for i in 0..64u8 {
        push.send_bytes(&[i]).unwrap();
    }
    assert!(matches!(push.send_bytes(&[64]), Err(Error::WouldBlock)));
}

/// `slot_size` is the one-frame message a user can send on every pattern: the library adds its
/// frame header (and REQ/REP's request-id frame) on top, and `max_message_size` says so.
#[test]
fn slot_size_is_the_payload_a_user_can_send() {
    const N: usize = 1000;
    let opts = ShmOptions::new().slot_size(N).slot_count(4);
    let exact = vec![7u8; N];
    let over = vec![7u8; N + 1];
    let too_large = |r: ringwire::Result<()>| matches!(r, Err(Error::TooLarge { .. }));

    let e = ep("size-ps");
    let mut publisher = Publisher::builder().options(opts.clone()).bind(&e).unwrap();
    let mut sub = Subscriber::connect(&e).unwrap();
    sub.subscribe(b"").unwrap();
    assert_eq!(publisher.max_message_size(), N);
    publisher.send_bytes(&exact).unwrap();
    assert!(too_large(publisher.send_bytes(&over)));
    assert_eq!(sub.recv_bytes().unwrap(), exact);

    let e = ep("size-pp");
    let mut push = Pusher::builder().options(opts.clone()).bind(&e).unwrap();
    let mut pull = Puller::connect(&e).unwrap();
    assert_eq!(push.max_message_size(), N);
    push.send_bytes(&exact).unwrap();
    assert_eq!(pull.recv_bytes().unwrap(), exact);
    assert!(too_large(push.send_bytes(&over)));

    let e = ep("size-rr");
    let mut rep = Replier::builder().options(opts).bind(&e).unwrap();
    let mut req = Requester::connect(&e).unwrap();
    assert_eq!(req.max_message_size(), N);
    assert_eq!(rep.max_message_size(), N);
    assert!(too_large(req.send_bytes(&over)));
    req.send_bytes(&exact).unwrap();
    assert_eq!(rep.recv_bytes().unwrap(), exact);
    assert!(too_large(rep.send_bytes(&over)));
    rep.send_bytes(&exact).unwrap();
    assert_eq!(req.recv_bytes().unwrap(), exact);
}
