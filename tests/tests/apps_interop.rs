//! The Python (`clients/python`, pyzmq) and Node.js (`clients/node`, zeromq.js) clients
//! against ringwire's application server: every call and error of each; 200 clients at once
//! (Rust, Python, Node.js) doing requests and receiving publishes, none lost; a server
//! restart with every client reconnecting and subscribing again.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use ringwire::apps::{AppClient, AppClientOptions, AppServer, AppServerOptions, Channel};
use ringwire_tests::apps::{Lang, spawn};
use ringwire_tests::{unique_ipc, watchdog};

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// App `bench`: `echo` answers the request's own payload, `news` carries publishes, `audit`
/// counts notifications; app `other`: `ping` answers "pong".
fn server(ep: &str) -> (AppServer, Channel, Arc<AtomicU64>) {
    let mut opts = AppServerOptions::default();
    opts.max_payload = 4096;
    opts.heartbeat_interval = Duration::from_millis(200);
    opts.heartbeat_timeout = Duration::from_secs(2);
    let s = AppServer::bind_with(ep, opts).unwrap();
    let bench = s.create_application("bench").unwrap();
    bench.create_channel("echo").unwrap().on_request(|m| {
        Ok(ringwire::apps::Reply {
            encoding: m.encoding,
            payload: m.payload.to_vec(),
        })
    });
    let news = bench.create_channel("news").unwrap();
    let audit = Arc::new(AtomicU64::new(0));
    let a = audit.clone();
    bench
        .create_channel("audit")
        .unwrap()
        .on_notification(move |m| {
            assert!(m.json().is_ok());
            a.fetch_add(1, Ordering::Relaxed);
        });
    s.create_application("other")
        .unwrap()
        .create_channel("ping")
        .unwrap()
        .on_request(|m| m.reply(&"pong"));
    (s, news, audit)
}

fn every_call(lang: Lang) {
    let (s, _news, audit) = server("tcp://127.0.0.1:0");
    spawn(lang, &["basic", &s.endpoint()]).finish();
    assert_eq!(audit.load(Ordering::Relaxed), 1);
    let st = s.stats();
    assert_eq!(
        (
            st.unknown_channel,
            st.unknown_application,
            st.no_handler,
            st.oversized
        ),
        (1, 1, 1, 1),
        "{st:?}"
    );
    assert_eq!(st.publishes, 2, "{st:?}");
}

#[test]
fn python_client_every_call_and_error() {
    let _w = watchdog(300);
    every_call(Lang::Python);
}

#[test]
fn node_client_every_call_and_error() {
    let _w = watchdog(300);
    every_call(Lang::Node);
}

