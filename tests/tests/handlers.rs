//! Handlers (`ringwire::handler`): `Replier::serve` and `Subscriber::on` dispatch, on a thread
//! the service owns and in the caller's loop, with the error policy, panics and stopping, run
//! once per transport (shm and tcp) in the conformance style.
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ringwire::codec::{Codec, Postcard};
use ringwire::handler::{HandlerError, OnError, ServiceError};
use ringwire::{Error, Publisher, Replier, Requester, Subscriber};
use ringwire_tests::watchdog;

const T: Duration = Duration::from_secs(20);

fn endpoints(tag: &str) -> [String; 2] {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    [
        format!("shm://handlers-{tag}-{}-{n}", std::process::id()),
        "tcp://127.0.0.1:0".to_string(),
    ]
}

fn each_transport(tag: &str, behaviour: impl Fn(&str)) {
    let _watchdog = watchdog(120);
    for ep in endpoints(tag) {
        eprintln!("{tag}: {ep}");
        behaviour(&ep);
    }
}

/// A bound replier and the endpoint a requester connects to.
fn replier(ep: &str) -> (Replier, String) {
    let mut r = Replier::bind(ep).unwrap();
    let to = match r.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep.to_string(),
    };
    (r, to)
}

fn publisher(ep: &str) -> (Publisher, String) {
    let mut p = Publisher::bind(ep).unwrap();
    let to = match p.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep.to_string(),
    };
    (p, to)
}

/// A handler that doubles, fails on 13 and panics on 99.
fn doubler(n: u32) -> Result<u32, HandlerError> {
    match n {
        13 => Err(format!("unlucky {n}").into()),
        99 => panic!("handler asked to panic"),
        n => Ok(n * 2),
    }
}

fn serve_on_its_own_thread(ep: &str) {
    let (replier, to) = replier(ep);
    let service = replier.serve(doubler).spawn();
    let mut requester = Requester::connect(&to).unwrap();
    let a: u32 = requester.request(&21u32, T).unwrap();
    assert_eq!(a, 42);
    // A failing handler: the requester gets the empty reply (a decode error for a u32), the
    // service counts it and goes on (OnError::Continue).
    assert!(matches!(
        requester.request::<u32, u32>(&13, T),
        Err(Error::Decode(_))
    ));
    let a: u32 = requester.request(&5u32, T).unwrap();
    assert_eq!(a, 10);
    let stats = service.stats();
    assert_eq!((stats.handled, stats.failed, stats.panicked), (2, 1, 0));
    service.stop();
    service.join().expect("a stopped service ends with Ok");
}

#[test]
fn serve_answers_counts_failures_and_stops_cleanly() {
    each_transport("serve", serve_on_its_own_thread);
}

