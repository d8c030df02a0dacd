//! Applications and channels (`ringwire::apps`): every call of the server and the Rust
//! client, every error reply, a server restart with reconnect and resubscribe, hostile
//! input (raw DEALERs sending malformed envelopes, oversized payloads, a client that never
//! reads).
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwire::apps::{
    AppClient, AppClientOptions, AppServer, AppServerOptions, Encoding, ErrorCode, MessageType,
    Publication,
};
use ringwire::zmtp::Dealer;
use ringwire_core::apps::{self as wire, ServerMsg, kind};
use ringwire_tests::{unique_ipc, watchdog};

const LONG: Duration = Duration::from_secs(30);

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(start.elapsed() < LONG, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn quick() -> AppClientOptions {
    let mut o = AppClientOptions::default();
    o.timeout = Duration::from_secs(5);
    o.heartbeat = Duration::from_millis(50);
    o
}

/// The seed's server: `my_app` with an `api` channel answering `get_data`.
fn seed_server(ep: &str) -> AppServer {
    let server = AppServer::bind(ep).unwrap();
    let app = server.create_application("my_app").unwrap();
    let api = app.create_channel("api").unwrap();
    api.on_request(|m| {
        let v = m.json()?;
        match v["action"].as_str() {
            Some("get_data") => m.reply(&serde_json_value(&v)),
            other => Err(format!("unknown action {other:?}")),
        }
    });
    server
}

fn serde_json_value(v: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"success": true, "echo": v, "server": "ringwire"})
}

#[test]
fn requests_typed_and_json_on_every_transport() {
    let _w = watchdog(120);
    for ep in [
        "tcp://127.0.0.1:0".to_string(),
        unique_ipc("apps"),
        "inproc://apps-every-transport".to_string(),
    ] {
        let server = seed_server(&ep);
        let calc = server
            .application("my_app")
            .unwrap()
            .create_channel("calc")
            .unwrap();
        calc.on_request(|m| {
            let (a, b): (i32, i32) = m.decode()?;
            m.reply(&(a + b))
        });
        let c = AppClient::connect(&server.endpoint()).unwrap();
        let sum: i32 = c.request("my_app", "calc", &(40, 2)).unwrap();
        assert_eq!(sum, 42);
        let v = c
            .request_json("my_app", "api", &serde_json::json!({"action": "get_data"}))
            .unwrap();
        assert_eq!(v["success"], true, "{v}");
        // The same typed handler serves JSON: it decodes and replies in the requester's
        // encoding.
        let v = c
            .request_json("my_app", "calc", &serde_json::json!([1, 2]))
            .unwrap();
        assert_eq!(v, serde_json::json!(3));
        let (enc, raw) = c
            .request_bytes("my_app", "calc", Encoding::Json, b"[5,5]")
            .unwrap();
        assert_eq!((enc, raw.as_slice()), (Encoding::Json, &b"10"[..]));
        let s = server.stats();
        assert_eq!((s.responses, s.errors), (4, 0), "{s:?}");
        c.disconnect();
    }
}

