//! PUB/SUB: a robot pose published at 100 Hz, a subscriber printing it (seeds shm-comm and
//! ProcLink). The endpoint can be any transport: `shm://`, `tcp://`, `ipc://`.
//!
//! ```text
//! cargo run -p ringwire-examples --bin pubsub                       # both roles, shm
//! cargo run -p ringwire-examples --bin pubsub -- publisher tcp://127.0.0.1:5555 &
//! cargo run -p ringwire-examples --bin pubsub -- subscriber tcp://127.0.0.1:5555
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::{Error, Publisher, Subscriber};
use ringwire_examples::{spawn_role, unique_name, wait_all};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
struct Pose {
    seq: u32,
    x: f64,
    y: f64,
    heading: f64,
}

const COUNT: u32 = 20;

fn publisher(endpoint: &str) -> ringwire::Result<()> {
    let mut publisher = Publisher::bind(endpoint)?;
    // Publish until the subscriber says it is done (it exits); a subscriber that joins late
    // simply starts with a later pose, as with any PUB/SUB.
    for t in 0..COUNT * 50 {
        let pose = Pose {
            seq: t,
            x: f64::from(t) * 0.1,
            y: 0.0,
            heading: f64::from(t) * 0.01,
        };
        publisher.send_on("pose", &pose)?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn subscriber(endpoint: &str) -> ringwire::Result<()> {
    // The publisher may not be up yet: shm connects wait a bounded time, sockets retry.
    let mut subscriber = loop {
        match Subscriber::connect(endpoint) {
            Ok(s) => break s,
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e),
        }
    };
    subscriber.subscribe(b"pose")?;
    for _ in 0..COUNT {
        let pose: Pose = subscriber.recv_timeout(Duration::from_secs(10))?;
        println!(
            "pose {}: x={:.2} heading={:.3}",
            pose.seq, pose.x, pose.heading
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = format!("shm://{}", unique_name("example.pose"));
    let endpoint = args.get(1).cloned().unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("publisher") => Ok(publisher(&endpoint)?),
        Some("subscriber") => Ok(subscriber(&endpoint)?),
        None => {
            let mut publisher = spawn_role("publisher", &[&endpoint])?;
            let sub = spawn_role("subscriber", &[&endpoint])?;
            let result = wait_all(vec![("subscriber".into(), sub)], Duration::from_secs(60));
            let _ = publisher.kill();
            let _ = publisher.wait();
            result.map_err(Into::into)
        }
        Some(other) => Err(format!("unknown role {other:?}: publisher or subscriber").into()),
    }
}
