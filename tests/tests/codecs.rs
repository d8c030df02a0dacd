//! The cross-language codecs (features `json` and `msgpack`): golden vectors that match what
//! Python's standard `json` module and `msgpack` produce for the same dict, and the `*_as`
//! socket methods over shm and tcp.
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::codec::{Codec, Json, MsgPack, Postcard};
use ringwire::{Error, Publisher, Puller, Pusher, Replier, Requester, Subscriber};
use ringwire_tests::watchdog;
use serde::{Deserialize, Serialize};

const T: Duration = Duration::from_secs(20);

/// A struct declared in the order a Python program writes its dict:
/// `{"sensor": "imu", "seq": 300, "value": -1.25, "ok": True, "tags": ["a", "b"],
///   "offset": -7, "note": None}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Reading {
    sensor: String,
    seq: u32,
    value: f64,
    ok: bool,
    tags: Vec<String>,
    offset: i32,
    note: Option<String>,
}

fn reading() -> Reading {
    Reading {
        sensor: "imu".into(),
        seq: 300,
        value: -1.25,
        ok: true,
        tags: vec!["a".into(), "b".into()],
        offset: -7,
        note: None,
    }
}

/// `json.dumps(d, separators=(',', ':'))` for the dict above.
const GOLDEN_JSON: &[u8] =
    br#"{"sensor":"imu","seq":300,"value":-1.25,"ok":true,"tags":["a","b"],"offset":-7,"note":null}"#;

/// `msgpack.packb(d)` (msgpack 1.1.0) for the dict above.
const GOLDEN_MSGPACK: &[u8] = &[
    0x87, // map of 7
    0xa6, b's', b'e', b'n', b's', b'o', b'r', 0xa3, b'i', b'm', b'u', //
    0xa3, b's', b'e', b'q', 0xcd, 0x01, 0x2c, // uint16 300
    0xa5, b'v', b'a', b'l', b'u', b'e', 0xcb, 0xbf, 0xf4, 0, 0, 0, 0, 0, 0, // float64 -1.25
    0xa2, b'o', b'k', 0xc3, // true
    0xa4, b't', b'a', b'g', b's', 0x92, 0xa1, b'a', 0xa1, b'b', // ["a", "b"]
    0xa6, b'o', b'f', b'f', b's', b'e', b't', 0xf9, // negative fixint -7
    0xa4, b'n', b'o', b't', b'e', 0xc0, // nil
];

#[test]
fn json_matches_python_json_dumps_compact() {
    assert_eq!(
        String::from_utf8(Json::encode(&reading()).unwrap()).unwrap(),
        std::str::from_utf8(GOLDEN_JSON).unwrap()
    );
    assert_eq!(Json::decode::<Reading>(GOLDEN_JSON).unwrap(), reading());
    // Python's default separators (", ", ": ") decode the same.
    let spaced = br#"{"sensor": "imu", "seq": 300, "value": -1.25, "ok": true, "tags": ["a", "b"], "offset": -7, "note": null}"#;
    assert_eq!(Json::decode::<Reading>(spaced).unwrap(), reading());
}

#[test]
fn msgpack_matches_python_msgpack_packb() {
    assert_eq!(MsgPack::encode(&reading()).unwrap(), GOLDEN_MSGPACK);
    assert_eq!(
        MsgPack::decode::<Reading>(GOLDEN_MSGPACK).unwrap(),
        reading()
    );
}

