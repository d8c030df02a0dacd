//! The pattern roles of `shm_peer`: publisher, subscriber, replier, requester, pusher, puller,
//! and "hang" variants that stop inside a loan or a borrowed message so that a kill lands at
//! exactly that point.

use std::io::BufRead;
use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{
    FullPolicy, Publisher, Puller, Pusher, Replier, Requester, ShmOptions, Subscriber, WaitMode,
};

use super::{arg, say};

/// The message PUB/SUB peers exchange: which publisher generation, sequence number, and a
/// payload whose bytes are derived from `seq` (so corruption would be seen).
type Tick = (u32, u64, Vec<u8>);

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize + i) as u8).collect()
}

/// Options from `key=value` arguments after the fixed ones.
fn options(args: &[String]) -> ShmOptions {
    let mut o = ShmOptions::new()
        .connect_timeout(Duration::from_secs(20))
        .liveness_interval(Duration::from_millis(50));
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            continue;
        };
        let n = || v.parse::<u64>().expect("numeric option");
        o = match k {
            "slots" => o.slot_count(n() as usize),
            "size" => o.slot_size(n() as usize),
            "clients" => o.max_clients(n() as usize),
            "history" => o.history(n() as usize),
            "wait" => o.wait(match v {
                "busy" => WaitMode::BusyPoll,
                "block" => WaitMode::Blocking,
                _ => WaitMode::default(),
            }),
            "lossless" => o.lossless(n() == 1),
            "full" => o.full(match v {
                "error" => FullPolicy::Error,
                _ => FullPolicy::Block,
            }),
            _ => o,
        };
    }
    o
}

fn kv<T: std::str::FromStr>(args: &[String], key: &str, default: T) -> T {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

/// Blocks until the parent writes a line (or closes stdin); returns the line.
fn wait_line() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_string()
}