#[test]
fn every_error_comes_back_as_a_reply_and_is_counted() {
    let _w = watchdog(120);
    let mut opts = AppServerOptions::default();
    opts.max_payload = 1024;
    opts.max_subscriptions = 2;
    let server = AppServer::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    let app = server.create_application("app").unwrap();
    let quiet = app.create_channel("quiet").unwrap();
    let fussy = app.create_channel("fussy").unwrap();
    fussy.on_request(|m| {
        let n: u32 = m.decode()?;
        if n == 13 {
            return Err("13 is unlucky".into());
        }
        if n == 666 {
            panic!("a handler that panics");
        }
        m.reply(&n)
    });
    let _ = quiet;
    let c = AppClient::connect(&server.endpoint()).unwrap();
    let code = |r: Result<u32, ringwire::apps::Error>| r.unwrap_err().code();
    assert_eq!(
        code(c.request("nope", "quiet", &1u32)),
        Some(ErrorCode::UnknownApplication)
    );
    assert_eq!(
        code(c.request("app", "nope", &1u32)),
        Some(ErrorCode::UnknownChannel)
    );
    assert_eq!(
        code(c.request("app", "quiet", &1u32)),
        Some(ErrorCode::NoHandler)
    );
    let e = c.request::<_, u32>("app", "fussy", &13u32).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Handler));
    assert!(e.to_string().contains("13 is unlucky"), "{e}");
    assert_eq!(
        code(c.request("app", "fussy", &666u32)),
        Some(ErrorCode::Handler)
    );
    // A payload the handler cannot decode is the handler's refusal, with the codec's words.
    let e = c
        .request_bytes("app", "fussy", Encoding::Json, b"not json")
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Handler));
    assert!(e.to_string().contains("JSON"), "{e}");
    let big = vec![7u8; 2000];
    let e = c
        .request_bytes("app", "fussy", Encoding::Postcard, &big)
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Oversized));
    assert!(e.to_string().contains("2000 bytes"), "{e}");
    assert_eq!(
        c.notify("app", "quiet", &1u8).unwrap_err().code(),
        Some(ErrorCode::NoHandler)
    );
    assert_eq!(
        c.unsubscribe("app", "quiet").unwrap_err().code(),
        Some(ErrorCode::NotSubscribed)
    );
    assert_eq!(
        c.subscribe("app", "nope", |_| {}).unwrap_err().code(),
        Some(ErrorCode::UnknownChannel)
    );
    c.subscribe("app", "quiet", |_| {}).unwrap();
    c.subscribe("app", "fussy", |_| {}).unwrap();
    let third = app.create_channel("third").unwrap();
    let _ = third;
    assert_eq!(
        c.subscribe("app", "third", |_| {}).unwrap_err().code(),
        Some(ErrorCode::Full)
    );
    // Bad names never leave the client.
    assert!(matches!(
        c.request::<_, u32>("", "x", &1u32),
        Err(ringwire::apps::Error::BadName(_))
    ));
    assert!(matches!(
        c.request::<_, u32>("a", &"x".repeat(65), &1u32),
        Err(ringwire::apps::Error::BadName(_))
    ));
    // Still served after all that.
    assert_eq!(c.request::<_, u32>("app", "fussy", &5u32).unwrap(), 5);
    let s = server.stats();
    assert_eq!(s.unknown_application, 1, "{s:?}");
    assert_eq!(s.unknown_channel, 2, "{s:?}");
    assert_eq!(s.no_handler, 2, "{s:?}");
    assert_eq!(s.handler_errors, 3, "{s:?}");
    assert_eq!(s.oversized, 1, "{s:?}");
    assert_eq!(s.errors, 11, "{s:?}");
    // The server side refuses duplicate and bad names.
    assert!(server.create_application("app").is_err());
    assert!(app.create_channel("quiet").is_err());
    assert!(server.create_application("").is_err());
}