#[test]
fn two_hundred_clients_rust_python_node_none_lost() {
    let _w = watchdog(400);
    const RUST: usize = 120;
    const PROCS: usize = 4;
    const PER_PROC: usize = 10;
    const REQUESTS: usize = 20;
    const PUBLISHES: u64 = 50;
    let total = RUST + 2 * PROCS * PER_PROC;
    let (s, news, _) = server("tcp://127.0.0.1:0");
    let ep = s.endpoint();
    let args = [
        "mixed".to_string(),
        ep.clone(),
        PER_PROC.to_string(),
        REQUESTS.to_string(),
        PUBLISHES.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut peers = Vec::new();
    for _ in 0..PROCS {
        peers.push(spawn(Lang::Python, &args));
        peers.push(spawn(Lang::Node, &args));
    }
    let subscribed = Arc::new(Barrier::new(RUST + 1));
    let threads: Vec<_> = (0..RUST)
        .map(|i| {
            let ep = ep.clone();
            let subscribed = subscribed.clone();
            std::thread::spawn(move || {
                let mut o = AppClientOptions::default();
                o.timeout = Duration::from_secs(20);
                let c = AppClient::connect_with(&ep, o).unwrap();
                let got = Arc::new(std::sync::Mutex::new(Vec::new()));
                let g = got.clone();
                c.subscribe("bench", "news", move |p| {
                    let v: serde_json::Value = p.decode().unwrap();
                    g.lock().unwrap().push(v["seq"].as_u64().unwrap());
                })
                .unwrap();
                subscribed.wait();
                for r in 0..REQUESTS {
                    let q = (i as u32, r as u32);
                    let back: (u32, u32) = c.request("bench", "echo", &q).unwrap();
                    assert_eq!(back, q);
                }
                wait_until("publishes to a Rust client", || {
                    got.lock().unwrap().len() as u64 >= PUBLISHES
                });
                std::thread::sleep(Duration::from_millis(100));
                let got = got.lock().unwrap().clone();
                assert_eq!(got, (0..PUBLISHES).collect::<Vec<_>>(), "client {i}");
            })
        })
        .collect();
    for p in &mut peers {
        assert_eq!(p.line(), "SUBSCRIBED");
    }
    subscribed.wait();
    wait_until("every subscription", || s.stats().subscriptions == total);
    assert_eq!(s.connections().len(), total);
    for seq in 0..PUBLISHES {
        news.publish_json(&serde_json::json!({ "seq": seq }))
            .unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    for p in peers {
        let last = p.finish();
        assert_eq!(
            last,
            format!("OK {} {}", PER_PROC * REQUESTS, PER_PROC as u64 * PUBLISHES)
        );
    }
    let st = s.stats();
    assert_eq!(st.responses, (total * REQUESTS) as u64, "{st:?}");
    assert_eq!(st.delivered, total as u64 * PUBLISHES, "{st:?}");
    assert_eq!((st.errors, st.dropped), (0, 0), "{st:?}");
}

#[test]
fn server_restart_python_node_and_rust_clients_resubscribe() {
    let _w = watchdog(300);
    let ep = unique_ipc("apps-interop-restart");
    let (s, news, _) = server(&ep);
    let mut peers = vec![
        spawn(Lang::Python, &["restart", &ep, "3"]),
        spawn(Lang::Node, &["restart", &ep, "3"]),
    ];
    let mut o = AppClientOptions::default();
    o.heartbeat = Duration::from_millis(50);
    o.retries = 20;
    let phases = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rust: Vec<AppClient> = (0..2)
        .map(|_| {
            let c = AppClient::connect_with(&ep, o.clone()).unwrap();
            let p = phases.clone();
            c.subscribe("bench", "news", move |m| {
                let v: serde_json::Value = m.decode().unwrap();
                p.lock().unwrap().push(v["phase"].as_u64().unwrap());
            })
            .unwrap();
            c
        })
        .collect();
    for p in &mut peers {
        assert_eq!(p.line(), "SUBSCRIBED");
    }
    wait_until("8 subscriptions", || s.stats().subscriptions == 8);
    news.publish_json(&serde_json::json!({ "phase": 1 }))
        .unwrap();
    wait_until("phase 1 in Rust", || phases.lock().unwrap().len() == 2);
    drop(news);
    drop(s);
    let (s, news, _) = server(&ep);
    wait_until("every client to subscribe again", || {
        s.stats().subscriptions == 8
    });
    news.publish_json(&serde_json::json!({ "phase": 2 }))
        .unwrap();
    for p in peers {
        p.finish();
    }
    wait_until("phase 2 in Rust", || phases.lock().unwrap().len() == 4);
    for c in &rust {
        assert_eq!(c.resubscriptions(), 1);
        let v = c
            .request_json("bench", "echo", &serde_json::json!({"after": "restart"}))
            .unwrap();
        assert_eq!(v["after"], "restart");
    }
}

#[test]
fn a_frozen_python_client_is_expired_by_the_heartbeat() {
    let _w = watchdog(120);
    let (s, news, _) = server("tcp://127.0.0.1:0");
    let ep = s.endpoint();
    let mut frozen = spawn(Lang::Python, &["restart", &ep, "1"]);
    assert_eq!(frozen.line(), "SUBSCRIBED");
    let other = AppClient::connect(&ep).unwrap();
    wait_until("the subscription", || s.stats().subscriptions == 1);
    let pid = rustix::process::Pid::from_raw(frozen.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::STOP).unwrap();
    // The server's heartbeat (200 ms, 2 s timeout) finds it silent and forgets it.
    wait_until("the frozen client to expire", || {
        let st = s.stats();
        st.expired == 1 && st.connections == 1 && st.subscriptions == 0
    });
    assert_eq!(s.connections().len(), 1);
    assert_eq!(other.publish_json("bench", "news", &1).unwrap(), 0);
    let _ = news;
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::CONT);
}
