//! A node process for the event-service tests: `events_node EP ROLE [remote]` (`remote`:
//! it joins as a node of another machine, `NodeOptions::remote`, with shared memory off).
//!
//! - `victim`: joins as its process id, creates the single-emission event `victim-ev`,
//!   subscribes to `shared`, prints `ready`, then emits on `shared` until killed.
//! - `echo`: joins as its process id, sends every direct message back to its sender, prints
//!   `ready`, and leaves when stdin closes; a signal makes it send `signals N` to the node
//!   named `tester`.
//! - `writer`: joins as its process id, creates the single-emission event `w-ev`, prints
//!   `ready`, then emits each line of stdin on `w-ev` and prints how many it reached.
//! - `tally`: joins as its process id, subscribes (polled) to `flood`, prints `ready`, then
//!   takes emissions (an 8-byte little-endian number first): it checks they only grow,
//!   prints `marker N` for each one whose data ends with `marker`, and when `flood` is
//!   dissolved prints `got N` (emissions received) and exits.
//! - `idle`: joins as its process id, creates the single-emission event `idle-ev`,
//!   subscribes to `shared`, prints `ready`, and leaves when stdin closes.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};

use ringwire::events::{Delivery, Emission, Node, NodeId, NodeOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (ep, role) = (&args[1], args[2].as_str());
    let opts = match args.get(3).map(String::as_str) {
        Some("remote") => NodeOptions {
            remote: true,
            shm: false,
            ..NodeOptions::default()
        },
        _ => NodeOptions::default(),
    };
    let node = Node::connect_with(ep, NodeId::process(), opts).expect("join");
    match role {
        "victim" => {
            node.create_event("victim-ev", Emission::Single)
                .expect("create");
            node.subscribe_polled("shared").expect("subscribe");
            println!("ready");
            std::io::stdout().flush().unwrap();
            loop {
                node.emit("shared", b"from the victim").expect("emit");
            }
        }
        "echo" => {
            let h = node.handle();
            node.listen(move |d| {
                h.contact(&d.from, &d.data).expect("echo");
            });
            let h = node.handle();
            node.on_signal(move |s| {
                let text = format!("signals {}", s.count);
                h.contact(&NodeId::name("tester"), text.as_bytes())
                    .expect("tell");
            });
            println!("ready");
            std::io::stdout().flush().unwrap();
            for _ in std::io::stdin().lock().lines() {}
            node.leave().expect("leave");
        }
        "writer" => {
            node.create_event("w-ev", Emission::Single).expect("create");
            println!("ready");
            std::io::stdout().flush().unwrap();
            for line in std::io::stdin().lock().lines() {
                let n = node.emit("w-ev", line.unwrap().as_bytes()).expect("emit");
                println!("{n}");
                std::io::stdout().flush().unwrap();
            }
        }
        "tally" => {
            node.subscribe_polled("flood").expect("subscribe");
            println!("ready");
            std::io::stdout().flush().unwrap();
            let (mut got, mut last) = (0u64, None::<u64>);
            loop {
                match node.recv_timeout(std::time::Duration::from_secs(120)) {
                    Ok(Delivery::Event(e)) => {
                        let n = u64::from_le_bytes(e.data[..8].try_into().expect("8 bytes"));
                        assert!(last.is_none_or(|l| n > l), "{n} after {last:?}");
                        last = Some(n);
                        got += 1;
                        if e.data.ends_with(b"marker") {
                            println!("marker {n}");
                            std::io::stdout().flush().unwrap();
                        }
                    }
                    Ok(Delivery::Dissolved(_)) => break,
                    other => panic!("{other:?}"),
                }
            }
            println!("got {got}");
        }
        "idle" => {
            node.create_event("idle-ev", Emission::Single)
                .expect("create");
            node.subscribe_polled("shared").expect("subscribe");
            println!("ready");
            std::io::stdout().flush().unwrap();
            for _ in std::io::stdin().lock().lines() {}
            node.leave().expect("leave");
        }
        r => panic!("unknown role {r}"),
    }
}
