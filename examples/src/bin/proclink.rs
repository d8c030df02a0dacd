//! ProcLink's own scenario (its README's "Simple Publisher-Subscriber"): a publisher function
//! and a subscriber function, each in its own process under
//! `ringwire::process::ProcessManager` — ProcLink's `create_process(target=fn)` + `run()` —
//! over tcp, then ipc, then shm.
//!
//! ```text
//! cargo run -p ringwire-examples --bin proclink
//! ```
//!
//! The subscriber starts once the publisher's endpoint is bound (`Ready::Bound` + `after`),
//! prints the first five messages on `topic` (the publisher also sends on `other`, which the
//! subscription filters out) and exits; the main program then stops the publisher with
//! `terminate_all` (SIGTERM, grace period, SIGKILL) and joins the run.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use ringwire::process::{ProcessManager, ProcessSpec, Ready, State};
use ringwire::{Endpoint, Error, Publisher, Subscriber};

const WANTED: usize = 5;

fn endpoint_arg() -> String {
    std::env::args().nth(2).unwrap_or_else(|| {
        eprintln!("proclink: the endpoint argument is missing");
        std::process::exit(2)
    })
}

fn publisher_process() {
    let endpoint = endpoint_arg();
    let run = || -> ringwire::Result<()> {
        let mut publisher = Publisher::bind(&endpoint)?;
        // Until stopped: a subscriber that connects late starts with a later message, as with
        // any PUB/SUB.
        for i in 0u64.. {
            publisher.send_on("topic", &format!("Message {i}"))?;
            publisher.send_on("other", &format!("Not for you {i}"))?;
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("publisher: {e}");
        std::process::exit(1);
    }
}

fn subscriber_process() {
    let endpoint = endpoint_arg();
    let run = || -> ringwire::Result<()> {
        let mut subscriber = loop {
            match Subscriber::connect_with_topics(&endpoint, &[b"topic"]) {
                Ok(s) => break s,
                Err(Error::Timeout) => continue,
                Err(e) => return Err(e),
            }
        };
        for _ in 0..WANTED {
            let message: String = subscriber.recv_timeout(Duration::from_secs(10))?;
            println!("Received: {message}");
        }
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("subscriber: {e}");
        std::process::exit(1);
    }
}

fn main() {
    let _log = ringwire_examples::setup_logging();
    let mut manager = ProcessManager::new();
    manager
        .register_fn("publisher", publisher_process)
        .register_fn("subscriber", subscriber_process);
    manager.dispatch(); // a child runs its function here and exits

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(5555, |a| a.port());
    let sock = std::env::temp_dir().join(format!("proclink.{}.sock", std::process::id()));
    let endpoints = [
        format!("tcp://127.0.0.1:{port}"),
        format!("ipc://{}", sock.display()),
        format!("shm://proclink.{}", std::process::id()),
    ];
    let mut code = 0;
    for endpoint in &endpoints {
        println!("--- {endpoint}");
        let mut manager = ProcessManager::new();
        manager
            .register_fn("publisher", publisher_process)
            .register_fn("subscriber", subscriber_process);
        let bound: Endpoint = endpoint.parse().expect("a valid endpoint");
        let added = manager
            .add(
                ProcessSpec::function("publisher", "publisher")
                    .args([endpoint.as_str()])
                    .ready_when(Ready::Bound(bound))
                    .grace(Duration::from_secs(1)),
            )
            .and_then(|()| {
                manager.add(
                    ProcessSpec::function("subscriber", "subscriber")
                        .args([endpoint.as_str()])
                        .after("publisher"),
                )
            });
        if let Err(e) = added.and_then(|()| manager.start()) {
            eprintln!("proclink: {e}");
            std::process::exit(2);
        }
        // The subscriber ends by itself; then the publisher is stopped.
        let deadline = Instant::now() + Duration::from_secs(30);
        while manager.status()[1].state != State::Exited && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        manager.terminate_all();
        let report = match manager.join() {
            Ok(r) => r,
            Err(e) => {
                eprintln!("proclink: {e}");
                std::process::exit(2);
            }
        };
        let sub = &report.processes[1];
        println!(
            "subscriber: {}",
            sub.last_exit
                .as_ref()
                .map_or("still running".into(), |e| e.to_string())
        );
        if !sub.last_exit.as_ref().is_some_and(|e| e.is_success()) {
            code = 1;
        }
    }
    let _ = std::fs::remove_file(&sock);
    std::process::exit(code);
}