#[test]
fn a_dict_missing_a_field_is_a_decode_error() {
    assert!(matches!(
        Json::decode::<Reading>(br#"{"sensor":"imu"}"#),
        Err(Error::Decode(_))
    ));
    assert!(matches!(
        MsgPack::decode::<Reading>(&[0x81, 0xa1, b'x', 0x01]),
        Err(Error::Decode(_))
    ));
}

fn endpoints(tag: &str) -> [String; 2] {
    [
        format!("shm://codecs-{tag}-{}", std::process::id()),
        "tcp://127.0.0.1:0".to_string(),
    ]
}

fn connect_to(bound: Option<&mut ringwire::zmtp::Pub>, ep: &str) -> String {
    bound.map_or(ep.to_string(), |z| z.bound_endpoints()[0].to_string())
}

/// `send_on_as`/`recv_as` carry each codec's bytes as the payload frame, unchanged.
fn pub_sub_with_every_codec(ep: &str) {
    let mut publisher = Publisher::bind(ep).unwrap();
    let to = connect_to(publisher.as_zmtp(), ep);
    let mut sub = Subscriber::connect(&to).unwrap();
    sub.subscribe(b"reading").unwrap();
    // A socket subscriber joins late: publish until the first message arrives.
    loop {
        publisher
            .send_on_as::<Json, _>("reading", &reading())
            .unwrap();
        match sub.recv_multipart_timeout(Duration::from_millis(50)) {
            Ok(m) => {
                assert_eq!(m.frames()[1], GOLDEN_JSON);
                break;
            }
            Err(Error::Timeout) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    while sub.try_recv_bytes().is_ok() {}
    publisher
        .send_on_as::<MsgPack, _>("reading", &reading())
        .unwrap();
    let m = sub.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames()[1], GOLDEN_MSGPACK);
    publisher
        .send_on_as::<Json, _>("reading", &reading())
        .unwrap();
    assert_eq!(sub.recv_as_timeout::<Json, Reading>(T).unwrap(), reading());
    publisher
        .send_on_as::<Postcard, _>("reading", &reading())
        .unwrap();
    assert_eq!(
        sub.recv_as_timeout::<Postcard, Reading>(T).unwrap(),
        reading()
    );
    publisher.send_on("reading", &reading()).unwrap();
    assert_eq!(
        sub.recv_as_timeout::<Postcard, Reading>(T).unwrap(),
        reading()
    );
    // A JSON payload read as msgpack is an error, not a wrong value.
    publisher
        .send_on_as::<Json, _>("reading", &reading())
        .unwrap();
    assert!(matches!(
        sub.recv_as_timeout::<MsgPack, Reading>(T),
        Err(Error::Decode(_))
    ));
}

#[test]
fn pub_sub_with_every_codec_over_shm_and_tcp() {
    let _watchdog = watchdog(120);
    for ep in endpoints("pubsub") {
        eprintln!("{ep}");
        pub_sub_with_every_codec(&ep);
    }
}

fn req_rep_and_push_pull_with_msgpack(ep: &str, ep2: &str) {
    let mut replier = Replier::bind(ep).unwrap();
    let to = match replier.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep.to_string(),
    };
    let server = std::thread::spawn(move || {
        let mut r: Reading = replier.recv_as_timeout::<MsgPack, _>(T).unwrap();
        r.seq += 1;
        replier.send_as::<MsgPack, _>(&r).unwrap();
    });
    let mut requester = Requester::connect(&to).unwrap();
    let back: Reading = requester
        .request_as::<MsgPack, _, _>(&reading(), T)
        .unwrap();
    assert_eq!(back.seq, 301);
    server.join().unwrap();

    let mut puller = Puller::bind(ep2).unwrap();
    let to = match puller.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep2.to_string(),
    };
    let mut pusher = Pusher::connect(&to).unwrap();
    pusher.send_as::<Json, _>(&reading()).unwrap();
    assert_eq!(puller.recv_bytes_timeout(T).unwrap(), GOLDEN_JSON);
    pusher.send_as::<Json, _>(&reading()).unwrap();
    assert_eq!(
        puller.recv_as_timeout::<Json, Reading>(T).unwrap(),
        reading()
    );
}

#[test]
fn req_rep_and_push_pull_with_codecs_over_shm_and_tcp() {
    let _watchdog = watchdog(120);
    let pid = std::process::id();
    req_rep_and_push_pull_with_msgpack(
        &format!("shm://codecs-rr-{pid}"),
        &format!("shm://codecs-pp-{pid}"),
    );
    req_rep_and_push_pull_with_msgpack("tcp://127.0.0.1:0", "tcp://127.0.0.1:0");
}

