//! A ringwire broker peer in a process of its own, for the broker tests' `kill -9`.
//!
//! - `broker_peer hang EP PROTOCOL`: a worker (`lb`, `ppp` or `mdp` with service `svc`) that
//!   prints `got` when a request arrives and then never answers (the test kills it there).
//! - `broker_peer until-eof EP`: a load-balancing worker answering `job (c, i)` with
//!   `(c, i, 0)` until its standard input closes; then it stops (giving its connection or shm
//!   channel back) and exits at once.
//! - `broker_peer client EP N`: a client that sends `job (pid, i)` for `i` in `0..N`, checks
//!   each reply, prints `ready` after the first and `done` at the end.
//! - `broker_peer server EP`: a [`Server`] whose handlers answer `job (c, i)` with
//!   `(c, i, 0)` and print `got` on `hang`, which never returns; prints `ready` once bound.
#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use ringwire::broker::{Client, Handlers, Server, Worker, WorkerProtocol};
use ringwire_core::broker::mdp::Version;

fn say(line: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn hang_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["hang", ep, protocol] => hang(ep, protocol),
        ["until-eof", ep] => until_eof(ep),
        ["client", ep, n] => client(ep, n.parse().expect("N")),
        ["server", ep] => server(ep),
        _ => {
            eprintln!(
                "usage: broker_peer hang EP lb|ppp|mdp | until-eof EP | client EP N | server EP"
            );
            std::process::exit(2);
        }
    }
}

fn hang(ep: &str, protocol: &str) {
    let protocol = match protocol {
        "lb" => WorkerProtocol::LoadBalancing,
        "ppp" => WorkerProtocol::ParanoidPirate,
        _ => WorkerProtocol::Majordomo(Version::V0_2),
    };
    let handlers = Handlers::new().any(|_| {
        say("got");
        hang_forever()
    });
    let stop = AtomicBool::new(false);
    Worker::builder(ep)
        .protocol(protocol)
        .service("svc")
        .run(&handlers, &stop)
        .expect("worker");
}

fn until_eof(ep: &str) {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let handlers = Handlers::new().on("job", |(c, i): (u32, u32)| (c, i, 0u32));
    Worker::builder(ep).run(&handlers, &stop).expect("worker");
}

fn client(ep: &str, n: u32) {
    let mut client = Client::builder(ep)
        .timeout(Duration::from_secs(30))
        .connect()
        .expect("client");
    let me = std::process::id();
    for i in 0..n {
        let r: (u32, u32, u32) = client.request("job", &(me, i)).expect("reply");
        assert_eq!((r.0, r.1), (me, i), "the reply to this request");
        if i == 0 {
            say("ready");
        }
    }
    say("done");
}

fn server(ep: &str) {
    let handlers = Handlers::new()
        .on("job", |(c, i): (u32, u32)| (c, i, 0u32))
        .on("hang", |(): ()| -> u32 {
            say("got");
            hang_forever()
        });
    let _server = Server::bind(ep, handlers).expect("server binds");
    say("ready");
    hang_forever()
}
