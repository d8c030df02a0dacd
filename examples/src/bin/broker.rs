//! A request/reply broker (the ZeroMQFramework seed's router, workers and client): a router
//! between clients and workers, two worker processes that keep their node id in a config
//! file, and a client asking typed requests by event name with Lazy Pirate retries.
//!
//! ```text
//! cargo run -p ringwire-examples --bin broker                     # every role, tcp
//! cargo run -p ringwire-examples --bin broker -- shm              # every role, shared memory
//! cargo run -p ringwire-examples --bin broker -- router tcp://127.0.0.1:5555 tcp://127.0.0.1:5556 &
//! cargo run -p ringwire-examples --bin broker -- worker tcp://127.0.0.1:5556 /tmp/w1.ini &
//! cargo run -p ringwire-examples --bin broker -- client tcp://127.0.0.1:5555
//! ```
//! (`ringwire broker` and `ringwire worker` are the same roles from the command-line tool.)
#![forbid(unsafe_code)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringwire::broker::{Client, ErrorKind, Handlers, Liveness, NodeId, Router, Worker};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Move {
    joint: u8,
    angle: f32,
}

#[derive(Serialize, Deserialize, Debug)]
struct Moved {
    joint: u8,
    angle: f32,
    by: String,
}

const BEAT: Liveness = Liveness {
    interval_ms: 250,
    timeout_ms: 1000,
    max_missed: 3,
};

fn worker(backend: &str, id_file: &str) -> ringwire::Result<()> {
    let id = NodeId::load_or_create(id_file)?;
    let me = id.to_string();
    let handlers =
        Handlers::new()
            .on("add", |(a, b): (i64, i64)| a + b)
            .on("move", move |m: Move| Moved {
                joint: m.joint,
                angle: m.angle,
                by: me.clone(),
            });
    // Runs until stdin closes (the demo's parent closes it at the end).
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        flag.store(true, Ordering::Relaxed);
    });
    let stats = Worker::builder(backend)
        .identity(&id)
        .heartbeat(BEAT)
        .run(&handlers, &stop)?;
    eprintln!("worker {id}: {} requests handled", stats.handled);
    Ok(())
}

fn client(frontend: &str) -> ringwire::Result<()> {
    let mut c = Client::builder(frontend)
        .timeout(Duration::from_secs(5))
        .retries(3)
        .connect()?;
    let sum: i64 = c.request("add", &(2i64, 3i64))?;
    println!("add 2 + 3 = {sum}");
    let mut workers = std::collections::BTreeSet::new();
    for joint in 0..20u8 {
        let m: Moved = c.request(
            "move",
            &Move {
                joint,
                angle: f32::from(joint) * 0.5,
            },
        )?;
        workers.insert(m.by);
    }
    println!("client: 20 moves answered by {} workers", workers.len());
    match c.request::<_, ()>("fly", &()) {
        Err(e) if ErrorKind::of(&e) == ErrorKind::Client => println!("fly: refused ({e})"),
        other => println!("fly: unexpected {other:?}"),
    }
    Ok(())
}

/// Every role: the router here, two worker processes and a client process, over `tcp`
/// (ports the system picks) or `shm` (segments named after this process).
fn demo(over: &str) -> Result<(), String> {
    let (front, back) = match over {
        "shm" => {
            let pid = std::process::id();
            (
                format!("shm://broker-demo-{pid}-front"),
                format!("shm://broker-demo-{pid}-back"),
            )
        }
        _ => (
            "tcp://127.0.0.1:0".to_string(),
            "tcp://127.0.0.1:0".to_string(),
        ),
    };
    let router = Router::builder(&front, &back)
        .heartbeat(BEAT)
        .spawn()
        .map_err(|e| e.to_string())?;
    let front = router.frontend_endpoints()[0].to_string();
    let back = router.backend_endpoints()[0].to_string();
    let dir = std::env::temp_dir().join(format!("ringwire-broker-demo-{}", std::process::id()));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut workers = Vec::new();
    for n in 0..2 {
        let id_file = dir.join(format!("worker{n}.ini"));
        let child = Command::new(&exe)
            .args(["worker", &back, &id_file.to_string_lossy()])
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        workers.push(child);
    }
    // Both workers registered, so the client's requests spread over them.
    while router.worker_count() < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new(&exe)
        .args(["client", &front])
        .status()
        .map_err(|e| e.to_string())?;
    for mut w in workers {
        drop(w.stdin.take());
        let s = w.wait().map_err(|e| e.to_string())?;
        if !s.success() {
            return Err(format!("a worker exited with {s}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let s = router.stop().map_err(|e| e.to_string())?;
    println!(
        "router: requests {} replies {} requeued {} failed {} workers registered {}",
        s.requests, s.replies, s.requeued, s.failed, s.workers_registered
    );
    if !status.success() {
        return Err(format!("the client exited with {status}"));
    }
    Ok(())
}

fn main() {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match argv[..] {
        [] => demo("tcp"),
        ["shm"] => demo("shm"),
        ["router", front, back] => Router::bind(front, back)
            .map(|r| {
                eprintln!("router running; Ctrl-C to stop");
                while r.is_running() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
            .map_err(|e| e.to_string()),
        ["worker", back, id_file] => worker(back, id_file).map_err(|e| e.to_string()),
        ["client", front] => client(front).map_err(|e| e.to_string()),
        _ => Err(
            "usage: broker [shm | router FRONT BACK | worker BACK ID_FILE | client FRONT]".into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("broker: {e}");
        std::process::exit(1);
    }
}