/// A pyzmq PUB sends the dict as `json.dumps(..., separators=(',', ':'))` (tests/src/peer.py,
/// role `json-pub`); a ringwire SUB decodes it into the struct.
#[test]
fn a_pyzmq_json_dict_decodes_on_a_ringwire_sub() {
    use ringwire_tests::interop::{Peer, PeerProcess, spawn_peer};
    let _watchdog = watchdog(240);
    let mut peer = PeerProcess::attach(spawn_peer(
        Peer::Python,
        "json-pub",
        "bind",
        "tcp://127.0.0.1:*",
    ));
    let mut sub = Subscriber::connect(&peer.ep).unwrap();
    sub.subscribe(b"reading").unwrap();
    let m = sub.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames()[0], b"reading");
    assert_eq!(
        m.frames()[1],
        GOLDEN_JSON,
        "Python's bytes are the golden vector"
    );
    assert_eq!(sub.recv_as_timeout::<Json, Reading>(T).unwrap(), reading());
    assert!(!peer.exited(), "the peer publishes until it is dropped");
}

/// A pyzmq REQ sends JSON dicts to a ringwire `Replier::serve_with(Json, ..)` service
/// (tests/src/peer.py, role `json-req`) and checks the JSON replies.
#[test]
fn a_pyzmq_requester_is_served_by_a_json_handler() {
    use ringwire_tests::interop::{Peer, PeerProcess, spawn_peer};
    #[derive(Deserialize)]
    struct Sum {
        a: i64,
        b: i64,
    }
    let _watchdog = watchdog(240);
    let mut replier = Replier::bind("tcp://127.0.0.1:0").unwrap();
    let ep = replier.as_zmtp().unwrap().bound_endpoints()[0].to_string();
    let service = replier.serve_with(Json, |q: Sum| Ok(q.a + q.b)).spawn();
    let peer = PeerProcess::attach(spawn_peer(Peer::Python, "json-req", "connect", &ep));
    peer.finish();
    assert_eq!(service.stats().handled, 2);
    service.stop();
    service.join().unwrap();
}

/// `with_codec` picks the codec per socket: its `send_on`/`recv`/`request`/`serve`/`on` use it.
fn a_socket_keeps_its_codec(ep: &str, ep2: &str) {
    use ringwire::codec::Coded;
    let mut publisher = Publisher::bind(ep).unwrap().with_codec(Json);
    let to = match publisher.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep.to_string(),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let dispatcher = Subscriber::connect(&to)
        .unwrap()
        .with_codec(Json)
        .on("reading", move |r: Reading| Ok(tx.send(r)?))
        .unwrap()
        .spawn();
    let mut raw = Subscriber::connect(&to).unwrap().with_codec(Json);
    raw.subscribe(b"reading").unwrap();
    // Socket subscribers join late: publish until both have one.
    let (mut dispatched, mut received) = (None, None);
    while dispatched.is_none() || received.is_none() {
        publisher.send_on("reading", &reading()).unwrap();
        if let Ok(r) = rx.recv_timeout(Duration::from_millis(20)) {
            dispatched = Some(r);
        }
        match raw.recv_timeout::<Reading>(Duration::from_millis(20)) {
            Ok(r) => received = Some(r),
            Err(Error::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(dispatched, Some(reading()));
    assert_eq!(received, Some(reading()));
    drop(dispatcher);

    let replier: Coded<Replier, MsgPack> = Replier::bind(ep2).unwrap().with_codec(MsgPack);
    let mut replier = replier.into_inner().with_codec(MsgPack);
    let to = match replier.as_zmtp() {
        Some(z) => z.bound_endpoints()[0].to_string(),
        None => ep2.to_string(),
    };
    let service = replier
        .serve(|mut r: Reading| {
            r.seq += 1;
            Ok(r)
        })
        .spawn();
    let mut requester = Requester::connect(&to).unwrap().with_codec(MsgPack);
    let back: Reading = requester.request(&reading(), T).unwrap();
    assert_eq!(back.seq, 301);
    // The wire bytes are msgpack: a raw request of the golden vector is answered too.
    requester.send_bytes(GOLDEN_MSGPACK).unwrap();
    let bytes = requester.recv_bytes_timeout(T).unwrap();
    assert_eq!(MsgPack::decode::<Reading>(&bytes).unwrap().seq, 301);
    drop(service);
}

#[test]
fn a_socket_keeps_its_codec_over_shm_and_tcp() {
    let _watchdog = watchdog(120);
    let pid = std::process::id();
    a_socket_keeps_its_codec(
        &format!("shm://codecs-coded-{pid}"),
        &format!("shm://codecs-coded-rr-{pid}"),
    );
    a_socket_keeps_its_codec("tcp://127.0.0.1:0", "tcp://127.0.0.1:0");
}