#[test]
fn publish_subscribe_notify_and_the_connection_list() {
    let _w = watchdog(120);
    let server = AppServer::bind("tcp://127.0.0.1:0").unwrap();
    let app = server.create_application("chat").unwrap();
    let room = app.create_channel("room").unwrap();
    let seen_pub = Arc::new(AtomicU64::new(0));
    let seen_sub = Arc::new(Mutex::new(Vec::new()));
    let notes = Arc::new(Mutex::new(Vec::new()));
    {
        let s = seen_pub.clone();
        room.on_publish(move |_| {
            s.fetch_add(1, Ordering::Relaxed);
        });
        let s = seen_sub.clone();
        room.on_subscribe(move |m| s.lock().unwrap().push((m.kind, m.connection)));
        let n = notes.clone();
        room.on_notification(move |m| n.lock().unwrap().push(m.decode::<String>().unwrap()));
    }
    let ep = server.endpoint();
    let a = AppClient::connect(&ep).unwrap();
    let b = AppClient::connect(&ep).unwrap();
    let (tx, rx) = mpsc::channel::<Publication>();
    let tx2 = tx.clone();
    a.subscribe("chat", "room", move |p| tx.send(p).unwrap())
        .unwrap();
    assert_eq!(
        a.subscriptions(),
        [("chat".to_string(), "room".to_string())]
    );
    // Nobody else subscribed: a publish from b reaches a only.
    assert_eq!(b.publish("chat", "room", &"hello").unwrap(), 1);
    let p = rx.recv_timeout(LONG).unwrap();
    assert_eq!(p.decode::<String>().unwrap(), "hello");
    assert_eq!((p.app.as_str(), p.channel.as_str()), ("chat", "room"));
    // A server-side publish, in JSON.
    room.publish_json(&serde_json::json!({"from": "server"}))
        .unwrap();
    let p = rx.recv_timeout(LONG).unwrap();
    assert_eq!(p.encoding, Encoding::Json);
    assert_eq!(p.decode::<serde_json::Value>().unwrap()["from"], "server");
    b.notify("chat", "room", &"note 1".to_string()).unwrap();
    b.notify_json("chat", "room", &"note 2").unwrap();
    // JSON and postcard strings decode alike in the handler.
    assert_eq!(*notes.lock().unwrap(), ["note 1", "note 2"]);
    // The connection list: both clients, a subscribed.
    let conns = server.connections();
    assert_eq!(conns.len(), 2, "{conns:?}");
    assert!(
        conns.iter().all(|c| c
            .peer
            .as_deref()
            .is_some_and(|p| p.starts_with("tcp://127.0.0.1:"))),
        "{conns:?}"
    );
    let subscribed: Vec<_> = conns
        .iter()
        .filter(|c| !c.subscriptions.is_empty())
        .collect();
    assert_eq!(subscribed.len(), 1);
    assert_eq!(
        subscribed[0].subscriptions,
        [("chat".to_string(), "room".to_string())]
    );
    assert!(conns[0].since <= conns[1].since);
    a.unsubscribe("chat", "room").unwrap();
    assert!(a.subscriptions().is_empty());
    assert_eq!(b.publish("chat", "room", &"nobody").unwrap(), 0);
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    drop(tx2);
    let kinds: Vec<MessageType> = seen_sub.lock().unwrap().iter().map(|k| k.0).collect();
    assert_eq!(kinds, [MessageType::Subscribe, MessageType::Unsubscribe]);
    assert_eq!(seen_pub.load(Ordering::Relaxed), 2);
    let s = server.stats();
    assert_eq!(
        (s.publishes, s.delivered, s.notifications),
        (2, 2, 2),
        "{s:?}"
    );
    // A client that goes away is forgotten with its subscriptions.
    b.subscribe("chat", "room", |_| {}).unwrap();
    assert_eq!(server.stats().subscriptions, 1);
    b.disconnect();
    wait_until("b to be forgotten", || {
        let s = server.stats();
        s.connections == 1 && s.subscriptions == 0
    });
}

/// The server's tables (the core registry's) are fixed at bind: a further connection, name or
/// subscription is refused `Full`, and served again once there is room.
#[test]
fn the_server_tables_are_bounded_and_refuse_full() {
    let _w = watchdog(120);
    let mut opts = AppServerOptions::default();
    opts.max_connections = 1;
    opts.max_names = 3;
    opts.max_total_subscriptions = 1;
    let server = AppServer::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    let app = server.create_application("app").unwrap();
    app.create_channel("echo")
        .unwrap()
        .on_request(|m| m.reply(&m.connection));
    app.create_channel("news").unwrap();
    let Err(e) = app.create_channel("more") else {
        panic!("a fourth name fitted in a table of three")
    };
    assert_eq!(e.code(), Some(ErrorCode::Full), "{e}");
    assert!(server.create_application("other").is_err());
    assert!(app.channel("news").is_some() && app.channel("more").is_none());
    let ep = server.endpoint();
    let a = AppClient::connect_with(&ep, quick()).unwrap();
    a.subscribe("app", "news", |_| {}).unwrap();
    // The connection table holds one: the second client's HELLO is refused.
    let Err(e) = AppClient::connect_with(&ep, quick()) else {
        panic!("a second connection fitted in a table of one")
    };
    assert_eq!(e.code(), Some(ErrorCode::Full), "{e}");
    assert!(e.to_string().contains("1 connections"), "{e}");
    a.disconnect();
    wait_until("a to be forgotten", || server.stats().connections == 0);
    let b = AppClient::connect_with(&ep, quick()).unwrap();
    assert!(b.request::<_, u32>("app", "echo", &()).unwrap() > 0);
    // The subscription table holds one in all.
    b.subscribe("app", "news", |_| {}).unwrap();
    let e = b.subscribe("app", "echo", |_| {}).unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Full), "{e}");
    assert!(e.to_string().contains("1 subscriptions in all"), "{e}");
    let s = server.stats();
    assert_eq!(
        (s.connections, s.subscriptions, s.errors),
        (1, 1, 2),
        "{s:?}"
    );
}

