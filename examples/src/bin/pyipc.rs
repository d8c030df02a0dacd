//! The PyIPC seed's scenario: an event service, and nodes that create, subscribe to and emit
//! events, contact each other directly and signal each other (see `docs/events.md`).
//!
//! Run without arguments it starts the service in this process and the two nodes as child
//! processes; with a role it plays that role only:
//!
//! ```text
//! cargo run -p ringwire-examples --bin pyipc                        # everything
//! cargo run -p ringwire-examples --bin pyipc -- demo shm://pyipc     # everything, hub-less
//! cargo run -p ringwire-examples --bin pyipc -- mixed                # hub-less on tcp, the sensor remote
//! cargo run -p ringwire-examples --bin pyipc -- service tcp://127.0.0.1:54121 &
//! cargo run -p ringwire-examples --bin pyipc -- logger tcp://127.0.0.1:54121 &
//! cargo run -p ringwire-examples --bin pyipc -- sensor tcp://127.0.0.1:54121
//! ```
//!
//! `mixed` runs a hub-less service on tcp (`ServiceOptions::hubless`) with the logger as a
//! local node and the sensor as a remote one (`remote-sensor`: `NodeOptions::remote`, as a
//! node of another machine joins; see "Mixed services" in `docs/events.md`).
#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ringwire::events::{
    Direct, Emission, Emitted, ErrorCode, Node, NodeId, NodeOptions, Service, ServiceOptions,
    Signals,
};
use ringwire_examples::{spawn_role, wait_all};

type Res = Result<(), Box<dyn std::error::Error>>;

const READINGS: u32 = 5;
const SIGNALS: u64 = 3;

/// Creates the `readings` event (multi emission: every subscriber may emit) with a handler,
/// the single-emission `config` event, listens for direct data and signals.
fn logger(ep: &str) -> Res {
    let node = Node::connect(ep, NodeId::name("logger"))?;
    // Before `readings`: a sensor that finds `readings` finds `config` too.
    node.create_event("config", Emission::Single)?;
    let (tx, events) = mpsc::channel::<String>();
    let t = tx.clone();
    node.create_event_with("readings", Emission::Multi, move |e: Emitted| {
        let _ = t.send(format!(
            "reading from {}: {}",
            e.from,
            String::from_utf8_lossy(&e.data)
        ));
    })?;
    let t = tx.clone();
    node.listen(move |d: Direct| {
        let _ = t.send(format!(
            "direct from {}: {}",
            d.from,
            String::from_utf8_lossy(&d.data)
        ));
    });
    let (sig_tx, signals) = mpsc::channel::<u64>();
    node.on_signal(move |s: Signals| {
        let _ = sig_tx.send(s.count);
    });
    println!("logger: ready, subscriptions {:?}", node.subscriptions());
    let (mut readings, mut done) = (0, false);
    while !done {
        let line = events.recv_timeout(Duration::from_secs(30))?;
        println!("logger: {line}");
        readings += u32::from(line.starts_with("reading"));
        done = line.ends_with(": done");
    }
    // Signals may coalesce: count them until all arrived.
    let (mut total, mut calls) = (0, 0);
    while total < SIGNALS {
        total += signals.recv_timeout(Duration::from_secs(30))?;
        calls += 1;
    }
    println!("logger: {readings} readings, {total} signals in {calls} handler call(s)");
    node.leave()?;
    Ok(())
}

/// Subscribes to `readings` (once the logger made it), emits readings, shows two refusals,
/// contacts and signals the logger.
fn sensor(ep: &str, remote: bool) -> Res {
    let opts = NodeOptions {
        remote,
        shm: !remote && NodeOptions::default().shm,
        ..NodeOptions::default()
    };
    let node = Node::connect_with(ep, NodeId::process(), opts)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match node.subscribe("readings", |_| {}) {
            Ok(()) => break,
            Err(e) if e.code() == Some(ErrorCode::UnknownEvent) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for i in 0..READINGS {
        let reached = node.emit("readings", format!("{}.{i} C", 20 + i).as_bytes())?;
        println!("sensor: reading {i} reached {reached} node(s)");
    }
    node.subscribe_polled("config")?;
    match node.emit("config", b"rate=10") {
        Err(e) => println!("sensor: emit config: {e}"),
        Ok(_) => return Err("a subscriber emitted a single-emission event".into()),
    }
    match node.contact(&NodeId::name("nobody"), b"hello") {
        Err(e) => println!("sensor: contact nobody: {e}"),
        Ok(()) => return Err("contacting an unknown node succeeded".into()),
    }
    let logger = NodeId::name("logger");
    for _ in 0..SIGNALS {
        node.signal(&logger)?;
    }
    node.contact(&logger, b"done")?;
    println!(
        "sensor: {} signal(s) rung through the doorbell",
        node.signals_rung_locally()
    );
    node.leave()?;
    Ok(())
}

fn main() -> Res {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ep = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "tcp://127.0.0.1:0".into());
    match args.first().map(String::as_str) {
        Some("service") => {
            let service = Service::bind(&ep)?;
            println!("service: listening on {}", service.endpoint());
            loop {
                std::thread::sleep(Duration::from_secs(5));
                println!("service: {:?}", service.stats());
            }
        }
        Some("logger") => logger(&ep),
        Some("sensor") => sensor(&ep, false),
        Some("remote-sensor") => sensor(&ep, true),
        None | Some("demo" | "mixed") => {
            let mixed = args.first().map(String::as_str) == Some("mixed");
            let opts = ServiceOptions {
                hubless: mixed,
                ..ServiceOptions::default()
            };
            let service = Service::bind_with(&ep, opts)?;
            let ep = service.endpoint();
            let logger = spawn_role("logger", &[&ep])?;
            let role = if mixed { "remote-sensor" } else { "sensor" };
            let sensor = spawn_role(role, &[&ep])?;
            wait_all(
                vec![("logger".into(), logger), ("sensor".into(), sensor)],
                Duration::from_secs(60),
            )?;
            let st = service.stop();
            println!(
                "service: {} requests accepted, {} refused, {} deliveries, {} emissions routed, {} nodes left",
                st.accepted, st.refused, st.delivered, st.routed_emissions, st.nodes
            );
            Ok(())
        }
        Some(other) => Err(format!(
            "unknown role {other:?}: demo, mixed, service, logger, sensor or remote-sensor"
        )
        .into()),
    }
}
