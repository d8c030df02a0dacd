//! PUB/SUB over shared memory across processes, and what only shm has (loss counting, in-place
//! reads); the behaviour every transport shares is in `conformance.rs`.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Publisher, Subscriber};
use shm_common::{Peer, numbers, unique};

const WATCHDOG: Duration = Duration::from_secs(120);

/// One publisher process, `subs` subscriber processes: every subscriber accounts for every
/// message exactly (received + lost = published), in order, uncorrupted.
fn fan_out(subs: usize, n: u64) {
    let ep = format!("shm://{}", unique("ps-fan"));
    let mut publisher = Peer::spawn(&["pub", &ep, &n.to_string(), "slots=256"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    let last = (n - 1).to_string();
    let mut peers: Vec<Peer> = (0..subs)
        .map(|_| Peer::spawn(&["sub", &ep, &last], WATCHDOG))
        .collect();
    for p in &mut peers {
        assert_eq!(p.line(), "ready");
    }
    publisher.tell("go");
    assert_eq!(publisher.line(), format!("published {n}"));
    for p in peers {
        let out = p.finish();
        let nums = numbers(&out[0]);
        assert_eq!(nums[0] + nums[1], n, "{out:?}");
        assert!(nums[0] > 0);
    }
    publisher.finish();
}

#[test]
fn one_subscriber_process() {
    fan_out(1, 20_000);
}

#[test]
fn four_subscriber_processes() {
    fan_out(4, 20_000);
}

#[test]
fn sixteen_subscriber_processes() {
    fan_out(16, 5_000);
}

#[test]
fn a_slow_subscriber_loses_and_counts_exactly_while_a_fast_one_keeps_up() {
    let ep = format!("shm://{}", unique("ps-slow"));
    let n = 1000u64;
    let mut publisher = Peer::spawn(&["pub", &ep, &n.to_string(), "slots=16"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    let last = (n - 1).to_string();
    let mut slow = Peer::spawn(&["sub", &ep, &last, "delay_us=2000"], WATCHDOG);
    let mut fast = Peer::spawn(&["sub", &ep, &last], WATCHDOG);
    assert_eq!(slow.line(), "ready");
    assert_eq!(fast.line(), "ready");
    publisher.tell("go");
    publisher.expect_line("published");
    let s = numbers(&slow.finish()[0]);
    assert_eq!(s[0] + s[1], n);
    assert!(
        s[1] > 0,
        "the slow subscriber should have lost messages: {s:?}"
    );
    let f = numbers(&fast.finish()[0]);
    assert_eq!(f[0] + f[1], n);
    publisher.finish();
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_subscriber_sleeps_in_the_kernel() {
    let ep = format!("shm://{}", unique("ps-idle"));
    let mut publisher = Peer::spawn(&["pub", &ep, "1", "nogo=1"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    publisher.expect_line("published");
    for wait in ["wait=block", "wait=adaptive"] {
        let mut sub = Peer::spawn(&["sub", &ep, "99", wait], WATCHDOG);
        assert_eq!(sub.line(), "ready");
        // Nothing more is published: the subscriber must end up asleep (state S), not
        // spinning (R). Bounded by the watchdog, not by a time assertion.
        while shm_common::proc_state(sub.pid()) != Some('S') {
            std::thread::sleep(Duration::from_millis(5));
        }
        sub.kill();
    }
    publisher.finish();
}

#[test]
fn in_place_reads_part_of_a_large_message() {
    let ep = format!("shm://{}", unique("ps-in-place"));
    let image = 1 << 20;
    let mut publisher = Publisher::builder()
        .slot_size(image + 64)
        .slot_count(4)
        .bind(&ep)
        .unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"cam/").unwrap();
    let pixels: Vec<u8> = (0..image).map(|i| (i % 251) as u8).collect();
    publisher
        .send_multipart(&[&b"imu"[..], b"skip me"])
        .unwrap();
    publisher
        .send_multipart(&[&b"cam/left"[..], &640u32.to_le_bytes(), &pixels])
        .unwrap();
    // Reads a region of interest (row 100, 16 bytes) without copying the megabyte out.
    let (topic, frames, len, first, roi) = sub
        .recv_in_place_timeout(Duration::from_secs(5), |m| {
            let mut roi = [0u8; 16];
            let n = m.copy_at(100 * 640, &mut roi);
            (
                {
                    let mut topic = vec![0u8; m.frame_len(0).unwrap()];
                    m.copy_frame_at(0, 0, &mut topic);
                    topic
                },
                m.frame_count(),
                m.len(),
                m.read_at::<4>(0),
                roi[..n].to_vec(),
            )
        })
        .unwrap();
    assert_eq!(topic, b"cam/left");
    assert_eq!((frames, len), (3, image));
    assert_eq!(first, Some([0, 1, 2, 3]));
    assert_eq!(roi, pixels[64_000..64_016]);
    assert!(matches!(
        sub.try_recv_in_place(|m| m.len()),
        Err(Error::WouldBlock)
    ));
}

#[test]
fn in_place_reads_are_validated_against_overwrites() {
    let ep = format!("shm://{}", unique("ps-in-place-race"));
    let mut publisher = Publisher::builder()
        .slot_size(4096)
        .slot_count(2)
        .bind(&ep)
        .unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut i = 0u8;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Every byte of message i is i: a torn read mixes two values.
                publisher.send_bytes(&[i; 4000]).unwrap();
                i = i.wrapping_add(1);
                // A short pause: fast enough to overwrite slots under the reader now and
                // then, slow enough that most reads finish intact.
                for _ in 0..200 {
                    std::hint::spin_loop();
                }
            }
        })
    };
    for _ in 0..300 {
        let intact = sub
            .recv_in_place_timeout(Duration::from_secs(5), |m| {
                let mut all = vec![0u8; m.len()];
                let n = m.copy_at(0, &mut all);
                n == 4000 && all.iter().all(|&b| b == all[0])
            })
            .unwrap();
        assert!(intact, "a torn read was returned instead of discarded");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
}

#[test]
fn an_in_place_read_overwritten_meanwhile_is_discarded_and_retried() {
    let ep = format!("shm://{}", unique("ps-in-place-lap"));
    let mut publisher = Publisher::builder().slot_count(2).bind(&ep).unwrap();
    let mut sub = Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    publisher.send_bytes(b"first").unwrap();
    let mut calls = Vec::new();
    let got = sub
        .recv_in_place_timeout(Duration::from_secs(5), |m| {
            let mut body = [0u8; 16];
            let n = m.copy_at(0, &mut body);
            calls.push(body[..n].to_vec());
            if calls.len() == 1 {
                // While "first" is being read, the publisher laps the two-slot ring.
                for msg in [&b"second"[..], b"third", b"fourth"] {
                    publisher.send_bytes(msg).unwrap();
                }
            }
            body[..n].to_vec()
        })
        .unwrap();
    // The first read was void: its result was dropped and the next intact message read.
    assert_eq!(calls[0], b"first");
    assert_eq!(calls.len(), 2);
    assert_eq!(got, calls[1]);
    assert!(got == b"third" || got == b"fourth", "{got:?}");
    assert!(
        sub.lost() >= 2,
        "first and second were lost: {}",
        sub.lost()
    );
}

#[test]
fn subscribers_can_take_their_topics_at_connect() {
    let ep = format!("shm://{}", unique("ps-topics"));
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut shm = Subscriber::connect_with_topics(&ep, &[b"pose", b"twist"]).unwrap();
    let mut any = ringwire::Subscriber::connect_with_topics(&ep, &[b"pose"]).unwrap();
    publisher.send_on("odom", &0u32).unwrap();
    publisher.send_on("pose", &1u32).unwrap();
    publisher.send_on("twist", &2u32).unwrap();
    let t = Duration::from_secs(5);
    assert_eq!(shm.recv_timeout::<u32>(t).unwrap(), 1);
    assert_eq!(shm.recv_timeout::<u32>(t).unwrap(), 2);
    assert_eq!(any.recv_timeout::<u32>(t).unwrap(), 1);
    assert!(matches!(
        any.recv_timeout::<u32>(Duration::ZERO),
        Err(Error::Timeout)
    ));
}

#[test]
fn history_is_the_subscribers_request_capped_by_the_ring() {
    let ep = format!("shm://{}", unique("ps-history"));
    // The publisher creates an 8-slot ring; its own `history` only sizes the ring.
    let mut publisher = Publisher::builder()
        .slot_count(8)
        .history(2)
        .bind(&ep)
        .unwrap();
    for i in 0..12u32 {
        publisher.send(&i).unwrap();
    }
    let t = Duration::from_secs(5);
    let connect = |history: usize| {
        let mut s = Subscriber::builder().history(history).connect(&ep).unwrap();
        s.subscribe(b"").unwrap();
        s
    };
    // What the subscriber asks for...
    let mut three = connect(3);
    assert_eq!(three.pending(), 3);
    assert_eq!(three.recv_timeout::<u32>(t).unwrap(), 9);
    // ... capped by what the ring holds ...
    let mut all = connect(100);
    assert_eq!(all.pending(), 8);
    assert_eq!(all.recv_timeout::<u32>(t).unwrap(), 4);
    // ... and nothing unless asked, whatever the publisher set.
    let none = connect(0);
    assert_eq!(none.pending(), 0);
}

/// A logger that keeps the `ringwire::shm` records whose text names one of this binary's
/// endpoints (tests run in parallel threads).
struct Capture(std::sync::Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("ringwire::shm")
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut records = self.0.lock().unwrap_or_else(|e| e.into_inner());
            records.push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(std::sync::Mutex::new(Vec::new()));

fn captured(endpoint: &str) -> Vec<(log::Level, String)> {
    let records = CAPTURE.0.lock().unwrap_or_else(|e| e.into_inner());
    records
        .iter()
        .filter(|(_, text)| text.contains(&format!("{endpoint}:")))
        .cloned()
        .collect()
}

#[test]
fn lifecycle_events_are_logged() {
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(log::LevelFilter::Trace);
    let ep = format!("shm://{}", unique("ps-log"));
    let t = Duration::from_secs(5);

    // Connect, lag (one rate-limited warning with the count), disconnect.
    let mut publisher = Publisher::builder().slot_count(4).bind(&ep).unwrap();
    let mut sub = Subscriber::connect_with_topics(&ep, &[b""]).unwrap();
    let rounds = 20;
    for _ in 0..rounds {
        for i in 0..20u32 {
            publisher.send(&i).unwrap();
        }
        let _: u32 = sub.recv_timeout(t).unwrap();
    }
    assert!(sub.lost() > 0);
    drop(sub);
    drop(publisher);
    let records = captured(&ep);
    let has = |level: log::Level, words: &[&str]| {
        records
            .iter()
            .any(|(l, text)| *l == level && words.iter().all(|w| text.contains(w)))
    };
    assert!(has(log::Level::Debug, &["publisher bound"]), "{records:?}");
    assert!(
        has(log::Level::Debug, &["subscriber connected"]),
        "{records:?}"
    );
    assert!(
        has(log::Level::Debug, &["subscriber disconnected"]),
        "{records:?}"
    );
    assert!(
        has(log::Level::Debug, &["publisher disconnected"]),
        "{records:?}"
    );
    let lagging: Vec<_> = records
        .iter()
        .filter(|(l, text)| *l == log::Level::Warn && text.contains("lagging"))
        .collect();
    // Rate-limited (one record a second at most): not one record per lag.
    assert!(!lagging.is_empty() && lagging.len() < rounds, "{records:?}");
    assert!(lagging[0].1.contains("lost "), "{records:?}");

    // Peer death: the publisher process is killed while a subscriber waits.
    let ep = format!("shm://{}", unique("ps-log-death"));
    let mut peer = Peer::spawn(&["pub", &ep, "1", "slots=16"], WATCHDOG);
    assert_eq!(peer.line(), "bound");
    let mut sub = Subscriber::builder()
        .liveness_interval(Duration::from_millis(10))
        .connect(&ep)
        .unwrap();
    sub.subscribe(b"").unwrap();
    let pid = peer.pid();
    peer.kill();
    // Waits for a message that never comes; the liveness checks meanwhile see the death.
    let _ = sub.recv_timeout::<u32>(Duration::from_millis(300));
    let records = captured(&ep);
    assert!(
        records.iter().any(|(l, text)| *l == log::Level::Warn
            && text.contains(&format!("publisher process {pid} died"))),
        "{records:?}"
    );
    // The killed creator left its segment: a new bind replaces it, and its drop removes it.
    drop(sub);
    drop(Publisher::bind(&ep).expect("bind over a dead creator's segment"));
}

#[test]
fn a_lossless_publisher_delivers_every_message_to_a_slow_subscriber() {
    let ep = format!("shm://{}", unique("ps-lossless"));
    let n = 300u32;
    let mut publisher = Publisher::builder()
        .slot_count(8)
        .lossless(true)
        .full(ringwire::shm::FullPolicy::BlockFor(Duration::from_secs(60)))
        .bind(&ep)
        .unwrap();
    let mut fast = Subscriber::connect_with_topics(&ep, &[b""]).unwrap();
    let slow_ep = ep.clone();
    let slow = std::thread::spawn(move || {
        let mut s = Subscriber::connect_with_topics(&slow_ep, &[b""]).unwrap();
        let got: Vec<u32> = (0..n)
            .map(|i| {
                if i % 16 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                s.recv_timeout(Duration::from_secs(60)).unwrap()
            })
            .collect();
        (got, s.lost())
    });
    publisher
        .wait_for_subscribers(2, Duration::from_secs(30))
        .unwrap();
    assert_eq!(publisher.subscribers(), 2);
    let fast_ep = std::thread::spawn(move || {
        let got: Vec<u32> = (0..n)
            .map(|_| fast.recv_timeout(Duration::from_secs(60)).unwrap())
            .collect();
        (got, fast.lost())
    });
    for i in 0..n {
        publisher.send(&i).unwrap();
    }
    let all: Vec<u32> = (0..n).collect();
    for (got, lost) in [slow.join().unwrap(), fast_ep.join().unwrap()] {
        assert_eq!(lost, 0);
        assert_eq!(got, all);
    }
    assert_eq!(
        publisher.subscribers(),
        0,
        "dropped subscribers leave the table"
    );
    // With nobody reading and the ring full, `FullPolicy::Error` says so at once.
    let ep = format!("shm://{}", unique("ps-lossless-error"));
    let mut publisher = Publisher::builder()
        .slot_count(8)
        .lossless(true)
        .full(ringwire::shm::FullPolicy::Error)
        .bind(&ep)
        .unwrap();
    let _idle = Subscriber::connect_with_topics(&ep, &[b""]).unwrap();
    let mut results = (0..9u32).map(|i| publisher.send(&i));
    assert!(results.by_ref().take(8).all(|r| r.is_ok()));
    assert!(matches!(results.next(), Some(Err(Error::WouldBlock))));
    // A loan too: nothing is lent over an unread slot.
    let loaned = publisher.loan_with(|slot| {
        slot.write_at(0, b"x");
        Some(1)
    });
    assert!(matches!(loaned, Err(Error::WouldBlock)), "{loaned:?}");
}

#[test]
fn a_killed_subscriber_stops_blocking_a_lossless_publisher() {
    let ep = format!("shm://{}", unique("ps-lossless-kill"));
    let mut publisher = Publisher::builder()
        .slot_count(8)
        .lossless(true)
        .liveness_interval(Duration::from_millis(10))
        .full(ringwire::shm::FullPolicy::BlockFor(Duration::from_secs(60)))
        .bind(&ep)
        .unwrap();
    // A subscriber process that never reads past the first message.
    let mut peer = Peer::spawn(&["sub", &ep, "0", "delay_us=600000000"], WATCHDOG);
    assert_eq!(peer.line(), "ready");
    publisher
        .wait_for_subscribers(1, Duration::from_secs(30))
        .unwrap();
    peer.kill();
    // More than a ring: only possible once the dead subscriber's entry is reclaimed.
    for i in 0..64u32 {
        publisher.send(&i).unwrap();
    }
    assert_eq!(publisher.subscribers(), 0);
}

#[test]
fn three_subscribers_started_first_get_a_burst_after_wait_for_subscribers() {
    let ep = format!("shm://{}", unique("ps-burst"));
    let subs: Vec<_> = (0..3)
        .map(|_| {
            let ep = ep.clone();
            std::thread::spawn(move || {
                // Started before the publisher binds: connect waits for the segment.
                let mut s = Subscriber::connect_with_topics(&ep, &[b""]).unwrap();
                (0..5)
                    .map(|_| s.recv_timeout::<u32>(Duration::from_secs(30)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut publisher = Publisher::bind(&ep).unwrap();
    publisher
        .wait_for_subscribers(3, Duration::from_secs(30))
        .unwrap();
    for i in 0..5u32 {
        publisher.send(&i).unwrap();
    }
    for s in subs {
        assert_eq!(s.join().unwrap(), vec![0, 1, 2, 3, 4]);
    }
    // Nobody else: waiting for a fourth times out.
    assert!(matches!(
        publisher.wait_for_subscribers(4, Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
}
