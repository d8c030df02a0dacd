//! Measures `ringwire::apps`: the request round trip of the Rust client (p50/p99), and
//! requests per second with many clients at once (each its own thread and connection).
//!
//! ```text
//! cargo run --release -p ringwire-examples --bin apps_bench                  # Rust figures
//! cargo run --release -p ringwire-examples --bin apps_bench -- serve tcp://127.0.0.1:8888
//!     # a server for the Python and Node.js clients' bench mode (tests/src/apps_peer.*);
//!     # it stops when its standard input closes
//! ```
#![forbid(unsafe_code)]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use ringwire::apps::{AppClient, AppServer, Reply};

type Res = Result<(), Box<dyn std::error::Error>>;

/// App `bench`, channel `echo`: answers the request's own payload, in its encoding.
fn server(ep: &str) -> Result<AppServer, Box<dyn std::error::Error>> {
    let s = AppServer::bind(ep)?;
    s.create_application("bench")?
        .create_channel("echo")?
        .on_request(|m| {
            Ok(Reply {
                encoding: m.encoding,
                payload: m.payload.to_vec(),
            })
        });
    Ok(s)
}

fn percentile(sorted: &[u64], f: f64) -> f64 {
    let i = ((sorted.len() as f64 * f) as usize).min(sorted.len() - 1);
    sorted[i] as f64 / 1000.0
}

fn round_trip(ep: &str, n: usize) -> Res {
    let c = AppClient::connect(ep)?;
    let q = (1u32, 2u32);
    for _ in 0..n.min(1000) {
        let _: (u32, u32) = c.request("bench", "echo", &q)?;
    }
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let _: (u32, u32) = c.request("bench", "echo", &q)?;
        lat.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    lat.sort_unstable();
    println!(
        "rust round trip: p50_us={:.1} p99_us={:.1} ({n} requests)",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99)
    );
    Ok(())
}

fn throughput(ep: &str, clients: usize, each: usize) -> Res {
    let start = Arc::new(Barrier::new(clients + 1));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let ep = ep.to_string();
            let start = start.clone();
            std::thread::spawn(move || -> Result<(), String> {
                let c = AppClient::connect(&ep).map_err(|e| e.to_string())?;
                start.wait();
                for r in 0..each {
                    let q = (i as u32, r as u32);
                    let back: (u32, u32) =
                        c.request("bench", "echo", &q).map_err(|e| e.to_string())?;
                    if back != q {
                        return Err("wrong reply".into());
                    }
                }
                Ok(())
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    for th in threads {
        th.join().map_err(|_| "a client thread panicked")??;
    }
    let secs = t.elapsed().as_secs_f64();
    let total = clients * each;
    println!(
        "{clients} clients: {:.0} requests/s ({total} requests in {secs:.2} s)",
        total as f64 / secs
    );
    Ok(())
}

fn main() -> Res {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            let s = server("tcp://127.0.0.1:0")?;
            let ep = s.endpoint();
            round_trip(&ep, 20_000)?;
            throughput(&ep, 200, 200)?;
            Ok(())
        }
        ["serve", ep] => {
            let s = server(ep)?;
            println!("EP {}", s.endpoint());
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line)? > 0 {
                line.clear();
            }
            drop(s);
            std::thread::sleep(Duration::from_millis(10));
            Ok(())
        }
        _ => Err("usage: apps_bench [serve EP]".into()),
    }
}