pub fn run(cmd: &str, args: &[String]) {
    let ep: String = arg(args, 1);
    let o = options(&args[2..]);
    match cmd {
        // pub EP N gen=G payload=B pace_us=P: bind, wait for "go", publish N ticks, wait.
        "pub" => {
            let n: u64 = arg(args, 2);
            let generation: u32 = kv(args, "gen", 1);
            let len: usize = kv(args, "payload", 16);
            let pace: u64 = kv(args, "pace_us", 0);
            let mut p = Publisher::builder()
                .options(o)
                .bind(&ep)
                .expect("bind publisher");
            say("bound");
            if kv(args, "nogo", 0) == 0 {
                wait_line();
            }
            let subs: usize = kv(args, "subs", 0);
            if subs > 0 {
                p.wait_for_subscribers(subs, Duration::from_secs(20))
                    .expect("subscribers");
                say("subscribed");
            }
            for seq in 0..n {
                p.send_on("tick", &(generation, seq, payload(seq, len)))
                    .expect("publish");
                if pace > 0 {
                    std::thread::sleep(Duration::from_micros(pace));
                }
            }
            say(format!("published {n}"));
            wait_line();
        }
        // sub EP LAST delay_us=D until_gen=G: receive ticks until seq LAST of generation G.
        "sub" => {
            let last: u64 = arg(args, 2);
            let until_gen: u32 = kv(args, "until_gen", 1);
            let delay: u64 = kv(args, "delay_us", 0);
            let mut s = Subscriber::builder()
                .options(o)
                .connect(&ep)
                .expect("connect");
            s.subscribe(b"tick").expect("subscribe");
            say("ready");
            let (mut received, mut prev): (u64, Option<(u32, u64)>) = (0, None);
            loop {
                let (generation, seq, data): Tick =
                    s.recv_timeout(Duration::from_secs(30)).expect("tick");
                assert_eq!(data, payload(seq, data.len()), "payload of {seq} corrupt");
                if let Some(p) = prev {
                    assert!((generation, seq) > p, "out of order: {p:?} then {seq}");
                }
                prev = Some((generation, seq));
                received += 1;
                if delay > 0 {
                    std::thread::sleep(Duration::from_micros(delay));
                }
                if generation == until_gen && seq == last {
                    break;
                }
                if generation == until_gen && seq > last {
                    panic!("passed the last tick");
                }
            }
            say(format!("received {received} lost {}", s.lost()));
        }
        // rep EP: serve (x, bytes) -> (2x, bytes reversed) until killed or "quit" is received.
        "rep" => {
            let mut r = Replier::builder()
                .options(o)
                .bind(&ep)
                .expect("bind replier");
            say("bound");
            loop {
                let (x, mut b): (u64, Vec<u8>) = r.recv().expect("request");
                if x == u64::MAX {
                    r.send(&(x, b)).expect("reply");
                    break;
                }
                b.reverse();
                r.send(&(x * 2, b)).expect("reply");
            }
        }
        // rep-stall EP: bind, take one request and never answer it (until killed).
        "rep-stall" => {
            let mut r = Replier::builder()
                .options(o)
                .bind(&ep)
                .expect("bind replier");
            say("bound");
            let _: (u64, Vec<u8>) = r.recv().expect("request");
            say("stalled");
            wait_line();
        }
        // req EP N: N requests; on Disconnected/Timeout retry the same request.
        "req" => {
            let n: u64 = arg(args, 2);
            let mut q = Requester::builder()
                .options(o)
                .connect(&ep)
                .expect("connect");
            say("ready");
            let mut retries = 0u64;
            let mut x = 0;
            // This process's pid in every request: a reply meant for another requester (the
            // replier may serve many) would carry another pid.
            let me = std::process::id().to_le_bytes().to_vec();
            let mut back = me.clone();
            back.reverse();
            while x < n {
                match q.request::<_, (u64, Vec<u8>)>(&(x, me.clone()), Duration::from_secs(2)) {
                    Ok((y, b)) => {
                        assert_eq!((y, &b), (2 * x, &back), "a reply to another request");
                        x += 1;
                        if x == n / 2 {
                            say("halfway");
                        }
                    }
                    Err(Error::Disconnected | Error::Timeout) => {
                        retries += 1;
                        assert!(retries < 100, "replier never came back");
                    }
                    Err(e) => panic!("request {x}: {e}"),
                }
            }
            say(format!("requests {n} retries {retries}"));
        }
        // req-hold EP: connect as the requester and hold the role until stdin closes.
        "req-hold" => {
            let _q = Requester::builder()
                .options(o)
                .connect(&ep)
                .expect("connect");
            say("ready");
            wait_line();
        }
        // push EP N bind=0|1 base=B: queue ids B..B+N (8-byte LE), then on "stop K" queue K
        // sentinels.
        "push" => {
            let n: u64 = arg(args, 2);
            let base: u64 = kv(args, "base", 0);
            let b = Pusher::builder().options(o);
            let mut p = if kv(args, "bind", 1) == 1 {
                b.bind(&ep)
            } else {
                b.connect(&ep)
            }
            .expect("pusher");
            say("bound");
            wait_line();
            for id in base..base + n {
                p.send_bytes(&id.to_le_bytes()).expect("push");
            }
            say(format!("pushed {n}"));
            let line = wait_line();
            let k: u64 = line
                .strip_prefix("stop ")
                .and_then(|k| k.parse().ok())
                .unwrap_or(0);
            for _ in 0..k {
                p.send_bytes(&u64::MAX.to_le_bytes()).expect("sentinel");
            }
            say("stopped");
            wait_line();
        }
        // pull EP N FILE: take ids until a sentinel; write a bitmap of ids seen to FILE.
        "pull" => {
            let n: u64 = arg(args, 2);
            let file: String = arg(args, 3);
            let mut p = Puller::builder().options(o).connect(&ep).expect("connect");
            say("ready");
            let mut seen = vec![0u8; n.div_ceil(8) as usize];
            let mut count = 0u64;
            loop {
                let id = p
                    .recv_with_timeout(Duration::from_secs(60), |m| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(m.payload());
                        u64::from_le_bytes(b)
                    })
                    .expect("job");
                if id == u64::MAX {
                    break;
                }
                assert!(id < n, "id {id} out of range");
                let (byte, bit) = ((id / 8) as usize, 1u8 << (id % 8));
                assert_eq!(seen[byte] & bit, 0, "id {id} delivered twice");
                seen[byte] |= bit;
                count += 1;
                if count == 1 {
                    say("working");
                }
            }
            std::fs::write(&file, &seen).expect("write bitmap");
            say(format!("pulled {count}"));
        }
        // pull-print EP: take ids and print each ("got ID") until a sentinel.
        "pull-print" => {
            let mut p = Puller::builder().options(o).connect(&ep).expect("connect");
            say("ready");
            loop {
                let id = p
                    .recv_with_timeout(Duration::from_secs(60), |m| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(m.payload());
                        u64::from_le_bytes(b)
                    })
                    .expect("job");
                if id == u64::MAX {
                    break;
                }
                say(format!("got {id}"));
            }
            say("done");
        }
        // pull-hang EP: take one message in place and never let go (the slot stays claimed).
        "pull-hang" => {
            let mut p = Puller::builder().options(o).connect(&ep).expect("connect");
            say("ready");
            let _ = p.recv_with(|_| {
                say("holding");
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            });
        }
        // push-hang EP: take a loan and never commit it (the position stays claimed).
        "push-hang" => {
            let mut p = Pusher::builder().options(o).connect(&ep).expect("connect");
            let _loan = p.loan().expect("loan");
            say("holding");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => panic!("shm_peer: unknown command {cmd:?}"),
    }
}