#[test]
fn a_request_handler_answers_only_the_requester() {
    let _w = watchdog(120);
    let server = AppServer::bind("tcp://127.0.0.1:0").unwrap();
    let ch = server
        .create_application("a")
        .unwrap()
        .create_channel("who")
        .unwrap();
    ch.on_request(|m| m.reply(&m.connection));
    let clients: Vec<AppClient> = (0..4)
        .map(|_| AppClient::connect(&server.endpoint()).unwrap())
        .collect();
    let ids: Vec<u32> = clients
        .iter()
        .map(|c| c.request("a", "who", &()).unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        4,
        "each client got its own connection's answer: {ids:?}"
    );
    let listed: Vec<u32> = server.connections().iter().map(|c| c.id).collect();
    assert_eq!(listed, sorted);
}

/// Collects the `ringwire::apps` log records of this test process.
struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "ringwire::apps"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut records = self.0.lock().unwrap_or_else(|e| e.into_inner());
            records.push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn server_restart_clients_reconnect_and_resubscribe() {
    let _w = watchdog(180);
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Info);
    let ep = unique_ipc("apps-restart");
    let start = |ep: &str| {
        let s = AppServer::bind(ep).unwrap();
        let ch = s
            .create_application("app")
            .unwrap()
            .create_channel("news")
            .unwrap();
        ch.on_request(|m| m.reply(&"pong"));
        s
    };
    let server = start(&ep);
    let got = Arc::new(AtomicU64::new(0));
    let clients: Vec<AppClient> = (0..8)
        .map(|_| {
            let c = AppClient::connect_with(&ep, quick()).unwrap();
            let g = got.clone();
            c.subscribe("app", "news", move |_| {
                g.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
            c
        })
        .collect();
    assert_eq!(clients[0].publish("app", "news", &1u8).unwrap(), 8);
    wait_until("the first publish", || got.load(Ordering::Relaxed) == 8);
    drop(server);
    let server = start(&ep);
    wait_until("every client to resubscribe", || {
        server.stats().subscriptions == 8
    });
    assert!(clients.iter().all(|c| c.resubscriptions() == 1));
    // Requests work again, and a publish reaches all of them.
    let s: String = clients[3].request("app", "news", &()).unwrap();
    assert_eq!(s, "pong");
    assert_eq!(clients[0].publish("app", "news", &2u8).unwrap(), 8);
    wait_until("the second publish", || got.load(Ordering::Relaxed) == 16);
    assert_eq!(server.connections().len(), 8);
}

#[test]
fn connect_without_a_server_is_no_reply() {
    let _w = watchdog(60);
    let mut o = AppClientOptions::default();
    o.timeout = Duration::from_millis(100);
    o.retries = 1;
    let e = AppClient::connect_with(&unique_ipc("apps-nobody"), o).unwrap_err();
    assert!(
        matches!(e, ringwire::apps::Error::NoReply { attempts: 2 }),
        "{e}"
    );
}

fn raw(ep: &str) -> Dealer {
    Dealer::builder().send_timeout(LONG).connect(ep).unwrap()
}

fn recv(d: &mut Dealer) -> Vec<Vec<u8>> {
    d.recv_multipart_timeout(LONG).unwrap().into_frames()
}

#[test]
fn hostile_envelopes_get_error_replies_and_the_others_are_served() {
    let _w = watchdog(120);
    let server = seed_server("tcp://127.0.0.1:0");
    let ep = server.endpoint();
    let mut d = raw(&ep);
    let good = AppClient::connect(&ep).unwrap();
    // A readable header with the wrong frame count: ERROR Malformed with its id.
    let h = wire::header(kind::REQUEST, 0, 0, 77);
    d.send_multipart(&[&h, b"my_app"]).unwrap();
    let f = recv(&mut d);
    match ServerMsg::parse(&f).unwrap() {
        ServerMsg::Error { id, code, message } => {
            assert_eq!((id, code), (77, ErrorCode::Malformed));
            assert!(String::from_utf8_lossy(message).contains("takes 4 frames"));
        }
        other => panic!("{other:?}"),
    }
    // Garbage without a readable header: counted, no answer (no id to answer).
    d.send_multipart(&[b"garbage"]).unwrap();
    let mut bad_version = wire::header(kind::HELLO, 0, 0, 5);
    bad_version[0] = 2;
    d.send_multipart(&[&bad_version]).unwrap();
    // A kind only the server sends: refused with its id.
    d.send_multipart(&[&[1u8, 0x81, 0, 0, 1, 0, 0, 0][..]])
        .unwrap();
    let f = recv(&mut d);
    assert!(matches!(
        ServerMsg::parse(&f).unwrap(),
        ServerMsg::Error {
            id: 1,
            code: ErrorCode::Malformed,
            ..
        }
    ));
    // A JSON request with a broken body reaches the handler, which refuses it.
    let h = wire::header(kind::REQUEST, wire::FLAG_JSON, 0, 78);
    d.send_multipart(&[&h, b"my_app", b"api", b"{"]).unwrap();
    let f = recv(&mut d);
    assert!(matches!(
        ServerMsg::parse(&f).unwrap(),
        ServerMsg::Error {
            id: 78,
            code: ErrorCode::Handler,
            ..
        }
    ));
    // Id 0: no answer even for an error; the HELLO after it is answered first.
    let h = wire::header(kind::REQUEST, 0, 0, 0);
    d.send_multipart(&[&h, b"nope", b"api", b""]).unwrap();
    let hello = wire::header(kind::HELLO, 0, 0, 79);
    d.send_multipart(&[&hello]).unwrap();
    let f = recv(&mut d);
    assert!(matches!(
        ServerMsg::parse(&f).unwrap(),
        ServerMsg::Welcome { id: 79, .. }
    ));
    let v = good
        .request_json("my_app", "api", &serde_json::json!({"action": "get_data"}))
        .unwrap();
    assert_eq!(v["success"], true);
    let s = server.stats();
    assert_eq!(s.malformed, 4, "{s:?}");
    assert_eq!(s.unknown_application, 1, "{s:?}");
    assert_eq!(s.handler_errors, 1, "{s:?}");
}

#[test]
fn a_client_that_never_reads_is_bounded_and_the_others_are_served() {
    let _w = watchdog(180);
    let mut opts = AppServerOptions::default();
    opts.send_hwm = 8;
    let server = AppServer::bind_with("tcp://127.0.0.1:0", opts).unwrap();
    server
        .create_application("app")
        .unwrap()
        .create_channel("flood")
        .unwrap();
    let ep = server.endpoint();
    // A raw DEALER subscribes and then never reads (its own queue holds 1 message).
    let mut sleeper = Dealer::builder()
        .recv_hwm(1)
        .send_timeout(LONG)
        .connect(&ep)
        .unwrap();
    let h = wire::header(kind::SUBSCRIBE, 0, 0, 0);
    sleeper
        .send_multipart(&[&h, b"app", b"flood", b""])
        .unwrap();
    let reader = AppClient::connect(&ep).unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let g = got.clone();
    reader
        .subscribe("app", "flood", move |_| {
            g.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    wait_until("both subscriptions", || server.stats().subscriptions == 2);
    let publisher = AppClient::connect(&ep).unwrap();
    let payload = vec![0u8; 256 * 1024];
    let n = 400u64;
    for _ in 0..n {
        assert_eq!(
            publisher
                .publish_bytes("app", "flood", Encoding::Postcard, &payload)
                .unwrap(),
            2
        );
        // Pace to the reader (it reads; the sleeper does not).
        let sent = server.stats().delivered / 2;
        wait_until("the reader", || got.load(Ordering::Relaxed) + 4 >= sent);
    }
    wait_until("the reader to get every publish", || {
        got.load(Ordering::Relaxed) == n
    });
    let s = server.stats();
    assert!(
        s.dropped > 0,
        "the sleeper's messages were dropped and counted: {s:?}"
    );
    let v: String = {
        let ch = server.application("app").unwrap().channel("flood").unwrap();
        ch.on_request(|m| m.reply(&"still here"));
        reader.request("app", "flood", &()).unwrap()
    };
    assert_eq!(v, "still here");
    drop(sleeper);
}
