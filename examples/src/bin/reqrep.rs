//! REQ/REP: an arm controller answering status requests (seed shm-comm's `arm/control`, and
//! the client-server mode of ZeroMQFramework). Any transport: `shm://`, `tcp://`, `ipc://`.
//!
//! ```text
//! cargo run -p ringwire-examples --bin reqrep                        # both roles, shm
//! cargo run -p ringwire-examples --bin reqrep -- server ipc:///tmp/arm.sock &
//! cargo run -p ringwire-examples --bin reqrep -- client ipc:///tmp/arm.sock
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::{Error, Replier, Requester};
use ringwire_examples::{spawn_role, unique_name, wait_all};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Command {
    GetStatus,
    MoveTo { joint: u8, angle: f32 },
    Shutdown,
}

#[derive(Serialize, Deserialize, Debug)]
enum Reply {
    Status { joints: [f32; 6] },
    Ok,
}

fn server(endpoint: &str) -> ringwire::Result<()> {
    let mut replier = Replier::bind(endpoint)?;
    let mut joints = [0.0f32; 6];
    loop {
        let command: Command = replier.recv_timeout(Duration::from_secs(30))?;
        match command {
            Command::GetStatus => replier.send(&Reply::Status { joints })?,
            Command::MoveTo { joint, angle } => {
                if let Some(j) = joints.get_mut(usize::from(joint)) {
                    *j = angle;
                }
                replier.send(&Reply::Ok)?;
            }
            Command::Shutdown => {
                replier.send(&Reply::Ok)?;
                return Ok(());
            }
        }
    }
}

fn client(endpoint: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut requester = loop {
        match Requester::connect(endpoint) {
            Ok(r) => break r,
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let timeout = Duration::from_secs(10);
    for joint in 0..6u8 {
        let reply: Reply = requester.request(
            &Command::MoveTo {
                joint,
                angle: f32::from(joint) * 0.5,
            },
            timeout,
        )?;
        println!("move joint {joint}: {reply:?}");
    }
    let status: Reply = requester.request(&Command::GetStatus, timeout)?;
    println!("status: {status:?}");
    let Reply::Status { joints } = status else {
        return Err("expected a status reply".into());
    };
    if joints != [0.0, 0.5, 1.0, 1.5, 2.0, 2.5] {
        return Err(format!("unexpected joints {joints:?}").into());
    }
    let _: Reply = requester.request(&Command::Shutdown, timeout)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = format!("shm://{}", unique_name("example.arm"));
    let endpoint = args.get(1).cloned().unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("server") => Ok(server(&endpoint)?),
        Some("client") => Ok(client(&endpoint)?),
        None => {
            let server = spawn_role("server", &[&endpoint])?;
            let client = spawn_role("client", &[&endpoint])?;
            wait_all(
                vec![("client".into(), client), ("server".into(), server)],
                Duration::from_secs(60),
            )
            .map_err(Into::into)
        }
        Some(other) => Err(format!("unknown role {other:?}: server or client").into()),
    }
}
