//! PUB/SUB over shared memory: in-process basics, then across processes.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Publisher, Subscriber};
use serde::{Deserialize, Serialize};
use shm_common::{Peer, numbers, unique};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pose {
    x: f32,
    y: f32,
    seq: u32,
}

#[test]
fn typed_topics_and_prefix_filters() {
    let ep = format!("shm://{}", unique("ps-basic"));
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut all = Subscriber::connect(&ep).unwrap();
    all.subscribe(b"");
    let mut poses = Subscriber::connect(&ep).unwrap();
    poses.subscribe(b"pose");
    let mut none = Subscriber::connect(&ep).unwrap();

    publisher
        .send_on(
            "pose/left",
            &Pose {
                x: 1.0,
                y: 2.0,
                seq: 1,
            },
        )
        .unwrap();
    publisher.send_on("imu", &7u32).unwrap();
    publisher.send_multipart(&[b"pose/right", b"raw"]).unwrap();

    assert_eq!(all.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(all.try_recv::<u32>().unwrap(), 7);
    let m = all.try_recv_multipart().unwrap();
    assert_eq!(m.frames(), &[b"pose/right".to_vec(), b"raw".to_vec()]);
    assert!(matches!(all.try_recv::<u32>(), Err(Error::WouldBlock)));

    assert_eq!(poses.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(poses.try_recv_bytes().unwrap(), b"raw");
    assert!(matches!(poses.try_recv_bytes(), Err(Error::WouldBlock)));

    assert!(matches!(none.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(matches!(
        none.recv_bytes_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    ));

    // After unsubscribing, "pose" messages are dropped at this reader.
    assert!(poses.unsubscribe(b"pose"));
    publisher
        .send_on(
            "pose/left",
            &Pose {
                x: 0.0,
                y: 0.0,
                seq: 2,
            },
        )
        .unwrap();
    assert!(matches!(poses.try_recv_bytes(), Err(Error::WouldBlock)));
    assert_eq!(all.try_recv::<Pose>().unwrap().seq, 2);
}

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
    sub.subscribe(b"cam/");
    let pixels: Vec<u8> = (0..image).map(|i| (i % 251) as u8).collect();
    publisher
        .send_multipart(&[&b"imu"[..], b"skip me"])
        .unwrap();
    publisher
        .send_multipart(&[&b"cam/left"[..], &640u32.to_le_bytes(), &pixels])
        .unwrap();
    // Reads a region of interest (row 100, 16 bytes) without copying the megabyte out.
    let (topic, frames, len, first, roi) = sub
        .recv_in_place(Some(Duration::from_secs(5)), |m| {
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
        sub.recv_in_place(Some(Duration::ZERO), |m| m.len()),
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
    sub.subscribe(b"");
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
            .recv_in_place(Some(Duration::from_secs(5)), |m| {
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
    sub.subscribe(b"");
    publisher.send_bytes(b"first").unwrap();
    let mut calls = Vec::new();
    let got = sub
        .recv_in_place(Some(Duration::from_secs(5)), |m| {
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