fn serve_stops_on_error_under_the_stop_policy(ep: &str) {
    let (replier, to) = replier(ep);
    let service = replier.serve(doubler).on_error(OnError::Stop).spawn();
    let mut requester = Requester::connect(&to).unwrap();
    assert_eq!(requester.request::<u32, u32>(&1, T).unwrap(), 2);
    assert!(matches!(
        requester.request::<u32, u32>(&13, T),
        Err(Error::Decode(_))
    ));
    match service.join() {
        Err(ServiceError::Handler { what, error }) => {
            assert_eq!(what, "request");
            assert_eq!(error.to_string(), "unlucky 13");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn serve_stops_on_error_under_the_stop_policy_on_every_transport() {
    each_transport("serve-stop", serve_stops_on_error_under_the_stop_policy);
}

fn a_panicking_handler_ends_the_service_with_an_error(ep: &str) {
    let (replier, to) = replier(ep);
    let service = replier.serve(doubler).spawn();
    let mut requester = Requester::connect(&to).unwrap();
    // The requester is answered (empty) rather than left waiting, then the service ends
    // even under OnError::Continue.
    assert!(matches!(
        requester.request::<u32, u32>(&99, T),
        Err(Error::Decode(_))
    ));
    match service.join() {
        Err(ServiceError::Panicked { message, .. }) => {
            assert_eq!(message, "handler asked to panic")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_panicking_handler_ends_the_service_with_an_error_on_every_transport() {
    each_transport(
        "serve-panic",
        a_panicking_handler_ends_the_service_with_an_error,
    );
}

fn serve_in_the_callers_loop(ep: &str) {
    let (replier, to) = replier(ep);
    let mut responder = replier.serve_bytes(|request| {
        let mut reply = request.payload().unwrap_or_default().to_vec();
        reply.reverse();
        Ok(reply)
    });
    assert!(!responder.poll_once(Duration::ZERO).unwrap(), "nothing yet");
    let client = std::thread::spawn(move || {
        let mut requester = Requester::connect(&to).unwrap();
        requester.send_bytes(b"abc").unwrap();
        requester.recv_bytes_timeout(T).unwrap()
    });
    while !responder.poll_once(Duration::from_millis(50)).unwrap() {}
    assert_eq!(client.join().unwrap(), b"cba");
    assert_eq!(responder.stats().handled, 1);

    // run_until returns once the flag is set, within a slice.
    let stop = Arc::new(AtomicBool::new(false));
    let setter = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            stop.store(true, Ordering::Release);
        })
    };
    let mut responder = responder.slice(Duration::from_millis(10));
    responder.run_until(&stop).unwrap();
    setter.join().unwrap();
    // The socket is usable again afterwards.
    let _replier: Replier = responder.into_socket();
}

#[test]
fn serve_in_the_callers_loop_on_every_transport() {
    each_transport("serve-loop", serve_in_the_callers_loop);
}

#[derive(Debug, PartialEq)]
enum Got {
    Pose(u32),
    Arm(u32),
    Cmd(String),
    Sync,
}

fn dispatch_to_every_matching_topic(ep: &str) {
    let (mut publisher, to) = publisher(ep);
    let (tx, rx) = mpsc::channel();
    let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx);
    let mut subscriber = Subscriber::connect(&to).unwrap();
    // Subscribed by hand, no handler: counted as unmatched.
    subscriber.subscribe(b"other").unwrap();
    let service = subscriber
        .on("pose", move |n: u32| Ok(t1.send(Got::Pose(n))?))
        .unwrap()
        .on("pose/arm", move |n: u32| Ok(t2.send(Got::Arm(n))?))
        .unwrap()
        .on("cmd", move |s: String| Ok(t3.send(Got::Cmd(s))?))
        .unwrap()
        .on_message("sync", move |_| Ok(t4.send(Got::Sync)?))
        .unwrap()
        .spawn();
    // Subscriptions reach a socket publisher asynchronously: publish until one is seen.
    loop {
        publisher.send_multipart(&[b"sync", b""]).unwrap();
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Got::Sync) => break,
            Ok(other) => panic!("{other:?}"),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    publisher.send_on("pose", &1u32).unwrap();
    publisher.send_on("pose/arm", &2u32).unwrap();
    publisher.send_on("unsubscribed", &3u32).unwrap();
    publisher.send_on("other", &4u32).unwrap();
    publisher.send_on("cmd", "go").unwrap();
    // Garbage under a typed topic: a failure, counted, and the service goes on.
    publisher.send_multipart(&[b"cmd", &[0xff, 0xff]]).unwrap();
    publisher.send_on("pose", &5u32).unwrap();
    publisher.send_multipart(&[b"sync", b"fence"]).unwrap();
    let mut got = Vec::new();
    loop {
        match rx.recv_timeout(T).unwrap() {
            Got::Sync if !got.is_empty() => break,
            Got::Sync => {} // a late copy of the join's sync
            other => got.push(other),
        }
    }
    // Every-match: "pose/arm" reaches both "pose" and "pose/arm", in registration order.
    assert_eq!(
        got,
        vec![
            Got::Pose(1),
            Got::Pose(2),
            Got::Arm(2),
            Got::Cmd("go".into()),
            Got::Pose(5)
        ]
    );
    let stats = service.stats();
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(stats.unmatched, 1, "{stats:?}");
    drop(service); // stops and joins
}

#[test]
fn dispatch_reaches_every_matching_topic_handler() {
    each_transport("dispatch", dispatch_to_every_matching_topic);
}

fn dispatch_in_the_callers_loop_and_stop_on_error(ep: &str) {
    let (mut publisher, to) = publisher(ep);
    let mut dispatcher = Subscriber::connect(&to)
        .unwrap()
        .on("tick", |n: u32| {
            if n == 3 {
                Err("tick 3 is refused".into())
            } else {
                Ok(())
            }
        })
        .unwrap()
        .on_error(OnError::Stop);
    assert_eq!(dispatcher.topics().collect::<Vec<_>>(), ["tick"]);
    // Join: publish tick 1 until one is handled.
    loop {
        publisher.send_on("tick", &1u32).unwrap();
        if dispatcher.poll_once(Duration::from_millis(50)).unwrap() {
            break;
        }
    }
    publisher.send_on("tick", &3u32).unwrap();
    let err = loop {
        match dispatcher.poll_once(T) {
            Ok(true) => continue, // late copies of tick 1
            Ok(false) => panic!("tick 3 never came"),
            Err(e) => break e,
        }
    };
    match err {
        ServiceError::Handler { what, error } => {
            assert_eq!(what, "topic \"tick\"");
            assert_eq!(error.to_string(), "tick 3 is refused");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dispatch_in_the_callers_loop_stops_on_error_under_the_stop_policy() {
    each_transport(
        "dispatch-loop",
        dispatch_in_the_callers_loop_and_stop_on_error,
    );
}

#[test]
fn serve_with_json_answers_a_dict() {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Sum {
        a: i64,
        b: i64,
    }
    each_transport("serve-json", |ep| {
        let (replier, to) = replier(ep);
        let service = replier
            .serve_with(ringwire::codec::Json, |q: Sum| Ok(q.a + q.b))
            .spawn();
        let mut requester = Requester::connect(&to).unwrap();
        requester.send_bytes(br#"{"a":40,"b":2}"#).unwrap();
        assert_eq!(requester.recv_bytes_timeout(T).unwrap(), b"42");
        drop(service);
    });
}

/// A ROUTER serves REQ and DEALER peers (DEALERs with and without the empty delimiter), each
/// answer going back with its request's envelope (tcp and ipc: ROUTER is a socket type).
#[test]
fn a_router_serves_req_and_dealer_peers() {
    let _watchdog = watchdog(120);
    for ep in ringwire_tests::transports("router-serve") {
        let router = ringwire::zmtp::Router::bind(&ep).unwrap();
        let to = router.bound_endpoints()[0].to_string();
        let service = router.serve(doubler).spawn();

        let mut req = Requester::connect(&to).unwrap();
        assert_eq!(req.request::<u32, u32>(&4, T).unwrap(), 8);

        let mut dealer = ringwire::zmtp::Dealer::connect(&to).unwrap();
        let request = Postcard::encode(&7u32).unwrap();
        dealer.send_multipart(&[b"", &request]).unwrap();
        let reply = dealer.recv_multipart_timeout(T).unwrap();
        assert_eq!(reply.frames().len(), 2, "{reply:?}");
        assert_eq!(reply.frames()[0], b"");
        assert_eq!(Postcard::decode::<u32>(&reply.frames()[1]).unwrap(), 14);

        dealer.send_multipart(&[&request]).unwrap();
        let reply = dealer.recv_multipart_timeout(T).unwrap();
        assert_eq!(reply.frames().len(), 1, "{reply:?}");
        assert_eq!(Postcard::decode::<u32>(&reply.frames()[0]).unwrap(), 14);

        // A failing handler still answers the REQ (empty), and the service goes on.
        assert!(matches!(
            req.request::<u32, u32>(&13, T),
            Err(Error::Decode(_))
        ));
        assert_eq!(req.request::<u32, u32>(&1, T).unwrap(), 2);
        let stats = service.stats();
        assert_eq!((stats.handled, stats.failed), (4, 1), "{stats:?}");
        service.stop();
        service.join().unwrap();
    }
}

/// A reply larger than the transport allows fails that request (counted, the requester gets
/// the empty reply), not the service.
fn a_reply_too_large_fails_the_request_not_the_service(ep: &str) {
    let mut r = Replier::builder().max_message_size(1024).bind(ep).unwrap();
    let to = match r.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep.to_string(),
    };
    let service = r
        .serve_bytes(|request| Ok(vec![7; usize::from(request.payload().unwrap()[0]) * 64]))
        .spawn();
    let mut requester = Requester::builder()
        .max_message_size(64 * 1024)
        .connect(&to)
        .unwrap();
    requester.send_bytes(&[1]).unwrap();
    assert_eq!(requester.recv_bytes_timeout(T).unwrap(), vec![7; 64]);
    requester.send_bytes(&[200]).unwrap();
    assert_eq!(requester.recv_bytes_timeout(T).unwrap(), b"");
    requester.send_bytes(&[2]).unwrap();
    assert_eq!(requester.recv_bytes_timeout(T).unwrap(), vec![7; 128]);
    let stats = service.stats();
    assert_eq!((stats.handled, stats.failed), (2, 1), "{stats:?}");
    service.stop();
    service.join().unwrap();
}

#[test]
fn a_reply_too_large_fails_the_request_not_the_service_on_shm() {
    let _watchdog = watchdog(120);
    a_reply_too_large_fails_the_request_not_the_service(&endpoints("too-large")[0]);
}

/// Dropping a spawned service's handle stops it and drops its socket: the endpoint can be
/// bound again (the shm segment and the tcp listener are gone).
fn dropping_the_handle_frees_the_socket(ep: &str) {
    let (replier, to) = replier(ep);
    let handle = replier
        .serve(doubler)
        .slice(Duration::from_millis(10))
        .spawn();
    let mut requester = Requester::connect(&to).unwrap();
    assert_eq!(requester.request::<u32, u32>(&2, T).unwrap(), 4);
    drop(requester);
    drop(handle);
    let rebind = if ep.starts_with("tcp://") { &to } else { ep };
    let again = Replier::bind(rebind);
    assert!(again.is_ok(), "{rebind}: {again:?}");
}

#[test]
fn dropping_the_handle_stops_the_service_and_frees_the_socket() {
    each_transport("drop", dropping_the_handle_frees_the_socket);
}

/// A logger that keeps `ringwire::handler` records, to show failures are reported.
struct Capture(std::sync::Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "ringwire::handler"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut records = self.0.lock().unwrap_or_else(|e| e.into_inner());
            records.push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));

#[test]
fn handler_failures_and_panics_are_logged() {
    let _watchdog = watchdog(120);
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
    let (replier, to) = replier(&endpoints("logged")[0]);
    let service = replier.serve(doubler).spawn();
    let mut requester = Requester::connect(&to).unwrap();
    let _ = requester.request::<u32, u32>(&13, T);
    let _ = requester.request::<u32, u32>(&99, T);
    assert!(matches!(service.join(), Err(ServiceError::Panicked { .. })));
    let records = CAPTURE.0.lock().unwrap().clone();
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Warn && m.contains("unlucky 13")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Error && m.contains("handler asked to panic")),
        "{records:?}"
    );
}

/// A requester that leaves and a new one that takes its place do not end the service: the
/// replier's `Disconnected` (it re-attached to the newcomer on shm) is a peer event, logged,
/// not a socket failure.
fn a_requester_leaving_does_not_end_the_service(ep: &str) {
    let (replier, to) = replier(ep);
    let service = replier.serve(doubler).spawn();
    for round in 0..3u32 {
        let mut requester = Requester::connect(&to).unwrap();
        assert_eq!(requester.request::<u32, u32>(&round, T).unwrap(), round * 2);
    }
    assert!(!service.is_finished());
    assert_eq!(service.stats().handled, 3);
    service.stop();
    service.join().unwrap();
}

#[test]
fn a_requester_leaving_does_not_end_the_service_on_every_transport() {
    each_transport("leaving", a_requester_leaving_does_not_end_the_service);
}

/// `kill -9` of a requester mid-stream, then a new requester process takes its place: the
/// shm replier re-attaches (its receive says `Disconnected` once) and the service answers the
/// newcomer instead of ending.
#[test]
fn a_killed_requester_is_replaced_and_the_service_goes_on() {
    use shm_common::{Peer, unique, unlink};
    let _watchdog = watchdog(120);
    let ep = format!("shm://{}", unique("serve-kill-req"));
    // The shm_peer `req` role's protocol: (x, bytes) -> (2x, bytes reversed).
    let service = Replier::bind(&ep)
        .unwrap()
        .serve(|(x, mut b): (u64, Vec<u8>)| {
            b.reverse();
            Ok((x * 2, b))
        })
        .spawn();
    let limit = Duration::from_secs(60);
    let mut victim = Peer::spawn(&["req", &ep, "1000000"], limit);
    assert_eq!(victim.line(), "ready");
    while service.stats().handled < 100 {
        std::thread::sleep(Duration::from_millis(1));
    }
    victim.kill();
    let mut next = Peer::spawn(&["req", &ep, "50"], limit);
    assert_eq!(next.line(), "ready");
    let out = next.finish();
    assert!(out.last().unwrap().starts_with("requests 50 "), "{out:?}");
    assert!(!service.is_finished(), "{:?}", service.join());
    service.stop();
    service.join().unwrap();
    unlink(&ep);
}
