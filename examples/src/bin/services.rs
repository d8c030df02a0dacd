//! Handlers instead of receive loops (the callback style of the ProcLink and ZeroMQFramework
//! seeds): an arm server answers commands with `Replier::serve`, driven by its own loop with
//! `run_until`, and publishes an event per move; a client dispatches those events with
//! `Subscriber::on` on a thread the dispatcher owns. Any transport: `shm://`, `tcp://`, `ipc://`.
//!
//! ```text
//! cargo run -p ringwire-examples --bin services               # both roles, shm
//! cargo run -p ringwire-examples --bin services -- server ipc:///tmp/arm.sock ipc:///tmp/arm-events.sock &
//! cargo run -p ringwire-examples --bin services -- client ipc:///tmp/arm.sock ipc:///tmp/arm-events.sock
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use ringwire::handler::HandlerError;
use ringwire::{Error, Publisher, Replier, Requester, Subscriber};
use ringwire_examples::{spawn_role, unique_name, wait_all};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Command {
    /// Publish a `status` event (the client uses it to know its subscription is live).
    Ping,
    MoveTo {
        joint: u8,
        angle: f32,
    },
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Reply {
    Ok,
    Moved { joint: u8 },
}

#[derive(Serialize, Deserialize, Debug)]
struct Moved {
    joint: u8,
    angle: f32,
}

fn server(rpc: &str, events: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut publisher = Publisher::bind(events)?;
    let stop = Arc::new(AtomicBool::new(false));
    let shutdown = Arc::clone(&stop);
    let mut service =
        Replier::bind(rpc)?.serve(move |command: Command| -> Result<Reply, HandlerError> {
            match command {
                Command::Ping => publisher.send_on("status", "ready")?,
                Command::MoveTo { joint, .. } if joint >= 6 => {
                    // Logged and counted by the service; the client gets an empty reply.
                    return Err(format!("no joint {joint}").into());
                }
                Command::MoveTo { joint, angle } => {
                    publisher.send_on(&format!("joint/{joint}"), &Moved { joint, angle })?;
                    return Ok(Reply::Moved { joint });
                }
                Command::Shutdown => shutdown.store(true, Ordering::Release),
            }
            Ok(Reply::Ok)
        });
    // Driven by this thread's loop: returns once a Shutdown request set the flag.
    service.run_until(&stop)?;
    let stats = service.stats();
    println!("server: {} handled, {} failed", stats.handled, stats.failed);
    Ok(())
}

fn connect<S>(connect: impl Fn() -> ringwire::Result<S>) -> ringwire::Result<S> {
    loop {
        match connect() {
            Err(Error::Timeout) => continue,
            other => return other,
        }
    }
}

fn client(rpc: &str, events: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (tx, rx) = mpsc::channel::<String>();
    let (on_status, on_joint) = (tx.clone(), tx);
    let dispatcher = connect(|| Subscriber::connect(events))?
        .on("status", move |s: String| Ok(on_status.send(s)?))?
        .on("joint/", move |m: Moved| {
            Ok(on_joint.send(format!("joint {} at {}", m.joint, m.angle))?)
        })?
        .spawn();
    let mut requester = connect(|| Requester::connect(rpc))?;
    let timeout = Duration::from_secs(10);
    // A socket subscriber joins a moment after it connects: ping until an event arrives.
    loop {
        let _: Reply = requester.request(&Command::Ping, timeout)?;
        if rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            break;
        }
    }
    for joint in 0..6u8 {
        let angle = f32::from(joint) * 0.5;
        let reply: Reply = requester.request(&Command::MoveTo { joint, angle }, timeout)?;
        if reply != (Reply::Moved { joint }) {
            return Err(format!("unexpected reply {reply:?}").into());
        }
    }
    let refused = requester.request::<_, Reply>(
        &Command::MoveTo {
            joint: 9,
            angle: 0.0,
        },
        timeout,
    );
    println!(
        "move joint 9: {}",
        if refused.is_err() {
            "refused"
        } else {
            "accepted"
        }
    );
    let mut events = Vec::new();
    while events.len() < 6 {
        let event = rx.recv_timeout(timeout)?;
        if event.starts_with("joint ") {
            println!("event: {event}");
            events.push(event);
        }
    }
    let _: Reply = requester.request(&Command::Shutdown, timeout)?;
    dispatcher.stop();
    dispatcher.join()?;
    println!("client: {} joint events dispatched", events.len());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rpc = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| format!("shm://{}", unique_name("example.services")));
    let events = args
        .get(2)
        .cloned()
        .unwrap_or_else(|| format!("shm://{}", unique_name("example.services-events")));
    match args.first().map(String::as_str) {
        Some("server") => server(&rpc, &events),
        Some("client") => client(&rpc, &events),
        None => {
            let server = spawn_role("server", &[&rpc, &events])?;
            let client = spawn_role("client", &[&rpc, &events])?;
            wait_all(
                vec![("client".into(), client), ("server".into(), server)],
                Duration::from_secs(60),
            )
            .map_err(Into::into)
        }
        Some(other) => Err(format!("unknown role {other:?}: server or client").into()),
    }
}
